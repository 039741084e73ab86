//! Webhook delivery, signed like Standard Webhooks: headers `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, retried with
//! exponential back-off until `max_attempts`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::clock::Clock;
use crate::model::{DueDelivery, Role};
use crate::store::{Storage, Tenant};

pub fn new_secret() -> String {
    format!("whsec_{}", STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// The `webhook-signature` header of `body` sent as message `id` at `timestamp`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|s| STANDARD.decode(s).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Seconds before attempt `attempts + 1`: 10 s, 20 s, 40 s, … capped at an hour.
pub fn backoff(attempts: i64) -> i64 {
    (10i64 << attempts.clamp(0, 12)).min(3600)
}

pub struct Sender {
    pub store: Arc<dyn Storage>,
    pub clock: Arc<dyn Clock>,
    pub http: reqwest::Client,
    pub max_attempts: i64,
}

impl Sender {
    pub fn new(store: Arc<dyn Storage>, clock: Arc<dyn Clock>, max_attempts: i64) -> Sender {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client without TLS settings builds");
        Sender {
            store,
            clock,
            http,
            max_attempts,
        }
    }

    /// Sends every delivery due now; returns how many were attempted.
    pub async fn send_due(&self) -> usize {
        let now = self.clock.now();
        let due = match self.store.due_deliveries(now, 100).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!("webhook queue: {e}");
                return 0;
            }
        };
        let mut attempted = 0;
        for (id, org_id) in due {
            let tenant = Tenant::new(&org_id, "webhook-sender", Role::Viewer);
            match self.store.delivery(&tenant, &id).await {
                Ok(Some(delivery)) => {
                    attempted += 1;
                    self.attempt(&tenant, delivery, now).await;
                }
                // Its webhook went away: nothing to send.
                Ok(None) => {
                    let _ = self
                        .store
                        .delivery_attempted(&tenant, &id, Some("webhook deleted"), None)
                        .await;
                }
                Err(e) => tracing::warn!("webhook delivery {id}: {e}"),
            }
        }
        attempted
    }

    async fn attempt(&self, tenant: &Tenant, d: DueDelivery, now: i64) {
        let response = self
            .http
            .post(&d.url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", sign(&d.secret, &d.id, now, &d.payload))
            .body(d.payload.clone())
            .send()
            .await;
        let error = match response {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Some(e.to_string()),
        };
        let retry_at = (d.attempts + 1 < self.max_attempts).then(|| now + backoff(d.attempts));
        if let Some(e) = &error {
            tracing::info!(
                delivery = d.id,
                attempts = d.attempts + 1,
                "webhook failed: {e}"
            );
        }
        if let Err(e) = self
            .store
            .delivery_attempted(tenant, &d.id, error.as_deref(), retry_at)
            .await
        {
            tracing::warn!("recording webhook delivery {}: {e}", d.id);
        }
    }

    /// Runs until `stop` fires, looking for due deliveries every `every`.
    pub async fn run(self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            self.send_due().await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), 10);
        assert_eq!(backoff(1), 20);
        assert_eq!(backoff(20), 3600);
    }
}
