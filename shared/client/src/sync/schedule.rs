//! When background syncs run, in every shell that runs them (the language server, the
//! desktop app): a workspace whose index changed is synced once it has stayed quiet for a
//! while; a failure that waiting can fix (offline, rate limited, the org's key not here yet)
//! is tried again when it says; one that cannot (signed out, over quota) waits for the next
//! change.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::SyncError;
use crate::ErrorKind;

/// How long an index stays unchanged before it is synced (`SCRY_SYNC_QUIET_MS` overrides).
pub const QUIET: Duration = Duration::from_secs(30);
/// When an unreachable account is tried again.
pub const OFFLINE_RETRY: Duration = Duration::from_secs(60);
/// When a device waiting for the org's key looks again (`SCRY_SYNC_KEY_RETRY_MS` overrides).
pub const KEY_RETRY: Duration = Duration::from_secs(120);

/// A duration from the environment variable `name`, in milliseconds, else `default`.
fn millis_from_env(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(default, Duration::from_millis)
}

/// How long a changed index waits before it is synced.
pub fn quiet() -> Duration {
    millis_from_env("SCRY_SYNC_QUIET_MS", QUIET)
}

/// When to try a failed sync again by itself, if waiting can fix it.
pub fn retry_after(e: &SyncError) -> Option<Duration> {
    match e {
        SyncError::Service(c) if c.kind() == ErrorKind::Offline => Some(OFFLINE_RETRY),
        SyncError::Service(c) if c.kind() == ErrorKind::RateLimited => Some(
            c.retry_after()
                .unwrap_or(OFFLINE_RETRY)
                .max(Duration::from_secs(1)),
        ),
        // Another device hands the key on when it syncs: look again now and then.
        SyncError::KeyPending(_) => Some(millis_from_env("SCRY_SYNC_KEY_RETRY_MS", KEY_RETRY)),
        _ => None,
    }
}

/// When each workspace's next background sync is due.
#[derive(Debug, Default)]
pub struct Due(HashMap<PathBuf, Instant>);

impl Due {
    /// `root`'s index changed: sync it once it has been quiet (a later change postpones it).
    pub fn changed(&mut self, root: PathBuf) {
        self.0.insert(root, Instant::now() + quiet());
    }

    /// Try `root` again `after` from now, unless a sync is already due.
    pub fn retry(&mut self, root: PathBuf, after: Duration) {
        self.0.entry(root).or_insert(Instant::now() + after);
    }

    /// When the next sync is due.
    pub fn next(&self) -> Option<Instant> {
        self.0.values().min().copied()
    }

    /// The workspaces due now, no longer waiting.
    pub fn ready(&mut self) -> Vec<PathBuf> {
        let now = Instant::now();
        let ready: Vec<PathBuf> = self
            .0
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(root, _)| root.clone())
            .collect();
        for root in &ready {
            self.0.remove(root);
        }
        ready
    }
}

/// Sleeps until `at`; forever without one (for a `select!` branch).
pub async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_change_waits_for_quiet_and_a_retry_does_not_postpone_a_due_sync() {
        let mut due = Due::default();
        assert_eq!(due.next(), None);
        due.changed("/a".into());
        assert!(due.ready().is_empty(), "not quiet yet");
        tokio::time::advance(QUIET / 2).await;
        due.changed("/a".into());
        tokio::time::advance(QUIET / 2 + Duration::from_millis(1)).await;
        assert!(due.ready().is_empty(), "a later change postpones it");
        due.retry("/a".into(), Duration::from_secs(3600));
        tokio::time::advance(QUIET / 2).await;
        assert_eq!(due.ready(), [PathBuf::from("/a")]);
        assert_eq!(due.next(), None);
    }

    #[test]
    fn only_failures_that_waiting_fixes_are_retried() {
        assert_eq!(
            retry_after(&SyncError::KeyPending("org".into())),
            Some(KEY_RETRY)
        );
        assert_eq!(retry_after(&SyncError::SignedOut("s".into())), None);
        assert_eq!(retry_after(&SyncError::KeyRotated), None);
    }
}
