//! Index sync (`/v1/orgs/{org}/repos/{repo}/index/…`): a client uploads a generation of its
//! index as sealed, content-addressed objects (the chunk records of each file, and the nodes
//! of a tree over the repository's files), then moves a ref to the tree's root. The service
//! sees ids, sizes, how many chunks each records object declares and which node holds which
//! ids; every byte of content is ciphertext.
//!
//! The steps: open a session (declares the root and the chunk count: refused over the quota
//! before anything uploads) → ask which ids are `missing` → upload them in batches (re-sending
//! is a no-op) → `commit` (compare-and-swap on the ref's generation). A download is the same
//! walk the other way: read the ref's root, then `fetch` the ids not held locally.

use serde::{Deserialize, Serialize};

use crate::ErrorDetail;

/// An object id: 64 lowercase hex digits (a keyed BLAKE3 hash the service cannot recompute).
pub const OBJECT_ID_LEN: usize = 64;
/// The most ids one `missing` or `fetch` request may name.
pub const MAX_IDS: usize = 10_000;
/// The most sealed bytes one upload batch (and one fetch answer) carries.
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// The most sealed bytes of one object (a node of a huge directory, a part of a file's records).
pub const MAX_OBJECT_BYTES: usize = 1 << 20;
/// The largest request body of the sync routes: a batch's sealed bytes in base64 and JSON,
/// with its nodes' children's ids (a batch of file nodes is mostly ids).
pub const MAX_SYNC_BODY: usize = 8 << 20;
/// The most ids one node may hold.
pub const MAX_CHILDREN: usize = 65_536;
/// The most sealed bytes a records object may carry per chunk it declares: the service cannot
/// count what is sealed, so this bounds what an understated count could hide (a record is a
/// few hundred bytes).
pub const MAX_BYTES_PER_CHUNK: usize = 4_096;
/// How long an upload session stays open; unreferenced objects are collected after it.
pub const SESSION_TTL_S: i64 = 86_400;

/// `POST …/index/sessions`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSyncSession {
    /// The ref (branch or worktree) to move: 1 to 100 of `A-Z a-z 0-9 . _ - / : @ +`. Clients send a
    /// keyed hash of the branch name.
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// The root node of the generation to commit.
    pub root: String,
    /// Chunks the generation holds, as the client counts them: checked against the quota now;
    /// the service counts exactly at commit.
    pub chunks: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncSession {
    pub id: String,
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub root: String,
    pub chunks: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// `POST …/missing` and `POST …/index/objects/fetch`: up to [`MAX_IDS`] object ids.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ObjectIds {
    pub ids: Vec<String>,
}

/// Which of the asked ids the service lacks (in the order asked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Missing {
    pub missing: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// The records of a file's chunks (`chunks` of them, which count against the chunk
    /// quota); has no children.
    Records,
    /// A node of the tree: holds the ids of its children.
    Node,
}

/// One sealed object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SealedObject {
    pub id: String,
    pub kind: ObjectKind,
    /// A node's children (ids only; their order and meaning are sealed in `body`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    /// How many chunk records a records object holds (1 or more; at most one per byte, and at
    /// least one per [`MAX_BYTES_PER_CHUNK`] sealed bytes); 0 for a node.
    #[serde(default)]
    pub chunks: i64,
    /// The ciphertext, base64 (standard alphabet, padded).
    pub body: String,
}

/// `PUT …/objects`: up to [`MAX_BATCH_BYTES`] of sealed bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ObjectBatch {
    pub objects: Vec<SealedObject>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObjectStatus {
    /// Stored by this request.
    Stored,
    /// Already held (an earlier batch, another session, another branch): nothing changed.
    Present,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectResult {
    pub id: String,
    pub status: ObjectStatus,
}

/// The result of each object of a batch, in its order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredObjects {
    pub results: Vec<ObjectResult>,
}

/// `POST …/commit`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The generation the client built on: 0 for a ref that does not exist yet. Anything else
    /// than the ref's current generation is refused (409 `stale_generation`).
    pub base_generation: i64,
    /// The model that embedded the chunks (`static:scry-code@2ea5a396…`): 1 to 100 of
    /// `A-Z a-z 0-9 . _ - / : @ +`.
    pub model: String,
    /// The org key epoch the objects were sealed under. Anything else than the org's current
    /// epoch is refused (409 `stale_key`): a key rotated during the sync (a member left) must
    /// not see what is committed after.
    pub key_epoch: i64,
}

/// A ref's current generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Generation {
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub generation: i64,
    pub root: String,
    pub model: String,
    pub committed_by: String,
    pub committed_at: i64,
    /// Distinct chunks all of the repository's refs hold, counted by the service (what the
    /// chunk quota counts).
    pub repo_chunks: i64,
}

/// 409 from `commit`: `missing_objects` (upload `missing`, then commit again),
/// `stale_generation` (the ref moved to `generation`: rebase and open a new session) or
/// `stale_key` (the org key was rotated: seal under the new key and sync again).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitConflict {
    pub error: ErrorDetail,
    /// Up to 1,000 ids the tree needs that the service lacks.
    #[serde(default)]
    pub missing: Vec<String>,
    /// The ref's current generation.
    pub generation: i64,
}

/// `POST …/index/objects/fetch`: the objects held, in the order asked, until
/// [`MAX_BATCH_BYTES`]; `missing` names the ids not held. Ids in neither were cut for size:
/// ask again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FetchedObjects {
    pub objects: Vec<SealedObject>,
    pub missing: Vec<String>,
}

/// `POST /v1/orgs/{org}/recipients`: a public key the org's data key may be wrapped to (a
/// member's device, or an API key's key material), registered by its holder.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRecipient {
    /// The X25519 public key, 64 lowercase hex digits.
    pub public_key: String,
    /// For people: the device's name ("ann's laptop"), 1 to 100 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recipient {
    pub id: String,
    /// Whose it is: a user's id or an API key's id.
    pub owner: String,
    pub public_key: String,
    pub label: String,
    pub created_at: i64,
    /// Whether the current epoch's data key is wrapped to it.
    pub has_key: bool,
}

/// The org's current key epoch and the recipients of current members and API keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recipients {
    /// Grows when someone who could hold the data key leaves: the next sync makes the next
    /// epoch's key.
    pub epoch: i64,
    pub recipients: Vec<Recipient>,
    /// The epoch whose recovery key an owner wrote down (once per epoch), if any.
    pub recovery_epoch: Option<i64>,
}

/// `POST /v1/orgs/{org}/recovery-key`: an owner is about to write down the recovery key of
/// `epoch` (the current one), proving it holds that key by its check. Once per epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRecoveryKey {
    pub epoch: i64,
    pub check: String,
}

/// `PUT …/recipients/{id}/key` and its `GET`: the data key of `epoch`, wrapped to the
/// recipient's public key (base64), and the key's check: a one-way hash of it (32 hex digits)
/// that every copy of an epoch must share, so that no copy of another key gets in and a
/// device restoring the key from a recovery key can prove it has the right one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    pub epoch: i64,
    pub wrapped: String,
    pub check: String,
}
