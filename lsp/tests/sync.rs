//! `scry sync` against a real `scry-server` on loopback (SQLite), acting with an org API key
//! on a machine without a credential store: enabling, a dry run that sends nothing, a first
//! sync, a no-op, an edit that sends only its path to the root, secrets left out, the ledger,
//! and disabling with the hosted copy deleted; and the language server syncing an enabled
//! workspace in the background.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use scry_client::Client;
use scry_client::api::{PageQuery, Role, SearchRequest};
use serde_json::{Value, json};

struct Service {
    base: String,
    runtime: tokio::runtime::Runtime,
    /// The org's id and an owner's client.
    org: String,
    owner: Client,
    /// A member's API key, made over plain HTTP (no sync key material in it).
    key: String,
    /// The owner's session token.
    session: String,
    /// The service's data directory (its SQLite database).
    data: tempfile::TempDir,
}

fn service() -> Service {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (base, org, owner, key, session) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = scry_server::config::Config {
            data_dir: data.path().to_path_buf(),
            ..Default::default()
        };
        config.tiers.get_mut("free").unwrap().requests_per_minute = 10_000;
        let store = scry_server::open_store(&config).await.unwrap();
        let app =
            scry_server::app(store, Arc::new(scry_server::clock::SystemClock), config).unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        let anonymous = Client::builder(&base).build().unwrap();
        anonymous
            .sign_up("ann@example.com", "correct horse battery")
            .await
            .unwrap();
        let session = anonymous
            .login("ann@example.com", "correct horse battery")
            .await
            .unwrap();
        let owner = anonymous.with_token(session.token.clone());
        let org = owner.create_org("acme").await.unwrap().id;
        let key = owner
            .create_key(&org, "ci", Role::Member)
            .await
            .unwrap()
            .key;
        (base, org, owner, key, session.token)
    });
    Service {
        base,
        runtime,
        org,
        owner,
        key,
        session,
        data,
    }
}

struct Machine {
    config: tempfile::TempDir,
    index: tempfile::TempDir,
    workspace: tempfile::TempDir,
    acting: Acting,
}

/// Whom a machine's `scry` acts as.
enum Acting {
    /// The service's plain API key, in `SCRY_API_KEY`.
    ServiceKey,
    /// This text in `SCRY_API_KEY`.
    Key(String),
    /// The owner, signed in (the session in the fallback file: no credential store here).
    Person,
}

impl Machine {
    fn new() -> Machine {
        let workspace = tempfile::tempdir().unwrap();
        let files = [
            (
                "src/parse.py",
                "def parse(text):\n    return [w for w in text.split()]\n\n\ndef render(words):\n    return ' '.join(words)\n",
            ),
            (
                "src/store.rs",
                "pub fn save(path: &str, data: &[u8]) -> std::io::Result<()> {\n    std::fs::write(path, data)\n}\n\npub fn load(path: &str) -> std::io::Result<Vec<u8>> {\n    std::fs::read(path)\n}\n",
            ),
            ("config/secrets.yaml", "api_token: tok_live_do_not_leak\n"),
            (
                "config/secrets.toml",
                "[stripe]\nkey = \"sk_live_do_not_leak\"\n",
            ),
        ];
        for (path, text) in files {
            let path = workspace.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Machine {
            config: tempfile::tempdir().unwrap(),
            index: tempfile::tempdir().unwrap(),
            workspace,
            acting: Acting::ServiceKey,
        }
    }

    /// A machine the owner signed in on.
    fn person(service: &Service) -> Machine {
        let m = Machine {
            acting: Acting::Person,
            ..Machine::new()
        };
        let dir = m.config.path().join("scry");
        std::fs::create_dir_all(&dir).unwrap();
        let sessions = json!({"sessions": {&service.base: &service.session}});
        std::fs::write(dir.join("credentials.json"), sessions.to_string()).unwrap();
        m
    }

    /// A bare machine (a CI job) with `key` in `SCRY_API_KEY`.
    fn ci(key: &str) -> Machine {
        Machine {
            acting: Acting::Key(key.into()),
            ..Machine::new()
        }
    }

    fn credentials(&self) -> Option<Value> {
        let file = self.config.path().join("scry").join("credentials.json");
        let bytes = std::fs::read(file).ok()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    fn scry(&self, service: &Service, args: &[&str]) -> Output {
        self.command(service, args).output().unwrap()
    }

    fn command(&self, service: &Service, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scry"));
        cmd.args(args)
            .current_dir(self.workspace.path())
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("SCRY_INDEX_DIR", self.index.path())
            .env("SCRY_SERVER", &service.base)
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/scry-test-bus",
            )
            .env("NO_COLOR", "1");
        match &self.acting {
            Acting::ServiceKey => cmd.env("SCRY_API_KEY", &service.key),
            Acting::Key(key) => cmd.env("SCRY_API_KEY", key),
            Acting::Person => cmd.env_remove("SCRY_API_KEY"),
        };
        cmd
    }

    fn ok(&self, service: &Service, args: &[&str]) -> (String, String) {
        let out = self.scry(service, args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "scry {args:?}: {stderr}");
        (stdout, stderr)
    }

    fn sync_json(&self, service: &Service, extra: &[&str]) -> Value {
        let mut args = vec!["sync", "--json"];
        args.extend(extra);
        serde_json::from_str(&self.ok(service, &args).0).unwrap()
    }
}

impl Service {
    fn repo_id(&self, name: &str) -> String {
        let page = PageQuery {
            limit: Some(100),
            after: None,
        };
        let repos = self.runtime.block_on(self.owner.repos(&self.org, &page));
        let repos = repos.unwrap().items;
        repos.into_iter().find(|r| r.name == name).unwrap().id
    }

    /// Overwrites every stored object of a repository with bytes that open as nothing, past
    /// the service (its SQLite file), as a damaged disk would.
    fn damage_objects(&self, repo: &str) {
        let db = self.data.path().join("scry-server.db");
        let script = "import sqlite3, sys\n\
                      c = sqlite3.connect(sys.argv[1], timeout=30)\n\
                      c.execute(\"UPDATE index_objects SET body = x'00' WHERE repo_id = ?\", (sys.argv[2],))\n\
                      c.commit()\n";
        let status = Command::new("python3")
            .args(["-c", script])
            .arg(&db)
            .arg(repo)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn repo_chunks(&self, name: &str) -> Option<i64> {
        self.runtime.block_on(async {
            let page = PageQuery {
                limit: Some(100),
                after: None,
            };
            let repos = self.owner.repos(&self.org, &page).await.unwrap();
            repos
                .items
                .iter()
                .find(|r| r.name == name)
                .map(|r| r.chunks)
        })
    }
}

/// Writes `text` to `path` of the machine's workspace.
fn write(m: &Machine, path: &str, text: &str) {
    let path = m.workspace.path().join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn edit(root: &Path, path: &str, from: &str, to: &str) {
    let path = root.join(path);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

#[test]
fn a_workspace_syncs_sealed_only_when_enabled_and_only_what_changed() {
    let s = service();
    let m = Machine::person(&s);

    let off = m.scry(&s, &["sync"]);
    assert!(!off.status.success());
    let said = String::from_utf8_lossy(&off.stderr);
    assert!(
        said.contains("sync is not enabled") && said.contains("scry sync enable"),
        "{said}"
    );

    let (_, said) = m.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert!(said.contains("Sync enabled"), "{said}");
    assert!(
        said.contains("holds the org's data key (fingerprint"),
        "{said}"
    );
    // No credential store on this machine: the key went to the private file, and we were told.
    assert!(
        said.contains("warning:") && said.contains("credentials.json"),
        "{said}"
    );
    let stored = m.credentials().unwrap();
    assert_eq!(stored["org_keys"].as_object().unwrap().len(), 1);
    assert_eq!(s.repo_chunks("web"), Some(0));

    // A dry run: exactly what would leave, and nothing leaves.
    let dry = m.sync_json(&s, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["generation"], 0);
    let chunks = dry["chunks"].as_i64().unwrap();
    assert!(chunks >= 4, "{dry}");
    let objects = dry["objects_uploaded"].as_i64().unwrap();
    assert!(
        objects > chunks,
        "chunks, files, buckets and the root: {dry}"
    );
    assert_eq!(s.repo_chunks("web"), Some(0));
    let (text, _) = m.ok(&s, &["sync", "--dry-run"]);
    assert!(text.contains("never synced"), "{text}");
    assert!(
        text.contains("config/secrets.yaml") && text.contains("config/secrets.toml"),
        "{text}"
    );
    assert!(text.contains("Nothing was sent"), "{text}");

    // The first sync sends what the dry run said.
    let first = m.sync_json(&s, &[]);
    assert_eq!(first["generation"], 1);
    assert_eq!(first["dry_run"], false);
    assert_eq!(first["objects_uploaded"], objects);
    assert_eq!(first["bytes_uploaded"], dry["bytes_uploaded"]);
    assert_eq!(s.repo_chunks("web"), Some(chunks));

    // Nothing changed: nothing sent, no new generation.
    let again = m.sync_json(&s, &[]);
    assert_eq!(
        (
            again["generation"].as_i64(),
            again["objects_uploaded"].as_i64()
        ),
        (Some(1), Some(0))
    );

    // One function edited: its file's records, its file node, its bucket and the root.
    edit(
        m.workspace.path(),
        "src/store.rs",
        "std::fs::read(path)",
        "std::fs::read(path.trim())",
    );
    let edited = m.sync_json(&s, &[]);
    assert_eq!(edited["generation"], 2);
    let sent = edited["objects_uploaded"].as_i64().unwrap();
    assert_eq!(sent, 4, "{edited}");
    assert!(
        edited["bytes_uploaded"].as_i64().unwrap() < first["bytes_uploaded"].as_i64().unwrap(),
        "{edited} {first}"
    );
    assert_eq!(s.repo_chunks("web"), Some(chunks));

    let status: Value = serde_json::from_str(&m.ok(&s, &["sync", "status", "--json"]).0).unwrap();
    assert_eq!(status["enabled"], true);
    assert_eq!(status["link"]["repo_name"], "web");
    assert_eq!(status["last"]["generation"], 2);
    let (log, _) = m.ok(&s, &["sync", "log", "--json"]);
    let entries: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        entries.len(),
        2,
        "a dry run and a no-op leave no entry: {log}"
    );
    assert_eq!(entries[0]["objects_uploaded"], objects);
    assert_eq!(entries[1]["generation"], 2);
    assert_eq!(entries[0]["excluded"], 2);

    // The hosted copy is deleted behind this machine's back: the tree it kept from the last
    // sync is no use, and the next sync sends everything again.
    let web = s.runtime.block_on(async {
        let page = PageQuery {
            limit: Some(100),
            after: None,
        };
        let repos = s.owner.repos(&s.org, &page).await.unwrap();
        repos
            .items
            .into_iter()
            .find(|r| r.name == "web")
            .unwrap()
            .id
    });
    s.runtime
        .block_on(s.owner.delete_repo(&s.org, &web))
        .unwrap();
    m.ok(&s, &["sync", "enable", "--repo", "web"]);
    let dry = m.sync_json(&s, &["--dry-run"]);
    let again = m.sync_json(&s, &[]);
    assert_eq!(again["generation"], 1, "{again}");
    assert_eq!(again["objects_uploaded"], dry["objects_uploaded"]);
    assert!(
        again["objects_uploaded"].as_i64().unwrap() > chunks,
        "{again}"
    );
    assert_eq!(s.repo_chunks("web"), Some(chunks));

    // Off, with the hosted copy deleted.
    let (_, said) = m.ok(&s, &["sync", "disable", "--delete"]);
    assert!(said.contains("Deleted the hosted copy"), "{said}");
    assert_eq!(s.repo_chunks("web"), None);
    let (status, _) = m.ok(&s, &["sync", "status"]);
    assert!(status.contains("sync:      off"), "{status}");
}

/// Messages a language server writes, one JSON value each.
fn lsp_messages(stdout: std::process::ChildStdout) -> Receiver<Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                match line.trim_end().strip_prefix("Content-Length: ") {
                    Some(n) => length = n.parse().unwrap(),
                    None if line.trim_end().is_empty() => break,
                    None => {}
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

fn lsp_send(stdin: &mut impl Write, message: Value) {
    let body = message.to_string();
    write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    stdin.flush().unwrap();
}

/// The next `scry/syncStatus` whose state is `state`, answering the server's requests on the
/// way; every message seen goes to `seen`.
fn wait_sync(
    rx: &Receiver<Value>,
    stdin: &mut impl Write,
    state: &str,
    seen: &mut Vec<Value>,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(message) = rx.recv_timeout(left) else {
            panic!("no scry/syncStatus {state} in time; seen: {seen:#?}")
        };
        seen.push(message.clone());
        if let (Some(id), Some(_)) = (message.get("id"), message.get("method")) {
            lsp_send(stdin, json!({"jsonrpc": "2.0", "id": id, "result": null}));
        }
        if message["method"] == "scry/syncStatus" && message["params"]["state"] == state {
            return message["params"].clone();
        }
    }
}

/// `scry lsp` on a machine's workspace, initialised.
struct Lsp {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    rx: Receiver<Value>,
    root: String,
}

impl Lsp {
    fn start(m: &Machine, s: &Service, env: &[(&str, &str)]) -> Lsp {
        let mut child = m
            .command(s, &["lsp"])
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let rx = lsp_messages(child.stdout.take().unwrap());
        let root = format!(
            "file://{}",
            m.workspace.path().canonicalize().unwrap().display()
        );
        lsp_send(
            &mut stdin,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "processId": null, "rootUri": root,
                "workspaceFolders": [{"uri": root, "name": "ws"}],
                "capabilities": {"window": {"workDoneProgress": true}},
            }}),
        );
        // As a client must: `initialized` only after the answer to `initialize`.
        let answer = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(answer["id"], 1, "{answer}");
        assert_eq!(
            answer["result"]["capabilities"]["experimental"]["scry"]["syncStatus"],
            "scry/syncStatus"
        );
        lsp_send(
            &mut stdin,
            json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
        );
        Lsp {
            child,
            stdin,
            rx,
            root,
        }
    }

    /// Sends a request and waits for its answer (the result, or the error as `Err`).
    fn request(&mut self, id: u64, method: &str, params: Value) -> Result<Value, Value> {
        lsp_send(
            &mut self.stdin,
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        loop {
            let message = self.rx.recv_timeout(Duration::from_secs(60)).unwrap();
            if message["id"] == id && message.get("method").is_none() {
                return match message.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(message["result"].clone()),
                };
            }
        }
    }

    fn wait_sync(&mut self, state: &str, seen: &mut Vec<Value>) -> Value {
        wait_sync(&self.rx, &mut self.stdin, state, seen)
    }

    fn stop(mut self) {
        lsp_send(
            &mut self.stdin,
            json!({"jsonrpc": "2.0", "id": 99, "method": "shutdown"}),
        );
        lsp_send(&mut self.stdin, json!({"jsonrpc": "2.0", "method": "exit"}));
        drop(self.stdin);
        assert!(self.child.wait().unwrap().success());
    }
}

#[test]
fn the_language_server_syncs_an_enabled_workspace_in_the_background() {
    let s = service();
    let m = Machine::new();
    m.ok(&s, &["sync", "enable", "--repo", "web"]);
    let mut lsp = Lsp::start(&m, &s, &[("SCRY_SYNC_QUIET_MS", "200")]);
    let root = lsp.root.clone();

    let mut seen = Vec::new();
    let first = lsp.wait_sync("synced", &mut seen);
    assert_eq!(first["root"], root);
    assert_eq!(first["generation"], 1);
    let chunks = s.repo_chunks("web").unwrap();
    assert!(chunks >= 4, "{chunks}");
    assert!(first["objectsUploaded"].as_i64().unwrap() > chunks);
    let began = seen.iter().any(|m| {
        m["method"] == "$/progress"
            && m["params"]["value"]["kind"] == "begin"
            && m["params"]["value"]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Syncing"))
    });
    assert!(began, "a $/progress for the sync: {seen:#?}");

    // An edit on disk: indexed, then synced as a new generation of a few objects.
    edit(
        m.workspace.path(),
        "src/parse.py",
        "text.split()",
        "text.split(',')",
    );
    let second = lsp.wait_sync("synced", &mut seen);
    assert_eq!(second["generation"], 2, "{second}");
    assert!(
        (2..=5).contains(&second["objectsUploaded"].as_i64().unwrap()),
        "{second}"
    );

    lsp_send(
        &mut lsp.stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "scry/status"}),
    );
    let status = loop {
        let message = lsp.rx.recv_timeout(Duration::from_secs(30)).unwrap();
        if message["id"] == 2 {
            break message["result"].clone();
        }
    };
    assert_eq!(status["sync"][0]["state"], "synced", "{status}");
    assert_eq!(status["sync"][0]["generation"], 2);
    let (log, _) = m.ok(&s, &["sync", "log", "--json"]);
    assert_eq!(
        log.lines().count(),
        2,
        "the ledger records background syncs: {log}"
    );

    lsp.stop();
}

#[test]
fn the_language_server_starts_a_fresh_clone_from_the_orgs_index() {
    let s = service();
    let teammate = Machine::new();
    teammate.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert_eq!(teammate.sync_json(&s, &[])["generation"], 1);

    let clone = Machine::new();
    clone.ok(&s, &["sync", "enable", "--repo", "web"]);
    let mut lsp = Lsp::start(&clone, &s, &[("SCRY_SYNC_QUIET_MS", "200")]);
    let mut seen = Vec::new();
    let synced = lsp.wait_sync("synced", &mut seen);
    assert_eq!(synced["generation"], 1, "the same tree: {synced}");
    let progress = |kind: &str| -> Vec<Value> {
        seen.iter()
            .filter(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == kind)
            .map(|m| m["params"]["value"].clone())
            .collect()
    };
    let fetching = progress("begin")
        .iter()
        .any(|v| v["title"] == "Fetching the org's index");
    assert!(fetching, "{seen:#?}");
    let ends: Vec<String> = progress("end")
        .iter()
        .filter_map(|v| v["message"].as_str().map(String::from))
        .collect();
    assert!(
        ends.contains(&"2 files to start from".to_string()),
        "{ends:?}"
    );
    lsp.stop();
    let (status, _) = clone.ok(&s, &["status", "--json"]);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        (status["reused"].as_i64(), status["embedded"].as_i64()),
        (Some(4), Some(2))
    );
}

#[test]
fn the_language_server_waiting_for_the_key_syncs_once_a_holder_hands_it_on() {
    let s = service();
    let (holder, waiting) = (Machine::person(&s), Machine::person(&s));
    holder.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert_eq!(holder.sync_json(&s, &[])["generation"], 1);
    waiting.ok(&s, &["sync", "enable", "--repo", "web"]);
    let mut lsp = Lsp::start(
        &waiting,
        &s,
        &[
            ("SCRY_SYNC_QUIET_MS", "200"),
            ("SCRY_SYNC_KEY_RETRY_MS", "300"),
        ],
    );
    let mut seen = Vec::new();
    let failed = lsp.wait_sync("failed", &mut seen);
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("has not reached this device"), "{message}");

    // Nothing changes in the workspace; the holder's next sync hands the key on, and the
    // waiting server's next look finds it.
    holder.sync_json(&s, &[]);
    let synced = lsp.wait_sync("synced", &mut seen);
    assert_eq!(synced["generation"], 1, "{synced}");
    assert_eq!(synced["objectsUploaded"], 0, "the same tree: {synced}");
    lsp.stop();
}

#[test]
fn a_second_device_gets_the_org_key_from_the_first_and_never_from_the_service() {
    let s = service();
    let (first, second) = (Machine::person(&s), Machine::person(&s));
    let (_, said) = first.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert!(said.contains("holds the org's data key"), "{said}");
    let made = first.sync_json(&s, &[]);
    assert_eq!(made["generation"], 1);

    // The second device registers, but no holder has handed the key on yet.
    let (_, said) = second.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert!(said.contains("has not reached this device yet"), "{said}");
    let waiting = second.scry(&s, &["sync"]);
    assert!(!waiting.status.success());
    let told = String::from_utf8_lossy(&waiting.stderr);
    assert!(told.contains("run `scry sync` there"), "{told}");

    // The first device's next sync wraps the key to it; the same tree then costs nothing.
    let again = first.sync_json(&s, &[]);
    assert_eq!(again["objects_uploaded"], 0);
    let joined = second.sync_json(&s, &[]);
    assert_eq!(joined["generation"], 1, "{joined}");
    assert_eq!(
        joined["objects_uploaded"], 0,
        "identical content is already there: {joined}"
    );
    let key_of = |m: &Machine| {
        m.credentials().unwrap()["org_keys"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone()
    };
    assert_eq!(key_of(&first), key_of(&second), "one key for the org");

    // What the service holds of it is wrapped copies only.
    let recipients = s.runtime.block_on(s.owner.recipients(&s.org)).unwrap();
    assert_eq!(recipients.recipients.len(), 2);
    assert!(recipients.recipients.iter().all(|r| r.has_key));
}

#[test]
fn a_key_made_with_scry_keys_syncs_from_bare_machines_at_once() {
    let s = service();
    let laptop = Machine::person(&s);
    laptop.ok(&s, &["sync", "enable", "--repo", "web"]);
    let made = laptop.sync_json(&s, &[]);
    assert_eq!(made["generation"], 1);

    let (secret, said) = laptop.ok(&s, &["keys", "create", "--name", "deploy"]);
    let secret = secret.trim().to_string();
    assert!(said.contains("shown once"), "{said}");
    let (api_key, material) = secret.rsplit_once('.').unwrap();
    assert!(
        api_key.starts_with("scry_live_") && material.len() == 64,
        "{secret}"
    );

    // Two CI jobs on bare machines: each syncs at once, and keeps nothing on disk.
    for _ in 0..2 {
        let job = Machine::ci(&secret);
        let (who, _) = job.ok(&s, &["whoami"]);
        assert!(who.contains("API key deploy"), "{who}");
        let (_, said) = job.ok(&s, &["sync", "enable", "--repo", "web"]);
        assert!(said.contains("holds the org's data key"), "{said}");
        let synced = job.sync_json(&s, &[]);
        assert_eq!(
            (
                synced["generation"].as_i64(),
                synced["objects_uploaded"].as_i64()
            ),
            (Some(1), Some(0)),
            "the same tree under the same org key: {synced}"
        );
        assert!(job.credentials().is_none(), "{:?}", job.credentials());
    }
    // The service has the material's public half, never the material.
    let listed = s.runtime.block_on(s.owner.recipients(&s.org)).unwrap();
    let ci: Vec<_> = listed
        .recipients
        .iter()
        .filter(|r| r.label == "API key deploy")
        .collect();
    assert_eq!(ci.len(), 1, "{listed:?}");
    assert!(ci[0].has_key);
    assert!(
        listed
            .recipients
            .iter()
            .all(|r| !material.contains(&r.public_key))
    );

    // A key made over plain HTTP carries no material: it waits for a holder once, then syncs
    // from any machine (its sync key is derived from it).
    let plain = Machine::new();
    plain.ok(&s, &["sync", "enable", "--repo", "web"]);
    let waiting = plain.scry(&s, &["sync"]);
    assert!(!waiting.status.success());
    assert!(String::from_utf8_lossy(&waiting.stderr).contains("run `scry sync` there"));
    laptop.sync_json(&s, &[]);
    let other = Machine::new();
    other.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert_eq!(other.sync_json(&s, &[])["objects_uploaded"], 0);

    // Revoked: the key is refused, the org moves to a new key epoch, and the next sync on the
    // laptop makes the new key and seals everything anew under it, retiring what was sealed
    // under the old one.
    let (list, _) = laptop.ok(&s, &["keys", "list"]);
    assert!(
        list.contains("deploy") && !list.contains(material),
        "{list}"
    );
    let (_, said) = laptop.ok(&s, &["keys", "revoke", "deploy"]);
    assert!(said.contains("Revoked API key deploy"), "{said}");
    let after = s.runtime.block_on(s.owner.recipients(&s.org)).unwrap();
    assert!(
        after.epoch > listed.epoch,
        "{} → {}",
        listed.epoch,
        after.epoch
    );
    assert!(!Machine::ci(&secret).scry(&s, &["whoami"]).status.success());
    let resealed = laptop.sync_json(&s, &[]);
    // Both files' records and nodes, their buckets (which the new key may group otherwise),
    // the root.
    let sent = resealed["objects_uploaded"].as_i64().unwrap();
    assert!((6..=7).contains(&sent), "{resealed}");
    assert_eq!(
        s.repo_chunks("web"),
        made["chunks"].as_i64(),
        "counted once"
    );
    let refs = s.runtime.block_on(async {
        let page = PageQuery {
            limit: Some(100),
            after: None,
        };
        let repos = s.owner.repos(&s.org, &page).await.unwrap();
        let web = repos.items.iter().find(|r| r.name == "web").unwrap();
        s.owner.refs(&s.org, &web.id).await.unwrap()
    });
    assert_eq!(refs.len(), 1, "{refs:?}");
}

#[test]
fn an_owner_restores_the_org_key_on_a_new_device_from_its_recovery_key() {
    let s = service();
    let lost = Machine::person(&s);
    lost.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert_eq!(lost.sync_json(&s, &[])["generation"], 1);
    let (recovery, said) = lost.ok(&s, &["sync", "recovery-key"]);
    let recovery = recovery.trim().to_string();
    assert!(recovery.starts_with("SCRY-"), "{recovery}");
    assert!(said.contains("Keep it offline"), "{said}");
    // Once per key: a second print is refused and prints nothing.
    let again = lost.scry(&s, &["sync", "recovery-key"]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && again.stdout.is_empty(), "{said}");
    assert!(said.contains("written down already"), "{said}");
    let ci = Machine::new();
    let refused = ci.scry(&s, &["sync", "recovery-key"]);
    assert!(!refused.status.success(), "API keys print no recovery key");

    // The only device that held the key is gone; a new one can only wait, until the owner
    // types the recovery key in.
    let fresh = Machine::person(&s);
    fresh.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert!(!fresh.scry(&s, &["sync"]).status.success());
    let recover = |text: &str| {
        let mut child = fresh
            .command(&s, &["sync", "recover"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{text}").unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut typo: Vec<char> = recovery.chars().collect();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == 'A' { 'B' } else { 'A' };
    let (ok, said) = recover(&typo.iter().collect::<String>());
    assert!(!ok && said.contains("not a recovery key"), "{said}");
    let other = scry_client::sealing::OrgKey::generate(1).to_recovery();
    let (ok, said) = recover(&other);
    assert!(!ok && said.contains("not the org's current key"), "{said}");

    let (ok, said) = recover(&recovery.to_lowercase());
    assert!(ok && said.contains("Restored"), "{said}");
    let synced = fresh.sync_json(&s, &[]);
    assert_eq!(
        (
            synced["generation"].as_i64(),
            synced["objects_uploaded"].as_i64()
        ),
        (Some(1), Some(0)),
        "the org's own key again: {synced}"
    );
}

#[test]
fn a_sync_killed_anywhere_converges_when_run_again() {
    let s = service();
    let m = Machine::new();
    for i in 0..300 {
        let path = m.workspace.path().join(format!("pkg/mod{i}.py"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = format!(
            "def handler_{i}(request):\n    return request.get('id{i}')\n\n\n\
             def render_{i}(items):\n    return ', '.join(str(x) for x in items[{i}:])\n"
        );
        std::fs::write(path, text).unwrap();
    }
    m.ok(&s, &["sync", "enable", "--repo", "web"]);
    m.ok(&s, &["index"]);

    // Killed at moments spread over a sync (planning, negotiating, uploading, committing,
    // keeping the tree), then run again: each time the account ends up with exactly the tree.
    for (round, delay_ms) in [0u64, 10, 30, 60, 100, 150, 250, 400]
        .into_iter()
        .enumerate()
    {
        edit(
            m.workspace.path(),
            &format!("pkg/mod{round}.py"),
            "return request",
            "return request or {}",
        );
        let mut child = m
            .command(&s, &["sync", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        m.sync_json(&s, &[]);
        let settled = m.sync_json(&s, &["--dry-run"]);
        assert_eq!(settled["objects_uploaded"], 0, "round {round}: {settled}");
        assert_eq!(
            s.repo_chunks("web"),
            settled["chunks"].as_i64(),
            "round {round}: the count is exact"
        );
    }
    // The tree kept from the last sync damaged: the next sync plans everything and finds it
    // all there.
    let kept = find_file(m.index.path(), "sync-tree.bin").expect("a kept tree");
    std::fs::write(&kept, b"\xffnot a tree").unwrap();
    let replanned = m.sync_json(&s, &[]);
    assert_eq!(replanned["objects_uploaded"], 0, "{replanned}");
    assert_eq!(s.repo_chunks("web"), replanned["chunks"].as_i64());

    // Another machine with the same files (and the same org key) finds its whole tree there.
    let other = Machine::new();
    let copy = |from: &Path, to: &Path| {
        for entry in std::fs::read_dir(from.join("pkg")).unwrap() {
            let entry = entry.unwrap();
            std::fs::create_dir_all(to.join("pkg")).unwrap();
            std::fs::copy(entry.path(), to.join("pkg").join(entry.file_name())).unwrap();
        }
        for f in ["src/parse.py", "src/store.rs"] {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
    };
    copy(m.workspace.path(), other.workspace.path());
    other.ok(&s, &["sync", "enable", "--repo", "web"]);
    let fresh = other.sync_json(&s, &["--dry-run"]);
    assert_eq!(fresh["objects_uploaded"], 0, "the same root: {fresh}");
}

#[test]
fn a_fresh_clone_starts_from_the_orgs_index_and_trusts_only_identical_files() {
    let s = service();
    let teammate = Machine::new();
    for i in 0..30 {
        let text = format!(
            "def handler_{i}(request):\n    return request.get('id{i}')\n\n\n\
             def render_{i}(items):\n    return ', '.join(str(x) for x in items[{i}:])\n"
        );
        write(&teammate, &format!("pkg/mod{i}.py"), &text);
    }
    teammate.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert_eq!(teammate.sync_json(&s, &[])["generation"], 1);

    // A clone of the same files, one of them edited here and one new: the edited file's
    // records are not trusted, whatever the account holds of that path.
    let clone = |edited: bool| {
        let m = Machine::new();
        for i in 0..30 {
            let name = format!("pkg/mod{i}.py");
            let from = teammate.workspace.path().join(&name);
            write(&m, &name, &std::fs::read_to_string(from).unwrap());
        }
        if edited {
            edit(
                m.workspace.path(),
                "pkg/mod7.py",
                "request.get",
                "request.fetch",
            );
            write(
                &m,
                "pkg/extra.py",
                "def audit_trail(events):\n    return sorted(events)\n",
            );
        }
        m
    };
    let status = |m: &Machine| -> Value {
        serde_json::from_str(&m.ok(&s, &["status", "--json"]).0).unwrap()
    };
    let ours = clone(true);
    ours.ok(&s, &["sync", "enable", "--repo", "web"]);
    let (_, reused_said) = ours.ok(&s, &["index"]);
    assert!(
        reused_said.contains("of generation 1 of web"),
        "{reused_said}"
    );
    let reused = status(&ours);
    // src/parse.py (2), src/store.rs (2) and 29 files of 2 chunks each came from the account;
    // mod7 (2), extra (1) and the two secrets files (which never left the teammate) were
    // chunked and embedded here.
    assert_eq!(reused["reused"], 62, "{reused}");
    assert_eq!(reused["embedded"], 5, "{reused}");

    // Exactly what an index made here from nothing holds and finds.
    let fresh = clone(true);
    fresh.ok(&s, &["sync", "enable", "--repo", "web"]);
    fresh.ok(&s, &["index", "--no-reuse"]);
    let from_nothing = status(&fresh);
    assert_eq!(from_nothing["reused"], 0, "{from_nothing}");
    for key in ["files", "chunks", "vectors"] {
        assert_eq!(reused[key], from_nothing[key], "{key}");
    }
    for query in [
        "fetch the request id",
        "render items",
        "audit trail of events",
        "load",
    ] {
        let hits = |m: &Machine| m.ok(&s, &["search", "--json", query]).0;
        assert_eq!(hits(&ours), hits(&fresh), "{query}");
    }

    // A search is the first thing run in another clone: it starts from the account too.
    let searching = clone(false);
    searching.ok(&s, &["sync", "enable", "--repo", "web"]);
    let (found, said) = searching.ok(&s, &["search", "--json", "render items"]);
    assert!(said.contains("reused 64 chunks"), "{said}");
    // The edited clone did not fetch the records of the file it had edited.
    assert!(
        fetched_kb(&reused_said) < fetched_kb(&said),
        "{reused_said}\n{said}"
    );
    assert!(found.contains("pkg/mod"), "{found}");
    assert_eq!(status(&searching)["embedded"], 2, "the secrets files");

    // An unlinked workspace, or one whose org key cannot be had, indexes everything itself.
    let alone = clone(false);
    alone.ok(&s, &["index"]);
    assert_eq!(status(&alone)["reused"], 0);
}

#[test]
fn a_clone_starts_from_its_branch_as_ci_published_it() {
    let s = service();
    let on_branch = |branch: &str| {
        let m = Machine::new();
        checkout(&m, branch);
        m
    };
    // CI publishes main from a checkout that is on no branch; a teammate's edited copy syncs
    // its own branch after.
    let ci = on_branch("detached-head-of-ci");
    ci.ok(&s, &["sync", "enable", "--repo", "web"]);
    let published = ci.sync_json(&s, &["--ref", "main"]);
    assert_eq!(
        (published["ref"].as_str(), published["generation"].as_i64()),
        (Some("main"), Some(1))
    );
    let teammate = on_branch("wip");
    edit(
        teammate.workspace.path(),
        "src/parse.py",
        "text.split()",
        "text.split(';')",
    );
    teammate.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert_eq!(teammate.sync_json(&s, &[])["ref"], "wip");

    // A laptop on main takes main (every file the same: only the secrets are embedded here);
    // one on a branch nobody synced takes the generation most like its files, not the latest.
    let status = |m: &Machine| -> Value {
        serde_json::from_str(&m.ok(&s, &["status", "--json"]).0).unwrap()
    };
    let laptop = on_branch("main");
    laptop.ok(&s, &["sync", "enable", "--repo", "web"]);
    let (_, said) = laptop.ok(&s, &["index"]);
    assert!(said.contains("(this branch;"), "{said}");
    assert_eq!(
        (
            status(&laptop)["reused"].as_i64(),
            status(&laptop)["embedded"].as_i64()
        ),
        (Some(4), Some(2))
    );
    let like_main = on_branch("feature");
    like_main.ok(&s, &["sync", "enable", "--repo", "web"]);
    let (_, said) = like_main.ok(&s, &["index"]);
    assert!(
        said.contains("of generation 1 of web (another branch;"),
        "{said}"
    );
    assert_eq!(status(&like_main)["reused"], 4, "main's: {said}");
    let like_wip = on_branch("fix");
    edit(
        like_wip.workspace.path(),
        "src/parse.py",
        "text.split()",
        "text.split(';')",
    );
    like_wip.ok(&s, &["sync", "enable", "--repo", "web"]);
    like_wip.ok(&s, &["index"]);
    assert_eq!(status(&like_wip)["reused"], 4, "the teammate's");
}

#[test]
fn a_revoked_key_fetches_nothing_of_the_orgs_index() {
    let s = service();
    let laptop = Machine::person(&s);
    laptop.ok(&s, &["sync", "enable", "--repo", "web"]);
    laptop.sync_json(&s, &[]);
    let (secret, _) = laptop.ok(&s, &["keys", "create", "--name", "deploy"]);
    let secret = secret.trim().to_string();
    let reused = |m: &Machine| -> (Value, String) {
        m.ok(&s, &["sync", "enable", "--repo", "web"]);
        let (_, said) = m.ok(&s, &["index"]);
        let status: Value = serde_json::from_str(&m.ok(&s, &["status", "--json"]).0).unwrap();
        (status["reused"].clone(), said)
    };
    let (chunks, said) = reused(&Machine::ci(&secret));
    assert_eq!(chunks, 4, "{said}");

    // Revoked after a clone was linked with it: the org moves to a new key, the laptop
    // reseals under it, and the clone gets neither the objects nor the key; it indexes
    // everything itself.
    let job = Machine::ci(&secret);
    job.ok(&s, &["sync", "enable", "--repo", "web"]);
    laptop.ok(&s, &["keys", "revoke", "deploy"]);
    let resealed = laptop.sync_json(&s, &[]);
    assert!(
        resealed["objects_uploaded"].as_i64() > Some(0),
        "{resealed}"
    );
    let (_, said) = job.ok(&s, &["index"]);
    assert!(
        said.contains("warning: cannot start from the org's index"),
        "{said}"
    );
    let status: Value = serde_json::from_str(&job.ok(&s, &["status", "--json"]).0).unwrap();
    assert_eq!(status["reused"], 0, "{said}");
}

/// The kB a reuse line says it fetched.
fn fetched_kb(said: &str) -> f64 {
    let fetched = said
        .split("; ")
        .nth(1)
        .and_then(|s| s.split(" kB fetched").next());
    fetched
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"))
}

/// Puts `m`'s workspace on `branch`, as far as Scry can tell (a `.git/HEAD`).
fn checkout(m: &Machine, branch: &str) {
    let git = m.workspace.path().join(".git");
    std::fs::create_dir_all(&git).unwrap();
    std::fs::write(git.join("HEAD"), format!("ref: refs/heads/{branch}\n")).unwrap();
}

#[test]
fn a_branch_switch_with_the_built_in_model_indexes_here() {
    let s = service();
    let module = |i: usize, variant: &str| {
        format!(
            "def handler_{i}(request):\n    return request.get('{variant}{i}')\n\n\n\
             def render_{i}(items):\n    return ', '.join(str(x) for x in items[{i}:])\n"
        )
    };
    let write_modules = |m: &Machine, n: usize, variant: &str| {
        for i in 0..n {
            let path = m.workspace.path().join(format!("pkg/mod{i}.py"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, module(i, variant)).unwrap();
        }
    };
    let (teammate, laptop) = (Machine::new(), Machine::new());
    for m in [&teammate, &laptop] {
        checkout(m, "main");
        write_modules(m, 300, "id");
        m.ok(&s, &["sync", "enable", "--repo", "web"]);
    }
    teammate.sync_json(&s, &[]);
    let (_, first) = laptop.ok(&s, &["index"]);
    assert!(first.contains("reused 604 chunks"), "{first}");
    // The teammate's branch rewrites 280 of the 300 modules.
    checkout(&teammate, "feature");
    write_modules(&teammate, 280, "key");
    assert_eq!(teammate.sync_json(&s, &[])["ref"], "feature");

    // With the built-in model chunking and embedding 280 files here is cheaper than fetching
    // the branch's file list (bench/reuse.sh: 1.72 s against 2.02 s on the stdlib); only a
    // slow model's update asks (see scry-core's index tests).
    checkout(&laptop, "feature");
    write_modules(&laptop, 280, "key");
    let (_, said) = laptop.ok(&s, &["index"]);
    assert!(!said.contains("reused"), "{said}");
    let status: Value = serde_json::from_str(&laptop.ok(&s, &["status", "--json"]).0).unwrap();
    assert_eq!(
        (status["reused"].as_i64(), status["embedded"].as_i64()),
        (Some(0), Some(280)),
        "the changed handlers; the renders' vectors were kept"
    );
}

/// The first file called `name` under `dir`.
/// The first file or directory named `name` under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if path.is_dir()
            && let Some(found) = find_file(&path, name)
        {
            return Some(found);
        }
    }
    None
}

#[test]
fn an_org_search_ranks_every_synced_repository_and_works_offline() {
    let s = service();
    let mut web = Machine::new();
    write(
        &web,
        "src/upload.py",
        "def retry_upload(blob, attempts):\n    for _ in range(attempts):\n        send(blob)\n",
    );
    web.ok(&s, &["sync", "enable", "--repo", "web"]);
    web.sync_json(&s, &[]);
    let geo = Machine::new();
    write(
        &geo,
        "geo/area.py",
        "def circle_area(radius):\n    return 3.14159 * radius * radius\n",
    );
    geo.ok(&s, &["sync", "enable", "--repo", "geo"]);
    geo.sync_json(&s, &[]);

    let search = |m: &Machine, args: &[&str]| -> (Vec<Value>, String) {
        let mut all = vec!["search", "--org", "--json"];
        all.extend(args);
        let (out, said) = m.ok(&s, &all);
        let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        (line["results"].as_array().unwrap().clone(), said)
    };
    // From a checkout of one repository, the other's code is found as its owner synced it.
    let (hits, said) = search(&web, &["area of a circle"]);
    assert!(said.contains("2 repositories (2 fetched"), "{said}");
    assert_eq!(hits[0]["repo"], "geo", "{hits:#?}");
    assert_eq!(hits[0]["path"], "geo/area.py");
    assert_eq!(hits[0]["symbol"], "circle_area");
    assert_eq!(
        (hits[0]["start_line"].as_u64(), hits[0]["end_line"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(hits[0]["snippet"], "", "no code travels");
    // This checkout's own repository shows its code, read here.
    let (hits, said) = search(&web, &["retry an upload"]);
    assert!(said.contains("(0 fetched"), "nothing changed: {said}");
    assert_eq!(
        (hits[0]["repo"].as_str(), hits[0]["path"].as_str()),
        (Some("web"), Some("src/upload.py"))
    );
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .starts_with("def retry_upload")
    );
    // --repo keeps to the named repositories; an unknown one is named with those there are.
    let (hits, _) = search(&web, &["--repo", "web", "area of a circle"]);
    assert!(hits.iter().all(|h| h["repo"] == "web"), "{hits:#?}");
    let out = web.scry(&s, &["search", "--org", "--repo", "nope", "x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("no synced repository nope")
            && err.contains("geo, web"),
        "{err}"
    );

    // A new generation of a repository is fetched once; the others stay as they were.
    edit(
        geo.workspace.path(),
        "geo/area.py",
        "circle_area",
        "disc_area",
    );
    geo.sync_json(&s, &[]);
    let (hits, said) = search(&web, &["disc_area"]);
    assert!(said.contains("(1 fetched"), "{said}");
    assert_eq!(hits[0]["symbol"], "disc_area");

    // The language server answers the same with "scope": "org"; a result elsewhere has no URI.
    let mut lsp = Lsp::start(&web, &s, &[]);
    let org = |lsp: &mut Lsp, id: u64, query: &str| -> Vec<Value> {
        let params = json!({"query": query, "scope": "org", "limit": 5});
        let found = lsp.request(id, "scry/search", params).unwrap();
        found.as_array().unwrap().clone()
    };
    let found = org(&mut lsp, 10, "disc_area");
    assert_eq!(
        (found[0]["repo"].as_str(), found[0]["uri"].is_null()),
        (Some("geo"), true)
    );
    let found = org(&mut lsp, 11, "retry an upload");
    assert_eq!(found[0]["repo"], "web");
    assert!(
        found[0]["uri"]
            .as_str()
            .unwrap()
            .ends_with("/src/upload.py"),
        "{found:#?}"
    );
    lsp.stop();

    // A repository the service cannot give whole (a damaged object) keeps its copy here and
    // leaves the others to refresh.
    edit(
        geo.workspace.path(),
        "geo/area.py",
        "disc_area",
        "round_area",
    );
    geo.sync_json(&s, &[]);
    edit(
        web.workspace.path(),
        "src/upload.py",
        "retry_upload",
        "resend_upload",
    );
    web.sync_json(&s, &[]);
    s.damage_objects(&s.repo_id("geo"));
    let (hits, said) = search(&web, &["resend_upload"]);
    assert!(said.contains("geo was not brought up to date"), "{said}");
    assert_eq!(hits[0]["symbol"], "resend_upload", "web was refreshed");
    let (hits, _) = search(&web, &["disc_area"]);
    assert_eq!(hits[0]["symbol"], "disc_area", "geo as kept: {hits:#?}");

    // With sealed snippets (an admin's choice for the org), code travels sealed: a result
    // of a repository not checked out here shows it, and its words are matched.
    let admin = Machine::person(&s);
    let (_, said) = admin.ok(
        &s,
        &["sync", "enable", "--repo", "admin", "--sealed-snippets"],
    );
    assert!(said.contains("Sealed snippets on"), "{said}");
    let synced = geo.sync_json(&s, &[]);
    assert_eq!(synced["snippets"], true, "{synced}");
    let (hits, said) = search(&web, &["radius"]);
    assert!(
        said.contains("1 fetched"),
        "the new generation replaced the damaged one: {said}"
    );
    assert_eq!(hits[0]["repo"], "geo", "{hits:#?}");
    assert!(
        (hits[0]["snippet"].as_str().unwrap()).starts_with("def round_area(radius):"),
        "{hits:#?}"
    );

    // A repository deleted from the org leaves the copy kept here.
    geo.ok(&s, &["sync", "disable", "--delete"]);
    let (hits, said) = search(&web, &["disc_area"]);
    assert!(said.contains("1 repositories"), "{said}");
    assert!(hits.iter().all(|h| h["repo"] == "web"), "{hits:#?}");

    // A damaged copy is fetched again rather than reported.
    let orgs = find_file(web.index.path(), "orgs").unwrap();
    let mirror = find_file(&orgs, "index.redb").unwrap();
    std::fs::write(&mirror, b"not a database at all").unwrap();
    let (hits, said) = search(&web, &["retry an upload"]);
    assert!(said.contains("1 repositories (1 fetched"), "{said}");
    assert_eq!(hits[0]["path"], "src/upload.py");

    // Signed out, or with a revoked key, the copy kept here still answers, and says why.
    let revoked = Acting::Key("scry_revoked0000000000000000".into());
    for (acting, why) in [(Acting::Person, "not signed in"), (revoked, "HTTP 401")] {
        web.acting = acting;
        let (hits, said) = search(&web, &["retry an upload"]);
        assert!(
            said.contains(why) && said.contains("searching the copy of org"),
            "{said}"
        );
        assert_eq!(hits[0]["path"], "src/upload.py");
    }
    web.acting = Acting::ServiceKey;

    // With the service out of reach, the copy kept here still answers.
    let link = find_file(web.index.path(), "sync.json").unwrap();
    let text = std::fs::read_to_string(&link).unwrap();
    std::fs::write(&link, text.replace(&s.base, "http://127.0.0.1:9")).unwrap();
    let (hits, said) = search(&web, &["retry an upload"]);
    assert!(said.contains("searching the copy of org"), "{said}");
    assert_eq!(hits[0]["path"], "src/upload.py");

    // A workspace not linked to an org is told how to link it.
    let alone = Machine::new();
    let out = alone.scry(&s, &["search", "--org", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("scry sync enable"));
}

#[test]
fn hosted_search_serves_what_an_admin_opted_in_and_never_a_secret() {
    let s = service();
    let owner = Machine::person(&s);
    owner.ok(&s, &["sync", "enable", "--repo", "web"]);
    let synced = owner.sync_json(&s, &[]);
    assert!(synced["hosted"].is_null(), "off by default: {synced}");
    let member = Machine::new();
    let out = member.scry(&s, &["sync", "enable", "--repo", "web", "--hosted-search"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("admin"), "{err}");

    // The owner opts the repository in for the branch its checkout is on.
    let (_, said) = owner.ok(&s, &["sync", "enable", "--repo", "web", "--hosted-search"]);
    assert!(
        said.contains("Hosted search on for branch default"),
        "{said}"
    );
    let (out, _) = owner.ok(&s, &["sync", "--dry-run"]);
    assert!(
        out.contains("would send 2 texts") && out.contains("stored readable"),
        "{out}"
    );
    let synced = owner.sync_json(&s, &[]);
    let hosted = &synced["hosted"];
    assert_eq!(
        (
            hosted["branch"].as_str(),
            hosted["files"].as_u64(),
            hosted["texts_uploaded"].as_u64()
        ),
        (Some("default"), Some(2), Some(2)),
        "the two source files; the secrets stay here: {synced}"
    );
    let again = owner.sync_json(&s, &[]);
    assert_eq!(again["hosted"]["texts_uploaded"], 0, "nothing new: {again}");

    // A script with an API key searches the org with the CLI's engine and result shape.
    let bot = Client::builder(&s.base)
        .token(s.key.clone())
        .build()
        .unwrap();
    let search = |query: &str| {
        let request = SearchRequest {
            query: query.into(),
            repos: Vec::new(),
            limit: Some(5),
            lang: None,
            glob: None,
        };
        s.runtime
            .block_on(bot.search_org(&s.org, &request))
            .unwrap()
    };
    let found = search("split text into words");
    let first = &found.results[0];
    assert_eq!(
        (first.repo.as_deref(), first.path.as_str()),
        (Some("web"), "src/parse.py")
    );
    assert_eq!(first.symbol.as_deref(), Some("parse"));
    assert!(first.snippet.starts_with("def parse(text):"), "{first:?}");
    let (out, _) = owner.ok(&s, &["search", "--json", "split text into words"]);
    let local: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let local = &local["results"][0];
    assert_eq!(
        (
            local["path"].as_str(),
            local["start_line"].as_u64(),
            local["snippet"].as_str()
        ),
        (
            Some("src/parse.py"),
            Some(u64::from(first.start_line)),
            Some(first.snippet.as_str())
        ),
        "the same place and snippet as the CLI"
    );
    let secret = search("stripe key sk_live_do_not_leak api_token");
    assert!(
        secret.results.iter().all(|r| r.path.starts_with("src/")),
        "{secret:?}"
    );

    // The next sync of the branch is what the next search finds.
    edit(
        owner.workspace.path(),
        "src/parse.py",
        "def parse",
        "def tokenize_words",
    );
    owner.sync_json(&s, &[]);
    let found = search("tokenize_words");
    assert_eq!(found.results[0].symbol.as_deref(), Some("tokenize_words"));

    // Off: the service forgets the code, and syncs send only sealed objects again.
    let (_, said) = owner.ok(
        &s,
        &["sync", "enable", "--repo", "web", "--no-hosted-search"],
    );
    assert!(said.contains("Hosted search off"), "{said}");
    assert!(search("tokenize_words").results.is_empty());
    assert!(owner.sync_json(&s, &[])["hosted"].is_null());
}
