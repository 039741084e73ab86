//! What can be tried without an account's credentials is bounded: password hashing (argon2id,
//! 19 MiB each) runs a few at a time, and failed logins, sign-ups and device-flow requests are
//! counted per account, per client address and per user in windows every replica shares.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use tokio::sync::Semaphore;

use crate::auth;
use crate::config::{Config, Throttle};
use crate::error::ApiError;
use crate::store::Storage;

/// Password hashes computed at once; the rest queue for a while, then get 503.
pub struct HashSlots {
    slots: Arc<Semaphore>,
    queue: Duration,
}

impl HashSlots {
    pub fn new(config: &Config) -> HashSlots {
        HashSlots {
            slots: Arc::new(Semaphore::new(config.hash_slots())),
            queue: Duration::from_millis(config.password_hash_queue_ms),
        }
    }

    /// Runs `f` (a hash or a verification) on a blocking thread once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins at once; retry in a second",
            )
        };
        let permit = tokio::time::timeout(self.queue, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|_| busy())
    }
}

/// The client's address as the listener saw it (behind a reverse proxy: the proxy's).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

impl ClientAddr {
    fn key(self) -> String {
        self.0.map_or("unknown".into(), |ip| ip.to_string())
    }
}

/// What is counted. Keys are stored hashed: the table holds no email or address.
#[derive(Clone, Copy, Debug)]
pub enum Counted<'a> {
    LoginFailuresOf(&'a str),
    LoginFailuresFrom(ClientAddr),
    SignupsFrom(ClientAddr),
    DeviceCodesFrom(ClientAddr),
    DeviceVerifyFailuresOf(&'a str),
    VerificationEmailsOf(&'a str),
}

impl Counted<'_> {
    fn key(self) -> String {
        let plain = match self {
            Counted::LoginFailuresOf(email) => format!("login-account:{email}"),
            Counted::LoginFailuresFrom(a) => format!("login-address:{}", a.key()),
            Counted::SignupsFrom(a) => format!("signup-address:{}", a.key()),
            Counted::DeviceCodesFrom(a) => format!("device-code-address:{}", a.key()),
            Counted::DeviceVerifyFailuresOf(user) => format!("device-verify-user:{user}"),
            Counted::VerificationEmailsOf(user) => format!("verification-user:{user}"),
        };
        auth::hash_secret(&plain)
    }

    fn limit(self, t: &Throttle) -> i64 {
        match self {
            Counted::LoginFailuresOf(_) => t.login_failures_per_account,
            Counted::LoginFailuresFrom(_) => t.login_failures_per_address,
            Counted::SignupsFrom(_) => t.signups_per_address,
            Counted::DeviceCodesFrom(_) => t.device_codes_per_address,
            Counted::DeviceVerifyFailuresOf(_) => t.device_verify_failures_per_user,
            Counted::VerificationEmailsOf(_) => t.verification_emails_per_user,
        }
    }

    fn refusal(self, retry_after: i64) -> ApiError {
        let what = match self {
            Counted::LoginFailuresOf(_) => "too many failed logins for this account",
            Counted::LoginFailuresFrom(_) => "too many failed logins from this address",
            Counted::SignupsFrom(_) => "too many sign-ups from this address",
            Counted::DeviceCodesFrom(_) => "too many device codes requested from this address",
            Counted::DeviceVerifyFailuresOf(_) => "too many unknown device codes tried",
            Counted::VerificationEmailsOf(_) => "too many verification emails asked for",
        };
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("{what}; retry in {} s", retry_after.max(1)),
            )
        }
    }
}

/// Counts against throttles, for one request.
pub struct Throttles<'s> {
    pub store: &'s dyn Storage,
    pub config: &'s Throttle,
    pub now: i64,
}

impl Throttles<'_> {
    /// Counts an attempt at `what` and refuses it when that goes over the limit. Counted before
    /// the work, so attempts made at once are limited exactly; one that turns out fine is
    /// handed back ([`Throttles::give_back`], [`Throttles::clear`]).
    pub async fn take(&self, what: Counted<'_>) -> Result<(), ApiError> {
        let at = self
            .store
            .throttle(&what.key(), self.now, self.config.window_s, 1)
            .await?;
        if at.hits > what.limit(self.config) {
            return Err(what.refusal(at.resets_at - self.now));
        }
        Ok(())
    }

    /// Uncounts an attempt that succeeded (a login from an address many people share).
    pub async fn give_back(&self, what: Counted<'_>) -> Result<(), ApiError> {
        self.store
            .throttle(&what.key(), self.now, self.config.window_s, -1)
            .await?;
        Ok(())
    }

    /// Forgets every attempt at `what` (an account's failures once its password is given).
    pub async fn clear(&self, what: Counted<'_>) -> Result<(), ApiError> {
        Ok(self.store.throttle_clear(&what.key()).await?)
    }
}
