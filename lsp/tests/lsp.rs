//! `scry lsp` as a black box: the real binary over stdio, speaking JSON-RPC with
//! Content-Length framing, on fixture workspaces in temporary directories.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::fixture;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A language server process and what it sent that nobody has read yet.
struct Server {
    child: Child,
    /// `None` once closed, as when the editor dies.
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    /// Notifications (and server requests) seen while waiting for something else.
    seen: VecDeque<Value>,
    /// Every server → client message, for assertions after the fact.
    log: Vec<Value>,
    next_id: i64,
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl Server {
    fn start(root: &Path, index_dir: &Path, options: Value) -> Server {
        let mut server = Server::spawn(index_dir);
        let init = server.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(root),
                "workspaceFolders": [{"uri": uri(root), "name": "ws"}],
                "initializationOptions": options,
                "capabilities": {
                    "window": {"workDoneProgress": true, "showDocument": {"support": true}},
                    "workspace": {"workspaceFolders": true, "symbol": {}},
                },
            }),
        );
        let init = init.expect("initialize succeeds");
        assert_eq!(init["serverInfo"]["name"], "scry");
        assert_eq!(
            init["capabilities"]["experimental"]["scry"]["search"],
            "scry/search"
        );
        server.notify("initialized", json!({}));
        server
    }

    fn spawn(index_dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scry"))
            .arg("lsp")
            .env("SCRY_INDEX_DIR", index_dir)
            .env("SCRY_LOG", "scry=debug,scry_core=info")
            .env_remove("SCRY_MODEL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        length = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("every message has a Content-Length")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let message: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
                    panic!(
                        "stdout is only JSON-RPC ({e}): {}",
                        String::from_utf8_lossy(&body)
                    )
                });
                if tx.send(message).is_err() {
                    return;
                }
            }
        });
        Server {
            child,
            stdin: Some(stdin),
            incoming,
            seen: VecDeque::new(),
            log: Vec::new(),
            next_id: 1,
        }
    }

    fn send_raw(&mut self, body: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, message: Value) {
        self.send_raw(&message.to_string());
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next message from the server, answering its requests as a client would.
    fn receive(&mut self, timeout: Duration) -> Option<Value> {
        let message = match self.incoming.recv_timeout(timeout) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output"),
        };
        self.log.push(message.clone());
        if let (Some(id), Some(method)) = (message.get("id"), message["method"].as_str()) {
            let result = match method {
                "window/showDocument" => json!({"success": true}),
                _ => Value::Null,
            };
            self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}));
        }
        Some(message)
    }

    /// Sends a request; its result, or its error object.
    fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self
                .receive(left)
                .unwrap_or_else(|| panic!("no answer to {method} in {TIMEOUT:?}"));
            if message.get("method").is_none() && message["id"] == json!(id) {
                return match message.get("error") {
                    Some(err) => Err(err.clone()),
                    None => Ok(message["result"].clone()),
                };
            }
            self.seen.push_back(message);
        }
    }

    /// Waits until the server sent a notification `method` whose params satisfy `pred`.
    fn wait_notification(&mut self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .seen
            .iter()
            .position(|m| m["method"] == method && pred(&m["params"]))
        {
            return self.seen.remove(i).unwrap();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self
                .receive(left)
                .unwrap_or_else(|| panic!("no {method} notification in {TIMEOUT:?}"));
            if message["method"] == method && pred(&message["params"]) {
                return message;
            }
        }
    }

    /// Waits until every workspace is ready, by `scry/status`.
    fn wait_ready(&mut self) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let status = self.request("scry/status", json!(null)).unwrap();
            let workspaces = status["workspaces"].as_array().unwrap();
            if !workspaces.is_empty() && workspaces.iter().all(|w| w["state"] == "ready") {
                return status;
            }
            assert!(
                workspaces.iter().all(|w| w["state"] != "failed"),
                "index failed: {status}"
            );
            assert!(Instant::now() < deadline, "not ready in time: {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn search(&mut self, query: &str) -> Vec<Value> {
        let result = self
            .request("scry/search", json!({"query": query, "limit": 5}))
            .unwrap();
        result.as_array().unwrap().clone()
    }

    /// Polls `scry/search` until `pred` holds on its results.
    fn search_until(&mut self, query: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let results = self.search(query);
            if pred(&results) {
                return results;
            }
            assert!(
                Instant::now() < deadline,
                "search for {query:?} never satisfied the test; last: {results:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn shutdown(mut self) {
        self.request("shutdown", json!(null)).unwrap();
        self.notify("exit", json!(null));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the server exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not exit after `exit`");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `net/queue.py`: a function no fixture file has.
fn write_queue(root: &Path) {
    fs::write(
        root.join("net/queue.py"),
        "def drain_message_queue(queue):\n    while queue:\n        yield queue.pop()\n",
    )
    .unwrap();
}

/// For [`Server::search_until`]: the first result is the file at `path`.
fn first_is(path: &str) -> impl Fn(&[Value]) -> bool + '_ {
    move |r| paths(r).first().is_some_and(|p| p == path)
}

/// `scry status --check` finds the index of `root` consistent.
fn assert_sound(root: &Path, index_dir: &Path) {
    let check = Command::new(env!("CARGO_BIN_EXE_scry"))
        .args(["status", "--check", "--path"])
        .arg(root)
        .env("SCRY_INDEX_DIR", index_dir)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

fn paths(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn serves_search_that_follows_disk_buffers_and_deletes() {
    let (_dir, root) = fixture();
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(&root, index.path(), json!({}));
    let status = server.wait_ready();
    assert_eq!(status["workspaces"][0]["files"], 3, "{status}");
    assert!(
        status["workspaces"][0]["model"]
            .as_str()
            .unwrap()
            .starts_with("static:scry-code"),
        "{status}"
    );

    let hits = server.search("retry a failed upload");
    assert_eq!(paths(&hits)[0], "net/retry.py");
    let first = &hits[0];
    assert_eq!(first["uri"], uri(&root.join("net/retry.py")));
    assert_eq!(first["range"]["start"]["line"], 3);
    assert_eq!(first["symbol"], "retry_upload");
    assert!(
        first["snippet"]
            .as_str()
            .unwrap()
            .contains("def retry_upload")
    );

    // One result per file, unless chunks are asked for.
    let mut unique = paths(&hits);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), hits.len(), "{hits:#?}");
    let chunks = server
        .request(
            "scry/search",
            json!({"query": "retry a failed upload", "chunks": true}),
        )
        .unwrap();
    assert!(
        chunks
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h.get("more").is_none())
    );

    // Unsaved text is searchable; closing the buffer falls back to the file on disk.
    let slug = uri(&root.join("text/slug.py"));
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": slug, "languageId": "python", "version": 1,
            "text": fs::read_to_string(root.join("text/slug.py")).unwrap()}}),
    );
    server.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": slug, "version": 2}, "contentChanges": [{"text":
            "def parse_invoice_total(document):\n    \"\"\"Sum the line items of an invoice.\"\"\"\n    return sum(item.price for item in document.items)\n"}]}),
    );
    server.search_until("parse_invoice_total", |r| {
        r.first()
            .is_some_and(|h| h["symbol"] == "parse_invoice_total")
    });
    let status = server.request("scry/status", json!(null)).unwrap();
    assert_eq!(status["workspaces"][0]["buffers"], 1, "{status}");
    server.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": slug}}),
    );
    server.search_until("parse_invoice_total", |r| {
        r.iter().all(|h| h["symbol"] != "parse_invoice_total")
    });
    assert_eq!(paths(&server.search("slugify a title"))[0], "text/slug.py");

    // A new buffer for a file that does not exist yet.
    let draft = uri(&root.join("draft.py"));
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": draft, "languageId": "python", "version": 1,
            "text": "def compute_shipping_cost(weight):\n    return weight * 3\n"}}),
    );
    server.search_until("compute_shipping_cost", first_is("draft.py"));

    // Files written, changed and deleted on disk by other programs.
    fs::write(
        root.join("net/cache.py"),
        "def evict_least_recently_used(cache, size):\n    while len(cache) > size:\n        cache.popitem(last=False)\n",
    )
    .unwrap();
    server.search_until("evict_least_recently_used", first_is("net/cache.py"));
    fs::remove_file(root.join("math/stats.py")).unwrap();
    server.search_until("arithmetic mean of numbers", |r| {
        !paths(r).contains(&"math/stats.py".to_string())
    });

    fs::rename(root.join("text/slug.py"), root.join("text/slugs.py")).unwrap();
    server.search_until("slugify a title", |r| {
        let p = paths(r);
        p.first().is_some_and(|p| p == "text/slugs.py") && !p.contains(&"text/slug.py".into())
    });

    // Similar code at a range of a document.
    common::write_retry_download(&root);
    server.search_until("retry_download", first_is("net/retry2.py"));
    let similar = server
        .request(
            "scry/similar",
            json!({"textDocument": {"uri": uri(&root.join("net/retry.py"))},
                "range": {"start": {"line": 3, "character": 0}, "end": {"line": 10, "character": 0}}}),
        )
        .unwrap();
    assert_eq!(similar[0]["path"], "net/retry2.py", "{similar:#}");
    // No selection: the definition at the cursor.
    let at_cursor = server
        .request(
            "scry/similar",
            json!({"textDocument": {"uri": uri(&root.join("net/retry.py"))},
                "range": {"start": {"line": 6, "character": 4}, "end": {"line": 6, "character": 4}}}),
        )
        .unwrap();
    assert_eq!(at_cursor[0]["path"], "net/retry2.py", "{at_cursor:#}");

    // The standard requests every editor shows.
    let symbols = server
        .request("workspace/symbol", json!({"query": "slugify"}))
        .unwrap();
    assert_eq!(symbols[0]["name"], "slugify", "{symbols:#}");
    assert_eq!(
        symbols[0]["location"]["uri"],
        uri(&root.join("text/slugs.py"))
    );
    let by_command = server
        .request(
            "workspace/executeCommand",
            json!({"command": "scry.search", "arguments": ["retry a failed upload"]}),
        )
        .unwrap();
    assert_eq!(by_command[0]["path"], "net/retry.py");
    let actions = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri(&root.join("net/retry.py"))},
                "range": {"start": {"line": 3, "character": 0}, "end": {"line": 10, "character": 0}},
                "context": {"diagnostics": []}}),
        )
        .unwrap();
    assert_eq!(actions[0]["title"], "Find similar code");
    let command = actions[0]["command"].clone();
    let shown = server
        .request(
            "workspace/executeCommand",
            json!({"command": command["command"], "arguments": command["arguments"]}),
        )
        .unwrap();
    assert_eq!(shown[0]["path"], "net/retry2.py");
    assert!(
        server
            .log
            .iter()
            .any(|m| m["method"] == "window/showDocument"
                && m["params"]["uri"] == uri(&root.join("net/retry2.py"))),
        "the best similar result is shown"
    );
    server.shutdown();
}

#[test]
fn reports_progress_and_status_while_indexing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for i in 0..150 {
        fs::write(
            root.join(format!("m{i}.py")),
            format!("def handler_{i}(request):\n    return request.value + {i}\n"),
        )
        .unwrap();
    }
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(&root, index.path(), json!({}));
    server.wait_notification("scry/indexStatus", |p| {
        p["state"] == "ready" && p["files"] == 150
    });
    let progress: Vec<&Value> = server
        .log
        .iter()
        .filter(|m| m["method"] == "$/progress")
        .collect();
    let kinds: Vec<&str> = progress
        .iter()
        .map(|m| m["params"]["value"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"begin"), "{progress:#?}");
    assert_eq!(kinds.last(), Some(&"end"), "{progress:#?}");
    assert!(
        progress
            .iter()
            .any(|m| m["params"]["value"]["percentage"] == 100),
        "{progress:#?}"
    );
    assert!(
        server
            .log
            .iter()
            .any(|m| m["method"] == "window/workDoneProgress/create"),
        "progress is created before it begins"
    );
    server.shutdown();
}

#[test]
fn bad_messages_get_errors_and_the_server_carries_on() {
    let (_dir, root) = fixture();
    let index = tempfile::tempdir().unwrap();
    // Bad options do not keep the server from starting: it says so and uses the defaults.
    let mut server = Server::start(&root, index.path(), json!({"limits": 3}));
    server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `limits`")
    });
    server.wait_ready();
    // Not JSON at all: the server reports a parse error and keeps going.
    server.send_raw("{this is not json");
    let err = server
        .request("scry/search", json!({"query": "   "}))
        .unwrap_err();
    assert!(
        server
            .log
            .iter()
            .any(|m| m["id"].is_null() && m["error"]["code"] == -32700),
        "unparsable input is answered with a parse error"
    );
    // Valid JSON that is not JSON-RPC, and a frame without Content-Length.
    server.send_raw(r#"{"id": "raw", "method": 12}"#);
    let stdin = server.stdin.as_mut().unwrap();
    stdin.write_all(b"X-Nonsense: 1\r\n\r\n").unwrap();
    // A header that is not UTF-8 (its body skipped), and a header line of 4 MiB: each gets an
    // error, neither ends the session or is held in memory whole.
    stdin
        .write_all(b"X-Bad: \xff\xfe\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    stdin.write_all(b"X-Long: ").unwrap();
    stdin.write_all(&vec![b'a'; 4 << 20]).unwrap();
    stdin.write_all(b"\r\nContent-Length: 2\r\n\r\n{}").unwrap();
    assert!(err["message"].as_str().unwrap().contains("empty"), "{err}");
    let err = server
        .request("scry/search", json!({"query": "x", "lang": "cobol"}))
        .unwrap_err();
    assert!(
        server
            .log
            .iter()
            .any(|m| m["id"] == "raw" && m["error"]["code"] == -32600),
        "a message that is not JSON-RPC is answered with invalid request"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("unknown language"),
        "{err}"
    );
    for problem in ["not UTF-8", "longer than"] {
        assert!(
            server.log.iter().any(|m| m["id"].is_null()
                && m["error"]["code"] == -32700
                && m["error"]["message"].as_str().unwrap().contains(problem)),
            "a bad header ({problem}) is answered with a parse error"
        );
    }
    let err = server
        .request("scry/search", json!({"limit": 3}))
        .unwrap_err();
    assert_eq!(err["code"], -32602, "{err}");
    let err = server
        .request(
            "scry/similar",
            json!({"textDocument": {"uri": "file:///elsewhere/x.py"},
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}}),
        )
        .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("workspace"),
        "{err}"
    );
    let err = server
        .request(
            "scry/similar",
            json!({"textDocument": {"uri": uri(&root.join("net/retry.py"))},
                "range": {"start": {"line": 500, "character": 0}, "end": {"line": 501, "character": 0}}}),
        )
        .unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("lines"), "{err}");
    let err = server
        .request("workspace/executeCommand", json!({"command": "scry.nope"}))
        .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("scry.search"),
        "{err}"
    );
    let err = server.request("scry/unknown", json!({})).unwrap_err();
    assert_eq!(err["code"], -32601, "{err}");
    // Invalid settings are reported, and the old ones stay.
    server.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"scry": {"modle": "none"}}}),
    );
    server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .unwrap()
            .contains("invalid Scry settings")
    });
    // A binary buffer is not indexed, and nothing breaks.
    let bin = uri(&root.join("blob.py"));
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": bin, "languageId": "python", "version": 1, "text": "\u{0}\u{0}\u{1}"}}),
    );
    assert_eq!(
        paths(&server.search("retry a failed upload"))[0],
        "net/retry.py"
    );
    server.shutdown();
}

#[test]
fn settings_switch_model_and_excludes() {
    let (_dir, root) = fixture();
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        &root,
        index.path(),
        json!({"model": "none", "exclude": ["math/"]}),
    );
    let status = server.wait_ready();
    let ws = &status["workspaces"][0];
    assert_eq!(ws["model"], Value::Null, "{status}");
    assert_eq!(ws["files"], 2, "{status}");
    server.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"scry": {"model": "builtin"}}}),
    );
    server.wait_notification("scry/indexStatus", |p| {
        p["state"] == "ready" && p["files"] == 3 && p["model"].is_string()
    });
    assert_eq!(paths(&server.search("arithmetic mean"))[0], "math/stats.py");
    // A model that does not exist is refused; the index keeps working with the old settings.
    server.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"scry": {"model": "no/such/model"}}}),
    );
    server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .unwrap()
            .contains("keeps its previous settings")
    });
    let status = server.wait_ready();
    assert!(status["workspaces"][0]["model"].is_string(), "{status}");
    assert_eq!(paths(&server.search("arithmetic mean"))[0], "math/stats.py");
    server.shutdown();
}

#[test]
fn two_servers_share_one_index_and_survive_a_kill() {
    let (_dir, root) = fixture();
    let index = tempfile::tempdir().unwrap();
    let mut a = Server::start(&root, index.path(), json!({}));
    let mut b = Server::start(&root, index.path(), json!({}));
    a.wait_ready();
    b.wait_ready();
    write_queue(&root);
    for server in [&mut a, &mut b] {
        server.search_until("drain_message_queue", first_is("net/queue.py"));
    }
    // Killed with no warning while the other keeps indexing.
    let _ = a.child.kill();
    let _ = a.child.wait();
    for i in 0..40 {
        fs::write(
            root.join(format!("net/extra{i}.py")),
            format!("def extra_worker_{i}(job):\n    return job * {i}\n"),
        )
        .unwrap();
    }
    b.search_until("extra_worker_39", first_is("net/extra39.py"));
    b.shutdown();
    assert_sound(&root, index.path());
}

#[test]
fn a_corrupt_index_is_reported_and_searches_fail_clearly() {
    let (_dir, root) = fixture();
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(&root, index.path(), json!({}));
    let status = server.wait_ready();
    let db = status["workspaces"][0]["index"]
        .as_str()
        .unwrap()
        .to_string();
    server.shutdown();
    fs::write(&db, b"this is not a redb file, it is garbage".repeat(100)).unwrap();

    let mut server = Server::start(&root, index.path(), json!({}));
    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"].as_str().unwrap().contains("--rebuild")
    });
    assert!(
        shown["params"]["message"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{shown}"
    );
    let status = server.request("scry/status", json!(null)).unwrap();
    assert_eq!(status["workspaces"][0]["state"], "failed", "{status}");
    let err = server
        .request("scry/search", json!({"query": "retry"}))
        .unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("index"), "{err}");
    // The file is left for the user to look at or rebuild.
    assert!(
        fs::read(&db)
            .unwrap()
            .starts_with(b"this is not a redb file")
    );
    server.shutdown();
}

#[test]
fn a_branch_switch_of_thousands_of_files_is_followed() {
    let (_dir, root) = fixture();
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(&root, index.path(), json!({}));
    server.wait_ready();
    // As a checkout does: many files appear in new directories at once, others go.
    for i in 0..2000 {
        let dir = root.join(format!("gen/d{}", i % 40));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(format!("f{i}.py")),
            format!("def generated_task_{i}(x):\n    return x + {i}\n"),
        )
        .unwrap();
    }
    fs::remove_dir_all(root.join("math")).unwrap();
    server.wait_notification("scry/indexStatus", |p| {
        p["state"] == "ready" && p["files"] == 2002
    });
    assert_eq!(
        paths(&server.search("generated_task_1999"))[0],
        "gen/d39/f1999.py"
    );
    assert!(!paths(&server.search("arithmetic mean")).contains(&"math/stats.py".to_string()));
    // The checkout brings a .gitignore that leaves the generated files out.
    fs::write(root.join(".gitignore"), "gen/\n").unwrap();
    server.wait_notification("scry/indexStatus", |p| {
        p["state"] == "ready" && p["files"] == 2
    });
    assert!(
        server
            .search("generated_task_1999")
            .iter()
            .all(|h| h["path"] != "gen/d39/f1999.py")
    );
    server.shutdown();
}

/// What Helix (25.x) sends and does: its capabilities and `languages.toml` config as
/// `initializationOptions`, the workspace-symbol picker, a code action on a selection, and
/// `:lsp-workspace-command`, which passes no arguments.
#[test]
fn a_helix_shaped_session() {
    let (_dir, root) = fixture();
    common::write_retry_download(&root);
    let helix_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../extensions/helix");
    let languages: toml::Table =
        toml::from_str(&fs::read_to_string(helix_dir.join("languages.toml")).unwrap()).unwrap();
    let keys: toml::Table =
        toml::from_str(&fs::read_to_string(helix_dir.join("config.toml")).unwrap()).unwrap();
    assert!(keys["keys"]["normal"]["space"].get("S").is_some());
    let scry = &languages["language-server"]["scry"];
    assert_eq!(scry["args"][0].as_str(), Some("lsp"));
    let options = serde_json::to_value(&scry["config"]).unwrap();

    let index = tempfile::tempdir().unwrap();
    let mut server = Server::spawn(index.path());
    let init = server
        .request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "clientInfo": {"name": "helix", "version": "25.1.1"},
                "rootUri": uri(&root),
                "rootPath": root,
                "workspaceFolders": [{"uri": uri(&root), "name": "ws"}],
                "initializationOptions": options,
                "capabilities": {
                    "general": {"positionEncodings": ["utf-8", "utf-32", "utf-16"]},
                    "window": {"workDoneProgress": true, "showDocument": {"support": true}},
                    "workspace": {
                        "configuration": true, "workspaceFolders": true, "applyEdit": true,
                        "didChangeConfiguration": {"dynamicRegistration": false},
                        "symbol": {"dynamicRegistration": false},
                        "executeCommand": {"dynamicRegistration": false},
                    },
                    "textDocument": {
                        "codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["", "quickfix", "refactor", "source"]}}},
                        "synchronization": {"didSave": true},
                    },
                },
            }),
        )
        .unwrap();
    // Helix reads the sync kind and the command list from these.
    assert_eq!(init["capabilities"]["textDocumentSync"]["change"], 1);
    let commands = init["capabilities"]["executeCommandProvider"]["commands"].clone();
    assert!(
        commands
            .as_array()
            .unwrap()
            .contains(&json!("scry.reindex"))
    );
    server.notify("initialized", json!({}));
    let retry = uri(&root.join("net/retry.py"));
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": retry, "languageId": "python", "version": 0,
            "text": fs::read_to_string(root.join("net/retry.py")).unwrap()}}),
    );
    server.wait_ready();

    let symbols = server
        .request("workspace/symbol", json!({"query": "slugify"}))
        .unwrap();
    assert_eq!(symbols[0]["name"], "slugify");
    let actions = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": retry},
                "range": {"start": {"line": 3, "character": 0}, "end": {"line": 9, "character": 30}},
                "context": {"diagnostics": [], "triggerKind": 1}}),
        )
        .unwrap();
    let command = &actions[0]["command"];
    let results = server
        .request(
            "workspace/executeCommand",
            json!({"command": command["command"], "arguments": command["arguments"]}),
        )
        .unwrap();
    assert_eq!(results[0]["path"], "net/retry2.py");
    assert!(
        server
            .log
            .iter()
            .any(|m| m["method"] == "window/showDocument")
    );
    let reindexed = server
        .request(
            "workspace/executeCommand",
            json!({"command": "scry.reindex"}),
        )
        .unwrap();
    assert_eq!(reindexed, Value::Null);
    server.shutdown();
}

#[test]
fn exits_when_the_editor_goes_away() {
    let (_dir, root) = fixture();
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(&root, index.path(), json!({}));
    server.wait_ready();
    // The editor dies: its end of the pipe closes, with no shutdown or exit.
    server.stdin = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server outlived its editor");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `scry search` or `scry similar` in a folder a server holds, as one process: what it prints,
/// and whether the server's live index answered (its debug log says so).
fn one_shot(root: &Path, index_dir: &Path, args: &[&str]) -> (std::process::Output, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_scry"))
        .args(args)
        .arg("--path")
        .arg(root)
        .env("SCRY_INDEX_DIR", index_dir)
        .env("SCRY_LOG", "scry=debug")
        .env_remove("SCRY_MODEL")
        .output()
        .unwrap();
    let live = String::from_utf8_lossy(&out.stderr).contains("answered by the live index");
    (out, live)
}

#[test]
#[cfg(unix)]
fn one_shot_commands_ask_the_server_that_holds_the_folder() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let (_dir, root) = fixture();
    common::write_retry_download(&root);
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(&root, index.path(), json!({}));
    server.wait_ready();
    let socket = fs::read_dir(index.path())
        .unwrap()
        .map(|e| e.unwrap().path().join("live.sock"))
        .find(|p| p.exists())
        .expect("the server listens beside its index");
    let meta = fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "only its user");

    // A file written just before the command is in its answer: the server's watcher has it.
    write_queue(&root);
    let (out, live) = one_shot(
        &root,
        index.path(),
        &["search", "--json", "drain_message_queue"],
    );
    assert!(out.status.success() && live, "{out:?}");
    assert_eq!(places(&out.stdout)[0].0, "net/queue.py", "{out:?}");
    let first = out;
    let (similar, live) = one_shot(
        &root,
        index.path(),
        &["similar", "--json", "net/retry.py:4-11"],
    );
    assert!(similar.status.success() && live, "{similar:?}");
    // A bad question fails as it would have without the server.
    let (bad, live) = one_shot(&root, index.path(), &["similar", "net/retry.py:40-50"]);
    assert!(!bad.status.success() && live, "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a span of the file"));
    // A server with another model does not answer: the command searches with its own.
    let (out, live) = one_shot(
        &root,
        index.path(),
        &["search", "--model", "none", "upload"],
    );
    assert!(out.status.success() && !live, "{out:?}");

    // Hostile or broken clients get an answer or a timeout, never the server: a line that is
    // no question, one far too long, and a client that connects and says nothing.
    use std::io::{BufRead, Write as _};
    use std::os::unix::net::UnixStream;
    let ask_raw = |bytes: &[u8]| {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let _ = stream.write_all(bytes);
        let mut reply = String::new();
        let _ = std::io::BufReader::new(&stream).read_line(&mut reply);
        reply
    };
    assert!(ask_raw(b"{\"not\": \"a question\"}\n").contains("not a question"));
    assert!(ask_raw(&vec![b'x'; 200 << 10]).contains("not a question"));
    let silent = UnixStream::connect(&socket).unwrap();
    let (out, live) = one_shot(
        &root,
        index.path(),
        &["search", "--json", "drain_message_queue"],
    );
    assert!(
        out.status.success() && live,
        "answered beside a silent client: {out:?}"
    );
    drop(silent);
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server outlived them"
    );
    assert!(!server.search("drain_message_queue").is_empty());

    server.shutdown();
    assert!(!socket.exists(), "the socket goes with its server");
    // Without a server the command loads the index and prints the same answers.
    let (alone, live) = one_shot(
        &root,
        index.path(),
        &["search", "--json", "drain_message_queue"],
    );
    assert!(alone.status.success() && !live, "{alone:?}");
    // (The same places in the same order; a live index's scores may differ in the last
    // digits: its word statistics are those of its snapshot.)
    assert_eq!(places(&alone.stdout), places(&first.stdout));
    let (similar_alone, _) = one_shot(
        &root,
        index.path(),
        &["similar", "--json", "net/retry.py:4-11"],
    );
    assert_eq!(places(&similar_alone.stdout), places(&similar.stdout));

    // A server killed without warning leaves its socket behind: commands still answer, and
    // the next server takes the socket over.
    let mut killed = Server::start(&root, index.path(), json!({}));
    killed.wait_ready();
    let _ = killed.child.kill();
    let _ = killed.child.wait();
    assert!(socket.exists());
    let (out, live) = one_shot(
        &root,
        index.path(),
        &["search", "--json", "drain_message_queue"],
    );
    assert!(out.status.success() && !live, "{out:?}");
    assert_eq!(out.stdout, alone.stdout);
    let mut next = Server::start(&root, index.path(), json!({}));
    next.wait_ready();
    let (_, live) = one_shot(&root, index.path(), &["search", "drain_message_queue"]);
    assert!(live, "the next server answers");
    next.shutdown();
}

/// Each result's path, lines and symbol, in order, from a command's JSON line.
fn places(stdout: &[u8]) -> Vec<(String, u64, u64, Value)> {
    let line: Value = serde_json::from_slice(stdout).unwrap();
    (line["results"].as_array().unwrap().iter())
        .map(|r| {
            let line = |k: &str| r[k].as_u64().unwrap();
            let path = r["path"].as_str().unwrap().to_string();
            (
                path,
                line("start_line"),
                line("end_line"),
                r["symbol"].clone(),
            )
        })
        .collect()
}

#[test]
fn an_index_deleted_under_the_server_is_built_again() {
    let (_dir, root) = fixture();
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(&root, index.path(), json!({}));
    let status = server.wait_ready();
    let file = Path::new(status["workspaces"][0]["index"].as_str().unwrap()).to_path_buf();
    // Deleted to free space while the editor runs, then a file changes.
    fs::remove_file(&file).unwrap();
    write_queue(&root);
    server.wait_notification("window/showMessage", |p| {
        p["message"].as_str().unwrap().contains("was deleted")
    });
    server.search_until("drain_message_queue", first_is("net/queue.py"));
    let status = server.wait_ready();
    assert_eq!(status["workspaces"][0]["files"], 4, "{status}");
    assert!(file.exists(), "a new index where the old one was");
    #[cfg(target_os = "linux")]
    {
        // The deleted file is let go of: its space comes back.
        let fds = fs::read_dir(format!("/proc/{}/fd", server.child.id())).unwrap();
        let held: Vec<String> = fds
            .filter_map(|fd| fs::read_link(fd.unwrap().path()).ok())
            .map(|target| target.display().to_string())
            .filter(|target| target.contains("index.redb"))
            .collect();
        assert!(held.iter().all(|t| !t.ends_with("(deleted)")), "{held:?}");
    }
    server.shutdown();
    assert_sound(&root, index.path());
}

#[test]
fn a_folder_that_goes_away_and_comes_back_is_indexed_again() {
    let (_dir, root) = fixture();
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(&root, index.path(), json!({}));
    server.wait_ready();
    // A mount that went, or a folder moved away: a rescan (or the next check) says so.
    let away = root.with_extension("away");
    fs::rename(&root, &away).unwrap();
    server
        .request(
            "workspace/executeCommand",
            json!({"command": "scry.reindex"}),
        )
        .unwrap();
    let failed = server.wait_notification("scry/indexStatus", |p| p["state"] == "failed");
    assert!(
        failed["params"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{failed}"
    );
    // Searches still answer, from what the index held.
    assert_eq!(
        paths(&server.search("retry a failed upload"))[0],
        "net/retry.py"
    );
    // Back as another directory (a mount again, a copy), with a change made meanwhile:
    // indexed again, and watched again (no watch outlives the directory it was on).
    write_queue(&away);
    let copied = Command::new("cp").arg("-a").arg(&away).arg(&root).status();
    assert!(copied.unwrap().success());
    fs::remove_dir_all(&away).unwrap();
    server
        .request(
            "workspace/executeCommand",
            json!({"command": "scry.reindex"}),
        )
        .unwrap();
    server.search_until("drain_message_queue", first_is("net/queue.py"));
    server.wait_ready();
    fs::write(
        root.join("text/words.py"),
        "def count_distinct_words(text):\n    return len(set(text.split()))\n",
    )
    .unwrap();
    server.search_until("count_distinct_words", first_is("text/words.py"));
    server.shutdown();
}

/// A FUSE mount of `source` (bench/slowfs.py) whose calls all wait while `stall` exists, as
/// a network share's do when its server stops answering. `None` where FUSE or fusepy is
/// missing.
#[cfg(target_os = "linux")]
struct Stallable {
    mountpoint: tempfile::TempDir,
    stall: std::path::PathBuf,
    fs: Child,
}

#[cfg(target_os = "linux")]
impl Stallable {
    fn mount(source: &Path) -> Option<Stallable> {
        let mountpoint = tempfile::tempdir().unwrap();
        let stall = source.with_extension("stall");
        let fs = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/slowfs.py"))
            .args([source, mountpoint.path(), Path::new("0"), &stall])
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut this = Stallable {
            mountpoint,
            stall,
            fs,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
            if mounts.contains(this.mountpoint.path().to_str().unwrap()) {
                return Some(this);
            }
            if this.fs.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn path(&self) -> &Path {
        self.mountpoint.path()
    }

    fn stall(&self, stalled: bool) {
        match stalled {
            true => fs::write(&self.stall, "").unwrap(),
            false => fs::remove_file(&self.stall).unwrap(),
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for Stallable {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.stall);
        let _ = Command::new("fusermount")
            .args(["-u", "-z"])
            .arg(self.mountpoint.path())
            .status();
        let _ = self.fs.kill();
        let _ = self.fs.wait();
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_stalled_mount_is_reported_and_the_server_keeps_answering() {
    let (_dir, root) = fixture();
    let Some(mount) = Stallable::mount(&root) else {
        // scripts/test.sh sets SCRY_REQUIRE_FUSE where /dev/fuse exists.
        assert!(
            std::env::var_os("SCRY_REQUIRE_FUSE").is_none(),
            "cannot mount bench/slowfs.py (needs fusermount, libfuse2 and fusepy)"
        );
        eprintln!("skipped: no FUSE mount here (needs /dev/fuse, fusermount and fusepy)");
        return;
    };
    let index = tempfile::tempdir().unwrap();
    let mut server = Server::start(mount.path(), index.path(), json!({}));
    server.wait_ready();

    // The share stops answering while a file is added behind it, and a rescan starts.
    mount.stall(true);
    write_queue(&root);
    server
        .request(
            "workspace/executeCommand",
            json!({"command": "scry.reindex"}),
        )
        .unwrap();
    let stalled = server.wait_notification("scry/indexStatus", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("has not answered"))
    });
    assert_eq!(stalled["params"]["state"], "indexing", "{stalled}");
    // Meanwhile searches and status answer, from the index as it was.
    assert_eq!(
        paths(&server.search("retry a failed upload"))[0],
        "net/retry.py"
    );
    let status = server.request("scry/status", json!(null)).unwrap();
    assert!(
        status["workspaces"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("a stalled mount")),
        "{status}"
    );

    // The share answers again: the update finishes, the note goes.
    mount.stall(false);
    server.search_until("drain_message_queue", first_is("net/queue.py"));
    let status = server.wait_ready();
    assert_eq!(status["workspaces"][0]["message"], json!(null), "{status}");

    // A folder that is stalled when the editor starts: the server answers at once, says
    // the folder is still opening, and opens it when the share comes back.
    server.shutdown();
    mount.stall(true);
    let fresh = tempfile::tempdir().unwrap();
    let mut server = Server::start(mount.path(), fresh.path(), json!({}));
    let status = server.request("scry/status", json!(null)).unwrap();
    let state = &status["workspaces"][0]["state"];
    assert!(state == "opening" || state == "indexing", "{status}");
    mount.stall(false);
    server.search_until("drain_message_queue", first_is("net/queue.py"));
    server.shutdown();
}
