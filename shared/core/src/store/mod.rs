//! The index on disk: one redb database per workspace. Only this module touches redb.
//!
//! Every change is a write transaction that leaves the tables consistent with each other (a
//! file's record, its chunks, their postings), so a process killed at any moment leaves an
//! index the next run completes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{
    ConcurrencyMode, Database, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use rustc_hash::FxHashMap;

use crate::damage::guarded;
use crate::error::{Error, Result};
use crate::lang::ChunkKind;
use crate::tokens;

mod encoding;
mod vectors;

pub(crate) use encoding::*;
pub(crate) use vectors::EmbeddingLookup;

/// Bumped whenever a table's layout or the meaning of its contents (chunking, tokenising)
/// changes; an index of another version is rebuilt.
pub(crate) const SCHEMA_VERSION: u32 = 5;

/// [`Meta`] key → value.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// What the `meta` table holds, one value per key; the names are the stored keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Meta {
    /// The schema version, `u32` little-endian.
    Schema,
    /// The workspace the index is of.
    Root,
    /// The id of the model whose vectors the index keeps (empty: none).
    Model,
    /// The reranker's model id, when one is kept beside the model.
    RerankModel,
    /// The inverted file of vectors, and the layout and model it was built with.
    Ivf,
    IvfInfo,
    /// Counters, `u64` little-endian.
    TotalTerms,
    NextChunkId,
    NextChange,
    /// What the last update that changed the index did: chunks reused from another copy's
    /// index, then chunks embedded, each `u64` little-endian.
    LastUpdate,
    /// The version of the rules the remembered skipped files were judged by, `u32`
    /// little-endian (see `walk::CLASSIFIER`).
    Classifier,
}

impl Meta {
    fn key(self) -> &'static str {
        match self {
            Meta::Schema => "schema",
            Meta::Root => "root",
            Meta::Model => "model",
            Meta::RerankModel => "rerank_model",
            // Named for the approximate index an earlier version kept there.
            Meta::Ivf => "ann",
            Meta::IvfInfo => "ann_info",
            Meta::TotalTerms => "total_terms",
            Meta::NextChunkId => "next_chunk_id",
            Meta::NextChange => "next_change",
            Meta::LastUpdate => "last_update",
            Meta::Classifier => "classifier",
        }
    }
}
/// Relative path → [`FileRecord`].
const PATH_TO_FILE: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
/// Chunk id → [`ChunkRecord`].
const ID_TO_CHUNK: TableDefinition<u64, &[u8]> = TableDefinition::new("chunks");
/// Relative path → the file's text as chunked, LZ4-compressed: its chunks are byte ranges of
/// it. Kept apart from the chunk records, which a searcher reads every one of: at a million
/// chunks the texts were three quarters of that table (and compress to about a third).
const PATH_TO_TEXT: TableDefinition<&str, &[u8]> = TableDefinition::new("texts");
/// (BM25 term, first chunk id) → a run of packed postings (see [`Posting`]), sorted by chunk
/// id, every id ≥ the key's and below the next run's key. A write transaction adds a run per
/// term of at most [`RUN_POSTINGS`], so a cold index inserts a term a few times per batch
/// instead of once per chunk (a key per posting was slower to fill and twice the space); a
/// term's runs are one key range.
const TERM_TO_POSTINGS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("postings");
/// Model tag ‖ content hash → vector (int8 codes with a scale, see `encode_vector`). Keyed by model, so vectors of two
/// models never mix, and by content, so identical chunks embed once and moves cost nothing.
const EMBEDDING_KEY_TO_VECTOR: TableDefinition<&[u8], &[u8]> = TableDefinition::new("embeddings");

/// Relative path → [`SkippedFile`]: a file the walk lists but the index skipped once it read
/// it (binary, not UTF-8, minified, generated, no known text type), so that an update reads
/// it again only when its size or mtime changes. Added after schema 5 was set: an index
/// without the table has skipped nothing yet.
const PATH_TO_SKIPPED: TableDefinition<&str, &[u8]> = TableDefinition::new("skipped");

/// Change number → a path whose chunks a write transaction replaced or removed, numbered from
/// `next_change` on, the last [`CHANGES_KEPT`] of them: a searcher catches up by reading the
/// files named since its snapshot instead of comparing every file record.
const CHANGE_LOG: TableDefinition<u64, &str> = TableDefinition::new("changes");
const CHANGES_KEPT: u64 = if cfg!(test) { 8 } else { 100_000 };

/// Postings in one run: about a page. Removing a chunk rewrites the run of each of its terms,
/// so an edit costs a few kilobytes per term, however common the term and large the batch
/// that wrote it (uncapped, a batch of 2,048 files made runs of hundreds of kilobytes).
const RUN_POSTINGS: usize = 512;

/// redb's own page cache (1 GiB by default) comes on top of the kernel's page cache of the
/// same file: a server holding a large index open would keep a gigabyte for little gain.
const CACHE_BYTES: usize = 64 << 20;

/// How opening went: a stale schema is rebuilt, and the caller may want to say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    Existing,
    Created,
    RebuiltStaleSchema { found: u32 },
}

pub(crate) struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens the index at `path`, creating it if absent. Other processes may have it open too:
    /// redb serialises their write transactions.
    pub fn open(path: &Path, root: &Path) -> Result<(Store, Opened)> {
        guarded(path, || Self::open_unguarded(path, root))
    }

    fn open_unguarded(path: &Path, root: &Path) -> Result<(Store, Opened)> {
        let existed = path.exists();
        // redb would take an empty file for a new database. An index is empty on disk only for
        // the moment another process takes to create it; one that stays empty was cut short (a
        // full disk, a copy gone wrong).
        let stale_and_empty = |m: std::fs::Metadata| {
            m.len() == 0
                && m.modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(5))
        };
        if existed && std::fs::metadata(path).is_ok_and(stale_and_empty) {
            return Err(Error::CorruptIndex {
                path: path.to_path_buf(),
                message: "the file is empty".into(),
            });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let db = Self::open_db(path)?;
        let store = Store {
            db,
            path: path.to_path_buf(),
        };
        let found = store.read()?.schema_version()?;
        match found {
            Some(SCHEMA_VERSION) => Ok((store, Opened::Existing)),
            None if existed && store.read()?.has_tables()? => {
                Err(store.corrupt("no Scry schema version"))
            }
            None => {
                store.initialise(root)?;
                Ok((
                    store,
                    if existed {
                        Opened::Existing
                    } else {
                        Opened::Created
                    },
                ))
            }
            Some(found) => {
                let store = Self::recreate(store, root)?;
                Ok((store, Opened::RebuiltStaleSchema { found }))
            }
        }
    }

    /// Deletes whatever is at `path` (a corrupt file, an old index) and starts afresh.
    pub fn rebuild(path: &Path, root: &Path) -> Result<Store> {
        if path.exists() {
            std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
        }
        Ok(Self::open(path, root)?.0)
    }

    fn recreate(store: Store, root: &Path) -> Result<Store> {
        let path = store.path.clone();
        drop(store);
        Self::rebuild(&path, root)
    }

    fn open_db(path: &Path) -> Result<Database> {
        let corrupt = |message: String| Error::CorruptIndex {
            path: path.to_path_buf(),
            message,
        };
        Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                // redb reports a file that is not one of its databases as invalid data.
                redb::DatabaseError::Storage(redb::StorageError::Io(io))
                    if matches!(
                        io.kind(),
                        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                    ) =>
                {
                    corrupt(match io.kind() {
                        std::io::ErrorKind::UnexpectedEof => "the file is cut short".into(),
                        _ => io.to_string(),
                    })
                }
                redb::DatabaseError::Storage(redb::StorageError::Io(io))
                    if crate::error::refused_write(&io) =>
                {
                    Error::Unwritable(format!("{}: {}", path.display(), io.kind()))
                }
                redb::DatabaseError::Storage(redb::StorageError::Io(io)) => Error::io(path, io),
                redb::DatabaseError::Storage(other) => corrupt(other.to_string()),
                redb::DatabaseError::UpgradeRequired(v) => {
                    corrupt(format!("written by an older storage format {v}"))
                }
                other => Error::Storage(format!("{}: {other}", path.display())),
            })
    }

    fn corrupt(&self, message: &str) -> Error {
        Error::CorruptIndex {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    fn initialise(&self, root: &Path) -> Result<()> {
        let w = self.write()?;
        {
            let mut meta = w.txn.open_table(META)?;
            meta.insert(Meta::Schema.key(), SCHEMA_VERSION.to_le_bytes().as_slice())?;
            meta.insert(Meta::Root.key(), root.to_string_lossy().as_bytes())?;
        }
        // Create every table, so a reader never meets a missing one.
        w.txn.open_table(PATH_TO_FILE)?;
        w.txn.open_table(ID_TO_CHUNK)?;
        w.txn.open_table(PATH_TO_TEXT)?;
        w.txn.open_table(TERM_TO_POSTINGS)?;
        w.txn.open_table(EMBEDDING_KEY_TO_VECTOR)?;
        w.txn.open_table(CHANGE_LOG)?;
        w.commit()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives back the pages that many write transactions leave free (most of a cold index's
    /// file). Fails harmlessly while another process is writing.
    pub fn compact(&mut self) -> Result<bool> {
        self.db
            .compact()
            .map_err(|e| Error::Storage(format!("compaction: {e}")))
    }

    pub fn read(&self) -> Result<Reader> {
        Ok(Reader {
            txn: self.db.begin_read()?,
            path: Arc::from(self.path.as_path()),
        })
    }

    pub fn write(&self) -> Result<Writer> {
        let mut txn = self.db.begin_write()?;
        // A crash mid-commit must never need a long repair on the next open.
        txn.set_quick_repair(true);
        Ok(Writer { txn })
    }
}

/// A consistent snapshot of the index.
pub(crate) struct Reader {
    txn: ReadTransaction,
    /// The index file, to name in errors.
    path: Arc<Path>,
}

fn table_missing(e: &redb::TableError) -> bool {
    matches!(e, redb::TableError::TableDoesNotExist(_))
}

impl Reader {
    /// The index file this snapshot is of.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn schema_version(&self) -> Result<Option<u32>> {
        let meta = match self.txn.open_table(META) {
            Ok(t) => t,
            Err(e) if table_missing(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(value) = meta.get(Meta::Schema.key())? else {
            return Ok(None);
        };
        let bytes: [u8; 4] = value
            .value()
            .try_into()
            .map_err(|_| Error::Storage("bad schema version".into()))?;
        Ok(Some(u32::from_le_bytes(bytes)))
    }

    fn has_tables(&self) -> Result<bool> {
        Ok(self.txn.list_tables()?.next().is_some()
            || self.txn.list_multimap_tables()?.next().is_some())
    }

    pub fn meta(&self, key: Meta) -> Result<Option<Vec<u8>>> {
        Ok(self
            .txn
            .open_table(META)?
            .get(key.key())?
            .map(|v| v.value().to_vec()))
    }

    /// [`Meta::LastUpdate`]: (reused, embedded).
    pub fn last_update(&self) -> Result<Option<(u64, u64)>> {
        let Some(bytes) = self.meta(Meta::LastUpdate)? else {
            return Ok(None);
        };
        let (reused, embedded) = bytes
            .split_first_chunk::<8>()
            .and_then(|(r, rest)| Some((r, rest.first_chunk::<8>()?)))
            .ok_or_else(|| Error::Storage("the last update's counts are truncated".into()))?;
        Ok(Some((
            u64::from_le_bytes(*reused),
            u64::from_le_bytes(*embedded),
        )))
    }

    pub fn meta_u64(&self, key: Meta) -> Result<u64> {
        Ok(self
            .meta(key)?
            .and_then(|v| v.try_into().ok())
            .map_or(0, u64::from_le_bytes))
    }

    pub fn file(&self, path: &str) -> Result<Option<FileRecord>> {
        let table = self.txn.open_table(PATH_TO_FILE)?;
        table.get(path)?.map(|v| decode(v.value())).transpose()
    }

    /// The number the next change will get: a searcher's place in the change log.
    pub fn change_mark(&self) -> Result<u64> {
        self.meta_u64(Meta::NextChange)
    }

    /// The paths changed since `mark` (an earlier [`Reader::change_mark`]), or `None` when the
    /// log no longer reaches back that far.
    pub fn changed_since(&self, mark: u64) -> Result<Option<BTreeSet<String>>> {
        let next = self.change_mark()?;
        if mark > next {
            return Ok(None);
        }
        let table = self.txn.open_table(CHANGE_LOG)?;
        if mark < next && table.get(mark)?.is_none() {
            return Ok(None);
        }
        let mut paths = BTreeSet::new();
        for entry in table.range(mark..)? {
            paths.insert(entry?.1.value().to_string());
        }
        Ok(Some(paths))
    }

    pub fn files(&self) -> Result<BTreeMap<String, FileRecord>> {
        self.records_under(PATH_TO_FILE, "")
    }

    /// The stored files at `rel` or under it (`rel` a file or a directory, `/`-separated).
    pub fn files_under(&self, rel: &str) -> Result<BTreeMap<String, FileRecord>> {
        self.records_under(PATH_TO_FILE, rel)
    }

    /// The files skipped at `rel` or under it (everywhere, for `""`).
    pub fn skipped_under(&self, rel: &str) -> Result<BTreeMap<String, SkippedFile>> {
        match self.txn.open_table(PATH_TO_SKIPPED) {
            Err(e) if table_missing(&e) => Ok(BTreeMap::new()),
            _ => self.records_under(PATH_TO_SKIPPED, rel),
        }
    }

    /// The records of a path-keyed table at `rel` or under it (everything, for `""`).
    fn records_under<T: serde::de::DeserializeOwned>(
        &self,
        definition: TableDefinition<&str, &[u8]>,
        rel: &str,
    ) -> Result<BTreeMap<String, T>> {
        let table = self.txn.open_table(definition)?;
        let mut records = BTreeMap::new();
        for entry in table.range(rel..)? {
            let (path, value) = entry?;
            let path = path.value();
            if !path.starts_with(rel) {
                break;
            }
            if rel.is_empty() || path.len() == rel.len() || path.as_bytes()[rel.len()] == b'/' {
                records.insert(path.to_string(), decode(value.value())?);
            }
        }
        Ok(records)
    }

    pub fn n_files(&self) -> Result<u64> {
        Ok(self.txn.open_table(PATH_TO_FILE)?.len()?)
    }

    pub fn n_chunks(&self) -> Result<u64> {
        Ok(self.txn.open_table(ID_TO_CHUNK)?.len()?)
    }

    pub fn n_embeddings(&self) -> Result<u64> {
        Ok(self.txn.open_table(EMBEDDING_KEY_TO_VECTOR)?.len()?)
    }

    /// Every chunk, in id order, read in place.
    pub fn for_each_chunk(
        &self,
        mut f: impl FnMut(u64, ChunkRecord<&str>) -> Result<()>,
    ) -> Result<()> {
        let table = self.txn.open_table(ID_TO_CHUNK)?;
        for entry in table.iter()? {
            let (id, value) = entry?;
            f(id.value(), decode(value.value())?)?;
        }
        Ok(())
    }

    pub fn chunk(&self, id: u64) -> Result<Option<ChunkRecord>> {
        let table = self.txn.open_table(ID_TO_CHUNK)?;
        table.get(id)?.map(|v| decode(v.value())).transpose()
    }

    /// The stored text of file `path` (as chunked).
    pub fn file_text(&self, path: &str) -> Result<Option<String>> {
        let table = self.txn.open_table(PATH_TO_TEXT)?;
        table.get(path)?.map(|v| decompress(v.value())).transpose()
    }

    /// The text of chunk `id`, from its file's.
    pub fn chunk_text(&self, id: u64) -> Result<Option<String>> {
        let Some(record) = self.chunk(id)? else {
            return Ok(None);
        };
        let text = self.file_text(&record.path)?.unwrap_or_default();
        match chunk_text(&text, &record) {
            Some(part) => Ok(Some(part.to_string())),
            None => Err(Error::Storage(format!(
                "chunk {id} lies outside the stored text of {}",
                record.path
            ))),
        }
    }

    /// Every chunk, in id order, with its text: a file's text is read once for its run of
    /// chunks.
    pub fn for_each_chunk_text(
        &self,
        mut f: impl FnMut(u64, ChunkRecord<&str>, &str) -> Result<()>,
    ) -> Result<()> {
        let mut file: Option<(String, String)> = None;
        self.for_each_chunk(|id, record| {
            if file.as_ref().is_none_or(|(path, _)| path != record.path) {
                let text = self.file_text(record.path)?.unwrap_or_default();
                file = Some((record.path.to_string(), text));
            }
            let (_, text) = file.as_ref().expect("just read");
            f(id, record.clone(), chunk_text(text, &record).unwrap_or(""))
        })
    }

    #[cfg(test)]
    pub fn postings(&self, term: &str) -> Result<Vec<Posting>> {
        let mut out = Vec::new();
        self.for_each_posting(term, |p| out.push(p))?;
        Ok(out)
    }

    /// Calls `f` with each posting of `term`, in chunk id order, straight from the stored runs
    /// (a common term has hundreds of thousands: no list of them is made).
    pub fn for_each_posting(&self, term: &str, mut f: impl FnMut(Posting)) -> Result<()> {
        let table = self.txn.open_table(TERM_TO_POSTINGS)?;
        for entry in table.range((term, 0)..=(term, u64::MAX))? {
            packed_postings(entry?.1.value())
                .map(Posting::unpack)
                .for_each(&mut f);
        }
        Ok(())
    }

    /// Checks that the tables agree with each other; returns what does not.
    pub fn check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let files = self.files()?;
        let mut owned: HashMap<u64, &str> = HashMap::new();
        let texts = self.txn.open_table(PATH_TO_TEXT)?;
        for (path, record) in &files {
            for &id in &record.chunk_ids {
                if let Some(other) = owned.insert(id, path) {
                    problems.push(format!("chunk {id} belongs to both {other} and {path}"));
                }
            }
            if !record.chunk_ids.is_empty() {
                match texts.get(path.as_str())?.map(|v| decompress(v.value())) {
                    None => problems.push(format!("{path} has chunks but no stored text")),
                    Some(Err(err)) => problems.push(format!("{path}: {err}")),
                    Some(Ok(_)) => {}
                }
            }
        }
        let mut total_terms = 0u64;
        let mut n_chunks = 0usize;
        self.for_each_chunk(|id, record| {
            n_chunks += 1;
            total_terms += record.n_terms as u64;
            match owned.get(&id) {
                None => problems.push(format!("chunk {id} ({}) belongs to no file", record.path)),
                Some(path) if *path != record.path => problems.push(format!(
                    "chunk {id} says {} but is listed under {path}",
                    record.path
                )),
                Some(_) => {}
            }
            Ok(())
        })?;
        if n_chunks != owned.len() {
            problems.push(format!(
                "files list {} chunks, the chunk table holds {n_chunks}",
                owned.len()
            ));
        }
        let stored_total = self.meta_u64(Meta::TotalTerms)?;
        if stored_total != total_terms {
            problems.push(format!(
                "total term count is {stored_total}, chunks add up to {total_terms}"
            ));
        }
        let chunks = self.txn.open_table(ID_TO_CHUNK)?;
        let postings = self.txn.open_table(TERM_TO_POSTINGS)?;
        let mut dangling = 0u64;
        for entry in postings.iter()? {
            let (_, run) = entry?;
            for posting in packed_postings(run.value()).map(Posting::unpack) {
                if chunks.get(posting.chunk_id)?.is_none() {
                    dangling += 1;
                }
            }
        }
        if dangling > 0 {
            problems.push(format!("{dangling} postings point at missing chunks"));
        }
        Ok(problems)
    }

    /// How many chunks hold `term`.
    pub fn document_frequency(&self, term: &str) -> Result<u64> {
        let table = self.txn.open_table(TERM_TO_POSTINGS)?;
        let mut n = 0;
        for entry in table.range((term, 0)..=(term, u64::MAX))? {
            n += entry?.1.value().len() as u64 / 8;
        }
        Ok(n)
    }

    pub fn embedding_table(&self) -> Result<EmbeddingLookup> {
        Ok(EmbeddingLookup {
            table: self.txn.open_table(EMBEDDING_KEY_TO_VECTOR)?,
        })
    }
}

/// One atomic change to the index.
pub(crate) struct Writer {
    txn: WriteTransaction,
}

impl Writer {
    pub fn set_meta(&mut self, key: Meta, value: &[u8]) -> Result<()> {
        self.txn.open_table(META)?.insert(key.key(), value)?;
        Ok(())
    }

    fn meta_u64(&self, key: Meta) -> Result<u64> {
        let meta = self.txn.open_table(META)?;
        let value = meta
            .get(key.key())?
            .and_then(|v| v.value().try_into().ok())
            .map_or(0, u64::from_le_bytes);
        Ok(value)
    }

    /// Removes a file and everything derived from it.
    pub fn remove_file(&mut self, path: &str) -> Result<()> {
        self.log_changes([path])?;
        self.drop_file(path)?;
        self.forget_skipped([path])
    }

    /// Remembers that the file at `path` was skipped when it had this stat (and drops what
    /// the index held of it).
    pub fn skip_file(&mut self, path: &str, skipped: &SkippedFile) -> Result<()> {
        let held = self.txn.open_table(PATH_TO_FILE)?.get(path)?.is_some();
        if held {
            self.log_changes([path])?;
            self.drop_file(path)?;
        }
        self.txn
            .open_table(PATH_TO_SKIPPED)?
            .insert(path, encode(skipped).as_slice())?;
        Ok(())
    }

    /// Forgets every file remembered as skipped: they are judged again.
    pub fn forget_all_skipped(&mut self) -> Result<()> {
        self.txn.delete_table(PATH_TO_SKIPPED)?;
        Ok(())
    }

    /// Forgets that files were skipped: they are gone, or indexed now.
    pub fn forget_skipped<'p>(&mut self, paths: impl IntoIterator<Item = &'p str>) -> Result<()> {
        let mut table = self.txn.open_table(PATH_TO_SKIPPED)?;
        for path in paths {
            table.remove(path)?;
        }
        Ok(())
    }

    fn log_changes<'p>(&mut self, paths: impl IntoIterator<Item = &'p str>) -> Result<()> {
        let mut number = self.meta_u64(Meta::NextChange)?;
        {
            let mut log = self.txn.open_table(CHANGE_LOG)?;
            for path in paths {
                log.insert(number, path)?;
                number += 1;
            }
        }
        self.set_meta(Meta::NextChange, &number.to_le_bytes())
    }

    fn drop_file(&mut self, path: &str) -> Result<()> {
        let record: Option<FileRecord> = {
            let mut files = self.txn.open_table(PATH_TO_FILE)?;
            let removed = files.remove(path)?;
            removed.map(|v| decode(v.value())).transpose()?
        };
        let text = {
            let mut texts = self.txn.open_table(PATH_TO_TEXT)?;
            let removed = texts.remove(path)?;
            removed.map(|v| decompress(v.value()))
        };
        // A damaged text must not keep the file from being indexed again: its chunks go, and
        // the postings only its words could name stay behind, skipped by searches.
        let text = text.transpose().unwrap_or_else(|err| {
            tracing::warn!("{path}: {err}; its old words stay in the BM25 index");
            None
        });
        if let Some(record) = record {
            self.remove_chunks(&record.chunk_ids, text.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }

    /// Removes chunks of a file whose text was `text`, and their postings.
    fn remove_chunks(&mut self, ids: &[u64], text: &str) -> Result<()> {
        let mut chunks = self.txn.open_table(ID_TO_CHUNK)?;
        let mut removed_terms = 0u64;
        let mut by_term: FxHashMap<String, Vec<u64>> = FxHashMap::default();
        for &id in ids {
            let Some(value) = chunks.remove(id)? else {
                continue;
            };
            let record: ChunkRecord = decode(value.value())?;
            drop(value);
            for (term, _) in crate::tokens::term_freqs(
                &record.path,
                record.symbol.as_deref(),
                record.scope.as_deref(),
                chunk_text(text, &record).unwrap_or(""),
            ) {
                by_term.entry(term).or_default().push(id);
            }
            removed_terms += record.n_terms as u64;
        }
        drop(chunks);
        let mut postings = self.txn.open_table(TERM_TO_POSTINGS)?;
        for (term, ids) in by_term {
            // Each run holding one of these ids is rewritten once, without them.
            let mut runs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for id in ids {
                let found = postings
                    .range((term.as_str(), 0)..=(term.as_str(), id))?
                    .next_back();
                if let Some(entry) = found {
                    runs.entry(entry?.0.value().1).or_default().push(id);
                }
            }
            for (start, gone) in runs {
                let kept: Vec<u8> = match postings.get((term.as_str(), start))? {
                    Some(run) => packed_postings(run.value())
                        .filter(|&p| !gone.contains(&Posting::unpack(p).chunk_id))
                        .flat_map(u64::to_le_bytes)
                        .collect(),
                    None => continue,
                };
                if kept.is_empty() {
                    postings.remove((term.as_str(), start))?;
                } else {
                    postings.insert((term.as_str(), start), kept.as_slice())?;
                }
            }
        }
        drop(postings);
        let total = self
            .meta_u64(Meta::TotalTerms)?
            .saturating_sub(removed_terms);
        self.set_meta(Meta::TotalTerms, &total.to_le_bytes())
    }

    /// Stores files and their chunks (replacing what those paths held). Each term gets one run
    /// of postings, inserted sorted by term: neighbouring inserts touch the same B-tree pages.
    pub fn put_files(&mut self, files: Vec<NewFile>) -> Result<()> {
        self.log_changes(files.iter().map(|f| f.path.as_str()))?;
        self.forget_skipped(files.iter().map(|f| f.path.as_str()))?;
        for file in &files {
            self.drop_file(&file.path)?;
        }
        let mut next_id = self.meta_u64(Meta::NextChunkId)?.max(1);
        let mut added_terms = 0u64;
        // Term → its runs as (first chunk id, packed postings); chunks come in id order, so
        // runs are sorted.
        let mut runs: FxHashMap<String, Vec<(u64, Vec<u8>)>> = FxHashMap::default();
        {
            let mut table = self.txn.open_table(ID_TO_CHUNK)?;
            let mut paths = self.txn.open_table(PATH_TO_FILE)?;
            let mut texts = self.txn.open_table(PATH_TO_TEXT)?;
            for file in files {
                let mut chunk_ids = Vec::with_capacity(file.chunks.len());
                for chunk in file.chunks {
                    let id = next_id;
                    next_id += 1;
                    for (term, tf) in chunk.term_freqs {
                        let posting = Posting {
                            chunk_id: id,
                            tf,
                            doc_len: chunk.record.n_terms,
                        };
                        let term_runs = runs.entry(term).or_default();
                        match term_runs.last_mut() {
                            Some((_, run)) if run.len() < RUN_POSTINGS * 8 => {
                                run.extend(posting.pack().to_le_bytes());
                            }
                            _ => term_runs.push((id, posting.pack().to_le_bytes().to_vec())),
                        }
                    }
                    added_terms += chunk.record.n_terms as u64;
                    table.insert(id, encode(&chunk.record).as_slice())?;
                    chunk_ids.push(id);
                }
                if !chunk_ids.is_empty() {
                    texts.insert(file.path.as_str(), compress(&file.text).as_slice())?;
                }
                let record = FileRecord {
                    size: file.size,
                    mtime_ns: file.mtime_ns,
                    hash: file.hash,
                    chunk_ids,
                };
                paths.insert(file.path.as_str(), encode(&record).as_slice())?;
            }
            let mut runs: Vec<_> = runs.into_iter().collect();
            runs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut postings = self.txn.open_table(TERM_TO_POSTINGS)?;
            for (term, term_runs) in &runs {
                for (first_id, run) in term_runs {
                    postings.insert((term.as_str(), *first_id), run.as_slice())?;
                }
            }
        }
        self.set_meta(Meta::NextChunkId, &next_id.to_le_bytes())?;
        let total = self.meta_u64(Meta::TotalTerms)? + added_terms;
        self.set_meta(Meta::TotalTerms, &total.to_le_bytes())
    }

    /// Records a file's new stat when its content did not change (a `touch`, a checkout).
    pub fn touch_file(&mut self, path: &str, record: &FileRecord) -> Result<()> {
        self.txn
            .open_table(PATH_TO_FILE)?
            .insert(path, encode(record).as_slice())?;
        Ok(())
    }

    /// Stores vectors of the model `tag` by content hash, in key order: one pass down the
    /// table rather than a jump to a random page for each vector.
    pub fn put_embeddings<'a>(
        &mut self,
        tag: &[u8; 8],
        vectors: impl IntoIterator<Item = (&'a [u8; 16], &'a [f32])>,
    ) -> Result<()> {
        let mut vectors: Vec<_> = vectors.into_iter().collect();
        vectors.sort_unstable_by_key(|(hash, _)| *hash);
        let mut table = self.txn.open_table(EMBEDDING_KEY_TO_VECTOR)?;
        for (hash, vector) in vectors {
            let key = embedding_key(tag, hash);
            table.insert(key.as_slice(), encode_vector(vector).as_slice())?;
        }
        Ok(())
    }

    /// Stores vectors as another index stored them (a scale and int8 codes), so they stay
    /// exactly those codes.
    pub fn put_embedding_codes(
        &mut self,
        tag: &[u8; 8],
        vectors: &[([u8; 16], Codes)],
    ) -> Result<()> {
        let mut table = self.txn.open_table(EMBEDDING_KEY_TO_VECTOR)?;
        for (hash, (scale, codes)) in vectors {
            let key = embedding_key(tag, hash);
            table.insert(key.as_slice(), encode_codes(*scale, codes).as_slice())?;
        }
        Ok(())
    }

    /// [`Meta::LastUpdate`].
    pub fn set_last_update(&mut self, reused: u64, embedded: u64) -> Result<()> {
        let mut bytes = reused.to_le_bytes().to_vec();
        bytes.extend(embedded.to_le_bytes());
        self.set_meta(Meta::LastUpdate, &bytes)
    }

    /// Drops every vector but those of the models `tags` for the `live` content hashes.
    pub fn retain_embeddings(
        &mut self,
        tags: &[[u8; 8]],
        live: &HashMap<[u8; 16], ()>,
    ) -> Result<u64> {
        let mut table = self.txn.open_table(EMBEDDING_KEY_TO_VECTOR)?;
        let mut dead = 0;
        table.retain(|key, _| {
            let keep = key.len() == 24
                && tags.iter().any(|t| key[..8] == t[..])
                && live.contains_key(&key[8..24]);
            dead += u64::from(!keep);
            keep
        })?;
        Ok(dead)
    }

    pub fn commit(self) -> Result<()> {
        let forgotten = self
            .meta_u64(Meta::NextChange)?
            .saturating_sub(CHANGES_KEPT);
        if forgotten > 0 {
            self.txn
                .open_table(CHANGE_LOG)?
                .retain_in(..forgotten, |_, _| false)?;
        }
        self.txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_pack_round_trip() {
        let p = Posting {
            chunk_id: (1 << 40) - 1,
            tf: 7,
            doc_len: 1234,
        };
        assert_eq!(Posting::unpack(p.pack()), p);
        let big = Posting {
            chunk_id: 3,
            tf: 999,
            doc_len: 100_000,
        };
        assert_eq!(
            Posting::unpack(big.pack()),
            Posting {
                chunk_id: 3,
                tf: 255,
                doc_len: 65_535
            }
        );
    }

    #[test]
    fn foreign_file_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        std::fs::write(&path, b"this is not a database at all, just some text").unwrap();
        let err = Store::open(&path, dir.path()).err().expect("must fail");
        assert!(matches!(err, Error::CorruptIndex { .. }), "{err}");
        assert!(err.to_string().contains("scry index --rebuild"));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"this is not a database at all, just some text"
        );
    }

    #[test]
    fn stale_schema_rebuilds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        let (store, opened) = Store::open(&path, dir.path()).unwrap();
        assert_eq!(opened, Opened::Created);
        let mut w = store.write().unwrap();
        w.set_meta(Meta::Schema, &0u32.to_le_bytes()).unwrap();
        w.commit().unwrap();
        drop(store);
        let (_, opened) = Store::open(&path, dir.path()).unwrap();
        assert_eq!(opened, Opened::RebuiltStaleSchema { found: 0 });
    }

    fn new_file(path: &str, texts: &[&str]) -> NewFile {
        let text = texts.join("\n");
        let mut start = 0;
        let chunks = texts
            .iter()
            .map(|part| {
                let term_freqs = crate::tokens::term_freqs(path, None, None, part);
                let chunk = NewChunk {
                    record: ChunkRecord {
                        path: path.to_string(),
                        language: "python".to_string(),
                        start_line: 1,
                        end_line: 1,
                        start_byte: start,
                        end_byte: start + part.len() as u32,
                        symbol: None,
                        kind: ChunkKind::Function,
                        scope: None,
                        content_hash: [0; 16],
                        n_terms: term_freqs.iter().map(|(_, n)| n).sum(),
                        shape_sig: None,
                        vocab_sig: None,
                    },
                    term_freqs,
                };
                start += part.len() as u32 + 1;
                chunk
            })
            .collect();
        NewFile {
            path: path.to_string(),
            size: 1,
            mtime_ns: 1,
            hash: [0; 16],
            text,
            chunks,
        }
    }

    #[test]
    fn chunk_texts_come_from_the_stored_file_text() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("index.redb"), dir.path()).unwrap();
        let parts = ["def retry():\n    pass", "def upload(x):\n    return x"];
        let mut w = store.write().unwrap();
        w.put_files(vec![new_file("a.py", &parts)]).unwrap();
        w.commit().unwrap();
        let reader = store.read().unwrap();
        assert_eq!(reader.chunk_text(1).unwrap().as_deref(), Some(parts[0]));
        assert_eq!(reader.chunk_text(2).unwrap().as_deref(), Some(parts[1]));
        let mut seen = Vec::new();
        reader
            .for_each_chunk_text(|id, _, text| {
                seen.push((id, text.to_string()));
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, [(1, parts[0].to_string()), (2, parts[1].to_string())]);
        drop(reader);

        // A damaged text is an error, not a panic or a huge allocation.
        for damage in [&b"\xff\xff\xff\xff"[..], b"\x10\0\0\0garbage", b""] {
            let w = store.write().unwrap();
            w.txn
                .open_table(PATH_TO_TEXT)
                .unwrap()
                .insert("a.py", damage)
                .unwrap();
            w.commit().unwrap();
            assert!(store.read().unwrap().chunk_text(1).is_err());
        }
        // Replacing the file still works: its old terms are dropped as well as they can be.
        let mut w = store.write().unwrap();
        w.put_files(vec![new_file("a.py", &["def other():\n    pass"])])
            .unwrap();
        w.commit().unwrap();
        assert_eq!(
            store.read().unwrap().chunk_text(3).unwrap().as_deref(),
            Some("def other():\n    pass")
        );
    }

    #[test]
    fn postings_runs_follow_edits_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("index.redb"), dir.path()).unwrap();
        let ids = |word: &str| -> Vec<u64> {
            let mut stemmed = Vec::new();
            crate::tokens::terms(word, &mut stemmed);
            let term = stemmed[0].as_str();
            let reader = store.read().unwrap();
            let ids: Vec<u64> = reader
                .postings(term)
                .unwrap()
                .iter()
                .map(|p| p.chunk_id)
                .collect();
            assert_eq!(reader.document_frequency(term).unwrap(), ids.len() as u64);
            ids
        };
        let mut w = store.write().unwrap();
        w.put_files(vec![
            new_file("a.py", &["retry upload", "upload chunk"]),
            new_file("b.py", &["retry download"]),
        ])
        .unwrap();
        w.commit().unwrap();
        assert_eq!(ids("upload"), [1, 2]);
        assert_eq!(ids("retry"), [1, 3]);

        // A later batch is a run of its own; replacing a.py drops its postings from the first.
        let mut w = store.write().unwrap();
        w.put_files(vec![new_file("a.py", &["retry parse"])])
            .unwrap();
        w.commit().unwrap();
        assert_eq!(ids("upload"), Vec::<u64>::new());
        assert_eq!(ids("retry"), [3, 4]);

        let mut w = store.write().unwrap();
        w.remove_file("b.py").unwrap();
        w.commit().unwrap();
        assert_eq!(ids("retry"), [4]);
        assert_eq!(ids("download"), Vec::<u64>::new());
        assert_eq!(store.read().unwrap().check().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn postings_runs_stay_small_and_edits_rewrite_one() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("index.redb"), dir.path()).unwrap();
        let runs = |term: &str| -> Vec<(u64, usize)> {
            let reader = store.read().unwrap();
            let table = reader.txn.open_table(TERM_TO_POSTINGS).unwrap();
            table
                .range((term, 0)..=(term, u64::MAX))
                .unwrap()
                .map(|e| {
                    let (key, run) = e.unwrap();
                    (key.value().1, run.value().len() / 8)
                })
                .collect()
        };
        let n = RUN_POSTINGS * 2 + 10;
        let files: Vec<NewFile> = (0..n)
            .map(|i| new_file(&format!("f{i}.py"), &["retry"]))
            .collect();
        let mut w = store.write().unwrap();
        w.put_files(files).unwrap();
        w.commit().unwrap();
        let term = {
            let mut t = Vec::new();
            crate::tokens::terms("retry", &mut t);
            t.remove(0)
        };
        let first = RUN_POSTINGS as u64;
        assert_eq!(
            runs(&term),
            [
                (1, RUN_POSTINGS),
                (first + 1, RUN_POSTINGS),
                (2 * first + 1, 10)
            ]
        );

        // Removing a chunk of the middle run leaves the others alone.
        let mut w = store.write().unwrap();
        w.remove_file(&format!("f{}.py", RUN_POSTINGS + 5)).unwrap();
        w.commit().unwrap();
        assert_eq!(
            runs(&term),
            [
                (1, RUN_POSTINGS),
                (first + 1, RUN_POSTINGS - 1),
                (2 * first + 1, 10)
            ]
        );
        let reader = store.read().unwrap();
        assert_eq!(reader.document_frequency(&term).unwrap(), n as u64 - 1);
        assert_eq!(reader.check().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn the_change_log_names_changed_paths_until_it_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("index.redb"), dir.path()).unwrap();
        let mark = |s: &Store| s.read().unwrap().change_mark().unwrap();
        let since = |s: &Store, m: u64| -> Option<Vec<String>> {
            let paths = s.read().unwrap().changed_since(m).unwrap()?;
            Some(paths.into_iter().collect())
        };
        let start = mark(&store);
        assert_eq!(since(&store, start), Some(vec![]));
        let mut w = store.write().unwrap();
        w.put_files(vec![new_file("a.py", &["x"]), new_file("b.py", &["y"])])
            .unwrap();
        w.commit().unwrap();
        let after_put = mark(&store);
        let mut w = store.write().unwrap();
        w.remove_file("a.py").unwrap();
        w.commit().unwrap();
        assert_eq!(
            since(&store, start),
            Some(vec!["a.py".into(), "b.py".into()])
        );
        assert_eq!(since(&store, after_put), Some(vec!["a.py".into()]));
        // More changes than the log keeps: an old mark can no longer be answered.
        let mut w = store.write().unwrap();
        w.put_files(
            (0..CHANGES_KEPT)
                .map(|i| new_file(&format!("c{i}.py"), &["z"]))
                .collect(),
        )
        .unwrap();
        w.commit().unwrap();
        assert_eq!(since(&store, start), None);
        assert_eq!(since(&store, mark(&store) + 1), None);
        assert_eq!(
            since(&store, mark(&store) - 1),
            Some(vec![format!("c{}.py", CHANGES_KEPT - 1)])
        );
    }
}
