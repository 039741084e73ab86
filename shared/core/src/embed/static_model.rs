//! Scry's built-in code embedding model: a vector per word or word piece, looked up and summed.
//! No neural network runs at search or index time, so it embeds thousands of chunks a second. The weights come from `xtask` (distilled from a transformer, then trained on
//! documentation/code pairs); `shared/core/models/README.md` gives the recipe.
//!
//! A model has one table of vectors, or two: documents (code) and queries, so that a query's
//! words can learn what code they point to without changing what code looks like.
//!
//! File format (little-endian): `SCRYSTM1`, `u32` dim, `u32` vocabulary size, `u32` tables
//! (1 or 2), each word as a `u16` length and UTF-8 bytes, then per table one `f32` scale per
//! word followed by the `i8` codes, `dim` per word.

use std::sync::OnceLock;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{Embedder, normalize, quantize};
use crate::error::{Error, Result};
use crate::tokens::{for_each_part, lowercase_into};

const MAGIC: &[u8; 8] = b"SCRYSTM1";
/// Longest word looked up; longer runs are hashes, data or minified code.
const MAX_WORD: usize = 40;
/// Words embedded per text: a chunk's first few hundred words say what it is.
const MAX_TOKENS: usize = 1024;
/// Texts embedded on one thread below this many.
const PARALLEL_MIN: usize = 1024;
/// Word pieces that continue a word carry this prefix (the WordPiece convention).
const CONTINUATION: &str = "##";

static BUILTIN_BYTES: &[u8] = include_bytes!("../../models/scry-code.bin");

/// The words a static model knows and how text becomes their ids: code-aware words (identifiers
/// split at underscores and case changes, lower-cased), each looked up whole and
/// otherwise cut greedily into the longest known pieces.
pub struct Vocab {
    ids: FxHashMap<Box<str>, u32>,
}

impl Vocab {
    pub fn new<S: AsRef<str>>(words: &[S]) -> Self {
        let ids = words
            .iter()
            .enumerate()
            .map(|(i, w)| (Box::from(w.as_ref()), i as u32))
            .collect();
        Vocab { ids }
    }

    /// Appends the ids of `text`'s words to `out`, at most [`MAX_TOKENS`] of them.
    pub fn tokenize(&self, text: &str, out: &mut Vec<u32>) {
        let limit = out.len() + MAX_TOKENS;
        let mut piece = String::new();
        for_each_word(text, |word| {
            if out.len() < limit {
                self.pieces(word, &mut piece, out);
            }
        });
    }

    fn pieces(&self, word: &str, scratch: &mut String, out: &mut Vec<u32>) {
        if let Some(&id) = self.ids.get(word) {
            out.push(id);
            return;
        }
        let mut start = 0;
        let mut found = Vec::new();
        while start < word.len() {
            let mut end = word.len();
            let id = loop {
                if end <= start {
                    // No known piece starts here: the word is unknown, drop it whole.
                    return;
                }
                if word.is_char_boundary(end) {
                    scratch.clear();
                    if start > 0 {
                        scratch.push_str(CONTINUATION);
                    }
                    scratch.push_str(&word[start..end]);
                    if let Some(&id) = self.ids.get(scratch.as_str()) {
                        break id;
                    }
                }
                end -= 1;
            };
            found.push(id);
            start = end;
        }
        out.extend(found);
    }
}

/// Calls `f` with each lower-cased word of `text` a static model looks up: identifiers split at
/// underscores and case changes; numbers and over-long runs left out.
pub fn for_each_word(text: &str, mut f: impl FnMut(&str)) {
    let mut lower = String::new();
    for word in text.split(|c: char| !c.is_alphanumeric() && c != '_') {
        for_each_part(word, |part| {
            if part.len() > MAX_WORD || part.bytes().all(|b| b.is_ascii_digit()) {
                return;
            }
            lowercase_into(part, &mut lower);
            f(&lower);
        });
    }
}

/// A static embedding model: [`Vocab`] plus, per table, an int8 vector (with a scale) per word.
pub struct StaticModel {
    vocab: Vocab,
    dim: usize,
    documents: Table,
    /// Present when queries have their own vectors.
    queries: Option<Table>,
    id: String,
}

struct Table {
    scales: Vec<f32>,
    codes: Vec<i8>,
}

impl Table {
    fn read(r: &mut Reader, len: usize, dim: usize) -> Option<Table> {
        let scales = r
            .take(4 * len)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let codes = r.take(dim * len)?.iter().map(|&b| b as i8).collect();
        Some(Table { scales, codes })
    }

    fn write(out: &mut Vec<u8>, vectors: &[f32], dim: usize) {
        let rows: Vec<(f32, Vec<i8>)> = vectors.chunks_exact(dim).map(quantize).collect();
        for (scale, _) in &rows {
            out.extend_from_slice(&scale.to_le_bytes());
        }
        for (_, codes) in &rows {
            out.extend(codes.iter().map(|&c| c as u8));
        }
    }

    /// The normalised sum of the rows of `ids` (sorted here: code repeats its words, and each
    /// distinct row is added once, times its count).
    fn embed(&self, ids: &mut [u32], dim: usize) -> Vec<f32> {
        ids.sort_unstable();
        let mut sum = vec![0f32; dim];
        for run in ids.chunk_by(|a, b| a == b) {
            let id = run[0] as usize;
            let scale = self.scales[id] * run.len() as f32;
            let row = &self.codes[id * dim..(id + 1) * dim];
            for (s, &c) in sum.iter_mut().zip(row) {
                *s += c as f32 * scale;
            }
        }
        normalize(&mut sum);
        sum
    }
}

impl StaticModel {
    /// The model compiled into this binary (`shared/core/models/scry-code.bin`).
    pub fn builtin() -> Result<&'static StaticModel> {
        static MODEL: OnceLock<std::result::Result<StaticModel, String>> = OnceLock::new();
        MODEL
            .get_or_init(|| {
                StaticModel::from_bytes("scry-code", BUILTIN_BYTES).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::Embed(format!("the built-in model is unusable: {e}")))
    }

    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<StaticModel> {
        let bad = |what: &str| Error::Embed(format!("static model {name}: {what}"));
        let mut r = Reader { bytes, at: 0 };
        if r.take(8).ok_or_else(|| bad("truncated"))? != MAGIC {
            return Err(bad("not a Scry static model (bad magic)"));
        }
        let dim = r.u32().ok_or_else(|| bad("truncated"))? as usize;
        let len = r.u32().ok_or_else(|| bad("truncated"))? as usize;
        let tables = r.u32().ok_or_else(|| bad("truncated"))?;
        // Every word costs at least its length prefix, a scale and `dim` codes: a header that
        // claims more than the file holds is damage, and must not size an allocation.
        let least = len.saturating_mul(2 + 4 + dim);
        if dim == 0 || dim > 4096 || len == 0 || !(1..=2).contains(&tables) || least > bytes.len() {
            return Err(bad("implausible dimensions (damaged file?)"));
        }
        let mut words = Vec::with_capacity(len);
        for _ in 0..len {
            let n = r.u16().ok_or_else(|| bad("truncated vocabulary"))? as usize;
            let raw = r.take(n).ok_or_else(|| bad("truncated vocabulary"))?;
            let word = std::str::from_utf8(raw).map_err(|_| bad("a word is not UTF-8"))?;
            words.push(word.to_string());
        }
        let documents = Table::read(&mut r, len, dim).ok_or_else(|| bad("truncated vectors"))?;
        let queries = match tables {
            2 => Some(Table::read(&mut r, len, dim).ok_or_else(|| bad("truncated vectors"))?),
            _ => None,
        };
        if r.at != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        let digest = blake3::hash(bytes);
        Ok(StaticModel {
            vocab: Vocab::new(&words),
            dim,
            documents,
            queries,
            id: format!("static:{name}@{}", &digest.to_hex()[..16]),
        })
    }

    /// Serialises tables of vectors (the documents', then optionally the queries'; each
    /// `words.len() × dim`, row-major) in the model format, each row quantised to int8 with its
    /// own scale.
    pub fn to_bytes<S: AsRef<str>>(words: &[S], tables: &[&[f32]], dim: usize) -> Vec<u8> {
        assert!((1..=2).contains(&tables.len()), "one or two tables");
        assert!(
            tables.iter().all(|t| t.len() == words.len() * dim),
            "one vector per word"
        );
        let mut out = Vec::with_capacity(16 + tables.len() * words.len() * (dim + 12));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(dim as u32).to_le_bytes());
        out.extend_from_slice(&(words.len() as u32).to_le_bytes());
        out.extend_from_slice(&(tables.len() as u32).to_le_bytes());
        for word in words {
            let word = word.as_ref().as_bytes();
            let len = u16::try_from(word.len()).expect("words are shorter than 64 KiB");
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(word);
        }
        for table in tables {
            Table::write(&mut out, table, dim);
        }
        out
    }
}

impl Embedder for StaticModel {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn is_fast(&self) -> bool {
        true
    }

    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let embed = |ids: &mut Vec<u32>, text: &&str| {
            ids.clear();
            self.vocab.tokenize(text, ids);
            self.documents.embed(ids, self.dim)
        };
        // A few hundred texts (a query's candidates) take less time than waking other threads.
        if texts.len() < PARALLEL_MIN {
            let mut ids = Vec::new();
            return Ok(texts.iter().map(|t| embed(&mut ids, t)).collect());
        }
        Ok(texts.par_iter().map_init(Vec::new, embed).collect())
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        let mut ids = Vec::new();
        self.vocab.tokenize(text, &mut ids);
        Ok(self
            .queries
            .as_ref()
            .unwrap_or(&self.documents)
            .embed(&mut ids, self.dim))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_identifiers_and_falls_back_to_pieces() {
        let vocab = Vocab::new(&["parse", "http", "response", "un", "##known", "##s"]);
        let mut ids = Vec::new();
        vocab.tokenize("parseHTTPResponse unknowns zzz", &mut ids);
        assert_eq!(ids, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn builtin_model_brings_a_description_near_its_code() {
        let model = StaticModel::builtin().unwrap();
        assert!(model.model_id().starts_with("static:scry-code@"));
        let q = model
            .embed_query("decode a JSON document from a string")
            .unwrap();
        let docs = model
            .embed_documents(&[
                "def load_config(text):\n    return json.loads(text)\n",
                "def draw_circle(canvas, radius):\n    canvas.arc(0, 0, radius)\n",
                "fn retry_upload(client: &Client) -> Result<()> { loop { client.put()?; } }",
            ])
            .unwrap();
        let sims: Vec<f32> = docs.iter().map(|d| super::super::dot(&q, d)).collect();
        assert!(sims[0] > sims[1] && sims[0] > sims[2], "{sims:?}");
        let q = model.embed_query("retry a failed upload").unwrap();
        let sims: Vec<f32> = docs.iter().map(|d| super::super::dot(&q, d)).collect();
        assert!(sims[2] > sims[0] && sims[2] > sims[1], "{sims:?}");
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let words = ["alpha", "beta"];
        let documents = [1.0, 0.0, 0.5, 0.0, -1.0, 0.25];
        let queries = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let bytes = StaticModel::to_bytes(&words, &[&documents, &queries], 3);
        let model = StaticModel::from_bytes("t", &bytes).unwrap();
        let e = model.embed_documents(&["Alpha"]).unwrap().remove(0);
        assert!((e[0] - 0.894).abs() < 0.01, "{e:?}");
        let e = model.embed_documents(&["beta"]).unwrap().remove(0);
        assert!(
            (e[1] + 0.97).abs() < 0.01 && (e[2] - 0.243).abs() < 0.01,
            "{e:?}"
        );
        let q = model.embed_query("alpha BETA").unwrap();
        assert!((q[1] - 0.707).abs() < 0.01, "{q:?}");
        assert!(StaticModel::from_bytes("t", &bytes[..bytes.len() - 1]).is_err());
        assert!(StaticModel::from_bytes("t", b"garbage").is_err());
    }
}
