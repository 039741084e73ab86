//! RFC 8628 device authorisation: codes, a person's decision, the device's polls.

use super::*;

#[async_trait]
pub trait Devices: Send + Sync {
    async fn create_device_code(
        &self,
        device_hash: &str,
        user_code: &str,
        client_id: &str,
        now: i64,
        expires: i64,
        interval: i64,
    ) -> Result<()>;
    /// Approves (with the user) or denies a pending code; false when there is none.
    async fn decide_device_code(
        &self,
        user_code: &str,
        user_id: Option<&str>,
        now: i64,
    ) -> Result<bool>;
    async fn poll_device_code(&self, device_hash: &str, now: i64) -> Result<DevicePoll>;
}

#[async_trait]
impl Devices for SqlStore {
    async fn create_device_code(
        &self,
        device_hash: &str,
        user_code: &str,
        client_id: &str,
        now: i64,
        expires: i64,
        interval: i64,
    ) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query("DELETE FROM device_codes WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO device_codes (device_code_hash, user_code, client_id, status, interval_s, \
             last_poll_at, created_at, expires_at) VALUES ($1, $2, $3, 'pending', $4, 0, $5, $6)",
        )
        .bind(device_hash)
        .bind(user_code)
        .bind(client_id)
        .bind(interval)
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "user code collision"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn decide_device_code(
        &self,
        user_code: &str,
        user_id: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let status = if user_id.is_some() {
            "approved"
        } else {
            "denied"
        };
        let n = sqlx::query(
            "UPDATE device_codes SET status = $1, user_id = $2 \
             WHERE user_code = $3 AND status = 'pending' AND expires_at > $4",
        )
        .bind(status)
        .bind(user_id)
        .bind(user_code)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn poll_device_code(&self, device_hash: &str, now: i64) -> Result<DevicePoll> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let Some(row) = sqlx::query(
            "SELECT status, user_id, interval_s, last_poll_at, expires_at FROM device_codes \
             WHERE device_code_hash = $1",
        )
        .bind(device_hash)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(DevicePoll::Unknown);
        };
        let status: String = row.try_get("status")?;
        let interval: i64 = row.try_get("interval_s")?;
        let last_poll: i64 = row.try_get("last_poll_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        if now >= expires {
            return Ok(DevicePoll::Expired);
        }
        let too_soon = now - last_poll < interval;
        // RFC 8628 §3.5: a client polling too fast must wait 5 s longer from then on.
        let (new_interval, poll) = match status.as_str() {
            _ if too_soon && status == "pending" => (interval + 5, DevicePoll::SlowDown),
            "pending" => (interval, DevicePoll::Pending),
            "denied" => (interval, DevicePoll::Denied),
            "approved" => (
                interval,
                DevicePoll::Approved {
                    user_id: row.try_get("user_id")?,
                },
            ),
            _ => (interval, DevicePoll::Unknown),
        };
        let new_status = if matches!(poll, DevicePoll::Approved { .. }) {
            "consumed"
        } else {
            status.as_str()
        };
        sqlx::query(
            "UPDATE device_codes SET last_poll_at = $1, interval_s = $2, status = $3 \
             WHERE device_code_hash = $4",
        )
        .bind(now)
        .bind(new_interval)
        .bind(new_status)
        .bind(device_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(poll)
    }
}
