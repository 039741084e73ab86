//! Repositories; their chunk counts are kept by index sync's commits (`index`).

use super::*;

#[async_trait]
pub trait Repos: Send + Sync {
    /// Registers a repository if the organisation has fewer than `limits.max_repos`.
    async fn create_repo(
        &self,
        t: &Tenant,
        name: &str,
        tier: &str,
        limits: Limits,
        now: i64,
    ) -> Result<Repo>;
    async fn repos(&self, t: &Tenant, limit: i64, after: &str) -> Result<Page<Repo>>;
    async fn repo(&self, t: &Tenant, id: &str) -> Result<Repo>;
    async fn delete_repo(&self, t: &Tenant, id: &str, now: i64) -> Result<()>;
}

#[async_trait]
impl Repos for SqlStore {
    async fn create_repo(
        &self,
        t: &Tenant,
        name: &str,
        tier: &str,
        limits: Limits,
        now: i64,
    ) -> Result<Repo> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM repos WHERE org_id = $1")
            .bind(&t.org_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if n >= limits.max_repos {
            return Err(StoreError::Quota {
                what: "repositories",
                limit: limits.max_repos,
                tier: tier.to_string(),
            });
        }
        let repo = Repo {
            id: new_id("repo"),
            name: name.to_string(),
            chunks: 0,
            created_at: now,
            hosted_search: None,
        };
        sqlx::query(
            "INSERT INTO repos (id, org_id, name, chunks, created_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(&repo.id)
        .bind(&t.org_id)
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "a repository with this name exists"))?;
        add_usage(&mut tx, &t.org_id, now, "repos_created", 1).await?;
        commit_with(tx, t, "repo.created", &repo.id, json!({"name": name}), now).await?;
        Ok(repo)
    }

    async fn repos(&self, t: &Tenant, limit: i64, after: &str) -> Result<Page<Repo>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(&format!(
            "SELECT {REPO_COLUMNS} FROM repos WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        ))
        .bind(&t.org_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let items = rows.iter().map(repo_from).collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |r| r.id.clone()))
    }

    async fn repo(&self, t: &Tenant, id: &str) -> Result<Repo> {
        let mut tx = self.org_tx(t, false).await?;
        let row = sqlx::query(&format!(
            "SELECT {REPO_COLUMNS} FROM repos WHERE org_id = $1 AND id = $2",
        ))
        .bind(&t.org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        repo_from(&row)
    }

    async fn delete_repo(&self, t: &Tenant, id: &str, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        let row = sqlx::query("SELECT name, chunks FROM repos WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let chunks: i64 = row.try_get("chunks")?;
        let name: String = row.try_get("name")?;
        index::delete_repo_index(&mut tx, t, id).await?;
        hosted::delete_hosted(&mut tx, t, id).await?;
        sqlx::query("DELETE FROM repos WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if chunks != 0 {
            add_usage(&mut tx, &t.org_id, now, "chunks_stored", -chunks).await?;
        }
        commit_with(
            tx,
            t,
            "repo.deleted",
            id,
            json!({"name": name, "chunks": chunks}),
            now,
        )
        .await?;
        Ok(())
    }
}
