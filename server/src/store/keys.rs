//! API keys: the grant a key carries, and keys made, listed and revoked.

use super::*;

#[async_trait]
pub trait Keys: Send + Sync {
    async fn api_key_grant(&self, key_hash: &str, now: i64) -> Result<Option<KeyGrant>>;
    async fn create_api_key(
        &self,
        t: &Tenant,
        name: &str,
        role: Role,
        prefix: &str,
        key_hash: &str,
        now: i64,
    ) -> Result<ApiKey>;
    async fn api_keys(&self, t: &Tenant) -> Result<Vec<ApiKey>>;
    async fn revoke_api_key(&self, t: &Tenant, id: &str, now: i64) -> Result<()>;
}

#[async_trait]
impl Keys for SqlStore {
    async fn api_key_grant(&self, key_hash: &str, now: i64) -> Result<Option<KeyGrant>> {
        let mut tx = self.tx(false, Scope::KeyHash(key_hash)).await?;
        let row =
            sqlx::query("SELECT id, org_id, role, last_used_at FROM api_keys WHERE key_hash = $1")
                .bind(key_hash)
                .fetch_optional(&mut *tx)
                .await?;
        drop(tx);
        let Some(row) = row else { return Ok(None) };
        let grant = KeyGrant {
            key_id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            role: role_of(&row.try_get::<String, _>("role")?)?,
        };
        // Last use is kept to the minute: a write on every request would serialise reads.
        let last: Option<i64> = row.try_get("last_used_at")?;
        if last.is_none_or(|l| now - l >= 60) {
            let mut tx = self.tx(true, Scope::Org(&grant.org_id)).await?;
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND org_id = $3")
                .bind(now)
                .bind(&grant.key_id)
                .bind(&grant.org_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(Some(grant))
    }

    async fn create_api_key(
        &self,
        t: &Tenant,
        name: &str,
        role: Role,
        prefix: &str,
        key_hash: &str,
        now: i64,
    ) -> Result<ApiKey> {
        let mut tx = self.org_tx(t, true).await?;
        let key = ApiKey {
            id: new_id("key"),
            name: name.to_string(),
            role,
            prefix: prefix.to_string(),
            created_by: t.actor.clone(),
            created_at: now,
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, role, prefix, key_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&t.org_id)
        .bind(name)
        .bind(role.as_str())
        .bind(prefix)
        .bind(key_hash)
        .bind(&t.actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        commit_with(
            tx,
            t,
            "api_key.created",
            &key.id,
            json!({"name": name, "role": role, "prefix": prefix}),
            now,
        )
        .await?;
        Ok(key)
    }

    async fn api_keys(&self, t: &Tenant) -> Result<Vec<ApiKey>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT id, name, role, prefix, created_by, created_at, last_used_at FROM api_keys \
             WHERE org_id = $1 ORDER BY created_at, id",
        )
        .bind(&t.org_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter().map(key_from).collect()
    }

    async fn revoke_api_key(&self, t: &Tenant, id: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        let n = sqlx::query("DELETE FROM api_keys WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        // What the key invited goes with it.
        let invitations =
            sqlx::query("DELETE FROM invitations WHERE org_id = $1 AND invited_by = $2")
                .bind(&t.org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let rotated = recipients::prune_recipients(&mut tx, &t.org_id).await?;
        commit_with(
            tx,
            t,
            "api_key.revoked",
            id,
            json!({"invitations_revoked": invitations, "key_rotated": rotated}),
            now,
        )
        .await?;
        Ok(())
    }
}
