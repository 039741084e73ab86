//! Storage: every call an organisation's data goes through takes a [`Tenant`], which only the
//! API's authorisation makes, so no query can forget whose rows it touches. One trait per
//! resource (in its module), [`Storage`] their sum; one SQL implementation over both backends
//! ([`SqlStore`]). Here: the types they share, and the steps every write repeats (the org's
//! lock, usage, the audit event and its webhook deliveries).

mod device;
mod hosted;
mod index;
mod keys;
mod orgs;
mod recipients;
mod repos;
mod usage;
mod users;
mod webhooks;

pub use device::Devices;
pub use hosted::{Hosted, HostedRepo, Published};
pub use index::{CommitOutcome, Indexes, Quota, StoredObject};
pub use keys::Keys;
pub use orgs::Orgs;
pub use recipients::RecipientKeys;
pub use repos::Repos;
pub use usage::Activity;
pub use users::Users;
pub use webhooks::Webhooks;

use async_trait::async_trait;
use serde_json::json;
use sqlx::{Any, Row, Transaction};

use crate::db::{Db, Scope};
use crate::model::*;

/// Proof that the caller may act in an organisation, with who acts and in which role.
#[derive(Clone, Debug)]
pub struct Tenant {
    org_id: String,
    actor: String,
    role: Role,
}

impl Tenant {
    /// Made by authorisation (a member, an API key, the operator) and by the webhook sender.
    pub(crate) fn new(org_id: &str, actor: &str, role: Role) -> Tenant {
        Tenant {
            org_id: org_id.to_string(),
            actor: actor.to_string(),
            role,
        }
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn role(&self) -> Role {
        self.role
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("quota exceeded: the {tier} tier allows {limit} {what}")]
    Quota {
        what: &'static str,
        limit: i64,
        tier: String,
    },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A stored user with the hash to check a password against.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// A throttle's count in its current window, and when that window ends.
#[derive(Clone, Copy, Debug)]
pub struct Throttled {
    pub hits: i64,
    pub resets_at: i64,
}

/// Which per-minute window a request counts in: sync's batches must not starve the rest of
/// the API, nor the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateBucket {
    Api,
    Sync,
}

/// What an API key may do.
#[derive(Clone, Debug)]
pub struct KeyGrant {
    pub key_id: String,
    pub org_id: String,
    pub role: Role,
}

/// Everything the service stores, one trait per resource; `Arc<dyn Storage>` reaches them all
/// (bring the resource's trait into scope to call its methods).
pub trait Storage:
    Users + Devices + Orgs + Repos + Indexes + Hosted + RecipientKeys + Keys + Activity + Webhooks
{
}

impl<
    T: Users + Devices + Orgs + Repos + Indexes + Hosted + RecipientKeys + Keys + Activity + Webhooks,
> Storage for T
{
}

pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> SqlStore {
        SqlStore { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn tx(&self, write: bool, scope: Scope<'_>) -> Result<Transaction<'static, Any>> {
        Ok(self.db.begin(write, scope).await?)
    }

    async fn org_tx(&self, t: &Tenant, write: bool) -> Result<Transaction<'static, Any>> {
        self.tx(write, Scope::Org(&t.org_id)).await
    }
}

fn conflict_on_unique(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what.into()),
        _ => StoreError::Db(e),
    }
}

fn role_of(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Conflict(format!("stored role {s:?} is unknown")))
}

/// Takes the organisation's row lock (PostgreSQL) or the database's write lock (SQLite) first,
/// so quota checks of parallel transactions run one after another.
async fn lock_org(tx: &mut Transaction<'static, Any>, org_id: &str) -> Result<()> {
    let n = sqlx::query("UPDATE orgs SET tier = tier WHERE id = $1")
        .bind(org_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

async fn add_usage(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    now: i64,
    kind: &str,
    amount: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO usage_daily (org_id, day, kind, amount) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, day, kind) DO UPDATE SET amount = usage_daily.amount + $4",
    )
    .bind(org_id)
    .bind(crate::clock::day(now))
    .bind(kind)
    .bind(amount)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The end of every write: records what it did (`event`) and commits, so an event is recorded
/// exactly when what it reports is committed.
async fn commit_with(
    mut tx: Transaction<'static, Any>,
    t: &Tenant,
    action: &str,
    target: &str,
    details: serde_json::Value,
    now: i64,
) -> Result<()> {
    event(&mut tx, t, action, target, details, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Appends to the audit log and queues the event for subscribed webhooks, in the caller's
/// transaction: an event is recorded exactly when what it reports is committed.
async fn event(
    tx: &mut Transaction<'static, Any>,
    t: &Tenant,
    action: &str,
    target: &str,
    details: serde_json::Value,
    now: i64,
) -> Result<()> {
    // Seconds, then a sequence so that entries of one second keep their order (on one replica),
    // then randomness so that replicas never collide.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1_000_000;
    let id = format!("aud_{now:011}{seq:06}{}", crate::auth::random_token(5));
    sqlx::query(
        "INSERT INTO audit_log (id, org_id, at, actor, action, target, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&t.org_id)
    .bind(now)
    .bind(&t.actor)
    .bind(action)
    .bind(target)
    .bind(details.to_string())
    .execute(&mut **tx)
    .await?;
    let hooks = sqlx::query("SELECT id, events FROM webhooks WHERE org_id = $1")
        .bind(&t.org_id)
        .fetch_all(&mut **tx)
        .await?;
    for hook in hooks {
        let events: String = hook.try_get("events")?;
        if !events.split(',').any(|e| e == action || e == "*") {
            continue;
        }
        let delivery = new_id("dlv");
        let payload = json!({
            "type": action,
            "timestamp": now,
            "data": {"org_id": t.org_id, "actor": t.actor, "target": target, "details": details},
        });
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, org_id, webhook_id, event, payload, status, \
             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
        )
        .bind(&delivery)
        .bind(&t.org_id)
        .bind(hook.try_get::<String, _>("id")?)
        .bind(action)
        .bind(payload.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_queue (delivery_id, org_id, next_attempt_at) VALUES ($1, $2, $3)",
        )
        .bind(&delivery)
        .bind(&t.org_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

const USER_COLUMNS: &str = "id, email, email_verified_at, created_at";

fn user_from(row: &sqlx::any::AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        email_verified: row
            .try_get::<Option<i64>, _>("email_verified_at")?
            .is_some(),
        created_at: row.try_get("created_at")?,
    })
}

fn org_from(row: &sqlx::any::AnyRow) -> Result<Org> {
    let max_repos: Option<i64> = row.try_get("max_repos")?;
    let max_chunks: Option<i64> = row.try_get("max_chunks")?;
    let rpm: Option<i64> = row.try_get("requests_per_minute")?;
    let custom_limits = match (max_repos, max_chunks, rpm) {
        (Some(max_repos), Some(max_chunks), Some(requests_per_minute)) => Some(Limits {
            max_repos,
            max_chunks,
            requests_per_minute,
        }),
        _ => None,
    };
    Ok(Org {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        tier: row.try_get("tier")?,
        custom_limits,
        created_at: row.try_get("created_at")?,
        sealed_snippets: row.try_get::<i64, _>("sealed_snippets")? != 0,
    })
}

const ORG_COLUMNS: &str = "o.id, o.name, o.tier, o.max_repos, o.max_chunks, o.requests_per_minute, o.created_at, \
     o.sealed_snippets";

fn repo_from(row: &sqlx::any::AnyRow) -> Result<Repo> {
    Ok(Repo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        chunks: row.try_get("chunks")?,
        created_at: row.try_get("created_at")?,
        hosted_search: row.try_get("hosted_branch")?,
    })
}

/// The columns [`repo_from`] reads.
const REPO_COLUMNS: &str = "id, name, chunks, created_at, hosted_branch";

fn key_from(row: &sqlx::any::AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role_of(&row.try_get::<String, _>("role")?)?,
        prefix: row.try_get("prefix")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

fn invitation_from(row: &sqlx::any::AnyRow) -> Result<Invitation> {
    Ok(Invitation {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: role_of(&row.try_get::<String, _>("role")?)?,
        invited_by: row.try_get("invited_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn webhook_from(row: &sqlx::any::AnyRow) -> Result<Webhook> {
    let events: String = row.try_get("events")?;
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        events: events.split(',').map(String::from).collect(),
        created_at: row.try_get("created_at")?,
    })
}

fn page<T>(items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
    let next = (items.len() as i64 == limit).then(|| cursor(items.last().expect("non-empty")));
    Page { items, next }
}

/// Every table holding an organisation's rows, children first.
const TENANT_TABLES: &[&str] = &[
    "wrapped_keys",
    "recipients",
    "index_edges",
    "index_objects",
    "index_refs",
    "index_sessions",
    "sync_rate_windows",
    "webhook_deliveries",
    "webhooks",
    "rate_windows",
    "usage_daily",
    "api_keys",
    "repos",
    "invitations",
    "audit_log",
    "memberships",
];
