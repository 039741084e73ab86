//! Hosted search's engine. Per organisation, a shard: the code its opted-in repositories
//! published, written out under the cache directory (`tree/<repo id>/<path>`) and indexed
//! there by `scry-core` as a workspace, so a search runs the CLI's chunker, built-in model and
//! ranking, and scores compare across the org's repositories. The database is the source of
//! truth: before each search a shard catches up with it (only repositories whose generation
//! moved; only files whose text changed are written and re-indexed), so every replica serves
//! every org. At most `capacity` shards are kept; the one searched longest ago is dropped
//! first, and its files with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use scry_api::{HostedFile, SearchResult, SearchedRepo};
use scry_core::{Embedder, Filter, Index, Searcher, StaticModel};

use crate::store::{HostedRepo, Storage, StoreError, Tenant};

/// Every org's shard on this replica.
pub struct Shards {
    dir: tempfile::TempDir,
    model: Arc<dyn Embedder>,
    capacity: usize,
    held: Mutex<HashMap<String, Held>>,
    clock: AtomicU64,
}

struct Held {
    used: u64,
    shard: Arc<tokio::sync::Mutex<Shard>>,
}

/// One org's published code and its index.
struct Shard {
    root: PathBuf,
    index: Option<Index>,
    searcher: Option<Arc<Searcher>>,
    /// Per repository: the generation written out, and each file's blob.
    repos: HashMap<String, (i64, HashMap<String, String>)>,
}

impl Drop for Shard {
    fn drop(&mut self) {
        self.searcher = None;
        self.index = None;
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            tracing::warn!(
                "could not remove the search shard {}: {e}",
                self.root.display()
            );
        }
    }
}

/// Why a search could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The query, language or glob is not one the engine takes.
    #[error("{0}")]
    Query(String),
    #[error("the search index failed: {0:#}")]
    Engine(anyhow::Error),
}

/// What to search.
pub struct Query<'a> {
    pub text: &'a str,
    pub limit: usize,
    pub lang: Option<&'a str>,
    pub glob: Option<&'a str>,
}

impl Shards {
    /// Shards under a new directory in `parent` (the system's temporary directory by
    /// default), removed when the service stops.
    pub fn new(parent: Option<&Path>, capacity: usize) -> anyhow::Result<Shards> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("scry-search-")
            .tempdir_in(&parent)
            .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
        let model: Arc<dyn Embedder> =
            Arc::new(StaticModel::builtin().context("loading the built-in model")?);
        Ok(Shards {
            dir,
            model,
            capacity: capacity.max(1),
            held: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
        })
    }

    /// Searches `repos` (hosted ones of the tenant's org, as the database lists them now),
    /// after bringing the org's shard up to date with `hosted` (all of them).
    pub async fn search(
        &self,
        store: &Arc<dyn Storage>,
        t: &Tenant,
        hosted: &[HostedRepo],
        repos: &[&HostedRepo],
        query: &Query<'_>,
    ) -> Result<(Vec<SearchResult>, Vec<SearchedRepo>), SearchError> {
        let ids: Vec<&str> = repos.iter().map(|r| r.id.as_str()).collect();
        let filter = filter(&ids, query)?;
        let shard = self.shard(t.org_id());
        let (searcher, searched) = {
            let mut shard = shard.lock().await;
            shard.catch_up(store, t, hosted, &self.model).await?;
            let searched: Vec<SearchedRepo> = (repos.iter())
                .map(|r| SearchedRepo {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    generation: shard.repos.get(&r.id).map_or(0, |(g, _)| *g),
                })
                .collect();
            (shard.searcher.clone(), searched)
        };
        let Some(searcher) = searcher else {
            return Ok((Vec::new(), searched));
        };
        let (text, limit) = (query.text.to_string(), query.limit);
        let hits =
            tokio::task::spawn_blocking(move || searcher.search_files(&text, limit, &filter))
                .await
                .map_err(|e| SearchError::Engine(e.into()))?
                .map_err(|e| SearchError::Engine(e.into()))?;
        let names: HashMap<&str, &str> = (repos.iter())
            .map(|r| (r.id.as_str(), r.name.as_str()))
            .collect();
        let results = (hits.iter())
            .filter_map(|hit| {
                let (repo, path) = hit.path.split_once('/')?;
                // Every row is checked against the repositories this request may read.
                let Some(name) = names.get(repo) else {
                    tracing::error!(org = t.org_id(), "a search shard held a row of {repo}");
                    return None;
                };
                let mut result = SearchResult::from_hit(Some(name), hit);
                result.path = path.to_string();
                Some(result)
            })
            .collect();
        Ok((results, searched))
    }

    /// The org's shard, made when absent; the least recently searched is let go beyond
    /// capacity (its files go when its last search ends).
    fn shard(&self, org: &str) -> Arc<tokio::sync::Mutex<Shard>> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut held = self.held.lock().expect("the shard map is never poisoned");
        if let Some(h) = held.get_mut(org) {
            h.used = now;
            return h.shard.clone();
        }
        if held.len() >= self.capacity
            && let Some(oldest) = (held.iter())
                .min_by_key(|(_, h)| h.used)
                .map(|(org, _)| org.clone())
        {
            held.remove(&oldest);
        }
        let shard = Arc::new(tokio::sync::Mutex::new(Shard {
            root: self.dir.path().join(format!("{org}-{now}")),
            index: None,
            searcher: None,
            repos: HashMap::new(),
        }));
        held.insert(
            org.to_string(),
            Held {
                used: now,
                shard: shard.clone(),
            },
        );
        shard
    }
}

impl Shard {
    /// Writes out what changed in the database since the shard last looked, and re-indexes it.
    async fn catch_up(
        &mut self,
        store: &Arc<dyn Storage>,
        t: &Tenant,
        hosted: &[HostedRepo],
        model: &Arc<dyn Embedder>,
    ) -> Result<(), SearchError> {
        let tree = self.root.join("tree");
        let mut changed: Vec<PathBuf> = Vec::new();
        let gone: Vec<String> = (self.repos.keys())
            .filter(|id| !hosted.iter().any(|r| &r.id == *id))
            .cloned()
            .collect();
        for id in gone {
            self.repos.remove(&id);
            let dir = tree.join(&id);
            remove(&dir);
            changed.push(dir);
        }
        for repo in hosted {
            if self
                .repos
                .get(&repo.id)
                .is_some_and(|(g, _)| *g == repo.generation)
            {
                continue;
            }
            let (generation, files) = match store.hosted_files(t, &repo.id).await {
                Ok(read) => read,
                // Turned off or deleted since it was listed: the next search drops it.
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            };
            let held = self
                .repos
                .remove(&repo.id)
                .map(|(_, f)| f)
                .unwrap_or_default();
            let dir = tree.join(&repo.id);
            let now = write_repo(store, t, &repo.id, &dir, &held, &files, &mut changed).await?;
            self.repos.insert(repo.id.clone(), (generation, now));
        }
        if changed.is_empty() && self.searcher.is_some() {
            return Ok(());
        }
        std::fs::create_dir_all(&tree)
            .map_err(|e| SearchError::Engine(anyhow::anyhow!("{}: {e}", tree.display())))?;
        let index = self.index.take();
        let (root, model) = (self.root.clone(), model.clone());
        let (index, searcher) = tokio::task::spawn_blocking(move || {
            reindex(
                index,
                &root.join("tree"),
                &root.join("index.redb"),
                &changed,
                model,
            )
        })
        .await
        .map_err(|e| SearchError::Engine(e.into()))?
        .map_err(SearchError::Engine)?;
        self.index = Some(index);
        self.searcher = Some(Arc::new(searcher));
        Ok(())
    }
}

/// Writes a repository's served files under `dir`: texts not written already are read from
/// the database; files no longer served are removed. Returns each file's blob, and adds the
/// paths written or removed to `changed`.
async fn write_repo(
    store: &Arc<dyn Storage>,
    t: &Tenant,
    repo: &str,
    dir: &Path,
    held: &HashMap<String, String>,
    files: &[HostedFile],
    changed: &mut Vec<PathBuf>,
) -> Result<HashMap<String, String>, SearchError> {
    let now: HashMap<String, String> = (files.iter())
        .map(|f| (f.path.clone(), f.blob.clone()))
        .collect();
    for path in held.keys().filter(|p| !now.contains_key(*p)) {
        let file = dir.join(path);
        remove(&file);
        changed.push(file);
    }
    let wanted: Vec<&HostedFile> = (files.iter())
        .filter(|f| held.get(&f.path) != Some(&f.blob))
        .collect();
    let mut ids: Vec<String> = wanted.iter().map(|f| f.blob.clone()).collect();
    ids.sort();
    ids.dedup();
    let mut written = now.clone();
    for batch in ids.chunks(500) {
        let texts: HashMap<String, Vec<u8>> = store
            .hosted_texts(t, repo, batch)
            .await?
            .into_iter()
            .collect();
        for f in wanted
            .iter()
            .filter(|f| batch.binary_search(&f.blob).is_ok())
        {
            let file = dir.join(&f.path);
            let wrote = match texts.get(&f.blob) {
                Some(text) => write(&file, text),
                None => Err(std::io::Error::other("its text is gone")),
            };
            if let Err(e) = wrote {
                tracing::warn!(repo, "hosted search skips {}: {e}", f.path);
                written.remove(&f.path);
            }
            changed.push(file);
        }
    }
    Ok(written)
}

fn write(file: &Path, text: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(file, text)
}

fn remove(path: &Path) {
    let removed = match path.is_dir() {
        true => std::fs::remove_dir_all(path),
        false => std::fs::remove_file(path),
    };
    if let Err(e) = removed
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("could not remove {}: {e}", path.display());
    }
}

/// Brings the shard's index up to date: the changed paths alone when it is open, else the
/// whole tree.
fn reindex(
    index: Option<Index>,
    tree: &Path,
    db: &Path,
    changed: &[PathBuf],
    model: Arc<dyn Embedder>,
) -> anyhow::Result<(Index, Searcher)> {
    let started = std::time::Instant::now();
    let (index, stats) = match index {
        Some(mut index) => {
            let stats = index.update_paths(changed, Some(model.as_ref()), &mut |_| {})?;
            (index, stats)
        }
        None => {
            let mut index = Index::open(tree, db)?;
            let stats = index.update(Some(model.as_ref()), &mut |_| {})?;
            (index, stats)
        }
    };
    tracing::info!(
        files = stats.files_indexed,
        chunks = stats.chunks_written,
        ms = started.elapsed().as_millis() as u64,
        "hosted search shard updated"
    );
    let searcher = index.searcher(Some(model))?;
    Ok((index, searcher))
}

/// The filter of a search: its language, and its glob inside each of `repos` (by id).
fn filter(repos: &[&str], query: &Query<'_>) -> Result<Filter, SearchError> {
    let inside = query.glob.unwrap_or("**");
    let glob = match repos {
        [one] => format!("{one}/{inside}"),
        many => format!("{{{}}}/{inside}", many.join(",")),
    };
    Filter::new(query.lang, Some(&glob)).map_err(|e| SearchError::Query(e.to_string()))
}
