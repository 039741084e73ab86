//! Answering queries from a consistent snapshot of the index: hybrid retrieval (BM25 and
//! vectors), fusion, a ranking layer, and similar-code.

mod bm25;
pub(crate) mod dense;
mod files;
mod live;
mod positions;
mod rank;
mod rows;
mod similar;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobMatcher};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::damage::guarded;
use crate::embed::{self, Embedder};
use crate::error::{Error, Result};
use crate::lang::{self, ChunkKind, Language};
use crate::store::{ChunkRecord, Meta, Posting, Reader, model_tag};
use crate::tokens::{self, Signature};
use dense::{Ivf, Vectors};
pub use live::{Buffer, Changes};
use positions::{Positions, with_room};

/// Candidates each retriever hands to fusion.
const CANDIDATES: usize = 200;
/// Candidates the in-memory vectors pick, per one they hand on: the stored vectors score
/// them exactly and keep the best.
const RESCORED: usize = 2;
/// Candidates of each retriever whose label is compared with the query.
const LABELLED: usize = 100;
/// Leading candidates a reranker re-orders.
const RERANKED: usize = 30;
/// The reranker's share of a candidate's final score, chosen on the Python dev set (a larger
/// share hurts: BENCHMARKS.md, the rerank tier).
const RERANK_WEIGHT: f32 = 0.3;

/// A chunk as a searcher holds it for every chunk: what filters, ranking and the similar-code
/// shortlist read, and no more. Texts stay in the index (see [`Searcher::text`]), a file's
/// chunks share one path, and a language is a reference: at a million chunks every byte here
/// is a megabyte.
pub(crate) struct Chunk {
    pub path: Arc<str>,
    pub language: &'static Language,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub kind: ChunkKind,
    pub symbol: Option<Box<str>>,
    pub scope: Option<Box<str>>,
    /// The key of its vector, and what tells copies of the same code apart.
    pub content_hash: [u8; 16],
    pub shape_sig: Signature,
    pub vocab_sig: Signature,
}

impl Chunk {
    /// `path` is `record.path`, shared. `None` when the record names no language Scry knows.
    fn new<S: AsRef<str>>(record: &ChunkRecord<S>, path: Arc<str>) -> Option<Chunk> {
        Some(Chunk {
            path,
            language: lang::by_name(record.language.as_ref())?,
            start_line: record.start_line,
            end_line: record.end_line,
            kind: record.kind,
            symbol: record.symbol.as_ref().map(|s| Box::from(s.as_ref())),
            scope: record.scope.as_ref().map(|s| Box::from(s.as_ref())),
            content_hash: record.content_hash,
            shape_sig: record.shape_sig,
            vocab_sig: record.vocab_sig,
        })
    }
}

/// A definition's file name (without extension), scope and name: `client HttpClient retry`.
fn label(chunk: &Chunk) -> Option<String> {
    let symbol = chunk.symbol.as_deref()?;
    let name = symbol.rsplit(['.', ':']).next().unwrap_or(symbol);
    let file = chunk.path.rsplit('/').next().unwrap_or("");
    let stem = file.split('.').next().unwrap_or(file);
    Some(format!(
        "{stem} {} {name}",
        chunk.scope.as_deref().unwrap_or("")
    ))
}

/// One result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Relative to the workspace root, `/`-separated.
    pub path: String,
    pub language: String,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub score: f32,
    pub symbol: Option<String>,
    pub kind: ChunkKind,
    pub scope: Option<String>,
    /// The chunk's text.
    pub text: String,
    /// Where else its file matched, best first: filled by [`Searcher::search_files`].
    pub more: Vec<Also>,
}

/// Another chunk of a result's file that matched the query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Also {
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub score: f32,
    pub symbol: Option<String>,
}

/// Restricts results to a language and/or a path glob.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    language: Option<&'static str>,
    glob: Option<GlobMatcher>,
}

impl Filter {
    pub fn new(language: Option<&str>, glob: Option<&str>) -> Result<Filter> {
        let language = match language {
            None => None,
            Some(name) => Some(
                lang::by_name(name)
                    .ok_or_else(|| {
                        let known: Vec<&str> = lang::names().collect();
                        Error::InvalidQuery(format!(
                            "unknown language `{name}`; known: {}",
                            known.join(", ")
                        ))
                    })?
                    .name,
            ),
        };
        let glob = match glob {
            None => None,
            Some(pattern) => Some(
                Glob::new(pattern)
                    .map_err(|e| Error::InvalidQuery(format!("invalid glob `{pattern}`: {e}")))?
                    .compile_matcher(),
            ),
        };
        Ok(Filter { language, glob })
    }

    /// Whether it accepts every chunk: searches then need not look at each candidate (a
    /// common word has hundreds of thousands in a large index).
    fn accepts_all(&self) -> bool {
        self.language.is_none() && self.glob.is_none()
    }

    fn accepts(&self, chunk: &Chunk) -> bool {
        let language_ok = self.language.is_none_or(|l| {
            let name = chunk.language.name;
            name == l || (l == "typescript" && name == "tsx")
        });
        language_ok && self.glob.as_ref().is_none_or(|g| g.is_match(&*chunk.path))
    }
}

/// A span of a file: what `similar` starts from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Span {
    pub path: PathBuf,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
}

/// Answers queries over one snapshot of an index, plus the editor buffers put over it (see
/// [`Changes`] and [`Buffer`] for keeping it current without reloading).
pub struct Searcher {
    root: PathBuf,
    reader: Reader,
    /// Where `reader`'s snapshot stands in the index's change log.
    change_mark: u64,
    /// Live chunks by position; removal moves the last one into the hole, so positions stay
    /// dense and every per-position table (`ids`, `vectors`) moves alike.
    chunks: Vec<Chunk>,
    ids: Vec<u64>,
    position: Positions,
    /// Each stored file's chunk ids, as of `reader`'s snapshot.
    stored: HashMap<String, Vec<u64>>,
    /// Editor buffers whose text stands in for their file's stored chunks.
    buffers: HashMap<String, live::PlacedBuffer>,
    /// BM25 postings of the buffers' chunks (the stored ones live in the index).
    buffer_postings: HashMap<String, Vec<Posting>>,
    next_buffer_id: u64,
    avg_len: f32,
    embedder: Option<Arc<dyn Embedder>>,
    /// Present when `embedder` is given and the index holds its vectors.
    vectors: Option<Vectors>,
    ivf: Option<Ivf>,
    reranker: Option<Arc<dyn Embedder>>,
    /// The model and inverted file (`Meta::IvfInfo`) this snapshot was loaded with: when either changes, a
    /// refresh reloads.
    model: Option<Vec<u8>>,
    ivf_info: Option<Vec<u8>>,
}

impl Searcher {
    pub(crate) fn load(
        root: &Path,
        reader: Reader,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Self> {
        let n = reader.n_chunks()? as usize;
        let mut chunks = Vec::with_capacity(with_room(n));
        let mut ids = Vec::with_capacity(with_room(n));
        // A file's chunks have neighbouring ids: one path for each run of them.
        let mut path: Arc<str> = Arc::from("");
        reader.for_each_chunk(|id, record| {
            if *path != *record.path {
                path = Arc::from(record.path);
            }
            chunks.push(
                Chunk::new(&record, path.clone()).ok_or_else(|| Error::CorruptIndex {
                    path: root.to_path_buf(),
                    message: format!("chunk {id} names no known language"),
                })?,
            );
            ids.push(id);
            Ok(())
        })?;
        let mut position = Positions::default();
        for (pos, &id) in ids.iter().enumerate() {
            position.insert(id, pos as u32);
        }
        let stored = reader
            .files()?
            .into_iter()
            .map(|(path, record)| (path, record.chunk_ids))
            .collect();
        let avg_len = reader.meta_u64(Meta::TotalTerms)? as f32 / chunks.len().max(1) as f32;
        let model = reader.meta(Meta::Model)?;
        let ivf_info = reader.meta(Meta::IvfInfo)?;
        let change_mark = reader.change_mark()?;
        let mut vectors = None;
        let mut ivf = None;
        if let Some(embedder) = embedder.as_deref() {
            if model.as_deref() == Some(embedder.model_id().as_bytes()) {
                vectors = Some(load_vectors(&reader, embedder, &chunks)?);
                ivf = reader
                    .meta(Meta::Ivf)?
                    .and_then(|b| Ivf::from_bytes(&b))
                    .filter(|a| a.model_id == embedder.model_id());
            } else {
                tracing::info!(
                    "the index holds no vectors of {}; searching lexically",
                    embedder.model_id()
                );
            }
        }
        Ok(Searcher {
            root: root.to_path_buf(),
            reader,
            change_mark,
            chunks,
            position,
            ids,
            stored,
            buffers: HashMap::new(),
            buffer_postings: HashMap::new(),
            next_buffer_id: live::FIRST_BUFFER_ID,
            avg_len,
            embedder,
            vectors,
            ivf,
            reranker: None,
            model,
            ivf_info,
        })
    }

    /// How many chunks a search considers (stored ones plus those of buffers).
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Each position's 4-bit row (`None` without one): what a load built or copied.
    #[cfg(test)]
    pub(crate) fn rows(&self) -> Vec<Option<Vec<u8>>> {
        let Some(vectors) = &self.vectors else {
            return Vec::new();
        };
        (0..self.chunks.len())
            .map(|p| vectors.row(p).map(<[u8]>::to_vec))
            .collect()
    }

    /// Where the per-position tables live: edits must add rows without moving them.
    #[cfg(test)]
    pub(crate) fn table_addresses(&self) -> [usize; 3] {
        [
            self.chunks.as_ptr() as usize,
            self.ids.as_ptr() as usize,
            self.vectors.as_ref().map_or(0, |v| v.rows_address()),
        ]
    }

    /// The model that embeds queries (`None`: lexical search only).
    pub fn model_id(&self) -> Option<&str> {
        self.embedder.as_deref().map(|e| e.model_id())
    }

    /// Whether vectors take part (a model was given and the index holds its vectors).
    pub fn is_hybrid(&self) -> bool {
        self.vectors.is_some()
    }

    /// Whether vectors are searched through an inverted file (large indexes) rather than scanned.
    pub fn has_ivf(&self) -> bool {
        self.ivf.is_some()
    }

    /// The chunks that best answer `query`, best first.
    pub fn search(&self, query: &str, limit: usize, filter: &Filter) -> Result<Vec<Hit>> {
        guarded(self.reader.path(), || {
            let ranked = self.ranked(query, limit, filter)?;
            ranked
                .into_iter()
                .map(|(pos, score)| self.hit(pos, score))
                .collect()
        })
    }

    /// The files that best answer `query`, best first: each at its best chunk, with the
    /// file's other matching chunks in [`Hit::more`]. A reader judges a result by the file it
    /// opens, so one file does not take several places.
    pub fn search_files(&self, query: &str, limit: usize, filter: &Filter) -> Result<Vec<Hit>> {
        guarded(self.reader.path(), || {
            let ranked = self.ranked(query, files::depth(limit), filter)?;
            files::group(query, &ranked, &self.chunks, limit)
                .into_iter()
                .map(|file| {
                    let mut hit = self.hit(file.best, file.score)?;
                    hit.more = file
                        .more
                        .into_iter()
                        .map(|(pos, score)| {
                            let c = &self.chunks[pos as usize];
                            Also {
                                start_line: c.start_line,
                                end_line: c.end_line,
                                score,
                                symbol: c.symbol.as_deref().map(String::from),
                            }
                        })
                        .collect();
                    Ok(hit)
                })
                .collect()
        })
    }

    /// The best `limit` chunk positions for `query`, with their scores.
    fn ranked(&self, query: &str, limit: usize, filter: &Filter) -> Result<Vec<(u32, f32)>> {
        let query = query.trim();
        if query.is_empty() {
            return Err(Error::InvalidQuery(
                "the query is empty: say what the code does or name it".into(),
            ));
        }
        let mut terms = Vec::new();
        tokens::terms(query, &mut terms);
        terms.sort();
        terms.dedup();
        // The two retrievers are independent until fusion: each on its own core.
        let lexical = || -> Result<Vec<(u32, f32)>> {
            let mut lexical = bm25::score(
                &self.reader,
                &terms,
                self.chunks.len(),
                self.avg_len,
                &self.position,
                &self.buffer_postings,
            )?;
            if !filter.accepts_all() {
                lexical.retain(|&(pos, _)| filter.accepts(&self.chunks[pos as usize]));
            }
            top(&mut lexical, CANDIDATES);
            Ok(lexical)
        };
        let nearest = || -> Result<Option<(Vec<f32>, Scored)>> {
            match (&self.vectors, self.embedder.as_deref()) {
                (Some(vectors), Some(embedder)) => {
                    let q = embedder.embed_query(query)?;
                    let scores = self.nearest(vectors, &q, CANDIDATES, filter)?;
                    Ok(Some((q, scores)))
                }
                _ => Ok(None),
            }
        };
        let (lexical, nearest) = rayon::join(lexical, nearest);
        let (lexical, nearest) = (lexical?, nearest?);
        let semantic = match (&self.vectors, self.embedder.as_deref(), nearest) {
            (Some(vectors), Some(embedder), Some((q, mut scores))) => {
                let best = scores.first().map_or(0.0, |&(_, s)| s);
                // Lexical candidates the vectors ranked lower still get their similarity.
                let seen: HashSet<u32> = scores.iter().map(|&(p, _)| p).collect();
                scores.extend(
                    self.similarities(
                        lexical
                            .iter()
                            .map(|&(p, _)| p)
                            .filter(|p| !seen.contains(p)),
                        &q,
                    )?,
                );
                let labels = if embedder.is_fast() {
                    self.label_similarities(embedder, &q, &scores, &lexical)?
                } else {
                    // A transformer would run once per candidate on every query.
                    HashMap::new()
                };
                Some(rank::Semantic {
                    scores,
                    best,
                    floor: vectors.median_similarity(&vectors.lanes(&q)),
                    labels,
                })
            }
            _ => None,
        };
        let wanted = match self.reranker.as_deref() {
            Some(_) => limit.max(RERANKED),
            None => limit,
        };
        let mut ranked = rank::fuse(
            query,
            &terms,
            &lexical,
            semantic.as_ref(),
            &self.chunks,
            wanted,
        );
        if let Some(reranker) = self.reranker.as_deref() {
            ranked = self.rerank(reranker, query, ranked, limit)?;
        }
        Ok(ranked)
    }

    /// Re-orders the leading candidates by a second model's similarity to the query, mixed
    /// with their fused score (both scaled to the candidates' best).
    fn rerank(
        &self,
        reranker: &dyn Embedder,
        query: &str,
        ranked: Vec<(u32, f32)>,
        limit: usize,
    ) -> Result<Vec<(u32, f32)>> {
        if ranked.is_empty() {
            return Ok(ranked);
        }
        let q = reranker.embed_query(query)?;
        let tag = model_tag(reranker.model_id());
        let lookup = self.reader.embedding_table()?;
        let mut sims = Vec::with_capacity(ranked.len());
        for &(pos, _) in &ranked {
            let chunk = &self.chunks[pos as usize];
            let v = match lookup.get(&tag, &chunk.content_hash)? {
                Some(v) => v,
                None => {
                    let text = self.text(pos)?;
                    let input = crate::records::embedding_input(chunk.scope.as_deref(), &text);
                    reranker.embed_documents(&[&input])?.remove(0)
                }
            };
            sims.push(embed::dot(&v, &q));
        }
        let best_fused = ranked[0].1.max(1e-6);
        let (lo, hi) = sims
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        let mut out: Vec<(u32, f32)> = ranked
            .iter()
            .zip(&sims)
            .map(|(&(pos, fused), &sim)| {
                let sim = if hi > lo { (sim - lo) / (hi - lo) } else { 1.0 };
                (
                    pos,
                    (1.0 - RERANK_WEIGHT) * fused / best_fused + RERANK_WEIGHT * sim,
                )
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.truncate(limit);
        Ok(out)
    }

    /// Lets a second (slower, better) model re-order the leading candidates: their vectors
    /// come from the index ([`crate::Index::add_reranker`]), or are made on the spot.
    pub fn set_reranker(&mut self, reranker: Arc<dyn Embedder>) {
        self.reranker = Some(reranker);
    }

    /// How close each leading candidate's label (file, scope, name) alone is to the query:
    /// names are the densest description code has. Only the leading candidates of each list,
    /// those that can reach the top, are embedded.
    fn label_similarities(
        &self,
        embedder: &dyn Embedder,
        query: &[f32],
        semantic: &[(u32, f32)],
        lexical: &[(u32, f32)],
    ) -> Result<HashMap<u32, f32>> {
        let leading: HashSet<u32> = semantic[..semantic.len().min(LABELLED)]
            .iter()
            .chain(&lexical[..lexical.len().min(LABELLED)])
            .map(|&(p, _)| p)
            .collect();
        let (positions, texts): (Vec<u32>, Vec<String>) = leading
            .into_iter()
            .filter_map(|p| Some((p, label(&self.chunks[p as usize])?)))
            .unzip();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(positions
            .into_iter()
            .zip(embedder.embed_documents(&refs)?)
            .map(|(p, v)| (p, embed::dot(&v, query)))
            .collect())
    }

    /// The share of the `k` chunks nearest to each of `queries` by an exact scan of the
    /// stored vectors that the search's vectors find (through the inverted file, when there
    /// is one, and the 4-bit codes): for benchmarks. Stored chunks only.
    #[doc(hidden)]
    pub fn vector_recall(&self, queries: &[&str], k: usize) -> Result<Option<f32>> {
        let (Some(vectors), Some(embedder)) = (&self.vectors, self.embedder.as_deref()) else {
            return Ok(None);
        };
        let queries = queries
            .iter()
            .map(|q| embedder.embed_query(q))
            .collect::<Result<Vec<_>>>()?;
        // One pass over the stored vectors for every query, in key order.
        let mut order: Vec<([u8; 16], u32)> = (0..self.chunks.len())
            .filter(|&p| self.ids[p] < live::FIRST_BUFFER_ID)
            .map(|p| (self.chunks[p].content_hash, p as u32))
            .collect();
        order.sort_unstable();
        let mut exact: Vec<Vec<(u32, f32)>> = vec![Vec::new(); queries.len()];
        let mut row = Vec::with_capacity(embedder.dim());
        self.reader.embedding_table()?.for_each_codes(
            &model_tag(embedder.model_id()),
            &order,
            |(hash, _)| hash,
            |i, scale, codes| {
                row.clear();
                row.extend(codes.iter().map(|&c| f32::from(c) * scale));
                for (q, best) in queries.iter().zip(&mut exact) {
                    best.push((order[i].1, embed::dot(&row, q)));
                    if best.len() > 8 * k {
                        top(best, k);
                    }
                }
            },
        )?;
        let (mut shared, mut total) = (0, 0);
        for (q, mut best) in queries.iter().zip(exact) {
            top(&mut best, k);
            let found: HashSet<u32> = self
                .nearest(vectors, q, k, &Filter::default())?
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            shared += best.iter().filter(|(p, _)| found.contains(p)).count();
            total += best.len();
        }
        Ok(Some(shared as f32 / total.max(1) as f32))
    }

    /// The `k` chunks nearest to `query` that `filter` accepts: the inverted file's candidates
    /// plus the chunks newer than it, when there is one, else every chunk. The 4-bit codes
    /// pick twice as many as wanted, and the stored vectors score those exactly.
    fn nearest(
        &self,
        vectors: &Vectors,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(u32, f32)>> {
        let lanes = vectors.lanes(query);
        let mut scored: Vec<(u32, f32)> = match &self.ivf {
            Some(ivf) => {
                let mut positions: Vec<u32> = ivf
                    .candidates(query)
                    .filter_map(|id| self.position.get(id))
                    .collect();
                positions.extend(
                    (0..self.ids.len())
                        .filter(|&p| self.ids[p] > ivf.max_id)
                        .map(|p| p as u32),
                );
                // Tens of thousands of rows spread over the whole table: in memory order.
                positions.sort_unstable();
                vectors.approx_rows(&positions, &lanes)
            }
            None => vectors
                .scan(&lanes)
                .into_iter()
                .enumerate()
                .map(|(p, s)| (p as u32, s))
                .collect(),
        };
        if !filter.accepts_all() {
            scored.retain(|&(p, _)| filter.accepts(&self.chunks[p as usize]));
        }
        top(&mut scored, RESCORED * k);
        let mut exact = self.similarities(scored.into_iter().map(|(p, _)| p), query)?;
        top(&mut exact, k);
        Ok(exact)
    }

    /// Cosines of the chunks at `positions` with `query`, from the stored vectors (a
    /// buffer's chunks hold theirs); a chunk without one scores 0. A lookup each, most of
    /// them a read of a page (on every core): for the few hundred candidates a search
    /// keeps, not for a scan.
    fn similarities(
        &self,
        positions: impl Iterator<Item = u32>,
        query: &[f32],
    ) -> Result<Vec<(u32, f32)>> {
        let Some(embedder) = self.embedder.as_deref() else {
            return Ok(Vec::new());
        };
        let tag = model_tag(embedder.model_id());
        let lookup = self.reader.embedding_table()?;
        let positions: Vec<u32> = positions.collect();
        positions
            .par_iter()
            .with_max_len(16)
            .map(|&p| {
                let id = self.ids[p as usize];
                let score = if id >= live::FIRST_BUFFER_ID {
                    self.buffer_vector(id).map(|v| embed::dot(v, query))
                } else {
                    lookup
                        .get(&tag, &self.chunks[p as usize].content_hash)?
                        .map(|v| embed::dot(&v, query))
                };
                Ok((p, score.unwrap_or(0.0)))
            })
            .collect()
    }

    fn hit(&self, pos: u32, score: f32) -> Result<Hit> {
        let c = &self.chunks[pos as usize];
        Ok(Hit {
            path: c.path.to_string(),
            language: c.language.name.to_string(),
            start_line: c.start_line,
            end_line: c.end_line,
            score,
            symbol: c.symbol.as_deref().map(String::from),
            kind: c.kind,
            scope: c.scope.as_deref().map(String::from),
            text: self.text(pos)?.into_owned(),
            more: Vec::new(),
        })
    }

    /// The text of the chunk at `pos`: a buffer's chunks hold theirs, stored ones are read
    /// from the snapshot (ids never change their chunk, so any later snapshot agrees).
    fn text(&self, pos: u32) -> Result<std::borrow::Cow<'_, str>> {
        let id = self.ids[pos as usize];
        if id >= live::FIRST_BUFFER_ID {
            return Ok(self.buffer_text(id).unwrap_or_default().into());
        }
        let text = self
            .reader
            .chunk_text(id)?
            .ok_or_else(|| Error::CorruptIndex {
                path: self.root.clone(),
                message: format!("chunk {id} is missing from the index"),
            })?;
        Ok(text.into())
    }

    /// The lines (1-based, inclusive) of the smallest chunk of workspace file `path` that holds
    /// `line`: the function at the cursor, to compare when nothing is selected.
    pub fn enclosing(&self, path: &str, line: u32) -> Option<(u32, u32)> {
        self.chunks
            .iter()
            .filter(|c| *c.path == *path && c.start_line <= line && line <= c.end_line)
            .min_by_key(|c| (c.kind == ChunkKind::Block, c.end_line - c.start_line))
            .map(|c| (c.start_line, c.end_line))
    }

    /// The chunks most like `span` (other than the span itself), best first.
    pub fn similar(&self, span: &Span, limit: usize, filter: &Filter) -> Result<Vec<Hit>> {
        guarded(self.reader.path(), || {
            self.similar_unguarded(span, limit, filter)
        })
    }

    fn similar_unguarded(&self, span: &Span, limit: usize, filter: &Filter) -> Result<Vec<Hit>> {
        let (rel_path, text, language) = self.read_span(span)?;
        let query_vector = match (&self.vectors, self.embedder.as_deref()) {
            (Some(_), Some(embedder)) => Some(embedder.embed_documents(&[&text])?.remove(0)),
            _ => None,
        };
        let keywords = language.map_or(&[][..], |l| l.keywords);
        let mut idf_cache = HashMap::new();
        let ranked = similar::rank(
            similar::Probe {
                text: &text,
                keywords,
                vector: query_vector.as_deref(),
            },
            self.vectors.as_ref(),
            &self.chunks,
            limit,
            |c| {
                filter.accepts(c)
                    && !(*c.path == *rel_path
                        && c.start_line <= span.end_line
                        && span.start_line <= c.end_line)
            },
            similar::Lookups {
                text: &mut |pos| self.text(pos).map(std::borrow::Cow::into_owned),
                idf: &mut |term| self.idf(term, &mut idf_cache),
                cosines: &mut |positions| match &query_vector {
                    Some(q) => Ok(Some(
                        self.similarities(positions.iter().copied(), q)?
                            .into_iter()
                            .map(|(_, s)| s)
                            .collect(),
                    )),
                    None => Ok(None),
                },
            },
        )?;
        ranked
            .into_iter()
            .map(|(pos, score)| self.hit(pos, score))
            .collect()
    }

    /// Inverse document frequency of a BM25 term, memoised in `cache`.
    fn idf(&self, term: &str, cache: &mut HashMap<String, f32>) -> f32 {
        if let Some(&w) = cache.get(term) {
            return w;
        }
        let n = self.chunks.len() as f32;
        let df = self.reader.document_frequency(term).unwrap_or(0) as f32;
        let w = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        cache.insert(term.to_string(), w);
        w
    }

    fn read_span(&self, span: &Span) -> Result<(String, String, Option<&'static lang::Language>)> {
        let abs = self.root.join(&span.path);
        let rel_path = crate::walk::workspace_path(&self.root, &abs).ok_or_else(|| {
            Error::InvalidSpan(format!(
                "{} is outside the workspace {}",
                span.path.display(),
                self.root.display()
            ))
        })?;
        // An open buffer is what the user sees, saved or not.
        let content = match self.buffers.get(&rel_path) {
            Some(placed) => std::borrow::Cow::Borrowed(placed.buffer.text.as_str()),
            None => {
                // Never more than the index would take: a huge file is refused, not read whole.
                let limit = crate::walk::MAX_FILE_BYTES;
                let mut bytes = Vec::new();
                std::fs::File::open(&abs)
                    .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
                    .map_err(|e| Error::io(&abs, e))?;
                if bytes.len() as u64 > limit {
                    return Err(Error::InvalidSpan(format!(
                        "{rel_path} is not indexed: {} (the index's size limit)",
                        crate::walk::SkipReason::TooLarge.describe()
                    )));
                }
                std::borrow::Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
            }
        };
        let n_lines = content.lines().count() as u32;
        if span.start_line == 0 || span.end_line < span.start_line || span.end_line > n_lines {
            return Err(Error::InvalidSpan(format!(
                "{rel_path}:{}-{} is not a span of the file, which has {n_lines} lines (lines count from 1)",
                span.start_line, span.end_line
            )));
        }
        let text: Vec<&str> = content
            .lines()
            .skip(span.start_line as usize - 1)
            .take((span.end_line - span.start_line + 1) as usize)
            .collect();
        let language = lang::detect(&abs, content.lines().next());
        Ok((rel_path, text.join("\n"), language))
    }
}

/// The 4-bit rows of `chunks` (by position): from the rows kept beside the index where it
/// holds them, the rest from the index's vectors of `embedder`'s model.
fn load_vectors(reader: &Reader, embedder: &dyn Embedder, chunks: &[Chunk]) -> Result<Vectors> {
    let tag = model_tag(embedder.model_id());
    let lookup = reader.embedding_table()?;
    // In key order, beside a scan of the model's vectors (or the kept rows). The hashes are
    // sorted beside their positions: sorting positions by a hash looked up in `chunks` would
    // miss the cache at every comparison.
    let mut order: Vec<([u8; 16], u32)> = chunks
        .iter()
        .enumerate()
        .map(|(p, c)| (c.content_hash, p as u32))
        .collect();
    order.sort_unstable();
    let kept = rows::path(reader.path());
    let (dim, n) = (embedder.dim(), chunks.len());
    let (v, lacking) = match rows::load(&kept, embedder.model_id(), dim, n, &order) {
        Some(mut loaded) => {
            for &i in &loaded.lacking {
                let (hash, pos) = order[i];
                if let Some(v) = lookup.get(&tag, &hash)? {
                    loaded.vectors.set_vector(pos as usize, &v);
                }
            }
            (loaded.vectors, loaded.lacking.len())
        }
        None => {
            let mut v = Vectors::zeros(dim, n);
            lookup.for_each_codes(
                &tag,
                &order,
                |(hash, _)| hash,
                |i, scale, codes| v.set(order[i].1 as usize, scale, codes),
            )?;
            v.finish();
            (v, n)
        }
    };
    if rows::stale(lacking, n)
        && let Err(err) = rows::write(&kept, embedder.model_id(), &v, &order)
    {
        tracing::debug!("cannot keep the rows at {}: {err}", kept.display());
    }
    Ok(v)
}

/// Chunk positions with their scores.
type Scored = Vec<(u32, f32)>;

/// Keeps the `k` best (highest score) entries, best first.
fn top(scored: &mut Vec<(u32, f32)>, k: usize) {
    if scored.len() > k {
        scored.select_nth_unstable_by(k, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}
