//! Results by file: ranked chunks gathered under their files, each file scored by its best
//! chunk, the evidence of its other matching chunks and how well its path names the query.

use std::collections::HashMap;

use super::Chunk;
use super::rank::is_test_path;
use crate::tokens;

/// Ranked chunks read per file asked for: enough that the files below the first few still
/// get their evidence.
const CHUNKS_PER_FILE: usize = 6;
const MIN_CHUNKS: usize = 60;
/// Other chunks listed under a file.
const MORE: usize = 5;
/// Weight of a file's second-best chunk: a file that matches in several places is more
/// likely what the question is about (on the whole-repository dev set, bench/wholerepo.sh,
/// 0.3 did as well as 0.2–0.5; a third chunk added nothing).
const SECOND_CHUNK: f32 = 0.3;
/// Weight of the share of the query's terms that the file's path names: the file that
/// implements a concept is usually named for it (0.7 did best of 0.1–1.5).
const PATH_TERMS: f32 = 0.7;
/// A test file against the code it tests, on top of the chunk's own test prior: a question
/// about what code does wants the code, and a test file names everything it exercises
/// (0.75, a file-level 0.6 in all, did best of 0.5–1.0 on the whole-repository set; the
/// chunk list keeps 0.8, chosen on the function-level sets).
const TEST_FILE: f32 = 0.75;

/// One file of a result list: its best chunk and its other matching chunks, best first.
pub(super) struct File {
    pub best: u32,
    pub score: f32,
    pub more: Vec<(u32, f32)>,
}

/// How many ranked chunks to gather `limit` files from.
pub(super) fn depth(limit: usize) -> usize {
    (limit * CHUNKS_PER_FILE).max(MIN_CHUNKS)
}

/// The best `limit` files of `ranked` (chunk positions and scores, best first).
pub(super) fn group(
    query: &str,
    ranked: &[(u32, f32)],
    chunks: &[Chunk],
    limit: usize,
) -> Vec<File> {
    let mut order: Vec<File> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for &(pos, score) in ranked {
        let path = &*chunks[pos as usize].path;
        match at.get(path) {
            Some(&i) => order[i].more.push((pos, score)),
            None => {
                at.insert(path, order.len());
                order.push(File {
                    best: pos,
                    score,
                    more: Vec::new(),
                });
            }
        }
    }
    let mut terms = Vec::new();
    tokens::terms(query, &mut terms);
    terms.sort();
    terms.dedup();
    for file in &mut order {
        let second = file.more.first().map_or(0.0, |&(_, s)| s);
        let path = &chunks[file.best as usize].path;
        file.score += SECOND_CHUNK * second + PATH_TERMS * path_match(path, &terms);
        if is_test_path(path) {
            file.score *= TEST_FILE;
        }
        file.more.truncate(MORE);
    }
    order.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.best.cmp(&b.best)));
    order.truncate(limit);
    order
}

/// The share of the query's terms that the file's path names.
fn path_match(path: &str, terms: &[String]) -> f32 {
    if terms.is_empty() {
        return 0.0;
    }
    let mut path_terms = Vec::new();
    tokens::terms(path, &mut path_terms);
    let covered = terms.iter().filter(|t| path_terms.contains(t)).count();
    covered as f32 / terms.len() as f32
}
