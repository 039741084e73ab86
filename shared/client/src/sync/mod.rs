//! Index sync, the client's half: a local index's [`Snapshot`](scry_core::snapshot::Snapshot)
//! becomes a [`plan::Plan`] (a tree of objects, secrets left out), which [`push::push`] seals
//! with the org's key and sends through the session protocol. [`state`] keeps, beside the
//! index, which repository a workspace is linked to and a ledger of every upload;
//! [`workspace::sync_workspace`] is one sync of a linked workspace, as every shell runs it;
//! [`reuse::offer`] fetches the generation a fresh copy of the workspace starts from;
//! [`org`] keeps the org's repositories decrypted on this machine for org-wide search.

pub mod hosted;
pub mod keys;
pub mod org;
pub mod plan;
pub mod pull;
pub mod push;
pub mod reuse;
pub mod schedule;
pub mod sketch;
pub mod state;
pub mod workspace;

pub use plan::{Kept, Plan, plan, secret_reason};
pub use pull::pull;
pub use push::{Pushed, Remote, Step, push};
pub use workspace::{SyncOptions, Synced, sync_workspace};

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Service(#[from] crate::Error),
    #[error("sync is not enabled for {}: run `scry sync enable` first", .0.display())]
    NotEnabled(std::path::PathBuf),
    #[error(
        "the data key of org {0} has not reached this device yet: a device that holds it hands \
         it on when it next syncs (run `scry sync` there), then sync here again"
    )]
    KeyPending(String),
    #[error("not signed in to {0}: run `scry login` (or set SCRY_API_KEY)")]
    SignedOut(String),
    #[error(transparent)]
    Credentials(crate::credentials::CredentialError),
    #[error("cannot read the index: {0}")]
    Index(#[from] scry_core::Error),
    /// The service answered something the protocol does not allow.
    #[error("the account service broke the sync protocol: {0}")]
    Protocol(String),
    #[error("{0}")]
    Conflict(String),
    /// A plan made from the last sync's tree needs objects the service no longer holds: plan
    /// the whole index (the workspace sync does this by itself).
    #[error("the account lacks objects of the last sync; sync everything again")]
    PlanIncomplete,
    /// The org's key was rotated while this sync sealed under the old one (someone who held
    /// it left): the workspace sync takes the new key and seals again by itself.
    #[error("the org's data key was replaced during the sync; sync again")]
    KeyRotated,
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({message}); delete it to start over")]
    Damaged {
        path: std::path::PathBuf,
        message: String,
    },
}

/// An id as the service spells it: 64 lowercase hex digits.
pub fn hex(id: &crate::sealing::ObjectId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}
