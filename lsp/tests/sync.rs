//! `scry sync` against a real `scry-server` on loopback (SQLite), acting with an org API key
//! on a machine without a credential store: enabling, a dry run that sends nothing, a first
//! sync, a no-op, an edit that sends only its path to the root, secrets left out, the ledger,
//! and disabling with the hosted copy deleted.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use scry_client::Client;
use scry_client::api::{PageQuery, Role};
use serde_json::Value;

struct Service {
    base: String,
    runtime: tokio::runtime::Runtime,
    /// The org's id and an owner's client.
    org: String,
    owner: Client,
    /// A member's API key, for the CLI.
    key: String,
    _data: tempfile::TempDir,
}

fn service() -> Service {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (base, org, owner, key) = runtime.block_on(async {
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
        let owner = anonymous.with_token(session.token);
        let org = owner.create_org("acme").await.unwrap().id;
        let key = owner
            .create_key(&org, "ci", Role::Member)
            .await
            .unwrap()
            .key;
        (base, org, owner, key)
    });
    Service {
        base,
        runtime,
        org,
        owner,
        key,
        _data: data,
    }
}

struct Machine {
    config: tempfile::TempDir,
    index: tempfile::TempDir,
    workspace: tempfile::TempDir,
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
        }
    }

    fn scry(&self, service: &Service, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_scry"))
            .args(args)
            .current_dir(self.workspace.path())
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("SCRY_INDEX_DIR", self.index.path())
            .env("SCRY_SERVER", &service.base)
            .env("SCRY_API_KEY", &service.key)
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/scry-test-bus",
            )
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
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

fn edit(root: &Path, path: &str, from: &str, to: &str) {
    let path = root.join(path);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

#[test]
fn a_workspace_syncs_sealed_only_when_enabled_and_only_what_changed() {
    let s = service();
    let m = Machine::new();

    let off = m.scry(&s, &["sync"]);
    assert!(!off.status.success());
    let said = String::from_utf8_lossy(&off.stderr);
    assert!(
        said.contains("sync is not enabled") && said.contains("scry sync enable"),
        "{said}"
    );

    let (_, said) = m.ok(&s, &["sync", "enable", "--repo", "web"]);
    assert!(said.contains("Sync enabled"), "{said}");
    assert!(said.contains("data key (fingerprint"), "{said}");
    // No credential store on this machine: the key went to the private file, and we were told.
    assert!(
        said.contains("warning:") && said.contains("credentials.json"),
        "{said}"
    );
    let file = m.config.path().join("scry").join("credentials.json");
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
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

    // One function edited: its chunk, its file, its bucket and the root.
    edit(
        m.workspace.path(),
        "src/store.rs",
        "std::fs::read(path)",
        "std::fs::read(path.trim())",
    );
    let edited = m.sync_json(&s, &[]);
    assert_eq!(edited["generation"], 2);
    let sent = edited["objects_uploaded"].as_i64().unwrap();
    assert!((2..=5).contains(&sent), "{edited}");
    assert!(
        edited["bytes_uploaded"].as_i64().unwrap() < first["bytes_uploaded"].as_i64().unwrap() / 2
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

    // Off, with the hosted copy deleted.
    let (_, said) = m.ok(&s, &["sync", "disable", "--delete"]);
    assert!(said.contains("Deleted the hosted copy"), "{said}");
    assert_eq!(s.repo_chunks("web"), None);
    let (status, _) = m.ok(&s, &["sync", "status"]);
    assert!(status.contains("sync:      off"), "{status}");
}
