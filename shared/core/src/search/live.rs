//! Keeping a searcher current without reloading it: what the index committed since its
//! snapshot ([`Changes`]), and editor buffers whose unsaved text stands in for their file
//! ([`Buffer`]).
//!
//! Both come in two steps: the slow one (reading the store, chunking and embedding) borrows
//! the searcher immutably, the quick one (moving chunks in memory) takes it mutably, so a
//! server can do the first beside running searches and hold a write lock only for the second.

use std::path::Path;
use std::sync::Arc;

use super::{Chunk, Searcher};
use crate::embed::Embedder;
use crate::error::Result;
use crate::records::chunk_file;
use crate::store::{ChunkRecord, Meta, Posting, Reader, chunk_text, model_tag};
use crate::walk;

/// Buffer chunks get ids far above any the store hands out, so the two never meet.
pub(super) const FIRST_BUFFER_ID: u64 = 1 << 62;
/// Beyond this share of changed chunks, loading afresh is as quick as patching.
const RELOAD_SHARE: usize = 4;

/// What the index committed since a searcher's snapshot; see [`Searcher::changes`].
pub struct Changes(Delta);

enum Delta {
    /// The model or the inverted file changed, or most chunks did.
    Reload(Box<Searcher>),
    Files {
        /// Boxed: a read transaction is large, and this variant is the common one.
        reader: Box<Reader>,
        change_mark: u64,
        avg_len: f32,
        /// Each changed file's chunks now (`None`: the file is gone from the index).
        files: Vec<(String, Option<Vec<StoredChunk>>)>,
    },
}

struct StoredChunk {
    id: u64,
    chunk: Chunk,
    vector: Option<Vec<f32>>,
}

impl Changes {
    /// Changes that replace a searcher with `fresh` (one of another model, say), keeping its
    /// buffers (embedded anew when the model differs).
    pub fn reload(fresh: Searcher) -> Changes {
        Changes(Delta::Reload(Box::new(fresh)))
    }

    /// Whether applying them changes anything.
    pub fn is_empty(&self) -> bool {
        matches!(&self.0, Delta::Files { files, .. } if files.is_empty())
    }

    /// How many files they touch (every one, for a reload).
    pub fn files(&self) -> usize {
        match &self.0 {
            Delta::Reload(s) => s.stored.len(),
            Delta::Files { files, .. } => files.len(),
        }
    }
}

/// An editor's text for a file, chunked (and embedded) to stand in for what the index holds of
/// it; see [`Searcher::prepare_buffer`].
pub struct Buffer {
    pub(super) path: String,
    pub(super) text: String,
    chunks: Vec<BufferChunk>,
}

struct BufferChunk {
    record: ChunkRecord,
    term_freqs: Vec<(String, u32)>,
    vector: Option<Vec<f32>>,
}

/// A buffer in a searcher, with the ids its chunks got.
pub(super) struct PlacedBuffer {
    pub(super) buffer: Buffer,
    ids: Vec<u64>,
}

impl Searcher {
    /// Reads what changed in the index since this searcher's snapshot, from `reader`, a newer
    /// one; [`Searcher::apply`] then makes the searcher current.
    pub(crate) fn changes_in(&self, reader: Reader) -> Result<Changes> {
        if reader.meta(Meta::Model)? != self.model || reader.meta(Meta::IvfInfo)? != self.ivf_info {
            let fresh = Searcher::load(&self.root, reader, self.embedder.clone())?;
            return Ok(Changes(Delta::Reload(Box::new(fresh))));
        }
        let change_mark = reader.change_mark()?;
        // Each changed file's chunk ids now (`None`: gone).
        let changed: Vec<(String, Option<Vec<u64>>)> =
            match reader.changed_since(self.change_mark)? {
                Some(paths) => {
                    let mut changed = Vec::with_capacity(paths.len());
                    for path in paths {
                        let ids = reader.file(&path)?.map(|r| r.chunk_ids);
                        if ids.as_ref() != self.stored.get(&path) {
                            changed.push((path, ids));
                        }
                    }
                    changed
                }
                // Too far behind for the log: compare every file.
                None => {
                    let files = reader.files()?;
                    let gone: Vec<(String, Option<Vec<u64>>)> = self
                        .stored
                        .keys()
                        .filter(|path| !files.contains_key(*path))
                        .map(|path| (path.clone(), None))
                        .collect();
                    files
                        .into_iter()
                        .filter(|(path, record)| self.stored.get(path) != Some(&record.chunk_ids))
                        .map(|(path, record)| (path, Some(record.chunk_ids)))
                        .chain(gone)
                        .collect()
                }
            };
        let n_new: usize = changed
            .iter()
            .map(|(_, ids)| ids.as_ref().map_or(0, Vec::len))
            .sum();
        if n_new > 1000 && n_new * RELOAD_SHARE > self.chunks.len() {
            let fresh = Searcher::load(&self.root, reader, self.embedder.clone())?;
            return Ok(Changes(Delta::Reload(Box::new(fresh))));
        }
        let mut out = Vec::with_capacity(changed.len());
        for (path, ids) in changed {
            let chunks = ids.map(|ids| self.read_stored(&reader, &ids)).transpose()?;
            out.push((path, chunks));
        }
        let avg_len = reader.meta_u64(Meta::TotalTerms)? as f32 / reader.n_chunks()?.max(1) as f32;
        Ok(Changes(Delta::Files {
            reader: Box::new(reader),
            change_mark,
            avg_len,
            files: out,
        }))
    }

    fn read_stored(&self, reader: &Reader, ids: &[u64]) -> Result<Vec<StoredChunk>> {
        let lookup = match (&self.vectors, self.embedder.as_deref()) {
            (Some(_), Some(e)) => Some((reader.embedding_table()?, model_tag(e.model_id()))),
            _ => None,
        };
        let mut out = Vec::with_capacity(ids.len());
        let mut path: Option<Arc<str>> = None;
        for &id in ids {
            // A file record names its chunks in the same transaction: a missing one would be
            // a broken index, which `scry status --check` reports; skip it here.
            let Some(record) = reader.chunk(id)? else {
                continue;
            };
            let path = path.get_or_insert_with(|| Arc::from(record.path.as_str()));
            let Some(chunk) = Chunk::new(&record, path.clone()) else {
                continue;
            };
            let vector = match &lookup {
                Some((table, tag)) => table.get(tag, &record.content_hash)?,
                None => None,
            };
            out.push(StoredChunk { id, chunk, vector });
        }
        Ok(out)
    }

    /// Makes the searcher current with `changes`. Files that have a buffer keep it; what the
    /// index holds of them returns when the buffer is dropped.
    pub fn apply(&mut self, changes: Changes) -> Result<()> {
        match changes.0 {
            Delta::Reload(fresh) => {
                let old = std::mem::replace(self, *fresh);
                let same_model = old.embedder.as_deref().map(Embedder::model_id)
                    == self.embedder.as_deref().map(Embedder::model_id)
                    && old.vectors.is_some() == self.vectors.is_some();
                for (_, placed) in old.buffers {
                    let buffer = if same_model {
                        placed.buffer
                    } else {
                        match self.prepare_buffer(&placed.buffer.path, placed.buffer.text)? {
                            Some(buffer) => buffer,
                            None => continue,
                        }
                    };
                    self.put_buffer(buffer);
                }
            }
            Delta::Files {
                reader,
                change_mark,
                avg_len,
                files,
            } => {
                self.reader = *reader;
                self.change_mark = change_mark;
                self.avg_len = avg_len;
                for (path, chunks) in files {
                    let old = self.stored.remove(&path).unwrap_or_default();
                    let Some(chunks) = chunks else {
                        if !self.buffers.contains_key(&path) {
                            old.into_iter().for_each(|id| self.remove_chunk(id));
                        }
                        continue;
                    };
                    self.stored
                        .insert(path.clone(), chunks.iter().map(|c| c.id).collect());
                    if !self.buffers.contains_key(&path) {
                        old.into_iter().for_each(|id| self.remove_chunk(id));
                        for c in chunks {
                            self.insert_chunk(c.id, c.chunk, c.vector.as_deref());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Chunks (and embeds) an editor's text for the workspace file `path` (relative, `/`), to
    /// stand in for it through [`Searcher::put_buffer`]. `None` when the text is not something
    /// the index would hold (binary, unknown language, minified, too large), or when the file
    /// exists but the index leaves it out (ignored, vendored).
    pub fn prepare_buffer(&self, path: &str, text: String) -> Result<Option<Buffer>> {
        let abs = self.root.join(path);
        if !self.stored.contains_key(path) && abs.exists() {
            return Ok(None);
        }
        let Ok(text) = walk::classify(Path::new(path), text.into_bytes()) else {
            return Ok(None);
        };
        let chunks = chunk_file(path, &text);
        let vectors = match (&self.vectors, self.embedder.as_deref()) {
            (Some(_), Some(embedder)) => {
                let texts: Vec<String> = chunks
                    .iter()
                    .map(|c| crate::records::embedding_text(&c.record, &text.text))
                    .collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                embedder
                    .embed_documents(&refs)?
                    .into_iter()
                    .map(Some)
                    .collect()
            }
            _ => vec![None; chunks.len()],
        };
        Ok(Some(Buffer {
            path: path.to_string(),
            text: text.text,
            chunks: chunks
                .into_iter()
                .zip(vectors)
                .map(|(c, vector)| BufferChunk {
                    record: c.record,
                    term_freqs: c.term_freqs,
                    vector,
                })
                .collect(),
        }))
    }

    /// Puts a buffer over its file: searches see its chunks instead of the stored ones (or
    /// of an earlier buffer of the file).
    pub fn put_buffer(&mut self, buffer: Buffer) {
        let path = buffer.path.clone();
        self.take_buffer(&path);
        for id in self.stored.get(&path).cloned().unwrap_or_default() {
            self.remove_chunk(id);
        }
        let mut ids = Vec::with_capacity(buffer.chunks.len());
        let shared_path: Arc<str> = Arc::from(path.as_str());
        for chunk in &buffer.chunks {
            let id = self.next_buffer_id;
            self.next_buffer_id += 1;
            for (term, tf) in &chunk.term_freqs {
                self.buffer_postings
                    .entry(term.clone())
                    .or_default()
                    .push(Posting {
                        chunk_id: id,
                        tf: *tf,
                        doc_len: chunk.record.n_terms,
                    });
            }
            // Buffers hold only chunks of a known language (see `prepare_buffer`).
            if let Some(record) = Chunk::new(&chunk.record, shared_path.clone()) {
                self.insert_chunk(id, record, chunk.vector.as_deref());
            }
            ids.push(id);
        }
        self.buffers.insert(path, PlacedBuffer { buffer, ids });
    }

    /// Drops the buffer of `path`, if any: searches see what the index holds of the file again.
    pub fn drop_buffer(&mut self, path: &str) -> Result<()> {
        if self.take_buffer(path).is_none() {
            return Ok(());
        }
        let ids = self.stored.get(path).cloned().unwrap_or_default();
        for c in self.read_stored(&self.reader, &ids)? {
            self.insert_chunk(c.id, c.chunk, c.vector.as_deref());
        }
        Ok(())
    }

    /// The text of the buffer chunk `id`.
    pub(super) fn buffer_text(&self, id: u64) -> Option<&str> {
        self.buffers.values().find_map(|placed| {
            let k = placed.ids.iter().position(|&i| i == id)?;
            chunk_text(&placed.buffer.text, &placed.buffer.chunks[k].record)
        })
    }

    /// The vector of the buffer chunk `id`, if it has one.
    pub(super) fn buffer_vector(&self, id: u64) -> Option<&[f32]> {
        self.buffers.values().find_map(|placed| {
            let k = placed.ids.iter().position(|&i| i == id)?;
            placed.buffer.chunks[k].vector.as_deref()
        })
    }

    /// The workspace paths that have a buffer.
    pub fn buffer_paths(&self) -> impl Iterator<Item = &str> {
        self.buffers.keys().map(String::as_str)
    }

    /// Removes a buffer's chunks and postings; the caller decides what takes their place.
    fn take_buffer(&mut self, path: &str) -> Option<Buffer> {
        let placed = self.buffers.remove(path)?;
        for (chunk, id) in placed.buffer.chunks.iter().zip(&placed.ids) {
            for (term, _) in &chunk.term_freqs {
                if let Some(list) = self.buffer_postings.get_mut(term) {
                    list.retain(|p| p.chunk_id != *id);
                    if list.is_empty() {
                        self.buffer_postings.remove(term);
                    }
                }
            }
            self.remove_chunk(*id);
        }
        Some(placed.buffer)
    }

    fn insert_chunk(&mut self, id: u64, chunk: Chunk, vector: Option<&[f32]>) {
        let pos = self.chunks.len() as u32;
        self.chunks.push(chunk);
        self.ids.push(id);
        self.position.insert(id, pos);
        if let Some(vectors) = &mut self.vectors {
            vectors.push(vector);
        }
    }

    fn remove_chunk(&mut self, id: u64) {
        let Some(pos) = self.position.remove(id) else {
            return;
        };
        let pos = pos as usize;
        self.chunks.swap_remove(pos);
        self.ids.swap_remove(pos);
        if let Some(vectors) = &mut self.vectors {
            vectors.swap_remove(pos);
        }
        if let Some(&moved) = self.ids.get(pos) {
            self.position.insert(moved, pos as u32);
        }
    }
}
