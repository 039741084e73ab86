//! Configuration: defaults, then a TOML file, then the environment and flags (see `main`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

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
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    pub session_ttl_s: i64,
    pub invitation_ttl_s: i64,
    pub device_code_ttl_s: i64,
    pub device_poll_interval_s: i64,
    /// Where a person approves a device login (shown to the device).
    pub verification_uri: String,
    /// The operator's bearer token for `/v1/admin/*` (tier changes); admin routes are off
    /// without one.
    pub admin_token: Option<String>,
    /// The tiers, by name: `free` and `pro` by default; `enterprise` takes each org's own limits.
    pub tiers: BTreeMap<String, Limits>,
    /// Webhook sending: how often due deliveries are looked for, and attempts before giving up.
    pub webhook_poll_ms: u64,
    pub webhook_max_attempts: i64,
    /// Log lines as JSON objects instead of text.
    pub json_logs: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: "127.0.0.1:8787".into(),
            data_dir: default_data_dir(),
            database_url: None,
            migration_database_url: None,
            max_connections: 16,
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
            json_logs: false,
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
        for (key, value) in positive {
            if value < 1 {
                anyhow::bail!("{key} must be 1 or more (it is {value})");
            }
        }
        if self.max_body_bytes < 1024 || self.max_connections < 1 || self.webhook_poll_ms < 1 {
            anyhow::bail!(
                "max_body_bytes must be at least 1024, max_connections and webhook_poll_ms at least 1"
            );
        }
        Ok(())
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
    }
}
