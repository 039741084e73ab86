//! Usage per day, the audit log and the data export.

use super::*;

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    api.routes(routes!(usage))
        .routes(routes!(audit))
        .routes(routes!(export))
}

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
