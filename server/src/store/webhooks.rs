//! Webhooks and their deliveries, for the organisation and for the sender.

use super::*;

#[async_trait]
pub trait Webhooks: Send + Sync {
    async fn create_webhook(
        &self,
        t: &Tenant,
        url: &str,
        events: &[String],
        secret: &str,
        now: i64,
    ) -> Result<Webhook>;
    async fn webhooks(&self, t: &Tenant) -> Result<Vec<Webhook>>;
    async fn delete_webhook(&self, t: &Tenant, id: &str, now: i64) -> Result<()>;
    async fn deliveries(&self, t: &Tenant, webhook_id: &str) -> Result<Vec<Delivery>>;
    /// Up to `limit` deliveries due at `now`, across organisations, oldest first: (delivery
    /// id, org id).
    async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<(String, String)>>;
    /// Claims a due delivery for `lease` seconds (no other sender gets it meanwhile); false
    /// when another sender claimed it first.
    async fn claim_delivery(&self, id: &str, now: i64, lease: i64) -> Result<bool>;
    async fn delivery(&self, t: &Tenant, id: &str) -> Result<Option<DueDelivery>>;
    /// Replaces a webhook's stored secret `old` (stored before secrets were sealed) by `new`.
    async fn reseal_webhook_secret(
        &self,
        t: &Tenant,
        webhook_id: &str,
        old: &str,
        new: &str,
    ) -> Result<()>;
    /// Marks a delivery sent (`retry_at` None and no error), to retry at `retry_at`, or failed.
    async fn delivery_attempted(
        &self,
        t: &Tenant,
        id: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<()>;
}

#[async_trait]
impl Webhooks for SqlStore {
    async fn create_webhook(
        &self,
        t: &Tenant,
        url: &str,
        events: &[String],
        secret: &str,
        now: i64,
    ) -> Result<Webhook> {
        let mut tx = self.org_tx(t, true).await?;
        let hook = Webhook {
            id: new_id("hook"),
            url: url.to_string(),
            events: events.to_vec(),
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO webhooks (id, org_id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&hook.id)
        .bind(&t.org_id)
        .bind(url)
        .bind(events.join(","))
        .bind(secret)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        commit_with(
            tx,
            t,
            "webhook.created",
            &hook.id,
            json!({"url": url, "events": events}),
            now,
        )
        .await?;
        Ok(hook)
    }

    async fn webhooks(&self, t: &Tenant) -> Result<Vec<Webhook>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query("SELECT id, url, events, created_at FROM webhooks WHERE org_id = $1 ORDER BY created_at, id")
            .bind(&t.org_id)
            .fetch_all(&mut *tx)
            .await?;
        rows.iter().map(webhook_from).collect()
    }

    async fn delete_webhook(&self, t: &Tenant, id: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        let n = sqlx::query("DELETE FROM webhooks WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "DELETE FROM webhook_queue WHERE org_id = $1 AND delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2)",
        )
        .bind(&t.org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2")
            .bind(&t.org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit_with(tx, t, "webhook.deleted", id, json!({}), now).await?;
        Ok(())
    }

    async fn deliveries(&self, t: &Tenant, webhook_id: &str) -> Result<Vec<Delivery>> {
        let mut tx = self.org_tx(t, false).await?;
        sqlx::query("SELECT id FROM webhooks WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(webhook_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let rows = sqlx::query(
            "SELECT id, webhook_id, event, status, attempts, next_attempt_at, last_error \
             FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2 ORDER BY created_at, id",
        )
        .bind(&t.org_id)
        .bind(webhook_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get("id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    event: r.try_get("event")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<(String, String)>> {
        let mut tx = self.tx(false, Scope::Global).await?;
        let rows = sqlx::query(
            "SELECT delivery_id, org_id FROM webhook_queue WHERE next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("delivery_id")?, r.try_get("org_id")?)))
            .collect()
    }

    async fn claim_delivery(&self, id: &str, now: i64, lease: i64) -> Result<bool> {
        // The `next_attempt_at` test is what a second replica's UPDATE re-checks after waiting
        // on the first one's row lock (PostgreSQL), so it skips what was just claimed.
        let mut tx = self.tx(true, Scope::Global).await?;
        let n = sqlx::query(
            "UPDATE webhook_queue SET next_attempt_at = $1 \
             WHERE delivery_id = $2 AND next_attempt_at <= $3",
        )
        .bind(now + lease)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn delivery(&self, t: &Tenant, id: &str) -> Result<Option<DueDelivery>> {
        let mut tx = self.org_tx(t, false).await?;
        let row = sqlx::query(
            "SELECT d.id, d.org_id, d.webhook_id, d.payload, d.attempts, w.url, w.secret \
             FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id AND w.org_id = d.org_id \
             WHERE d.org_id = $1 AND d.id = $2 AND d.status = 'pending'",
        )
        .bind(&t.org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        row.map(|r| {
            Ok(DueDelivery {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                webhook_id: r.try_get("webhook_id")?,
                url: r.try_get("url")?,
                secret: r.try_get("secret")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .transpose()
    }

    async fn reseal_webhook_secret(
        &self,
        t: &Tenant,
        webhook_id: &str,
        old: &str,
        new: &str,
    ) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        sqlx::query(
            "UPDATE webhooks SET secret = $1 WHERE org_id = $2 AND id = $3 AND secret = $4",
        )
        .bind(new)
        .bind(&t.org_id)
        .bind(webhook_id)
        .bind(old)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delivery_attempted(
        &self,
        t: &Tenant,
        id: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        let status = match (error, retry_at) {
            (None, _) => "delivered",
            (Some(_), Some(_)) => "pending",
            (Some(_), None) => "failed",
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_error = $2, \
             next_attempt_at = $3 WHERE org_id = $4 AND id = $5",
        )
        .bind(status)
        .bind(error)
        .bind(retry_at.unwrap_or(0))
        .bind(&t.org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        match retry_at {
            Some(at) if error.is_some() => {
                sqlx::query("UPDATE webhook_queue SET next_attempt_at = $1 WHERE delivery_id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {
                sqlx::query("DELETE FROM webhook_queue WHERE delivery_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
