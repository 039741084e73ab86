//! Index sync's requests (`scry_api::index` describes the protocol). A commit's conflicts are
//! answers, not failures: the caller uploads what is missing, or rebases.

use reqwest::{Method, StatusCode};
use scry_api::*;

use crate::{Body, Client, Result, api_error, decode};

/// How long a commit may take.
const COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// What a commit came to.
#[derive(Clone, Debug)]
pub enum Committed {
    /// The ref now points at this generation (also the answer to a replayed commit).
    Done(Generation),
    /// The service lacks these objects of the tree; nothing changed.
    Missing {
        missing: Vec<String>,
        generation: i64,
    },
    /// The ref moved on to `generation` since the base; nothing changed.
    Stale { generation: i64 },
    /// The org's key was rotated since the objects were sealed; nothing changed.
    StaleKey,
}

impl Client {
    /// Opens an upload session; `quota_exceeded` when the declared chunks would not fit.
    pub async fn open_sync_session(
        &self,
        org: &str,
        repo: &str,
        session: &NewSyncSession,
    ) -> Result<SyncSession> {
        let path = ["v1", "orgs", org, "repos", repo, "index", "sessions"];
        self.call(Method::POST, &path, None, Body::Json(session))
            .await
    }

    /// The ids of `ids` the service lacks (at most `MAX_IDS` per call).
    pub async fn missing(
        &self,
        org: &str,
        repo: &str,
        session: &str,
        ids: &[String],
    ) -> Result<Vec<String>> {
        let body = ObjectIds { ids: ids.to_vec() };
        let path = sync_path(org, repo, session, "missing");
        let answer: Missing = self
            .call(Method::POST, &path, None, Body::ReplayableJson(&body))
            .await?;
        Ok(answer.missing)
    }

    /// Uploads a batch (at most `MAX_BATCH_BYTES` sealed bytes); sending it again is a no-op.
    pub async fn put_objects(
        &self,
        org: &str,
        repo: &str,
        session: &str,
        batch: &ObjectBatch,
    ) -> Result<StoredObjects> {
        let path = sync_path(org, repo, session, "objects");
        self.call(Method::PUT, &path, None, Body::Json(batch)).await
    }

    /// Moves the session's ref to its root if the ref is still at `request.base_generation`.
    pub async fn commit(
        &self,
        org: &str,
        repo: &str,
        session: &str,
        request: &CommitRequest,
    ) -> Result<Committed> {
        let path = sync_path(org, repo, session, "commit");
        // A commit walks what changed: a first sync of a large tree takes minutes.
        let answer = self
            .with_timeout(self.timeout.max(COMMIT_TIMEOUT))
            .send_raw(Method::POST, &path, None, Body::ReplayableJson(request))
            .await?;
        if answer.status.is_success() {
            return decode(&answer.url, &answer.body).map(Committed::Done);
        }
        let conflict = (answer.status == StatusCode::CONFLICT)
            .then(|| serde_json::from_slice::<CommitConflict>(&answer.body).ok())
            .flatten();
        match conflict.as_ref().map(|c| c.error.code.as_str()) {
            Some("missing_objects") => {
                let c = conflict.expect("matched");
                return Ok(Committed::Missing {
                    missing: c.missing,
                    generation: c.generation,
                });
            }
            Some("stale_generation") => {
                let generation = conflict.expect("matched").generation;
                return Ok(Committed::Stale { generation });
            }
            Some("stale_key") => return Ok(Committed::StaleKey),
            _ => {}
        }
        Err(api_error(&answer))
    }

    /// The repository's refs and their generations.
    pub async fn refs(&self, org: &str, repo: &str) -> Result<Vec<Generation>> {
        let path = ["v1", "orgs", org, "repos", repo, "index", "refs"];
        self.call(Method::GET, &path, None, Body::<()>::None).await
    }

    /// Sealed objects by id: those held (until a batch's worth of bytes) and the ids not held.
    pub async fn fetch_objects(
        &self,
        org: &str,
        repo: &str,
        ids: &[String],
    ) -> Result<FetchedObjects> {
        let body = ObjectIds { ids: ids.to_vec() };
        let path = [
            "v1", "orgs", org, "repos", repo, "index", "objects", "fetch",
        ];
        self.call(Method::POST, &path, None, Body::ReplayableJson(&body))
            .await
    }
}

fn sync_path<'a>(org: &'a str, repo: &'a str, session: &'a str, step: &'a str) -> [&'a str; 9] {
    [
        "v1", "orgs", org, "repos", repo, "index", "sessions", session, step,
    ]
}

impl Client {
    /// Registers this device's (or API key's) public key to receive the org's data key.
    pub async fn add_recipient(&self, org: &str, recipient: &NewRecipient) -> Result<Recipient> {
        let path = ["v1", "orgs", org, "recipients"];
        self.call(Method::POST, &path, None, Body::Json(recipient))
            .await
    }

    /// The org's key epoch and its recipients.
    pub async fn recipients(&self, org: &str) -> Result<Recipients> {
        let path = ["v1", "orgs", org, "recipients"];
        self.call(Method::GET, &path, None, Body::<()>::None).await
    }

    /// Hands the data key, wrapped to `recipient`, to the service; `false` when the recipient
    /// had a copy already (`conflict`: this device may not, or the epoch moved on).
    pub async fn put_wrapped_key(
        &self,
        org: &str,
        recipient: &str,
        key: &WrappedKey,
    ) -> Result<bool> {
        let path = ["v1", "orgs", org, "recipients", recipient, "key"];
        let answer = self
            .send_raw(Method::PUT, &path, None, Body::Json(key))
            .await?;
        match answer.status {
            StatusCode::CREATED => Ok(true),
            s if s.is_success() => Ok(false),
            _ => Err(api_error(&answer)),
        }
    }

    /// The current data key wrapped to this caller's `recipient`; `None` while no holder has
    /// handed it on.
    pub async fn wrapped_key(&self, org: &str, recipient: &str) -> Result<Option<WrappedKey>> {
        let path = ["v1", "orgs", org, "recipients", recipient, "key"];
        let answer = self
            .send_raw(Method::GET, &path, None, Body::<()>::None)
            .await?;
        match answer.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => decode(&answer.url, &answer.body).map(Some),
            _ => Err(api_error(&answer)),
        }
    }

    /// Tells the service an owner writes down the recovery key of `key.epoch`: `conflict`
    /// once it was, for that epoch.
    pub async fn issue_recovery_key(&self, org: &str, key: &NewRecoveryKey) -> Result<()> {
        let path = ["v1", "orgs", org, "recovery-key"];
        self.call_empty(Method::POST, &path, Body::Json(key)).await
    }

    pub async fn remove_recipient(&self, org: &str, recipient: &str) -> Result<()> {
        let path = ["v1", "orgs", org, "recipients", recipient];
        self.call_empty(Method::DELETE, &path, Body::<()>::None)
            .await
    }
}
