//! How the chunker cuts a tree, per language: files, chunks, the share of chunks that are
//! definitions and that carry a name, and lines per chunk. Shows what a grammar buys over
//! paragraph windows.
//!   cargo run --release -p scry-core --example chunk_stats -- DIR [--text]
//! `--text` cuts every file as its grammar-less fallback would (paragraphs and windows).

use std::collections::BTreeMap;
use std::path::Path;

use scry_core::chunk::chunk;
use scry_core::lang::{self, Language};

#[derive(Default)]
struct Tally {
    files: usize,
    chunks: usize,
    definitions: usize,
    named: usize,
    lines: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root) = args.first() else {
        return Err("usage: chunk_stats DIR [--text]".into());
    };
    let as_text = args.iter().any(|a| a == "--text");
    let text = lang::by_name("text").ok_or("no text language")?;
    let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    for entry in ignore::WalkBuilder::new(root).build() {
        let entry = entry?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(src) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Some(language) = detect(entry.path(), &src) else {
            continue;
        };
        let cut_as: &'static Language = if as_text { text } else { language };
        let tally = tallies.entry(language.name).or_default();
        tally.files += 1;
        for c in chunk(&src, cut_as) {
            tally.chunks += 1;
            tally.definitions += usize::from(c.kind.is_definition());
            tally.named += usize::from(c.symbol.is_some());
            tally.lines += (c.end_line - c.start_line + 1) as usize;
        }
    }
    println!("language      files   chunks  definitions  named  lines/chunk");
    for (name, t) in tallies {
        let share = |n: usize| 100.0 * n as f64 / t.chunks.max(1) as f64;
        println!(
            "{name:<12} {:>6} {:>8} {:>11.1}% {:>5.1}% {:>12.1}",
            t.files,
            t.chunks,
            share(t.definitions),
            share(t.named),
            t.lines as f64 / t.chunks.max(1) as f64
        );
    }
    Ok(())
}

fn detect(path: &Path, src: &str) -> Option<&'static Language> {
    lang::detect(path, src.lines().next())
}
