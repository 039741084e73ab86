//! The test harness: the application over a fresh SQLite file or a fresh database in a
//! throwaway PostgreSQL cluster (started once per test binary from the installed binaries),
//! driven in-process with an injected clock. Each test binary uses some of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use scry_server::clock::ManualClock;
use scry_server::config::Config;
use scry_server::db::{Db, PgLimits};
use scry_server::model::Limits;
use scry_server::secrets::SecretBox;
use scry_server::store::SqlStore;
use serde_json::{Value, json};
use sqlx::{AnyPool, Row};
use tower::ServiceExt;

/// Runs each named `async fn case(Backend)` as two tests, `sqlite::case` and `postgres::case`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Backend::Postgres).await
                }
            )*
        }
    };
}

/// 2026-11-22 12:00 UTC.
pub const START: i64 = 1_795_348_800;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Harness {
    pub backend: Backend,
    pub app: Router,
    pub clock: Arc<ManualClock>,
    pub store: Arc<SqlStore>,
    pub config: Config,
    /// Where the database is: a SQLite file's directory, or the service's PostgreSQL login.
    pub url: String,
    /// PostgreSQL: the tables' owner, who migrates.
    pub owner_url: Option<String>,
    /// Unrestricted access to the same database, to check what the API cannot show.
    pub raw: AnyPool,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The error code of a JSON error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// The test configuration: the default tiers and throttles, except limits that single tests
/// stay under (every request comes from one unknown address).
pub fn config() -> Config {
    let mut config = Config {
        admin_token: Some("operator-secret".into()),
        ..Config::default()
    };
    for limits in config.tiers.values_mut() {
        limits.requests_per_minute = 10_000;
    }
    config.throttle.signups_per_address = 10_000;
    config.throttle.login_failures_per_address = 10_000;
    config.throttle.device_codes_per_address = 10_000;
    config
}

/// A harness's pool: 8 connections, the timeouts `config` sets.
pub fn pg_limits(config: &Config) -> PgLimits {
    PgLimits {
        max_connections: 8,
        ..PgLimits::of(config)
    }
}

/// The key a PostgreSQL harness seals secrets with (SQLite keeps one in its data directory).
pub const TEST_SECRETS_KEY: &str = "c2NyeS10ZXN0LXNlY3JldHMta2V5LTMyLWJ5dGVzISE=";

pub fn limits(max_repos: i64, max_chunks: i64, requests_per_minute: i64) -> Limits {
    Limits {
        max_repos,
        max_chunks,
        requests_per_minute,
    }
}

impl Harness {
    pub async fn new(backend: Backend, mut config: Config) -> Harness {
        sqlx::any::install_default_drivers();
        // The data directory holds the outbox (and, on SQLite, the database and its key).
        let dir = tempfile::tempdir().unwrap();
        config.data_dir = dir.path().to_path_buf();
        let (db, url, owner_url, raw_url) = match backend {
            Backend::Sqlite => {
                let db = Db::sqlite(dir.path()).await.unwrap();
                let path = dir.path().join("scry-server.db");
                let raw_url = format!("sqlite://{}", path.display());
                (db, dir.path().display().to_string(), None, raw_url)
            }
            Backend::Postgres => {
                let (owner, login) = fresh_postgres_database().await;
                let db = Db::postgres(&login, Some(&owner), pg_limits(&config))
                    .await
                    .unwrap();
                config.secrets_key = Some(TEST_SECRETS_KEY.into());
                (db, login, Some(owner.clone()), owner)
            }
        };
        let raw = AnyPool::connect(&raw_url).await.unwrap();
        let store = Arc::new(SqlStore::new(db));
        let clock = Arc::new(ManualClock::new(START));
        let app = scry_server::app(store.clone(), clock.clone(), config.clone()).unwrap();
        Harness {
            backend,
            app,
            clock,
            store,
            config,
            url,
            owner_url,
            raw,
            _dir: dir,
        }
    }

    /// The webhook sender of this harness's service.
    pub fn sender(&self) -> scry_server::webhooks::Sender {
        self.sender_on(self.store.clone())
    }

    /// A webhook sender over `store` (another replica's), configured as this service.
    pub fn sender_on(&self, store: Arc<SqlStore>) -> scry_server::webhooks::Sender {
        let secrets = SecretBox::new(&self.config.secrets_key().unwrap());
        scry_server::webhooks::Sender::new(store, self.clock.clone(), secrets, &self.config)
    }

    /// The messages mailed to `email` so far (the outbox's files), oldest first.
    pub fn mail_to(&self, email: &str) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.config.outbox())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .filter(|m| m.starts_with(&format!("To: {email}\r\n")))
            .collect()
    }

    /// The verification token of the last message mailed to `email`.
    pub fn verification_token(&self, email: &str) -> Option<String> {
        let mail = self.mail_to(email).pop()?;
        let at = mail.find("scry_vfy_")?;
        Some(
            mail[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect(),
        )
    }

    /// A second replica's storage: its own connections to the same database.
    pub async fn replica_store(&self) -> Arc<SqlStore> {
        let db = match self.backend {
            Backend::Sqlite => Db::sqlite(Path::new(&self.url)).await.unwrap(),
            Backend::Postgres => Db::postgres(
                &self.url,
                self.owner_url.as_deref(),
                pg_limits(&self.config),
            )
            .await
            .unwrap(),
        };
        Arc::new(SqlStore::new(db))
    }

    /// A second replica: the same database and clock.
    pub async fn replica(&self) -> Router {
        let store = self.replica_store().await;
        scry_server::app(store, self.clock.clone(), self.config.clone()).unwrap()
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        send(&self.app, method, path, token, body).await
    }

    /// A request as if from client address `ip` (what the listener would record), with a body
    /// of `content_type`.
    pub async fn call_from(
        &self,
        ip: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Reply {
        let addr: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type)
            .extension(axum::extract::ConnectInfo(addr));
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        reply(&self.app, request.body(Body::from(body.into())).unwrap()).await
    }

    /// A JSON POST as if from client address `ip`.
    pub async fn post_from(&self, ip: &str, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call_from(ip, path, token, "application/json", body.to_string())
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// A request with a raw body and content type.
    pub async fn raw_call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        reply(&self.app, request.body(Body::from(body)).unwrap()).await
    }

    /// Signs up, confirms the address from the mailed token, and logs in; returns (user id,
    /// session token).
    pub async fn user(&self, email: &str) -> (String, String) {
        let id = self.unverified_user(email).await;
        let token = self
            .verification_token(email)
            .expect("a verification email");
        let r = self
            .call(
                "POST",
                "/v1/users/verify",
                None,
                Some(json!({"token": token})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["email_verified"], true);
        (id, self.login(email).await)
    }

    /// Signs up without confirming the address; returns the user id.
    pub async fn unverified_user(&self, email: &str) -> String {
        let r = self
            .call(
                "POST",
                "/v1/users",
                None,
                Some(json!({"email": email, "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Logs in with the password `user` signs up with; returns the session token.
    pub async fn login(&self, email: &str) -> String {
        let r = self
            .call(
                "POST",
                "/v1/sessions",
                None,
                Some(json!({"email": email, "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["token"].as_str().unwrap().to_string()
    }

    /// Creates an organisation owned by `token`'s user; returns its id.
    pub async fn org(&self, token: &str, name: &str) -> String {
        let r = self.post("/v1/orgs", token, json!({"name": name})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Invites `email` into `org` with `role` and has `invitee_token` accept.
    pub async fn join(&self, org: &str, admin: &str, email: &str, role: &str, invitee: &str) {
        let r = self
            .post(
                &format!("/v1/orgs/{org}/invitations"),
                admin,
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let token = r.body["token"].as_str().unwrap();
        let r = self
            .post("/v1/invitations/accept", invitee, json!({"token": token}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    /// Rows of `table` that belong to `org`, seen past row-level security.
    pub async fn rows(&self, table: &str, org: &str) -> i64 {
        let column = if table == "orgs" { "id" } else { "org_id" };
        sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE {column} = $1"
        ))
        .bind(org)
        .fetch_one(&self.raw)
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap()
    }
}

pub async fn send(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path);
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    reply(app, request.body(body).unwrap()).await
}

async fn reply(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{status}: the body is not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Reply {
        status,
        headers,
        body,
    }
}

// ---- the throwaway PostgreSQL cluster --------------------------------------------------------

/// A new, empty database in the cluster: (the superuser's URL, as an operator's migration
/// account; the URL of `scry_login`, a role that may only log in, as the service's account).
pub async fn fresh_postgres_database() -> (String, String) {
    let base = cluster();
    let name = format!("t_{}", scry_server::auth::random_token(12).to_lowercase());
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    // Roles belong to the cluster: the first test makes it, the others find it.
    sqlx::query(
        "DO $$ BEGIN CREATE ROLE scry_login LOGIN NOINHERIT; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    let login = base.replace("postgres://postgres@", "postgres://scry_login@");
    (format!("{base}/{name}"), format!("{login}/{name}"))
}

/// Starts the cluster once per test binary: `initdb` in a temporary directory, a free port,
/// and a watchdog that stops it and removes the directory when this process ends, however it
/// ends.
fn cluster() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let bin = postgres_bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "scry-pg-{}-{}",
            std::process::id(),
            scry_server::auth::random_token(6)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // PostgreSQL refuses to run as root: the cluster then belongs to `postgres`.
        let as_root = is_root();
        if as_root {
            chown_to_postgres(&dir);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = format!(
            r#"set -e
"{bin}/initdb" -D "{dir}/data" -U postgres --auth=trust -E UTF8 --no-sync >"{dir}/initdb.log" 2>&1
"{bin}/pg_ctl" -D "{dir}/data" -l "{dir}/server.log" -w \
  -o "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null
echo started
set +e
while [ -d /proc/{parent} ]; do sleep 1; done
"{bin}/pg_ctl" -D "{dir}/data" -m immediate stop >/dev/null 2>&1
rm -rf "{dir}"
"#,
            bin = bin.display(),
            dir = dir.display(),
            parent = std::process::id(),
        );
        let mut command = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", &script]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start sh");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "started",
            "the throwaway PostgreSQL did not start; see {}/initdb.log and server.log",
            dir.display()
        );
        // The watchdog lives as long as this process; reap it if it ends first.
        std::thread::spawn(move || child.wait());
        format!("postgres://postgres@127.0.0.1:{port}")
    })
}

/// `SCRY_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
fn postgres_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SCRY_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(dir) = found.pop() {
        return dir;
    }
    let out = Command::new("pg_config").arg("--bindir").output();
    match out {
        Ok(o) if o.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string())
        }
        _ => panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: `scripts/test.sh` installs \
             them (apt install postgresql-15), or set SCRY_TEST_PG_BIN"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn chown_to_postgres(dir: &Path) {
    let ok = Command::new("chown")
        .args(["postgres:", &dir.display().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "running as root, the cluster needs the `postgres` user (apt install postgresql-15)"
    );
}

/// A synced index's tree as a client uploads it: a root node over file nodes over chunks.
/// Ids are made-up hex (the service cannot tell them from keyed hashes); bodies stand in for
/// ciphertext.
pub struct Tree {
    pub root: String,
    pub objects: Vec<Value>,
    pub chunks: usize,
}

/// 64 hex digits named by `label`.
pub fn object_id(label: &str) -> String {
    (0..4u64)
        .map(|salt| {
            // FNV-1a, salted: four independent 16-digit words.
            let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt;
            for b in label.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            format!("{h:016x}")
        })
        .collect()
}

/// A tree of `files`, each a name and its chunks' contents.
pub fn tree(files: &[(&str, &[&str])]) -> Tree {
    use base64::Engine;
    let body =
        |text: &str| base64::engine::general_purpose::STANDARD.encode(format!("sealed:{text}"));
    let mut objects = Vec::new();
    let mut file_ids = Vec::new();
    let mut chunks = std::collections::HashSet::new();
    for (name, contents) in files {
        let ids: Vec<String> = contents
            .iter()
            .map(|c| object_id(&format!("chunk:{c}")))
            .collect();
        for (id, c) in ids.iter().zip(*contents) {
            if chunks.insert(id.clone()) {
                objects.push(json!({"id": id, "kind": "records", "chunks": 1, "body": body(c)}));
            }
        }
        let file = object_id(&format!("file:{name}:{}", ids.join(",")));
        objects.push(json!({"id": file, "kind": "node", "children": ids, "body": body(name)}));
        file_ids.push(file);
    }
    let root = object_id(&format!("root:{}", file_ids.join(",")));
    objects.push(json!({"id": root, "kind": "node", "children": file_ids, "body": body("root")}));
    Tree {
        root,
        objects,
        chunks: chunks.len(),
    }
}

impl Tree {
    pub fn ids(&self) -> Vec<String> {
        self.objects
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn objects_of(&self, ids: &[Value]) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|o| ids.contains(&o["id"]))
            .cloned()
            .collect()
    }
}

impl Harness {
    /// Opens a session for `tree` on `ref_name` of `repo`: the reply.
    pub async fn open_sync(
        &self,
        org: &str,
        repo: &str,
        token: &str,
        ref_name: &str,
        tree: &Tree,
    ) -> Reply {
        self.post(
            &format!("/v1/orgs/{org}/repos/{repo}/index/sessions"),
            token,
            json!({"ref": ref_name, "root": tree.root, "chunks": tree.chunks}),
        )
        .await
    }

    /// Syncs `tree` to `ref_name` as a client does (session, missing, upload, commit on
    /// `base`): the commit's reply, or the session's when it was refused.
    pub async fn sync(
        &self,
        org: &str,
        repo: &str,
        token: &str,
        ref_name: &str,
        tree: &Tree,
        base: i64,
    ) -> Reply {
        let at = match self.upload(org, repo, token, ref_name, tree).await {
            Ok(at) => at,
            Err(refused) => return refused,
        };
        let epoch = self.key_epoch(org, token).await;
        self.post(
            &format!("{at}/commit"),
            token,
            json!({"base_generation": base, "model": "scry-static-v3", "key_epoch": epoch}),
        )
        .await
    }

    /// The org's current key epoch, which a commit names.
    pub async fn key_epoch(&self, org: &str, token: &str) -> i64 {
        let listed = self.get(&format!("/v1/orgs/{org}/recipients"), token).await;
        listed.body["epoch"]
            .as_i64()
            .unwrap_or_else(|| panic!("{}", listed.body))
    }

    /// Opens a session for `tree` and uploads what the service lacks of it: the session's
    /// path, or the session's reply when it was refused.
    pub async fn upload(
        &self,
        org: &str,
        repo: &str,
        token: &str,
        ref_name: &str,
        tree: &Tree,
    ) -> Result<String, Reply> {
        let session = self.open_sync(org, repo, token, ref_name, tree).await;
        if session.status != StatusCode::CREATED {
            return Err(session);
        }
        let at = format!(
            "/v1/orgs/{org}/repos/{repo}/index/sessions/{}",
            session.body["id"].as_str().unwrap()
        );
        let missing = self
            .post(&format!("{at}/missing"), token, json!({"ids": tree.ids()}))
            .await;
        assert_eq!(missing.status, StatusCode::OK, "{}", missing.body);
        let wanted = tree.objects_of(missing.body["missing"].as_array().unwrap());
        if !wanted.is_empty() {
            let put = self
                .call(
                    "PUT",
                    &format!("{at}/objects"),
                    Some(token),
                    Some(json!({"objects": wanted})),
                )
                .await;
            assert_eq!(put.status, StatusCode::OK, "{}", put.body);
        }
        Ok(at)
    }
}
