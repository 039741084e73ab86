//! The database: SQLite (embedded default) or PostgreSQL, through sqlx's `Any` driver so the
//! queries are written once. The backends differ in their migrations and in how tenancy is
//! enforced: PostgreSQL adds row-level security, fed per transaction by [`Scope`].

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whose rows a transaction may see on PostgreSQL (row-level security reads these settings;
/// every query also filters by them explicitly).
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// One organisation's rows.
    Org(&'a str),
    /// A user's memberships and the organisations they belong to.
    User(&'a str),
    /// The API key with this hash, and nothing else.
    KeyHash(&'a str),
    /// The invitation with this token hash, and nothing else.
    InviteHash(&'a str),
    /// Tables without tenants only (users, sessions, device codes, the webhook queue).
    Global,
}

pub struct Db {
    backend: Backend,
    /// SQLite allows one writer: writes share one connection, so they queue here instead of
    /// failing with "database is locked"; reads go to `read`. PostgreSQL uses one pool for both.
    write: AnyPool,
    read: AnyPool,
}

/// SQLite connections that come back still inside a transaction are closed, not reused: when
/// SQLite ends a transaction itself (a COMMIT that fails under contention from another process),
/// sqlx's ROLLBACK fails, its count of open transactions stays above zero, and every later BEGIN
/// on that connection would fail. A ping first lets a dropped transaction's queued rollback run.
fn sqlite_pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(10))
        .after_release(|conn, _| {
            Box::pin(async move {
                let depth = <<Any as sqlx::Database>::TransactionManager as sqlx::TransactionManager>::get_transaction_depth;
                if depth(conn) != 0 {
                    conn.ping().await?;
                }
                let open = depth(conn);
                if open != 0 {
                    tracing::warn!("closing a database connection left inside a transaction");
                }
                Ok(open == 0)
            })
        })
}

/// How much of PostgreSQL one replica may hold, and for how long (see [`Config`]'s fields of
/// the same names).
///
/// [`Config`]: crate::config::Config
#[derive(Clone, Copy, Debug)]
pub struct PgLimits {
    pub max_connections: u32,
    pub statement_timeout_ms: u64,
    pub lock_timeout_ms: u64,
}

impl PgLimits {
    pub fn of(config: &crate::config::Config) -> PgLimits {
        PgLimits {
            max_connections: config.max_connections,
            statement_timeout_ms: config.statement_timeout_ms,
            lock_timeout_ms: config.lock_timeout_ms,
        }
    }
}

impl Db {
    /// Opens (creating) `data_dir/scry-server.db`, readable by this user only.
    pub async fn sqlite(data_dir: &Path) -> anyhow::Result<Db> {
        // Private to the service's user: the database holds password and token hashes. SQLite
        // gives its -wal and -shm files the database file's mode.
        crate::secrets::private_dir(data_dir)?;
        let file = data_dir.join("scry-server.db");
        crate::secrets::private_file(&file)?;
        let url = format!("sqlite://{}?mode=rwc", file.display());
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(&url)?;
        let mut conn = sqlx::AnyConnection::connect_with(&options)
            .await
            .with_context(|| format!("cannot open {url}"))?;
        conn.execute("PRAGMA journal_mode = WAL").await?;
        SQLITE_MIGRATIONS
            .run(&mut conn)
            .await
            .context("migrating the SQLite database")?;
        conn.close().await?;
        let pool = |n: u32| {
            sqlite_pool_options()
                .max_connections(n)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL with synchronous=NORMAL: durable across a crash of this process,
                        // one fsync per checkpoint instead of one per commit.
                        conn.execute(
                            "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
                             PRAGMA synchronous = NORMAL;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(options.clone())
        };
        Ok(Db {
            backend: Backend::Sqlite,
            write: pool(1).await?,
            read: pool(8).await?,
        })
    }

    /// Connects to PostgreSQL, migrates, then serves every query as `scry_app`, which owns
    /// nothing and cannot bypass row-level security. Migrations run as `migration_url`'s role
    /// (one that may create tables and roles) when given, and the service logs in as `url`'s
    /// role, which is then granted `scry_app` and needs no other right; without it, `url`
    /// does both.
    pub async fn postgres(
        url: &str,
        migration_url: Option<&str>,
        limits: PgLimits,
    ) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url).context("invalid database URL")?;
        let owner = AnyConnectOptions::from_str(migration_url.unwrap_or(url))
            .context("invalid migration database URL")?;
        let mut conn = sqlx::AnyConnection::connect_with(&owner)
            .await
            .context("cannot connect to PostgreSQL")?;
        // Replicas starting together must not run the migrations twice at once.
        conn.execute("SELECT pg_advisory_lock(72656419)").await?;
        let migrated = POSTGRES_MIGRATIONS.run(&mut conn).await;
        conn.execute("SELECT pg_advisory_unlock(72656419)").await?;
        migrated.context("migrating the PostgreSQL database")?;
        if migration_url.is_some() {
            let login = sqlx::postgres::PgConnectOptions::from_str(url)
                .context("invalid database URL")?
                .get_username()
                .to_string();
            let quoted = format!("\"{}\"", login.replace('"', "\"\""));
            match conn
                .execute(format!("GRANT scry_app TO {quoted}").as_str())
                .await
            {
                // Roles are the cluster's: a service migrating another database of it at the
                // same moment granted the same membership first, which is what this wanted.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {}
                granted => {
                    granted.with_context(|| {
                        format!("granting scry_app to the service's login {login}")
                    })?;
                }
            }
        }
        conn.close().await?;
        let pool = AnyPoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    let setup = format!(
                        "SET ROLE scry_app; SET statement_timeout = {}; SET lock_timeout = {}",
                        limits.statement_timeout_ms, limits.lock_timeout_ms
                    );
                    conn.execute(setup.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Db {
            backend: Backend::Postgres,
            write: pool.clone(),
            read: pool,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
    }

    /// The database's clock, in milliseconds since the Unix epoch.
    pub async fn now_ms(&self) -> Result<i64, sqlx::Error> {
        let query = match self.backend {
            Backend::Postgres => "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
            Backend::Sqlite => "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        };
        sqlx::query_scalar(query).fetch_one(&self.read).await
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    /// A transaction that sees `scope`'s rows.
    pub async fn begin(
        &self,
        write: bool,
        scope: Scope<'_>,
    ) -> Result<Transaction<'static, Any>, sqlx::Error> {
        let mut tx = match (write, self.backend) {
            // Take the write lock up front: a deferred transaction that reads, then writes,
            // fails at once with SQLITE_BUSY when another process (a second replica) writes.
            (true, Backend::Sqlite) => self.write.begin_with("BEGIN IMMEDIATE").await?,
            (true, Backend::Postgres) => self.write.begin().await?,
            (false, _) => self.read.begin().await?,
        };
        self.set_scope(&mut tx, scope).await?;
        Ok(tx)
    }

    /// Marks a transaction that only bumps counters (rate windows, request counts): on
    /// PostgreSQL its commit does not wait for the disk. A crash may lose the last increments,
    /// never an account's data, and every request of an org no longer queues behind one fsync.
    pub async fn counters_only(
        &self,
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            tx.execute("SET LOCAL synchronous_commit = off").await?;
        }
        Ok(())
    }

    /// Changes what the rest of the transaction may see (accepting an invitation moves from
    /// the invitation to its organisation).
    pub async fn set_scope(
        &self,
        tx: &mut Transaction<'static, Any>,
        scope: Scope<'_>,
    ) -> Result<(), sqlx::Error> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let (org, user, key, invite) = match scope {
            Scope::Org(id) => (id, "", "", ""),
            Scope::User(id) => ("", id, "", ""),
            Scope::KeyHash(h) => ("", "", h, ""),
            Scope::InviteHash(h) => ("", "", "", h),
            Scope::Global => ("", "", "", ""),
        };
        // Local to the transaction: a pooled connection carries nothing to its next user.
        sqlx::query(
            "SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true), \
             set_config('app.key_hash', $3, true), set_config('app.invite_hash', $4, true)",
        )
        .bind(org)
        .bind(user)
        .bind(key)
        .bind(invite)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
