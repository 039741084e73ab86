//! `scry-server` killed with SIGKILL at random moments of syncs (opening a session, asking
//! what is missing, uploading, committing), on SQLite and PostgreSQL: after each restart the
//! ref holds the old generation or the new one, never a mix; every object's reference count
//! equals its live parents plus the refs rooted at it; the repository's chunk count is exact;
//! and the interrupted sync, run again, completes.

#[macro_use]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{AnyPool, Row};
use support::{Backend, Tree, tree};

on_both_backends!(a_server_killed_mid_sync_keeps_whole_generations);

/// How many syncs are interrupted (`SCRY_CRASH_ROUNDS` for more).
const ROUNDS: usize = 8;

struct Server {
    child: Child,
    base: String,
}

/// Where the service keeps its data, and how to start it there.
struct Deployment {
    data: tempfile::TempDir,
    addr: String,
    database: Option<(String, String)>,
}

impl Deployment {
    async fn new(backend: Backend) -> Deployment {
        let data = tempfile::tempdir().unwrap();
        let config = "[tiers.free]\nmax_repos = 3\nmax_chunks = 1000000\n\
                      requests_per_minute = 1000000\n";
        std::fs::write(data.path().join("config.toml"), config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(support::fresh_postgres_database().await),
        };
        Deployment {
            data,
            addr: format!("127.0.0.1:{port}"),
            database,
        }
    }

    async fn start(&self) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scry-server"));
        cmd.arg("--config")
            .arg(self.data.path().join("config.toml"))
            .args(["--addr", &self.addr])
            .arg("--data-dir")
            .arg(self.data.path())
            .env("SCRY_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((owner, login)) = &self.database {
            cmd.args(["--database-url", login, "--migration-database-url", owner])
                .args(["--secrets-key", support::TEST_SECRETS_KEY]);
        }
        let child = cmd.spawn().unwrap();
        let base = format!("http://{}", self.addr);
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        while http.get(format!("{base}/healthz")).send().await.is_err() {
            assert!(Instant::now() < deadline, "scry-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Server { child, base }
    }

    /// Unrestricted access to the database, to check what the API cannot show.
    async fn raw(&self) -> AnyPool {
        let url = match &self.database {
            Some((owner, _)) => owner.clone(),
            None => format!(
                "sqlite://{}",
                self.data.path().join("scry-server.db").display()
            ),
        };
        AnyPool::connect(&url).await.unwrap()
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Value) -> reqwest::Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let reply = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = reply.status().as_u16();
        let bytes = reply.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// One sync of `tree` to `main` on `base`, as a client runs it: the commit's reply. An
    /// error when the service went away on the way.
    async fn sync(&self, at: &str, tree: &Tree, base: i64) -> reqwest::Result<(u16, Value)> {
        let body = json!({"ref": "main", "root": tree.root, "chunks": tree.chunks});
        let (status, session) = self.call("POST", &format!("{at}/sessions"), body).await?;
        assert_eq!(status, 201, "{session}");
        let at = format!("{at}/sessions/{}", session["id"].as_str().unwrap());
        let ids = json!({"ids": tree.ids()});
        let (status, missing) = self.call("POST", &format!("{at}/missing"), ids).await?;
        assert_eq!(status, 200, "{missing}");
        let wanted = tree.objects_of(missing["missing"].as_array().unwrap());
        for batch in wanted.chunks(200) {
            let objects = json!({"objects": batch});
            let (status, put) = self.call("PUT", &format!("{at}/objects"), objects).await?;
            assert_eq!(status, 200, "{put}");
        }
        let commit = json!({"base_generation": base, "model": "scry-static-v3", "key_epoch": 1});
        self.call("POST", &format!("{at}/commit"), commit).await
    }
}

/// Round `n`'s tree: 120 files of 8 chunks; a third of the files change from round to round.
fn tree_of(n: usize) -> Tree {
    let texts: Vec<(String, Vec<String>)> = (0..120)
        .map(|f| {
            let version = if f % 3 == n % 3 { n } else { 0 };
            let chunks = (0..8).map(|c| format!("f{f} c{c} v{version}")).collect();
            (format!("src/f{f}.rs"), chunks)
        })
        .collect();
    let chunk_refs: Vec<Vec<&str>> = texts
        .iter()
        .map(|(_, cs)| cs.iter().map(String::as_str).collect())
        .collect();
    let files: Vec<(&str, &[&str])> = texts
        .iter()
        .zip(&chunk_refs)
        .map(|((name, _), cs)| (name.as_str(), cs.as_slice()))
        .collect();
    tree(&files)
}

/// `main`'s generation and root.
async fn main_ref(api: &Api, at: &str) -> (i64, Option<String>) {
    let (status, refs) = api
        .call("GET", &format!("{at}/refs"), Value::Null)
        .await
        .unwrap();
    assert_eq!(status, 200, "{refs}");
    match refs.as_array().unwrap().iter().find(|r| r["ref"] == "main") {
        Some(r) => (
            r["generation"].as_i64().unwrap(),
            r["root"].as_str().map(String::from),
        ),
        None => (0, None),
    }
}

/// Every object's count is its live parents plus the refs rooted at it; the repository's
/// chunk count is its live chunks.
async fn assert_counts_exact(raw: &AnyPool, repo: &str) {
    let wrong: Vec<(String, i64, i64)> = sqlx::query(
        "WITH parents AS (SELECT e.child AS id, COUNT(*) AS n FROM index_edges e \
         JOIN index_objects p ON p.org_id = e.org_id AND p.repo_id = e.repo_id \
         AND p.id = e.parent WHERE e.repo_id = $1 AND p.live > 0 GROUP BY e.child), \
         roots AS (SELECT root AS id, COUNT(*) AS n FROM index_refs WHERE repo_id = $1 \
         GROUP BY root) \
         SELECT o.id, o.live, COALESCE(pa.n, 0) + COALESCE(ro.n, 0) AS expected \
         FROM index_objects o LEFT JOIN parents pa ON pa.id = o.id \
         LEFT JOIN roots ro ON ro.id = o.id WHERE o.repo_id = $1",
    )
    .bind(repo)
    .fetch_all(raw)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("id"), r.get("live"), r.get("expected")))
    .filter(|(_, live, expected): &(String, i64, i64)| live != expected)
    .collect();
    assert!(
        wrong.is_empty(),
        "counts off: {:?}",
        &wrong[..wrong.len().min(5)]
    );
    let counted: i64 = sqlx::query("SELECT chunks FROM repos WHERE id = $1")
        .bind(repo)
        .fetch_one(raw)
        .await
        .unwrap()
        .get("chunks");
    let live: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(chunks), 0) AS BIGINT) AS n FROM index_objects \
         WHERE repo_id = $1 AND kind = 'records' AND live > 0",
    )
    .bind(repo)
    .fetch_one(raw)
    .await
    .unwrap()
    .get("n");
    assert_eq!(counted, live, "the repository's chunk count");
}

async fn a_server_killed_mid_sync_keeps_whole_generations(backend: Backend) {
    sqlx::any::install_default_drivers();
    let deployment = Deployment::new(backend).await;
    let mut server = deployment.start().await;
    let http = reqwest::Client::new();
    let anonymous = Api {
        http: http.clone(),
        base: server.base.clone(),
        token: String::new(),
    };
    let (email, password) = ("ann@example.com", "correct horse battery");
    let user = json!({"email": email, "password": password});
    assert_eq!(
        anonymous
            .call("POST", "/v1/users", user.clone())
            .await
            .unwrap()
            .0,
        201
    );
    let (_, session) = anonymous.call("POST", "/v1/sessions", user).await.unwrap();
    let api = Api {
        token: session["token"].as_str().unwrap().into(),
        ..anonymous
    };
    let (_, org) = api
        .call("POST", "/v1/orgs", json!({"name": "acme"}))
        .await
        .unwrap();
    let org = org["id"].as_str().unwrap().to_string();
    let (_, repo) = api
        .call(
            "POST",
            &format!("/v1/orgs/{org}/repos"),
            json!({"name": "web"}),
        )
        .await
        .unwrap();
    let repo = repo["id"].as_str().unwrap().to_string();
    let at = format!("/v1/orgs/{org}/repos/{repo}/index");

    // An uninterrupted sync, to know how long one takes.
    let began = Instant::now();
    let (status, first) = api.sync(&at, &tree_of(0), 0).await.unwrap();
    assert_eq!(status, 200, "{first}");
    let span = began.elapsed();
    let raw = deployment.raw().await;

    let rounds = std::env::var("SCRY_CRASH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS);
    let mut killed_before_commit = 0;
    for n in 1..=rounds {
        let before = main_ref(&api, &at).await;
        let next = tree_of(n);
        // Kills spread over the whole sync, its commit included, and a little after.
        let delay = span.mul_f64(1.2 * n as f64 / rounds as f64);
        let sync = api.sync(&at, &next, before.0);
        let kill = async {
            tokio::time::sleep(delay).await;
            server.child.kill().unwrap();
            server.child.wait().unwrap();
        };
        let (outcome, ()) = tokio::join!(sync, kill);
        server = deployment.start().await;

        let after = main_ref(&api, &at).await;
        let committed = after == (before.0 + 1, Some(next.root.clone()));
        assert!(
            after == before || committed,
            "round {n}: {before:?} became {after:?}, neither old nor new"
        );
        if let Ok((200, reply)) = &outcome {
            assert!(
                committed,
                "round {n}: told {reply} but the ref is {after:?}"
            );
        }
        killed_before_commit += usize::from(!committed);
        assert_counts_exact(&raw, &repo).await;

        // The interrupted sync, run again, completes with exact counts.
        if !committed {
            let (status, reply) = api.sync(&at, &next, before.0).await.unwrap();
            assert_eq!(status, 200, "round {n}: {reply}");
        }
        assert_eq!(
            main_ref(&api, &at).await,
            (before.0 + 1, Some(next.root.clone()))
        );
        assert_counts_exact(&raw, &repo).await;
        let (_, repos) = api
            .call("GET", &format!("/v1/orgs/{org}/repos/{repo}"), Value::Null)
            .await
            .unwrap();
        assert_eq!(repos["chunks"], next.chunks as i64, "round {n}");
    }
    eprintln!(
        "{backend:?}: {rounds} kills, {killed_before_commit} before the commit landed; one sync takes {span:?}"
    );
    assert!(killed_before_commit > 0, "no kill landed before a commit");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
