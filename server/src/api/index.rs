//! Index sync: sessions, missing ids, object batches, commits, refs and fetches (see
//! `scry_api::index` for the protocol). Counted in sync's own rate window.

use axum::extract::DefaultBodyLimit;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::*;
use crate::store::{CommitOutcome, Quota, StoredObject};

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    let sync = OpenApiRouter::new()
        .routes(routes!(open_session))
        .routes(routes!(missing))
        .routes(routes!(put_objects))
        .routes(routes!(commit))
        .routes(routes!(refs))
        .routes(routes!(fetch))
        .layer(DefaultBodyLimit::max(scry_api::MAX_SYNC_BODY));
    api.merge(sync)
}

/// Opens an upload session for a ref (members); refused over the chunk quota before anything
/// uploads.
#[utoipa::path(post, path = "/v1/orgs/{org}/repos/{repo}/index/sessions", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)), request_body = NewSyncSession,
    responses((status = 201, body = SyncSession), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn open_session(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
    Json(body): Json<NewSyncSession>,
) -> Result<Response, ApiError> {
    let (t, org) = state
        .authorize_in(RateBucket::Sync, &who, &org, Role::Member)
        .await?;
    check_id("repo", &repo)?;
    check_ref(&body.ref_name)?;
    check_object_ids("root", std::slice::from_ref(&body.root), 1)?;
    if !(0..=1_000_000_000).contains(&body.chunks) {
        return Err(ApiError::bad_request(
            "chunks must be between 0 and 1,000,000,000",
        ));
    }
    let quota = Quota {
        tier: &org.tier,
        limits: state.limits_of(&org),
    };
    let now = state.clock.now();
    match state.store.open_session(&t, &repo, &body, quota, now).await {
        Ok(session) => Ok(created(session)),
        Err(e) => Err(state.quota_refused(&t, e).await),
    }
}

/// Which of these ids the repository lacks (members); the ones it holds are kept while the
/// session is open.
#[utoipa::path(post, path = "/v1/orgs/{org}/repos/{repo}/index/sessions/{session}/missing", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path), ("session" = String, Path)), request_body = ObjectIds,
    responses((status = 200, body = Missing), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn missing(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo, session)): Path<(String, String, String)>,
    Json(body): Json<ObjectIds>,
) -> Result<axum::Json<Missing>, ApiError> {
    let (t, _) = state
        .authorize_in(RateBucket::Sync, &who, &org, Role::Member)
        .await?;
    check_session(&repo, &session)?;
    check_object_ids("ids", &body.ids, MAX_IDS)?;
    let now = state.clock.now();
    let missing = state
        .store
        .missing(&t, &repo, &session, &body.ids, now)
        .await?;
    Ok(axum::Json(Missing { missing }))
}

/// Stores a batch of sealed objects (members); re-sending one is a no-op.
#[utoipa::path(put, path = "/v1/orgs/{org}/repos/{repo}/index/sessions/{session}/objects", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path), ("session" = String, Path)), request_body = ObjectBatch,
    responses((status = 200, body = StoredObjects), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn put_objects(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo, session)): Path<(String, String, String)>,
    Json(body): Json<ObjectBatch>,
) -> Result<axum::Json<StoredObjects>, ApiError> {
    let (t, _) = state
        .authorize_in(RateBucket::Sync, &who, &org, Role::Member)
        .await?;
    check_session(&repo, &session)?;
    let objects = decode_batch(body)?;
    let now = state.clock.now();
    let results = state
        .store
        .put_objects(&t, &repo, &session, &objects, now)
        .await?;
    Ok(axum::Json(StoredObjects { results }))
}

/// Moves the session's ref to its root (members): compare-and-swap on the generation, the
/// chunk quota counted exactly, atomic. 409 names what is missing or the current generation.
#[utoipa::path(post, path = "/v1/orgs/{org}/repos/{repo}/index/sessions/{session}/commit", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path), ("session" = String, Path)), request_body = CommitRequest,
    responses((status = 200, body = Generation), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = CommitConflict), (status = 429, body = ErrorBody)))]
async fn commit(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo, session)): Path<(String, String, String)>,
    Json(body): Json<CommitRequest>,
) -> Result<Response, ApiError> {
    let (t, org) = state
        .authorize_in(RateBucket::Sync, &who, &org, Role::Member)
        .await?;
    check_session(&repo, &session)?;
    if body.base_generation < 0 || !crate::input::token_like(&body.model) {
        return Err(ApiError::bad_request(
            "base_generation must be 0 or more, and model 1 to 100 of A-Z a-z 0-9 . _ - / : @ +",
        ));
    }
    let quota = Quota {
        tier: &org.tier,
        limits: state.limits_of(&org),
    };
    let now = state.clock.now();
    let outcome = state
        .store
        .commit(&t, &repo, &session, &body, quota, now)
        .await;
    let conflict = |code: &str, message: String, missing, generation| {
        let error = ErrorDetail {
            code: code.into(),
            message,
        };
        let body = CommitConflict {
            error,
            missing,
            generation,
        };
        (StatusCode::CONFLICT, axum::Json(body)).into_response()
    };
    Ok(match outcome {
        Ok(CommitOutcome::Committed(generation)) => axum::Json(generation).into_response(),
        Ok(CommitOutcome::Missing {
            missing,
            generation,
        }) => conflict(
            "missing_objects",
            format!(
                "the tree needs {} objects the service lacks; upload them and commit again",
                missing.len()
            ),
            missing,
            generation,
        ),
        Ok(CommitOutcome::Stale { generation }) => conflict(
            "stale_generation",
            format!(
                "the ref is at generation {generation}, not {}; rebase and sync again",
                body.base_generation
            ),
            Vec::new(),
            generation,
        ),
        Ok(CommitOutcome::StaleKey { epoch, generation }) => conflict(
            "stale_key",
            format!(
                "the org's key moved to epoch {epoch} (someone who held it left), and these \
                 objects are sealed under epoch {}; seal them under the new key and sync again",
                body.key_epoch
            ),
            Vec::new(),
            generation,
        ),
        Err(e) => return Err(state.quota_refused(&t, e).await),
    })
}

/// The repository's refs and their current generations (viewers).
#[utoipa::path(get, path = "/v1/orgs/{org}/repos/{repo}/index/refs", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)),
    responses((status = 200, body = Vec<Generation>), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn refs(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
) -> Result<axum::Json<Vec<Generation>>, ApiError> {
    let (t, _) = state
        .authorize_in(RateBucket::Sync, &who, &org, Role::Viewer)
        .await?;
    check_id("repo", &repo)?;
    Ok(axum::Json(state.store.refs(&t, &repo).await?))
}

/// Sealed objects by id (viewers): a download walks from a ref's root and fetches what it
/// does not hold.
#[utoipa::path(post, path = "/v1/orgs/{org}/repos/{repo}/index/objects/fetch", tag = "sync", security(("bearer" = [])),
    params(("org" = String, Path), ("repo" = String, Path)), request_body = ObjectIds,
    responses((status = 200, body = FetchedObjects), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn fetch(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, repo)): Path<(String, String)>,
    Json(body): Json<ObjectIds>,
) -> Result<axum::Json<FetchedObjects>, ApiError> {
    let (t, _) = state
        .authorize_in(RateBucket::Sync, &who, &org, Role::Viewer)
        .await?;
    check_id("repo", &repo)?;
    check_object_ids("ids", &body.ids, MAX_IDS)?;
    let (objects, missing) = state
        .store
        .fetch(&t, &repo, &body.ids, MAX_BATCH_BYTES)
        .await?;
    let objects = objects
        .into_iter()
        .map(|o| SealedObject {
            id: o.id,
            kind: o.kind,
            children: o.children,
            chunks: o.chunks,
            body: BASE64.encode(o.body),
        })
        .collect();
    Ok(axum::Json(FetchedObjects { objects, missing }))
}

fn check_session(repo: &str, session: &str) -> Result<(), ApiError> {
    check_id("repo", repo)?;
    check_id("sync", session)
}

fn check_ref(name: &str) -> Result<(), ApiError> {
    if crate::input::token_like(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "ref must be 1 to 100 of A-Z a-z 0-9 . _ - / : @ +",
        ))
    }
}

/// At most `max` well-formed object ids.
fn check_object_ids(what: &str, ids: &[String], max: usize) -> Result<(), ApiError> {
    if ids.len() > max {
        return Err(ApiError::bad_request(format!("{what}: at most {max} ids")));
    }
    match ids.iter().find(|id| !crate::input::object_id(id)) {
        Some(bad) => Err(ApiError::bad_request(format!(
            "{what}: {:?} is not an object id (64 lowercase hex digits)",
            bad.chars().take(80).collect::<String>()
        ))),
        None => Ok(()),
    }
}

/// Checks a batch and decodes its bodies: ids, children only on nodes, sizes, no id twice.
fn decode_batch(batch: ObjectBatch) -> Result<Vec<StoredObject>, ApiError> {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut out = Vec::with_capacity(batch.objects.len());
    for o in batch.objects {
        check_object_ids("id", std::slice::from_ref(&o.id), 1)?;
        if !seen.insert(o.id.clone()) {
            return Err(ApiError::bad_request(format!(
                "object {} appears twice in the batch",
                o.id
            )));
        }
        if o.kind == ObjectKind::Records && !o.children.is_empty() {
            return Err(ApiError::bad_request(format!(
                "object {}: records have no children",
                o.id
            )));
        }
        check_object_ids("children", &o.children, MAX_CHILDREN)?;
        let body = BASE64
            .decode(&o.body)
            .map_err(|_| ApiError::bad_request(format!("object {}: body is not base64", o.id)))?;
        if body.len() > MAX_OBJECT_BYTES {
            return Err(ApiError::bad_request(format!(
                "object {}: larger than {MAX_OBJECT_BYTES} bytes",
                o.id
            )));
        }
        check_declared_chunks(&o, body.len())?;
        total += body.len();
        if total > MAX_BATCH_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("a batch carries at most {MAX_BATCH_BYTES} sealed bytes"),
            ));
        }
        out.push(StoredObject {
            id: o.id,
            kind: o.kind,
            children: o.children,
            chunks: o.chunks,
            body,
        });
    }
    Ok(out)
}

/// The chunks a records object declares, which the quota counts: what is sealed cannot be
/// counted, so the count must fit the size (at most one chunk per byte, at least one per
/// [`MAX_BYTES_PER_CHUNK`]); a node declares none.
fn check_declared_chunks(o: &SealedObject, sealed: usize) -> Result<(), ApiError> {
    let fits = match o.kind {
        ObjectKind::Node => o.chunks == 0,
        ObjectKind::Records => {
            let least = sealed.div_ceil(MAX_BYTES_PER_CHUNK).max(1) as i64;
            (least..=sealed as i64).contains(&o.chunks)
        }
    };
    if fits {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "object {}: declares {} chunks in {sealed} sealed bytes (records hold 1 per {} bytes at \
         most and 1 per byte at least; nodes none)",
        o.id, o.chunks, MAX_BYTES_PER_CHUNK
    )))
}
