//! The live index through its real watcher: random bursts of file changes, faster than it
//! coalesces them, end in a searcher that answers like one over a fresh index of the tree.
//! (The only test of this binary: it sets `SCRY_INDEX_DIR` before any thread reads it.)

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use scry_core::live::{Event, Settings, State, Workspace};
use scry_core::{Filter, Hit, Index};

const FILES: &[&str] = &["a.py", "b.py", "src/c.js", "src/d/e.go", "notes.md"];
/// `N` becomes a number unique to each write: searches show one of several identical chunks
/// (which one depends on ids), so no two files may hold the same one.
const TEXTS: &[&str] = &[
    "def retry_upload(path):\n    return send(path, N)\n",
    "def parse_config(text):\n    return load(text, N)\n",
    "function renderPage(page) {\n  return page.title + N;\n}\n",
    "func WalkTree(root string) error {\n\treturn N\n}\n",
    "# Retry notes\n\nUploads are retried N times.\n",
    "",
];
const QUERIES: &[&str] = &[
    "retry upload",
    "parse config",
    "render page",
    "walk tree",
    "notes",
];

#[derive(Clone, Debug)]
enum Op {
    Write(usize, usize),
    Delete(usize),
    Rename(usize, usize),
    /// A pause longer than a burst's quiet time.
    Pause,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..FILES.len(), 0..TEXTS.len()).prop_map(|(f, t)| Op::Write(f, t)),
        1 => (0..FILES.len()).prop_map(Op::Delete),
        1 => (0..FILES.len(), 0..FILES.len()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => Just(Op::Pause),
    ]
}

fn apply(root: &Path, op: &Op) {
    let path = |i: usize| root.join(FILES[i]);
    match *op {
        Op::Write(f, t) => {
            std::fs::create_dir_all(path(f).parent().unwrap()).unwrap();
            static WRITES: AtomicUsize = AtomicUsize::new(0);
            let n = WRITES.fetch_add(1, Ordering::Relaxed);
            std::fs::write(path(f), TEXTS[t].replace('N', &n.to_string())).unwrap();
        }
        Op::Delete(f) => {
            let _ = std::fs::remove_file(path(f));
        }
        Op::Rename(a, b) => {
            std::fs::create_dir_all(path(b).parent().unwrap()).unwrap();
            let _ = std::fs::rename(path(a), path(b));
        }
        Op::Pause => std::thread::sleep(Duration::from_millis(30)),
    }
}

/// Waits until the workspace is ready and has said nothing for `quiet`.
fn settle(events: &Receiver<Event>, ws: &Workspace, quiet: Duration) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "never settled: {:?}",
            ws.status()
        );
        match events.recv_timeout(quiet) {
            Ok(Event::Warning(w)) => panic!("warning: {w}"),
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) if ws.status().state == State::Ready => return,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => panic!("the worker stopped"),
        }
    }
}

/// What searches return, as (path, first line, symbol), per query.
fn answers(search: impl Fn(&str) -> Vec<Hit>) -> Vec<Vec<(String, u32, Option<String>)>> {
    QUERIES
        .iter()
        .map(|q| {
            let mut hits: Vec<_> = search(q)
                .into_iter()
                .map(|h| (h.path, h.start_line, h.symbol))
                .collect();
            hits.sort();
            hits
        })
        .collect()
}

#[test]
fn bursts_through_the_watcher_end_where_a_fresh_index_starts() {
    let indexes = tempfile::tempdir().unwrap();
    // SAFETY: the only test of this binary, before any thread of it starts.
    unsafe { std::env::set_var("SCRY_INDEX_DIR", indexes.path()) };
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in proptest::collection::vec(op(), 1..40))| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a.py"), TEXTS[0]).unwrap();
        let (tx, events) = std::sync::mpsc::channel();
        let settings = Settings { model: Some("none".into()), exclude: Vec::new() };
        let ws = Workspace::start(&root, settings, move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
        settle(&events, &ws, Duration::from_millis(300));
        for op in &ops {
            apply(&root, op);
        }
        settle(&events, &ws, Duration::from_millis(500));

        let all = Filter::default();
        let live = answers(|q| ws.with_searcher(|s| s.search(q, 50, &all).unwrap()).unwrap());
        let mut fresh = Index::open(&root, &indexes.path().join("fresh.redb")).unwrap();
        fresh.update(None, &mut |_| {}).unwrap();
        let searcher = fresh.searcher(None).unwrap();
        let expected = answers(|q| searcher.search(q, 50, &all).unwrap());
        prop_assert_eq!(live, expected, "after {:?}", ops);
        let (status, fresh_status) = (ws.status(), fresh.status().unwrap());
        prop_assert_eq!((status.files, status.chunks), (fresh_status.files, fresh_status.chunks));
        drop(searcher);
        drop(fresh);
        std::fs::remove_file(indexes.path().join("fresh.redb")).unwrap();
    });
}
