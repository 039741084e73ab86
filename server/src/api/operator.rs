//! The operator's side: health, readiness, and tier changes behind the operator token.

use super::*;

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    api.routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(set_tier))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
    })
}

/// How long readiness waits for the database: a balancer asks often, and a database that is
/// down would otherwise hold each probe for the pool's whole acquire timeout.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Readiness: the database answers, within [`READY_WITHIN`].
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn readyz(State(state): State<Arc<AppState>>) -> Result<axum::Json<Health>, ApiError> {
    let answered = tokio::time::timeout(READY_WITHIN, state.store.ping()).await;
    if matches!(answered, Ok(Ok(_))) {
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
