//! Signing up and in: users, sessions, email verification, the device flow, health.

use reqwest::Method;
use scry_api::*;

use crate::{Body, Client, Error, Result, decode};

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
