//! Bringing the index up to date: walk → (stat, hash) → chunk → embed → store, in batches
//! that each commit atomically.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::damage::guarded;
use crate::disk_wait::DiskWait;
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::records::{chunk_file, embedding_input, embedding_text, offered_records};
use crate::search::dense::Ivf;
use crate::search::{Changes, Searcher};
use crate::snapshot::{Snapshot, SnapshotFile};
use crate::store::{
    Codes, FileRecord, Meta, NewChunk, NewFile, Opened, SkippedFile, Store, model_tag,
};
use crate::walk::{self, Excludes, SkipReason, WalkedFile};

/// Files in the first write transaction: small, so a short update commits quickly and progress
/// moves; each later batch of a long update doubles, up to `MAX_BATCH_FILES`. Every commit
/// rewrites the B-tree pages each of its terms' postings land on, so at a million chunks
/// batches of a hundred files spent more time rewriting pages than parsing code.
const BATCH_FILES: usize = 96;
const MAX_BATCH_FILES: usize = 2048;
/// With a slow model, commit more often so an interrupted run keeps its vectors.
const BATCH_FILES_SLOW_MODEL: usize = 32;
const MAX_BATCH_FILES_SLOW_MODEL: usize = 128;
/// Chunks per write while back-filling vectors for a new model.
const BACKFILL_CHUNKS: usize = 512;
/// Chunks and vectors written by one update before the file is compacted (and at least a
/// tenth of the index).
const COMPACT_MIN_WRITES: u64 = 1000;
/// Indexes this large get an inverted file of their vectors; smaller ones scan every vector,
/// which is exact and, below this size, about as fast.
pub(crate) const IVF_MIN_CHUNKS: u64 = 50_000;
/// Names the inverted file's layout in `Meta::IvfInfo`: a different one is rebuilt.
const IVF_FORMAT: &str = "inverted-file-1";

/// What a long operation reports as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The walk found this many files to consider.
    Walked { files: u64 },
    /// Files read, chunked, embedded and stored, of those that changed.
    Indexed { done: u64, total: u64 },
    /// Chunks embedded for a model the index had no vectors of yet.
    Embedded { done: u64, total: u64 },
    /// Asking [`Index::set_reuse`]'s offer about this many changed files.
    Offering { files: u64 },
}

/// What an update did.
#[derive(Clone, Debug, Default)]
pub struct UpdateStats {
    pub files_seen: u64,
    pub files_unchanged: u64,
    pub files_indexed: u64,
    pub files_deleted: u64,
    pub bytes_read: u64,
    pub chunks_written: u64,
    pub vectors_embedded: u64,
    pub vectors_reused: u64,
    /// Chunks whose records and vectors came from another copy's index (see
    /// [`Index::set_reuse`]) instead of the chunker and the model.
    pub chunks_reused: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Files or directories that could not be read; the rest of the index is unaffected.
    pub errors: Vec<String>,
    /// Set when ignore rules left out every code file: which rule, and how to get past it.
    pub all_ignored: Option<String>,
    pub elapsed: Duration,
}

impl UpdateStats {
    /// Adds the work of one batch.
    fn add(&mut self, batch: UpdateStats) {
        self.files_indexed += batch.files_indexed;
        self.bytes_read += batch.bytes_read;
        self.chunks_written += batch.chunks_written;
        self.vectors_embedded += batch.vectors_embedded;
        self.vectors_reused += batch.vectors_reused;
        self.chunks_reused += batch.chunks_reused;
        for (reason, n) in batch.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        self.errors.extend(batch.errors);
    }
}

/// What `scry status` shows.
#[derive(Clone, Debug)]
pub struct Status {
    pub root: PathBuf,
    pub db_path: PathBuf,
    pub db_bytes: u64,
    pub files: u64,
    pub chunks: u64,
    pub vectors: u64,
    /// The model whose vectors cover every chunk; `None` when the index is lexical only.
    pub model: Option<String>,
    /// A reranker whose vectors the index keeps too (see [`Index::add_reranker`]).
    pub rerank_model: Option<String>,
    pub schema_version: u32,
    /// What the last update that changed the index did: chunks it took from another copy's
    /// index, and chunks it embedded (`None` before any, or in an index made before these
    /// were recorded).
    pub last_update: Option<LastUpdate>,
}

/// See [`Status::last_update`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LastUpdate {
    pub reused: u64,
    pub embedded: u64,
}

/// Where a workspace's index lives unless told otherwise: `$SCRY_INDEX_DIR`, else the user's
/// cache directory, one folder per workspace named after it plus a digest of its path.
pub fn default_db_path(root: &Path) -> PathBuf {
    let base = index_home();
    let name = root
        .file_name()
        .map_or("root".into(), |n| n.to_string_lossy().into_owned());
    let digest = blake3::hash(root.to_string_lossy().as_bytes()).to_hex();
    base.join(format!("{name}-{}", &digest[..12]))
        .join("index.redb")
}

/// Where indexes live unless told otherwise: `$SCRY_INDEX_DIR`, else the user's cache
/// directory's `scry`.
pub fn index_home() -> PathBuf {
    std::env::var_os("SCRY_INDEX_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("scry")))
        .unwrap_or_else(|| std::env::temp_dir().join("scry"))
}

/// Asked by an update that changes many files (a first index, a branch switch), with the
/// changed files' paths and [`walk::file_hash`]es, for another copy's index of them (a synced
/// generation of the workspace): a snapshot holding what it has of those files, or `None`.
pub type Reuse = Box<dyn FnMut(&[(String, [u8; 16])]) -> Option<Snapshot> + Send + Sync>;

/// Updates with a slow model that change at least this many stored files ask [`Reuse`] (and
/// every update that fills an empty index).
pub const REUSE_MIN_FILES: usize = 256;

/// A workspace and its index.
pub struct Index {
    root: PathBuf,
    store: Store,
    opened: Opened,
    excludes: Excludes,
    reuse: Option<Reuse>,
    disk: DiskWait,
}

impl Index {
    /// Opens (or creates) the index of the workspace at `root`, stored at `db_path`.
    pub fn open(root: &Path, db_path: &Path) -> Result<Index> {
        let root = workspace_root(root)?;
        let (store, opened) = Store::open(db_path, &root)?;
        Ok(Index {
            root,
            store,
            opened,
            excludes: Excludes::default(),
            reuse: None,
            disk: DiskWait::default(),
        })
    }

    /// Deletes the index at `db_path`, whatever state it is in, and starts a new one.
    pub fn rebuild(root: &Path, db_path: &Path) -> Result<Index> {
        let root = workspace_root(root)?;
        let store = Store::rebuild(db_path, &root)?;
        Ok(Index {
            root,
            store,
            opened: Opened::Created,
            excludes: Excludes::default(),
            reuse: None,
            disk: DiskWait::default(),
        })
    }

    /// Keeps these paths out from the next update on (files already indexed there leave it).
    pub fn set_excludes(&mut self, excludes: Excludes) {
        self.excludes = excludes;
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn db_path(&self) -> &Path {
        self.store.path()
    }

    /// Says so when opening replaced an index written by another version of Scry.
    pub fn open_note(&self) -> Option<String> {
        match self.opened {
            Opened::RebuiltStaleSchema { found } => Some(format!(
                "the index at {} was written by another version of Scry (schema {found}, now {}); rebuilding it",
                self.db_path().display(),
                crate::store::SCHEMA_VERSION
            )),
            _ => None,
        }
    }

    /// Brings the index up to date with the files on disk: new and changed files are chunked
    /// (and embedded, with a model), deleted ones removed, unchanged ones left alone.
    pub fn update(
        &mut self,
        embedder: Option<&dyn Embedder>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<UpdateStats> {
        let path = self.store.path().to_path_buf();
        guarded(&path, || self.update_unguarded(embedder, progress))
    }

    /// Lets updates that fill an empty index, or change at least [`REUSE_MIN_FILES`] files
    /// with a slow model (where embedding is most of an update: with the built-in model a
    /// branch switch's fetch costs more than it spares), take a changed file's chunk records
    /// and vectors from what `reuse` offers (a teammate's synced generation) where the file on
    /// disk has the bytes the offer was made from, and each chunk's text hashes to what the
    /// offer says and lies on the lines it says (the proof that the records belong to this
    /// content). Vectors are taken only when the offer is of the update's model; every other
    /// file is chunked and embedded here.
    pub fn set_reuse(&mut self, reuse: Option<Reuse>) {
        self.reuse = reuse;
    }

    /// Where updates mark their calls to the workspace's disk, for a watchdog that reports a
    /// stalled mount.
    pub fn set_disk_wait(&mut self, disk: DiskWait) {
        self.disk = disk;
    }

    fn update_unguarded(
        &mut self,
        embedder: Option<&dyn Embedder>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<UpdateStats> {
        let started = Instant::now();
        self.ensure_root()?;
        self.forget_stale_skips()?;
        let report = walk::walk(&self.root, &self.excludes, &self.disk);
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "walked");
        progress(Progress::Walked {
            files: report.files.len() as u64,
        });
        let reader = self.store.read()?;
        let held = Held {
            files: reader.files()?,
            skipped: reader.skipped_under("")?,
        };
        drop(reader);
        self.sync(report, held, embedder, progress, started)
    }

    /// Files remembered as skipped were judged by the rules of the binary that wrote them;
    /// under other rules ([`walk::CLASSIFIER`]) they are forgotten, so this update reads them.
    fn forget_stale_skips(&self) -> Result<()> {
        let current = walk::CLASSIFIER.to_le_bytes();
        if self.store.read()?.meta(Meta::Classifier)?.as_deref() == Some(&current[..]) {
            return Ok(());
        }
        let mut w = self.store.write()?;
        w.forget_all_skipped()?;
        w.set_meta(Meta::Classifier, &current)?;
        w.commit()
    }

    /// The workspace may have been deleted or unmounted since the index was opened.
    fn ensure_root(&self) -> Result<()> {
        let is_dir = {
            let _waiting = self.disk.begin();
            self.root.is_dir()
        };
        match is_dir {
            true => Ok(()),
            false => Err(Error::NoWorkspace(self.root.clone())),
        }
    }

    /// [`Index::update`] for `paths` alone (absolute: changed files, directories, or paths
    /// gone from disk, as a file watcher names them): the rest of the tree is neither walked
    /// nor read. Falls back to a whole update when a path is the root or outside it.
    pub fn update_paths(
        &mut self,
        paths: &[PathBuf],
        embedder: Option<&dyn Embedder>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<UpdateStats> {
        let path = self.store.path().to_path_buf();
        guarded(&path, || {
            self.update_paths_unguarded(paths, embedder, progress)
        })
    }

    fn update_paths_unguarded(
        &mut self,
        paths: &[PathBuf],
        embedder: Option<&dyn Embedder>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<UpdateStats> {
        let started = Instant::now();
        self.ensure_root()?;
        self.forget_stale_skips()?;
        let Some((report, scope)) = walk::walk_paths(&self.root, &self.excludes, paths, &self.disk)
        else {
            return self.update_unguarded(embedder, progress);
        };
        let reader = self.store.read()?;
        let mut held = Held::default();
        for rel in &scope {
            held.files.extend(reader.files_under(rel)?);
            held.skipped.extend(reader.skipped_under(rel)?);
        }
        drop(reader);
        self.sync(report, held, embedder, progress, started)
    }

    /// Makes the index hold what `report` found, given what it held of the same paths.
    fn sync(
        &mut self,
        report: walk::WalkReport,
        held: Held,
        embedder: Option<&dyn Embedder>,
        progress: &mut dyn FnMut(Progress),
        started: Instant,
    ) -> Result<UpdateStats> {
        let mut stats = UpdateStats {
            files_seen: report.files.len() as u64,
            skipped: report.skipped,
            errors: report.errors,
            all_ignored: report.all_ignored,
            ..Default::default()
        };
        let Held {
            files: stored,
            skipped,
        } = held;
        let seen: HashSet<&str> = report.files.iter().map(|f| f.rel_path.as_str()).collect();
        let deleted: Vec<&String> = stored
            .keys()
            .filter(|p| !seen.contains(p.as_str()))
            .collect();
        let gone_skipped: Vec<&str> = (skipped.keys())
            .filter(|p| !seen.contains(p.as_str()))
            .map(String::as_str)
            .collect();
        let mut changed: Vec<&WalkedFile> = Vec::new();
        // Skipped before, with the same stat: not read again.
        let mut remembered = 0;
        for f in &report.files {
            let same = |size, mtime_ns| size == f.size && mtime_ns == f.mtime_ns;
            match (stored.get(&f.rel_path), skipped.get(&f.rel_path)) {
                (Some(r), _) if same(r.size, r.mtime_ns) => {}
                (None, Some(s)) if same(s.size, s.mtime_ns) => {
                    *stats.skipped.entry(s.reason).or_default() += 1;
                    remembered += 1;
                }
                _ => changed.push(f),
            }
        }
        stats.files_unchanged = stats.files_seen - changed.len() as u64 - remembered;
        let slow_model = embedder.is_some_and(|e| !e.is_fast());
        let offered = self.ask_reuse(&changed, &stored, slow_model, progress);
        let offer = offered.as_ref().map(|offered| Offered {
            files: offered.files.iter().map(|f| (f.path.as_str(), f)).collect(),
            vectors: offered.model.is_some()
                && offered.model.as_deref() == embedder.map(|e| e.model_id()),
        });
        let offer = offer.as_ref();

        let model = embedder.map(|e| (e, model_tag(e.model_id())));
        let (first_batch, max_batch) = match embedder {
            Some(e) if !e.is_fast() => (BATCH_FILES_SLOW_MODEL, MAX_BATCH_FILES_SLOW_MODEL),
            _ => (BATCH_FILES, MAX_BATCH_FILES),
        };
        if let Some((embedder, _)) = model {
            // An empty index gets each chunk's vector in the chunk's own transaction: it can
            // say so now, and spare the pass over every chunk that looks for missing vectors.
            let reader = self.store.read()?;
            if reader.n_chunks()? == 0 && reader.meta(Meta::Model)?.is_none_or(|m| m.is_empty()) {
                let mut w = self.store.write()?;
                w.set_meta(Meta::Model, embedder.model_id().as_bytes())?;
                w.commit()?;
            }
        }
        let total = changed.len() as u64;
        let mut done = 0;
        // Three stages overlap: a thread reads the files of the next batch (on a cold
        // disk cache the parser would otherwise wait on the disk for every file) while one
        // batch is chunked and embedded and the previous one is written and committed.
        let batches: Vec<&[&WalkedFile]> =
            growing_batches(&changed, first_batch, max_batch).collect();
        std::thread::scope(|scope| -> Result<()> {
            let (sender, contents) = std::sync::mpsc::sync_channel::<Vec<Option<Vec<u8>>>>(0);
            let to_read = batches.clone();
            let disk = &self.disk;
            scope.spawn(move || {
                for files in to_read {
                    let read = files
                        .iter()
                        .map(|f| {
                            let _waiting = disk.begin();
                            std::fs::read(&f.abs_path).ok()
                        })
                        .collect();
                    if sender.send(read).is_err() {
                        break;
                    }
                }
            });
            let mut pending: Option<(&[&WalkedFile], Batch)> = None;
            let mut batches = batches.into_iter();
            loop {
                let next = batches.next().map(|files| {
                    // The reader sends a batch for every batch, unless it panicked.
                    let read = contents.recv().unwrap_or_else(|_| vec![None; files.len()]);
                    (files, read)
                });
                let writing = pending.as_ref().map_or(0, |(files, _)| files.len() as u64);
                let files = next.as_ref().map(|(files, _)| *files);
                let (prepared, written) = rayon::join(
                    || {
                        let started = Instant::now();
                        let prepared = next.map(|(files, read)| {
                            self.prepare_batch(files, read, &stored, model, offer)
                        });
                        (prepared, started.elapsed())
                    },
                    || {
                        let started = Instant::now();
                        let written = match pending.take() {
                            Some((files, batch)) => self.write_batch(files, batch, model).map(Some),
                            None => Ok(None),
                        };
                        (written, started.elapsed())
                    },
                );
                let ((prepared, prepare_time), (written, write_time)) = (prepared, written);
                tracing::debug!(
                    files = files.map_or(0, <[_]>::len),
                    prepare_ms = prepare_time.as_millis() as u64,
                    write_ms = write_time.as_millis() as u64,
                    "batch"
                );
                if let Some(written) = written? {
                    stats.add(written);
                    done += writing;
                    progress(Progress::Indexed { done, total });
                }
                match (files, prepared) {
                    (Some(files), Some(batch)) => pending = Some((files, batch?)),
                    _ => return Ok(()),
                }
            }
        })?;
        if !deleted.is_empty() || !gone_skipped.is_empty() {
            let mut w = self.store.write()?;
            for path in &deleted {
                w.remove_file(path)?;
            }
            w.forget_skipped(gone_skipped)?;
            w.commit()?;
            stats.files_deleted = deleted.len() as u64;
        }
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "batches written");
        if let Some((embedder, tag)) = model {
            self.complete_vectors(embedder, &tag, &mut stats, progress)?;
            self.refresh_ivf(embedder, &tag, IVF_MIN_CHUNKS)?;
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "vectors complete"
            );
        }
        if stats.files_indexed + stats.files_deleted > 0 {
            let mut w = self.store.write()?;
            w.set_last_update(stats.chunks_reused, stats.vectors_embedded)?;
            w.commit()?;
        }
        self.compact_after(&stats)?;
        stats.elapsed = started.elapsed();
        tracing::info!(
            files = stats.files_seen,
            indexed = stats.files_indexed,
            deleted = stats.files_deleted,
            chunks = stats.chunks_written,
            embedded = stats.vectors_embedded,
            reused = stats.chunks_reused,
            elapsed_ms = stats.elapsed.as_millis() as u64,
            "index updated"
        );
        Ok(stats)
    }

    /// What [`Index::set_reuse`]'s offer has of `changed` (files whose stat differs from
    /// `stored`), when the index is empty or enough stored files changed under a slow model
    /// (files the index never keeps, binary or not UTF-8, are "changed" on every update and
    /// must not count): hashed first, and those with the stored bytes (a touch, a checkout of
    /// the same content) left out.
    fn ask_reuse(
        &mut self,
        changed: &[&WalkedFile],
        stored: &BTreeMap<String, FileRecord>,
        slow_model: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Option<Snapshot> {
        let reuse = self.reuse.as_mut()?;
        let filling = stored.is_empty() && !changed.is_empty();
        let modified = changed
            .iter()
            .filter(|f| stored.contains_key(&f.rel_path))
            .count();
        if !filling && (modified < REUSE_MIN_FILES || !slow_model) {
            return None;
        }
        let hashed: Vec<(String, [u8; 16])> = changed
            .par_iter()
            .filter_map(|f| {
                let read = {
                    let _waiting = self.disk.begin();
                    std::fs::read(&f.abs_path)
                };
                let hash = walk::file_hash(&read.ok()?);
                let same = stored.get(&f.rel_path).is_some_and(|r| r.hash == hash);
                (!same).then(|| (f.rel_path.clone(), hash))
            })
            .collect();
        if hashed.is_empty() {
            return None;
        }
        progress(Progress::Offering {
            files: hashed.len() as u64,
        });
        reuse(&hashed)
    }

    /// After a large change (a cold index, a branch switch) most of the file is pages that
    /// redb freed between transactions: compact it. Small updates are not worth the rewrite.
    fn compact_after(&mut self, stats: &UpdateStats) -> Result<()> {
        let n_chunks = self.store.read()?.n_chunks()?;
        let written = stats.chunks_written + stats.vectors_embedded;
        if written < COMPACT_MIN_WRITES || written * 10 < n_chunks {
            return Ok(());
        }
        let started = Instant::now();
        match self.store.compact() {
            Ok(_) => tracing::debug!(ms = started.elapsed().as_millis() as u64, "compacted"),
            Err(err) => tracing::debug!("not compacted: {err}"),
        }
        Ok(())
    }

    /// Reads and chunks a batch of changed files, and embeds the chunks whose vectors the
    /// index does not hold yet.
    fn prepare_batch<'a>(
        &self,
        files: &[&WalkedFile],
        contents: Vec<Option<Vec<u8>>>,
        stored: &BTreeMap<String, FileRecord>,
        model: Option<(&dyn Embedder, [u8; 8])>,
        offer: Option<&Offered<'a>>,
    ) -> Result<Batch<'a>> {
        let prepared: Vec<Prepared> = files
            .par_iter()
            .zip(contents)
            .map(|(f, bytes)| {
                let offered = offer.and_then(|o| o.files.get(f.rel_path.as_str()).copied());
                prepare(f, bytes, stored.get(&f.rel_path), offered)
            })
            .collect();
        let mut batch = Batch {
            prepared,
            vectors: Vec::new(),
            codes: Vec::new(),
            reused: 0,
        };
        let Some((embedder, tag)) = model else {
            return Ok(batch);
        };
        let lookup = self.store.read()?.embedding_table()?;
        let mut wanted: FxHashMap<[u8; 16], String> = FxHashMap::default();
        let offered_vectors = offer.is_some_and(|o| o.vectors);
        for prep in &batch.prepared {
            let Prepared::Changed {
                chunks,
                text,
                offered,
                ..
            } = prep
            else {
                continue;
            };
            let offered = offered.filter(|_| offered_vectors);
            for (i, chunk) in chunks.iter().enumerate() {
                let hash = chunk.record.content_hash;
                let vector = offered.and_then(|o| o.chunks[i].vector.as_ref());
                let usable =
                    |(scale, codes): &&Codes| scale.is_finite() && codes.len() == embedder.dim();
                if let Some(vector) = vector.filter(usable) {
                    batch.codes.push((hash, vector.clone()));
                } else if wanted.contains_key(&hash) || lookup.contains(&tag, &hash)? {
                    batch.reused += 1;
                } else {
                    wanted.insert(hash, embedding_text(&chunk.record, text));
                }
            }
        }
        // In key order, the writer's inserts walk the vector table's pages once each.
        let mut wanted: Vec<([u8; 16], String)> = wanted.into_iter().collect();
        wanted.sort_unstable_by_key(|(hash, _)| *hash);
        let (hashes, texts): (Vec<[u8; 16]>, Vec<String>) = wanted.into_iter().unzip();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = embedder.embed_documents(&refs)?;
        batch.vectors = hashes.into_iter().zip(vectors).collect();
        Ok(batch)
    }

    /// Stores a prepared batch in one transaction; returns what it did.
    fn write_batch(
        &self,
        files: &[&WalkedFile],
        batch: Batch,
        model: Option<(&dyn Embedder, [u8; 8])>,
    ) -> Result<UpdateStats> {
        let mut stats = UpdateStats {
            vectors_embedded: batch.vectors.len() as u64,
            vectors_reused: batch.reused,
            ..Default::default()
        };
        let mut w = self.store.write()?;
        let mut wrote_chunks = false;
        let mut new_files = Vec::new();
        for (file, prep) in files.iter().zip(batch.prepared) {
            match prep {
                Prepared::Skipped(reason) => {
                    *stats.skipped.entry(reason).or_default() += 1;
                    if reason == SkipReason::Unreadable {
                        stats
                            .errors
                            .push(format!("{}: could not be read", file.rel_path));
                    }
                    let skipped = SkippedFile {
                        size: file.size,
                        mtime_ns: file.mtime_ns,
                        reason,
                    };
                    // Unreadable may pass (a permission, a lock): it is tried again.
                    match reason {
                        SkipReason::Unreadable => w.remove_file(&file.rel_path)?,
                        _ => w.skip_file(&file.rel_path, &skipped)?,
                    }
                }
                Prepared::Same(record) => w.touch_file(&file.rel_path, &record)?,
                Prepared::Changed {
                    hash,
                    text,
                    chunks,
                    offered,
                } => {
                    if offered.is_some() {
                        stats.chunks_reused += chunks.len() as u64;
                    }
                    stats.files_indexed += 1;
                    stats.bytes_read += file.size;
                    stats.chunks_written += chunks.len() as u64;
                    wrote_chunks |= !chunks.is_empty();
                    new_files.push(NewFile {
                        path: file.rel_path.clone(),
                        size: file.size,
                        mtime_ns: file.mtime_ns,
                        hash,
                        text,
                        chunks,
                    });
                }
            }
        }
        w.put_files(new_files)?;
        match model {
            Some((_, tag)) => {
                w.put_embeddings(&tag, batch.vectors.iter().map(|(h, v)| (h, v.as_slice())))?;
                w.put_embedding_codes(&tag, &batch.codes)?;
            }
            // These chunks have no vectors: a later run with a model must fill them in.
            None if wrote_chunks => w.set_meta(Meta::Model, b"")?,
            None => {}
        }
        w.commit()?;
        Ok(stats)
    }

    /// Makes sure every chunk has a vector of `embedder`'s model: after a model change, or a
    /// run without a model, the chunks stay and only their vectors are made.
    fn complete_vectors(
        &self,
        embedder: &dyn Embedder,
        tag: &[u8; 8],
        stats: &mut UpdateStats,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let id = embedder.model_id();
        let current = self.store.read()?.meta(Meta::Model)?;
        if current.as_deref() != Some(id.as_bytes()) {
            stats.vectors_embedded += self.fill_vectors(embedder, tag, progress)?;
            let mut w = self.store.write()?;
            w.set_meta(Meta::Model, id.as_bytes())?;
            w.commit()?;
        }
        // Vectors of deleted chunks and of other models pile up: sweep them once they
        // outnumber the live ones. A reranker's vectors stay.
        let reader = self.store.read()?;
        let mut keep = vec![*tag];
        if let Some(reranker) = reader.meta(Meta::RerankModel)? {
            keep.push(model_tag(&String::from_utf8_lossy(&reranker)));
        }
        let n_chunks = reader.n_chunks()?;
        if reader.n_embeddings()? > (keep.len() as u64 + 1) * n_chunks + 1000 {
            let mut live: HashMap<[u8; 16], ()> = HashMap::new();
            reader.for_each_chunk(|_, record| {
                live.insert(record.content_hash, ());
                Ok(())
            })?;
            let mut w = self.store.write()?;
            let dropped = w.retain_embeddings(&keep, &live)?;
            w.commit()?;
            tracing::debug!(dropped, "swept unused vectors");
        }
        Ok(())
    }

    /// Embeds, with `embedder`, every chunk whose vector under `tag` the index lacks; returns
    /// how many.
    fn fill_vectors(
        &self,
        embedder: &dyn Embedder,
        tag: &[u8; 8],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64> {
        let reader = self.store.read()?;
        let lookup = reader.embedding_table()?;
        let mut missing: HashMap<[u8; 16], String> = HashMap::new();
        reader.for_each_chunk_text(|_, record, text| {
            if !missing.contains_key(&record.content_hash)
                && !lookup.contains(tag, &record.content_hash)?
            {
                missing.insert(record.content_hash, embedding_input(record.scope, text));
            }
            Ok(())
        })?;
        let total = missing.len() as u64;
        let missing: Vec<([u8; 16], String)> = missing.into_iter().collect();
        let mut done = 0;
        for batch in missing.chunks(BACKFILL_CHUNKS) {
            let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
            let vectors = embedder.embed_documents(&texts)?;
            let mut w = self.store.write()?;
            w.put_embeddings(
                tag,
                batch
                    .iter()
                    .zip(&vectors)
                    .map(|((h, _), v)| (h, v.as_slice())),
            )?;
            w.commit()?;
            done += batch.len() as u64;
            progress(Progress::Embedded { done, total });
        }
        Ok(total)
    }

    /// Keeps vectors of `reranker` (a slower, better model) for every chunk beside the main
    /// model's, so searches can let it re-order their leading candidates
    /// ([`Searcher::set_reranker`]); returns how many it had to embed.
    pub fn add_reranker(
        &mut self,
        reranker: &dyn Embedder,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64> {
        let path = self.store.path().to_path_buf();
        guarded(&path, || {
            let mut w = self.store.write()?;
            w.set_meta(Meta::RerankModel, reranker.model_id().as_bytes())?;
            w.commit()?;
            self.fill_vectors(reranker, &model_tag(reranker.model_id()), progress)
        })
    }

    /// See [`refresh_ivf`].
    fn refresh_ivf(&self, embedder: &dyn Embedder, tag: &[u8; 8], min_chunks: u64) -> Result<()> {
        debug_assert_eq!(*tag, model_tag(embedder.model_id()));
        refresh_ivf(&self.store, embedder.model_id(), min_chunks)
    }

    /// What the index holds, file by file, with each chunk's vector (what sync uploads).
    pub fn snapshot(&self) -> Result<crate::snapshot::Snapshot> {
        guarded(self.store.path(), || crate::snapshot::take(&self.store))
    }

    /// What changed since the change mark `since` of an earlier delta (everything, when
    /// `None` or when the change log no longer reaches back to it), read in one transaction.
    pub fn snapshot_since(&self, since: Option<u64>) -> Result<crate::snapshot::SnapshotDelta> {
        guarded(self.store.path(), || {
            crate::snapshot::take_since(&self.store, since)
        })
    }

    pub fn status(&self) -> Result<Status> {
        guarded(self.store.path(), || self.status_unguarded())
    }

    fn status_unguarded(&self) -> Result<Status> {
        let reader = self.store.read()?;
        let model = reader
            .meta(Meta::Model)?
            .filter(|m| !m.is_empty())
            .map(|m| String::from_utf8_lossy(&m).into_owned());
        Ok(Status {
            root: self.root.clone(),
            db_path: self.db_path().to_path_buf(),
            db_bytes: std::fs::metadata(self.db_path()).map_or(0, |m| m.len()),
            files: reader.n_files()?,
            chunks: reader.n_chunks()?,
            vectors: reader.n_embeddings()?,
            model,
            rerank_model: reader
                .meta(Meta::RerankModel)?
                .map(|m| String::from_utf8_lossy(&m).into_owned()),
            schema_version: crate::store::SCHEMA_VERSION,
            last_update: reader
                .last_update()?
                .map(|(reused, embedded)| LastUpdate { reused, embedded }),
        })
    }

    /// Problems with the index's internal consistency; empty when it is sound.
    pub fn check(&self) -> Result<Vec<String>> {
        guarded(self.store.path(), || self.store.read()?.check())
    }

    /// A searcher over the index as it is now; later updates do not change what it sees
    /// until it applies their [`Index::changes`].
    pub fn searcher(&self, embedder: Option<Arc<dyn Embedder>>) -> Result<Searcher> {
        guarded(self.store.path(), || {
            Searcher::load(&self.root, self.store.read()?, embedder)
        })
    }

    /// What the index committed (through this handle or another process) since `searcher`'s
    /// snapshot; reading them does not hold up searches, applying them is quick.
    pub fn changes(&self, searcher: &Searcher) -> Result<Changes> {
        guarded(self.store.path(), || {
            searcher.changes_in(self.store.read()?)
        })
    }
}

/// `items` cut into consecutive batches of `first`, then twice as many each time, at most `max`.
fn growing_batches<T>(items: &[T], first: usize, max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    let mut size = first.max(1);
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (batch, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        size = (size * 2).min(max.max(1));
        Some(batch)
    })
}

fn workspace_root(root: &Path) -> Result<PathBuf> {
    let canonical = root
        .canonicalize()
        .map_err(|_| Error::NoWorkspace(root.to_path_buf()))?;
    if !canonical.is_dir() {
        return Err(Error::NoWorkspace(root.to_path_buf()));
    }
    Ok(canonical)
}

/// Another copy's index offered to an update: its files by path, and whether its vectors are
/// of the update's model.
struct Offered<'a> {
    files: HashMap<&'a str, &'a SnapshotFile>,
    vectors: bool,
}

/// A batch of files read, chunked and embedded, ready to be written.
struct Batch<'a> {
    prepared: Vec<Prepared<'a>>,
    vectors: Vec<([u8; 16], Vec<f32>)>,
    /// Vectors taken as stored from an offered index, by content hash.
    codes: Vec<([u8; 16], Codes)>,
    reused: u64,
}

enum Prepared<'a> {
    Skipped(SkipReason),
    /// Same content under a new stat.
    Same(FileRecord),
    Changed {
        hash: [u8; 16],
        text: String,
        chunks: Vec<NewChunk>,
        /// The offered file the chunks were taken from, chunk for chunk.
        offered: Option<&'a SnapshotFile>,
    },
}

/// What the index held of the paths an update looks at.
#[derive(Default)]
struct Held {
    files: BTreeMap<String, FileRecord>,
    skipped: BTreeMap<String, SkippedFile>,
}

/// Chunks a file from its `bytes` (`None`: it could not be read), or takes the chunks of
/// `offered` when they prove to be of these bytes.
fn prepare<'a>(
    file: &WalkedFile,
    bytes: Option<Vec<u8>>,
    stored: Option<&FileRecord>,
    offered: Option<&'a SnapshotFile>,
) -> Prepared<'a> {
    let Some(bytes) = bytes else {
        return Prepared::Skipped(SkipReason::Unreadable);
    };
    let hash = walk::file_hash(&bytes);
    if let Some(record) = stored.filter(|r| r.hash == hash) {
        return Prepared::Same(FileRecord {
            size: file.size,
            mtime_ns: file.mtime_ns,
            ..record.clone()
        });
    }
    let text = match walk::classify(&file.abs_path, bytes) {
        Ok(text) => text,
        Err(reason) => return Prepared::Skipped(reason),
    };
    let reused = offered
        .filter(|o| o.hash == hash)
        .and_then(|o| Some((offered_records(&file.rel_path, &text, o)?, o)));
    let (chunks, offered) = match reused {
        Some((chunks, o)) => (chunks, Some(o)),
        None => (chunk_file(&file.rel_path, &text), None),
    };
    Prepared::Changed {
        hash,
        text: text.text,
        chunks,
        offered,
    }
}

#[cfg(test)]
#[path = "index_equality_tests.rs"]
mod equality_tests;

/// Rebuilds the inverted file of `store` (vectors of `model_id`) when the index is large and it is missing, of another
/// model, or covers too few of the chunks. Chunks added since it was built are scanned
/// exactly at search time, so it need not be rebuilt on every change.
pub(crate) fn refresh_ivf(store: &Store, model_id: &str, min_chunks: u64) -> Result<()> {
    let tag = &model_tag(model_id);
    let reader = store.read()?;
    let n_chunks = reader.n_chunks()?;
    if n_chunks < min_chunks {
        return Ok(());
    }
    let info = reader
        .meta(Meta::IvfInfo)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut lines = info.lines();
    let built_len: u64 = lines.next().and_then(|l| l.parse().ok()).unwrap_or(0);
    let built_model = lines.next().unwrap_or("");
    // Indexes of earlier versions hold an HNSW graph there, which no searcher reads.
    let fresh = lines.next() == Some(IVF_FORMAT)
        && built_model == model_id
        && n_chunks * 4 <= built_len * 5
        && n_chunks * 4 >= built_len * 3;
    if fresh {
        return Ok(());
    }
    let started = Instant::now();
    let lookup = reader.embedding_table()?;
    let mut hashes = Vec::with_capacity(n_chunks as usize);
    reader.for_each_chunk(|id, record| {
        hashes.push((record.content_hash, id));
        Ok(())
    })?;
    // In key order, beside a scan of the model's vectors.
    hashes.sort_unstable();
    let mut points = Vec::with_capacity(hashes.len());
    lookup.for_each_codes(
        tag,
        &hashes,
        |(hash, _)| hash,
        |i, _, codes| points.push((hashes[i].1, codes.to_vec())),
    )?;
    let len = points.len();
    let Some(dim) = points.first().map(|(_, codes)| codes.len()) else {
        return Ok(());
    };
    let ivf = Ivf::build(model_id, dim, &points);
    let mut w = store.write()?;
    w.set_meta(Meta::Ivf, &ivf.to_bytes())?;
    w.set_meta(
        Meta::IvfInfo,
        format!("{len}\n{model_id}\n{IVF_FORMAT}").as_bytes(),
    )?;
    w.commit()?;
    tracing::info!(
        points = len,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "built the inverted file of vectors"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::normalize;
    use crate::search::Filter;
    use crate::tokens;

    /// Hashed bag of words: texts sharing words get close vectors. Deterministic and instant.
    #[derive(Clone, Copy)]
    struct BagOfWords;

    impl Embedder for BagOfWords {
        fn model_id(&self) -> &str {
            "test:bag-of-words"
        }

        fn dim(&self) -> usize {
            64
        }

        fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            Ok(texts
                .iter()
                .map(|text| {
                    let mut v = vec![0.0; 64];
                    for word in tokens::words(text) {
                        v[blake3::hash(word.as_bytes()).as_bytes()[0] as usize % 64] += 1.0;
                    }
                    normalize(&mut v);
                    v
                })
                .collect())
        }
    }

    /// [`BagOfWords`] that knows two synonyms: a query in other words than the code's finds
    /// it only through the vectors.
    #[derive(Clone, Copy)]
    struct Synonyms;

    impl Embedder for Synonyms {
        fn model_id(&self) -> &str {
            "test:synonyms"
        }

        fn dim(&self) -> usize {
            64
        }

        fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            let plain: Vec<String> = texts
                .iter()
                .map(|t| t.replace("automobile", "car").replace("velocity", "speed"))
                .collect();
            BagOfWords.embed_documents(&plain.iter().map(String::as_str).collect::<Vec<_>>())
        }
    }

    fn write(root: &Path, name: &str, i: usize) {
        let text = format!("def fn_{i}(x):\n    return x + word{i} + other{}\n", i % 7);
        std::fs::write(root.join(name), text).unwrap();
    }

    #[test]
    fn an_offered_index_is_taken_only_where_the_disk_proves_it() {
        let (theirs, ours, dbs) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        for i in 0..40 {
            write(theirs.path(), &format!("m{i}.py"), i);
            write(ours.path(), &format!("m{i}.py"), i);
        }
        let model = BagOfWords;
        let mut index = Index::open(theirs.path(), &dbs.path().join("theirs.redb")).unwrap();
        index.update(Some(&model), &mut |_| {}).unwrap();
        let mut offered = index.snapshot().unwrap();
        // Edited here after they indexed it, gone here, new here.
        write(ours.path(), "m3.py", 300);
        std::fs::remove_file(ours.path().join("m4.py")).unwrap();
        write(ours.path(), "new.py", 400);
        // Records that do not hash to the text they claim, and records whose range is not
        // in the file: neither is taken, both files are chunked here.
        let at = |path: &str| offered.files.iter().position(|f| f.path == path).unwrap();
        let (m7, m8, m9, m10) = (at("m7.py"), at("m8.py"), at("m9.py"), at("m10.py"));
        offered.files[m7].chunks[0].content_hash = [9; 16];
        offered.files[m8].chunks[0].end_byte = 1 << 20;
        // Lines that are not those the bytes lie on: results would open the wrong place.
        offered.files[m9].chunks[0].end_line += 1;
        // A vector that is not a number: chunked here all the same, embedded here.
        offered.files[m10].chunks[0].vector.as_mut().unwrap().0 = f32::NAN;

        let offer = |offered: Snapshot| -> Option<Reuse> {
            Some(Box::new(move |files: &[(String, [u8; 16])]| {
                // Asked about every file here: the changed ones of an empty index.
                assert_eq!(files.len(), 40);
                Some(offered.clone())
            }))
        };
        let mut reusing = Index::open(ours.path(), &dbs.path().join("ours.redb")).unwrap();
        reusing.set_reuse(offer(offered.clone()));
        let stats = reusing.update(Some(&model), &mut |_| {}).unwrap();
        assert_eq!(stats.files_indexed, 40);
        assert_eq!(
            stats.chunks_reused, 35,
            "every file but m3, m7, m8, m9 and new"
        );
        // m3, m7, m8, m9, new, and m10 whose offered vector was refused.
        assert_eq!(stats.vectors_embedded, 6);
        let last = reusing.status().unwrap().last_update.unwrap();
        assert_eq!((last.reused, last.embedded), (35, 6));

        let mut fresh = Index::open(ours.path(), &dbs.path().join("fresh.redb")).unwrap();
        fresh.update(Some(&model), &mut |_| {}).unwrap();
        assert_eq!(reusing.snapshot().unwrap(), fresh.snapshot().unwrap());
        assert!(reusing.check().unwrap().is_empty());
        let all = Filter::default();
        let (a, b) = (
            reusing.searcher(Some(Arc::new(model))).unwrap(),
            fresh.searcher(Some(Arc::new(model))).unwrap(),
        );
        for query in ["fn_12 word12", "other3", "fn_300"] {
            let paths = |s: &Searcher| -> Vec<(String, u32)> {
                let hits = s.search(query, 10, &all).unwrap();
                hits.into_iter().map(|h| (h.path, h.start_line)).collect()
            };
            assert_eq!(paths(&a), paths(&b), "{query}");
        }

        // Of another model, the records are taken and the vectors made here.
        let mut other = Index::open(ours.path(), &dbs.path().join("other.redb")).unwrap();
        other.set_reuse(offer(offered.clone()));
        let stats = other.update(Some(&Synonyms), &mut |_| {}).unwrap();
        assert_eq!((stats.chunks_reused, stats.vectors_embedded), (35, 40));
        // A later update that changes nothing keeps what the last one did.
        other.update(Some(&Synonyms), &mut |_| {}).unwrap();
        let last = other.status().unwrap().last_update.unwrap();
        assert_eq!((last.reused, last.embedded), (35, 40));
    }

    #[test]
    fn a_branch_switch_with_a_slow_model_asks_for_the_changed_files_only_when_many_changed() {
        let (theirs, ours, dbs) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let n = REUSE_MIN_FILES + 40;
        for i in 0..n {
            write(ours.path(), &format!("m{i}.py"), i);
            // Their branch: every file but the first 20 differs.
            let j = if i < 20 { i } else { i + 10_000 };
            write(theirs.path(), &format!("m{i}.py"), j);
        }
        let model = BagOfWords;
        let mut index = Index::open(theirs.path(), &dbs.path().join("theirs.redb")).unwrap();
        index.update(Some(&model), &mut |_| {}).unwrap();
        let offered = index.snapshot().unwrap();

        // Files no index keeps (not UTF-8) are new to every update: they must not set it off.
        for i in 0..REUSE_MIN_FILES + 10 {
            std::fs::write(ours.path().join(format!("latin{i}.py")), b"caf\xe9 = 1\n").unwrap();
        }
        let mut ours_index = Index::open(ours.path(), &dbs.path().join("ours.redb")).unwrap();
        ours_index.update(Some(&model), &mut |_| {}).unwrap();
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = asked.clone();
        ours_index.set_reuse(Some(Box::new(move |files: &[(String, [u8; 16])]| {
            record.lock().unwrap().push(files.len());
            Some(offered.clone())
        })));
        // A few files changed: not worth a fetch (nor are the files never kept).
        for i in 0..5 {
            write(ours.path(), &format!("m{i}.py"), i + 10_000);
        }
        let few = ours_index.update(Some(&model), &mut |_| {}).unwrap();
        assert_eq!((few.files_indexed, few.chunks_reused), (5, 0));
        // Their branch checked out (and a touch of a file that did not change): asked about
        // the files whose bytes changed, and each taken where its bytes match theirs.
        for i in 0..n {
            let j = if i < 20 { i } else { i + 10_000 };
            write(ours.path(), &format!("m{i}.py"), j);
        }
        let switched = ours_index.update(Some(&model), &mut |_| {}).unwrap();
        // The first five went back to the bytes both branches share. (The files skipped
        // before are neither read again nor asked about.)
        assert_eq!(*asked.lock().unwrap(), [n - 20 + 5]);
        assert_eq!(switched.chunks_reused, (n - 20 + 5) as u64);
        assert_eq!(switched.vectors_embedded, 0);
        let mut fresh = Index::open(ours.path(), &dbs.path().join("fresh.redb")).unwrap();
        fresh.update(Some(&model), &mut |_| {}).unwrap();
        assert_eq!(ours_index.snapshot().unwrap(), fresh.snapshot().unwrap());
    }

    #[test]
    fn batches_grow_to_their_cap_and_cover_everything_once() {
        let items: Vec<u32> = (0..1000).collect();
        let sizes: Vec<usize> = growing_batches(&items, 10, 160).map(<[u32]>::len).collect();
        assert_eq!(sizes, [10, 20, 40, 80, 160, 160, 160, 160, 160, 50]);
        let joined: Vec<u32> = growing_batches(&items, 10, 160)
            .flatten()
            .copied()
            .collect();
        assert_eq!(joined, items);
        assert_eq!(growing_batches(&items[..0], 10, 160).count(), 0);
    }

    #[test]
    fn ivf_search_sees_newer_chunks_and_skips_deleted_ones() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        for i in 0..300 {
            write(ws.path(), &format!("m{i}.py"), i);
        }
        let mut index = Index::open(ws.path(), &db.path().join("index.redb")).unwrap();
        let model = BagOfWords;
        index.update(Some(&model), &mut |_| {}).unwrap();
        index
            .refresh_ivf(&model, &model_tag(model.model_id()), 10)
            .unwrap();
        // Newer than the inverted file: found by the exact scan of chunks above its last id.
        write(ws.path(), "late.py", 1000);
        // Deleted after the inverted file was built: it still lists the chunk and must skip it.
        std::fs::remove_file(ws.path().join("m5.py")).unwrap();
        index.update(Some(&model), &mut |_| {}).unwrap();
        assert_eq!(index.check().unwrap(), Vec::<String>::new());

        let searcher = index.searcher(Some(Arc::new(model))).unwrap();
        assert!(searcher.has_ivf());

        let all = Filter::default();
        let hit = &searcher.search("fn_1000 word1000", 3, &all).unwrap()[0];
        assert_eq!(hit.path, "late.py");
        let hit = &searcher.search("fn_42 word42", 3, &all).unwrap()[0];
        assert_eq!(hit.path, "m42.py");
        let hits = searcher.search("fn_5 word5", 20, &all).unwrap();
        assert!(hits.iter().all(|h| h.path != "m5.py"));
        drop(searcher);

        // An index of an earlier version holds an HNSW graph there: it is rebuilt.
        let tag = model_tag(model.model_id());
        let mut w = index.store.write().unwrap();
        w.set_meta(Meta::Ivf, b"an HNSW graph").unwrap();
        w.set_meta(
            Meta::IvfInfo,
            format!("301\n{}", model.model_id()).as_bytes(),
        )
        .unwrap();
        w.commit().unwrap();
        assert!(!index.searcher(Some(Arc::new(model))).unwrap().has_ivf());
        index.refresh_ivf(&model, &tag, 10).unwrap();
        assert!(index.searcher(Some(Arc::new(model))).unwrap().has_ivf());
    }

    #[test]
    fn vectors_alone_find_code_in_other_words_scanned_or_through_the_ivf() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        for i in 0..300 {
            write(ws.path(), &format!("m{i}.py"), i);
        }
        std::fs::write(
            ws.path().join("vehicle.py"),
            "def drive(car):\n    return car.speed\n",
        )
        .unwrap();
        let mut index = Index::open(ws.path(), &db.path().join("index.redb")).unwrap();
        let model = Synonyms;
        index.update(Some(&model), &mut |_| {}).unwrap();
        let all = Filter::default();
        for ivf in [false, true] {
            if ivf {
                index
                    .refresh_ivf(&model, &model_tag(model.model_id()), 10)
                    .unwrap();
            }
            let searcher = index.searcher(Some(Arc::new(model))).unwrap();
            assert_eq!(searcher.has_ivf(), ivf);
            // No word in common with the code: BM25 finds nothing, the vectors must.
            let hits = searcher.search("automobile velocity", 3, &all).unwrap();
            assert_eq!(hits[0].path, "vehicle.py", "inverted file: {ivf}");
            assert!(hits.iter().skip(1).all(|h| h.score < hits[0].score));
        }
    }

    #[test]
    fn results_by_file_give_each_file_one_place_and_put_code_before_prose() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        let uploads = "def retry_upload(path):\n    return send(path)\n\n\n\
                       def upload_parts(parts):\n    return [retry_upload(p) for p in parts]\n\n\n\
                       def upload_status(job):\n    return job.upload_state\n";
        std::fs::write(ws.path().join("transfer.py"), uploads).unwrap();
        std::fs::write(
            ws.path().join("network.py"),
            "def send(path):\n    return post(path, retry=True)\n",
        )
        .unwrap();
        std::fs::write(
            ws.path().join("README.md"),
            "# Uploads\n\nUploads retry on failure: retry upload, retry upload, upload again.\n",
        )
        .unwrap();
        let mut index = Index::open(ws.path(), &db.path().join("index.redb")).unwrap();
        index.update(Some(&BagOfWords), &mut |_| {}).unwrap();
        let searcher = index.searcher(Some(Arc::new(BagOfWords))).unwrap();
        let all = Filter::default();

        let chunks = searcher.search("retry upload", 10, &all).unwrap();
        let in_uploads = chunks.iter().filter(|h| h.path == "transfer.py").count();
        assert!(in_uploads >= 2, "the flat list keeps every matching chunk");
        assert!(chunks.iter().all(|h| h.more.is_empty()));

        let files = searcher.search_files("retry upload", 10, &all).unwrap();
        let paths: Vec<&str> = files.iter().map(|h| h.path.as_str()).collect();
        let mut unique = paths.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), paths.len(), "one result per file: {paths:?}");
        assert_eq!(paths[0], "transfer.py", "code before the README: {paths:?}");
        let first = &files[0];
        assert!(!first.more.is_empty(), "its other matches come with it");
        assert!(first.more.iter().all(|m| m.score <= first.score));
        assert!(
            (first.more.iter())
                .all(|m| (m.start_line, m.end_line) != (first.start_line, first.end_line))
        );
        // Asking for the docs puts them first again.
        let docs = searcher
            .search_files("readme about retry upload", 10, &all)
            .unwrap();
        assert_eq!(docs[0].path, "README.md");
        let limited = searcher.search_files("retry upload", 1, &all).unwrap();
        assert_eq!(limited.len(), 1);
    }

    #[test]
    fn kept_rows_load_like_the_index_and_follow_its_changes() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        let root = ws.path();
        for i in 0..40 {
            write(root, &format!("m{i}.py"), i);
        }
        let db_path = db.path().join("index.redb");
        let mut index = Index::open(root, &db_path).unwrap();
        let model: Arc<dyn Embedder> = Arc::new(BagOfWords);
        index.update(Some(&BagOfWords), &mut |_| {}).unwrap();
        let queries = ["word3 other2", "return x plus word17", "word1003", "word77"];
        let answers = |index: &Index| -> Vec<Vec<crate::Hit>> {
            let searcher = index.searcher(Some(model.clone())).unwrap();
            (queries.iter())
                .map(|q| searcher.search(q, 5, &Filter::default()).unwrap())
                .collect()
        };
        let kept = db.path().join("rows.bin");
        let rows = |index: &Index| index.searcher(Some(model.clone())).unwrap().rows();
        let loaded = answers(&index);
        let built = rows(&index);
        assert!(kept.exists(), "the first load keeps its rows");
        // A small index re-scores every candidate exactly, so answers alone would not show
        // wrong rows: the copied rows must be the ones built.
        assert!(built.iter().all(Option::is_some));
        assert_eq!(rows(&index), built, "the kept rows are the built ones");
        assert_eq!(answers(&index), loaded, "the kept rows answer alike");
        // New chunks have no kept row: read from the index, they are found all the same.
        write(root, "m3.py", 1003);
        write(root, "new.py", 77);
        index.update(Some(&BagOfWords), &mut |_| {}).unwrap();
        let with_kept = answers(&index);
        assert_eq!(
            (&with_kept[2][0].path, &with_kept[3][0].path),
            (&"m3.py".into(), &"new.py".into())
        );
        let copied = rows(&index);
        std::fs::remove_file(&kept).unwrap();
        assert_eq!(answers(&index), with_kept);
        assert_eq!(
            rows(&index),
            copied,
            "rows read from the index match copied ones"
        );
        // A damaged, cut or foreign file is ignored (and replaced).
        let good = std::fs::read(&kept).unwrap();
        for bad in [&good[..good.len() - 3], b"not rows", &good[..8]] {
            std::fs::write(&kept, bad).unwrap();
            assert_eq!(answers(&index), with_kept);
            assert_eq!(std::fs::read(&kept).unwrap(), good);
        }
    }

    #[test]
    fn a_skipped_file_is_read_again_only_when_it_changes() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        let root = ws.path();
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        write(root, "pkg/a.py", 1);
        let blob = root.join("pkg/blob.py");
        std::fs::write(&blob, b"\0\x01binary\0\x02").unwrap();
        let mut index = Index::open(root, &db.path().join("index.redb")).unwrap();
        let binary = |stats: &UpdateStats| stats.skipped.get(&SkipReason::Binary).copied();
        let skipped = |index: &Index| -> Vec<String> {
            let reader = index.store.read().unwrap();
            reader.skipped_under("").unwrap().into_keys().collect()
        };
        let first = index.update(None, &mut |_| {}).unwrap();
        assert_eq!((first.files_indexed, binary(&first)), (1, Some(1)));
        let mark = index.store.read().unwrap().change_mark().unwrap();
        let again = index.update(None, &mut |_| {}).unwrap();
        assert_eq!((again.files_indexed, again.files_unchanged), (0, 1));
        assert_eq!(binary(&again), Some(1), "still reported");
        assert_eq!(
            index.store.read().unwrap().change_mark().unwrap(),
            mark,
            "a no-op update writes nothing"
        );
        // Once it is source, it is indexed and no longer remembered as skipped.
        std::fs::write(&blob, "def no_longer_binary():\n    pass\n").unwrap();
        let fixed = index
            .update_paths(std::slice::from_ref(&blob), None, &mut |_| {})
            .unwrap();
        assert_eq!((fixed.files_indexed, binary(&fixed)), (1, None));
        assert!(skipped(&index).is_empty());
        std::fs::write(&blob, b"\0\0").unwrap();
        index
            .update_paths(std::slice::from_ref(&blob), None, &mut |_| {})
            .unwrap();
        assert_eq!(index.status().unwrap().files, 1, "its chunks went");
        assert_eq!(index.check().unwrap(), Vec::<String>::new());
        assert_eq!(skipped(&index), ["pkg/blob.py"]);
        // A deleted file is forgotten.
        std::fs::remove_file(&blob).unwrap();
        index.update(None, &mut |_| {}).unwrap();
        assert!(skipped(&index).is_empty());
    }

    #[test]
    fn skips_judged_by_other_rules_are_judged_again() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        let root = ws.path();
        write(root, "a.py", 1);
        let mut index = Index::open(root, &db.path().join("index.redb")).unwrap();
        index.update(None, &mut |_| {}).unwrap();
        // As if an older binary had judged a.py unindexable, with its stat as it is now.
        let meta = std::fs::metadata(root.join("a.py")).unwrap();
        let remember = |index: &Index, classifier: u32| {
            let mut w = index.store.write().unwrap();
            let skipped = SkippedFile {
                size: meta.len(),
                mtime_ns: (meta.modified().unwrap())
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64,
                reason: SkipReason::UnknownType,
            };
            w.skip_file("a.py", &skipped).unwrap();
            w.set_meta(Meta::Classifier, &classifier.to_le_bytes())
                .unwrap();
            w.commit().unwrap();
        };
        // Judged by these rules, the memory is trusted and the file is not read.
        remember(&index, walk::CLASSIFIER);
        index.update(None, &mut |_| {}).unwrap();
        assert_eq!(index.status().unwrap().files, 0);
        // Judged by other rules, it is read again, and indexed.
        remember(&index, walk::CLASSIFIER + 1);
        let stats = index.update(None, &mut |_| {}).unwrap();
        assert_eq!((stats.files_indexed, index.status().unwrap().files), (1, 1));
        let reader = index.store.read().unwrap();
        assert!(reader.skipped_under("").unwrap().is_empty());
    }

    #[test]
    fn updating_paths_matches_a_whole_update() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        let root = ws.path();
        std::fs::create_dir_all(root.join("pkg/deep")).unwrap();
        for i in 0..10 {
            write(root, &format!("pkg/m{i}.py"), i);
            write(root, &format!("pkg/deep/d{i}.py"), 100 + i);
        }
        let mut index = Index::open(root, &db.path().join("index.redb")).unwrap();
        index.update(None, &mut |_| {}).unwrap();
        // An edit, a new file, a deleted file, a deleted directory, an unchanged file.
        std::fs::write(root.join("pkg/m1.py"), "def edited_one():\n    pass\n").unwrap();
        write(root, "pkg/new.py", 50);
        std::fs::remove_file(root.join("pkg/m2.py")).unwrap();
        std::fs::remove_dir_all(root.join("pkg/deep")).unwrap();
        let changed = [
            "pkg/m1.py",
            "pkg/new.py",
            "pkg/m2.py",
            "pkg/deep",
            "pkg/m3.py",
        ]
        .map(|p| root.join(p));
        let stats = index.update_paths(&changed, None, &mut |_| {}).unwrap();
        assert_eq!((stats.files_indexed, stats.files_deleted), (2, 11));
        assert_eq!(stats.files_unchanged, 1);
        assert_eq!(index.check().unwrap(), Vec::<String>::new());
        let status = index.status().unwrap();
        assert_eq!((status.files, status.chunks), (10, 10));
        // A whole update finds nothing left to do.
        let again = index.update(None, &mut |_| {}).unwrap();
        assert_eq!((again.files_indexed, again.files_deleted), (0, 0));
        let searcher = index.searcher(None).unwrap();
        let hits = searcher
            .search("edited_one", 1, &Filter::default())
            .unwrap();
        assert_eq!(hits[0].path, "pkg/m1.py");
        // A new directory with files in it.
        std::fs::create_dir_all(root.join("more")).unwrap();
        write(root, "more/x.py", 7);
        let stats = index
            .update_paths(&[root.join("more")], None, &mut |_| {})
            .unwrap();
        assert_eq!(stats.files_indexed, 1);
        assert_eq!(index.status().unwrap().files, 11);
    }

    #[test]
    fn model_change_keeps_chunks_and_vectors_never_mix() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        write(ws.path(), "a.py", 1);
        let mut index = Index::open(ws.path(), &db.path().join("index.redb")).unwrap();
        let lexical = index.update(None, &mut |_| {}).unwrap();
        assert_eq!((lexical.chunks_written, lexical.vectors_embedded), (1, 0));
        assert_eq!(index.status().unwrap().model, None);
        // A model arrives: chunks stay, vectors are made.
        let with_model = index.update(Some(&BagOfWords), &mut |_| {}).unwrap();
        assert_eq!(
            (with_model.chunks_written, with_model.vectors_embedded),
            (0, 1)
        );
        assert_eq!(
            index.status().unwrap().model.as_deref(),
            Some("test:bag-of-words")
        );
        assert!(
            index
                .searcher(Some(Arc::new(BagOfWords)))
                .unwrap()
                .is_hybrid()
        );
        // A lexical run that writes chunks marks the index as lacking vectors again.
        write(ws.path(), "b.py", 2);
        index.update(None, &mut |_| {}).unwrap();
        assert_eq!(index.status().unwrap().model, None);
        assert!(
            !index
                .searcher(Some(Arc::new(BagOfWords)))
                .unwrap()
                .is_hybrid()
        );
        let again = index.update(Some(&BagOfWords), &mut |_| {}).unwrap();
        assert_eq!(again.vectors_embedded, 1);
    }

    #[test]
    fn edits_add_rows_without_moving_a_loaded_searchers_tables() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        for i in 0..400 {
            write(ws.path(), &format!("m{i}.py"), i);
        }
        let mut index = Index::open(ws.path(), &db.path().join("index.redb")).unwrap();
        index.update(Some(&BagOfWords), &mut |_| {}).unwrap();
        let mut live = index.searcher(Some(Arc::new(BagOfWords))).unwrap();
        assert!(live.is_hybrid());
        let loaded = live.table_addresses();
        // A file that grows from one chunk to several, on disk and in a buffer.
        let grown: String = (0..8)
            .map(|k| format!("def grown_{k}(x):\n    return x + {k}\n\n\n"))
            .collect();
        std::fs::write(ws.path().join("m3.py"), &grown).unwrap();
        index.update(Some(&BagOfWords), &mut |_| {}).unwrap();
        live.apply(index.changes(&live).unwrap()).unwrap();
        let buffer = live.prepare_buffer("m5.py", grown).unwrap().unwrap();
        live.put_buffer(buffer);
        assert!(live.len() > 400 + 8);
        // Moving them copies every row: at a million chunks the first edit waited a second.
        assert_eq!(live.table_addresses(), loaded);
    }

    #[test]
    fn a_live_searcher_follows_commits_and_buffers() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        for i in 0..20 {
            write(ws.path(), &format!("m{i}.py"), i);
        }
        let mut index = Index::open(ws.path(), &db.path().join("index.redb")).unwrap();
        let model = BagOfWords;
        index.update(Some(&model), &mut |_| {}).unwrap();
        let mut live = index.searcher(Some(Arc::new(model))).unwrap();
        let all = Filter::default();
        let paths = |s: &Searcher, q: &str| -> Vec<String> {
            s.search(q, 5, &all)
                .unwrap()
                .into_iter()
                .map(|h| h.path)
                .collect()
        };

        // Edited, deleted and new files on disk: current after one `changes` + `apply`.
        std::fs::write(ws.path().join("m3.py"), "def renamed_thing():\n    pass\n").unwrap();
        std::fs::remove_file(ws.path().join("m4.py")).unwrap();
        write(ws.path(), "new.py", 77);
        index.update(Some(&model), &mut |_| {}).unwrap();
        let changes = index.changes(&live).unwrap();
        assert_eq!(changes.files(), 3);
        live.apply(changes).unwrap();
        assert_eq!(paths(&live, "renamed_thing")[0], "m3.py");
        assert!(!paths(&live, "fn_3 word3").contains(&"m3.py".to_string()));
        assert!(!paths(&live, "fn_4 word4").contains(&"m4.py".to_string()));
        assert_eq!(paths(&live, "fn_77 word77")[0], "new.py");
        assert_eq!(live.len(), index.searcher(None).unwrap().len());
        assert!(index.changes(&live).unwrap().is_empty());

        // Searchers catch up through the index's change log; one further behind than the log
        // reaches (it keeps 8 changes in tests) compares every file instead.
        let mut behind = index.searcher(Some(Arc::new(model))).unwrap();
        write(ws.path(), "m6.py", 600);
        index.update(Some(&model), &mut |_| {}).unwrap();
        live.apply(index.changes(&live).unwrap()).unwrap();
        for i in 10..18 {
            write(ws.path(), &format!("m{i}.py"), i + 1000);
        }
        index.update(Some(&model), &mut |_| {}).unwrap();
        let changes = index.changes(&live).unwrap();
        assert_eq!(changes.files(), 8);
        live.apply(changes).unwrap();
        let changes = index.changes(&behind).unwrap();
        assert_eq!(changes.files(), 9);
        behind.apply(changes).unwrap();
        for s in [&live, &behind] {
            assert_eq!(paths(s, "fn_1012 word1012")[0], "m12.py");
            assert_eq!(paths(s, "fn_600 word600")[0], "m6.py");
            assert_eq!(s.len(), index.searcher(None).unwrap().len());
        }

        // An unsaved buffer replaces its file; a new file's buffer joins; dropping restores.
        let buffer = live
            .prepare_buffer("m5.py", "def unsaved_idea(y):\n    return y\n".into())
            .unwrap()
            .unwrap();
        live.put_buffer(buffer);
        let fresh = live
            .prepare_buffer("draft.py", "def draft_only():\n    return 1\n".into())
            .unwrap()
            .unwrap();
        live.put_buffer(fresh);
        assert_eq!(paths(&live, "unsaved_idea")[0], "m5.py");
        assert_eq!(paths(&live, "draft_only")[0], "draft.py");
        assert!(!paths(&live, "fn_5 word5").contains(&"m5.py".to_string()));
        // The file's stored chunks change under the buffer: the buffer still wins.
        write(ws.path(), "m5.py", 500);
        index.update(Some(&model), &mut |_| {}).unwrap();
        let changes = index.changes(&live).unwrap();
        live.apply(changes).unwrap();
        assert_eq!(paths(&live, "unsaved_idea")[0], "m5.py");
        assert!(!paths(&live, "fn_500 word500").contains(&"m5.py".to_string()));
        live.drop_buffer("m5.py").unwrap();
        live.drop_buffer("draft.py").unwrap();
        assert_eq!(paths(&live, "fn_500 word500")[0], "m5.py");
        assert!(
            paths(&live, "unsaved_idea").is_empty() || paths(&live, "unsaved_idea")[0] != "m5.py"
        );
        assert!(!paths(&live, "draft_only").contains(&"draft.py".to_string()));
        assert_eq!(live.len(), index.searcher(None).unwrap().len());
        // A file the index leaves out (here: ignored) gets no buffer.
        std::fs::write(ws.path().join(".gitignore"), "skip.py\n").unwrap();
        std::fs::write(ws.path().join("skip.py"), "def hidden():\n    pass\n").unwrap();
        assert!(
            live.prepare_buffer("skip.py", "def x(): pass\n".into())
                .unwrap()
                .is_none()
        );
    }

    /// Prefers texts that say "beta": a stand-in for a better, slower model.
    #[derive(Clone, Copy)]
    struct PrefersBeta;

    impl Embedder for PrefersBeta {
        fn model_id(&self) -> &str {
            "test:prefers-beta"
        }

        fn dim(&self) -> usize {
            2
        }

        fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            Ok(texts
                .iter()
                .map(|t| match t.contains("beta") {
                    true => vec![1.0, 0.0],
                    false => vec![0.0, 1.0],
                })
                .collect())
        }

        fn embed_query(&self, _: &str) -> Result<Vec<f32>> {
            Ok(vec![1.0, 0.0])
        }
    }

    #[test]
    fn a_reranker_reorders_the_leading_candidates_from_its_stored_vectors() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        let a = "def alpha_handler(x):\n    return shared_value + shared_value\n";
        std::fs::write(ws.path().join("a.py"), a).unwrap();
        let b = "def beta_handler(x):\n    return x + shared_value\n";
        std::fs::write(ws.path().join("b.py"), b).unwrap();
        let mut index = Index::open(ws.path(), &db.path().join("index.redb")).unwrap();
        index.update(Some(&BagOfWords), &mut |_| {}).unwrap();
        assert_eq!(index.add_reranker(&PrefersBeta, &mut |_| {}).unwrap(), 2);
        assert_eq!(index.add_reranker(&PrefersBeta, &mut |_| {}).unwrap(), 0);
        let all = Filter::default();
        let plain = index.searcher(Some(Arc::new(BagOfWords))).unwrap();
        assert_eq!(
            plain.search("shared_value", 2, &all).unwrap()[0].path,
            "a.py"
        );
        let mut reranked = index.searcher(Some(Arc::new(BagOfWords))).unwrap();
        reranked.set_reranker(Arc::new(PrefersBeta));
        assert_eq!(
            reranked.search("shared_value", 2, &all).unwrap()[0].path,
            "b.py"
        );
        // A new file: the next search with the reranker embeds just its chunk.
        std::fs::write(ws.path().join("c.py"), "def gamma():\n    pass\n").unwrap();
        index.update(Some(&BagOfWords), &mut |_| {}).unwrap();
        assert_eq!(index.add_reranker(&PrefersBeta, &mut |_| {}).unwrap(), 1);
    }
}
