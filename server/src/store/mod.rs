//! Storage: every call an organisation's data goes through takes a [`Tenant`], which only the
//! API's authorisation makes, so no query can forget whose rows it touches. One trait,
//! [`Storage`]; one SQL implementation over both backends ([`SqlStore`]).

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

/// What an API key may do.
#[derive(Clone, Debug)]
pub struct KeyGrant {
    pub key_id: String,
    pub org_id: String,
    pub role: Role,
}

#[async_trait]
pub trait Storage: Send + Sync {
    /// Whether the database answers (readiness).
    async fn ping(&self) -> Result<()>;

    // Users and sessions: not tenant data.
    async fn create_user(&self, email: &str, password_hash: &str, now: i64) -> Result<User>;
    async fn credentials(&self, email: &str) -> Result<Option<Credentials>>;
    async fn user(&self, id: &str) -> Result<Option<User>>;
    async fn create_session(&self, hash: &str, user_id: &str, now: i64, expires: i64)
    -> Result<()>;
    async fn session_user(&self, hash: &str, now: i64) -> Result<Option<String>>;
    async fn delete_session(&self, hash: &str) -> Result<()>;
    /// Stores a one-time email verification token (its hash) for the user.
    async fn create_email_token(&self, hash: &str, user_id: &str, expires: i64) -> Result<()>;
    /// Marks the token's user verified and spends the token; None for an unknown or expired
    /// token.
    async fn verify_email(&self, hash: &str, now: i64) -> Result<Option<User>>;

    /// Adds `add` to the count under `key` (a hash) in its current `window`-second window,
    /// starting a new window when the last one ended; returns the count. A negative `add`
    /// hands attempts back within the current window, never below zero (the count returned
    /// is then 0).
    async fn throttle(&self, key: &str, now: i64, window: i64, add: i64) -> Result<Throttled>;
    async fn throttle_clear(&self, key: &str) -> Result<()>;
    /// Deletes expired sessions, device codes, email tokens and throttle windows.
    async fn collect_expired(&self, now: i64) -> Result<u64>;

    // RFC 8628 device authorisation.
    async fn create_device_code(
        &self,
        device_hash: &str,
        user_code: &str,
        client_id: &str,
        now: i64,
        expires: i64,
        interval: i64,
    ) -> Result<()>;
    /// Approves (with the user) or denies a pending code; false when there is none.
    async fn decide_device_code(
        &self,
        user_code: &str,
        user_id: Option<&str>,
        now: i64,
    ) -> Result<bool>;
    async fn poll_device_code(&self, device_hash: &str, now: i64) -> Result<DevicePoll>;

    // Looking up credentials that name their organisation.
    async fn api_key_grant(&self, key_hash: &str, now: i64) -> Result<Option<KeyGrant>>;
    async fn member_role(&self, user_id: &str, org_id: &str) -> Result<Option<Role>>;
    async fn orgs_of(&self, user_id: &str) -> Result<Vec<OrgMembership>>;
    /// Joins the invitation's organisation; returns it and the role.
    async fn accept_invitation(
        &self,
        token_hash: &str,
        user: &User,
        now: i64,
    ) -> Result<(String, Role)>;

    // One organisation's data.
    async fn create_org(&self, t: &Tenant, name: &str, tier: &str, now: i64) -> Result<Org>;
    async fn org(&self, t: &Tenant) -> Result<Org>;
    async fn set_tier(
        &self,
        t: &Tenant,
        tier: &str,
        custom: Option<Limits>,
        now: i64,
    ) -> Result<Org>;
    async fn delete_org(&self, t: &Tenant, now: i64) -> Result<()>;
    async fn members(&self, t: &Tenant) -> Result<Vec<Member>>;
    async fn set_member_role(&self, t: &Tenant, user_id: &str, role: Role, now: i64) -> Result<()>;
    async fn remove_member(&self, t: &Tenant, user_id: &str, now: i64) -> Result<()>;
    async fn create_invitation(
        &self,
        t: &Tenant,
        email: &str,
        role: Role,
        token_hash: &str,
        now: i64,
        expires: i64,
    ) -> Result<Invitation>;
    async fn invitations(&self, t: &Tenant) -> Result<Vec<Invitation>>;
    /// Registers a repository if the organisation has fewer than `limits.max_repos`.
    async fn create_repo(
        &self,
        t: &Tenant,
        name: &str,
        tier: &str,
        limits: Limits,
        now: i64,
    ) -> Result<Repo>;
    async fn repos(&self, t: &Tenant, limit: i64, after: &str) -> Result<Page<Repo>>;
    async fn repo(&self, t: &Tenant, id: &str) -> Result<Repo>;
    async fn delete_repo(&self, t: &Tenant, id: &str, now: i64) -> Result<()>;
    /// Sets the chunks a repository's index holds, if the organisation's total stays within
    /// `limits.max_chunks`.
    async fn set_repo_chunks(
        &self,
        t: &Tenant,
        id: &str,
        chunks: i64,
        tier: &str,
        limits: Limits,
        now: i64,
    ) -> Result<Repo>;
    async fn create_api_key(
        &self,
        t: &Tenant,
        name: &str,
        role: Role,
        prefix: &str,
        key_hash: &str,
        now: i64,
    ) -> Result<ApiKey>;
    async fn api_keys(&self, t: &Tenant) -> Result<Vec<ApiKey>>;
    async fn revoke_api_key(&self, t: &Tenant, id: &str, now: i64) -> Result<()>;
    /// Reads the organisation and counts a request in the current minute, in one transaction;
    /// `per_minute` gives the org's limit from its tier. `Err(seconds)` to wait when over it.
    async fn record_request(
        &self,
        t: &Tenant,
        now: i64,
        per_minute: &(dyn for<'o> Fn(&'o Org) -> i64 + Sync),
    ) -> Result<(Org, std::result::Result<(), i64>)>;
    async fn usage(&self, t: &Tenant, from: &str, to: &str) -> Result<Vec<UsageDay>>;
    async fn audit(&self, t: &Tenant, limit: i64, after: &str) -> Result<Page<AuditEntry>>;
    /// Records an event in the audit log and queues it for the webhooks that want it.
    async fn record_event(
        &self,
        t: &Tenant,
        event: &str,
        target: &str,
        details: serde_json::Value,
        now: i64,
    ) -> Result<()>;
    async fn export(&self, t: &Tenant) -> Result<serde_json::Value>;
    async fn create_webhook(
        &self,
        t: &Tenant,
        url: &str,
        events: &[String],
        secret: &str,
        now: i64,
    ) -> Result<Webhook>;
    async fn webhooks(&self, t: &Tenant) -> Result<Vec<Webhook>>;
    async fn delete_webhook(&self, t: &Tenant, id: &str, now: i64) -> Result<()>;
    async fn deliveries(&self, t: &Tenant, webhook_id: &str) -> Result<Vec<Delivery>>;

    // The webhook sender.
    /// Up to `limit` deliveries due at `now`, across organisations, oldest first: (delivery
    /// id, org id).
    async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<(String, String)>>;
    /// Claims a due delivery for `lease` seconds (no other sender gets it meanwhile); false
    /// when another sender claimed it first.
    async fn claim_delivery(&self, id: &str, now: i64, lease: i64) -> Result<bool>;
    async fn delivery(&self, t: &Tenant, id: &str) -> Result<Option<DueDelivery>>;
    /// Replaces a webhook's stored secret `old` (stored before secrets were sealed) by `new`.
    async fn reseal_webhook_secret(
        &self,
        t: &Tenant,
        webhook_id: &str,
        old: &str,
        new: &str,
    ) -> Result<()>;
    /// Marks a delivery sent (`retry_at` None and no error), to retry at `retry_at`, or failed.
    async fn delivery_attempted(
        &self,
        t: &Tenant,
        id: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<()>;
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
    })
}

const ORG_COLUMNS: &str =
    "o.id, o.name, o.tier, o.max_repos, o.max_chunks, o.requests_per_minute, o.created_at";

fn repo_from(row: &sqlx::any::AnyRow) -> Result<Repo> {
    Ok(Repo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        chunks: row.try_get("chunks")?,
        created_at: row.try_get("created_at")?,
    })
}

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

#[async_trait]
impl Storage for SqlStore {
    async fn ping(&self) -> Result<()> {
        Ok(self.db.ping().await?)
    }

    async fn create_user(&self, email: &str, password_hash: &str, now: i64) -> Result<User> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let user = User {
            id: new_id("usr"),
            email: email.to_string(),
            email_verified: false,
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&user.id)
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "a user with this email exists"))?;
        tx.commit().await?;
        Ok(user)
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
        let mut tx = self.tx(false, Scope::Global).await?;
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?;
        row.map(|r| {
            Ok(Credentials {
                user: user_from(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        let mut tx = self.tx(false, Scope::Global).await?;
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn create_session(
        &self,
        hash: &str,
        user_id: &str,
        now: i64,
        expires: i64,
    ) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(user_id)
            .bind(now)
            .bind(expires)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_user(&self, hash: &str, now: i64) -> Result<Option<String>> {
        let mut tx = self.tx(false, Scope::Global).await?;
        let row =
            sqlx::query("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
        Ok(row.map(|r| r.try_get("user_id")).transpose()?)
    }

    async fn delete_session(&self, hash: &str) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_email_token(&self, hash: &str, user_id: &str, expires: i64) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(expires)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn verify_email(&self, hash: &str, now: i64) -> Result<Option<User>> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let Some(row) = sqlx::query(
            "DELETE FROM email_tokens WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let user_id: String = row.try_get("user_id")?;
        sqlx::query(
            "UPDATE users SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL",
        )
        .bind(now)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        let user = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(&user_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        user.as_ref().map(user_from).transpose()
    }

    async fn throttle(&self, key: &str, now: i64, window: i64, add: i64) -> Result<Throttled> {
        let mut tx = self.tx(true, Scope::Global).await?;
        self.db.counters_only(&mut tx).await?;
        let start = now - now.rem_euclid(window);
        if add < 0 {
            // Handing back never goes below zero, nor into a window the attempt was not in.
            sqlx::query(
                "UPDATE throttles SET hits = hits + $1 \
                 WHERE key = $2 AND window_start = $3 AND hits + $1 >= 0",
            )
            .bind(add)
            .bind(key)
            .bind(start)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Throttled {
                hits: 0,
                resets_at: start + window,
            });
        }
        let row = sqlx::query(
            "INSERT INTO throttles (key, window_start, hits) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN throttles.window_start = $2 THEN throttles.hits + $3 ELSE $3 END, \
               window_start = $2 \
             RETURNING hits",
        )
        .bind(key)
        .bind(start)
        .bind(add)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Throttled {
            hits: row.try_get("hits")?,
            resets_at: start + window,
        })
    }

    async fn throttle_clear(&self, key: &str) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query("DELETE FROM throttles WHERE key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn collect_expired(&self, now: i64) -> Result<u64> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let mut n = 0;
        for sql in [
            "DELETE FROM sessions WHERE expires_at <= $1",
            "DELETE FROM device_codes WHERE expires_at <= $1 OR status = 'consumed'",
            "DELETE FROM email_tokens WHERE expires_at <= $1",
            // A window that ended a day ago counts nothing any more.
            "DELETE FROM throttles WHERE window_start < $1 - 86400",
        ] {
            n += sqlx::query(sql)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn create_device_code(
        &self,
        device_hash: &str,
        user_code: &str,
        client_id: &str,
        now: i64,
        expires: i64,
        interval: i64,
    ) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query("DELETE FROM device_codes WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO device_codes (device_code_hash, user_code, client_id, status, interval_s, \
             last_poll_at, created_at, expires_at) VALUES ($1, $2, $3, 'pending', $4, 0, $5, $6)",
        )
        .bind(device_hash)
        .bind(user_code)
        .bind(client_id)
        .bind(interval)
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "user code collision"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn decide_device_code(
        &self,
        user_code: &str,
        user_id: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let status = if user_id.is_some() {
            "approved"
        } else {
            "denied"
        };
        let n = sqlx::query(
            "UPDATE device_codes SET status = $1, user_id = $2 \
             WHERE user_code = $3 AND status = 'pending' AND expires_at > $4",
        )
        .bind(status)
        .bind(user_id)
        .bind(user_code)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn poll_device_code(&self, device_hash: &str, now: i64) -> Result<DevicePoll> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let Some(row) = sqlx::query(
            "SELECT status, user_id, interval_s, last_poll_at, expires_at FROM device_codes \
             WHERE device_code_hash = $1",
        )
        .bind(device_hash)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(DevicePoll::Unknown);
        };
        let status: String = row.try_get("status")?;
        let interval: i64 = row.try_get("interval_s")?;
        let last_poll: i64 = row.try_get("last_poll_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        if now >= expires {
            return Ok(DevicePoll::Expired);
        }
        let too_soon = now - last_poll < interval;
        // RFC 8628 §3.5: a client polling too fast must wait 5 s longer from then on.
        let (new_interval, poll) = match status.as_str() {
            _ if too_soon && status == "pending" => (interval + 5, DevicePoll::SlowDown),
            "pending" => (interval, DevicePoll::Pending),
            "denied" => (interval, DevicePoll::Denied),
            "approved" => (
                interval,
                DevicePoll::Approved {
                    user_id: row.try_get("user_id")?,
                },
            ),
            _ => (interval, DevicePoll::Unknown),
        };
        let new_status = if matches!(poll, DevicePoll::Approved { .. }) {
            "consumed"
        } else {
            status.as_str()
        };
        sqlx::query(
            "UPDATE device_codes SET last_poll_at = $1, interval_s = $2, status = $3 \
             WHERE device_code_hash = $4",
        )
        .bind(now)
        .bind(new_interval)
        .bind(new_status)
        .bind(device_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(poll)
    }

    async fn api_key_grant(&self, key_hash: &str, now: i64) -> Result<Option<KeyGrant>> {
        let mut tx = self.tx(false, Scope::KeyHash(key_hash)).await?;
        let row =
            sqlx::query("SELECT id, org_id, role, last_used_at FROM api_keys WHERE key_hash = $1")
                .bind(key_hash)
                .fetch_optional(&mut *tx)
                .await?;
        drop(tx);
        let Some(row) = row else { return Ok(None) };
        let grant = KeyGrant {
            key_id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            role: role_of(&row.try_get::<String, _>("role")?)?,
        };
        // Last use is kept to the minute: a write on every request would serialise reads.
        let last: Option<i64> = row.try_get("last_used_at")?;
        if last.is_none_or(|l| now - l >= 60) {
            let mut tx = self.tx(true, Scope::Org(&grant.org_id)).await?;
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND org_id = $3")
                .bind(now)
                .bind(&grant.key_id)
                .bind(&grant.org_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(Some(grant))
    }

    async fn member_role(&self, user_id: &str, org_id: &str) -> Result<Option<Role>> {
        let mut tx = self.tx(false, Scope::User(user_id)).await?;
        let row = sqlx::query("SELECT role FROM memberships WHERE user_id = $1 AND org_id = $2")
            .bind(user_id)
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?;
        row.map(|r| role_of(&r.try_get::<String, _>("role")?))
            .transpose()
    }

    async fn orgs_of(&self, user_id: &str) -> Result<Vec<OrgMembership>> {
        let mut tx = self.tx(false, Scope::User(user_id)).await?;
        let rows = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS}, m.role FROM memberships m JOIN orgs o ON o.id = m.org_id \
             WHERE m.user_id = $1 ORDER BY o.created_at, o.id"
        ))
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OrgMembership {
                    org: org_from(r)?,
                    role: role_of(&r.try_get::<String, _>("role")?)?,
                })
            })
            .collect()
    }

    async fn accept_invitation(
        &self,
        token_hash: &str,
        user: &User,
        now: i64,
    ) -> Result<(String, Role)> {
        let mut tx = self.tx(true, Scope::InviteHash(token_hash)).await?;
        let row = sqlx::query(
            "SELECT id, org_id, email, role, expires_at FROM invitations WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let email: String = row.try_get("email")?;
        let expires: i64 = row.try_get("expires_at")?;
        if now >= expires || !email.eq_ignore_ascii_case(&user.email) {
            return Err(StoreError::NotFound);
        }
        let org_id: String = row.try_get("org_id")?;
        let role = role_of(&row.try_get::<String, _>("role")?)?;
        let invitation_id: String = row.try_get("id")?;
        self.db.set_scope(&mut tx, Scope::Org(&org_id)).await?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&org_id)
        .bind(&user.id)
        .bind(role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "already a member of this organisation"))?;
        sqlx::query("DELETE FROM invitations WHERE id = $1 AND org_id = $2")
            .bind(&invitation_id)
            .bind(&org_id)
            .execute(&mut *tx)
            .await?;
        let t = Tenant::new(&org_id, &user.id, role);
        event(
            &mut tx,
            &t,
            "member.added",
            &user.id,
            json!({"email": user.email, "role": role}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((org_id, role))
    }

    async fn create_org(&self, t: &Tenant, name: &str, tier: &str, now: i64) -> Result<Org> {
        let mut tx = self.org_tx(t, true).await?;
        sqlx::query("INSERT INTO orgs (id, name, tier, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&t.org_id)
            .bind(name)
            .bind(tier)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(&t.org_id)
            .bind(&t.actor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        event(
            &mut tx,
            t,
            "org.created",
            &t.org_id,
            json!({"name": name, "tier": tier}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Org {
            id: t.org_id.clone(),
            name: name.to_string(),
            tier: tier.to_string(),
            custom_limits: None,
            created_at: now,
        })
    }

    async fn org(&self, t: &Tenant) -> Result<Org> {
        let mut tx = self.org_tx(t, false).await?;
        let row = sqlx::query(&format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE o.id = $1"))
            .bind(&t.org_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        org_from(&row)
    }

    async fn set_tier(
        &self,
        t: &Tenant,
        tier: &str,
        custom: Option<Limits>,
        now: i64,
    ) -> Result<Org> {
        let mut tx = self.org_tx(t, true).await?;
        let n = sqlx::query(
            "UPDATE orgs SET tier = $1, max_repos = $2, max_chunks = $3, requests_per_minute = $4 WHERE id = $5",
        )
        .bind(tier)
        .bind(custom.map(|l| l.max_repos))
        .bind(custom.map(|l| l.max_chunks))
        .bind(custom.map(|l| l.requests_per_minute))
        .bind(&t.org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        event(
            &mut tx,
            t,
            "org.tier_changed",
            &t.org_id,
            json!({"tier": tier, "limits": custom}),
            now,
        )
        .await?;
        tx.commit().await?;
        self.org(t).await
    }

    async fn delete_org(&self, t: &Tenant, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        for table in TENANT_TABLES {
            sqlx::query(&format!("DELETE FROM {table} WHERE org_id = $1"))
                .bind(&t.org_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM webhook_queue WHERE org_id = $1")
            .bind(&t.org_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM orgs WHERE id = $1")
            .bind(&t.org_id)
            .execute(&mut *tx)
            .await?;
        // The one row that outlives the organisation: who deleted it, and when.
        event(&mut tx, t, "org.deleted", &t.org_id, json!({}), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn members(&self, t: &Tenant) -> Result<Vec<Member>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY m.created_at, m.user_id",
        )
        .bind(&t.org_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    user_id: r.try_get("user_id")?,
                    email: r.try_get("email")?,
                    role: role_of(&r.try_get::<String, _>("role")?)?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn set_member_role(&self, t: &Tenant, user_id: &str, role: Role, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let current = member_role_in(&mut tx, &t.org_id, user_id).await?;
        only_owners_change_owners(t, current)?;
        if current == Role::Owner && role != Role::Owner && owners(&mut tx, &t.org_id).await? == 1 {
            return Err(StoreError::Conflict(
                "an organisation keeps at least one owner".into(),
            ));
        }
        sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(&t.org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let (keys, invitations) = cap_grants_of(&mut tx, &t.org_id, user_id, Some(role)).await?;
        event(
            &mut tx,
            t,
            "member.role_changed",
            user_id,
            json!({"from": current, "to": role, "keys_capped": keys, "invitations_revoked": invitations}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(&self, t: &Tenant, user_id: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let current = member_role_in(&mut tx, &t.org_id, user_id).await?;
        only_owners_change_owners(t, current)?;
        if current == Role::Owner && owners(&mut tx, &t.org_id).await? == 1 {
            return Err(StoreError::Conflict(
                "an organisation keeps at least one owner".into(),
            ));
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(&t.org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let (keys, invitations) = cap_grants_of(&mut tx, &t.org_id, user_id, None).await?;
        event(
            &mut tx,
            t,
            "member.removed",
            user_id,
            json!({"role": current, "keys_revoked": keys, "invitations_revoked": invitations}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_invitation(
        &self,
        t: &Tenant,
        email: &str,
        role: Role,
        token_hash: &str,
        now: i64,
        expires: i64,
    ) -> Result<Invitation> {
        let mut tx = self.org_tx(t, true).await?;
        let invitation = Invitation {
            id: new_id("inv"),
            email: email.to_string(),
            role,
            invited_by: t.actor.clone(),
            created_at: now,
            expires_at: expires,
        };
        sqlx::query(
            "INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&invitation.id)
        .bind(&t.org_id)
        .bind(email)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(&t.actor)
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            t,
            "member.invited",
            &invitation.id,
            json!({"email": email, "role": role}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(invitation)
    }

    async fn invitations(&self, t: &Tenant) -> Result<Vec<Invitation>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT id, email, role, invited_by, created_at, expires_at FROM invitations \
             WHERE org_id = $1 ORDER BY created_at, id",
        )
        .bind(&t.org_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter().map(invitation_from).collect()
    }

    async fn create_repo(
        &self,
        t: &Tenant,
        name: &str,
        tier: &str,
        limits: Limits,
        now: i64,
    ) -> Result<Repo> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM repos WHERE org_id = $1")
            .bind(&t.org_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if n >= limits.max_repos {
            return Err(StoreError::Quota {
                what: "repositories",
                limit: limits.max_repos,
                tier: tier.to_string(),
            });
        }
        let repo = Repo {
            id: new_id("repo"),
            name: name.to_string(),
            chunks: 0,
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO repos (id, org_id, name, chunks, created_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(&repo.id)
        .bind(&t.org_id)
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "a repository with this name exists"))?;
        add_usage(&mut tx, &t.org_id, now, "repos_created", 1).await?;
        event(
            &mut tx,
            t,
            "repo.created",
            &repo.id,
            json!({"name": name}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(repo)
    }

    async fn repos(&self, t: &Tenant, limit: i64, after: &str) -> Result<Page<Repo>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT id, name, chunks, created_at FROM repos WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(&t.org_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let items = rows.iter().map(repo_from).collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |r| r.id.clone()))
    }

    async fn repo(&self, t: &Tenant, id: &str) -> Result<Repo> {
        let mut tx = self.org_tx(t, false).await?;
        let row = sqlx::query(
            "SELECT id, name, chunks, created_at FROM repos WHERE org_id = $1 AND id = $2",
        )
        .bind(&t.org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        repo_from(&row)
    }

    async fn delete_repo(&self, t: &Tenant, id: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        let row = sqlx::query("SELECT name, chunks FROM repos WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let chunks: i64 = row.try_get("chunks")?;
        let name: String = row.try_get("name")?;
        sqlx::query("DELETE FROM repos WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if chunks != 0 {
            add_usage(&mut tx, &t.org_id, now, "chunks_stored", -chunks).await?;
        }
        event(
            &mut tx,
            t,
            "repo.deleted",
            id,
            json!({"name": name, "chunks": chunks}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_repo_chunks(
        &self,
        t: &Tenant,
        id: &str,
        chunks: i64,
        tier: &str,
        limits: Limits,
        now: i64,
    ) -> Result<Repo> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let mut repo = {
            let row = sqlx::query(
                "SELECT id, name, chunks, created_at FROM repos WHERE org_id = $1 AND id = $2",
            )
            .bind(&t.org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            repo_from(&row)?
        };
        let total: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(chunks), 0) AS BIGINT) AS n FROM repos WHERE org_id = $1",
        )
        .bind(&t.org_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if chunks > repo.chunks && total - repo.chunks + chunks > limits.max_chunks {
            return Err(StoreError::Quota {
                what: "chunks",
                limit: limits.max_chunks,
                tier: tier.to_string(),
            });
        }
        sqlx::query("UPDATE repos SET chunks = $1 WHERE org_id = $2 AND id = $3")
            .bind(chunks)
            .bind(&t.org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        add_usage(
            &mut tx,
            &t.org_id,
            now,
            "chunks_stored",
            chunks - repo.chunks,
        )
        .await?;
        tx.commit().await?;
        repo.chunks = chunks;
        Ok(repo)
    }

    async fn create_api_key(
        &self,
        t: &Tenant,
        name: &str,
        role: Role,
        prefix: &str,
        key_hash: &str,
        now: i64,
    ) -> Result<ApiKey> {
        let mut tx = self.org_tx(t, true).await?;
        let key = ApiKey {
            id: new_id("key"),
            name: name.to_string(),
            role,
            prefix: prefix.to_string(),
            created_by: t.actor.clone(),
            created_at: now,
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, role, prefix, key_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&t.org_id)
        .bind(name)
        .bind(role.as_str())
        .bind(prefix)
        .bind(key_hash)
        .bind(&t.actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            t,
            "api_key.created",
            &key.id,
            json!({"name": name, "role": role, "prefix": prefix}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn api_keys(&self, t: &Tenant) -> Result<Vec<ApiKey>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT id, name, role, prefix, created_by, created_at, last_used_at FROM api_keys \
             WHERE org_id = $1 ORDER BY created_at, id",
        )
        .bind(&t.org_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter().map(key_from).collect()
    }

    async fn revoke_api_key(&self, t: &Tenant, id: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        let n = sqlx::query("DELETE FROM api_keys WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        // What the key invited goes with it.
        let invitations =
            sqlx::query("DELETE FROM invitations WHERE org_id = $1 AND invited_by = $2")
                .bind(&t.org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        event(
            &mut tx,
            t,
            "api_key.revoked",
            id,
            json!({"invitations_revoked": invitations}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_request(
        &self,
        t: &Tenant,
        now: i64,
        per_minute: &(dyn for<'o> Fn(&'o Org) -> i64 + Sync),
    ) -> Result<(Org, std::result::Result<(), i64>)> {
        let window = now - now.rem_euclid(60);
        let mut tx = self.org_tx(t, true).await?;
        self.db.counters_only(&mut tx).await?;
        let row = sqlx::query(&format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE o.id = $1"))
            .bind(&t.org_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let org = org_from(&row)?;
        let per_minute = per_minute(&org);
        let hits: i64 = sqlx::query(
            "INSERT INTO rate_windows (org_id, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (org_id, window_start) DO UPDATE SET hits = rate_windows.hits + 1 RETURNING hits",
        )
        .bind(&t.org_id)
        .bind(window)
        .fetch_one(&mut *tx)
        .await?
        .try_get("hits")?;
        if hits == 1 {
            sqlx::query("DELETE FROM rate_windows WHERE org_id = $1 AND window_start < $2")
                .bind(&t.org_id)
                .bind(window)
                .execute(&mut *tx)
                .await?;
        }
        let verdict = if hits > per_minute {
            Err(window + 60 - now)
        } else {
            add_usage(&mut tx, &t.org_id, now, "requests", 1).await?;
            Ok(())
        };
        tx.commit().await?;
        Ok((org, verdict))
    }

    async fn usage(&self, t: &Tenant, from: &str, to: &str) -> Result<Vec<UsageDay>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT day, kind, amount FROM usage_daily WHERE org_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
        )
        .bind(&t.org_id)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        let mut days: Vec<UsageDay> = Vec::new();
        for r in rows {
            let day: String = r.try_get("day")?;
            if days.last().is_none_or(|d| d.day != day) {
                days.push(UsageDay {
                    day: day.clone(),
                    requests: 0,
                    repos_created: 0,
                    chunks_stored: 0,
                });
            }
            let entry = days.last_mut().expect("pushed");
            let amount: i64 = r.try_get("amount")?;
            match r.try_get::<String, _>("kind")?.as_str() {
                "requests" => entry.requests = amount,
                "repos_created" => entry.repos_created = amount,
                "chunks_stored" => entry.chunks_stored = amount,
                _ => {}
            }
        }
        Ok(days)
    }

    async fn audit(&self, t: &Tenant, limit: i64, after: &str) -> Result<Page<AuditEntry>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, details FROM audit_log \
             WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(&t.org_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                let details: String = r.try_get("details")?;
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |e| e.id.clone()))
    }

    async fn record_event(
        &self,
        t: &Tenant,
        action: &str,
        target: &str,
        details: serde_json::Value,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        event(&mut tx, t, action, target, details, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn export(&self, t: &Tenant) -> Result<serde_json::Value> {
        let org = self.org(t).await?;
        let audit = self.audit(t, i64::MAX, "").await?.items;
        let repos = self.repos(t, i64::MAX, "").await?.items;
        let hooks = self.webhooks(t).await?;
        let mut deliveries = Vec::new();
        for hook in &hooks {
            deliveries.extend(self.deliveries(t, &hook.id).await?);
        }
        Ok(json!({
            "org": org,
            "members": self.members(t).await?,
            "invitations": self.invitations(t).await?,
            "repos": repos,
            "api_keys": self.api_keys(t).await?,
            "webhooks": hooks,
            "webhook_deliveries": deliveries,
            "usage": self.usage(t, "0000-00-00", "9999-99-99").await?,
            "audit": audit,
        }))
    }

    async fn create_webhook(
        &self,
        t: &Tenant,
        url: &str,
        events: &[String],
        secret: &str,
        now: i64,
    ) -> Result<Webhook> {
        let mut tx = self.org_tx(t, true).await?;
        let hook = Webhook {
            id: new_id("hook"),
            url: url.to_string(),
            events: events.to_vec(),
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO webhooks (id, org_id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&hook.id)
        .bind(&t.org_id)
        .bind(url)
        .bind(events.join(","))
        .bind(secret)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            t,
            "webhook.created",
            &hook.id,
            json!({"url": url, "events": events}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(hook)
    }

    async fn webhooks(&self, t: &Tenant) -> Result<Vec<Webhook>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query("SELECT id, url, events, created_at FROM webhooks WHERE org_id = $1 ORDER BY created_at, id")
            .bind(&t.org_id)
            .fetch_all(&mut *tx)
            .await?;
        rows.iter().map(webhook_from).collect()
    }

    async fn delete_webhook(&self, t: &Tenant, id: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        let n = sqlx::query("DELETE FROM webhooks WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "DELETE FROM webhook_queue WHERE org_id = $1 AND delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2)",
        )
        .bind(&t.org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2")
            .bind(&t.org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        event(&mut tx, t, "webhook.deleted", id, json!({}), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn deliveries(&self, t: &Tenant, webhook_id: &str) -> Result<Vec<Delivery>> {
        let mut tx = self.org_tx(t, false).await?;
        sqlx::query("SELECT id FROM webhooks WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(webhook_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let rows = sqlx::query(
            "SELECT id, webhook_id, event, status, attempts, next_attempt_at, last_error \
             FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2 ORDER BY created_at, id",
        )
        .bind(&t.org_id)
        .bind(webhook_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get("id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    event: r.try_get("event")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<(String, String)>> {
        let mut tx = self.tx(false, Scope::Global).await?;
        let rows = sqlx::query(
            "SELECT delivery_id, org_id FROM webhook_queue WHERE next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("delivery_id")?, r.try_get("org_id")?)))
            .collect()
    }

    async fn claim_delivery(&self, id: &str, now: i64, lease: i64) -> Result<bool> {
        // The `next_attempt_at` test is what a second replica's UPDATE re-checks after waiting
        // on the first one's row lock (PostgreSQL), so it skips what was just claimed.
        let mut tx = self.tx(true, Scope::Global).await?;
        let n = sqlx::query(
            "UPDATE webhook_queue SET next_attempt_at = $1 \
             WHERE delivery_id = $2 AND next_attempt_at <= $3",
        )
        .bind(now + lease)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn reseal_webhook_secret(
        &self,
        t: &Tenant,
        webhook_id: &str,
        old: &str,
        new: &str,
    ) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        sqlx::query(
            "UPDATE webhooks SET secret = $1 WHERE org_id = $2 AND id = $3 AND secret = $4",
        )
        .bind(new)
        .bind(&t.org_id)
        .bind(webhook_id)
        .bind(old)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delivery(&self, t: &Tenant, id: &str) -> Result<Option<DueDelivery>> {
        let mut tx = self.org_tx(t, false).await?;
        let row = sqlx::query(
            "SELECT d.id, d.org_id, d.webhook_id, d.payload, d.attempts, w.url, w.secret \
             FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id AND w.org_id = d.org_id \
             WHERE d.org_id = $1 AND d.id = $2 AND d.status = 'pending'",
        )
        .bind(&t.org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        row.map(|r| {
            Ok(DueDelivery {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                webhook_id: r.try_get("webhook_id")?,
                url: r.try_get("url")?,
                secret: r.try_get("secret")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .transpose()
    }

    async fn delivery_attempted(
        &self,
        t: &Tenant,
        id: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        let status = match (error, retry_at) {
            (None, _) => "delivered",
            (Some(_), Some(_)) => "pending",
            (Some(_), None) => "failed",
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_error = $2, \
             next_attempt_at = $3 WHERE org_id = $4 AND id = $5",
        )
        .bind(status)
        .bind(error)
        .bind(retry_at.unwrap_or(0))
        .bind(&t.org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        match retry_at {
            Some(at) if error.is_some() => {
                sqlx::query("UPDATE webhook_queue SET next_attempt_at = $1 WHERE delivery_id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {
                sqlx::query("DELETE FROM webhook_queue WHERE delivery_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn member_role_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    user_id: &str,
) -> Result<Role> {
    let row = sqlx::query("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    role_of(&row.try_get::<String, _>("role")?)
}

async fn owners(tx: &mut Transaction<'static, Any>, org_id: &str) -> Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE org_id = $1 AND role = 'owner'")
            .bind(org_id)
            .fetch_one(&mut **tx)
            .await?
            .try_get("n")?,
    )
}

/// Only owners demote or remove owners (an admin could otherwise take an org over from a
/// co-owner).
fn only_owners_change_owners(t: &Tenant, target_role: Role) -> Result<()> {
    if target_role == Role::Owner && t.role < Role::Owner {
        return Err(StoreError::Forbidden(
            "only an owner changes or removes an owner".into(),
        ));
    }
    Ok(())
}

/// Keeps what a member handed out within what they may still do: their API keys are capped at
/// `role` and their pending invitations above it withdrawn; with no role (removed), all of them
/// go. Returns (keys changed, invitations withdrawn).
async fn cap_grants_of(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    user_id: &str,
    role: Option<Role>,
) -> Result<(u64, u64)> {
    let keys = cap_rows(tx, Grants::Keys, org_id, user_id, role).await?;
    let invitations = cap_rows(tx, Grants::Invitations, org_id, user_id, role).await?;
    Ok((keys, invitations))
}

#[derive(Clone, Copy, PartialEq)]
enum Grants {
    Keys,
    Invitations,
}

async fn cap_rows(
    tx: &mut Transaction<'static, Any>,
    grants: Grants,
    org_id: &str,
    user_id: &str,
    role: Option<Role>,
) -> Result<u64> {
    let (table, creator) = match grants {
        Grants::Keys => ("api_keys", "created_by"),
        Grants::Invitations => ("invitations", "invited_by"),
    };
    let rows = sqlx::query(&format!(
        "SELECT id, role FROM {table} WHERE org_id = $1 AND {creator} = $2"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    let delete = format!("DELETE FROM {table} WHERE org_id = $1 AND id = $2");
    let mut changed = 0;
    for row in rows {
        let (id, stored): (String, String) = (row.try_get("id")?, row.try_get("role")?);
        let above = role.is_none_or(|r| Role::parse(&stored).is_none_or(|s| s > r));
        if !above {
            continue;
        }
        let query = match role {
            Some(r) if grants == Grants::Keys => {
                sqlx::query("UPDATE api_keys SET role = $3 WHERE org_id = $1 AND id = $2")
                    .bind(org_id)
                    .bind(id)
                    .bind(r.as_str())
            }
            _ => sqlx::query(&delete).bind(org_id).bind(id),
        };
        changed += query.execute(&mut **tx).await?.rows_affected();
    }
    Ok(changed)
}
