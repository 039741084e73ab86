//! Configuration: defaults, then a TOML file, then the environment and flags (see `main`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Deserializer};

use crate::model::Limits;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where to listen.
    pub addr: String,
    /// Where the embedded database lives (SQLite).
    pub data_dir: PathBuf,
    /// A PostgreSQL URL; when set, the data directory is not used.
    pub database_url: Option<String>,
    /// A PostgreSQL URL for migrations (the tables' owner); `database_url` then only logs in.
    pub migration_database_url: Option<String>,
    pub max_connections: u32,
    /// PostgreSQL cancels a statement that runs longer, so a slow database answers `503`
    /// instead of holding every connection; 0: never.
    pub statement_timeout_ms: u64,
    /// PostgreSQL cancels a statement that waits longer for a lock (a table a migration or a
    /// stuck transaction holds): a connection that only waits is soon given back; 0: never.
    pub lock_timeout_ms: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    pub session_ttl_s: i64,
    pub invitation_ttl_s: i64,
    pub device_code_ttl_s: i64,
    pub device_poll_interval_s: i64,
    /// Where a person approves a device login (shown to the device): the service's own
    /// `/device` page by default (`http://ADDR/device` when `--addr` is given), a public URL
    /// behind a proxy.
    pub verification_uri: String,
    /// The operator's bearer token for `/v1/admin/*` (tier changes); admin routes are off
    /// without one.
    pub admin_token: Option<String>,
    /// The tiers, by name: `free` and `pro` by default; `enterprise` takes each org's own limits.
    #[serde(deserialize_with = "tiers")]
    pub tiers: BTreeMap<String, Limits>,
    /// Webhook sending: how often due deliveries are looked for, and attempts before giving up.
    pub webhook_poll_ms: u64,
    pub webhook_max_attempts: i64,
    /// How long one delivery may take before it counts as failed.
    pub webhook_timeout_ms: u64,
    /// Deliveries of one organisation in flight at once: a tenant's slow endpoints hold only
    /// its own slots.
    pub webhook_concurrency_per_org: usize,
    /// Let webhooks reach private, loopback and link-local addresses (a self-hosted service
    /// posting to its own network). Off: such targets are refused at creation and at connection.
    pub webhook_allow_private_targets: bool,
    /// Password hashes computed at once (argon2id takes 19 MiB each); 0 means one per core.
    pub password_hash_concurrency: usize,
    /// How long a sign-up or login waits for a hashing slot before it is answered 503.
    pub password_hash_queue_ms: u64,
    /// Failed logins, sign-ups and device-flow requests counted per account and per address.
    pub throttle: Throttle,
    /// Where outgoing mail (email verification) goes: files in this directory (by default
    /// `outbox` in the data directory) ...
    pub mail_outbox: Option<PathBuf>,
    /// ... or, when set, piped to this command (`/usr/sbin/sendmail -t`), headers included.
    pub mail_command: Option<String>,
    /// Serve Prometheus `/metrics` on this address; off by default.
    pub metrics_addr: Option<String>,
    /// The key that seals secrets at rest (webhook signing secrets), 32 bytes in base64. Without
    /// it, SQLite keeps a generated key in `secrets.key` in the data directory; PostgreSQL
    /// needs it set (every replica the same).
    pub secrets_key: Option<String>,
    /// Log lines as JSON objects instead of text.
    pub json_logs: bool,
    /// Where hosted search writes out and indexes the code it serves (a cache, rebuilt from
    /// the database): a new directory in this one, removed at exit (default: the system's
    /// temporary directory).
    pub search_cache_dir: Option<PathBuf>,
    /// Repositories whose hosted search index this replica keeps at once.
    pub search_cache_repos: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: "127.0.0.1:8787".into(),
            data_dir: default_data_dir(),
            database_url: None,
            migration_database_url: None,
            max_connections: 16,
            statement_timeout_ms: 15_000,
            lock_timeout_ms: 2_000,
            max_body_bytes: 64 * 1024,
            session_ttl_s: 30 * 86_400,
            invitation_ttl_s: 7 * 86_400,
            device_code_ttl_s: 600,
            device_poll_interval_s: 5,
            verification_uri: "http://127.0.0.1:8787/device".into(),
            admin_token: None,
            tiers: BTreeMap::from([
                (
                    "free".to_string(),
                    Limits {
                        max_repos: 3,
                        max_chunks: 10_000,
                        requests_per_minute: 10,
                    },
                ),
                (
                    "pro".to_string(),
                    Limits {
                        max_repos: 20,
                        max_chunks: 100_000,
                        requests_per_minute: 100,
                    },
                ),
            ]),
            webhook_poll_ms: 1000,
            webhook_max_attempts: 8,
            webhook_timeout_ms: 10_000,
            webhook_concurrency_per_org: 4,
            webhook_allow_private_targets: false,
            password_hash_concurrency: 0,
            password_hash_queue_ms: 5_000,
            throttle: Throttle::default(),
            mail_outbox: None,
            mail_command: None,
            metrics_addr: None,
            secrets_key: None,
            json_logs: false,
            search_cache_dir: None,
            search_cache_repos: 64,
        }
    }
}

/// Limits on what can be tried without an account's credentials, counted in fixed windows
/// shared by every replica (rows in the database). Over a limit: 429 with `Retry-After`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Throttle {
    /// The window every count below runs over, in seconds.
    pub window_s: i64,
    /// Wrong passwords for one account, then its logins wait for the window to end.
    pub login_failures_per_account: i64,
    /// Wrong passwords from one client address, whatever the account.
    pub login_failures_per_address: i64,
    /// Sign-ups from one client address.
    pub signups_per_address: i64,
    /// Device codes requested from one client address.
    pub device_codes_per_address: i64,
    /// Unknown user codes one signed-in user may try to verify.
    pub device_verify_failures_per_user: i64,
    /// Verification emails one user may ask for.
    pub verification_emails_per_user: i64,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle {
            window_s: 900,
            login_failures_per_account: 10,
            login_failures_per_address: 100,
            signups_per_address: 20,
            device_codes_per_address: 30,
            device_verify_failures_per_user: 10,
            verification_emails_per_user: 5,
        }
    }
}

fn default_data_dir() -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("scry-server")
}

impl Config {
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Refuses values the service cannot run with, at start-up rather than on some request.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.tiers.contains_key("free") {
            anyhow::bail!("tiers.free is missing: new organisations start on it");
        }
        for (name, l) in &self.tiers {
            if name == "enterprise" {
                anyhow::bail!(
                    "tiers.enterprise cannot be configured: each such org has its own limits"
                );
            }
            if l.max_repos < 0 || l.max_chunks < 0 || l.requests_per_minute < 1 {
                anyhow::bail!(
                    "tiers.{name}: max_repos and max_chunks must be 0 or more, requests_per_minute 1 or more"
                );
            }
        }
        let positive = [
            ("session_ttl_s", self.session_ttl_s),
            ("invitation_ttl_s", self.invitation_ttl_s),
            ("device_code_ttl_s", self.device_code_ttl_s),
            ("device_poll_interval_s", self.device_poll_interval_s),
            ("webhook_max_attempts", self.webhook_max_attempts),
        ];
        let throttle = [
            ("throttle.window_s", self.throttle.window_s),
            (
                "throttle.login_failures_per_account",
                self.throttle.login_failures_per_account,
            ),
            (
                "throttle.login_failures_per_address",
                self.throttle.login_failures_per_address,
            ),
            (
                "throttle.signups_per_address",
                self.throttle.signups_per_address,
            ),
            (
                "throttle.device_codes_per_address",
                self.throttle.device_codes_per_address,
            ),
            (
                "throttle.device_verify_failures_per_user",
                self.throttle.device_verify_failures_per_user,
            ),
            (
                "throttle.verification_emails_per_user",
                self.throttle.verification_emails_per_user,
            ),
        ];
        for (key, value) in positive.into_iter().chain(throttle) {
            if value < 1 {
                anyhow::bail!("{key} must be 1 or more (it is {value})");
            }
        }
        if self.max_body_bytes < 1024
            || self.max_connections < 1
            || self.webhook_poll_ms < 1
            || self.webhook_timeout_ms < 1
            || self.webhook_concurrency_per_org < 1
        {
            anyhow::bail!(
                "max_body_bytes must be at least 1024; max_connections, webhook_poll_ms, \
                 webhook_timeout_ms and webhook_concurrency_per_org at least 1"
            );
        }
        // PostgreSQL refuses a longer timeout, and would refuse every connection.
        for (key, ms) in [
            ("statement_timeout_ms", self.statement_timeout_ms),
            ("lock_timeout_ms", self.lock_timeout_ms),
        ] {
            if ms > i32::MAX as u64 {
                anyhow::bail!(
                    "{key} must be at most {} (it is {ms}); 0 for none",
                    i32::MAX
                );
            }
        }
        Ok(())
    }

    /// Password hashes computed at once.
    pub fn hash_slots(&self) -> usize {
        match self.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        }
    }

    /// Where the file mail sink writes.
    pub fn outbox(&self) -> PathBuf {
        self.mail_outbox
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// The key that seals secrets at rest: configured, or (SQLite only) kept in the data
    /// directory, made on first start.
    pub fn secrets_key(&self) -> anyhow::Result<[u8; 32]> {
        if let Some(text) = &self.secrets_key {
            return crate::secrets::parse_key(text.trim()).context("secrets_key");
        }
        if self.database_url.is_some() {
            anyhow::bail!(
                "secrets_key (SCRY_SERVER_SECRETS_KEY) is required with PostgreSQL: 32 random \
                 bytes in base64, the same on every replica (e.g. `openssl rand -base64 32`)"
            );
        }
        crate::secrets::key_file(&self.data_dir.join("secrets.key"))
    }

    /// The limits of a configured tier; an org on a tier that is no longer configured gets the
    /// free tier's (`validate` guarantees there is one).
    pub fn tier_limits(&self, tier: &str) -> Limits {
        self.tiers
            .get(tier)
            .or_else(|| self.tiers.get("free"))
            .copied()
            .unwrap_or(Limits {
                max_repos: 0,
                max_chunks: 0,
                requests_per_minute: 1,
            })
    }
}

/// `[tiers.*]`, refusing unknown keys as every other setting does (`Limits` is also a type
/// of the API, which clients read leniently).
fn tiers<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Limits>, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Tier {
        max_repos: i64,
        max_chunks: i64,
        requests_per_minute: i64,
    }
    let tiers = BTreeMap::<String, Tier>::deserialize(d)?;
    let limits = |t: Tier| Limits {
        max_repos: t.max_repos,
        max_chunks: t.max_chunks,
        requests_per_minute: t.requests_per_minute,
    };
    Ok(tiers
        .into_iter()
        .map(|(name, t)| (name, limits(t)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_values_are_refused() {
        Config::default().validate().unwrap();
        let only_pro: Config = toml::from_str(
            "[tiers.pro]\nmax_repos = 20\nmax_chunks = 100000\nrequests_per_minute = 100\n",
        )
        .unwrap();
        let e = only_pro.validate().unwrap_err().to_string();
        assert!(e.contains("tiers.free is missing"), "{e}");
        let mut zero_rate = Config::default();
        zero_rate.tiers.get_mut("pro").unwrap().requests_per_minute = 0;
        assert!(
            zero_rate
                .validate()
                .unwrap_err()
                .to_string()
                .contains("tiers.pro")
        );
        let mut no_ttl = Config {
            session_ttl_s: 0,
            ..Config::default()
        };
        assert!(
            no_ttl
                .validate()
                .unwrap_err()
                .to_string()
                .contains("session_ttl_s")
        );
        no_ttl.session_ttl_s = 60;
        no_ttl.max_body_bytes = 10;
        assert!(no_ttl.validate().is_err());
        assert!(
            toml::from_str::<Config>("adr = \"x\"").is_err(),
            "unknown keys are refused"
        );
        let endless = Config {
            lock_timeout_ms: 1 << 40,
            ..Config::default()
        };
        let err = endless.validate().unwrap_err().to_string();
        assert!(err.contains("lock_timeout_ms"), "{err}");
        // A setting written below a tier's header lands in the tier: refused, not ignored.
        let misplaced = "[tiers.free]\nmax_repos = 3\nmax_chunks = 10\nrequests_per_minute = 10\n\
                         statement_timeout_ms = 0\n";
        let err = toml::from_str::<Config>(misplaced).unwrap_err().to_string();
        assert!(err.contains("statement_timeout_ms"), "{err}");
    }
}
