//! Documentation/code pairs from real code: each documented definition, cut by Scry's own
//! chunker, gives its documentation's summary (the query a user might type) and its code with
//! the documentation removed (what the index holds).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use scry_core::embed::for_each_word;
use scry_core::{chunk, walk};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Pair {
    pub doc: String,
    pub code: String,
    pub lang: String,
}

/// Path parts of vendored or back-ported code: copies of other projects (some of them of the
/// Python standard library, which must stay out of training).
const SKIP_PARTS: &[&str] = &[
    "vendor",
    "thirdparty",
    "third_party",
    "backport",
    "compat",
    "/_py/",
    "_inspect",
];

/// Summaries that say nothing about what the code does.
const SKIP_DOCS: &[&str] = &[
    "todo",
    "fixme",
    "safety",
    "noqa",
    "type:",
    "pylint",
    "eslint",
    "clippy",
    "rustfmt",
    "copyright",
    "license",
    "-*-",
    "see ",
    "deprecated",
    "alias",
    "internal",
    "private",
];

pub fn run(work: &Path, roots: &[PathBuf]) -> Result<()> {
    std::fs::create_dir_all(work)?;
    let mut files = Vec::new();
    for root in roots {
        let report = walk::walk(root, &walk::Excludes::default(), &Default::default());
        files.extend(report.files.into_iter().filter(|f| {
            let p = f.abs_path.to_string_lossy();
            !SKIP_PARTS.iter().any(|s| p.contains(s))
        }));
    }
    eprintln!("{} files", files.len());
    let per_file: Vec<(Vec<Pair>, HashMap<String, u64>)> = files
        .par_iter()
        .filter_map(|file| walk::read(file).ok())
        .map(|text| {
            let mut pairs = Vec::new();
            let mut counts: HashMap<String, u64> = HashMap::new();
            for_each_word(&text.text, |w| {
                *counts.entry(w.to_string()).or_default() += 1
            });
            if text.language.has_grammar() {
                for c in chunk::chunk(&text.text, text.language) {
                    if !c.kind.is_definition() {
                        continue;
                    }
                    if let Some((doc, code)) = split_doc(&c.text, text.language.name) {
                        pairs.push(Pair {
                            doc,
                            code,
                            lang: text.language.name.to_string(),
                        });
                    }
                }
            }
            (pairs, counts)
        })
        .collect();
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut pairs = Vec::new();
    for (p, c) in per_file {
        pairs.extend(p);
        for (w, n) in c {
            *counts.entry(w).or_default() += n;
        }
    }
    // Boilerplate summaries ("Returns self.") repeated across many definitions teach nothing.
    let mut doc_counts: HashMap<&str, usize> = HashMap::new();
    for p in &pairs {
        *doc_counts.entry(p.doc.as_str()).or_default() += 1;
    }
    let keep: Vec<bool> = pairs
        .iter()
        .map(|p| doc_counts[p.doc.as_str()] <= 2)
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(work.join("pairs.jsonl"))?);
    let mut by_lang: HashMap<&str, usize> = HashMap::new();
    for (p, _) in pairs.iter().zip(&keep).filter(|(_, k)| **k) {
        serde_json::to_writer(&mut out, p)?;
        out.write_all(b"\n")?;
        *by_lang.entry(p.lang.as_str()).or_default() += 1;
    }
    out.flush()?;
    let mut words: Vec<(String, u64)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = std::io::BufWriter::new(std::fs::File::create(work.join("words.tsv"))?);
    for (w, n) in &words {
        writeln!(out, "{w}\t{n}")?;
    }
    out.flush()?;
    eprintln!(
        "pairs by language: {by_lang:?}; {} distinct words",
        words.len()
    );
    Ok(())
}

pub fn load(work: &Path) -> Result<Vec<Pair>> {
    let path = work.join("pairs.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    text.lines().map(|l| Ok(serde_json::from_str(l)?)).collect()
}

/// Splits a definition into (summary of its documentation, code without it).
fn split_doc(text: &str, lang: &str) -> Option<(String, String)> {
    let (raw_doc, code) = leading_comment(text).or_else(|| {
        if lang == "python" {
            docstring(text)
        } else {
            None
        }
    })?;
    let summary = summarize(&raw_doc)?;
    if code.lines().filter(|l| !l.trim().is_empty()).count() < 3 {
        return None;
    }
    let code: String = code.chars().take(6000).collect();
    Some((summary, code))
}

/// Comment lines at the top of a chunk (attributes and decorators skipped).
fn leading_comment(text: &str) -> Option<(String, String)> {
    let mut doc = String::new();
    let mut code = String::new();
    let mut in_doc = true;
    for line in text.lines() {
        let t = line.trim_start();
        let is_comment = ["///", "//!", "//", "/**", "/*", "*", "#"]
            .iter()
            .any(|m| t.starts_with(m))
            && !t.starts_with("#[")
            && !t.starts_with("#!");
        if in_doc && is_comment {
            let stripped = t
                .trim_start_matches(['/', '*', '!', '#'])
                .trim_end_matches("*/");
            doc.push_str(stripped.trim());
            doc.push('\n');
        } else {
            if !t.starts_with("#[") && !t.starts_with('@') {
                in_doc = false;
            }
            code.push_str(line);
            code.push('\n');
        }
    }
    (!doc.trim().is_empty()).then_some((doc, code))
}

/// A Python docstring: the first string after the `def`/`class` header.
fn docstring(text: &str) -> Option<(String, String)> {
    let start = ["\"\"\"", "'''"]
        .iter()
        .filter_map(|q| text.find(q).map(|i| (i, *q)))
        .min()?;
    let (at, quote) = start;
    let header = text[..at].trim_end_matches(['r', 'u', 'R', 'U']);
    if !header.trim_end().ends_with(':') {
        return None;
    }
    let body_start = at + 3;
    let end = body_start + text[body_start..].find(quote)?;
    let doc = text[body_start..end].to_string();
    let code = format!("{}{}", header, &text[end + 3..]);
    Some((doc, code))
}

/// The first sentence of the first paragraph (the paragraph when that sentence is short),
/// without markup; `None` when it says nothing useful.
fn summarize(doc: &str) -> Option<String> {
    let mut paragraph = String::new();
    for line in doc.lines() {
        let t = line.trim();
        if t.is_empty() {
            if paragraph.is_empty() {
                continue;
            }
            break;
        }
        if t.starts_with('@') || t.starts_with(":param") || t.starts_with("# ") || t == "#" {
            break;
        }
        paragraph.push_str(t);
        paragraph.push(' ');
    }
    let paragraph = paragraph.replace('`', "");
    let words: Vec<&str> = paragraph.split_whitespace().collect();
    let sentence_end = words
        .iter()
        .position(|w| w.ends_with('.') && w.len() > 2)
        .map_or(words.len(), |i| i + 1);
    let chosen = if sentence_end >= 4 {
        &words[..sentence_end]
    } else {
        &words[..]
    };
    let chosen: Vec<&str> = chosen.iter().take(60).copied().collect();
    let summary = chosen.join(" ");
    let lower = summary.to_lowercase();
    if chosen.len() < 3 || SKIP_DOCS.iter().any(|s| lower.starts_with(s)) {
        return None;
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_docstring_and_rust_doc_comment() {
        let py = "def retry(f, n):\n    \"\"\"Call f until it succeeds.\n\n    Args: ...\n    \"\"\"\n    for _ in range(n):\n        try:\n            return f()\n        except Exception:\n            pass\n";
        let (doc, code) = split_doc(py, "python").unwrap();
        assert_eq!(doc, "Call f until it succeeds.");
        assert!(!code.contains("succeeds") && code.contains("range(n)"));
        let rs = "/// Parses a number\n/// from a string.\n#[inline]\npub fn parse(s: &str) -> u32 {\n    s.trim()\n        .parse()\n        .unwrap()\n}\n";
        let (doc, code) = split_doc(rs, "rust").unwrap();
        assert_eq!(doc, "Parses a number from a string.");
        assert!(code.starts_with("#[inline]"));
    }
}
