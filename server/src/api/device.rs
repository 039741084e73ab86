//! The device authorisation grant (RFC 8628): a code for the device, a poll, a person's approval.

use super::*;

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    api.routes(routes!(device_code))
        .routes(routes!(device_token))
        .routes(routes!(device_verify))
}

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
    decide(&state, who.user()?, &body.user_code, body.approve).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Approves or denies a device's user code for `user`; 404 for a code that is unknown, used
/// or expired (each such guess counts against the user).
pub(super) async fn decide(
    state: &AppState,
    user: &User,
    user_code: &str,
    approve: bool,
) -> Result<(), ApiError> {
    let code = auth::normalise_user_code(user_code);
    let throttles = state.throttles();
    let failures = Counted::DeviceVerifyFailuresOf(&user.id);
    throttles.take(failures).await?;
    let decided = state
        .store
        .decide_device_code(
            &code,
            approve.then_some(user.id.as_str()),
            state.clock.now(),
        )
        .await?;
    if !decided {
        return Err(ApiError::not_found());
    }
    throttles.give_back(failures).await?;
    Ok(())
}
