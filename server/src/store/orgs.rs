//! Organisations, their members and invitations.

use super::*;

#[async_trait]
pub trait Orgs: Send + Sync {
    async fn member_role(&self, user_id: &str, org_id: &str) -> Result<Option<Role>>;
    async fn orgs_of(&self, user_id: &str) -> Result<Vec<OrgMembership>>;
    /// Joins the invitation's organisation; returns it and the role.
    async fn accept_invitation(
        &self,
        token_hash: &str,
        user: &User,
        now: i64,
    ) -> Result<(String, Role)>;
    async fn create_org(&self, t: &Tenant, name: &str, tier: &str, now: i64) -> Result<Org>;
    async fn org(&self, t: &Tenant) -> Result<Org>;
    async fn set_sealed_snippets(&self, t: &Tenant, on: bool, now: i64) -> Result<Org>;
    async fn set_tier(
        &self,
        t: &Tenant,
        tier: &str,
        custom: Option<Limits>,
        now: i64,
    ) -> Result<Org>;
    async fn delete_org(&self, t: &Tenant, now: i64) -> Result<()>;
    async fn members(&self, t: &Tenant) -> Result<Vec<Member>>;
    async fn set_member_role(&self, t: &Tenant, user_id: &str, role: Role, now: i64) -> Result<()>;
    async fn remove_member(&self, t: &Tenant, user_id: &str, now: i64) -> Result<()>;
    async fn create_invitation(
        &self,
        t: &Tenant,
        email: &str,
        role: Role,
        token_hash: &str,
        now: i64,
        expires: i64,
    ) -> Result<Invitation>;
    async fn invitations(&self, t: &Tenant) -> Result<Vec<Invitation>>;
    async fn revoke_invitation(&self, t: &Tenant, id: &str, now: i64) -> Result<()>;
    /// The organisation's repositories and the chunks their synced indexes hold.
    async fn holdings(&self, t: &Tenant) -> Result<(i64, i64)>;
}

#[async_trait]
impl Orgs for SqlStore {
    async fn member_role(&self, user_id: &str, org_id: &str) -> Result<Option<Role>> {
        let mut tx = self.tx(false, Scope::User(user_id)).await?;
        let row = sqlx::query("SELECT role FROM memberships WHERE user_id = $1 AND org_id = $2")
            .bind(user_id)
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?;
        row.map(|r| role_of(&r.try_get::<String, _>("role")?))
            .transpose()
    }

    async fn orgs_of(&self, user_id: &str) -> Result<Vec<OrgMembership>> {
        let mut tx = self.tx(false, Scope::User(user_id)).await?;
        let rows = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS}, m.role FROM memberships m JOIN orgs o ON o.id = m.org_id \
             WHERE m.user_id = $1 ORDER BY o.created_at, o.id"
        ))
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OrgMembership {
                    org: org_from(r)?,
                    role: role_of(&r.try_get::<String, _>("role")?)?,
                })
            })
            .collect()
    }

    async fn accept_invitation(
        &self,
        token_hash: &str,
        user: &User,
        now: i64,
    ) -> Result<(String, Role)> {
        let mut tx = self.tx(true, Scope::InviteHash(token_hash)).await?;
        let row = sqlx::query(
            "SELECT id, org_id, email, role, expires_at FROM invitations WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let email: String = row.try_get("email")?;
        let expires: i64 = row.try_get("expires_at")?;
        if now >= expires || !email.eq_ignore_ascii_case(&user.email) {
            return Err(StoreError::NotFound);
        }
        let org_id: String = row.try_get("org_id")?;
        let role = role_of(&row.try_get::<String, _>("role")?)?;
        let invitation_id: String = row.try_get("id")?;
        self.db.set_scope(&mut tx, Scope::Org(&org_id)).await?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&org_id)
        .bind(&user.id)
        .bind(role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "already a member of this organisation"))?;
        sqlx::query("DELETE FROM invitations WHERE id = $1 AND org_id = $2")
            .bind(&invitation_id)
            .bind(&org_id)
            .execute(&mut *tx)
            .await?;
        let t = Tenant::new(&org_id, &user.id, role);
        commit_with(
            tx,
            &t,
            "member.added",
            &user.id,
            json!({"email": user.email, "role": role}),
            now,
        )
        .await?;
        Ok((org_id, role))
    }

    async fn create_org(&self, t: &Tenant, name: &str, tier: &str, now: i64) -> Result<Org> {
        let mut tx = self.org_tx(t, true).await?;
        sqlx::query("INSERT INTO orgs (id, name, tier, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&t.org_id)
            .bind(name)
            .bind(tier)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(&t.org_id)
            .bind(&t.actor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        commit_with(
            tx,
            t,
            "org.created",
            &t.org_id,
            json!({"name": name, "tier": tier}),
            now,
        )
        .await?;
        Ok(Org {
            id: t.org_id.clone(),
            name: name.to_string(),
            tier: tier.to_string(),
            custom_limits: None,
            created_at: now,
            sealed_snippets: false,
        })
    }

    async fn set_sealed_snippets(&self, t: &Tenant, on: bool, now: i64) -> Result<Org> {
        let mut tx = self.org_tx(t, true).await?;
        sqlx::query("UPDATE orgs SET sealed_snippets = $2 WHERE id = $1")
            .bind(&t.org_id)
            .bind(i64::from(on))
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE o.id = $1"))
            .bind(&t.org_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let org = org_from(&row)?;
        let details = json!({"sealed_snippets": on});
        commit_with(tx, t, "org.settings_changed", &t.org_id, details, now).await?;
        Ok(org)
    }

    async fn org(&self, t: &Tenant) -> Result<Org> {
        let mut tx = self.org_tx(t, false).await?;
        let row = sqlx::query(&format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE o.id = $1"))
            .bind(&t.org_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        org_from(&row)
    }

    async fn set_tier(
        &self,
        t: &Tenant,
        tier: &str,
        custom: Option<Limits>,
        now: i64,
    ) -> Result<Org> {
        let mut tx = self.org_tx(t, true).await?;
        let n = sqlx::query(
            "UPDATE orgs SET tier = $1, max_repos = $2, max_chunks = $3, requests_per_minute = $4 WHERE id = $5",
        )
        .bind(tier)
        .bind(custom.map(|l| l.max_repos))
        .bind(custom.map(|l| l.max_chunks))
        .bind(custom.map(|l| l.requests_per_minute))
        .bind(&t.org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        commit_with(
            tx,
            t,
            "org.tier_changed",
            &t.org_id,
            json!({"tier": tier, "limits": custom}),
            now,
        )
        .await?;
        self.org(t).await
    }

    async fn delete_org(&self, t: &Tenant, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        for table in TENANT_TABLES {
            sqlx::query(&format!("DELETE FROM {table} WHERE org_id = $1"))
                .bind(&t.org_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM webhook_queue WHERE org_id = $1")
            .bind(&t.org_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM orgs WHERE id = $1")
            .bind(&t.org_id)
            .execute(&mut *tx)
            .await?;
        // The one row that outlives the organisation: who deleted it, and when.
        commit_with(tx, t, "org.deleted", &t.org_id, json!({}), now).await?;
        Ok(())
    }

    async fn members(&self, t: &Tenant) -> Result<Vec<Member>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY m.created_at, m.user_id",
        )
        .bind(&t.org_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    user_id: r.try_get("user_id")?,
                    email: r.try_get("email")?,
                    role: role_of(&r.try_get::<String, _>("role")?)?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn set_member_role(&self, t: &Tenant, user_id: &str, role: Role, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let current = member_role_in(&mut tx, &t.org_id, user_id).await?;
        only_owners_change_owners(t, current)?;
        if current == Role::Owner && role != Role::Owner && owners(&mut tx, &t.org_id).await? == 1 {
            return Err(StoreError::Conflict(
                "an organisation keeps at least one owner".into(),
            ));
        }
        sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(&t.org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let (keys, invitations) = cap_grants_of(&mut tx, &t.org_id, user_id, Some(role)).await?;
        let rotated = recipients::prune_recipients(&mut tx, &t.org_id).await?;
        commit_with(tx, t, "member.role_changed", user_id, json!({"from": current, "to": role, "keys_capped": keys, "invitations_revoked": invitations, "key_rotated": rotated}), now).await?;
        Ok(())
    }

    async fn remove_member(&self, t: &Tenant, user_id: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let current = member_role_in(&mut tx, &t.org_id, user_id).await?;
        only_owners_change_owners(t, current)?;
        if current == Role::Owner && owners(&mut tx, &t.org_id).await? == 1 {
            return Err(StoreError::Conflict(
                "an organisation keeps at least one owner".into(),
            ));
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(&t.org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let (keys, invitations) = cap_grants_of(&mut tx, &t.org_id, user_id, None).await?;
        let rotated = recipients::prune_recipients(&mut tx, &t.org_id).await?;
        commit_with(
            tx,
            t,
            "member.removed",
            user_id,
            json!({"role": current, "keys_revoked": keys, "invitations_revoked": invitations, "key_rotated": rotated}),
            now,
        )
        .await?;
        Ok(())
    }

    async fn create_invitation(
        &self,
        t: &Tenant,
        email: &str,
        role: Role,
        token_hash: &str,
        now: i64,
        expires: i64,
    ) -> Result<Invitation> {
        let mut tx = self.org_tx(t, true).await?;
        let invitation = Invitation {
            id: new_id("inv"),
            email: email.to_string(),
            role,
            invited_by: t.actor.clone(),
            created_at: now,
            expires_at: expires,
        };
        sqlx::query(
            "INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&invitation.id)
        .bind(&t.org_id)
        .bind(email)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(&t.actor)
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await?;
        commit_with(
            tx,
            t,
            "member.invited",
            &invitation.id,
            json!({"email": email, "role": role}),
            now,
        )
        .await?;
        Ok(invitation)
    }

    async fn invitations(&self, t: &Tenant) -> Result<Vec<Invitation>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT id, email, role, invited_by, created_at, expires_at FROM invitations \
             WHERE org_id = $1 ORDER BY created_at, id",
        )
        .bind(&t.org_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter().map(invitation_from).collect()
    }

    async fn revoke_invitation(&self, t: &Tenant, id: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        let row =
            sqlx::query("DELETE FROM invitations WHERE id = $1 AND org_id = $2 RETURNING email")
                .bind(id)
                .bind(&t.org_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        let email: String = row.try_get("email")?;
        commit_with(
            tx,
            t,
            "invitation.revoked",
            id,
            json!({"email": email}),
            now,
        )
        .await
    }

    async fn holdings(&self, t: &Tenant) -> Result<(i64, i64)> {
        let mut tx = self.org_tx(t, false).await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(chunks), 0) AS BIGINT) AS chunks \
             FROM repos WHERE org_id = $1",
        )
        .bind(&t.org_id)
        .fetch_one(&mut *tx)
        .await?;
        Ok((row.try_get("n")?, row.try_get("chunks")?))
    }
}

async fn member_role_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    user_id: &str,
) -> Result<Role> {
    let row = sqlx::query("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    role_of(&row.try_get::<String, _>("role")?)
}

async fn owners(tx: &mut Transaction<'static, Any>, org_id: &str) -> Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE org_id = $1 AND role = 'owner'")
            .bind(org_id)
            .fetch_one(&mut **tx)
            .await?
            .try_get("n")?,
    )
}

/// Only owners demote or remove owners (an admin could otherwise take an org over from a
/// co-owner).
fn only_owners_change_owners(t: &Tenant, target_role: Role) -> Result<()> {
    if target_role == Role::Owner && t.role < Role::Owner {
        return Err(StoreError::Forbidden(
            "only an owner changes or removes an owner".into(),
        ));
    }
    Ok(())
}

/// Keeps what a member handed out within what they may still do: their API keys are capped at
/// `role` and their pending invitations above it withdrawn; with no role (removed), all of them
/// go. Returns (keys changed, invitations withdrawn).
async fn cap_grants_of(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    user_id: &str,
    role: Option<Role>,
) -> Result<(u64, u64)> {
    let keys = cap_rows(tx, Grants::Keys, org_id, user_id, role).await?;
    let invitations = cap_rows(tx, Grants::Invitations, org_id, user_id, role).await?;
    Ok((keys, invitations))
}

#[derive(Clone, Copy, PartialEq)]
enum Grants {
    Keys,
    Invitations,
}

async fn cap_rows(
    tx: &mut Transaction<'static, Any>,
    grants: Grants,
    org_id: &str,
    user_id: &str,
    role: Option<Role>,
) -> Result<u64> {
    let (table, creator) = match grants {
        Grants::Keys => ("api_keys", "created_by"),
        Grants::Invitations => ("invitations", "invited_by"),
    };
    let rows = sqlx::query(&format!(
        "SELECT id, role FROM {table} WHERE org_id = $1 AND {creator} = $2"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    let delete = format!("DELETE FROM {table} WHERE org_id = $1 AND id = $2");
    let mut changed = 0;
    for row in rows {
        let (id, stored): (String, String) = (row.try_get("id")?, row.try_get("role")?);
        let above = role.is_none_or(|r| Role::parse(&stored).is_none_or(|s| s > r));
        if !above {
            continue;
        }
        let query = match role {
            Some(r) if grants == Grants::Keys => {
                sqlx::query("UPDATE api_keys SET role = $3 WHERE org_id = $1 AND id = $2")
                    .bind(org_id)
                    .bind(id)
                    .bind(r.as_str())
            }
            _ => sqlx::query(&delete).bind(org_id).bind(id),
        };
        changed += query.execute(&mut **tx).await?.rows_affected();
    }
    Ok(changed)
}
