//! The app's commands through Tauri's mock runtime (the same builder the app runs), against a
//! real `scry-server` (SQLite) on loopback: sign-in by password and by device flow, orgs, sign
//! out, local workspaces indexed live and searched, and the errors a person meets.
//!
//! One test: the app reads `SCRY_SERVER` and the XDG directories from the environment, which
//! a process has only one of.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use scry_client::Client;
use serde_json::{Value, json};
use tauri::Listener;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::{InvokeRequest, WebviewWindow, WebviewWindowBuilder};

const PASSWORD: &str = "correct horse battery";

/// A service on a free loopback port, on its own runtime; its base URL and outbox.
fn service(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let mut config = scry_server::config::Config {
        data_dir: dir.to_path_buf(),
        device_poll_interval_s: 1,
        ..Default::default()
    };
    config.tiers.get_mut("free").unwrap().requests_per_minute = 10_000;
    let outbox = config.outbox();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let store = scry_server::open_store(&config).await.unwrap();
            let clock = std::sync::Arc::new(scry_server::clock::SystemClock);
            let app = scry_server::app(store, clock, config).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap()))
                .unwrap();
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
    });
    (rx.recv().unwrap(), outbox)
}

/// Runs `cmd` with `args` as the page would: the answer, or the command's error.
fn invoke(webview: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}

/// The last verification token mailed to `email`.
fn mailed_token(outbox: &std::path::Path, email: &str) -> String {
    let mut files: Vec<_> = std::fs::read_dir(outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mail = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .rfind(|m| m.starts_with(&format!("To: {email}\r\n")))
        .expect("a message");
    let at = mail.find("scry_vfy_").unwrap();
    mail[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn a_person_signs_in_manages_orgs_and_searches_local_workspaces() {
    let home = tempfile::tempdir().unwrap();
    let (base, outbox) = service(&home.path().join("server"));
    // SAFETY: set before any thread of this test reads the environment.
    unsafe {
        std::env::set_var("SCRY_SERVER", &base);
        std::env::set_var("HOME", home.path());
        std::env::set_var("XDG_CONFIG_HOME", home.path().join("config"));
        std::env::set_var("XDG_CACHE_HOME", home.path().join("cache"));
        std::env::remove_var("SCRY_INDEX_DIR");
        // The device flow opens the browser: here, a command that does nothing.
        std::env::set_var("BROWSER", "true");
        // Background syncs a tenth of a second after a change, not thirty.
        std::env::set_var("SCRY_SYNC_QUIET_MS", "100");
        std::env::remove_var("SCRY_API_KEY");
        // No Secret Service here: the session goes to the 0600 fallback file, and says so.
        std::env::set_var(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/scry-test-bus",
        );
    }
    // A damaged workspace list from an earlier run is kept aside, not overwritten.
    let kept = home.path().join("config/scry/desktop-workspaces.json");
    std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
    std::fs::write(&kept, "[\"/half").unwrap();
    let app = scry_desktop::app(mock_builder(), mock_context(noop_assets())).unwrap();
    assert!(kept.with_extension("json.damaged").exists());
    let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    let (events, heard) = mpsc::channel::<(String, Value)>();
    for name in [
        "sign-in",
        "workspace",
        "workspace-progress",
        "sync",
        "sync-progress",
    ] {
        let events = events.clone();
        app.listen_any(name, move |e| {
            let payload = serde_json::from_str(e.payload()).unwrap();
            let _ = events.send((name.to_string(), payload));
        });
    }

    // Signed out at first.
    let status = invoke(&webview, "account_status", json!({})).unwrap();
    assert_eq!(status["server"], base.as_str());
    assert_eq!(status["email"], Value::Null);

    // A person with an account signs in with their password.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let anonymous = Client::builder(&base).build().unwrap();
    let email = "ann@example.com";
    runtime
        .block_on(anonymous.sign_up(email, PASSWORD))
        .unwrap();
    runtime
        .block_on(anonymous.verify_email(&mailed_token(&outbox, email)))
        .unwrap();
    let wrong = invoke(
        &webview,
        "sign_in_with_password",
        json!({"email": email, "password": "not it"}),
    )
    .unwrap_err();
    assert!(
        wrong["code"].is_string() && wrong["message"].is_string(),
        "{wrong}"
    );
    let status = invoke(
        &webview,
        "sign_in_with_password",
        json!({"email": email, "password": PASSWORD}),
    )
    .unwrap();
    assert_eq!(status["email"], email);
    let credential = status["credential"].as_str().unwrap();
    assert!(credential.contains("credentials.json"), "{credential}");

    // Orgs.
    let org = invoke(&webview, "create_org", json!({"name": "acme"})).unwrap();
    assert_eq!(
        (org["name"].as_str(), org["role"].as_str()),
        (Some("acme"), Some("owner"))
    );
    let status = invoke(&webview, "account_status", json!({})).unwrap();
    assert_eq!(status["orgs"][0]["name"], "acme");
    let empty = invoke(&webview, "create_org", json!({"name": ""})).unwrap_err();
    assert_eq!(empty["code"], "bad_request", "{empty}");
    assert!(
        empty["message"]
            .as_str()
            .unwrap()
            .starts_with("name must be"),
        "{empty}"
    );

    // Signing out ends the session on the server too.
    let token = std::fs::read_to_string(home.path().join("config/scry/credentials.json")).unwrap();
    let status = invoke(&webview, "sign_out", json!({})).unwrap();
    assert_eq!(status["email"], Value::Null);
    let refused = invoke(&webview, "create_org", json!({"name": "x"})).unwrap_err();
    assert_eq!(refused["code"], "not_signed_in");
    assert!(token.contains("scry_"), "the file held the session");

    // The device flow: the code is shown, approved in the browser (here: through the API by
    // the person, signed in elsewhere), and the app hears it.
    let start = invoke(&webview, "start_device_sign_in", json!({})).unwrap();
    let code = start["user_code"].as_str().unwrap().to_string();
    assert!(
        start["verification_uri_complete"]
            .as_str()
            .unwrap()
            .contains(&code)
    );
    let browser = runtime.block_on(anonymous.login(email, PASSWORD)).unwrap();
    let browser = anonymous.with_token(&browser.token);
    runtime
        .block_on(browser.device_verify(&code, true))
        .unwrap();
    let (_, outcome) = wait_for(&heard, |(name, _)| name == "sign-in");
    assert_eq!(outcome, json!({"outcome": "signed_in", "email": email}));
    let status = invoke(&webview, "account_status", json!({})).unwrap();
    assert_eq!(status["email"], email);
    // A denied one says so.
    let start = invoke(&webview, "start_device_sign_in", json!({})).unwrap();
    let code = start["user_code"].as_str().unwrap().to_string();
    runtime
        .block_on(browser.device_verify(&code, false))
        .unwrap();
    let (_, outcome) = wait_for(&heard, |(name, _)| name == "sign-in");
    assert_eq!(outcome["outcome"], "failed");
    assert_eq!(outcome["error"]["code"], "access_denied", "{outcome}");

    let org = org["id"].as_str().unwrap().to_string();
    let bob = runtime
        .block_on(anonymous.sign_up("bob@example.com", PASSWORD))
        .unwrap();
    runtime
        .block_on(anonymous.verify_email(&mailed_token(&outbox, "bob@example.com")))
        .unwrap();
    let bob_session = runtime
        .block_on(anonymous.login("bob@example.com", PASSWORD))
        .unwrap();
    let as_bob = anonymous.with_token(&bob_session.token);
    members_and_invitations(&webview, &runtime, &as_bob, &org, &bob.id);
    api_keys(&webview, &runtime, &anonymous, &org);

    // A local folder: indexed live, searchable, removed with its index.
    let project = home.path().join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("src/upload.py"),
        "def retry_upload(path, attempts=3):\n    \"\"\"Send a file again when the network fails.\"\"\"\n    for _ in range(attempts):\n        pass\n",
    )
    .unwrap();
    std::fs::write(
        project.join("src/render.rs"),
        "pub fn render(words: &[&str]) -> String {\n    words.join(\" \")\n}\n",
    )
    .unwrap();
    let missing = invoke(
        &webview,
        "add_workspace",
        json!({"path": "/no/such/folder"}),
    )
    .unwrap_err();
    assert_eq!(missing["code"], "no_workspace", "{missing}");
    let added = invoke(&webview, "add_workspace", json!({"path": project})).unwrap();
    let root = added["root"].as_str().unwrap().to_string();
    wait_for(&heard, |(name, p)| {
        name == "workspace" && p["state"] == "ready" && p["files"] == 2
    });
    let listed = invoke(&webview, "workspaces", json!({})).unwrap();
    assert_eq!(listed[0]["chunks"], 2, "{listed}");
    assert!(
        listed[0]["size"].as_str().unwrap().ends_with('B'),
        "{listed}"
    );
    assert!(
        listed[0]["updated"].as_str().unwrap().ends_with("ago"),
        "{listed}"
    );
    invoke(&webview, "reindex_workspace", json!({"root": root})).unwrap();
    let hits = invoke(
        &webview,
        "search",
        json!({"query": "retry the upload", "limit": 5}),
    )
    .unwrap();
    assert_eq!(hits[0]["path"], "src/upload.py", "{hits}");
    assert_eq!(hits[0]["root"], root.as_str());
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("def retry_upload")
    );
    opens_results_in_the_chosen_editor(&webview, home.path(), &root);
    // Kept for the next start.
    let kept =
        std::fs::read_to_string(home.path().join("config/scry/desktop-workspaces.json")).unwrap();
    assert!(kept.contains(&root), "{kept}");
    std::fs::write(project.join("secrets.yaml"), "token: hunter2\n").unwrap();
    wait_for(&heard, |(name, p)| {
        name == "workspace" && p["state"] == "ready" && p["files"] == 3
    });
    sync_and_plan(
        &webview,
        &heard,
        &runtime,
        &browser,
        &org,
        &root,
        &home.path().join("other"),
    );
    let index_dir = home.path().join("cache/scry");
    assert_eq!(std::fs::read_dir(&index_dir).unwrap().count(), 2);
    invoke(
        &webview,
        "remove_workspace",
        json!({"root": root, "deleteIndex": true}),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_dir(&index_dir).unwrap().count(),
        1,
        "the index is gone (the other workspace's stays)"
    );
    let left = invoke(&webview, "workspaces", json!({})).unwrap();
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_ne!(left[0]["root"], root.as_str());
    let gone = invoke(
        &webview,
        "remove_workspace",
        json!({"root": root, "deleteIndex": false}),
    )
    .unwrap_err();
    assert_eq!(gone["code"], "not_found");
}

/// An admin invites (the token shown once), withdraws, and manages a member's role.
fn members_and_invitations(
    webview: &WebviewWindow<MockRuntime>,
    runtime: &tokio::runtime::Runtime,
    as_bob: &Client,
    org: &str,
    bob: &str,
) {
    let sent = invoke(
        webview,
        "invite",
        json!({"org": org, "email": "bob@example.com", "role": "member"}),
    )
    .unwrap();
    let token = sent["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("scry_inv_"), "{sent}");
    let pending = invoke(webview, "invitations", json!({"org": org})).unwrap();
    assert_eq!(pending[0]["email"], "bob@example.com", "{pending}");
    let id = pending[0]["id"].clone();
    invoke(
        webview,
        "revoke_invitation",
        json!({"org": org, "invitation": id}),
    )
    .unwrap();
    assert_eq!(
        invoke(webview, "invitations", json!({"org": org})).unwrap(),
        json!([])
    );
    let withdrawn = runtime
        .block_on(as_bob.accept_invitation(&token))
        .unwrap_err();
    assert_eq!(withdrawn.code(), "not_found");

    let bad_role = invoke(
        webview,
        "invite",
        json!({"org": org, "email": "bob@example.com", "role": "boss"}),
    )
    .unwrap_err();
    assert_eq!(bad_role["code"], "invalid");
    let sent = invoke(
        webview,
        "invite",
        json!({"org": org, "email": "bob@example.com", "role": "viewer"}),
    )
    .unwrap();
    runtime
        .block_on(as_bob.accept_invitation(sent["token"].as_str().unwrap()))
        .unwrap();
    let members = invoke(webview, "members", json!({"org": org})).unwrap();
    let roles: Vec<(&str, &str)> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [("ann@example.com", "owner"), ("bob@example.com", "viewer")]
    );
    invoke(
        webview,
        "set_member_role",
        json!({"org": org, "user": bob, "role": "admin"}),
    )
    .unwrap();
    let members = invoke(webview, "members", json!({"org": org})).unwrap();
    assert_eq!(members[1]["role"], "admin");
    invoke(webview, "remove_member", json!({"org": org, "user": bob})).unwrap();
    assert_eq!(
        invoke(webview, "members", json!({"org": org}))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The last owner cannot leave.
    let leave = invoke(webview, "leave_org", json!({"org": org})).unwrap_err();
    assert_eq!(leave["code"], "conflict", "{leave}");
}

/// A key is shown once, works against the API, is listed by prefix, and fails once revoked.
fn api_keys(
    webview: &WebviewWindow<MockRuntime>,
    runtime: &tokio::runtime::Runtime,
    anonymous: &Client,
    org: &str,
) {
    let created = invoke(
        webview,
        "create_api_key",
        json!({"org": org, "name": "ci", "role": "member"}),
    )
    .unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with(created["key"]["prefix"].as_str().unwrap()));
    let as_key = anonymous.with_token(secret);
    let current = runtime.block_on(as_key.current_key()).unwrap();
    assert_eq!(current.org.id, org);
    let listed = invoke(webview, "api_keys", json!({"org": org})).unwrap();
    assert_eq!(listed[0]["name"], "ci", "{listed}");
    assert_eq!(listed[0]["role"], "member");
    assert!(listed[0].get("secret").is_none(), "a key is shown once");
    assert!(
        listed[0]["last_used"].as_str().unwrap().ends_with("ago"),
        "{listed}"
    );
    invoke(
        webview,
        "revoke_api_key",
        json!({"org": org, "key": created["key"]["id"]}),
    )
    .unwrap();
    let refused = runtime.block_on(as_key.current_key()).unwrap_err();
    assert_eq!(refused.kind(), scry_client::ErrorKind::Unauthorized);
    assert_eq!(
        invoke(webview, "api_keys", json!({"org": org})).unwrap(),
        json!([])
    );
}

/// A workspace's sync: preview, enable, sync now (the generation on the account), the ledger,
/// the plan's bars, the next repository over quota, the audit log and the export, and
/// deleting the org (typed confirmation).
fn sync_and_plan(
    webview: &WebviewWindow<MockRuntime>,
    heard: &mpsc::Receiver<(String, Value)>,
    runtime: &tokio::runtime::Runtime,
    person: &Client,
    org: &str,
    root: &str,
    other: &std::path::Path,
) {
    let off = invoke(webview, "sync_state", json!({"root": root})).unwrap();
    assert_eq!(off["state"], "off");
    let preview = invoke(webview, "sync_preview", json!({"root": root})).unwrap();
    assert_eq!(
        (preview["files"].as_u64(), preview["chunks"].as_u64()),
        (Some(2), Some(2)),
        "{preview}"
    );
    assert_eq!(preview["excluded"][0]["path"], "secrets.yaml", "{preview}");
    assert!(preview["privacy"].as_str().unwrap().contains("sealed"));
    let not_yet = invoke(webview, "sync_now", json!({"root": root})).unwrap_err();
    assert_eq!(not_yet["code"], "sync_off", "{not_yet}");

    let on = invoke(webview, "enable_sync", json!({"root": root, "org": org})).unwrap();
    assert_eq!(
        (on["state"].as_str(), on["repo_name"].as_str()),
        (Some("idle"), Some("project")),
        "{on}"
    );
    // Enabling took the org's data key: its fingerprint, this device holding it, and the
    // owner's recovery key shown once.
    let key = invoke(webview, "data_key", json!({"org": org})).unwrap();
    assert!(key["fingerprint"].is_string(), "{key}");
    assert_eq!(key["devices"][0]["this_device"], true, "{key}");
    assert_eq!(key["devices"][0]["holds_key"], true, "{key}");
    assert_eq!(key["recovery_written"], false);
    let recovery = invoke(webview, "recovery_key", json!({"org": org})).unwrap();
    assert_eq!(recovery["fingerprint"], key["fingerprint"]);
    assert!(recovery["key"].as_str().unwrap().len() > 40, "{recovery}");
    let twice = invoke(webview, "recovery_key", json!({"org": org})).unwrap_err();
    assert_eq!(twice["code"], "conflict", "{twice}");
    let key = invoke(webview, "data_key", json!({"org": org})).unwrap();
    assert_eq!(key["recovery_written"], true);

    let syncing = invoke(webview, "sync_now", json!({"root": root})).unwrap();
    assert_eq!(syncing["state"], "syncing");
    let (_, done) = wait_for(heard, |(name, _)| name == "sync");
    assert_eq!(done["outcome"], "synced", "{done}");
    assert!(
        done["view"]["last"]
            .as_str()
            .unwrap()
            .starts_with("generation 1"),
        "{done}"
    );
    let repos = invoke(webview, "account_repos", json!({"org": org})).unwrap();
    assert_eq!(repos[0]["name"], "project");
    assert_eq!(repos[0]["linked"], root);
    assert_eq!(repos[0]["generation"], 1, "{repos}");
    assert!(repos[0]["last_sync"].as_str().unwrap().ends_with("ago"));
    let repo = repos[0]["id"].as_str().unwrap();
    let refs = runtime.block_on(person.refs(org, repo)).unwrap();
    assert_eq!(refs[0].generation, 1, "the generation is on the account");
    let ledger = invoke(webview, "sync_ledger", json!({"root": root})).unwrap();
    assert_eq!(ledger.as_array().unwrap().len(), 1);

    // A change syncs by itself once quiet; paused, it does not.
    let render = std::path::Path::new(root).join("src/render.rs");
    std::fs::write(
        &render,
        "pub fn render(words: &[&str]) -> String {\n    words.concat()\n}\n",
    )
    .unwrap();
    let (_, done) = wait_for(heard, |(name, _)| name == "sync");
    assert_eq!(
        (done["outcome"].as_str(), done["generation"].as_i64()),
        (Some("synced"), Some(2)),
        "{done}"
    );
    let paused = json!({"server": "", "editor": "", "model": "", "exclude": [], "start_at_login": false, "pause_sync": true});
    invoke(webview, "save_settings", json!({"settings": paused})).unwrap();
    std::fs::write(&render, "pub fn render() {}\n").unwrap();
    wait_for(heard, |(name, p)| {
        name == "workspace" && p["state"] == "ready" && p["root"] == root
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        heard
            .try_iter()
            .all(|(name, _)| name != "sync" && name != "sync-progress"),
        "paused: no sync"
    );
    let manual = invoke(webview, "sync_now", json!({"root": root})).unwrap();
    assert_eq!(manual["state"], "syncing", "Sync now works while paused");
    let (_, done) = wait_for(heard, |(name, _)| name == "sync");
    assert_eq!(done["generation"], 3, "{done}");
    let ledger = invoke(webview, "sync_ledger", json!({"root": root})).unwrap();
    assert_eq!(ledger.as_array().unwrap().len(), 3);
    assert_eq!(
        (ledger[0]["files"].as_u64(), ledger[0]["excluded"].as_u64()),
        (Some(2), Some(1))
    );

    // The plan's bars; repositories up to the free tier's 3, then the next one is refused.
    let plan = invoke(webview, "plan", json!({"org": org})).unwrap();
    assert_eq!(plan["tier"], "free");
    assert_eq!(plan["quotas"][0]["what"], "repositories");
    assert_eq!(
        (
            plan["quotas"][0]["used"].as_i64(),
            plan["quotas"][0]["limit"].as_i64()
        ),
        (Some(1), Some(3))
    );
    assert_eq!(plan["quotas"][1]["used"], 2);
    assert_eq!(plan["days"].as_array().unwrap().len(), 30);
    assert!(plan["days"][29]["requests"].as_i64().unwrap() > 0, "{plan}");
    for name in ["web", "api"] {
        runtime.block_on(person.create_repo(org, name)).unwrap();
    }
    let plan = invoke(webview, "plan", json!({"org": org})).unwrap();
    assert_eq!(plan["quotas"][0]["used"], 3);
    std::fs::create_dir_all(other).unwrap();
    std::fs::write(other.join("main.go"), "package main\n\nfunc main() {}\n").unwrap();
    let added = invoke(webview, "add_workspace", json!({"path": other})).unwrap();
    let over = invoke(
        webview,
        "enable_sync",
        json!({"root": added["root"], "org": org, "repoName": "other"}),
    )
    .unwrap_err();
    assert_eq!(over["code"], "quota_exceeded", "{over}");
    assert!(
        over["message"].as_str().unwrap().contains("3 repositories"),
        "{over}"
    );

    // The audit log, filtered; the export saved where asked.
    let audit = invoke(webview, "audit", json!({"org": org, "action": "api_key."})).unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["api_key.created", "api_key.revoked"], "{audit}");
    let saved = other.join("export.json");
    let written = invoke(webview, "export_org", json!({"org": org, "path": saved})).unwrap();
    assert!(
        written
            .as_str()
            .unwrap()
            .starts_with(saved.to_str().unwrap()),
        "{written}"
    );
    let export: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    assert!(
        export.to_string().contains("project"),
        "the export holds the repositories"
    );

    let wrong = invoke(webview, "delete_org", json!({"org": org, "confirm": "acm"})).unwrap_err();
    assert_eq!(wrong["code"], "invalid");
    assert!(
        wrong["message"].as_str().unwrap().contains("acme"),
        "{wrong}"
    );
    invoke(
        webview,
        "disable_sync",
        json!({"root": root, "deleteRemote": false}),
    )
    .unwrap();
    invoke(
        webview,
        "delete_org",
        json!({"org": org, "confirm": "acme"}),
    )
    .unwrap();
    let status = invoke(webview, "account_status", json!({})).unwrap();
    assert_eq!(status["orgs"], json!([]));
}

/// Settings are checked, kept and applied; a result opens in the chosen editor at its line; a
/// path outside the workspace is refused.
fn opens_results_in_the_chosen_editor(
    webview: &WebviewWindow<MockRuntime>,
    home: &std::path::Path,
    root: &str,
) {
    use std::os::unix::fs::PermissionsExt;
    let opened = home.join("opened");
    let editor = home.join("editor.sh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\necho \"$@\" > {}.tmp && mv {0}.tmp {0}\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bad = json!({"server": "", "editor": "code 'unclosed", "model": "", "exclude": [], "start_at_login": false, "pause_sync": false});
    let refused = invoke(webview, "save_settings", json!({"settings": bad})).unwrap_err();
    assert_eq!(refused["code"], "invalid", "{refused}");
    let chosen = json!({
        "server": "",
        "editor": format!("{} --line {{line}} {{file}}", editor.display()),
        "model": "",
        "exclude": ["*.log"],
        "start_at_login": true,
        "pause_sync": false,
    });
    invoke(webview, "save_settings", json!({"settings": chosen})).unwrap();
    assert_eq!(invoke(webview, "settings", json!({})).unwrap(), chosen);
    let autostart = home.join("config/autostart/dev.scry.desktop.desktop");
    assert!(
        std::fs::read_to_string(&autostart)
            .unwrap()
            .contains("Exec=")
    );

    invoke(
        webview,
        "open_result",
        json!({"root": root, "path": "src/upload.py", "line": 2}),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !opened.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let args = std::fs::read_to_string(&opened).unwrap();
    assert_eq!(args.trim(), format!("--line 2 {root}/src/upload.py"));
    let outside = invoke(
        webview,
        "open_result",
        json!({"root": root, "path": "../editor.sh", "line": 1}),
    )
    .unwrap_err();
    assert_eq!(outside["code"], "invalid", "{outside}");

    let off = json!({"server": "", "editor": "", "model": "", "exclude": [], "start_at_login": false, "pause_sync": false});
    invoke(webview, "save_settings", json!({"settings": off})).unwrap();
    assert!(!autostart.exists(), "the autostart entry goes");
}

/// The first event `wanted` picks within a minute.
fn wait_for(
    heard: &mpsc::Receiver<(String, Value)>,
    wanted: impl Fn(&(String, Value)) -> bool,
) -> (String, Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match heard.recv_timeout(left) {
            Ok(event) if wanted(&event) => return event,
            Ok(_) => {}
            Err(_) => panic!("no such event within a minute"),
        }
    }
}
