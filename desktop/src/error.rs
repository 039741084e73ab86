//! The one error every command answers with: a stable `code` the page branches on, and a
//! `message` that says what to do. Codes: the account service's own (`quota_exceeded`,
//! `email_unverified`, `access_denied`, …) or `offline`, `unauthorized`, `forbidden`,
//! `rate_limited`, `not_found`, `conflict`, `invalid`, `unavailable`, `protocol`,
//! `keychain_unavailable`, `not_signed_in`, `no_workspace`, `index`, `io`, `sync_off`,
//! `key_pending`, `sync`.

use scry_client::ErrorKind;
use serde::Serialize;
use ts_rs::TS;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{message} ({code})")]
pub struct CommandError {
    pub code: String,
    pub message: String,
    /// Seconds to wait before trying again (`rate_limited`).
    pub retry_after_s: Option<u32>,
}

pub type CommandResult<T> = Result<T, CommandError>;

impl CommandError {
    pub fn new(code: &str, message: impl Into<String>) -> CommandError {
        CommandError {
            code: code.into(),
            message: message.into(),
            retry_after_s: None,
        }
    }

    pub fn not_signed_in(server: &str) -> CommandError {
        CommandError::new(
            "not_signed_in",
            format!("not signed in to {server}: sign in first"),
        )
    }
}

impl From<scry_client::Error> for CommandError {
    fn from(e: scry_client::Error) -> CommandError {
        let code = match e.kind() {
            ErrorKind::Offline => "offline",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Unavailable => "unavailable",
            // The service's own code is the more precise one (quota_exceeded, …).
            _ => e.code(),
        };
        let message = match (&e, e.kind()) {
            (_, ErrorKind::Offline) => format!("{e}: check the server address and the network"),
            (_, ErrorKind::Unauthorized) => {
                "the session ended (signed out or revoked): sign in again".to_string()
            }
            (scry_client::Error::Api { message, .. }, ErrorKind::QuotaExceeded) => format!(
                "{message}: delete what the organisation no longer needs, or ask for a larger tier"
            ),
            // The service's own words, without the code and status the CLI shows.
            (scry_client::Error::Api { message, .. }, _) => message.clone(),
            _ => e.to_string(),
        };
        CommandError {
            code: code.to_string(),
            message,
            retry_after_s: e.retry_after().map(|d| d.as_secs() as u32),
        }
    }
}

impl From<scry_client::credentials::CredentialError> for CommandError {
    fn from(e: scry_client::credentials::CredentialError) -> CommandError {
        CommandError::new("keychain_unavailable", e.to_string())
    }
}

impl From<scry_core::Error> for CommandError {
    fn from(e: scry_core::Error) -> CommandError {
        let code = match e {
            scry_core::Error::NoWorkspace(_) => "no_workspace",
            _ => "index",
        };
        CommandError::new(code, e.to_string())
    }
}

impl From<scry_client::sync::SyncError> for CommandError {
    fn from(e: scry_client::sync::SyncError) -> CommandError {
        use scry_client::sync::SyncError;
        match e {
            SyncError::Service(e) => e.into(),
            SyncError::Credentials(e) => e.into(),
            SyncError::Index(e) => e.into(),
            SyncError::SignedOut(server) => CommandError::not_signed_in(&server),
            SyncError::NotEnabled(root) => CommandError::new(
                "sync_off",
                format!(
                    "sync is not enabled for {}: enable it first",
                    root.display()
                ),
            ),
            e @ SyncError::KeyPending(_) => CommandError::new("key_pending", e.to_string()),
            e => CommandError::new("sync", e.to_string()),
        }
    }
}
