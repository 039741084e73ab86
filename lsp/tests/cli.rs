//! The `scry` binary end to end, on fixture workspaces in temporary directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

struct Workspace {
    dir: tempfile::TempDir,
    index_dir: tempfile::TempDir,
}

impl Workspace {
    fn new(files: &[(&str, &str)]) -> Self {
        let ws = Workspace {
            dir: tempfile::tempdir().unwrap(),
            index_dir: tempfile::tempdir().unwrap(),
        };
        for (path, text) in files {
            ws.write(path, text);
        }
        ws
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.root().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn scry(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scry"));
        cmd.env("SCRY_INDEX_DIR", self.index_dir.path())
            .env_remove("SCRY_MODEL")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs scry with `args`, panicking with its stderr if it fails.
    fn run_ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.scry().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "scry {args:?} failed: {stderr}");
        out
    }

    /// Runs scry with `args`; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        String::from_utf8(self.run_ok(args).stdout).unwrap()
    }

    /// Runs scry with `args`, expecting failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.scry().args(args).output().unwrap();
        assert!(
            !out.status.success(),
            "scry {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn path_arg(&self) -> String {
        self.root().to_str().unwrap().to_string()
    }

    fn search(&self, query: &str, extra: &[&str]) -> Vec<Value> {
        let root = self.path_arg();
        let mut args = vec!["search", "--json", "--path", &root, "--limit", "5"];
        args.extend_from_slice(extra);
        args.push(query);
        let out = self.ok(&args);
        let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(line["query"], query);
        line["results"].as_array().unwrap().clone()
    }

    /// Runs `scry index` on the workspace; returns its summary (stderr).
    fn index_summary(&self) -> String {
        String::from_utf8(self.run_ok(&["index", &self.path_arg()]).stderr).unwrap()
    }
}

const UPLOAD_PY: &str = r#"import time


def retry_upload(client, blob, attempts=3):
    for attempt in range(attempts):
        try:
            return client.put(blob)
        except IOError:
            time.sleep(2 ** attempt)
    raise RuntimeError("upload failed after retries")


def checksum(data):
    total = 0
    for byte in data:
        total = (total * 31 + byte) % 65521
    return total
"#;

const CONFIG_RS: &str = r#"use std::collections::HashMap;

/// Settings read from a `key = value` file.
pub struct Config {
    values: HashMap<String, String>,
}

/// Parses configuration text into a map of keys to values.
pub fn parse_config(text: &str) -> Config {
    let mut values = HashMap::new();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once('=') {
            values.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    Config { values }
}
"#;

const APP_TS: &str = r#"export function debounce(fn: () => void, waitMs: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, waitMs);
  };
}

export class ShoppingCart {
  private items: string[] = [];
  addItem(name: string): void {
    this.items.push(name);
  }
}
"#;

const AREA_GO: &str = r#"package geometry

// Area of a circle of radius r.
func CircleArea(r float64) float64 {
	return 3.14159 * r * r
}
"#;

fn fixture() -> Workspace {
    Workspace::new(&[
        ("src/upload.py", UPLOAD_PY),
        ("src/config.rs", CONFIG_RS),
        ("web/app.ts", APP_TS),
        ("geo/area.go", AREA_GO),
        ("README.md", "# Fixture\n\nA workspace for tests.\n"),
        ("node_modules/dep/index.js", "function retryUpload() {}\n"),
        ("Cargo.lock", "# lock file\n"),
    ])
}

fn top(results: &[Value]) -> (String, String) {
    let first = results.first().expect("no results");
    (
        first["path"].as_str().unwrap().to_string(),
        first["symbol"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn search_finds_the_right_function_in_a_fresh_checkout() {
    let ws = fixture();
    // One command: search brings the index up to date first.
    let results = ws.search("retry a failed upload", &[]);
    assert_eq!(
        top(&results),
        ("src/upload.py".into(), "retry_upload".into())
    );
    let hit = &results[0];
    assert_eq!(
        (hit["start_line"].as_u64(), hit["end_line"].as_u64()),
        (Some(4), Some(10))
    );
    assert_eq!(hit["language"], "python");
    assert!(hit["score"].as_f64().unwrap() > 0.0);
    assert!(
        hit["snippet"]
            .as_str()
            .unwrap()
            .starts_with("def retry_upload")
    );
    // Vendored code and lock files stay out.
    assert!(
        results
            .iter()
            .all(|r| !r["path"].as_str().unwrap().starts_with("node_modules"))
    );

    assert_eq!(
        top(&ws.search("parse configuration text", &[])),
        ("src/config.rs".into(), "parse_config".into())
    );
    assert_eq!(
        top(&ws.search("CircleArea", &[])),
        ("geo/area.go".into(), "CircleArea".into())
    );
    // A small class stays one chunk: the method's name finds it.
    let results = ws.search("addItem", &[]);
    assert_eq!(top(&results), ("web/app.ts".into(), "ShoppingCart".into()));
    assert!(
        results[0]["start_line"].as_u64() <= Some(11)
            && results[0]["end_line"].as_u64() >= Some(13)
    );
}

#[test]
fn results_are_one_per_file_with_its_other_matches_unless_chunks_are_asked_for() {
    let ws = fixture();
    let query = "upload checksum";
    let paths = |results: &[Value]| -> Vec<String> {
        (results.iter())
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect()
    };
    let chunks = ws.search(query, &["--chunks"]);
    let in_upload = |rs: &[Value]| paths(rs).iter().filter(|p| *p == "src/upload.py").count();
    assert!(in_upload(&chunks) >= 2, "{:?}", paths(&chunks));
    assert!(chunks.iter().all(|r| r.get("more").is_none()));

    let files = ws.search(query, &[]);
    assert_eq!(in_upload(&files), 1, "{:?}", paths(&files));
    let upload = files.iter().find(|r| r["path"] == "src/upload.py").unwrap();
    let more = upload["more"].as_array().expect("its other matches");
    let places: Vec<(u64, u64)> = (more.iter().chain([upload]))
        .map(|m| {
            (
                m["start_line"].as_u64().unwrap(),
                m["end_line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        places.contains(&(4, 10)) && places.contains(&(13, 17)),
        "{places:?}"
    );
    assert!(
        more.iter()
            .all(|m| m["score"].as_f64() <= upload["score"].as_f64())
    );

    // People see the other matches under the file.
    let text = ws.ok(&["search", "--path", &ws.path_arg(), query]);
    assert!(text.contains("also: "), "{text}");
}

#[test]
fn filters_by_language_and_glob() {
    let ws = fixture();
    let results = ws.search("config", &["--lang", "rust"]);
    assert!(!results.is_empty() && results.iter().all(|r| r["language"] == "rust"));
    let results = ws.search("debounce", &["--glob", "web/**"]);
    assert!(
        !results.is_empty()
            && results
                .iter()
                .all(|r| r["path"].as_str().unwrap().starts_with("web/"))
    );
    assert!(
        ws.search("debounce", &["--lang", "go"])
            .iter()
            .all(|r| r["language"] == "go")
    );
    let err = ws.fails(&["search", "--path", &ws.path_arg(), "--lang", "cobol", "x"]);
    assert!(
        err.contains("unknown language `cobol`") && err.contains("python"),
        "{err}"
    );
    let err = ws.fails(&["search", "--path", &ws.path_arg(), "--glob", "a[", "x"]);
    assert!(err.contains("invalid glob"), "{err}");
}

#[test]
fn queries_file_answers_in_input_order() {
    let ws = fixture();
    let queries = ws.index_dir.path().join("queries.txt");
    fs::write(
        &queries,
        "circle area\n\nretry upload\ndebounce a callback\n",
    )
    .unwrap();
    let out = ws.ok(&[
        "search",
        "--json",
        "--limit",
        "3",
        "--path",
        &ws.path_arg(),
        "--queries",
        queries.to_str().unwrap(),
    ]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let asked: Vec<&str> = lines.iter().map(|l| l["query"].as_str().unwrap()).collect();
    assert_eq!(
        asked,
        ["circle area", "retry upload", "debounce a callback"]
    );
    assert!(
        lines
            .iter()
            .all(|l| l["results"].as_array().unwrap().len() <= 3)
    );
}

#[test]
fn incremental_index_follows_edits_renames_and_deletes() {
    let ws = fixture();
    let first = ws.index_summary();
    assert!(first.contains("5 changed"), "{first}");
    let again = ws.index_summary();
    assert!(again.contains("0 changed, 0 deleted"), "{again}");

    // Edit: new code becomes searchable, and only that file is re-read.
    ws.write("src/upload.py", &format!("{UPLOAD_PY}\n\ndef rotate_logs(directory, keep=5):\n    return sorted(directory)[-keep:]\n"));
    let edit = ws.index_summary();
    assert!(edit.contains("1 changed, 0 deleted"), "{edit}");
    assert_eq!(
        top(&ws.search("rotate_logs", &[])),
        ("src/upload.py".into(), "rotate_logs".into())
    );

    // Rename: the new path answers, the old one is gone.
    fs::rename(
        ws.root().join("geo/area.go"),
        ws.root().join("geo/circle.go"),
    )
    .unwrap();
    let renamed = ws.index_summary();
    assert!(renamed.contains("1 changed, 1 deleted"), "{renamed}");
    assert_eq!(top(&ws.search("CircleArea", &[])).0, "geo/circle.go");

    // Delete: its chunks vanish.
    fs::remove_file(ws.root().join("web/app.ts")).unwrap();
    ws.index_summary();
    assert!(
        ws.search("debounce", &[])
            .iter()
            .all(|r| r["path"] != "web/app.ts")
    );
    assert!(
        ws.search("ShoppingCart", &[])
            .iter()
            .all(|r| r["symbol"] != "ShoppingCart")
    );

    // A touch without a change re-reads the file but writes no chunks.
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    let file = fs::File::options()
        .write(true)
        .open(ws.root().join("src/config.rs"))
        .unwrap();
    file.set_modified(later).unwrap();
    let touched = ws.index_summary();
    assert!(touched.contains("0 chunks written"), "{touched}");

    let status = ws.ok(&["status", "--check", "--path", &ws.path_arg()]);
    assert!(status.contains("check:     consistent"), "{status}");
}

#[test]
fn similar_finds_the_renamed_clone() {
    let clone = r#"def weighted_sum(rows):
    acc = 0
    for r in rows:
        acc = (acc * 31 + r) % 65521
    return acc
"#;
    let ws = Workspace::new(&[
        ("src/upload.py", UPLOAD_PY),
        ("src/config.rs", CONFIG_RS),
        ("lib/other.py", clone),
        ("web/app.ts", APP_TS),
    ]);
    let out = ws.ok(&[
        "similar",
        "--json",
        "--path",
        &ws.path_arg(),
        "src/upload.py:13-17",
    ]);
    let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let results = line["results"].as_array().unwrap();
    assert_eq!(top(results), ("lib/other.py".into(), "weighted_sum".into()));
    // The span itself is never its own best match.
    assert!(
        results
            .iter()
            .all(|r| !(r["path"] == "src/upload.py" && r["start_line"] == 13))
    );

    let err = ws.fails(&["similar", "--path", &ws.path_arg(), "src/upload.py:10-999"]);
    assert!(
        err.contains("not a span of the file") && err.contains("17 lines"),
        "{err}"
    );
    let err = ws.fails(&["similar", "--path", &ws.path_arg(), "src/upload.py"]);
    assert!(err.contains("FILE:START-END"), "{err}");
    let err = ws.fails(&["similar", "--path", &ws.path_arg(), "src/missing.py:1-2"]);
    assert!(err.contains("src/missing.py"), "{err}");
    // A file past the index's size limit is refused as indexing refuses it, not read whole.
    ws.write("data/huge.py", &"x = 1\n".repeat(400_000));
    let err = ws.fails(&["similar", "--path", &ws.path_arg(), "data/huge.py:1-2"]);
    assert!(
        err.contains("data/huge.py is not indexed: over 1 MiB"),
        "{err}"
    );
}

#[test]
fn file_names_and_code_reach_the_terminal_escaped() {
    // A name with a newline and a screen-clearing sequence, code that writes the clipboard
    // (OSC 52), rings the bell and overwrites its line: shown, never obeyed, even through a pipe.
    let ws = Workspace::new(&[(
        "src/evil\n\u{1b}[2Jname.py",
        "def exfiltrate_clipboard():\n    banner = \"\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J\r\"\n    return banner\n",
    )]);
    let out = ws.ok(&[
        "search",
        "--path",
        &ws.path_arg(),
        "exfiltrate clipboard banner",
    ]);
    assert!(out.contains("exfiltrate_clipboard"), "{out}");
    assert!(
        !out.contains(['\u{1b}', '\u{7}', '\r']),
        "raw control characters reached stdout: {out:?}"
    );
    assert!(out.contains("src/evil\\u{a}\\u{1b}[2Jname.py"), "{out}");
    assert!(out.contains("\\u{1b}]52;c;ZXZpbA==\\u{7}"), "{out}");
    // JSON keeps the text exact (escaped by JSON itself).
    let hits = ws.search("exfiltrate clipboard banner", &[]);
    assert_eq!(hits[0]["path"], "src/evil\n\u{1b}[2Jname.py");
}

#[test]
fn bad_input_gets_one_clear_line() {
    let ws = fixture();
    let mut errors = Vec::new();
    let err = ws.fails(&["search", "--path", "/definitely/not/here", "x"]);
    assert!(
        err.contains("/definitely/not/here") && err.contains("does not exist"),
        "{err}"
    );
    errors.push(err);
    let err = ws.fails(&["search", "--path", &ws.path_arg(), "   "]);
    assert!(err.contains("query is empty"), "{err}");
    errors.push(err);

    let empty_model = tempfile::tempdir().unwrap();
    let model_arg = empty_model.path().to_str().unwrap();
    let with_model = || {
        ws.fails(&[
            "search",
            "--path",
            &ws.path_arg(),
            "--model",
            model_arg,
            "x",
        ])
    };
    let err = with_model();
    assert!(err.contains("config.json is missing"), "{err}");
    errors.push(err);
    fs::write(empty_model.path().join("config.json"), "{not json").unwrap();
    fs::write(empty_model.path().join("tokenizer.json"), "{}").unwrap();
    fs::write(empty_model.path().join("model.safetensors"), "nope").unwrap();
    let err = with_model();
    assert!(err.contains("config.json is not a BERT config"), "{err}");
    errors.push(err);

    // A model file that is not a Scry static model, one that claims an absurd vocabulary, and
    // a path that does not exist.
    let model_file = empty_model.path().join("model.bin");
    let mut absurd = b"SCRYSTM1".to_vec();
    for field in [256u32, u32::MAX, 1] {
        absurd.extend_from_slice(&field.to_le_bytes());
    }
    for (bytes, expected) in [
        (&b"PK\x03\x04 not a model"[..], "not a Scry static model"),
        (&absurd[..], "implausible"),
    ] {
        fs::write(&model_file, bytes).unwrap();
        let err = ws.fails(&[
            "search",
            "--path",
            &ws.path_arg(),
            "--model",
            model_file.to_str().unwrap(),
            "x",
        ]);
        assert!(err.contains(expected) && err.contains("model.bin"), "{err}");
        errors.push(err);
    }
    let err = ws.fails(&[
        "search",
        "--path",
        &ws.path_arg(),
        "--model",
        "no-such-model",
        "x",
    ]);
    assert!(
        err.contains("no-such-model") && err.contains("does not exist") && err.contains("builtin"),
        "{err}"
    );
    errors.push(err);

    ws.write(".scry.toml", "modle = 'typo'\n");
    let err = ws.fails(&["search", "--path", &ws.path_arg(), "x"]);
    assert!(
        err.contains(".scry.toml is not a valid Scry config"),
        "{err}"
    );
    errors.push(err);
    fs::remove_file(ws.root().join(".scry.toml")).unwrap();

    for err in errors {
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: "), "{err}");
    }
}

#[test]
fn corrupt_index_is_reported_then_rebuilt() {
    let ws = fixture();
    ws.index_summary();
    let db = find_db(ws.index_dir.path());
    let len = fs::metadata(&db).unwrap().len();
    // Scribble over the file's header: redb can no longer read it.
    let mut bytes = fs::read(&db).unwrap();
    for b in bytes.iter_mut().take(4096) {
        *b = 0x5a;
    }
    fs::write(&db, &bytes).unwrap();
    assert_eq!(fs::metadata(&db).unwrap().len(), len);
    let err = ws.fails(&["search", "--path", &ws.path_arg(), "retry"]);
    assert!(
        err.contains("corrupt or not a Scry index") && err.contains("scry index --rebuild"),
        "{err}"
    );
    ws.run_ok(&["index", "--rebuild", &ws.path_arg()]);
    assert_eq!(
        top(&ws.search("retry a failed upload", &[])).1,
        "retry_upload"
    );
}

#[test]
fn every_kind_of_damage_gets_the_same_error_and_no_results() {
    let ws = fixture();
    ws.index_summary();
    let db = find_db(ws.index_dir.path());
    let good = fs::read(&db).unwrap();
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 3] = [
        // Every page's type byte: redb panics on the first page it reads.
        ("pages", |b| {
            for i in 1..b.len() / 4096 {
                b[i * 4096] = 0xa7;
            }
        }),
        ("truncated", |b| b.truncate(100)),
        ("empty", |b| b.clear()),
    ];
    for (what, damage) in damages {
        let mut bytes = good.clone();
        damage(&mut bytes);
        fs::write(&db, &bytes).unwrap();
        // Damage found later: an empty file is only being created for a moment.
        let a_minute_ago = std::time::SystemTime::now() - Duration::from_secs(60);
        let file = fs::File::options().write(true).open(&db).unwrap();
        file.set_modified(a_minute_ago).unwrap();
        for args in [
            vec!["status", "--check", "--path", &ws.path_arg()],
            vec!["search", "--path", &ws.path_arg(), "retry"],
            vec!["similar", "--path", &ws.path_arg(), "src/upload.py:4-9"],
        ] {
            let out = ws.scry().args(&args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{what}: {args:?}: {stderr}");
            let lines: Vec<&str> = stderr.lines().collect();
            let last = lines.last().copied().unwrap_or("");
            assert!(
                last.starts_with("error: index ")
                    && last.contains("is corrupt or not a Scry index")
                    && last.ends_with("run `scry index --rebuild` to recreate it"),
                "{what}: {args:?}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            if args[0] != "status" {
                assert!(
                    out.stdout.is_empty(),
                    "{what}: results served from a damaged index"
                );
            }
        }
    }
    ws.run_ok(&["index", "--rebuild", &ws.path_arg()]);
    assert_eq!(
        top(&ws.search("retry a failed upload", &[])).1,
        "retry_upload"
    );
}

fn find_db(dir: &Path) -> PathBuf {
    for entry in fs::read_dir(dir).unwrap() {
        let db = entry.unwrap().path().join("index.redb");
        if db.is_file() {
            return db;
        }
    }
    panic!("no index under {}", dir.display());
}

#[test]
fn binary_huge_and_odd_files_are_skipped_not_fatal() {
    let ws = fixture();
    ws.write("data/blob.py", "x = 1\n\0\0\0binary");
    ws.write("data/huge.py", &"# filler line\n".repeat(100_000));
    fs::write(
        ws.root().join("data/latin1.py"),
        b"# caf\xe9\ndef f():\n    pass\n",
    )
    .unwrap();
    ws.write("data/min.js", &format!("var a={};\n", "1+".repeat(5000)));
    #[cfg(unix)]
    std::os::unix::fs::symlink(ws.root().join("data"), ws.root().join("data/loop")).unwrap();
    let summary = ws.index_summary();
    for expected in ["1 binary", "1 over 1 MiB", "1 not UTF-8", "1 minified"] {
        assert!(summary.contains(expected), "{expected} in {summary}");
    }
    assert_eq!(top(&ws.search("retry upload", &[])).1, "retry_upload");
}

#[test]
fn kill_nine_at_any_moment_leaves_an_index_the_next_run_completes() {
    let ws = Workspace::new(&[]);
    for i in 0..1500 {
        ws.write(
            &format!("pkg{}/mod{i}.py", i % 20),
            &format!("def handler_{i}(request):\n    return request.get('item_{i}')\n\n\nclass Model{i}:\n    def save(self):\n        return {i}\n"),
        );
    }
    // Kill the indexer (SIGKILL) at different points of its run; each run resumes the last.
    // How long a run takes depends on the machine, so the delay adapts until three kills
    // have landed mid-run: longer when nothing was committed yet, shorter (on a fresh
    // index) when the run had already finished.
    let mut partial_states = 0;
    let mut delay_ms = 40.0_f64;
    for _ in 0..40 {
        let mut child = ws
            .scry()
            .args(["index", &ws.path_arg()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs_f64(delay_ms / 1000.0));
        child.kill().unwrap();
        child.wait().unwrap();
        let status = ws.ok(&["status", "--check", "--path", &ws.path_arg()]);
        assert!(
            status.contains("check:     consistent"),
            "after kill at {delay_ms:.0} ms: {status}"
        );
        let files: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("files:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        match files {
            0 => delay_ms *= 1.5,
            1500 => {
                fs::remove_dir_all(ws.index_dir.path()).unwrap();
                fs::create_dir(ws.index_dir.path()).unwrap();
                delay_ms *= 0.7;
            }
            _ => partial_states += 1,
        }
        if partial_states == 3 {
            break;
        }
    }
    // At least one kill landed mid-run, or the test proved nothing.
    assert!(
        partial_states > 0,
        "no kill interrupted the indexer mid-run"
    );
    let finish = ws.index_summary();
    assert!(
        finish.contains("index: 1500 files, 3000 chunks"),
        "{finish}"
    );
    let results = ws.search("handler_777", &[]);
    assert_eq!(
        top(&results),
        ("pkg17/mod777.py".into(), "handler_777".into())
    );
    // The same as an index built without interruption.
    let fresh = Workspace {
        dir: tempfile::tempdir().unwrap(),
        index_dir: tempfile::tempdir().unwrap(),
    };
    let fresh_status = Command::new(env!("CARGO_BIN_EXE_scry"))
        .env("SCRY_INDEX_DIR", fresh.index_dir.path())
        .args(["index", &ws.path_arg()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&fresh_status.stderr).contains("index: 1500 files, 3000 chunks")
    );
}

#[test]
fn status_says_where_and_what() {
    let ws = fixture();
    ws.index_summary();
    let status = ws.ok(&["status", "--path", &ws.path_arg()]);
    assert!(
        status.contains(ws.index_dir.path().to_str().unwrap()),
        "{status}"
    );
    assert!(status.contains("files:     5"), "{status}");
    assert!(status.contains("project:   not a Git checkout"), "{status}");
    // The built-in model is the default, and says so.
    assert!(
        status.contains("model:     static:scry-code@") && status.contains("(built-in)"),
        "{status}"
    );
    ws.ok(&["index", "--model", "none", "--rebuild", &ws.path_arg()]);
    let status = ws.ok(&["status", "--path", &ws.path_arg()]);
    assert!(status.contains("model:     none"), "{status}");
}

#[test]
fn two_processes_indexing_one_workspace_at_once_agree() {
    let ws = Workspace::new(&[]);
    for i in 0..600 {
        ws.write(
            &format!("src/m{i}.py"),
            &format!("def task_{i}(queue):\n    return queue.pop({i})\n"),
        );
    }
    let spawn = || {
        ws.scry()
            .args(["index", &ws.path_arg()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = ws.ok(&["status", "--check", "--path", &ws.path_arg()]);
    assert!(status.contains("files:     600"), "{status}");
    assert!(status.contains("chunks:    600"), "{status}");
    assert!(status.contains("check:     consistent"), "{status}");
    assert_eq!(
        top(&ws.search("task_321", &[])),
        ("src/m321.py".into(), "task_321".into())
    );
}

#[test]
fn watch_reports_each_change_as_it_lands() {
    let ws = Workspace::new(&[("a.py", "def retry_upload(x):\n    return x\n")]);
    let mut child = ws
        .scry()
        .args([
            "watch",
            "--json",
            "--exclude",
            "generated/**",
            &ws.path_arg(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let event: Value = serde_json::from_str(&line.unwrap()).expect("a JSON line");
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    // Waits for a `ready` status with `files` files (bursts may land in several updates).
    let ready_with = |files: u64| loop {
        let event = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no ready status with {files} files"));
        if event["event"] == "status" && event["state"] == "ready" && event["files"] == files {
            assert!(event["model"].as_str().unwrap().starts_with("static:"));
            return event;
        }
    };

    let first = ready_with(1);
    assert_eq!(
        Path::new(first["root"].as_str().unwrap()),
        ws.root().canonicalize().unwrap()
    );
    ws.write("b.py", "def parse_config(path):\n    return path\n");
    ready_with(2);
    // A removal is seen; excluded files are not counted (3 files would never be `2`).
    ws.write("generated/api.py", "def generated():\n    pass\n");
    fs::remove_file(ws.root().join("a.py")).unwrap();
    ready_with(1);
    ws.write("c.py", "def render_page(page):\n    return page\n");
    ready_with(2);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(ws.search("parse config", &[])[0]["path"], "b.py");
}
