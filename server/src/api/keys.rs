//! API keys: created by a person, scoped to an org and a role, revocable.

use super::*;

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    api.routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(current_key))
}

/// The API key this request carries, and its organisation: how a script or CI job learns what
/// it acts as. Signed-in people ask `/v1/me`.
#[utoipa::path(get, path = "/v1/keys/current", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = CurrentKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn current_key(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> Result<axum::Json<CurrentKey>, ApiError> {
    let Principal::Key(grant) = &who else {
        return Err(ApiError::bad_request(
            "this request carries a session, not an API key: ask /v1/me",
        ));
    };
    let t = state.authorize(&who, &grant.org_id, Role::Viewer).await?;
    let org = state.store.org(&t).await?;
    let key = state
        .store
        .api_keys(&t)
        .await?
        .into_iter()
        .find(|k| k.id == grant.key_id)
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(CurrentKey { key, org }))
}

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
