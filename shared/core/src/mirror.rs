//! A searchable copy of other repositories' indexes, as their synced snapshots hold them
//! (org-wide search): each repository's files under its name (`repo/path`), with the vectors
//! as they were synced, in one index so that scores compare across repositories. A snapshot
//! carries no code unless the org chose sealed snippets: then BM25 reads the code and a hit
//! has it; else BM25 reads what a snapshot does carry (path, scope and name), a hit's text is
//! empty, and whoever has the repository checked out reads the code there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::index::{IVF_MIN_CHUNKS, refresh_ivf};
use crate::search::Searcher;
use crate::snapshot::Snapshot;
use crate::store::{ChunkRecord, Codes, Meta, NewChunk, NewFile, Store, model_tag};
use crate::tokens;

/// Repositories' snapshots in one index file.
pub struct Mirror {
    store: Store,
    dir: PathBuf,
}

impl Mirror {
    /// Opens the mirror at `path`, creating it if absent.
    pub fn open(path: &Path) -> Result<Mirror> {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let (store, _) = Store::open(path, &dir)?;
        Ok(Mirror { store, dir })
    }

    /// The repositories it holds.
    pub fn repos(&self) -> Result<Vec<String>> {
        let mut repos: Vec<String> = (self.store.read()?.files()?.into_keys())
            .filter_map(|path| path.split_once('/').map(|(repo, _)| repo.to_string()))
            .collect();
        repos.dedup();
        Ok(repos)
    }

    /// Puts `snapshot` in place of what the mirror held of `repo` (a name without `/`). Its
    /// vectors are kept when they are of the mirror's model (the first snapshot's), else
    /// the repository is searched by its names alone.
    pub fn replace(&mut self, repo: &str, snapshot: &Snapshot) -> Result<()> {
        if repo.is_empty() || repo.contains('/') {
            return Err(Error::Config(format!(
                "{repo:?} cannot name a repository in a mirror"
            )));
        }
        let (held, model) = {
            let r = self.store.read()?;
            (
                r.files_under(repo)?,
                r.meta(Meta::Model)?.filter(|m| !m.is_empty()),
            )
        };
        let mut w = self.store.write()?;
        for path in held.into_keys() {
            w.remove_file(&path)?;
        }
        let model = match (model, &snapshot.model) {
            (None, Some(theirs)) => {
                w.set_meta(Meta::Model, theirs.as_bytes())?;
                Some(theirs.clone())
            }
            (Some(ours), _) => Some(String::from_utf8_lossy(&ours).into_owned()),
            (None, None) => None,
        };
        let same_model = model.is_some() && model == snapshot.model;
        let mut files = Vec::with_capacity(snapshot.files.len());
        let mut vectors: Vec<([u8; 16], Codes)> = Vec::new();
        for file in &snapshot.files {
            let path = format!("{repo}/{}", file.path);
            // Chunks that carry their text (the org's sealed snippets) are laid end to end, one
            // line apart, as the file text the mirror keeps.
            let mut text = String::new();
            let chunks = (file.chunks.iter())
                .map(|c| {
                    if let (true, Some(v)) = (same_model, &c.vector) {
                        vectors.push((c.content_hash, v.clone()));
                    }
                    let code = c.text.as_deref().unwrap_or("");
                    let start_byte = text.len() as u32;
                    text.push_str(code);
                    let end_byte = text.len() as u32;
                    if !code.is_empty() {
                        text.push('\n');
                    }
                    let term_freqs =
                        tokens::term_freqs(&path, c.symbol.as_deref(), c.scope.as_deref(), code);
                    NewChunk {
                        record: ChunkRecord {
                            path: path.clone(),
                            language: file.language.clone(),
                            start_line: c.start_line,
                            end_line: c.end_line,
                            start_byte,
                            end_byte,
                            symbol: c.symbol.clone(),
                            kind: c.kind,
                            scope: c.scope.clone(),
                            content_hash: c.content_hash,
                            n_terms: term_freqs.iter().map(|(_, n)| n).sum(),
                            shape_sig: None,
                            vocab_sig: None,
                        },
                        term_freqs,
                    }
                })
                .collect();
            files.push(NewFile {
                path,
                size: 0,
                mtime_ns: 0,
                hash: file.hash,
                text,
                chunks,
            });
        }
        w.put_files(files)?;
        if let Some(model) = model.filter(|_| same_model) {
            vectors.sort_unstable_by_key(|(hash, _)| *hash);
            vectors.dedup_by_key(|(hash, _)| *hash);
            w.put_embedding_codes(&model_tag(&model), &vectors)?;
        }
        w.commit()?;
        // A large org is searched through an inverted file, as a large index is.
        match self.store.read()?.meta(Meta::Model)? {
            Some(model) if !model.is_empty() => {
                let model = String::from_utf8_lossy(&model);
                refresh_ivf(&self.store, &model, IVF_MIN_CHUNKS)
            }
            _ => Ok(()),
        }
    }

    /// Drops what the mirror holds of `repo` (gone from the org, or renamed).
    pub fn remove(&mut self, repo: &str) -> Result<()> {
        let held = self.store.read()?.files_under(repo)?;
        let mut w = self.store.write()?;
        for path in held.into_keys() {
            w.remove_file(&path)?;
        }
        w.commit()
    }

    /// A searcher over every repository it holds; `embedder` must be the mirror's model for
    /// its vectors to take part.
    pub fn searcher(&self, embedder: Option<Arc<dyn Embedder>>) -> Result<Searcher> {
        Searcher::load(&self.dir, self.store.read()?, embedder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Filter;
    use crate::{Index, StaticModel};

    #[test]
    fn repositories_are_searched_together_by_their_snapshots() {
        let model: Arc<dyn Embedder> = Arc::new(StaticModel::builtin().unwrap());
        let mut snapshots = Vec::new();
        for (name, file, code) in [
            (
                "uploads",
                "src/retry.py",
                "def retry_upload(blob, attempts):\n    for _ in range(attempts):\n        send(blob)\n",
            ),
            (
                "geometry",
                "geo/area.py",
                "def circle_area(radius):\n    return 3.14159 * radius * radius\n",
            ),
        ] {
            let ws = tempfile::tempdir().unwrap();
            let db = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(ws.path().join(file).parent().unwrap()).unwrap();
            std::fs::write(ws.path().join(file), code).unwrap();
            let mut index = Index::open(ws.path(), &db.path().join("i.redb")).unwrap();
            index.update(Some(model.as_ref()), &mut |_| {}).unwrap();
            snapshots.push((name, index.snapshot().unwrap()));
        }
        let dir = tempfile::tempdir().unwrap();
        let mut mirror = Mirror::open(&dir.path().join("mirror.redb")).unwrap();
        for (name, snapshot) in &snapshots {
            mirror.replace(name, snapshot).unwrap();
        }
        assert_eq!(mirror.repos().unwrap(), ["geometry", "uploads"]);
        let searcher = mirror.searcher(Some(model.clone())).unwrap();
        assert!(searcher.is_hybrid(), "the synced vectors take part");
        let all = Filter::default();
        let hits = searcher.search_files("retry an upload", 5, &all).unwrap();
        assert_eq!(hits[0].path, "uploads/src/retry.py");
        assert_eq!((hits[0].start_line, hits[0].end_line), (1, 3));
        assert_eq!(hits[0].symbol.as_deref(), Some("retry_upload"));
        assert!(hits[0].text.is_empty(), "no code travels");
        let hits = searcher.search_files("area of a circle", 5, &all).unwrap();
        assert_eq!(hits[0].path, "geometry/geo/area.py");

        // A new generation replaces the repository's files; the others stay.
        let (_, mut uploads) = snapshots.remove(0);
        uploads.files[0].path = "src/moved.py".into();
        mirror.replace("uploads", &uploads).unwrap();
        let searcher = mirror.searcher(Some(model)).unwrap();
        let hits = searcher.search_files("retry_upload", 5, &all).unwrap();
        assert_eq!(hits[0].path, "uploads/src/moved.py");
        assert_eq!(
            hits.iter()
                .filter(|h| h.path.starts_with("uploads/"))
                .count(),
            1
        );
        let only = Filter::new(None, Some("geometry/**")).unwrap();
        let hits = searcher.search_files("area", 5, &only).unwrap();
        assert!(!hits.is_empty() && hits.iter().all(|h| h.path.starts_with("geometry/")));
        assert!(mirror.replace("a/b", &uploads).is_err());
        mirror.remove("uploads").unwrap();
        assert_eq!(mirror.repos().unwrap(), ["geometry"]);
    }
}
