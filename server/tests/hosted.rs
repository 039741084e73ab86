//! Hosted search against SQLite and a real PostgreSQL: an admin turns it on, a member
//! publishes code (texts checked against their ids, paths kept inside the repository), and
//! `POST /v1/orgs/{org}/search` answers with the engine's results for that org only, metered
//! per search; a new publication is searched at once, and turning it off deletes the code.

#[macro_use]
mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{Backend, Harness, config, limits};

on_both_backends!(
    hosted_search_answers_for_the_org_only_and_forgets_when_off,
    publishing_refuses_what_it_cannot_trust,
    hosted_code_counts_against_the_tier,
    every_replica_serves_what_another_was_sent,
);

const RETRY: &str = "import time\n\n\ndef retry_upload(blob, attempts):\n    \"\"\"Send a blob, retrying with a pause.\"\"\"\n    for _ in range(attempts):\n        if send(blob):\n            return True\n        time.sleep(1)\n    return False\n";
const AREA: &str =
    "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n";

fn blob(text: &str) -> Value {
    json!({"id": blake3::hash(text.as_bytes()).to_hex().as_str(), "text": text})
}

fn id(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

async fn setup(h: &Harness, token: &str, org_name: &str, repo_name: &str) -> (String, String) {
    let org = h.org(token, org_name).await;
    let repo = h
        .post(
            &format!("/v1/orgs/{org}/repos"),
            token,
            json!({"name": repo_name}),
        )
        .await;
    (org, repo.body["id"].as_str().unwrap().to_string())
}

async fn turn(h: &Harness, org: &str, repo: &str, token: &str, on: Value) -> (StatusCode, Value) {
    let r = h
        .call(
            "PUT",
            &format!("/v1/orgs/{org}/repos/{repo}/hosted-search"),
            Some(token),
            Some(on),
        )
        .await;
    (r.status, r.body)
}

/// Uploads `files`' texts and publishes them as `branch`.
async fn publish(
    h: &Harness,
    org: &str,
    repo: &str,
    token: &str,
    branch: &str,
    files: &[(&str, &str)],
) -> (StatusCode, Value) {
    let at = format!("/v1/orgs/{org}/repos/{repo}/hosted");
    let ids: Vec<String> = files.iter().map(|(_, t)| id(t)).collect();
    let missing = h
        .post(&format!("{at}/missing"), token, json!({"ids": ids}))
        .await;
    assert_eq!(missing.status, StatusCode::OK, "{}", missing.body);
    let wanted: Vec<Value> = (files.iter())
        .filter(|(_, t)| {
            missing.body["missing"]
                .as_array()
                .unwrap()
                .contains(&json!(id(t)))
        })
        .map(|(_, t)| blob(t))
        .collect();
    if !wanted.is_empty() {
        let put = h
            .call(
                "PUT",
                &format!("{at}/blobs"),
                Some(token),
                Some(json!({"blobs": wanted})),
            )
            .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    }
    let tree: Vec<Value> = (files.iter())
        .map(|(path, t)| json!({"path": path, "blob": id(t)}))
        .collect();
    let r = h
        .call(
            "PUT",
            &format!("{at}/tree"),
            Some(token),
            Some(json!({"branch": branch, "files": tree})),
        )
        .await;
    (r.status, r.body)
}

async fn search(h: &Harness, org: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let r = h.post(&format!("/v1/orgs/{org}/search"), token, body).await;
    (r.status, r.body)
}

fn places(results: &Value) -> Vec<(String, String)> {
    (results["results"].as_array().unwrap().iter())
        .map(|r| {
            (
                r["repo"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn hosted_search_answers_for_the_org_only_and_forgets_when_off(backend: Backend) {
    let cache = tempfile::tempdir().unwrap();
    let mut config = config();
    config.search_cache_dir = Some(cache.path().to_path_buf());
    let h = Harness::new(backend, config).await;
    let (_, a) = h.user("alice@example.com").await;
    let (_, b) = h.user("bob@example.com").await;
    let (_, m) = h.user("mallory@example.com").await;
    let (org, web) = setup(&h, &a, "acme", "web").await;
    let geo = (h
        .post(&format!("/v1/orgs/{org}/repos"), &a, json!({"name": "geo"}))
        .await)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.join(&org, &a, "bob@example.com", "member", &b).await;

    // Off by default: nothing to search, and publishing is refused.
    let (status, body) = search(&h, &org, &a, json!({"query": "retry an upload"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"results": [], "searched": []}));
    let (status, _) = publish(&h, &org, &web, &a, "main", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Admins only turn it on.
    let (status, _) = turn(&h, &org, &web, &b, json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, repo) = turn(&h, &org, &web, &a, json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{repo}");
    assert_eq!(repo["hosted_search"], "main");
    let (status, _) = turn(
        &h,
        &org,
        &geo,
        &a,
        json!({"enabled": true, "branch": "trunk"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A member publishes; another branch is refused.
    let (status, _) = publish(&h, &org, &web, &b, "feature", &[("src/retry.py", RETRY)]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, state) = publish(&h, &org, &web, &b, "main", &[("src/retry.py", RETRY)]).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["files"], 1);
    assert_eq!(state["bytes"], RETRY.len());
    let (status, _) = publish(&h, &org, &geo, &a, "trunk", &[("geo/area.py", AREA)]).await;
    assert_eq!(status, StatusCode::OK);

    // Turned on again for the branch it serves: what was published stays.
    let (status, _) = turn(&h, &org, &web, &a, json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    let state = h
        .get(&format!("/v1/orgs/{org}/repos/{web}/hosted"), &a)
        .await;
    assert_eq!(state.body["files"], 1, "{}", state.body);

    // One ranked list over both repositories, in the CLI's result shape.
    let (status, body) = search(
        &h,
        &org,
        &b,
        json!({"query": "retry an upload", "limit": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = &body["results"][0];
    assert_eq!(
        (first["repo"].as_str(), first["path"].as_str()),
        (Some("web"), Some("src/retry.py"))
    );
    assert_eq!(first["symbol"], "retry_upload");
    assert_eq!(
        (first["start_line"].as_u64(), first["language"].as_str()),
        (Some(4), Some("python"))
    );
    assert!(
        first["snippet"]
            .as_str()
            .unwrap()
            .starts_with("def retry_upload"),
        "{first}"
    );
    assert!(first["score"].as_f64().unwrap() > 0.0);
    assert_eq!(body["searched"].as_array().unwrap().len(), 2);
    let (_, body) = search(&h, &org, &a, json!({"query": "area of a circle"})).await;
    assert_eq!(places(&body)[0], ("geo".into(), "geo/area.py".into()));
    let (_, only) = search(
        &h,
        &org,
        &a,
        json!({"query": "area of a circle", "repos": ["web"]}),
    )
    .await;
    assert!(places(&only).iter().all(|(r, _)| r == "web"), "{only}");
    let (_, globbed) = search(&h, &org, &a, json!({"query": "retry", "glob": "lib/**"})).await;
    assert_eq!(globbed["results"], json!([]));
    let (status, _) = search(&h, &org, &a, json!({"query": "x", "repos": ["nope"]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An API key searches too (CI bots, scripts), and each search is metered.
    let key = h
        .post(
            &format!("/v1/orgs/{org}/keys"),
            &a,
            json!({"name": "bot", "role": "viewer"}),
        )
        .await;
    let key = key.body["key"].as_str().unwrap().to_string();
    let (status, body) = search(&h, &org, &key, json!({"query": "retry_upload"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(places(&body)[0], ("web".into(), "src/retry.py".into()));
    let usage = h.get(&format!("/v1/orgs/{org}/usage"), &a).await;
    assert_eq!(usage.body[0]["searches"], 6, "{}", usage.body);

    // Another org sees none of it, and its own search holds none of it.
    let (morg, mrepo) = setup(&h, &m, "evil", "web").await;
    let (status, _) = search(&h, &org, &m, json!({"query": "retry an upload"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    turn(&h, &morg, &mrepo, &m, json!({"enabled": true})).await;
    publish(&h, &morg, &mrepo, &m, "main", &[("x.py", AREA)]).await;
    let (_, body) = search(&h, &morg, &m, json!({"query": "retry an upload"})).await;
    assert!(places(&body).iter().all(|(_, p)| p == "x.py"), "{body}");
    let (status, _) = search(&h, &morg, &key, json!({"query": "retry"})).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a key works in its own org only"
    );
    let other = json!({"query": "retry", "repos": [web]});
    let (status, _) = search(&h, &morg, &m, other).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another org's repository");

    // Searches sent at once are each metered once.
    let before = searches(&h, &org, &a).await;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (app, key, at) = (h.app.clone(), key.clone(), format!("/v1/orgs/{org}/search"));
        let body = json!({"query": format!("retry upload {i}")});
        burst.spawn(async move { support::send(&app, "POST", &at, Some(&key), Some(body)).await });
    }
    for r in burst.join_all().await {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_eq!(searches(&h, &org, &a).await - before, 16);

    // A new publication is what the next search sees.
    let renamed = RETRY.replace("retry_upload", "push_with_backoff");
    let (status, _) = publish(&h, &org, &web, &b, "main", &[("src/send.py", &renamed)]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = search(
        &h,
        &org,
        &a,
        json!({"query": "push_with_backoff", "repos": ["web"]}),
    )
    .await;
    assert_eq!(
        places(&body),
        [("web".to_string(), "src/send.py".to_string())]
    );
    assert_eq!(body["results"][0]["symbol"], "push_with_backoff");

    // Off deletes the code at once and stops serving it.
    let (status, repo) = turn(&h, &org, &web, &a, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repo["hosted_search"], Value::Null);
    let (_, body) = search(&h, &org, &a, json!({"query": "push_with_backoff"})).await;
    assert!(places(&body).iter().all(|(r, _)| r == "geo"), "{body}");
    let held: i64 =
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM hosted_blobs WHERE repo_id = $1")
            .bind(&web)
            .fetch_one(&h.raw)
            .await
            .unwrap();
    assert_eq!(held, 0);
    assert!(
        !holds_text(cache.path(), "push_with_backoff"),
        "the replica's copy went too"
    );
    assert_eq!(h.rows("hosted_files", &org).await, 1, "geo's file stays");
}

async fn publishing_refuses_what_it_cannot_trust(backend: Backend) {
    let h = Harness::new(backend, config()).await;
    let (_, a) = h.user("alice@example.com").await;
    let (org, repo) = setup(&h, &a, "acme", "web").await;
    turn(&h, &org, &repo, &a, json!({"enabled": true})).await;
    let at = format!("/v1/orgs/{org}/repos/{repo}/hosted");
    let blobs_at = format!("{at}/blobs");
    let put = |blobs: Value| h.call("PUT", &blobs_at, Some(&a), Some(json!({"blobs": blobs})));
    let lying = json!([{"id": id("something else"), "text": RETRY}]);
    assert_eq!(put(lying).await.status, StatusCode::BAD_REQUEST);
    let malformed = json!([{"id": "../../etc", "text": RETRY}]);
    assert_eq!(put(malformed).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(put(json!([blob(RETRY)])).await.status, StatusCode::OK);
    for path in [
        "../escape.py",
        "/etc/passwd",
        "a//b.py",
        "a/./b.py",
        "a\\..\\b.py",
        "a\u{0}b",
    ] {
        let r = h
            .call(
                "PUT",
                &format!("{at}/tree"),
                Some(&a),
                Some(json!({"branch": "main", "files": [{"path": path, "blob": id(RETRY)}]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path:?}: {}", r.body);
    }
    let both = json!([{"path": "a", "blob": id(RETRY)}, {"path": "a/b.py", "blob": id(RETRY)}]);
    let r = h
        .call(
            "PUT",
            &format!("{at}/tree"),
            Some(&a),
            Some(json!({"branch": "main", "files": both})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let unknown = json!([{"path": "b.py", "blob": id(AREA)}]);
    let r = h
        .call(
            "PUT",
            &format!("{at}/tree"),
            Some(&a),
            Some(json!({"branch": "main", "files": unknown})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "missing_objects");
    assert_eq!(r.body["missing"], json!([id(AREA)]));
    for bad in [
        json!({"query": ""}),
        json!({"query": "x", "limit": 0}),
        json!({"query": "x", "limit": 101}),
        json!({"query": "x", "lang": "klingon"}),
        json!({"query": "x", "glob": "{"}),
    ] {
        let (status, body) = search(&h, &org, &a, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

async fn hosted_code_counts_against_the_tier(backend: Backend) {
    let mut config = config();
    config.tiers.insert("free".into(), limits(3, 1, 10_000));
    let h = Harness::new(backend, config).await;
    let (_, a) = h.user("alice@example.com").await;
    let (org, repo) = setup(&h, &a, "acme", "web").await;
    turn(&h, &org, &repo, &a, json!({"enabled": true})).await;
    let big = "x = 1\n".repeat(700);
    let r = h
        .call(
            "PUT",
            &format!("/v1/orgs/{org}/repos/{repo}/hosted/blobs"),
            Some(&a),
            Some(json!({"blobs": [blob(&big)]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.code(), "quota_exceeded");
    let (status, _) = publish(&h, &org, &repo, &a, "main", &[("a.py", AREA)]).await;
    assert_eq!(status, StatusCode::OK, "a small file fits");
}

/// Whether a file under `dir` contains `needle`.
fn holds_text(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let path = e.path();
        match path.is_dir() {
            true => holds_text(&path, needle),
            false => std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())),
        }
    })
}

/// Searches the org's usage counts today.
async fn searches(h: &Harness, org: &str, token: &str) -> i64 {
    let usage = h.get(&format!("/v1/orgs/{org}/usage"), token).await;
    usage.body[0]["searches"].as_i64().unwrap()
}

async fn every_replica_serves_what_another_was_sent(backend: Backend) {
    let h = Harness::new(backend, config()).await;
    let replica = h.replica().await;
    let (_, a) = h.user("alice@example.com").await;
    let (org, repo) = setup(&h, &a, "acme", "web").await;
    turn(&h, &org, &repo, &a, json!({"enabled": true})).await;
    publish(&h, &org, &repo, &a, "main", &[("src/retry.py", RETRY)]).await;
    let at = format!("/v1/orgs/{org}/search");
    let ask = |query: &str| {
        let body = json!({"query": query, "limit": 3});
        support::send(&replica, "POST", &at, Some(&a), Some(body))
    };
    // The other replica built its copy from the database alone.
    let r = ask("retry an upload").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(places(&r.body)[0], ("web".into(), "src/retry.py".into()));
    // A publication through the first is what the other answers next.
    let renamed = RETRY.replace("retry_upload", "push_with_backoff");
    publish(&h, &org, &repo, &a, "main", &[("src/send.py", &renamed)]).await;
    let r = ask("push_with_backoff").await;
    assert_eq!(
        places(&r.body),
        [("web".to_string(), "src/send.py".to_string())]
    );
    // Off through the first: the other serves none of it.
    turn(&h, &org, &repo, &a, json!({"enabled": false})).await;
    let r = ask("push_with_backoff").await;
    assert_eq!(r.body["results"], json!([]));
}
