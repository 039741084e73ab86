//! In-process search latency on an indexed workspace: one searcher, every query once to warm
//! up, then each timed, as a chunk list and by file (the default of the shells); prints the
//! percentiles.
//!   cargo run --release -p scry-core --example search_latency -- WORKSPACE QUERIES_FILE [none]
//! The workspace must already be indexed (`scry index WORKSPACE`) with the same model: the
//! built-in one, or none with a third argument `none`.

use std::time::Instant;

use scry_core::{Embedder, Filter, Index, StaticModel, default_db_path};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, queries, rest @ ..] = args.as_slice() else {
        return Err("usage: search_latency WORKSPACE QUERIES_FILE [none]".into());
    };
    let root = std::path::Path::new(root).canonicalize()?;
    let embedder: Option<std::sync::Arc<dyn Embedder>> = match rest.first().map(String::as_str) {
        Some("none") => None,
        _ => Some(std::sync::Arc::new(StaticModel::builtin()?)),
    };
    let queries: Vec<String> = std::fs::read_to_string(queries)?
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["query"].as_str().map(String::from))
                .unwrap_or_else(|| l.to_string())
        })
        .filter(|q| !q.trim().is_empty())
        .collect();
    let index = Index::open(&root, &default_db_path(&root))?;
    let started = Instant::now();
    let searcher = index.searcher(embedder)?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let filter = Filter::default();
    for q in &queries {
        searcher.search(q, 10, &filter)?;
        searcher.search_files(q, 10, &filter)?;
    }
    let mut times: Vec<f64> = Vec::with_capacity(queries.len());
    let mut file_times: Vec<f64> = Vec::with_capacity(queries.len());
    for q in &queries {
        let t = Instant::now();
        searcher.search(q, 10, &filter)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        searcher.search_files(q, 10, &filter)?;
        file_times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    file_times.sort_by(f64::total_cmp);
    let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
    let recall = searcher.vector_recall(&refs, 10)?;
    let at = |times: &[f64], p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let pct = |p: f64| at(&times, p);
    println!(
        "by file: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        at(&file_times, 0.5),
        at(&file_times, 0.95),
        at(&file_times, 0.99)
    );
    println!(
        "chunks, {} queries: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (searcher opened in {open_ms:.0} ms; {} chunks, vectors {})",
        times.len(),
        pct(0.5),
        pct(0.95),
        pct(0.99),
        times[times.len() - 1],
        searcher.len(),
        match (searcher.is_hybrid(), searcher.has_ivf()) {
            (false, _) => "none",
            (true, false) => "scanned",
            (true, true) => "through the inverted file",
        }
    );
    if let Some(recall) = recall {
        println!("vector recall@10 against an exact scan of the stored vectors: {recall:.3}");
    }
    Ok(())
}
