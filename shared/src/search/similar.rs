//! Similar code: what looks like a span, even with names changed and lines edited. Vectors
//! see meaning; the code's shape (names blanked) sees renamed clones; its vocabulary
//! (names, strings, numbers) sees reordered ones.

use crate::embed::dot;
use crate::store::ChunkRecord;
use crate::tokens::{self, Fingerprint};

use super::dense::Vectors;

/// Chunks re-scored exactly after the cheap MinHash pass.
const SHORTLIST: usize = 150;

pub(crate) struct Probe<'a> {
    pub text: &'a str,
    pub keywords: &'a [&'a str],
    pub vector: Option<&'a [f32]>,
}

pub(crate) fn rank(
    probe: Probe,
    vectors: Option<&Vectors>,
    chunks: &[ChunkRecord],
    limit: usize,
    accept: impl Fn(&ChunkRecord) -> bool,
) -> Vec<(u32, f32)> {
    let print = tokens::fingerprint(probe.text, probe.keywords);
    let shape_sig = tokens::minhash(&print.shape);
    let vocab_sig = tokens::minhash(&print.vocabulary);
    let cosine = |pos: usize| match (probe.vector, vectors) {
        (Some(q), Some(v)) => Some(dot(v.row(pos), q)),
        _ => None,
    };
    let mut coarse: Vec<(u32, f32)> = chunks
        .iter()
        .enumerate()
        .filter(|(_, c)| accept(c))
        .map(|(pos, c)| {
            let lexical = tokens::minhash_similarity(&shape_sig, &c.shape_sig)
                + tokens::minhash_similarity(&vocab_sig, &c.vocab_sig);
            (pos as u32, lexical + cosine(pos).unwrap_or(0.0))
        })
        .collect();
    super::top(&mut coarse, SHORTLIST);
    let keywords = probe.keywords;
    let mut exact: Vec<(u32, f32)> = coarse
        .into_iter()
        .map(|(pos, _)| {
            let chunk = &chunks[pos as usize];
            let other: Fingerprint =
                tokens::fingerprint(&chunk.text, chunk_keywords(chunk).unwrap_or(keywords));
            let shape = tokens::jaccard(&print.shape, &other.shape);
            let vocab = tokens::jaccard(&print.vocabulary, &other.vocabulary);
            let score = match cosine(pos as usize) {
                Some(cos) => 0.4 * cos + 0.3 * shape + 0.3 * vocab,
                None => 0.5 * shape + 0.5 * vocab,
            };
            (pos, score)
        })
        .collect();
    super::top(&mut exact, limit);
    exact
}

fn chunk_keywords(chunk: &ChunkRecord) -> Option<&'static [&'static str]> {
    crate::lang::by_name(&chunk.language).map(|l| l.keywords)
}
