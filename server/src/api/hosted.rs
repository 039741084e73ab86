//! Hosted search (opt-in per repository): turning it on or off (admins), publishing the code
//! it serves (members; counted in sync's rate window) and `POST /v1/orgs/{org}/search`
//! (anyone who can read the org, metered per request as `searches`).

use axum::extract::DefaultBodyLimit;

use super::*;
use crate::search::{Query as SearchQuery, SearchError};
use crate::store::{HostedRepo, Published, Quota};

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    let upload = OpenApiRouter::new()
        .routes(routes!(missing_blobs))
        .routes(routes!(put_blobs))
        .routes(routes!(publish))
        .layer(DefaultBodyLimit::max(MAX_HOSTED_BODY));
    api.routes(routes!(set_hosted_search))
        .routes(routes!(hosted_state))
        .routes(routes!(search))
        .merge(upload)
}

/// Turns hosted search on for a branch, or off (admins). Off deletes the code the service
/// held for it at once; on serves nothing until a sync of that branch publishes it.
#[utoipa::path(put, path = "/v1/orgs/{org}/repos/{repo}/hosted-search", tag = "search", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)), request_body = HostedSearch,
    responses((status = 200, body = Repo), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_hosted_search(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
    Json(body): Json<HostedSearch>,
) -> Result<axum::Json<Repo>, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    check_id("repo", &repo)?;
    let branch = match (body.enabled, body.branch.as_deref()) {
        (true, branch) => Some(check_name("branch", branch.unwrap_or("main"))?),
        (false, _) => None,
    };
    let now = state.clock.now();
    let repo = (state.store)
        .set_hosted(&t, &repo, branch.as_deref(), now)
        .await?;
    Ok(axum::Json(repo))
}

/// What hosted search serves of a repository: its branch, generation, files and bytes.
#[utoipa::path(get, path = "/v1/orgs/{org}/repos/{repo}/hosted", tag = "search", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)),
    responses((status = 200, body = HostedState), (status = 404, body = ErrorBody)))]
async fn hosted_state(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
) -> Result<axum::Json<HostedState>, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    check_id("repo", &repo)?;
    Ok(axum::Json(state.store.hosted_state(&t, &repo).await?))
}

/// Which of these texts (by id) the repository lacks (members).
#[utoipa::path(post, path = "/v1/orgs/{org}/repos/{repo}/hosted/missing", tag = "search", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)), request_body = ObjectIds,
    responses((status = 200, body = Missing), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn missing_blobs(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
    Json(body): Json<ObjectIds>,
) -> Result<axum::Json<Missing>, ApiError> {
    let (t, _) = (state.authorize_in(RateBucket::Sync, &who, &org, Role::Member)).await?;
    check_id("repo", &repo)?;
    check_blob_ids(body.ids.iter(), body.ids.len())?;
    let missing = state.store.hosted_missing(&t, &repo, &body.ids).await?;
    Ok(axum::Json(Missing { missing }))
}

/// Stores texts (members), each under the BLAKE3 hash of its bytes; refused over the org's
/// hosted bytes (its tier's chunks × 4 KiB) or while hosted search is off.
#[utoipa::path(put, path = "/v1/orgs/{org}/repos/{repo}/hosted/blobs", tag = "search", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)), request_body = HostedBlobs,
    responses((status = 200, body = StoredObjects), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn put_blobs(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
    Json(body): Json<HostedBlobs>,
) -> Result<axum::Json<StoredObjects>, ApiError> {
    let (t, org) = (state.authorize_in(RateBucket::Sync, &who, &org, Role::Member)).await?;
    check_id("repo", &repo)?;
    let blobs = decode_blobs(body)?;
    let quota = Quota {
        tier: &org.tier,
        limits: state.limits_of(&org),
    };
    let now = state.clock.now();
    let stored = match state
        .store
        .put_hosted_blobs(&t, &repo, &blobs, quota, now)
        .await
    {
        Ok(stored) => stored,
        Err(e) => return Err(state.quota_refused(&t, e).await),
    };
    let results = (blobs.into_iter().zip(stored))
        .map(|((id, _), status)| ObjectResult { id, status })
        .collect();
    Ok(axum::Json(StoredObjects { results }))
}

/// Makes these files the code hosted search serves (members): the branch must be the one
/// served and every text uploaded (409 names the missing ones).
#[utoipa::path(put, path = "/v1/orgs/{org}/repos/{repo}/hosted/tree", tag = "search", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)), request_body = HostedTree,
    responses((status = 200, body = HostedState), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = HostedConflict), (status = 429, body = ErrorBody)))]
async fn publish(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
    Json(body): Json<HostedTree>,
) -> Result<Response, ApiError> {
    let (t, _) = (state.authorize_in(RateBucket::Sync, &who, &org, Role::Member)).await?;
    check_id("repo", &repo)?;
    let branch = check_name("branch", &body.branch)?;
    check_tree(&body.files)?;
    let now = state.clock.now();
    match (state.store)
        .publish_hosted(&t, &repo, &branch, &body.files, now)
        .await?
    {
        Published::Done(hosted) => Ok(axum::Json(hosted).into_response()),
        Published::Missing(missing) => {
            let body = HostedConflict {
                error: ErrorDetail {
                    code: "missing_objects".into(),
                    message: format!("{} texts are not uploaded", missing.len()),
                },
                missing,
            };
            Ok((StatusCode::CONFLICT, axum::Json(body)).into_response())
        }
    }
}

/// Searches the org's repositories that have hosted search on (anyone who can read the org),
/// with the CLI's engine; answers in `scry search --json`'s result shape, with `repo`.
#[utoipa::path(post, path = "/v1/orgs/{org}/search", tag = "search", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = SearchRequest,
    responses((status = 200, body = SearchResults), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn search(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Json(body): Json<SearchRequest>,
) -> Result<axum::Json<SearchResults>, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    let query = check_search(&body)?;
    let hosted = state.store.hosted_repos(&t).await?;
    let repos = pick_repos(&hosted, &body.repos)?;
    state.store.record_search(&t, state.clock.now()).await?;
    if repos.is_empty() {
        return Ok(axum::Json(SearchResults {
            results: Vec::new(),
            searched: Vec::new(),
        }));
    }
    let (results, searched) = (state.shards)
        .search(&state.store, &t, &hosted, &repos, &query)
        .await
        .map_err(|e| match e {
            SearchError::Store(e) => e.into(),
            SearchError::Query(m) => ApiError::bad_request(m),
            SearchError::Engine(e) => {
                tracing::error!(org = t.org_id(), "hosted search: {e:#}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the search failed; retry",
                )
            }
        })?;
    Ok(axum::Json(SearchResults { results, searched }))
}

fn check_search(body: &SearchRequest) -> Result<SearchQuery<'_>, ApiError> {
    let text = body.query.trim();
    if text.is_empty() || text.len() > 1_000 {
        return Err(ApiError::bad_request("query must be 1 to 1,000 bytes"));
    }
    let limit = body.limit.unwrap_or(10);
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_SEARCH_LIMIT}"
        )));
    }
    if body
        .glob
        .as_ref()
        .is_some_and(|g| g.is_empty() || g.len() > 1_000)
    {
        return Err(ApiError::bad_request("glob must be 1 to 1,000 bytes"));
    }
    if body.repos.len() > 100 {
        return Err(ApiError::bad_request("repos: at most 100"));
    }
    Ok(SearchQuery {
        text,
        limit,
        lang: body.lang.as_deref(),
        glob: body.glob.as_deref(),
    })
}

/// The repositories a search names (by name or id), each with hosted search on; all of them
/// when it names none.
fn pick_repos<'h>(
    hosted: &'h [HostedRepo],
    named: &[String],
) -> Result<Vec<&'h HostedRepo>, ApiError> {
    if named.is_empty() {
        return Ok(hosted.iter().collect());
    }
    let mut picked: Vec<&HostedRepo> = Vec::new();
    for name in named {
        let repo = (hosted.iter())
            .find(|r| &r.name == name || &r.id == name)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!(
                        "no repository {:?} with hosted search on in this org",
                        name.chars().take(100).collect::<String>()
                    ),
                )
            })?;
        if !picked.iter().any(|p| p.id == repo.id) {
            picked.push(repo);
        }
    }
    Ok(picked)
}

fn check_blob_ids<'a>(mut ids: impl Iterator<Item = &'a String>, n: usize) -> Result<(), ApiError> {
    if n > MAX_IDS {
        return Err(ApiError::bad_request(format!("at most {MAX_IDS} ids")));
    }
    match ids.find(|id| !crate::input::object_id(id)) {
        Some(bad) => Err(ApiError::bad_request(format!(
            "{:?} is not a text's id (64 lowercase hex digits)",
            bad.chars().take(80).collect::<String>()
        ))),
        None => Ok(()),
    }
}

/// Checks a batch of texts: ids that are their BLAKE3 hashes, sizes.
fn decode_blobs(body: HostedBlobs) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    check_blob_ids(body.blobs.iter().map(|b| &b.id), body.blobs.len())?;
    let total: usize = body.blobs.iter().map(|b| b.text.len()).sum();
    if total > MAX_BATCH_BYTES {
        return Err(ApiError::bad_request(format!(
            "a batch carries at most {MAX_BATCH_BYTES} bytes of text"
        )));
    }
    (body.blobs.into_iter())
        .map(|b| {
            if b.text.len() > MAX_HOSTED_FILE_BYTES {
                return Err(ApiError::bad_request(format!(
                    "text {}: larger than {MAX_HOSTED_FILE_BYTES} bytes",
                    b.id
                )));
            }
            if blake3::hash(b.text.as_bytes()).to_hex().as_str() != b.id {
                return Err(ApiError::bad_request(format!(
                    "text {}: its id is not the BLAKE3 hash of its bytes",
                    b.id
                )));
            }
            Ok((b.id, b.text.into_bytes()))
        })
        .collect()
}

/// Checks a tree: how many files, each path inside the repository and named once, no path
/// that another lies under, ids well-formed.
fn check_tree(files: &[HostedFile]) -> Result<(), ApiError> {
    if files.len() > MAX_HOSTED_FILES {
        return Err(ApiError::bad_request(format!(
            "a tree lists at most {MAX_HOSTED_FILES} files"
        )));
    }
    check_blob_ids(files.iter().map(|f| &f.blob), 0)?;
    if let Some(bad) = files.iter().find(|f| !crate::input::repo_path(&f.path)) {
        return Err(ApiError::bad_request(format!(
            "{:?} is not a path inside a repository (relative, /-separated, no . or ..)",
            bad.path.chars().take(200).collect::<String>()
        )));
    }
    let mut paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    for pair in paths.windows(2) {
        let under = pair[1]
            .strip_prefix(pair[0])
            .is_some_and(|rest| rest.starts_with('/'));
        if pair[0] == pair[1] || under {
            return Err(ApiError::bad_request(format!(
                "{:?} is listed twice, or as a file and a directory",
                pair[0]
            )));
        }
    }
    Ok(())
}
