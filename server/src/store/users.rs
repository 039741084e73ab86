//! Users and sessions (not tenant data): sign-up, credentials, email verification, the
//! throttles counted before anyone is known, and the collection of what expired.

use super::*;

#[async_trait]
pub trait Users: Send + Sync {
    /// Whether the database answers (readiness).
    async fn ping(&self) -> Result<()>;
    async fn create_user(&self, email: &str, password_hash: &str, now: i64) -> Result<User>;
    async fn credentials(&self, email: &str) -> Result<Option<Credentials>>;
    async fn user(&self, id: &str) -> Result<Option<User>>;
    async fn create_session(&self, hash: &str, user_id: &str, now: i64, expires: i64)
    -> Result<()>;
    async fn session_user(&self, hash: &str, now: i64) -> Result<Option<String>>;
    async fn delete_session(&self, hash: &str) -> Result<()>;
    /// Stores a one-time email verification token (its hash) for the user.
    async fn create_email_token(&self, hash: &str, user_id: &str, expires: i64) -> Result<()>;
    /// Marks the token's user verified and spends the token; None for an unknown or expired
    /// token.
    async fn verify_email(&self, hash: &str, now: i64) -> Result<Option<User>>;
    /// Adds `add` to the count under `key` (a hash) in its current `window`-second window,
    /// starting a new window when the last one ended; returns the count. A negative `add`
    /// hands attempts back within the current window, never below zero (the count returned
    /// is then 0).
    async fn throttle(&self, key: &str, now: i64, window: i64, add: i64) -> Result<Throttled>;
    async fn throttle_clear(&self, key: &str) -> Result<()>;
    /// Deletes expired sessions, device codes, email tokens and throttle windows.
    async fn collect_expired(&self, now: i64) -> Result<u64>;
}

#[async_trait]
impl Users for SqlStore {
    async fn ping(&self) -> Result<()> {
        Ok(self.db.ping().await?)
    }

    async fn create_user(&self, email: &str, password_hash: &str, now: i64) -> Result<User> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let user = User {
            id: new_id("usr"),
            email: email.to_string(),
            email_verified: false,
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&user.id)
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "a user with this email exists"))?;
        tx.commit().await?;
        Ok(user)
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
        let mut tx = self.tx(false, Scope::Global).await?;
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?;
        row.map(|r| {
            Ok(Credentials {
                user: user_from(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        let mut tx = self.tx(false, Scope::Global).await?;
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn create_session(
        &self,
        hash: &str,
        user_id: &str,
        now: i64,
        expires: i64,
    ) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(user_id)
            .bind(now)
            .bind(expires)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_user(&self, hash: &str, now: i64) -> Result<Option<String>> {
        let mut tx = self.tx(false, Scope::Global).await?;
        let row =
            sqlx::query("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
        Ok(row.map(|r| r.try_get("user_id")).transpose()?)
    }

    async fn delete_session(&self, hash: &str) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_email_token(&self, hash: &str, user_id: &str, expires: i64) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(expires)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn verify_email(&self, hash: &str, now: i64) -> Result<Option<User>> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let Some(row) = sqlx::query(
            "DELETE FROM email_tokens WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let user_id: String = row.try_get("user_id")?;
        sqlx::query(
            "UPDATE users SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL",
        )
        .bind(now)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        let user = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(&user_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        user.as_ref().map(user_from).transpose()
    }

    async fn throttle(&self, key: &str, now: i64, window: i64, add: i64) -> Result<Throttled> {
        let mut tx = self.tx(true, Scope::Global).await?;
        self.db.counters_only(&mut tx).await?;
        let start = now - now.rem_euclid(window);
        if add < 0 {
            // Handing back never goes below zero, nor into a window the attempt was not in.
            sqlx::query(
                "UPDATE throttles SET hits = hits + $1 \
                 WHERE key = $2 AND window_start = $3 AND hits + $1 >= 0",
            )
            .bind(add)
            .bind(key)
            .bind(start)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Throttled {
                hits: 0,
                resets_at: start + window,
            });
        }
        let row = sqlx::query(
            "INSERT INTO throttles (key, window_start, hits) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN throttles.window_start = $2 THEN throttles.hits + $3 ELSE $3 END, \
               window_start = $2 \
             RETURNING hits",
        )
        .bind(key)
        .bind(start)
        .bind(add)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Throttled {
            hits: row.try_get("hits")?,
            resets_at: start + window,
        })
    }

    async fn throttle_clear(&self, key: &str) -> Result<()> {
        let mut tx = self.tx(true, Scope::Global).await?;
        sqlx::query("DELETE FROM throttles WHERE key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn collect_expired(&self, now: i64) -> Result<u64> {
        let mut tx = self.tx(true, Scope::Global).await?;
        let mut n = 0;
        for sql in [
            "DELETE FROM sessions WHERE expires_at <= $1",
            "DELETE FROM device_codes WHERE expires_at <= $1 OR status = 'consumed'",
            "DELETE FROM email_tokens WHERE expires_at <= $1",
            // A window that ended a day ago counts nothing any more.
            "DELETE FROM throttles WHERE window_start < $1 - 86400",
        ] {
            n += sqlx::query(sql)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }
}
