//! What an organisation did: requests against its rate limit, usage per day, the audit log
//! and its events, the export.

use super::*;

#[async_trait]
pub trait Activity: Send + Sync {
    /// Reads the organisation and counts a request in `bucket`'s current minute, in one
    /// transaction; `per_minute` gives the org's limit from its tier. `Err(seconds)` to wait
    /// when over it.
    async fn record_request(
        &self,
        t: &Tenant,
        bucket: RateBucket,
        now: i64,
        per_minute: &(dyn for<'o> Fn(&'o Org) -> i64 + Sync),
    ) -> Result<(Org, std::result::Result<(), i64>)>;
    async fn usage(&self, t: &Tenant, from: &str, to: &str) -> Result<Vec<UsageDay>>;
    async fn audit(&self, t: &Tenant, limit: i64, after: &str) -> Result<Page<AuditEntry>>;
    /// Records an event in the audit log and queues it for the webhooks that want it.
    async fn record_event(
        &self,
        t: &Tenant,
        event: &str,
        target: &str,
        details: serde_json::Value,
        now: i64,
    ) -> Result<()>;
    async fn export(&self, t: &Tenant) -> Result<serde_json::Value>;
}

#[async_trait]
impl Activity for SqlStore {
    async fn record_request(
        &self,
        t: &Tenant,
        bucket: RateBucket,
        now: i64,
        per_minute: &(dyn for<'o> Fn(&'o Org) -> i64 + Sync),
    ) -> Result<(Org, std::result::Result<(), i64>)> {
        let table = match bucket {
            RateBucket::Api => "rate_windows",
            RateBucket::Sync => "sync_rate_windows",
        };
        let window = now - now.rem_euclid(60);
        let mut tx = self.org_tx(t, true).await?;
        self.db.counters_only(&mut tx).await?;
        let row = sqlx::query(&format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE o.id = $1"))
            .bind(&t.org_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let org = org_from(&row)?;
        let per_minute = per_minute(&org);
        let hits: i64 = sqlx::query(&format!(
            "INSERT INTO {table} (org_id, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (org_id, window_start) DO UPDATE SET hits = {table}.hits + 1 RETURNING hits"
        ))
        .bind(&t.org_id)
        .bind(window)
        .fetch_one(&mut *tx)
        .await?
        .try_get("hits")?;
        if hits == 1 {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE org_id = $1 AND window_start < $2"
            ))
            .bind(&t.org_id)
            .bind(window)
            .execute(&mut *tx)
            .await?;
        }
        let verdict = if hits > per_minute {
            Err(window + 60 - now)
        } else {
            add_usage(&mut tx, &t.org_id, now, "requests", 1).await?;
            Ok(())
        };
        tx.commit().await?;
        Ok((org, verdict))
    }

    async fn usage(&self, t: &Tenant, from: &str, to: &str) -> Result<Vec<UsageDay>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT day, kind, amount FROM usage_daily WHERE org_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
        )
        .bind(&t.org_id)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        let mut days: Vec<UsageDay> = Vec::new();
        for r in rows {
            let day: String = r.try_get("day")?;
            if days.last().is_none_or(|d| d.day != day) {
                days.push(UsageDay {
                    day: day.clone(),
                    requests: 0,
                    repos_created: 0,
                    chunks_stored: 0,
                    searches: 0,
                });
            }
            let entry = days.last_mut().expect("pushed");
            let amount: i64 = r.try_get("amount")?;
            match r.try_get::<String, _>("kind")?.as_str() {
                "requests" => entry.requests = amount,
                "repos_created" => entry.repos_created = amount,
                "chunks_stored" => entry.chunks_stored = amount,
                "searches" => entry.searches = amount,
                _ => {}
            }
        }
        Ok(days)
    }

    async fn audit(&self, t: &Tenant, limit: i64, after: &str) -> Result<Page<AuditEntry>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, details FROM audit_log \
             WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(&t.org_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                let details: String = r.try_get("details")?;
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |e| e.id.clone()))
    }

    async fn record_event(
        &self,
        t: &Tenant,
        action: &str,
        target: &str,
        details: serde_json::Value,
        now: i64,
    ) -> Result<()> {
        let tx = self.org_tx(t, true).await?;
        commit_with(tx, t, action, target, details, now).await
    }

    async fn export(&self, t: &Tenant) -> Result<serde_json::Value> {
        let org = self.org(t).await?;
        let audit = self.audit(t, i64::MAX, "").await?.items;
        let repos = self.repos(t, i64::MAX, "").await?.items;
        let hooks = self.webhooks(t).await?;
        let mut deliveries = Vec::new();
        for hook in &hooks {
            deliveries.extend(self.deliveries(t, &hook.id).await?);
        }
        Ok(json!({
            "org": org,
            "members": self.members(t).await?,
            "invitations": self.invitations(t).await?,
            "repos": repos,
            "api_keys": self.api_keys(t).await?,
            "webhooks": hooks,
            "webhook_deliveries": deliveries,
            "usage": self.usage(t, "0000-00-00", "9999-99-99").await?,
            "audit": audit,
        }))
    }
}
