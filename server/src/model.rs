//! What the API and the storage exchange: the wire types of `scry-api`, and what stays inside
//! the service (a delivery to send, where a device login stands, ids).

pub use scry_api::{
    ApiKey, AuditEntry, CurrentKey, Delivery, Invitation, Limits, Member, Org, OrgMembership, Page,
    Quota, Repo, Role, UsageDay, User, Webhook,
};

/// What the sender needs to post one delivery.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: String,
    pub org_id: String,
    pub webhook_id: String,
    pub url: String,
    /// As stored: sealed (see `secrets`).
    pub secret: String,
    pub payload: String,
    pub attempts: i64,
}

/// Where a device authorisation stands when its device polls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevicePoll {
    Pending,
    SlowDown,
    Expired,
    Denied,
    Approved { user_id: String },
    Unknown,
}

/// A new random id with a readable type prefix: `org_…`, `repo_…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", crate::auth::random_token(20))
}

/// Ids are prefix, underscore, 20 base62 characters: anything else is refused before a query.
pub fn valid_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .is_some_and(|r| r.len() == 20 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}
