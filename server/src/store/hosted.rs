//! Hosted search's rows: which branch a repository serves, the texts its clients published
//! (one blob per distinct text, readable by the service) and the files of the tree served.
//! Turning hosted search off deletes both; a repository's deletion takes them with it.

use std::collections::HashSet;

use super::index::per_batch;
use super::*;
use scry_api::{HostedFile, HostedState, ObjectStatus};

/// Blobs no published tree names are kept this long, so a client uploading while another
/// publishes still finds its blobs when it publishes.
const UNNAMED_BLOB_GRACE_S: i64 = 3_600;
/// Rows inserted by one statement.
const BATCH: usize = 200;

/// What a publication did.
#[derive(Debug)]
pub enum Published {
    Done(HostedState),
    /// These blobs (up to 1,000) are not held: upload them, then publish again.
    Missing(Vec<String>),
}

/// A repository that hosted search serves, and the generation of its tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostedRepo {
    pub id: String,
    pub name: String,
    pub generation: i64,
}

#[async_trait]
pub trait Hosted: Send + Sync {
    /// Serves `branch` of the repository, or (`None`) turns hosted search off and deletes
    /// its code.
    async fn set_hosted(
        &self,
        t: &Tenant,
        repo: &str,
        branch: Option<&str>,
        now: i64,
    ) -> Result<Repo>;
    async fn hosted_state(&self, t: &Tenant, repo: &str) -> Result<HostedState>;
    /// Which of `ids` the repository does not hold, in the order asked.
    async fn hosted_missing(&self, t: &Tenant, repo: &str, ids: &[String]) -> Result<Vec<String>>;
    /// Stores texts (their ids checked by the caller); refused when the org would hold more
    /// than `quota.limits.max_chunks` × [`scry_api::HOSTED_BYTES_PER_CHUNK`] bytes of them.
    async fn put_hosted_blobs(
        &self,
        t: &Tenant,
        repo: &str,
        blobs: &[(String, Vec<u8>)],
        quota: Quota<'_>,
        now: i64,
    ) -> Result<Vec<ObjectStatus>>;
    /// Makes `files` the tree served (refused unless `branch` is the one served), then
    /// deletes the blobs no tree names.
    async fn publish_hosted(
        &self,
        t: &Tenant,
        repo: &str,
        branch: &str,
        files: &[HostedFile],
        now: i64,
    ) -> Result<Published>;
    /// The repositories hosted search serves.
    async fn hosted_repos(&self, t: &Tenant) -> Result<Vec<HostedRepo>>;
    /// The files of a repository's served tree and its generation, read together.
    async fn hosted_files(&self, t: &Tenant, repo: &str) -> Result<(i64, Vec<HostedFile>)>;
    /// The texts of `ids`.
    async fn hosted_texts(
        &self,
        t: &Tenant,
        repo: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>>;
    /// Counts a search in the day's usage.
    async fn record_search(&self, t: &Tenant, now: i64) -> Result<()>;
}

#[async_trait]
impl Hosted for SqlStore {
    async fn set_hosted(
        &self,
        t: &Tenant,
        repo: &str,
        branch: Option<&str>,
        now: i64,
    ) -> Result<Repo> {
        let mut tx = self.org_tx(t, true).await?;
        // Asked again for what it is already: nothing moves, nothing published is lost.
        let now_served = repo_in(&mut tx, t, repo).await?;
        if now_served.hosted_search.as_deref() == branch {
            return Ok(now_served);
        }
        let n = sqlx::query(
            "UPDATE repos SET hosted_branch = $3, hosted_generation = hosted_generation + 1, \
             hosted_at = NULL WHERE org_id = $1 AND id = $2",
        )
        .bind(&t.org_id)
        .bind(repo)
        .bind(branch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        // A new branch serves nothing until its first publication; off keeps nothing.
        delete_hosted(&mut tx, t, repo).await?;
        let repo_row = repo_in(&mut tx, t, repo).await?;
        let (action, details) = match branch {
            Some(b) => ("repo.hosted_search_on", json!({"branch": b})),
            None => ("repo.hosted_search_off", json!({})),
        };
        commit_with(tx, t, action, repo, details, now).await?;
        Ok(repo_row)
    }

    async fn hosted_state(&self, t: &Tenant, repo: &str) -> Result<HostedState> {
        let mut tx = self.org_tx(t, false).await?;
        state_in(&mut tx, t, repo).await
    }

    async fn hosted_missing(&self, t: &Tenant, repo: &str, ids: &[String]) -> Result<Vec<String>> {
        let mut tx = self.org_tx(t, false).await?;
        repo_in(&mut tx, t, repo).await?;
        let held = held_blobs(&mut tx, t, repo, ids).await?;
        let mut seen = HashSet::new();
        Ok((ids.iter())
            .filter(|id| !held.contains(id.as_str()) && seen.insert(id.as_str()))
            .cloned()
            .collect())
    }

    async fn put_hosted_blobs(
        &self,
        t: &Tenant,
        repo: &str,
        blobs: &[(String, Vec<u8>)],
        quota: Quota<'_>,
        now: i64,
    ) -> Result<Vec<ObjectStatus>> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        if repo_in(&mut tx, t, repo).await?.hosted_search.is_none() {
            return Err(hosted_off());
        }
        let ids: Vec<String> = blobs.iter().map(|(id, _)| id.clone()).collect();
        let held = held_blobs(&mut tx, t, repo, &ids).await?;
        let adding: i64 = (blobs.iter())
            .filter(|(id, _)| !held.contains(id))
            .map(|(_, body)| body.len() as i64)
            .sum();
        let holding: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS n FROM hosted_blobs WHERE org_id = $1",
        )
        .bind(&t.org_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        let cap = quota
            .limits
            .max_chunks
            .saturating_mul(scry_api::HOSTED_BYTES_PER_CHUNK);
        if holding + adding > cap {
            return Err(StoreError::Quota {
                what: "bytes of hosted code",
                limit: cap,
                tier: quota.tier.to_string(),
            });
        }
        let mut stored = HashSet::new();
        for (id, body) in blobs {
            if held.contains(id) || !stored.insert(id.clone()) {
                continue;
            }
            sqlx::query(
                "INSERT INTO hosted_blobs (org_id, repo_id, id, body, bytes, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&t.org_id)
            .bind(repo)
            .bind(id)
            .bind(body)
            .bind(body.len() as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let mut first = HashSet::new();
        Ok((blobs.iter())
            .map(|(id, _)| match stored.contains(id) && first.insert(id) {
                true => ObjectStatus::Stored,
                false => ObjectStatus::Present,
            })
            .collect())
    }

    async fn publish_hosted(
        &self,
        t: &Tenant,
        repo: &str,
        branch: &str,
        files: &[HostedFile],
        now: i64,
    ) -> Result<Published> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        match repo_in(&mut tx, t, repo).await?.hosted_search {
            None => return Err(hosted_off()),
            Some(served) if served != branch => {
                return Err(StoreError::Conflict(format!(
                    "hosted search serves branch {served:?}, not {branch:?}"
                )));
            }
            Some(_) => {}
        }
        let named: Vec<String> = files.iter().map(|f| f.blob.clone()).collect();
        let held = held_blobs(&mut tx, t, repo, &named).await?;
        let mut missing: Vec<String> = (named.into_iter())
            .filter(|id| !held.contains(id))
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            missing.truncate(super::index::MAX_NAMED_MISSING);
            return Ok(Published::Missing(missing));
        }
        // A sync that changed nothing publishes what is served already: nothing moves.
        let mut now_served: Vec<(String, String)> = sqlx::query(
            "SELECT path, blob_id FROM hosted_files WHERE org_id = $1 AND repo_id = $2",
        )
        .bind(&t.org_id)
        .bind(repo)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("path")?, r.try_get("blob_id")?)))
        .collect::<Result<_>>()?;
        let mut asked: Vec<(String, String)> = (files.iter())
            .map(|f| (f.path.clone(), f.blob.clone()))
            .collect();
        now_served.sort_unstable();
        asked.sort_unstable();
        if now_served == asked {
            return Ok(Published::Done(state_in(&mut tx, t, repo).await?));
        }
        sqlx::query("DELETE FROM hosted_files WHERE org_id = $1 AND repo_id = $2")
            .bind(&t.org_id)
            .bind(repo)
            .execute(&mut *tx)
            .await?;
        for batch in files.chunks(BATCH) {
            let mut sql =
                String::from("INSERT INTO hosted_files (org_id, repo_id, path, blob_id) VALUES ");
            for i in 0..batch.len() {
                let p = 3 + i * 2;
                sql.push_str(&format!(
                    "{}($1, $2, ${p}, ${})",
                    if i == 0 { "" } else { ", " },
                    p + 1
                ));
            }
            let mut q = sqlx::query(&sql).bind(&t.org_id).bind(repo);
            for f in batch {
                q = q.bind(&f.path).bind(&f.blob);
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query(
            "DELETE FROM hosted_blobs WHERE org_id = $1 AND repo_id = $2 AND created_at < $3 \
             AND id NOT IN (SELECT blob_id FROM hosted_files WHERE org_id = $1 AND repo_id = $2)",
        )
        .bind(&t.org_id)
        .bind(repo)
        .bind(now - UNNAMED_BLOB_GRACE_S)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE repos SET hosted_generation = hosted_generation + 1, hosted_at = $3 \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(&t.org_id)
        .bind(repo)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let state = state_in(&mut tx, t, repo).await?;
        let details = json!({"branch": branch, "files": state.files, "bytes": state.bytes});
        commit_with(tx, t, "repo.hosted_published", repo, details, now).await?;
        Ok(Published::Done(state))
    }

    async fn hosted_repos(&self, t: &Tenant) -> Result<Vec<HostedRepo>> {
        let mut tx = self.org_tx(t, false).await?;
        let rows = sqlx::query(
            "SELECT id, name, hosted_generation FROM repos \
             WHERE org_id = $1 AND hosted_branch IS NOT NULL ORDER BY id",
        )
        .bind(&t.org_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HostedRepo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    generation: r.try_get("hosted_generation")?,
                })
            })
            .collect()
    }

    async fn hosted_files(&self, t: &Tenant, repo: &str) -> Result<(i64, Vec<HostedFile>)> {
        let mut tx = self.org_tx(t, false).await?;
        let generation: i64 = sqlx::query(
            "SELECT hosted_generation FROM repos WHERE org_id = $1 AND id = $2 \
             AND hosted_branch IS NOT NULL",
        )
        .bind(&t.org_id)
        .bind(repo)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_get("hosted_generation")?;
        let rows = sqlx::query(
            "SELECT path, blob_id FROM hosted_files WHERE org_id = $1 AND repo_id = $2 ORDER BY path",
        )
        .bind(&t.org_id)
        .bind(repo)
        .fetch_all(&mut *tx)
        .await?;
        let files = (rows.iter())
            .map(|r| {
                Ok(HostedFile {
                    path: r.try_get("path")?,
                    blob: r.try_get("blob_id")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((generation, files))
    }

    async fn hosted_texts(
        &self,
        t: &Tenant,
        repo: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let mut tx = self.org_tx(t, false).await?;
        let sql = "SELECT id, body FROM hosted_blobs \
                   WHERE org_id = $1 AND repo_id = $2 AND id IN ({ids})";
        (per_batch(&mut tx, t, repo, sql, &[], ids).await?.iter())
            .map(|r| Ok((r.try_get("id")?, r.try_get("body")?)))
            .collect()
    }

    async fn record_search(&self, t: &Tenant, now: i64) -> Result<()> {
        let mut tx = self.org_tx(t, true).await?;
        self.db.counters_only(&mut tx).await?;
        add_usage(&mut tx, &t.org_id, now, "searches", 1).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Deletes a repository's hosted code (its tree and blobs).
pub(super) async fn delete_hosted(
    tx: &mut Transaction<'static, Any>,
    t: &Tenant,
    repo: &str,
) -> Result<()> {
    for table in ["hosted_files", "hosted_blobs"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE org_id = $1 AND repo_id = $2"
        ))
        .bind(&t.org_id)
        .bind(repo)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn hosted_off() -> StoreError {
    StoreError::Conflict(
        "hosted search is off for this repository: an org admin turns it on".into(),
    )
}

async fn repo_in(tx: &mut Transaction<'static, Any>, t: &Tenant, repo: &str) -> Result<Repo> {
    let row = sqlx::query(&format!(
        "SELECT {REPO_COLUMNS} FROM repos WHERE org_id = $1 AND id = $2"
    ))
    .bind(&t.org_id)
    .bind(repo)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    repo_from(&row)
}

async fn state_in(
    tx: &mut Transaction<'static, Any>,
    t: &Tenant,
    repo: &str,
) -> Result<HostedState> {
    let row = sqlx::query(
        "SELECT r.hosted_branch, r.hosted_generation, r.hosted_at, \
         (SELECT COUNT(*) FROM hosted_files f WHERE f.org_id = r.org_id AND f.repo_id = r.id) AS files, \
         (SELECT CAST(COALESCE(SUM(b.bytes), 0) AS BIGINT) FROM hosted_blobs b \
          WHERE b.org_id = r.org_id AND b.repo_id = r.id) AS bytes \
         FROM repos r WHERE r.org_id = $1 AND r.id = $2",
    )
    .bind(&t.org_id)
    .bind(repo)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(HostedState {
        branch: row.try_get("hosted_branch")?,
        generation: row.try_get("hosted_generation")?,
        files: row.try_get("files")?,
        bytes: row.try_get("bytes")?,
        published_at: row.try_get("hosted_at")?,
    })
}

async fn held_blobs(
    tx: &mut Transaction<'static, Any>,
    t: &Tenant,
    repo: &str,
    ids: &[String],
) -> Result<HashSet<String>> {
    let sql = "SELECT id FROM hosted_blobs WHERE org_id = $1 AND repo_id = $2 AND id IN ({ids})";
    (per_batch(tx, t, repo, sql, &[], ids).await?.iter())
        .map(|r| Ok(r.try_get("id")?))
        .collect()
}
