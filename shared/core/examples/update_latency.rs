//! In-process latency from a file written to disk to a searcher that finds it, as the language
//! server's worker does it: `update_paths` for the one file, then the searcher's `changes` and
//! `apply`. Each round appends a unique identifier to a file of the workspace (restored after),
//! and prints the median of each step.
//!   cargo run --release -p scry-core --example update_latency -- WORKSPACE FILE... [ROUNDS]
//! The workspace must already be indexed with the built-in model (`scry index WORKSPACE`).

use std::path::PathBuf;
use std::time::Instant;

use scry_core::{Filter, Index, StaticModel, default_db_path};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, files @ ..] = args.as_slice() else {
        return Err("usage: update_latency WORKSPACE FILE... [ROUNDS]".into());
    };
    let (files, rounds) = match files.last().and_then(|r| r.parse::<usize>().ok()) {
        Some(n) => (&files[..files.len() - 1], n),
        None => (files, 10),
    };
    if files.is_empty() {
        return Err("name at least one file of the workspace to edit".into());
    }
    let root = std::path::Path::new(root).canonicalize()?;
    let embedder = StaticModel::builtin()?;
    let mut index = Index::open(&root, &default_db_path(&root))?;
    let mut searcher = index.searcher(Some(std::sync::Arc::new(embedder)))?;
    let mut steps: [Vec<f64>; 4] = Default::default();
    for round in 0..rounds {
        let path: PathBuf = root.join(&files[round % files.len()]);
        let original = std::fs::read(&path)?;
        let marker = format!("scrylatencyprobe{round}x");
        let mut edited = original.clone();
        edited.extend_from_slice(format!("\n/* {marker} */\n").as_bytes());
        std::fs::write(&path, &edited)?;
        let t = Instant::now();
        index.update_paths(std::slice::from_ref(&path), Some(embedder), &mut |_| {})?;
        let updated = t.elapsed();
        let changes = index.changes(&searcher)?;
        let read = t.elapsed();
        searcher.apply(changes)?;
        let applied = t.elapsed();
        let found = searcher
            .search(&marker, 1, &Filter::default())?
            .first()
            .is_some_and(|hit| hit.text.contains(&marker));
        let searchable = t.elapsed();
        std::fs::write(&path, &original)?;
        index.update_paths(std::slice::from_ref(&path), Some(embedder), &mut |_| {})?;
        searcher.apply(index.changes(&searcher)?)?;
        if !found {
            return Err(format!("round {round}: the edit was not found").into());
        }
        for (step, d) in steps
            .iter_mut()
            .zip([updated, read - updated, applied - read, searchable])
        {
            step.push(d.as_secs_f64() * 1e3);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [update, changes, apply, total] = &mut steps;
    println!(
        "{rounds} edits, medians: update {:.1} ms, changes {:.1} ms, apply {:.1} ms; written → searchable {:.1} ms",
        median(update),
        median(changes),
        median(apply),
        median(total),
    );
    Ok(())
}
