//! Fusing lexical and semantic candidates, then the ranking layer: what a reader wants first.

use std::collections::{HashMap, HashSet};

use super::Chunk;
use crate::tokens;

/// Weight of the vectors against BM25, for a sentence and for a name. Measured on the
/// development sets (bench/devsets.sh) and the stdlib evaluation: see BENCHMARKS.md.
const SEMANTIC_WEIGHT_SENTENCE: f32 = 0.45;
const SEMANTIC_WEIGHT_IDENTIFIER: f32 = 0.3;
/// Weight of the cosine between the query and a definition's label (file, scope, name)
/// embedded alone: file, scope and name at 0.8 did best on the development sets of the
/// weights and labels tried (bench/HISTORY.md).
const LABEL_WEIGHT: f32 = 0.8;
/// Added when a chunk's name holds all the query's words (in proportion when it holds some).
const NAME_COVERAGE_BONUS: f32 = 0.5;
/// Glue code (imports, top-level statements) against definitions.
const GLUE_PRIOR: f32 = 0.8;
/// Tests against sources.
const TEST_PRIOR: f32 = 0.8;
/// Examples and documentation sources against the code they show.
const EXAMPLE_PRIOR: f32 = 0.8;
/// Prose (Markdown, reStructuredText, plain text) against code, unless the query asks for
/// documentation: READMEs and guides mention every concept a code question names.
const PROSE_PRIOR: f32 = 0.7;

/// The vectors' view of the candidates: cosine similarities, the best in the corpus, and the
/// corpus's median for this query (what an unrelated chunk scores).
pub(crate) struct Semantic {
    pub scores: Vec<(u32, f32)>,
    pub best: f32,
    pub floor: f32,
    /// Cosine of the query with leading candidates' labels (file, scope, name) alone; empty
    /// with a slow model.
    pub labels: HashMap<u32, f32>,
}

/// Fuses lexical (BM25) and semantic candidates and returns the best `limit` chunk positions
/// with their final scores. Each side is scaled to [0, 1]: BM25 by its best score, similarity
/// between the median and the best, so a chunk gets semantic credit in proportion to how far
/// above an unrelated chunk it stands (a floor at the 200th candidate instead cost MRR).
///
/// No per-file diversity penalty: on every set measured it cost MRR — when several chunks of
/// one file match, one of them is usually the answer.
pub(crate) fn fuse(
    query: &str,
    terms: &[String],
    lexical: &[(u32, f32)],
    semantic: Option<&Semantic>,
    chunks: &[Chunk],
    limit: usize,
) -> Vec<(u32, f32)> {
    let identifier = is_identifier_like(query);
    // A name is best found by its letters; a sentence by its meaning.
    let semantic_weight = match (semantic, identifier) {
        (None, _) => 0.0,
        (Some(_), true) => SEMANTIC_WEIGHT_IDENTIFIER,
        (Some(_), false) => SEMANTIC_WEIGHT_SENTENCE,
    };
    let mut scores: HashMap<u32, f32> = HashMap::new();
    if let Some(&(_, best)) = lexical.first() {
        for &(pos, s) in lexical {
            *scores.entry(pos).or_default() += (1.0 - semantic_weight) * s / best.max(1e-6);
        }
    }
    if let Some(semantic) = semantic {
        let range = (semantic.best - semantic.floor).max(1e-6);
        for &(pos, s) in &semantic.scores {
            *scores.entry(pos).or_default() +=
                semantic_weight * ((s - semantic.floor) / range).max(0.0);
        }
    }
    let query_lower = query.to_lowercase();
    let docs = wants_docs(&query_lower);
    let mut ranked: Vec<(u32, f32)> = scores
        .into_iter()
        .map(|(pos, score)| {
            let chunk = &chunks[pos as usize];
            let label = semantic
                .and_then(|s| s.labels.get(&pos))
                .map_or(0.0, |&cos| cos.max(0.0));
            (
                pos,
                (score + LABEL_WEIGHT * label) * prior(chunk, docs)
                    + name_bonus(chunk, identifier.then_some(query_lower.as_str()), terms),
            )
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    // Copies of the same code (vendored twice, generated twins) show once, at the best place.
    let mut seen = HashSet::new();
    ranked.retain(|(pos, _)| seen.insert(chunks[*pos as usize].content_hash));
    ranked.truncate(limit);
    ranked
}

/// `parse_config`, `HttpClient`, `fmt::Display`, `retry`: one word, no spaces.
fn is_identifier_like(query: &str) -> bool {
    !query.contains(char::is_whitespace)
        && query
            .chars()
            .all(|c| c.is_alphanumeric() || "_:.$#-".contains(c))
}

/// How much a chunk is worth before it matches anything: definitions over glue code, sources
/// over tests.
fn prior(chunk: &Chunk, docs: bool) -> f32 {
    let kind = if chunk.kind.is_definition() {
        1.0
    } else {
        GLUE_PRIOR
    };
    let path = if is_test_path(&chunk.path) {
        TEST_PRIOR
    } else if is_example_path(&chunk.path) {
        EXAMPLE_PRIOR
    } else {
        1.0
    };
    let prose = match !docs && is_prose(chunk.language.name) {
        true => PROSE_PRIOR,
        false => 1.0,
    };
    kind * path * prose
}

/// Documentation written as prose rather than code.
fn is_prose(language: &str) -> bool {
    matches!(language, "markdown" | "rst" | "text")
}

/// Whether a (lower-cased) query asks for documentation rather than code: how to install or
/// upgrade, what changed, where the docs are.
fn wants_docs(query: &str) -> bool {
    const WORDS: &[&str] = &[
        "install",
        "installation",
        "installing",
        "changelog",
        "changes",
        "release",
        "readme",
        "documentation",
        "docs",
        "tutorial",
        "guide",
        "upgrade",
        "upgrading",
        "license",
        "contributing",
        "markdown",
    ];
    query
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| WORDS.contains(&w))
}

/// Examples and documentation sources: below the code they show.
fn is_example_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.split('/').rev().skip(1).any(|part| {
        matches!(
            part,
            "examples" | "example" | "docs" | "doc" | "demo" | "demos"
        )
    })
}

/// A chunk named what the query names ranks first; one whose name holds the query's words
/// ranks higher.
fn name_bonus(chunk: &Chunk, identifier: Option<&str>, terms: &[String]) -> f32 {
    let Some(symbol) = &chunk.symbol else {
        return 0.0;
    };
    let symbol_lower = symbol.to_lowercase();
    if let Some(query) = identifier {
        let last = symbol_lower
            .rsplit([':', '.'])
            .next()
            .unwrap_or(&symbol_lower);
        if symbol_lower == query || last == query {
            return 1.0;
        }
    }
    if terms.is_empty() {
        return 0.0;
    }
    let mut symbol_terms = Vec::new();
    tokens::terms(symbol, &mut symbol_terms);
    let covered = terms.iter().filter(|t| symbol_terms.contains(t)).count();
    NAME_COVERAGE_BONUS * covered as f32 / terms.len() as f32
}

pub(crate) fn is_test_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    lower.split('/').any(|part| {
        matches!(
            part,
            "test" | "tests" | "__tests__" | "spec" | "testing" | "testdata" | "fixtures"
        )
    }) || file.starts_with("test_")
        || file.contains("_test.")
        || file.contains(".test.")
        || file.contains(".spec.")
        || file.contains("tests.")
        || (file.ends_with("test.java") || file.ends_with("tests.cs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_paths() {
        for p in [
            "tests/a.rs",
            "pkg/test_x.py",
            "a/b_test.go",
            "ui/x.spec.ts",
            "src/FooTest.java",
            "a/__tests__/b.js",
        ] {
            assert!(is_test_path(p), "{p}");
        }
        for p in ["src/contest.rs", "lib/attestation.py", "src/main.rs"] {
            assert!(!is_test_path(p), "{p}");
        }
    }

    #[test]
    fn prose_and_examples_rank_below_code_unless_docs_are_asked_for() {
        assert!(is_prose("markdown") && is_prose("rst") && !is_prose("python"));
        for q in [
            "how do i install it",
            "changelog of 2.0",
            "where is the readme",
        ] {
            assert!(wants_docs(q), "{q}");
        }
        for q in [
            "parse the config file",
            "retry failed uploads",
            "reinstall_hooks",
        ] {
            assert!(!wants_docs(q), "{q}");
        }
        for p in ["examples/basic.py", "docs/conf.py", "site/doc/x.rs"] {
            assert!(is_example_path(p), "{p}");
        }
        for p in ["src/docs.rs", "lib/example.py", "src/main.rs"] {
            assert!(!is_example_path(p), "{p}");
        }
    }

    #[test]
    fn identifier_queries() {
        assert!(is_identifier_like("parse_config"));
        assert!(is_identifier_like("fmt::Display"));
        assert!(!is_identifier_like("where do we retry"));
    }
}
