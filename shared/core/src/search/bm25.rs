//! Okapi BM25 over the postings stored in the index.

use std::collections::HashMap;

use super::Positions;
use crate::error::Result;
use crate::store::{Posting, Reader};

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// BM25 score of every chunk that holds a query term, by chunk position: the stored postings
/// plus `extra` (those of editor buffers).
pub(crate) fn score(
    reader: &Reader,
    terms: &[String],
    n_docs: usize,
    avg_len: f32,
    position: &Positions,
    extra: &HashMap<String, Vec<Posting>>,
) -> Result<Vec<(u32, f32)>> {
    // Common terms have postings in a large share of a big index: scores by position in an
    // array, not a map.
    let mut scores: Vec<f32> = Vec::new();
    let mut touched: Vec<u32> = Vec::new();
    for term in terms {
        let buffered = extra.get(term).map_or(&[][..], Vec::as_slice);
        let df = reader.document_frequency(term)? as f32 + buffered.len() as f32;
        if df == 0.0 {
            continue;
        }
        let idf = (1.0 + (n_docs as f32 - df + 0.5) / (df + 0.5)).ln();
        let mut add = |p: Posting| {
            // Postings of chunks removed after this snapshot's chunk list was read never
            // match a position.
            let Some(pos) = position.get(p.chunk_id) else {
                return;
            };
            if scores.is_empty() {
                scores.resize(n_docs, 0.0);
            }
            let tf = p.tf as f32;
            let norm = K1 * (1.0 - B + B * p.doc_len as f32 / avg_len.max(1.0));
            let score = &mut scores[pos as usize];
            if *score == 0.0 {
                touched.push(pos);
            }
            *score += idf * tf * (K1 + 1.0) / (tf + norm);
        };
        reader.for_each_posting(term, &mut add)?;
        buffered.iter().copied().for_each(add);
    }
    Ok(touched
        .into_iter()
        .map(|pos| (pos, scores[pos as usize]))
        .collect())
}
