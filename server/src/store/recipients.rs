//! Key distribution for sync: the public keys members' devices and API keys register, and the
//! org's data key wrapped to each by a client that holds it. Only holders of the key can wrap
//! it; the service stores public keys and ciphertext, and moves the org to a new key epoch when
//! someone who could hold the key leaves.

use super::*;
use scry_api::{NewRecipient, NewRecoveryKey, Recipient, Recipients, WrappedKey};

#[async_trait]
pub trait RecipientKeys: Send + Sync {
    /// Registers the caller's public key (again: the existing one).
    async fn add_recipient(&self, t: &Tenant, new: &NewRecipient, now: i64) -> Result<Recipient>;
    /// The current epoch and the recipients of current members and API keys.
    async fn recipients(&self, t: &Tenant) -> Result<Recipients>;
    /// Stores the data key wrapped to a recipient, for the current epoch only: the first copy
    /// of an epoch to its maker's own recipient, later ones by a holder; the first copy a
    /// recipient gets stays. Whether it was stored now.
    async fn put_wrapped_key(
        &self,
        t: &Tenant,
        recipient: &str,
        key: &WrappedKey,
        now: i64,
    ) -> Result<bool>;
    /// The current epoch's key wrapped to the caller's own recipient.
    async fn wrapped_key(&self, t: &Tenant, recipient: &str) -> Result<WrappedKey>;
    /// Removes a recipient (its owner, or an admin); the key epoch moves on if it held a key.
    async fn remove_recipient(&self, t: &Tenant, recipient: &str, now: i64) -> Result<()>;
    /// Records that the current epoch's recovery key is written down (once per epoch; the
    /// check proves the caller holds that key). Owners only: the caller checks the role.
    async fn issue_recovery_key(&self, t: &Tenant, key: &NewRecoveryKey, now: i64) -> Result<()>;
}

const RECIPIENT_COLUMNS: &str = "r.id, r.owner, r.public_key, r.label, r.created_at";

fn recipient_from(row: &sqlx::any::AnyRow, has_key: bool) -> Result<Recipient> {
    Ok(Recipient {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        public_key: row.try_get("public_key")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        has_key,
    })
}

pub(super) async fn key_epoch(tx: &mut Transaction<'static, Any>, org_id: &str) -> Result<i64> {
    Ok(sqlx::query("SELECT key_epoch FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_get("key_epoch")?)
}

/// Who registered `recipient` (a user or an API key); not found when it is not the org's.
async fn recipient_owner(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    recipient: &str,
) -> Result<String> {
    Ok(
        sqlx::query("SELECT owner FROM recipients WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(recipient)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_get("owner")?,
    )
}

#[async_trait]
impl RecipientKeys for SqlStore {
    async fn add_recipient(&self, t: &Tenant, new: &NewRecipient, now: i64) -> Result<Recipient> {
        let mut tx = self.org_tx(t, true).await?;
        let existing = sqlx::query(&format!(
            "SELECT {RECIPIENT_COLUMNS} FROM recipients r WHERE r.org_id = $1 AND r.public_key = $2"
        ))
        .bind(&t.org_id)
        .bind(&new.public_key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            let found = recipient_from(&row, false)?;
            if found.owner != t.actor {
                return Err(StoreError::Conflict(
                    "this public key is registered by someone else".into(),
                ));
            }
            drop(tx);
            return Ok(self
                .recipients(t)
                .await?
                .recipients
                .into_iter()
                .find(|r| r.id == found.id)
                .unwrap_or(found));
        }
        let recipient = Recipient {
            id: new_id("rcpt"),
            owner: t.actor.clone(),
            public_key: new.public_key.clone(),
            label: new.label.clone(),
            created_at: now,
            has_key: false,
        };
        sqlx::query(
            "INSERT INTO recipients (id, org_id, owner, public_key, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&recipient.id)
        .bind(&t.org_id)
        .bind(&recipient.owner)
        .bind(&recipient.public_key)
        .bind(&recipient.label)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "this public key is registered already"))?;
        let details = json!({"label": recipient.label, "public_key": recipient.public_key});
        commit_with(tx, t, "recipient.added", &recipient.id, details, now).await?;
        Ok(recipient)
    }

    async fn recipients(&self, t: &Tenant) -> Result<Recipients> {
        let mut tx = self.org_tx(t, false).await?;
        let epoch = key_epoch(&mut tx, &t.org_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {RECIPIENT_COLUMNS}, (SELECT COUNT(*) FROM wrapped_keys w \
             WHERE w.org_id = r.org_id AND w.recipient = r.id AND w.epoch = $2) AS wrapped \
             FROM recipients r WHERE r.org_id = $1 ORDER BY r.created_at, r.id"
        ))
        .bind(&t.org_id)
        .bind(epoch)
        .fetch_all(&mut *tx)
        .await?;
        let recipients = rows
            .iter()
            .map(|r| recipient_from(r, r.try_get::<i64, _>("wrapped")? > 0))
            .collect::<Result<_>>()?;
        let recovery_epoch = sqlx::query("SELECT recovery_epoch FROM orgs WHERE id = $1")
            .bind(&t.org_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("recovery_epoch")?;
        Ok(Recipients {
            epoch,
            recipients,
            recovery_epoch,
        })
    }

    async fn put_wrapped_key(
        &self,
        t: &Tenant,
        recipient: &str,
        key: &WrappedKey,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let epoch = key_epoch(&mut tx, &t.org_id).await?;
        if key.epoch != epoch {
            return Err(StoreError::Conflict(format!(
                "the org's key epoch is {epoch}, not {}",
                key.epoch
            )));
        }
        let owner = recipient_owner(&mut tx, &t.org_id, recipient).await?;
        // One key per epoch: the first copy goes to its maker's own recipient (two devices
        // making one at once: the second is refused and waits for a copy); after that, only a
        // holder hands it on.
        let holders: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM wrapped_keys WHERE org_id = $1 AND epoch = $2")
                .bind(&t.org_id)
                .bind(epoch)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        let caller_holds: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM wrapped_keys w JOIN recipients r \
             ON r.org_id = w.org_id AND r.id = w.recipient \
             WHERE w.org_id = $1 AND w.epoch = $2 AND r.owner = $3",
        )
        .bind(&t.org_id)
        .bind(epoch)
        .bind(&t.actor)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        // Every copy of an epoch carries the first one's check: a copy of another key (a
        // device that made its own at the same time, a stale one) is refused, and whoever
        // presents the check holds the key (restored from a recovery key) and may give their
        // own device a copy.
        let epoch_check: Option<String> = sqlx::query(
            "SELECT key_check FROM wrapped_keys WHERE org_id = $1 AND epoch = $2 \
             AND key_check <> '' LIMIT 1",
        )
        .bind(&t.org_id)
        .bind(epoch)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("key_check"))
        .transpose()?;
        if epoch_check.as_ref().is_some_and(|c| *c != key.check) {
            return Err(StoreError::Conflict(
                "this is not the org's current key (its check differs)".into(),
            ));
        }
        let allowed = if holders == 0 {
            owner == t.actor
        } else {
            caller_holds > 0 || (owner == t.actor && epoch_check.is_some())
        };
        if !allowed {
            return Err(StoreError::Conflict(
                "only a holder of the org's current key hands it on (the first copy goes to its \
                 maker's own device)"
                    .into(),
            ));
        }
        let stored = sqlx::query(
            "INSERT INTO wrapped_keys \
             (org_id, epoch, recipient, wrapped, wrapped_by, created_at, key_check) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (org_id, epoch, recipient) DO NOTHING",
        )
        .bind(&t.org_id)
        .bind(epoch)
        .bind(recipient)
        .bind(&key.wrapped)
        .bind(&t.actor)
        .bind(now)
        .bind(&key.check)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if stored {
            let details = json!({"epoch": epoch});
            commit_with(tx, t, "recipient.key_wrapped", recipient, details, now).await?;
        }
        Ok(stored)
    }

    async fn wrapped_key(&self, t: &Tenant, recipient: &str) -> Result<WrappedKey> {
        let mut tx = self.org_tx(t, false).await?;
        let epoch = key_epoch(&mut tx, &t.org_id).await?;
        // Only the recipient's owner reads it; anyone else is told it does not exist.
        let row = sqlx::query(
            "SELECT w.wrapped, w.key_check FROM wrapped_keys w JOIN recipients r \
             ON r.org_id = w.org_id AND r.id = w.recipient \
             WHERE w.org_id = $1 AND w.recipient = $2 AND w.epoch = $3 AND r.owner = $4",
        )
        .bind(&t.org_id)
        .bind(recipient)
        .bind(epoch)
        .bind(&t.actor)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(WrappedKey {
            epoch,
            wrapped: row.try_get("wrapped")?,
            check: row.try_get("key_check")?,
        })
    }

    async fn remove_recipient(&self, t: &Tenant, recipient: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let owner = recipient_owner(&mut tx, &t.org_id, recipient).await?;
        if owner != t.actor && t.role < Role::Admin {
            return Err(StoreError::Forbidden(
                "only its owner or an admin removes a recipient".into(),
            ));
        }
        let rotated = forget(&mut tx, &t.org_id, &[recipient.to_string()]).await?;
        commit_with(
            tx,
            t,
            "recipient.removed",
            recipient,
            json!({"key_rotated": rotated}),
            now,
        )
        .await
    }

    async fn issue_recovery_key(&self, t: &Tenant, key: &NewRecoveryKey, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let epoch = key_epoch(&mut tx, &t.org_id).await?;
        if key.epoch != epoch {
            return Err(StoreError::Conflict(format!(
                "the org's key epoch is {epoch}, not {}: its key was replaced",
                key.epoch
            )));
        }
        let held: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM wrapped_keys WHERE org_id = $1 AND epoch = $2 \
             AND key_check = $3",
        )
        .bind(&t.org_id)
        .bind(epoch)
        .bind(&key.check)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if held == 0 {
            return Err(StoreError::Conflict(
                "that is not the org's current key (its check matches no copy)".into(),
            ));
        }
        let issued = sqlx::query(
            "UPDATE orgs SET recovery_epoch = $1 WHERE id = $2 \
             AND (recovery_epoch IS NULL OR recovery_epoch <> $1)",
        )
        .bind(epoch)
        .bind(&t.org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if issued == 0 {
            return Err(StoreError::Conflict(format!(
                "the recovery key of the org's key epoch {epoch} was written down already (the \
                 audit log says by whom and when); the next key, after a member or key leaves, \
                 gets its own"
            )));
        }
        let details = json!({"epoch": epoch});
        commit_with(tx, t, "org.recovery_key_issued", &t.org_id, details, now).await
    }
}

/// Forgets the recipients whose owner is no longer a member or a live API key of the org
/// (after a removal, a demotion that revoked keys, a key's revocation); whether the key epoch
/// moved on.
pub(super) async fn prune_recipients(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
) -> Result<bool> {
    let gone: Vec<String> = sqlx::query(
        "SELECT id FROM recipients WHERE org_id = $1 \
         AND owner NOT IN (SELECT user_id FROM memberships WHERE org_id = $1) \
         AND owner NOT IN (SELECT id FROM api_keys WHERE org_id = $1)",
    )
    .bind(org_id)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect::<Result<_, _>>()?;
    forget(tx, org_id, &gone).await
}

/// Deletes `recipients` and their wrapped keys; when one of them held the current key, the
/// org moves to the next epoch (its holder must not read what is synced next).
async fn forget(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    recipients: &[String],
) -> Result<bool> {
    let epoch = key_epoch(tx, org_id).await?;
    let mut held = false;
    for id in recipients {
        held |= sqlx::query(
            "DELETE FROM wrapped_keys WHERE org_id = $1 AND recipient = $2 AND epoch = $3",
        )
        .bind(org_id)
        .bind(id)
        .bind(epoch)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            > 0;
        sqlx::query("DELETE FROM wrapped_keys WHERE org_id = $1 AND recipient = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM recipients WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    if held {
        sqlx::query("UPDATE orgs SET key_epoch = key_epoch + 1 WHERE id = $1")
            .bind(org_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(held)
}
