//! Repositories (their synced indexes: `index`).

use super::*;

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    api.routes(routes!(create_repo, list_repos))
        .routes(routes!(get_repo, delete_repo))
}

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
