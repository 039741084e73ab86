//! Webhooks: subscriptions, and their deliveries' state.

use super::*;

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    api.routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
}

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
