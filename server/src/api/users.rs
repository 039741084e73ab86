//! Users and sessions: sign-up, email verification, login, logout, the caller.

use super::*;

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    api.routes(routes!(create_user))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

/// Creates a user.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = SignUp,
    responses((status = 201, body = User), (status = 400, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn create_user(
    State(state): State<Arc<AppState>>,
    from: ClientAddr,
    Json(body): Json<SignUp>,
) -> Result<Response, ApiError> {
    let email = check_email(&body.email)?;
    crate::input::password(&body.password).map_err(ApiError::bad_request)?;
    state.throttles().take(Counted::SignupsFrom(from)).await?;
    let password = body.password;
    let hash = state
        .hash_slots
        .run(move || auth::hash_password(&password))
        .await?;
    let now = state.clock.now();
    match state.store.create_user(&email, &hash, now).await {
        // The account exists whatever the mail does: a failed mail is logged, and the person
        // asks for a new token (POST /v1/me/verification) rather than signing up again.
        Ok(user) => {
            if let Err(e) = state.send_verification(&user).await {
                tracing::warn!(
                    user = user.id,
                    "no verification email at sign-up: {}",
                    e.message
                );
            }
            Ok(created(user))
        }
        // The same answer as for a new address, so sign-up does not tell who has an account;
        // the address's owner hears of the attempt.
        Err(StoreError::Conflict(_)) => {
            let notice = "Someone tried to create a Scry account with this address, which \
                already has one. If it was you, log in instead; otherwise ignore this message.";
            let _ = state
                .mailer
                .send(&email, "Sign-up attempt for your Scry account", notice)
                .await;
            Ok(created(User {
                id: new_id("usr"),
                email,
                email_verified: false,
                created_at: now,
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// Confirms the caller reads their email address (needed to accept invitations).
#[utoipa::path(post, path = "/v1/users/verify", tag = "users", request_body = VerifyEmail,
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
async fn verify_email(
    State(state): State<Arc<AppState>>,
    Json(body): Json<VerifyEmail>,
) -> Result<axum::Json<User>, ApiError> {
    let user = state
        .store
        .verify_email(&auth::hash_secret(body.token.trim()), state.clock.now())
        .await?;
    user.map(axum::Json).ok_or_else(ApiError::not_found)
}

/// Mails the calling user a new verification token.
#[utoipa::path(post, path = "/v1/me/verification", tag = "users", security(("bearer" = [])),
    responses((status = 202), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn resend_verification(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> Result<StatusCode, ApiError> {
    let user = who.user()?;
    if user.email_verified {
        return Err(StoreError::Conflict("this address is already verified".into()).into());
    }
    state
        .throttles()
        .take(Counted::VerificationEmailsOf(&user.id))
        .await?;
    state.send_verification(user).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Logs in with a password; returns a session token.
#[utoipa::path(post, path = "/v1/sessions", tag = "users", request_body = Login,
    responses((status = 201, body = SessionCreated), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn login(
    State(state): State<Arc<AppState>>,
    from: ClientAddr,
    Json(body): Json<Login>,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, from, &body.email, body.password).await?;
    Ok(created(start_session(&state, user).await?))
}

/// Checks an email and password, throttled per account and per address (a throttled guess is
/// refused before any hashing); the user when they match.
pub(super) async fn authenticate(
    state: &AppState,
    from: ClientAddr,
    email: &str,
    password: String,
) -> Result<User, ApiError> {
    let email = crate::input::email(email).unwrap_or_default();
    let (account, address) = (
        Counted::LoginFailuresOf(&email),
        Counted::LoginFailuresFrom(from),
    );
    let throttles = state.throttles();
    // Refused before any hashing: a throttled guess costs the service nothing.
    throttles.take(account).await?;
    throttles.take(address).await?;
    let credentials = state.store.credentials(&email).await?;
    let (user, hash) = match credentials {
        Some(c) => (Some(c.user), c.password_hash),
        // Unknown emails cost the same hashing time as known ones.
        None => (None, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFy".to_string()),
    };
    let ok = state
        .hash_slots
        .run(move || auth::verify_password(&password, &hash))
        .await?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    throttles.clear(account).await?;
    throttles.give_back(address).await?;
    Ok(user)
}

pub(super) async fn start_session(
    state: &AppState,
    user: User,
) -> Result<SessionCreated, ApiError> {
    let token = auth::new_session_token();
    let now = state.clock.now();
    let expires_at = now + state.config.session_ttl_s;
    state
        .store
        .create_session(&auth::hash_secret(&token), &user.id, now, expires_at)
        .await?;
    Ok(SessionCreated {
        token,
        expires_at,
        user,
    })
}

/// Revokes the session this request carries, at once.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "users", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> Result<StatusCode, ApiError> {
    match who {
        Principal::User { token_hash, .. } => {
            state.store.delete_session(&token_hash).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Principal::Key(_) => Err(ApiError::bad_request(
            "API keys are revoked through /v1/orgs/{org}/keys",
        )),
    }
}

/// The calling user and their organisations.
#[utoipa::path(get, path = "/v1/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> Result<axum::Json<Me>, ApiError> {
    let user = who.user()?.clone();
    let orgs = state.store.orgs_of(&user.id).await?;
    Ok(axum::Json(Me { user, orgs }))
}
