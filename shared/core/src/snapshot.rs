//! An index's contents in a form to copy elsewhere (sync seals and uploads it): per file, its
//! path, language, content hash and chunks, each with where it lies, what it names, and the
//! model's vector as stored (a scale and int8 codes). BM25 terms and similar-code signatures
//! stay out: whoever holds the file recomputes them, and nobody else needs them.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::lang::ChunkKind;
use crate::store::{Store, model_tag};

/// One chunk of a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotChunk {
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u32,
    pub end_byte: u32,
    pub symbol: Option<String>,
    pub kind: ChunkKind,
    pub scope: Option<String>,
    /// Hash of the text the model embedded.
    pub content_hash: [u8; 16],
    /// The vector's scale and codes; `None` in a lexical-only index.
    pub vector: Option<(f32, Vec<i8>)>,
    /// The chunk's code, when the org has syncs carry it (sealed, as all else): the index's
    /// snapshots leave it out, a sync fills it in.
    pub text: Option<String>,
}

/// One file and its chunks, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// Relative to the workspace, `/`-separated.
    pub path: String,
    pub language: String,
    /// Hash of the file's bytes.
    pub hash: [u8; 16],
    pub chunks: Vec<SnapshotChunk>,
}

/// What the index holds, in path order.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The model whose vectors the chunks carry; `None` for a lexical-only index.
    pub model: Option<String>,
    pub files: Vec<SnapshotFile>,
}

impl Snapshot {
    pub fn n_chunks(&self) -> usize {
        self.files.iter().map(|f| f.chunks.len()).sum()
    }
}

/// What changed in an index since one of its change marks, for a sync that keeps its last
/// plan: the files changed or added, as a snapshot has them, and the paths gone. `complete`
/// when no mark was given or the change log no longer reaches back to it: `files` then holds
/// every file.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotDelta {
    pub model: Option<String>,
    /// The index's change mark as of this read: where the next delta starts.
    pub mark: u64,
    pub files: Vec<SnapshotFile>,
    pub removed: Vec<String>,
    pub complete: bool,
}

/// What `store` holds (see [`crate::Index::snapshot`]).
pub(crate) fn take(store: &Store) -> Result<Snapshot> {
    let delta = take_since(store, None)?;
    Ok(Snapshot {
        model: delta.model,
        files: delta.files,
    })
}

/// What changed in `store` since `since` (see [`crate::Index::snapshot_since`]).
pub(crate) fn take_since(store: &Store, since: Option<u64>) -> Result<SnapshotDelta> {
    let reader = store.read()?;
    let model = reader
        .meta(crate::store::Meta::Model)?
        .filter(|m| !m.is_empty())
        .map(|m| String::from_utf8_lossy(&m).into_owned());
    let mark = reader.change_mark()?;
    let changed = match since {
        Some(since) => reader.changed_since(since)?,
        None => None,
    };
    let complete = changed.is_none();
    let (mut records, mut removed) = (Vec::new(), Vec::new());
    match changed {
        Some(paths) => {
            for path in paths {
                match reader.file(&path)? {
                    Some(record) => records.push((path, record)),
                    None => removed.push(path),
                }
            }
        }
        None => records.extend(reader.files()?),
    }
    let mut files = Vec::new();
    for (path, record) in records {
        let mut language = String::new();
        let mut chunks = Vec::with_capacity(record.chunk_ids.len());
        for id in &record.chunk_ids {
            let Some(c) = reader.chunk(*id)? else {
                continue;
            };
            language = c.language;
            chunks.push(SnapshotChunk {
                start_line: c.start_line,
                end_line: c.end_line,
                start_byte: c.start_byte,
                end_byte: c.end_byte,
                symbol: c.symbol,
                kind: c.kind,
                scope: c.scope,
                content_hash: c.content_hash,
                vector: None,
                text: None,
            });
        }
        files.push(SnapshotFile {
            path,
            language,
            hash: record.hash,
            chunks,
        });
    }
    if let Some(model) = &model {
        // One pass over the model's vectors, beside the chunks sorted by content hash.
        let mut slots: Vec<(usize, usize, [u8; 16])> = files
            .iter()
            .enumerate()
            .flat_map(|(f, file)| {
                file.chunks
                    .iter()
                    .enumerate()
                    .map(move |(c, chunk)| (f, c, chunk.content_hash))
            })
            .collect();
        slots.sort_by_key(|s| s.2);
        reader.embedding_table()?.for_each_codes(
            &model_tag(model),
            &slots,
            |s| &s.2,
            |i, scale, codes| {
                let (f, c, _) = slots[i];
                files[f].chunks[c].vector = Some((scale, codes.to_vec()));
            },
        )?;
    }
    Ok(SnapshotDelta {
        model,
        mark,
        files,
        removed,
        complete,
    })
}

#[cfg(test)]
mod tests {
    use crate::embed::StaticModel;
    use crate::{Embedder, Index};

    #[test]
    fn a_snapshot_holds_every_file_chunk_and_vector_in_path_order() {
        let ws = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("b.py"), "def b():\n    return 2\n").unwrap();
        std::fs::write(
            ws.path().join("a.rs"),
            "fn one() -> u8 {\n    1\n}\n\nfn two() -> u8 {\n    2\n}\n",
        )
        .unwrap();
        let mut index = Index::open(ws.path(), &db.path().join("index.redb")).unwrap();
        let model = StaticModel::builtin().unwrap();
        index.update(Some(model), &mut |_| {}).unwrap();
        let snapshot = index.snapshot().unwrap();
        assert_eq!(snapshot.model.as_deref(), Some(model.model_id()));
        let paths: Vec<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.rs", "b.py"]);
        assert_eq!(snapshot.files[0].language, "rust");
        let symbols: Vec<_> = snapshot.files[0]
            .chunks
            .iter()
            .map(|c| c.symbol.as_deref())
            .collect();
        assert_eq!(symbols, [Some("one"), Some("two")]);
        assert_eq!(snapshot.n_chunks(), index.status().unwrap().chunks as usize);
        for chunk in snapshot.files.iter().flat_map(|f| &f.chunks) {
            let (scale, codes) = chunk.vector.as_ref().expect("every chunk has its vector");
            assert!(*scale > 0.0 && codes.len() == model.dim());
        }

        // Since a change mark: only what changed, and what is gone.
        let mark = index.snapshot_since(None).unwrap();
        assert!(mark.complete && mark.files.len() == 2 && mark.removed.is_empty());
        std::fs::write(ws.path().join("b.py"), "def b():\n    return 3\n").unwrap();
        std::fs::remove_file(ws.path().join("a.rs")).unwrap();
        std::fs::write(ws.path().join("c.py"), "def c():\n    return 4\n").unwrap();
        index.update(Some(model), &mut |_| {}).unwrap();
        let delta = index.snapshot_since(Some(mark.mark)).unwrap();
        assert!(!delta.complete);
        let paths: Vec<&str> = delta.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            (paths, delta.removed.clone()),
            (vec!["b.py", "c.py"], vec!["a.rs".to_string()])
        );
        assert!(delta.mark > mark.mark);
        assert!(
            delta
                .files
                .iter()
                .all(|f| f.chunks.iter().all(|c| c.vector.is_some()))
        );
        let nothing = index.snapshot_since(Some(delta.mark)).unwrap();
        assert!(!nothing.complete && nothing.files.is_empty() && nothing.removed.is_empty());

        // Lexical only: the same files, no vectors.
        let lexical = tempfile::tempdir().unwrap();
        let mut index = Index::open(ws.path(), &lexical.path().join("index.redb")).unwrap();
        index.update(None, &mut |_| {}).unwrap();
        let snapshot = index.snapshot().unwrap();
        assert_eq!(snapshot.model, None);
        assert!(
            snapshot
                .files
                .iter()
                .flat_map(|f| &f.chunks)
                .all(|c| c.vector.is_none())
        );
    }
}
