//! Hosted search's engine. Per repository, a shard: the code its clients published, written
//! out under the cache directory and indexed there by `scry-core` as a workspace, so a search
//! runs the CLI's chunker, built-in model and ranking on the same files and answers as
//! `scry search` in a checkout would. A search of several repositories merges their answers by
//! score. The database is the source of truth: before each search a shard catches up with it
//! (nothing when its generation has not moved; else only the files whose text changed are
//! written and re-indexed), so every replica serves every org. At most `capacity` shards are
//! kept; the one searched longest ago is dropped first, with its files, and so is a shard
//! whose repository no longer has hosted search on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use scry_api::{HostedFile, SearchResult, SearchedRepo};
use scry_core::{Embedder, Filter, Index, Searcher, StaticModel};

use crate::store::{HostedRepo, Storage, StoreError, Tenant};

/// The shards this replica keeps, by org and repository.
pub struct Shards {
    dir: tempfile::TempDir,
    model: Arc<dyn Embedder>,
    capacity: usize,
    held: Mutex<HashMap<(String, String), Held>>,
    clock: AtomicU64,
}

struct Held {
    used: u64,
    shard: Arc<tokio::sync::Mutex<Shard>>,
}

/// One repository's published code and its index.
struct Shard {
    root: PathBuf,
    index: Option<Index>,
    searcher: Option<Arc<Searcher>>,
    /// The generation written out (none yet: -1), and each file's blob.
    generation: i64,
    files: HashMap<String, String>,
}

impl Drop for Shard {
    fn drop(&mut self) {
        self.searcher = None;
        self.index = None;
        if let Err(e) = std::fs::remove_dir_all(&self.root)
            && e.kind() != std::io::ErrorKind::NotFound
        {
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

    /// Searches `repos`, each brought up to date first; `hosted` are the org's repositories
    /// with hosted search on, as the database lists them now (the shards of any other of the
    /// org's are dropped).
    pub async fn search(
        &self,
        store: &Arc<dyn Storage>,
        t: &Tenant,
        hosted: &[HostedRepo],
        repos: &[&HostedRepo],
        query: &Query<'_>,
    ) -> Result<(Vec<SearchResult>, Vec<SearchedRepo>), SearchError> {
        let filter =
            Filter::new(query.lang, query.glob).map_err(|e| SearchError::Query(e.to_string()))?;
        self.forget_unhosted(t.org_id(), hosted);
        let mut results = Vec::new();
        let mut searched = Vec::with_capacity(repos.len());
        for repo in repos {
            let shard = self.shard(t.org_id(), &repo.id);
            let (searcher, generation) = {
                let mut shard = shard.lock().await;
                shard.catch_up(store, t, repo, &self.model).await?;
                (shard.searcher.clone(), shard.generation)
            };
            searched.push(SearchedRepo {
                id: repo.id.clone(),
                name: repo.name.clone(),
                generation: generation.max(0),
            });
            let Some(searcher) = searcher else { continue };
            let (text, limit, filter) = (query.text.to_string(), query.limit, filter.clone());
            let hits =
                tokio::task::spawn_blocking(move || searcher.search_files(&text, limit, &filter))
                    .await
                    .map_err(|e| SearchError::Engine(e.into()))?
                    .map_err(|e| SearchError::Engine(e.into()))?;
            results.extend(
                hits.iter()
                    .map(|h| SearchResult::from_hit(Some(&repo.name), h)),
            );
        }
        results.sort_by(|a, b| b.score.total_cmp(&a.score));
        results.truncate(query.limit);
        Ok((results, searched))
    }

    /// Drops the org's shards of repositories no longer in `hosted` (turned off, deleted).
    fn forget_unhosted(&self, org: &str, hosted: &[HostedRepo]) {
        let mut held = self.held.lock().expect("the shard map is never poisoned");
        held.retain(|(o, repo), _| o != org || hosted.iter().any(|h| &h.id == repo));
    }

    /// A repository's shard, made when absent; the least recently searched is let go beyond
    /// capacity (its files go when its last search ends).
    fn shard(&self, org: &str, repo: &str) -> Arc<tokio::sync::Mutex<Shard>> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut held = self.held.lock().expect("the shard map is never poisoned");
        let key = (org.to_string(), repo.to_string());
        if let Some(h) = held.get_mut(&key) {
            h.used = now;
            return h.shard.clone();
        }
        if held.len() >= self.capacity
            && let Some(oldest) = (held.iter())
                .min_by_key(|(_, h)| h.used)
                .map(|(key, _)| key.clone())
        {
            held.remove(&oldest);
        }
        let shard = Arc::new(tokio::sync::Mutex::new(Shard {
            root: self.dir.path().join(format!("{org}-{repo}-{now}")),
            index: None,
            searcher: None,
            generation: -1,
            files: HashMap::new(),
        }));
        held.insert(
            key,
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
        repo: &HostedRepo,
        model: &Arc<dyn Embedder>,
    ) -> Result<(), SearchError> {
        if self.generation == repo.generation && self.searcher.is_some() {
            return Ok(());
        }
        let (generation, files) = match store.hosted_files(t, &repo.id).await {
            Ok(read) => read,
            // Turned off since the request listed it: nothing of it is served.
            Err(StoreError::NotFound) => {
                (self.searcher, self.index) = (None, None);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let tree = self.root.join("tree");
        let mut changed: Vec<PathBuf> = Vec::new();
        let written =
            write_repo(store, t, &repo.id, &tree, &self.files, &files, &mut changed).await?;
        self.files = written;
        self.generation = generation;
        if !changed.is_empty() || self.searcher.is_none() {
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
        }
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
