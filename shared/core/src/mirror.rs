//! A searchable copy of other repositories' indexes, as their synced snapshots hold them
//! (org-wide search): one index per repository, each with the vectors as they were synced, so a
//! repository's answers rest on its own statistics (as a checkout's search does); a search of
//! several merges their answers by score, paths as `repo/path`. A snapshot carries no code
//! unless the org chose sealed snippets: then BM25 reads the code and a hit has it; else BM25
//! reads what a snapshot does carry (path, scope and name), a hit's text is empty, and whoever
//! has the repository checked out reads the code there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::index::{IVF_MIN_CHUNKS, refresh_ivf};
use crate::search::{Filter, Hit, Searcher};
use crate::snapshot::Snapshot;
use crate::store::{ChunkRecord, Codes, Meta, NewChunk, NewFile, Store, model_tag};
use crate::tokens;

/// Repositories' snapshots, an index each, under one directory.
pub struct Mirror {
    dir: PathBuf,
}

/// The file of a repository's index: its own directory (named by the name's bytes in hex, so
/// any name is a safe one), since files beside an index are the index's.
const INDEX: &str = "index.redb";

impl Mirror {
    /// Opens the mirror in `dir`, creating it if absent.
    pub fn open(dir: &Path) -> Result<Mirror> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Mirror {
            dir: dir.to_path_buf(),
        })
    }

    /// The repositories it holds, by name.
    pub fn repos(&self) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let mut repos: Vec<String> = (entries.flatten())
            .filter(|e| e.path().join(INDEX).is_file())
            .filter_map(|e| unhex(&e.file_name().to_string_lossy()))
            .collect();
        repos.sort();
        Ok(repos)
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.dir
            .join(repo.bytes().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// Puts `snapshot` in place of what the mirror held of `repo`. Written beside, then moved
    /// over the old copy: a copy cut short never replaces a whole one.
    pub fn replace(&mut self, repo: &str, snapshot: &Snapshot) -> Result<()> {
        if repo.is_empty() || repo.contains('/') {
            return Err(Error::Config(format!(
                "{repo:?} cannot name a repository in a mirror"
            )));
        }
        let dir = self.repo_dir(repo);
        let fresh = dir.with_extension("new");
        let _ = std::fs::remove_dir_all(&fresh);
        std::fs::create_dir_all(&fresh).map_err(|e| Error::io(&fresh, e))?;
        write(&fresh, snapshot)?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&fresh, &dir).map_err(|e| Error::io(&dir, e))
    }

    /// Whether the copy of `repo` opens; a damaged one is dropped (a copy of what the service
    /// holds is fetched again, not repaired).
    pub fn sound(&mut self, repo: &str) -> bool {
        let dir = self.repo_dir(repo);
        match Store::open(&dir.join(INDEX), &dir) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("{}: {e}; fetching it again", dir.display());
                let _ = std::fs::remove_dir_all(&dir);
                false
            }
        }
    }

    /// Drops what the mirror holds of `repo` (gone from the org, or renamed).
    pub fn remove(&mut self, repo: &str) -> Result<()> {
        let dir = self.repo_dir(repo);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&dir, e)),
            _ => Ok(()),
        }
    }

    /// A searcher over every repository it holds; `embedder` must be a repository's model
    /// for its vectors to take part. A damaged repository's index is dropped (and named in
    /// the error) so that the next refresh fetches it again.
    pub fn searcher(&self, embedder: Option<Arc<dyn Embedder>>) -> Result<MirrorSearcher> {
        let mut repos = Vec::new();
        for repo in self.repos()? {
            let dir = self.repo_dir(&repo);
            let loaded = Store::open(&dir.join(INDEX), &dir).and_then(|(store, _)| {
                let searcher = Searcher::load(&dir, store.read()?, embedder.clone())?;
                Ok((store, searcher))
            });
            match loaded {
                Ok((store, searcher)) => repos.push((repo, store, searcher)),
                Err(e @ Error::CorruptIndex { .. }) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(MirrorSearcher { repos })
    }
}

/// Every repository's searcher (with its store, which its reads need open).
pub struct MirrorSearcher {
    repos: Vec<(String, Store, Searcher)>,
}

impl MirrorSearcher {
    /// The files of `repos` (every one when empty) that best answer `query`, best first:
    /// each repository's answer, merged by score, paths as `repo/path`.
    pub fn search_files(
        &self,
        query: &str,
        limit: usize,
        filter: &Filter,
        repos: &[String],
    ) -> Result<Vec<Hit>> {
        // The repositories are searched on every core; each search is short.
        let answers: Vec<Result<Vec<Hit>>> = (self.repos.par_iter())
            .filter(|(repo, _, _)| repos.is_empty() || repos.contains(repo))
            .map(|(repo, _, searcher)| {
                let mut hits = searcher.search_files(query, limit, filter)?;
                for hit in &mut hits {
                    hit.path = format!("{repo}/{}", hit.path);
                }
                Ok(hits)
            })
            .collect();
        let mut hits = Vec::new();
        for answer in answers {
            hits.extend(answer?);
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(limit);
        Ok(hits)
    }
}

/// A repository's name from its directory's.
fn unhex(name: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..name.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(name.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok().filter(|n| !n.is_empty())
}

/// A repository's index, made in `dir` from its snapshot, vectors as they were synced.
fn write(dir: &Path, snapshot: &Snapshot) -> Result<()> {
    let (store, _) = Store::open(&dir.join(INDEX), dir)?;
    let mut w = store.write()?;
    if let Some(model) = &snapshot.model {
        w.set_meta(Meta::Model, model.as_bytes())?;
    }
    let mut files = Vec::with_capacity(snapshot.files.len());
    let mut vectors: Vec<([u8; 16], Codes)> = Vec::new();
    for file in &snapshot.files {
        // Chunks that carry their text (the org's sealed snippets) are laid end to end, one
        // line apart, as the file text the mirror keeps.
        let mut text = String::new();
        let chunks = (file.chunks.iter())
            .map(|c| {
                if let Some(v) = &c.vector {
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
                    tokens::term_freqs(&file.path, c.symbol.as_deref(), c.scope.as_deref(), code);
                NewChunk {
                    record: ChunkRecord {
                        path: file.path.clone(),
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
            path: file.path.clone(),
            size: 0,
            mtime_ns: 0,
            hash: file.hash,
            text,
            chunks,
        });
    }
    w.put_files(files)?;
    if let Some(model) = &snapshot.model {
        vectors.sort_unstable_by_key(|(hash, _)| *hash);
        vectors.dedup_by_key(|(hash, _)| *hash);
        w.put_embedding_codes(&model_tag(model), &vectors)?;
    }
    w.commit()?;
    // A large repository is searched through an inverted file, as a large index is.
    match &snapshot.model {
        Some(model) => refresh_ivf(&store, model, IVF_MIN_CHUNKS),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let mut mirror = Mirror::open(&dir.path().join("mirror")).unwrap();
        for (name, snapshot) in &snapshots {
            mirror.replace(name, snapshot).unwrap();
        }
        assert_eq!(mirror.repos().unwrap(), ["geometry", "uploads"]);
        let searcher = mirror.searcher(Some(model.clone())).unwrap();
        assert!(
            searcher.repos.iter().all(|(_, _, s)| s.is_hybrid()),
            "the synced vectors take part"
        );
        let all = Filter::default();
        let hits = searcher
            .search_files("retry an upload", 5, &all, &[])
            .unwrap();
        assert_eq!(hits[0].path, "uploads/src/retry.py");
        assert_eq!((hits[0].start_line, hits[0].end_line), (1, 3));
        assert_eq!(hits[0].symbol.as_deref(), Some("retry_upload"));
        assert!(hits[0].text.is_empty(), "no code travels");
        let hits = searcher
            .search_files("area of a circle", 5, &all, &[])
            .unwrap();
        assert_eq!(hits[0].path, "geometry/geo/area.py");

        // A new generation replaces the repository's files; the others stay.
        let (_, mut uploads) = snapshots.remove(0);
        uploads.files[0].path = "src/moved.py".into();
        mirror.replace("uploads", &uploads).unwrap();
        let searcher = mirror.searcher(Some(model)).unwrap();
        let hits = searcher.search_files("retry_upload", 5, &all, &[]).unwrap();
        assert_eq!(hits[0].path, "uploads/src/moved.py");
        assert_eq!(
            hits.iter()
                .filter(|h| h.path.starts_with("uploads/"))
                .count(),
            1
        );
        let only = ["geometry".to_string()];
        let hits = searcher.search_files("area", 5, &all, &only).unwrap();
        assert!(!hits.is_empty() && hits.iter().all(|h| h.path.starts_with("geometry/")));
        assert!(mirror.replace("a/b", &uploads).is_err());
        mirror.remove("uploads").unwrap();
        assert_eq!(mirror.repos().unwrap(), ["geometry"]);
    }
}
