//! Key distribution for sync: recipients (public keys) and the org's data key wrapped to them.

use super::*;

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    api.routes(routes!(add_recipient, list_recipients))
        .routes(routes!(remove_recipient))
        .routes(routes!(put_wrapped_key, get_wrapped_key))
        .routes(routes!(issue_recovery_key))
}

/// Registers the caller's public key (viewers and up; a device at `scry sync enable`, an API
/// key from its key material).
#[utoipa::path(post, path = "/v1/orgs/{org}/recipients", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = NewRecipient,
    responses((status = 201, body = Recipient), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn add_recipient(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Json(body): Json<NewRecipient>,
) -> Result<Response, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    if !crate::input::object_id(&body.public_key) {
        return Err(ApiError::bad_request(
            "public_key must be 64 lowercase hex digits (an X25519 public key)",
        ));
    }
    let label = check_name("label", &body.label)?;
    let new = NewRecipient { label, ..body };
    let recipient = state
        .store
        .add_recipient(&t, &new, state.clock.now())
        .await?;
    Ok(created(recipient))
}

/// The org's key epoch and its recipients, each with whether it holds the current key
/// (viewers and up: a client holding the key wraps it to those that lack it).
#[utoipa::path(get, path = "/v1/orgs/{org}/recipients", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path)), responses((status = 200, body = Recipients), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_recipients(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Recipients>, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    Ok(axum::Json(state.store.recipients(&t).await?))
}

/// Removes a recipient (its owner, or an admin); if it held the current key, the org moves
/// to the next key epoch.
#[utoipa::path(delete, path = "/v1/orgs/{org}/recipients/{recipient}", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path), ("recipient" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn remove_recipient(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, recipient)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    check_id("rcpt", &recipient)?;
    state
        .store
        .remove_recipient(&t, &recipient, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores the data key wrapped to a recipient, by a member who holds the key (or, to their own
/// recipient, who presents the epoch's check: a key restored from a recovery key). Every copy
/// of an epoch carries the first one's check; a recipient's first copy stays. 201 when stored,
/// 200 when one was there.
#[utoipa::path(put, path = "/v1/orgs/{org}/recipients/{recipient}/key", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path), ("recipient" = String, Path)), request_body = WrappedKey,
    responses((status = 201), (status = 200), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn put_wrapped_key(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, recipient)): Path<(String, String)>,
    Json(body): Json<WrappedKey>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Member).await?;
    check_id("rcpt", &recipient)?;
    // A wrapped key is a format byte, a 32-byte public key, a nonce and 52 sealed bytes.
    let well_formed = body.wrapped.len() <= 256
        && base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &body.wrapped)
            .is_ok_and(|b| (80..=160).contains(&b.len()));
    if !well_formed {
        return Err(ApiError::bad_request(
            "wrapped must be a wrapped data key, base64",
        ));
    }
    let check_ok = body.check.len() == 32
        && body
            .check
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !check_ok {
        return Err(ApiError::bad_request(
            "check must be the key's check, 32 lowercase hex digits",
        ));
    }
    let stored = state
        .store
        .put_wrapped_key(&t, &recipient, &body, state.clock.now())
        .await?;
    Ok(if stored {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

/// The current epoch's data key wrapped to the caller's own recipient (anyone else's answers
/// 404); 404 too while no holder has wrapped it.
#[utoipa::path(get, path = "/v1/orgs/{org}/recipients/{recipient}/key", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path), ("recipient" = String, Path)),
    responses((status = 200, body = WrappedKey), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_wrapped_key(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, recipient)): Path<(String, String)>,
) -> Result<axum::Json<WrappedKey>, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    check_id("rcpt", &recipient)?;
    Ok(axum::Json(state.store.wrapped_key(&t, &recipient).await?))
}

/// Records that an owner writes down the recovery key of the org's current key epoch, proving
/// it holds that key by its check. Once per epoch (409 after that): the org knows how many
/// copies of its key exist outside its devices, and the audit log says whose.
#[utoipa::path(post, path = "/v1/orgs/{org}/recovery-key", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = NewRecoveryKey,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn issue_recovery_key(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Json(body): Json<NewRecoveryKey>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Owner).await?;
    state
        .store
        .issue_recovery_key(&t, &body, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
