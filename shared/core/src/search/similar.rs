//! Similar code: what looks like a span, even with names changed and lines edited. The code's
//! shape (names blanked) sees renamed clones; its vocabulary (names, strings, numbers) and its
//! words weighted by rarity see reordered and edited ones; vectors help pick the shortlist.

use std::collections::HashSet;

use crate::error::Result;
use crate::tokens::{self, Fingerprint};

use super::Chunk;
use super::dense::Vectors;

/// Chunks re-scored exactly after the cheap MinHash pass.
const SHORTLIST: usize = 150;
/// The vector's share of the exact score. Vectors help to find the shortlist, but a text
/// model's cosine says little about clones: on the development sets any larger share lost
/// Recall@1 (BENCHMARKS.md), so it only breaks near-ties.
const COSINE_WEIGHT: f32 = 0.1;

pub(crate) struct Probe<'a> {
    pub text: &'a str,
    pub keywords: &'a [&'a str],
    pub vector: Option<&'a [f32]>,
}

/// Words shared by two chunks, each weighted by its rarity (IDF): sharing `retry_budget` says
/// more than sharing `self`.
fn weighted_overlap(
    a: &HashSet<String>,
    b: &HashSet<String>,
    idf: &mut dyn FnMut(&str) -> f32,
) -> f32 {
    let mut common = 0.0;
    let mut all = 0.0;
    for term in a.union(b) {
        let w = idf(term);
        all += w;
        if a.contains(term) && b.contains(term) {
            common += w;
        }
    }
    if all > 0.0 { common / all } else { 0.0 }
}

fn term_set(text: &str) -> HashSet<String> {
    let mut terms = Vec::new();
    tokens::terms(text, &mut terms);
    terms.into_iter().collect()
}

/// The exact cosines of chunks (by position) with the probe's vector; `None` without vectors.
type Cosines<'a> = &'a mut dyn FnMut(&[u32]) -> Result<Option<Vec<f32>>>;

/// What [`rank`] reads besides the chunks: texts, word rarity, and the shortlist's cosines.
pub(crate) struct Lookups<'a> {
    pub text: &'a mut dyn FnMut(u32) -> Result<String>,
    pub idf: &'a mut dyn FnMut(&str) -> f32,
    pub cosines: Cosines<'a>,
}

pub(crate) fn rank(
    probe: Probe,
    vectors: Option<&Vectors>,
    chunks: &[Chunk],
    limit: usize,
    accept: impl Fn(&Chunk) -> bool,
    lookups: Lookups,
) -> Result<Vec<(u32, f32)>> {
    let print = tokens::fingerprint(probe.text, probe.keywords);
    let probe_terms = term_set(probe.text);
    let shape_sig = tokens::minhash(&print.shape);
    let vocab_sig = tokens::minhash(&print.vocabulary);
    let lanes = probe.vector.zip(vectors).map(|(q, v)| (v.lanes(q), v));
    let cosine = |pos: usize| lanes.as_ref().map(|(q, v)| v.approx(pos, q));
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
    let shortlist: Vec<u32> = coarse.into_iter().map(|(pos, _)| pos).collect();
    let cosines = (lookups.cosines)(&shortlist)?;
    let mut exact: Vec<(u32, f32)> = Vec::with_capacity(shortlist.len());
    for (i, &pos) in shortlist.iter().enumerate() {
        let chunk = &chunks[pos as usize];
        let chunk_text = (lookups.text)(pos)?;
        let other: Fingerprint = tokens::fingerprint(&chunk_text, chunk.language.keywords);
        let shape = tokens::jaccard(&print.shape, &other.shape);
        let vocab = tokens::jaccard(&print.vocabulary, &other.vocabulary);
        let words = weighted_overlap(&probe_terms, &term_set(&chunk_text), lookups.idf);
        let structure = (shape + vocab + words) / 3.0;
        let score = match &cosines {
            Some(cos) => COSINE_WEIGHT * cos[i] + (1.0 - COSINE_WEIGHT) * structure,
            None => structure,
        };
        exact.push((pos, score));
    }
    super::top(&mut exact, limit);
    Ok(exact)
}
