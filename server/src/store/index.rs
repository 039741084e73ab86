//! Synced indexes: upload sessions, sealed objects and the tree edges between them (ids only),
//! and each ref's current generation.
//!
//! Liveness is reference-counted: an object's `live` is its number of live parents plus the
//! refs whose root it is. A commit raises the new root and lowers the old one; a count that
//! crosses zero carries on to the children, so a commit costs what changed, not the size of
//! the tree. A live node's subtree is therefore always complete (it was checked when the node
//! came alive), and the chunks of the repository's distinct live records objects, which the
//! chunk quota counts, are kept exactly in `repos.chunks` by the same transaction. Objects that are not live and that
//! no open session touched are collected once sessions could have expired.

use std::collections::{HashMap, HashSet};

use super::*;
use scry_api::{
    CommitRequest, Generation, NewSyncSession, ObjectKind, ObjectResult, ObjectStatus,
    SESSION_TTL_S, SyncSession,
};

/// The organisation's tier and chunk limit, as the request read them.
#[derive(Clone, Copy, Debug)]
pub struct Quota<'a> {
    pub tier: &'a str,
    pub limits: Limits,
}

impl Quota<'_> {
    fn exceeded(&self) -> StoreError {
        StoreError::Quota {
            what: "chunks",
            limit: self.limits.max_chunks,
            tier: self.tier.to_string(),
        }
    }
}

/// An object as stored: its body is the sealed bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub id: String,
    pub kind: ObjectKind,
    pub children: Vec<String>,
    /// The chunk records a records object declares; 0 for a node.
    pub chunks: i64,
    pub body: Vec<u8>,
}

/// What a commit did.
#[derive(Debug)]
pub enum CommitOutcome {
    Committed(Generation),
    /// The tree needs these objects (up to [`MAX_NAMED_MISSING`]); nothing changed.
    Missing {
        missing: Vec<String>,
        generation: i64,
    },
    /// The ref is at `generation`, not the commit's base; nothing changed.
    Stale {
        generation: i64,
    },
    /// The objects were sealed under an older key than the org's current `epoch` (someone
    /// who held that key left meanwhile); nothing changed.
    StaleKey {
        epoch: i64,
        generation: i64,
    },
}

/// The most missing ids a refused commit names.
pub const MAX_NAMED_MISSING: usize = 1_000;
/// Trees deeper than this are refused (a client's trees are a few levels deep).
const MAX_DEPTH: usize = 64;
/// Ids bound in one `IN (…)` list.
const IN_BATCH: usize = 500;

#[async_trait]
pub trait Indexes: Send + Sync {
    /// Opens an upload session for a ref, first collecting the repository's garbage; refused
    /// when the declared chunks would take the organisation over `limits.max_chunks`.
    async fn open_session(
        &self,
        t: &Tenant,
        repo: &str,
        new: &NewSyncSession,
        quota: Quota<'_>,
        now: i64,
    ) -> Result<SyncSession>;
    /// Which of `ids` the repository lacks; those it holds are kept for the session's life.
    async fn missing(
        &self,
        t: &Tenant,
        repo: &str,
        session: &str,
        ids: &[String],
        now: i64,
    ) -> Result<Vec<String>>;
    async fn put_objects(
        &self,
        t: &Tenant,
        repo: &str,
        session: &str,
        objects: &[StoredObject],
        now: i64,
    ) -> Result<Vec<ObjectResult>>;
    /// Moves the session's ref to its root if the ref is still at `base_generation` and the
    /// tree is complete; replaying a committed session answers its generation again.
    async fn commit(
        &self,
        t: &Tenant,
        repo: &str,
        session: &str,
        request: &CommitRequest,
        quota: Quota<'_>,
        now: i64,
    ) -> Result<CommitOutcome>;
    async fn refs(&self, t: &Tenant, repo: &str) -> Result<Vec<Generation>>;
    /// The objects of `ids` the repository holds, in order, until `max_bytes` of bodies; and
    /// the ids it does not hold.
    async fn fetch(
        &self,
        t: &Tenant,
        repo: &str,
        ids: &[String],
        max_bytes: usize,
    ) -> Result<(Vec<StoredObject>, Vec<String>)>;
}

type Tx = Transaction<'static, Any>;

#[async_trait]
impl Indexes for SqlStore {
    async fn open_session(
        &self,
        t: &Tenant,
        repo: &str,
        new: &NewSyncSession,
        quota: Quota<'_>,
        now: i64,
    ) -> Result<SyncSession> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let held = repo_chunks(&mut tx, t, repo).await?;
        collect_garbage(&mut tx, t, repo, now).await?;
        let total = org_chunks(&mut tx, t).await?;
        if total + (new.chunks - held).max(0) > quota.limits.max_chunks {
            return Err(quota.exceeded());
        }
        let session = SyncSession {
            id: new_id("sync"),
            ref_name: new.ref_name.clone(),
            root: new.root.clone(),
            chunks: new.chunks,
            created_at: now,
            expires_at: now + SESSION_TTL_S,
        };
        sqlx::query(
            "INSERT INTO index_sessions (id, org_id, repo_id, ref_name, root, chunks, created_by, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&session.id)
        .bind(&t.org_id)
        .bind(repo)
        .bind(&session.ref_name)
        .bind(&session.root)
        .bind(session.chunks)
        .bind(&t.actor)
        .bind(now)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn missing(
        &self,
        t: &Tenant,
        repo: &str,
        session: &str,
        ids: &[String],
        now: i64,
    ) -> Result<Vec<String>> {
        let mut tx = self.org_tx(t, true).await?;
        open_session(&mut tx, t, repo, session, now).await?;
        let held = touch(&mut tx, t, repo, ids, now).await?;
        tx.commit().await?;
        let mut seen = HashSet::new();
        Ok(ids
            .iter()
            .filter(|id| !held.contains(id.as_str()) && seen.insert(id.as_str()))
            .cloned()
            .collect())
    }

    async fn put_objects(
        &self,
        t: &Tenant,
        repo: &str,
        session: &str,
        objects: &[StoredObject],
        now: i64,
    ) -> Result<Vec<ObjectResult>> {
        let mut tx = self.org_tx(t, true).await?;
        open_session(&mut tx, t, repo, session, now).await?;
        let mut stored = HashSet::new();
        for batch in objects.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO index_objects (org_id, repo_id, id, kind, chunks, body, live, \
                 touched_at) VALUES ",
            );
            for i in 0..batch.len() {
                let p = 4 + i * 4;
                sql.push_str(&format!(
                    "{}($1, $2, ${p}, ${}, ${}, ${}, 0, $3)",
                    if i == 0 { "" } else { ", " },
                    p + 1,
                    p + 2,
                    p + 3
                ));
            }
            sql.push_str(" ON CONFLICT (org_id, repo_id, id) DO NOTHING RETURNING id");
            let mut q = sqlx::query(&sql).bind(&t.org_id).bind(repo).bind(now);
            for o in batch {
                q = q
                    .bind(&o.id)
                    .bind(kind_name(o.kind))
                    .bind(o.chunks)
                    .bind(&o.body);
            }
            for row in q.fetch_all(&mut *tx).await? {
                stored.insert(row.try_get::<String, _>("id")?);
            }
        }
        let present: Vec<String> = objects
            .iter()
            .filter(|o| !stored.contains(&o.id))
            .map(|o| o.id.clone())
            .collect();
        touch(&mut tx, t, repo, &present, now).await?;
        let edges: Vec<(&str, &str)> = objects
            .iter()
            .filter(|o| stored.contains(&o.id))
            .flat_map(|o| o.children.iter().map(|c| (o.id.as_str(), c.as_str())))
            .collect();
        for batch in edges.chunks(200) {
            let mut sql =
                String::from("INSERT INTO index_edges (org_id, repo_id, parent, child) VALUES ");
            for i in 0..batch.len() {
                let p = 3 + i * 2;
                sql.push_str(&format!(
                    "{}($1, $2, ${p}, ${})",
                    if i == 0 { "" } else { ", " },
                    p + 1
                ));
            }
            sql.push_str(" ON CONFLICT DO NOTHING");
            let mut q = sqlx::query(&sql).bind(&t.org_id).bind(repo);
            for (parent, child) in batch {
                q = q.bind(*parent).bind(*child);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(objects
            .iter()
            .map(|o| ObjectResult {
                id: o.id.clone(),
                status: if stored.remove(&o.id) {
                    ObjectStatus::Stored
                } else {
                    ObjectStatus::Present
                },
            })
            .collect())
    }

    async fn commit(
        &self,
        t: &Tenant,
        repo: &str,
        session: &str,
        request: &CommitRequest,
        quota: Quota<'_>,
        now: i64,
    ) -> Result<CommitOutcome> {
        let mut tx = self.org_tx(t, true).await?;
        lock_org(&mut tx, &t.org_id).await?;
        let (ref_name, root) = open_session(&mut tx, t, repo, session, now).await?;
        let current = current_ref(&mut tx, t, repo, &ref_name).await?;
        let generation = current.as_ref().map_or(0, |c| c.generation);
        if current.as_ref().is_some_and(|c| c.session == session) {
            let held = repo_chunks(&mut tx, t, repo).await?;
            return Ok(CommitOutcome::Committed(
                current.expect("checked").generation(held),
            ));
        }
        if request.base_generation != generation {
            return Ok(CommitOutcome::Stale { generation });
        }
        // Checked under the org's lock: a rotation cannot land between this and the commit,
        // so nothing sealed under a key a departed member holds becomes live after they left.
        let epoch = super::recipients::key_epoch(&mut tx, &t.org_id).await?;
        if request.key_epoch != epoch {
            return Ok(CommitOutcome::StaleKey { epoch, generation });
        }
        let held = repo_chunks(&mut tx, t, repo).await?;
        let raised = match shift(&mut tx, t, repo, &root, 1, now).await? {
            Shifted::Done { chunks } => chunks,
            Shifted::Missing(missing) => {
                return Ok(CommitOutcome::Missing {
                    missing,
                    generation,
                });
            }
        };
        let lowered = match &current {
            Some(c) => match shift(&mut tx, t, repo, &c.root, -1, now).await? {
                Shifted::Done { chunks } => chunks,
                Shifted::Missing(ids) => {
                    return Err(StoreError::Conflict(format!(
                        "the stored tree of ref {ref_name} is damaged ({} objects gone)",
                        ids.len()
                    )));
                }
            },
            None => 0,
        };
        // Generations sealed under an older key than the org's current one are retired by
        // the first commit under the current key: their devices re-seal on their next sync.
        let mut retired = 0;
        for old in older_refs(&mut tx, t, repo, epoch, &ref_name).await? {
            match shift(&mut tx, t, repo, &old.root, -1, now).await? {
                Shifted::Done { chunks } => retired += chunks,
                Shifted::Missing(ids) => {
                    return Err(StoreError::Conflict(format!(
                        "the stored tree of ref {} is damaged ({} objects gone)",
                        old.name,
                        ids.len()
                    )));
                }
            }
            delete_ref(&mut tx, t, repo, &old.name).await?;
        }
        let chunks = held + raised - lowered - retired;
        let total = org_chunks(&mut tx, t).await? - held + chunks;
        if chunks > held && total > quota.limits.max_chunks {
            return Err(quota.exceeded());
        }
        let committed = RefRow {
            name: ref_name,
            generation: generation + 1,
            root,
            model: request.model.clone(),
            committed_by: t.actor.clone(),
            committed_at: now,
            session: session.to_string(),
            epoch,
        };
        save_ref(&mut tx, t, repo, &committed).await?;
        sqlx::query("UPDATE repos SET chunks = $1 WHERE org_id = $2 AND id = $3")
            .bind(chunks)
            .bind(&t.org_id)
            .bind(repo)
            .execute(&mut *tx)
            .await?;
        if chunks != held {
            add_usage(&mut tx, &t.org_id, now, "chunks_stored", chunks - held).await?;
        }
        let details = json!({
            "repo": repo,
            "ref": committed.name,
            "generation": committed.generation,
            "root": committed.root,
            "repo_chunks": chunks,
        });
        commit_with(tx, t, "index.committed", repo, details, now).await?;
        Ok(CommitOutcome::Committed(committed.generation(chunks)))
    }

    async fn refs(&self, t: &Tenant, repo: &str) -> Result<Vec<Generation>> {
        let mut tx = self.org_tx(t, false).await?;
        let held = repo_chunks(&mut tx, t, repo).await?;
        let rows = sqlx::query(&format!(
            "SELECT {REF_COLUMNS} FROM index_refs WHERE org_id = $1 AND repo_id = $2 ORDER BY name"
        ))
        .bind(&t.org_id)
        .bind(repo)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| Ok(ref_from(r)?.generation(held)))
            .collect()
    }

    async fn fetch(
        &self,
        t: &Tenant,
        repo: &str,
        ids: &[String],
        max_bytes: usize,
    ) -> Result<(Vec<StoredObject>, Vec<String>)> {
        let mut tx = self.org_tx(t, false).await?;
        repo_chunks(&mut tx, t, repo).await?;
        // Sizes first, then only the bodies that fit: memory stays near `max_bytes` whatever
        // the ids asked for.
        let sizes_sql = "SELECT id, LENGTH(body) AS n FROM index_objects \
                         WHERE org_id = $1 AND repo_id = $2 AND id IN ({ids})";
        let mut sizes: HashMap<String, usize> = HashMap::new();
        for row in per_batch(&mut tx, t, repo, sizes_sql, &[], ids).await? {
            sizes.insert(row.try_get("id")?, row.try_get::<i64, _>("n")? as usize);
        }
        let (mut chosen, mut bytes, mut seen) = (Vec::new(), 0, HashSet::new());
        for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
            let Some(&n) = sizes.get(id) else { continue };
            if bytes + n > max_bytes && !chosen.is_empty() {
                break;
            }
            bytes += n;
            chosen.push(id.clone());
        }
        let bodies_sql = "SELECT id, kind, chunks, body FROM index_objects \
                          WHERE org_id = $1 AND repo_id = $2 AND id IN ({ids})";
        let mut found: HashMap<String, StoredObject> = HashMap::new();
        for row in per_batch(&mut tx, t, repo, bodies_sql, &[], &chosen).await? {
            let id: String = row.try_get("id")?;
            let object = StoredObject {
                id: id.clone(),
                kind: kind_of(&row.try_get::<String, _>("kind")?)?,
                children: Vec::new(),
                chunks: row.try_get("chunks")?,
                body: row.try_get("body")?,
            };
            found.insert(id, object);
        }
        let nodes: Vec<String> = found
            .values()
            .filter(|o| o.kind == ObjectKind::Node)
            .map(|o| o.id.clone())
            .collect();
        let edges = "SELECT parent, child FROM index_edges WHERE org_id = $1 AND repo_id = $2 \
                     AND parent IN ({ids}) ORDER BY parent, child";
        for row in per_batch(&mut tx, t, repo, edges, &[], &nodes).await? {
            let parent: String = row.try_get("parent")?;
            if let Some(o) = found.get_mut(&parent) {
                o.children.push(row.try_get("child")?);
            }
        }
        // Those not stored; the ones cut for size are stored, and asked for again.
        let absent = absent_from(ids, &sizes);
        let objects = chosen.iter().filter_map(|id| found.remove(id)).collect();
        Ok((objects, absent))
    }
}

/// The ids of `ids` the repository does not hold, once each, in order.
fn absent_from(ids: &[String], sizes: &HashMap<String, usize>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| !sizes.contains_key(*id) && seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// Runs `sql` once per batch of `ids` and returns every batch's rows: `{ids}` in it becomes
/// the batch's placeholders, bound after the org ($1), the repository ($2) and `extra`.
pub(super) async fn per_batch(
    tx: &mut Tx,
    t: &Tenant,
    repo: &str,
    sql: &str,
    extra: &[i64],
    ids: &[String],
) -> Result<Vec<sqlx::any::AnyRow>> {
    let mut rows = Vec::new();
    for batch in ids.chunks(IN_BATCH) {
        let sql = sql.replace("{ids}", &placeholders(3 + extra.len(), batch.len()));
        let mut q = sqlx::query(&sql).bind(&t.org_id).bind(repo);
        for value in extra {
            q = q.bind(*value);
        }
        for id in batch {
            q = q.bind(id);
        }
        rows.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(rows)
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Records => "records",
        ObjectKind::Node => "node",
    }
}

fn kind_of(name: &str) -> Result<ObjectKind> {
    match name {
        "records" => Ok(ObjectKind::Records),
        "node" => Ok(ObjectKind::Node),
        other => Err(StoreError::Conflict(format!(
            "stored object kind {other:?} is unknown"
        ))),
    }
}

/// The repository's live chunks; NotFound when the repository is not the org's.
async fn repo_chunks(tx: &mut Tx, t: &Tenant, repo: &str) -> Result<i64> {
    Ok(
        sqlx::query("SELECT chunks FROM repos WHERE org_id = $1 AND id = $2")
            .bind(&t.org_id)
            .bind(repo)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_get("chunks")?,
    )
}

async fn org_chunks(tx: &mut Tx, t: &Tenant) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT CAST(COALESCE(SUM(chunks), 0) AS BIGINT) AS n FROM repos WHERE org_id = $1",
    )
    .bind(&t.org_id)
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?)
}

/// The ref and root of an open session of this repository (an expired one is not found).
async fn open_session(
    tx: &mut Tx,
    t: &Tenant,
    repo: &str,
    session: &str,
    now: i64,
) -> Result<(String, String)> {
    let row = sqlx::query(
        "SELECT ref_name, root FROM index_sessions \
         WHERE id = $1 AND org_id = $2 AND repo_id = $3 AND expires_at > $4",
    )
    .bind(session)
    .bind(&t.org_id)
    .bind(repo)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok((row.try_get("ref_name")?, row.try_get("root")?))
}

/// Marks the held objects of `ids` as needed now (so collection spares them while a session
/// relies on them) and returns them.
async fn touch(
    tx: &mut Tx,
    t: &Tenant,
    repo: &str,
    ids: &[String],
    now: i64,
) -> Result<HashSet<String>> {
    let sql = "UPDATE index_objects SET touched_at = $3 WHERE org_id = $1 AND repo_id = $2 \
               AND id IN ({ids}) RETURNING id";
    Ok(per_batch(tx, t, repo, sql, &[now], ids)
        .await?
        .iter()
        .map(|row| row.try_get::<String, _>("id"))
        .collect::<Result<HashSet<_>, _>>()?)
}

/// Deletes expired sessions, and objects neither live nor touched since the oldest session
/// that may still be open.
async fn collect_garbage(tx: &mut Tx, t: &Tenant, repo: &str, now: i64) -> Result<()> {
    sqlx::query(
        "DELETE FROM index_sessions WHERE org_id = $1 AND repo_id = $2 AND expires_at <= $3",
    )
    .bind(&t.org_id)
    .bind(repo)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let cutoff = now - SESSION_TTL_S;
    sqlx::query(
        "DELETE FROM index_edges WHERE org_id = $1 AND repo_id = $2 AND parent IN (\
         SELECT id FROM index_objects WHERE org_id = $1 AND repo_id = $2 AND live = 0 AND touched_at < $3)",
    )
    .bind(&t.org_id)
    .bind(repo)
    .bind(cutoff)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM index_objects WHERE org_id = $1 AND repo_id = $2 AND live = 0 AND touched_at < $3",
    )
    .bind(&t.org_id)
    .bind(repo)
    .bind(cutoff)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

enum Shifted {
    /// How many chunks crossed zero (came alive when raising, died when lowering).
    Done { chunks: i64 },
    /// Objects the tree needs that are not stored (up to [`MAX_NAMED_MISSING`]).
    Missing(Vec<String>),
}

/// Adds `by` (+1 or -1) to `root`'s count, carrying on level by level to the children of
/// every node whose count crossed zero.
async fn shift(
    tx: &mut Tx,
    t: &Tenant,
    repo: &str,
    root: &str,
    by: i64,
    now: i64,
) -> Result<Shifted> {
    let mut level: HashMap<String, i64> = HashMap::from([(root.to_string(), 1)]);
    let mut chunks = 0;
    let mut missing = Vec::new();
    for _ in 0..MAX_DEPTH {
        if level.is_empty() {
            return Ok(if missing.is_empty() {
                Shifted::Done { chunks }
            } else {
                Shifted::Missing(missing)
            });
        }
        // Ids that move by the same amount go in one statement.
        let mut by_count: HashMap<i64, Vec<String>> = HashMap::new();
        for (id, n) in level.drain() {
            by_count.entry(n).or_default().push(id);
        }
        let mut crossed = Vec::new();
        for (n, ids) in by_count {
            let shift = "UPDATE index_objects SET live = live + $3, touched_at = $4 \
                         WHERE org_id = $1 AND repo_id = $2 AND id IN ({ids}) \
                         RETURNING id, kind, chunks, live";
            let mut found = HashSet::new();
            for row in per_batch(tx, t, repo, shift, &[n * by, now], &ids).await? {
                let id: String = row.try_get("id")?;
                let live: i64 = row.try_get("live")?;
                // Raising: was zero, now n. Lowering: now zero.
                if (by > 0 && live == n) || (by < 0 && live == 0) {
                    match kind_of(&row.try_get::<String, _>("kind")?)? {
                        ObjectKind::Records => chunks += row.try_get::<i64, _>("chunks")?,
                        ObjectKind::Node => crossed.push(id.clone()),
                    }
                }
                found.insert(id);
            }
            missing.extend(
                ids.iter()
                    .filter(|id| !found.contains(*id))
                    .take(MAX_NAMED_MISSING.saturating_sub(missing.len()))
                    .cloned(),
            );
        }
        let children = "SELECT child, COUNT(*) AS n FROM index_edges WHERE org_id = $1 \
                        AND repo_id = $2 AND parent IN ({ids}) GROUP BY child";
        for row in per_batch(tx, t, repo, children, &[], &crossed).await? {
            *level.entry(row.try_get("child")?).or_default() += row.try_get::<i64, _>("n")?;
        }
    }
    Err(StoreError::Conflict(format!(
        "the tree is deeper than {MAX_DEPTH} levels"
    )))
}

const REF_COLUMNS: &str =
    "name, generation, root, model, committed_by, committed_at, session_id, epoch";

struct RefRow {
    name: String,
    generation: i64,
    root: String,
    model: String,
    committed_by: String,
    committed_at: i64,
    session: String,
    /// The org's key epoch when it was committed.
    epoch: i64,
}

impl RefRow {
    fn generation(self, repo_chunks: i64) -> Generation {
        Generation {
            ref_name: self.name,
            generation: self.generation,
            root: self.root,
            model: self.model,
            committed_by: self.committed_by,
            committed_at: self.committed_at,
            repo_chunks,
        }
    }
}

fn ref_from(row: &sqlx::any::AnyRow) -> Result<RefRow> {
    Ok(RefRow {
        name: row.try_get("name")?,
        generation: row.try_get("generation")?,
        root: row.try_get("root")?,
        model: row.try_get("model")?,
        committed_by: row.try_get("committed_by")?,
        committed_at: row.try_get("committed_at")?,
        session: row.try_get("session_id")?,
        epoch: row.try_get("epoch")?,
    })
}

/// The repository's refs committed under a key epoch before `epoch`, but `except`.
async fn older_refs(
    tx: &mut Tx,
    t: &Tenant,
    repo: &str,
    epoch: i64,
    except: &str,
) -> Result<Vec<RefRow>> {
    sqlx::query(&format!(
        "SELECT {REF_COLUMNS} FROM index_refs WHERE org_id = $1 AND repo_id = $2 AND epoch < $3 \
         AND name <> $4"
    ))
    .bind(&t.org_id)
    .bind(repo)
    .bind(epoch)
    .bind(except)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(ref_from)
    .collect()
}

async fn delete_ref(tx: &mut Tx, t: &Tenant, repo: &str, name: &str) -> Result<()> {
    sqlx::query("DELETE FROM index_refs WHERE org_id = $1 AND repo_id = $2 AND name = $3")
        .bind(&t.org_id)
        .bind(repo)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn current_ref(tx: &mut Tx, t: &Tenant, repo: &str, name: &str) -> Result<Option<RefRow>> {
    sqlx::query(&format!(
        "SELECT {REF_COLUMNS} FROM index_refs WHERE org_id = $1 AND repo_id = $2 AND name = $3"
    ))
    .bind(&t.org_id)
    .bind(repo)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(ref_from)
    .transpose()
}

async fn save_ref(tx: &mut Tx, t: &Tenant, repo: &str, r: &RefRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO index_refs (org_id, repo_id, name, generation, root, model, committed_by, \
         committed_at, session_id, epoch) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (org_id, repo_id, name) DO UPDATE SET generation = $4, root = $5, \
         model = $6, committed_by = $7, committed_at = $8, session_id = $9, epoch = $10",
    )
    .bind(&t.org_id)
    .bind(repo)
    .bind(&r.name)
    .bind(r.generation)
    .bind(&r.root)
    .bind(&r.model)
    .bind(&r.committed_by)
    .bind(r.committed_at)
    .bind(&r.session)
    .bind(r.epoch)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes everything the repository's synced index holds (with the repository).
pub(super) async fn delete_repo_index(tx: &mut Tx, t: &Tenant, repo: &str) -> Result<()> {
    for table in [
        "index_edges",
        "index_objects",
        "index_refs",
        "index_sessions",
    ] {
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
