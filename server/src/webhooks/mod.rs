//! Webhook delivery, signed like Standard Webhooks: headers `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, retried with
//! exponential back-off until `max_attempts`. Targets are restricted ([`target`]).

pub mod target;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::Config;
use crate::model::{DueDelivery, Role};
use crate::secrets::{Opened, SecretBox};
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

/// Sends due deliveries. Each organisation has at most `per_org` deliveries in flight, so a
/// tenant whose endpoints hang holds up only its own; the rest are sent concurrently.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    secrets: SecretBox,
    http: reqwest::Client,
    max_attempts: i64,
    per_org: usize,
    allow_private: bool,
    /// Deliveries in flight per organisation.
    in_flight: Mutex<HashMap<String, usize>>,
}

/// Deliveries in flight at once, across organisations.
const MAX_IN_FLIGHT: usize = 64;

impl Sender {
    pub fn new(
        store: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        secrets: SecretBox,
        config: &Config,
    ) -> Sender {
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.webhook_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the address check.
            .no_proxy();
        if !config.webhook_allow_private_targets {
            http = http.dns_resolver(Arc::new(target::PublicResolver));
        }
        Sender {
            inner: Arc::new(Inner {
                store,
                clock,
                secrets,
                http: http
                    .build()
                    .expect("an HTTP client without TLS settings builds"),
                max_attempts: config.webhook_max_attempts,
                per_org: config.webhook_concurrency_per_org,
                allow_private: config.webhook_allow_private_targets,
                in_flight: Mutex::default(),
            }),
        }
    }

    /// Claims the deliveries due now that their organisations have room for and sends them
    /// concurrently; returns how many were attempted once all are done.
    pub async fn send_due(&self) -> usize {
        let mut round = self.start_round().await;
        let mut attempted = 0;
        while let Some(done) = round.join_next().await {
            attempted += usize::from(done.unwrap_or(false));
        }
        attempted
    }

    /// Claims what is due and starts sending it; the tasks end by themselves.
    async fn start_round(&self) -> JoinSet<bool> {
        let now = self.inner.clock.now();
        let mut round = JoinSet::new();
        let due = match self.inner.store.due_deliveries(now, 200).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!("webhook queue: {e}");
                return round;
            }
        };
        for (id, org_id) in due {
            if !self.inner.take_slot(&org_id) {
                continue;
            }
            match self
                .inner
                .store
                .claim_delivery(&id, now, DELIVERY_LEASE_S)
                .await
            {
                Ok(true) => {
                    let inner = self.inner.clone();
                    round.spawn(async move {
                        let sent = inner.deliver(&org_id, &id, now).await;
                        inner.give_slot(&org_id);
                        sent
                    });
                }
                Ok(false) => self.inner.give_slot(&org_id),
                Err(e) => {
                    self.inner.give_slot(&org_id);
                    tracing::warn!("claiming webhook delivery {id}: {e}");
                }
            }
        }
        round
    }

    /// Runs until `stop` fires, looking for due deliveries every `every` without waiting for
    /// the previous round's slow endpoints; at stop, waits for what is in flight.
    pub async fn run(self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut rounds = JoinSet::new();
        loop {
            let round = self.start_round().await;
            rounds.spawn(round.join_all());
            while rounds.try_join_next().is_some() {}
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => break,
            }
        }
        while rounds.join_next().await.is_some() {}
    }
}

/// How long a sender holds a delivery it claimed: longer than any delivery's timeout, so no
/// other replica sends it meanwhile; a replica that dies leaves it due again after that.
const DELIVERY_LEASE_S: i64 = 60;

impl Inner {
    fn take_slot(&self, org_id: &str) -> bool {
        let mut in_flight = self.in_flight.lock().expect("the sender's counts");
        let total: usize = in_flight.values().sum();
        let org = in_flight.entry(org_id.to_string()).or_default();
        if *org >= self.per_org || total >= MAX_IN_FLIGHT {
            return false;
        }
        *org += 1;
        true
    }

    fn give_slot(&self, org_id: &str) {
        let mut in_flight = self.in_flight.lock().expect("the sender's counts");
        if let Some(n) = in_flight.get_mut(org_id) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(org_id);
            }
        }
    }

    /// Sends one claimed delivery; false when there was nothing to send.
    async fn deliver(&self, org_id: &str, id: &str, now: i64) -> bool {
        let tenant = Tenant::new(org_id, "webhook-sender", Role::Viewer);
        match self.store.delivery(&tenant, id).await {
            Ok(Some(delivery)) => {
                self.attempt(&tenant, delivery, now).await;
                true
            }
            // Its webhook went away: nothing to send.
            Ok(None) => {
                let _ = self
                    .store
                    .delivery_attempted(&tenant, id, Some("webhook deleted"), None)
                    .await;
                false
            }
            Err(e) => {
                tracing::warn!("webhook delivery {id}: {e}");
                false
            }
        }
    }

    async fn attempt(&self, tenant: &Tenant, d: DueDelivery, now: i64) {
        let outcome = match self.secret(tenant, &d).await {
            Some(secret) => self.post(&d, &secret, now).await,
            None => Err("failed (secret unreadable)".to_string()),
        };
        let error = outcome.err();
        let retry_at = (d.attempts + 1 < self.max_attempts).then(|| now + backoff(d.attempts));
        if let Err(e) = self
            .store
            .delivery_attempted(tenant, &d.id, error.as_deref(), retry_at)
            .await
        {
            tracing::warn!("recording webhook delivery {}: {e}", d.id);
        }
    }

    /// Posts the delivery. The error the organisation sees says only `failed (status N)` or
    /// `unreachable`: what went wrong on the way (refused, reset, timed out, no public address)
    /// would map the network behind the URL. The log keeps it.
    async fn post(&self, d: &DueDelivery, secret: &str, now: i64) -> Result<(), String> {
        let url = target::parse(&d.url).map_err(|_| "unreachable".to_string())?;
        if !self.allow_private && target::check_host(&url).is_err() {
            tracing::info!(delivery = d.id, "webhook target is not a public address");
            return Err("unreachable".into());
        }
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", sign(secret, &d.id, now, &d.payload))
            .body(d.payload.clone())
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("failed (status {})", r.status().as_u16())),
            Err(e) => {
                tracing::info!(
                    delivery = d.id,
                    attempts = d.attempts + 1,
                    "webhook failed: {e}"
                );
                Err("unreachable".into())
            }
        }
    }

    /// The delivery's signing secret in the clear; one stored before secrets were sealed is
    /// sealed now.
    async fn secret(&self, tenant: &Tenant, d: &DueDelivery) -> Option<String> {
        match self.secrets.open(&d.secret) {
            Ok(Opened::Sealed(s)) => Some(s),
            Ok(Opened::Legacy(s)) => {
                let sealed = self.secrets.seal(&s);
                if let Err(e) = self
                    .store
                    .reseal_webhook_secret(tenant, &d.webhook_id, &d.secret, &sealed)
                    .await
                {
                    tracing::warn!("sealing webhook {}'s secret: {e}", d.webhook_id);
                }
                Some(s)
            }
            Err(why) => {
                tracing::error!(webhook = d.webhook_id, "webhook secret: {why}");
                None
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
