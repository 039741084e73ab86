//! Signing up and in: users, sessions, email verification, the device flow, health.

use std::time::{Duration, Instant};

use reqwest::Method;
use scry_api::*;

use crate::{Body, Client, Error, Result, decode};

/// `scry-server`'s own default address: where a client told nothing else looks.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8787";

/// The account service to talk to: `chosen` (a `--server` flag, `SCRY_SERVER`), else `server`
/// in the nearest config file seen from `dir` (`.scry.toml` up the tree, then the user's),
/// else [`DEFAULT_SERVER`]. Every shell resolves it the same way.
pub fn configured_server(
    chosen: Option<String>,
    dir: &std::path::Path,
) -> scry_core::Result<String> {
    if let Some(server) = chosen {
        return Ok(server);
    }
    let configured = scry_core::config::configs(dir)?
        .into_iter()
        .find_map(|(config, _)| config.server);
    Ok(configured.unwrap_or_else(|| DEFAULT_SERVER.into()))
}

const NO_BODY: Body<'static, ()> = Body::None;

/// Where a device login stands when the device polls (RFC 8628 §3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceToken {
    /// Approved: the session token.
    Granted(String),
    /// Not decided yet: poll again after the interval.
    Pending,
    /// Polled too fast: add 5 s to the interval from now on.
    SlowDown,
    Denied,
    Expired,
}

impl Client {
    /// The process answers (`/healthz`).
    pub async fn health(&self) -> Result<Health> {
        self.call(Method::GET, &["healthz"], None, NO_BODY).await
    }

    /// The database answers (`/readyz`).
    pub async fn ready(&self) -> Result<Health> {
        self.call(Method::GET, &["readyz"], None, NO_BODY).await
    }

    /// Creates a user; the service mails a verification token.
    pub async fn sign_up(&self, email: &str, password: &str) -> Result<User> {
        let body = SignUp {
            email: email.into(),
            password: password.into(),
        };
        self.call(Method::POST, &["v1", "users"], None, Body::Json(&body))
            .await
    }

    /// Confirms an address with the mailed `scry_vfy_…` token.
    pub async fn verify_email(&self, token: &str) -> Result<User> {
        let body = VerifyEmail {
            token: token.into(),
        };
        self.call(
            Method::POST,
            &["v1", "users", "verify"],
            None,
            Body::Json(&body),
        )
        .await
    }

    /// Mails the signed-in user a new verification token.
    pub async fn resend_verification(&self) -> Result<()> {
        self.call_empty(Method::POST, &["v1", "me", "verification"], NO_BODY)
            .await
    }

    /// Logs in with a password; the session's token is in the answer.
    pub async fn login(&self, email: &str, password: &str) -> Result<SessionCreated> {
        let body = Login {
            email: email.into(),
            password: password.into(),
        };
        self.call(Method::POST, &["v1", "sessions"], None, Body::Json(&body))
            .await
    }

    /// Revokes the session this client carries.
    pub async fn logout(&self) -> Result<()> {
        self.call_empty(Method::DELETE, &["v1", "sessions", "current"], NO_BODY)
            .await
    }

    /// The signed-in user and their organisations.
    pub async fn me(&self) -> Result<Me> {
        self.call(Method::GET, &["v1", "me"], None, NO_BODY).await
    }

    /// Starts a device login: show `user_code` and `verification_uri` to the person.
    pub async fn device_code(&self, client_id: &str) -> Result<DeviceCodeResponse> {
        let body = DeviceCodeRequest {
            client_id: client_id.into(),
        };
        self.call(
            Method::POST,
            &["v1", "device", "code"],
            None,
            Body::Form(&body),
        )
        .await
    }

    /// Polls a device login once.
    pub async fn device_token(&self, device_code: &str) -> Result<DeviceToken> {
        let body = DeviceTokenRequest {
            grant_type: DEVICE_GRANT.into(),
            device_code: device_code.into(),
            client_id: None,
        };
        let answer = self
            .send_raw(
                Method::POST,
                &["v1", "device", "token"],
                None,
                Body::Form(&body),
            )
            .await?;
        if answer.status.is_success() {
            let token: TokenResponse = decode(&answer.url, &answer.body)?;
            return Ok(DeviceToken::Granted(token.access_token));
        }
        let oauth = (answer.status == reqwest::StatusCode::BAD_REQUEST)
            .then(|| serde_json::from_slice::<OAuthError>(&answer.body).ok())
            .flatten();
        match oauth.as_ref().map(|o| o.error.as_str()) {
            Some("authorization_pending") => Ok(DeviceToken::Pending),
            Some("slow_down") => Ok(DeviceToken::SlowDown),
            Some("access_denied") => Ok(DeviceToken::Denied),
            Some("expired_token") => Ok(DeviceToken::Expired),
            Some(_) => Err(Error::Api {
                status: 400,
                code: oauth.map_or_else(String::new, |o| o.error),
                message: "the device code is unknown or was already used: start again".into(),
                retry_after: None,
            }),
            None => Err(crate::api_error(&answer)),
        }
    }

    /// Polls a device login started with `start` until it ends, at the interval the service
    /// asked for (longer after each `slow_down`): the session token once the person approved;
    /// `access_denied` or `expired_token` (HTTP 400 codes, as RFC 8628 names them) otherwise.
    /// The CLI and the desktop app both sign in through this.
    pub async fn wait_for_device_approval(&self, start: &DeviceCodeResponse) -> Result<String> {
        let mut interval = Duration::from_secs(start.interval.max(1) as u64);
        let deadline = Instant::now() + Duration::from_secs(start.expires_in.max(1) as u64);
        let ended = |code: &str, message: &str| Error::Api {
            status: 400,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        };
        let expired = || ended("expired_token", "the code expired before it was approved");
        loop {
            tokio::time::sleep(interval).await;
            match self.device_token(&start.device_code).await? {
                DeviceToken::Granted(token) => return Ok(token),
                DeviceToken::Pending => {}
                DeviceToken::SlowDown => interval += Duration::from_secs(5),
                DeviceToken::Denied => {
                    return Err(ended("access_denied", "the sign-in was denied"));
                }
                DeviceToken::Expired => return Err(expired()),
            }
            if Instant::now() > deadline {
                return Err(expired());
            }
        }
    }

    /// Approves (or denies) a device's user code as the signed-in user.
    pub async fn device_verify(&self, user_code: &str, approve: bool) -> Result<()> {
        let body = DeviceVerify {
            user_code: user_code.into(),
            approve,
        };
        self.call_empty(Method::POST, &["v1", "device", "verify"], Body::Json(&body))
            .await
    }
}
