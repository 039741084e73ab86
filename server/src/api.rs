//! The HTTP API: routes, authentication and authorisation, the OpenAPI document.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Form, Json, Path, Query};
use crate::guard::{ClientAddr, Counted, HashSlots, Throttles};
use crate::mail::Mailer;
use crate::model::*;
use crate::secrets::SecretBox;
use crate::store::{KeyGrant, Storage, StoreError, Tenant};
use crate::webhooks::target;
use scry_api::*;

pub struct AppState {
    pub store: Arc<dyn Storage>,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    /// Seals webhook secrets before they are stored.
    pub secrets: SecretBox,
    pub mailer: Mailer,
    pub hash_slots: HashSlots,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "scry-server", description = "Scry's hosted account service"),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The application: every route, with the OpenAPI document built from the same declarations.
pub fn router(state: Arc<AppState>) -> axum::Router {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(create_user))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(device_code))
        .routes(routes!(device_token))
        .routes(routes!(device_verify))
        .routes(routes!(create_org, list_orgs))
        .routes(routes!(get_org, delete_org))
        .routes(routes!(list_members))
        .routes(routes!(set_member_role, remove_member))
        .routes(routes!(create_invitation, list_invitations))
        .routes(routes!(accept_invitation))
        .routes(routes!(create_repo, list_repos))
        .routes(routes!(get_repo, delete_repo))
        .routes(routes!(set_repo_chunks))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(usage))
        .routes(routes!(audit))
        .routes(routes!(export))
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(set_tier))
        .split_for_parts();
    let openapi = Arc::new(openapi);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this resource does not take that method",
            )
        })
        .with_state(state)
}

// ---- authentication -------------------------------------------------------------------------

/// Who is calling, from `Authorization: Bearer …`.
pub enum Principal {
    User { user: User, token_hash: String },
    Key(KeyGrant),
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "send a session token or an API key as `Authorization: Bearer …`",
            )
        })?;
        let now = state.clock.now();
        if token.starts_with(auth::KEY_PREFIX) {
            // A key with a bad checksum never reaches the database.
            if !auth::api_key_well_formed(token) {
                return Err(ApiError::unauthorized("malformed API key"));
            }
            let grant = state
                .store
                .api_key_grant(&auth::hash_secret(token), now)
                .await?;
            return grant
                .map(Principal::Key)
                .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"));
        }
        if token.starts_with(auth::SESSION_PREFIX) {
            let token_hash = auth::hash_secret(token);
            let user_id = state.store.session_user(&token_hash, now).await?;
            let user = match user_id {
                Some(id) => state.store.user(&id).await?,
                None => None,
            };
            return user
                .map(|user| Principal::User { user, token_hash })
                .ok_or_else(|| ApiError::unauthorized("session expired or revoked"));
        }
        Err(ApiError::unauthorized("unrecognised token"))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl Principal {
    fn user(&self) -> Result<&User, ApiError> {
        match self {
            Principal::User { user, .. } => Ok(user),
            Principal::Key(_) => Err(ApiError::forbidden(
                "this needs a user's session, not an API key",
            )),
        }
    }

    fn actor(&self) -> String {
        match self {
            Principal::User { user, .. } => user.id.clone(),
            Principal::Key(k) => k.key_id.clone(),
        }
    }
}

impl AppState {
    /// Resolves the caller's role in `org_id`; another organisation's id answers exactly like
    /// one that does not exist. Counts the request against the organisation's rate limit.
    async fn authorize(
        &self,
        who: &Principal,
        org_id: &str,
        at_least: Role,
    ) -> Result<Tenant, ApiError> {
        Ok(self.authorize_org(who, org_id, at_least).await?.0)
    }

    /// `authorize`, also giving the organisation as the request's transaction read it (its
    /// tier and limits, current as of this request).
    async fn authorize_org(
        &self,
        who: &Principal,
        org_id: &str,
        at_least: Role,
    ) -> Result<(Tenant, Org), ApiError> {
        if !valid_id("org", org_id) {
            return Err(ApiError::not_found());
        }
        let role = match who {
            Principal::User { user, .. } => self.store.member_role(&user.id, org_id).await?,
            Principal::Key(k) => (k.org_id == org_id).then_some(k.role),
        }
        .ok_or_else(ApiError::not_found)?;
        let tenant = Tenant::new(org_id, &who.actor(), role);
        let now = self.clock.now();
        let per_minute = |org: &Org| self.limits_of(org).requests_per_minute;
        let (org, verdict) = self.store.record_request(&tenant, now, &per_minute).await?;
        if let Err(retry) = verdict {
            return Err(ApiError::rate_limited(retry, per_minute(&org)));
        }
        if role < at_least {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role; you are {}",
                at_least.as_str(),
                role.as_str()
            )));
        }
        Ok((tenant, org))
    }

    /// The organisation's limits: its own (enterprise) or its tier's. Read with each request,
    /// so a tier change applies at once.
    fn limits_of(&self, org: &Org) -> Limits {
        org.custom_limits
            .unwrap_or_else(|| self.config.tier_limits(&org.tier))
    }

    fn throttles(&self) -> Throttles<'_> {
        Throttles {
            store: self.store.as_ref(),
            config: &self.config.throttle,
            now: self.clock.now(),
        }
    }

    /// Mails `user` a one-time token that proves they read the address.
    async fn send_verification(&self, user: &User) -> Result<(), ApiError> {
        let token = format!("scry_vfy_{}", auth::random_token(32));
        let expires = self.clock.now() + EMAIL_TOKEN_TTL_S;
        self.store
            .create_email_token(&auth::hash_secret(&token), &user.id, expires)
            .await?;
        let body = format!(
            "Confirm that this address is yours to use Scry invitations:\r\n\r\n    {token}\r\n\r\n\
             Send it as POST /v1/users/verify {{\"token\": \"…\"}}, or paste it where Scry asks for it.\r\n\
             It expires in 24 hours. If you did not sign up, ignore this message."
        );
        self.mailer
            .send(&user.email, "Confirm your email address for Scry", &body)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the verification email could not be sent; retry",
                )
            })
    }

    /// A refused quota is an event too (`quota.exceeded`), recorded beside the refusal.
    async fn quota_refused(&self, t: &Tenant, e: StoreError) -> ApiError {
        if let StoreError::Quota { what, limit, tier } = &e {
            let details = serde_json::json!({"limit": what, "max": limit, "tier": tier});
            if let Err(err) = self
                .store
                .record_event(t, "quota.exceeded", t.org_id(), details, self.clock.now())
                .await
            {
                tracing::warn!("could not record quota.exceeded: {err}");
            }
        }
        e.into()
    }
}

/// How long an email verification token stays valid.
const EMAIL_TOKEN_TTL_S: i64 = 86_400;

fn check_name(what: &str, name: &str) -> Result<String, ApiError> {
    crate::input::name(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{what} must be 1 to 100 visible characters, without control, bidirectional or \
             invisible ones"
        ))
    })
}

fn check_email(email: &str) -> Result<String, ApiError> {
    crate::input::email(email).ok_or_else(|| {
        ApiError::bad_request(
            "not an email address (ASCII, one @, a domain of dot-separated labels; write an \
             international domain in its xn-- form)",
        )
    })
}

fn check_id(prefix: &str, id: &str) -> Result<(), ApiError> {
    if valid_id(prefix, id) {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}

/// The page size and cursor of a list request, checked.
fn page_bounds(q: &PageQuery) -> Result<(i64, &str), ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 100"));
    }
    let after = q.after.as_deref().unwrap_or("");
    if after.len() > 64
        || !after
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ApiError::bad_request(
            "after must be a cursor from a previous page",
        ));
    }
    Ok((limit, after))
}

fn created<T: Serialize>(body: T) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

// ---- operations -----------------------------------------------------------------------------

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn readyz(State(state): State<Arc<AppState>>) -> Result<axum::Json<Health>, ApiError> {
    if state.store.ping().await.is_ok() {
        Ok(axum::Json(Health {
            status: "ready".into(),
        }))
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database does not answer",
        ))
    }
}

// ---- users and sessions ---------------------------------------------------------------------

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
        Ok(user) => {
            state.send_verification(&user).await?;
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
    let email = crate::input::email(&body.email).unwrap_or_default();
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
    let password = body.password;
    let ok = state
        .hash_slots
        .run(move || auth::verify_password(&password, &hash))
        .await?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    throttles.clear(account).await?;
    throttles.give_back(address).await?;
    Ok(created(start_session(&state, user).await?))
}

async fn start_session(state: &AppState, user: User) -> Result<SessionCreated, ApiError> {
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

// ---- device authorisation (RFC 8628) --------------------------------------------------------

/// Starts a device login: the device shows `user_code`, a person approves it elsewhere.
#[utoipa::path(post, path = "/v1/device/code", tag = "device",
    request_body(content = DeviceCodeRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = DeviceCodeResponse), (status = 400, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn device_code(
    State(state): State<Arc<AppState>>,
    from: ClientAddr,
    Form(body): Form<DeviceCodeRequest>,
) -> Result<axum::Json<DeviceCodeResponse>, ApiError> {
    let client_id = check_name("client_id", &body.client_id)?;
    state
        .throttles()
        .take(Counted::DeviceCodesFrom(from))
        .await?;
    let device_code = auth::random_token(40);
    let now = state.clock.now();
    let ttl = state.config.device_code_ttl_s;
    let interval = state.config.device_poll_interval_s;
    let mut user_code = auth::new_user_code();
    // 20^8 codes: a collision is rare, and a second draw settles it.
    for attempt in 0.. {
        match state
            .store
            .create_device_code(
                &auth::hash_secret(&device_code),
                &user_code,
                &client_id,
                now,
                now + ttl,
                interval,
            )
            .await
        {
            Ok(()) => break,
            Err(StoreError::Conflict(_)) if attempt < 3 => user_code = auth::new_user_code(),
            Err(e) => return Err(e.into()),
        }
    }
    let uri = &state.config.verification_uri;
    Ok(axum::Json(DeviceCodeResponse {
        verification_uri_complete: format!("{uri}?user_code={user_code}"),
        verification_uri: uri.clone(),
        device_code,
        user_code,
        expires_in: ttl,
        interval,
    }))
}

fn oauth_error(error: &str, error_description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(OAuthError {
            error: error.into(),
            error_description: error_description.into(),
        }),
    )
        .into_response()
}

/// The device polls here until the person approves or denies, or the code expires.
#[utoipa::path(post, path = "/v1/device/token", tag = "device",
    request_body(content = DeviceTokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse), (status = 400, body = OAuthError)))]
async fn device_token(
    State(state): State<Arc<AppState>>,
    Form(body): Form<DeviceTokenRequest>,
) -> Result<Response, ApiError> {
    if body.grant_type != DEVICE_GRANT {
        return Ok(oauth_error(
            "unsupported_grant_type",
            "use urn:ietf:params:oauth:grant-type:device_code",
        ));
    }
    let _ = body.client_id;
    let poll = state
        .store
        .poll_device_code(&auth::hash_secret(&body.device_code), state.clock.now())
        .await?;
    Ok(match poll {
        DevicePoll::Pending => {
            oauth_error("authorization_pending", "the person has not approved yet")
        }
        DevicePoll::SlowDown => oauth_error(
            "slow_down",
            "polling too fast: wait 5 s longer between polls",
        ),
        DevicePoll::Expired => oauth_error("expired_token", "the code expired: start again"),
        DevicePoll::Denied => oauth_error("access_denied", "the person denied this login"),
        DevicePoll::Unknown => oauth_error("invalid_grant", "unknown or already used device code"),
        DevicePoll::Approved { user_id } => {
            let user = state
                .store
                .user(&user_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            let session = start_session(&state, user).await?;
            axum::Json(TokenResponse {
                access_token: session.token,
                token_type: "Bearer".into(),
                expires_in: state.config.session_ttl_s,
            })
            .into_response()
        }
    })
}

/// A logged-in person approves or denies a device's code.
#[utoipa::path(post, path = "/v1/device/verify", tag = "device", security(("bearer" = [])), request_body = DeviceVerify,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn device_verify(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Json(body): Json<DeviceVerify>,
) -> Result<StatusCode, ApiError> {
    let user = who.user()?;
    let code = auth::normalise_user_code(&body.user_code);
    let throttles = state.throttles();
    let failures = Counted::DeviceVerifyFailuresOf(&user.id);
    throttles.take(failures).await?;
    let decided = state
        .store
        .decide_device_code(
            &code,
            body.approve.then_some(user.id.as_str()),
            state.clock.now(),
        )
        .await?;
    if decided {
        throttles.give_back(failures).await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

// ---- organisations and members --------------------------------------------------------------

/// Creates an organisation on the free tier, with the caller as owner.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])), request_body = NewOrg,
    responses((status = 201, body = Org), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_org(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Json(body): Json<NewOrg>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let name = check_name("name", &body.name)?;
    let tenant = Tenant::new(&new_id("org"), &user.id, Role::Owner);
    let org = state
        .store
        .create_org(&tenant, &name, "free", state.clock.now())
        .await?;
    Ok(created(org))
}

/// The caller's organisations.
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])),
    responses((status = 200, body = [OrgMembership]), (status = 401, body = ErrorBody)))]
async fn list_orgs(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> Result<axum::Json<Vec<OrgMembership>>, ApiError> {
    match &who {
        Principal::User { user, .. } => Ok(axum::Json(state.store.orgs_of(&user.id).await?)),
        Principal::Key(k) => {
            let t = state
                .authorize(&who, &k.org_id.clone(), Role::Viewer)
                .await?;
            let org = state.store.org(&t).await?;
            Ok(axum::Json(vec![OrgMembership { org, role: k.role }]))
        }
    }
}

/// One organisation.
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = Org), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_org(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Org>, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    Ok(axum::Json(state.store.org(&t).await?))
}

/// Deletes an organisation and every row it owns; the audit entry of the deletion stays.
#[utoipa::path(delete, path = "/v1/orgs/{org}", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_org(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Owner).await?;
    state.store.delete_org(&t, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Members and their roles.
#[utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = [Member]), (status = 404, body = ErrorBody)))]
async fn list_members(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Vec<Member>>, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    Ok(axum::Json(state.store.members(&t).await?))
}

/// Changes a member's role (admins; only owners make owners).
#[utoipa::path(patch, path = "/v1/orgs/{org}/members/{user}", tag = "orgs", security(("bearer" = [])),
    params(("org" = String, Path), ("user" = String, Path)), request_body = RoleChange,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn set_member_role(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
    Json(body): Json<RoleChange>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    check_id("usr", &user)?;
    if body.role == Role::Owner && t.role() < Role::Owner {
        return Err(ApiError::forbidden("only an owner makes owners"));
    }
    state
        .store
        .set_member_role(&t, &user, body.role, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member.
#[utoipa::path(delete, path = "/v1/orgs/{org}/members/{user}", tag = "orgs", security(("bearer" = [])),
    params(("org" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove_member(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    check_id("usr", &user)?;
    state
        .store
        .remove_member(&t, &user, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Invites someone by email (admins).
#[utoipa::path(post, path = "/v1/orgs/{org}/invitations", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    request_body = NewInvitation, responses((status = 201, body = InvitationCreated), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_invitation(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Json(body): Json<NewInvitation>,
) -> Result<Response, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    let email = check_email(&body.email)?;
    if body.role == Role::Owner && t.role() < Role::Owner {
        return Err(ApiError::forbidden("only an owner invites owners"));
    }
    let token = format!("scry_inv_{}", auth::random_token(32));
    let now = state.clock.now();
    let invitation = state
        .store
        .create_invitation(
            &t,
            &email,
            body.role,
            &auth::hash_secret(&token),
            now,
            now + state.config.invitation_ttl_s,
        )
        .await?;
    Ok(created(InvitationCreated { invitation, token }))
}

/// Pending invitations.
#[utoipa::path(get, path = "/v1/orgs/{org}/invitations", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = [Invitation]), (status = 404, body = ErrorBody)))]
async fn list_invitations(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Vec<Invitation>>, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    Ok(axum::Json(state.store.invitations(&t).await?))
}

/// Accepts an invitation addressed to the caller's email.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "orgs", security(("bearer" = [])), request_body = AcceptInvitation,
    responses((status = 200, body = Joined), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn accept_invitation(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Json(body): Json<AcceptInvitation>,
) -> Result<axum::Json<Joined>, ApiError> {
    let user = who.user()?;
    if !user.email_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "email_unverified",
            "confirm your email address first (POST /v1/me/verification mails a new token)",
        ));
    }
    let (org_id, role) = state
        .store
        .accept_invitation(&auth::hash_secret(&body.token), user, state.clock.now())
        .await?;
    Ok(axum::Json(Joined { org_id, role }))
}

// ---- repositories ---------------------------------------------------------------------------

/// Registers a repository (members); refused over the tier's repository quota.
#[utoipa::path(post, path = "/v1/orgs/{org}/repos", tag = "repos", security(("bearer" = [])), params(("org" = String, Path)),
    request_body = NewRepo, responses((status = 201, body = Repo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn create_repo(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Json(body): Json<NewRepo>,
) -> Result<Response, ApiError> {
    let (t, org) = state.authorize_org(&who, &org, Role::Member).await?;
    let name = check_name("name", &body.name)?;
    let (tier, limits) = (org.tier.clone(), state.limits_of(&org));
    match state
        .store
        .create_repo(&t, &name, &tier, limits, state.clock.now())
        .await
    {
        Ok(repo) => Ok(created(repo)),
        Err(e) => Err(state.quota_refused(&t, e).await),
    }
}

/// Repositories, a page at a time.
#[utoipa::path(get, path = "/v1/orgs/{org}/repos", tag = "repos", security(("bearer" = [])), params(("org" = String, Path), PageQuery),
    responses((status = 200, body = Page<Repo>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_repos(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<Repo>>, ApiError> {
    let (limit, after) = page_bounds(&q)?;
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    Ok(axum::Json(state.store.repos(&t, limit, after).await?))
}

/// One repository.
#[utoipa::path(get, path = "/v1/orgs/{org}/repos/{repo}", tag = "repos", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)), responses((status = 200, body = Repo), (status = 404, body = ErrorBody)))]
async fn get_repo(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
) -> Result<axum::Json<Repo>, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    check_id("repo", &repo)?;
    Ok(axum::Json(state.store.repo(&t, &repo).await?))
}

/// Deletes a repository and its rows (members).
#[utoipa::path(delete, path = "/v1/orgs/{org}/repos/{repo}", tag = "repos", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_repo(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Member).await?;
    check_id("repo", &repo)?;
    state
        .store
        .delete_repo(&t, &repo, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records how many chunks a repository's index holds; refused over the chunk quota.
#[utoipa::path(put, path = "/v1/orgs/{org}/repos/{repo}/chunks", tag = "repos", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)), request_body = ChunkCount,
    responses((status = 200, body = Repo), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_repo_chunks(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
    Json(body): Json<ChunkCount>,
) -> Result<axum::Json<Repo>, ApiError> {
    let (t, org) = state.authorize_org(&who, &org, Role::Member).await?;
    check_id("repo", &repo)?;
    if !(0..=1_000_000_000).contains(&body.chunks) {
        return Err(ApiError::bad_request(
            "chunks must be between 0 and 1,000,000,000",
        ));
    }
    let (tier, limits) = (org.tier.clone(), state.limits_of(&org));
    match state
        .store
        .set_repo_chunks(&t, &repo, body.chunks, &tier, limits, state.clock.now())
        .await
    {
        Ok(repo) => Ok(axum::Json(repo)),
        Err(e) => Err(state.quota_refused(&t, e).await),
    }
}

// ---- API keys -------------------------------------------------------------------------------

/// Creates an API key scoped to this organisation and a role (admins).
#[utoipa::path(post, path = "/v1/orgs/{org}/keys", tag = "keys", security(("bearer" = [])), params(("org" = String, Path)),
    request_body = NewKey, responses((status = 201, body = KeyCreated), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_key(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Json(body): Json<NewKey>,
) -> Result<Response, ApiError> {
    // Every key traces back to a person, whose removal or demotion it follows.
    who.user()?;
    let t = state.authorize(&who, &org, Role::Admin).await?;
    let name = check_name("name", &body.name)?;
    if body.role > t.role() {
        return Err(ApiError::forbidden(
            "a key cannot have a stronger role than its creator",
        ));
    }
    let key = auth::new_api_key();
    let api_key = state
        .store
        .create_api_key(
            &t,
            &name,
            body.role,
            &auth::api_key_display(&key),
            &auth::hash_secret(&key),
            state.clock.now(),
        )
        .await?;
    Ok(created(KeyCreated { key, api_key }))
}

/// API keys (never the keys themselves).
#[utoipa::path(get, path = "/v1/orgs/{org}/keys", tag = "keys", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = [ApiKey]), (status = 404, body = ErrorBody)))]
async fn list_keys(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Vec<ApiKey>>, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    Ok(axum::Json(state.store.api_keys(&t).await?))
}

/// Revokes an API key, at once.
#[utoipa::path(delete, path = "/v1/orgs/{org}/keys/{key}", tag = "keys", security(("bearer" = [])),
    params(("org" = String, Path), ("key" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_key(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    check_id("key", &key)?;
    state
        .store
        .revoke_api_key(&t, &key, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- usage, audit, export -------------------------------------------------------------------

fn check_day(day: &str) -> Result<(), ApiError> {
    let b = day.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request("days are YYYY-MM-DD"))
    }
}

/// Usage per day: requests, repositories created, chunks stored.
#[utoipa::path(get, path = "/v1/orgs/{org}/usage", tag = "usage", security(("bearer" = [])), params(("org" = String, Path), UsageQuery),
    responses((status = 200, body = [UsageDay]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn usage(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Query(q): Query<UsageQuery>,
) -> Result<axum::Json<Vec<UsageDay>>, ApiError> {
    let now = state.clock.now();
    let from = q
        .from
        .unwrap_or_else(|| crate::clock::day(now - 30 * 86_400));
    let to = q.to.unwrap_or_else(|| crate::clock::day(now));
    check_day(&from)?;
    check_day(&to)?;
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    Ok(axum::Json(state.store.usage(&t, &from, &to).await?))
}

/// The audit log, oldest first, a page at a time (admins).
#[utoipa::path(get, path = "/v1/orgs/{org}/audit", tag = "usage", security(("bearer" = [])), params(("org" = String, Path), PageQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn audit(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<AuditEntry>>, ApiError> {
    let (limit, after) = page_bounds(&q)?;
    let t = state.authorize(&who, &org, Role::Admin).await?;
    Ok(axum::Json(state.store.audit(&t, limit, after).await?))
}

/// Everything the organisation holds, as one JSON document (admins). Secrets are not in it.
#[utoipa::path(get, path = "/v1/orgs/{org}/export", tag = "usage", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn export(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    Ok(axum::Json(state.store.export(&t).await?))
}

// ---- webhooks -------------------------------------------------------------------------------

/// Subscribes a URL to events (admins). Deliveries are signed like Standard Webhooks.
#[utoipa::path(post, path = "/v1/orgs/{org}/webhooks", tag = "webhooks", security(("bearer" = [])), params(("org" = String, Path)),
    request_body = NewWebhook, responses((status = 201, body = WebhookCreated), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_webhook(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Json(body): Json<NewWebhook>,
) -> Result<Response, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    let url = target::parse(&body.url).map_err(ApiError::bad_request)?;
    if !state.config.webhook_allow_private_targets {
        target::check_host(&url).map_err(ApiError::bad_request)?;
        target::check_resolved(&url)
            .await
            .map_err(ApiError::bad_request)?;
    }
    let events_ok = !body.events.is_empty()
        && body.events.len() <= 32
        && body.events.iter().all(|e| {
            e == "*"
                || (e.len() <= 64
                    && e.contains('.')
                    && e.bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'))
        });
    if !events_ok {
        return Err(ApiError::bad_request(
            "events must be 1 to 32 event types like `member.added`, or `*`",
        ));
    }
    let secret = crate::webhooks::new_secret();
    let webhook = state
        .store
        .create_webhook(
            &t,
            url.as_str(),
            &body.events,
            &state.secrets.seal(&secret),
            state.clock.now(),
        )
        .await?;
    Ok(created(WebhookCreated { webhook, secret }))
}

/// Webhooks (without their secrets).
#[utoipa::path(get, path = "/v1/orgs/{org}/webhooks", tag = "webhooks", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = [Webhook]), (status = 404, body = ErrorBody)))]
async fn list_webhooks(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Vec<Webhook>>, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    Ok(axum::Json(state.store.webhooks(&t).await?))
}

/// Deletes a webhook and its pending deliveries.
#[utoipa::path(delete, path = "/v1/orgs/{org}/webhooks/{hook}", tag = "webhooks", security(("bearer" = [])),
    params(("org" = String, Path), ("hook" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_webhook(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, hook)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    check_id("hook", &hook)?;
    state
        .store
        .delete_webhook(&t, &hook, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's deliveries and their state.
#[utoipa::path(get, path = "/v1/orgs/{org}/webhooks/{hook}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("org" = String, Path), ("hook" = String, Path)), responses((status = 200, body = [Delivery]), (status = 404, body = ErrorBody)))]
async fn list_deliveries(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, hook)): Path<(String, String)>,
) -> Result<axum::Json<Vec<Delivery>>, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    check_id("hook", &hook)?;
    Ok(axum::Json(state.store.deliveries(&t, &hook).await?))
}

// ---- operator -------------------------------------------------------------------------------

/// The operator, by the configured token; checked before the request's body is read. Without a
/// configured token the operator routes do not exist.
struct Operator;

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let Some(expected) = state.config.admin_token.as_deref() else {
            return Err(ApiError::not_found());
        };
        // Compared as hashes: equal-length digests, so the time taken says nothing of the token.
        match bearer(parts) {
            Some(given) if auth::hash_secret(given) == auth::hash_secret(expected) => Ok(Operator),
            _ => Err(ApiError::unauthorized("this needs the operator token")),
        }
    }
}

/// Moves an organisation to another tier; applies to its next request (operator token).
#[utoipa::path(put, path = "/v1/admin/orgs/{org}/tier", tag = "operations", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = TierChange,
    responses((status = 200, body = Org), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_tier(
    State(state): State<Arc<AppState>>,
    _: Operator,
    Path(org): Path<String>,
    Json(body): Json<TierChange>,
) -> Result<axum::Json<Org>, ApiError> {
    check_id("org", &org)?;
    let custom = match (body.tier.as_str(), body.limits) {
        ("enterprise", Some(l))
            if l.max_repos >= 0 && l.max_chunks >= 0 && l.requests_per_minute >= 1 =>
        {
            Some(l)
        }
        ("enterprise", _) => {
            return Err(ApiError::bad_request(
                "enterprise needs limits with non-negative values",
            ));
        }
        (tier, None) if state.config.tiers.contains_key(tier) => None,
        _ => {
            return Err(ApiError::bad_request(
                "unknown tier, or limits given for a fixed tier",
            ));
        }
    };
    let t = Tenant::new(&org, "operator", Role::Owner);
    Ok(axum::Json(
        state
            .store
            .set_tier(&t, &body.tier, custom, state.clock.now())
            .await?,
    ))
}
