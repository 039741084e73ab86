//! One error for everything a call can meet, carrying the service's stable code.

/// What went wrong, for programs to branch on; [`Error::code`] gives the service's own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service could not be reached (or did not answer in time).
    Offline,
    /// No credentials, or they expired or were revoked: sign in again.
    Unauthorized,
    /// The credentials do not allow this (a role too weak, a session needed, an unverified
    /// address).
    Forbidden,
    /// Over a quota of the organisation's tier; the message names the limit and tier.
    QuotaExceeded,
    /// Over a rate limit or throttle, still after the retries: wait [`Error::retry_after`].
    RateLimited,
    NotFound,
    Conflict,
    /// The request was refused as malformed or invalid.
    Invalid,
    /// The service (or its database) is unavailable or busy, still after the retries.
    Unavailable,
    /// An answer the client does not understand (a proxy's page, another service).
    Protocol,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error body.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
        /// Seconds, from `Retry-After`.
        retry_after: Option<u64>,
    },
    /// The cause (refused, timed out, DNS) is the source: shown by `{:#}` and error reporters.
    #[error("cannot reach the account service at {url}")]
    Offline {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("unexpected answer from {url}: {detail}")]
    Protocol { url: String, detail: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Offline { .. } => ErrorKind::Offline,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::Api { status, code, .. } => match (*status, code.as_str()) {
                (_, "quota_exceeded") => ErrorKind::QuotaExceeded,
                (_, "rate_limited") | (429, _) => ErrorKind::RateLimited,
                (401, _) => ErrorKind::Unauthorized,
                (403, _) => ErrorKind::Forbidden,
                (404, _) => ErrorKind::NotFound,
                (409, _) => ErrorKind::Conflict,
                (500.., _) => ErrorKind::Unavailable,
                _ => ErrorKind::Invalid,
            },
        }
    }

    /// The service's stable error code (`quota_exceeded`, `email_unverified`, …), or
    /// `offline` / `protocol` for failures on the way.
    pub fn code(&self) -> &str {
        match self {
            Error::Api { code, .. } => code,
            Error::Offline { .. } => "offline",
            Error::Protocol { .. } => "protocol",
        }
    }

    /// How long the service asked to wait, when it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Api {
                retry_after: Some(s),
                ..
            } => Some(std::time::Duration::from_secs(*s)),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
