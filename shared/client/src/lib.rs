//! A typed async client for Scry's account service (`scry-server`), shared by the CLI, the
//! language server and the desktop app. Requests and answers are `scry-api`'s types; every
//! failure is one [`Error`] carrying the service's error code. A refusal the service asks to
//! wait out (429, or 503 while it is busy) is retried after its `Retry-After`, with jitter, up
//! to [`ClientBuilder::retries`] times (the service refuses those before doing anything, so a
//! retry is safe for every method); a request that could not be sent is retried only when it
//! is idempotent.

mod account;
pub mod credentials;
pub mod display;
mod error;
mod index;
mod orgs;
pub mod sealing;
mod search;
pub mod sync;

use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use account::{DEFAULT_SERVER, DeviceToken, configured_server};
pub use error::{Error, ErrorKind, Result};
pub use index::Committed;
pub use scry_api as api;
pub use search::HostedPublished;

/// A connection to one account service, with or without credentials (a session token, an
/// API key, or the operator's token). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
    /// How long one request may take.
    timeout: Duration,
    retries: u32,
    max_wait: Duration,
}

pub struct ClientBuilder {
    base: String,
    token: Option<String>,
    timeout: Duration,
    retries: u32,
    max_wait: Duration,
}

impl ClientBuilder {
    /// Sent as `Authorization: Bearer …`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How long one request may take (30 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries after a 429 or 503 (2 by default; 0 surfaces them at once).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The longest `Retry-After` waited out (60 s by default); a longer one is surfaced.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    pub fn build(self) -> Result<Client> {
        let invalid = |detail: String| Error::Protocol {
            url: self.base.clone(),
            detail,
        };
        let mut base =
            url::Url::parse(&self.base).map_err(|e| invalid(format!("not a URL ({e})")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid("the server URL must be http:// or https://".into()));
        }
        base.set_query(None);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("scry-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Client {
            http,
            base,
            token: self.token,
            timeout: self.timeout,
            retries: self.retries,
            max_wait: self.max_wait,
        })
    }
}

/// What a request carries.
enum Body<'a, B: Serialize> {
    None,
    Json(&'a B),
    /// JSON a POST may send again after a failure to send it: the request only reads, or
    /// replaying it is a no-op (sync's `missing`, `fetch`, `commit`).
    ReplayableJson(&'a B),
    Form(&'a B),
}

impl Client {
    /// A builder for the service at `base` (`http://127.0.0.1:8787`, `https://scry.example`).
    pub fn builder(base: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base.into(),
            token: None,
            timeout: Duration::from_secs(30),
            retries: 2,
            max_wait: Duration::from_secs(60),
        }
    }

    /// This client with requests allowed to take up to `timeout` (a commit of a whole large
    /// tree does).
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        Client {
            timeout,
            ..self.clone()
        }
    }

    /// This client with other credentials.
    pub fn with_token(&self, token: impl Into<String>) -> Client {
        Client {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    pub fn base(&self) -> &str {
        self.base.as_str()
    }

    /// `base` with `segments` appended, each percent-encoded.
    fn url(&self, segments: &[&str]) -> url::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked at build: the base can be a base")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// Sends a request and decodes a JSON answer.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: Option<String>,
        body: Body<'_, B>,
    ) -> Result<T> {
        let (url, bytes) = self.send(method, segments, query, body).await?;
        decode(&url, &bytes)
    }

    /// Sends a request whose answer has no body (204, 202).
    async fn call_empty<B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: Body<'_, B>,
    ) -> Result<()> {
        self.send(method, segments, None, body).await.map(|_| ())
    }

    /// Sends with the retries; returns the URL and the body of a 2xx answer.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        query: Option<String>,
        body: Body<'_, B>,
    ) -> Result<(String, Vec<u8>)> {
        let answer = self.send_raw(method, segments, query, body).await?;
        if answer.status.is_success() {
            return Ok((answer.url, answer.body));
        }
        Err(api_error(&answer))
    }

    /// Sends with the retries; returns the final answer, whatever its status.
    async fn send_raw<B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        query: Option<String>,
        body: Body<'_, B>,
    ) -> Result<Answer> {
        let mut url = self.url(segments);
        url.set_query(query.as_deref());
        let idempotent = method != Method::POST || matches!(body, Body::ReplayableJson(_));
        let mut attempt = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .timeout(self.timeout);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            request = match &body {
                Body::None => request,
                Body::Json(b) | Body::ReplayableJson(b) => request.json(b),
                Body::Form(b) => request.form(b),
            };
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if idempotent && attempt < self.retries && !e.is_builder() => {
                    tracing::debug!(%url, "retrying after {e}");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                Err(source) => {
                    return Err(Error::Offline {
                        url: url.to_string(),
                        source,
                    });
                }
            };
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let bytes = response.bytes().await.map_err(|source| Error::Offline {
                url: url.to_string(),
                source,
            })?;
            let wait = retry_after.map_or(backoff(attempt), Duration::from_secs);
            let waitable = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            if waitable && attempt < self.retries && wait <= self.max_wait {
                tracing::debug!(%url, %status, ?wait, "waiting as the service asked");
                tokio::time::sleep(wait + jitter()).await;
                attempt += 1;
                continue;
            }
            return Ok(Answer {
                url: url.to_string(),
                status,
                retry_after,
                body: bytes.to_vec(),
            });
        }
    }
}

/// The final answer to a request.
struct Answer {
    url: String,
    status: StatusCode,
    retry_after: Option<u64>,
    body: Vec<u8>,
}

/// `query` as a query string (`limit=10&after=repo_…`); None when it sets nothing.
fn query_string(query: &impl Serialize) -> Option<String> {
    let fields = serde_json::to_value(query).ok()?;
    let mut url = url::Url::parse("http://q/").expect("a constant URL");
    url.query_pairs_mut()
        .extend_pairs(fields.as_object()?.iter().filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k.clone(), s.clone())),
            serde_json::Value::Null => None,
            other => Some((k.clone(), other.to_string())),
        }));
    url.query().filter(|q| !q.is_empty()).map(str::to_string)
}

fn api_error(answer: &Answer) -> Error {
    match serde_json::from_slice::<scry_api::ErrorBody>(&answer.body) {
        Ok(body) => Error::Api {
            status: answer.status.as_u16(),
            code: body.error.code,
            message: body.error.message,
            retry_after: answer.retry_after,
        },
        Err(_) => Error::Protocol {
            url: answer.url.clone(),
            detail: format!(
                "HTTP {} without the service's error body: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
            ),
        },
    }
}

/// Decodes a JSON answer.
fn decode<T: DeserializeOwned>(url: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Protocol {
        url: url.to_string(),
        detail: format!("a body that does not decode ({e})"),
    })
}

/// 250 ms, 500 ms, 1 s, … before retrying a request that could not be sent.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.min(6))
}

/// Up to a quarter second more, so clients told to wait the same time do not return together.
fn jitter() -> Duration {
    Duration::from_millis(rand::rng().random_range(0..=250))
}
