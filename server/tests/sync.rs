//! Index sync's protocol against SQLite and a real PostgreSQL: sessions, missing ids, batches,
//! commits (complete trees only, compare-and-swap, replay), exact chunk quotas, collection of
//! what no generation holds, isolation between orgs, sync's own rate window, a key revoked
//! mid-sync, generations retired when the org's key moves on, and the
//! distribution of the org's data key (recipients, wrapped keys, epochs).

#[macro_use]
mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{Backend, Harness, START, config, limits, tree};

on_both_backends!(
    a_commit_needs_the_whole_tree_and_replays_idempotently,
    an_edit_uploads_only_what_changed,
    chunk_quota_is_checked_at_sessions_and_exact_at_commit,
    objects_no_generation_holds_are_collected_after_a_day,
    sync_is_private_to_the_org_and_needs_a_member,
    sync_counts_in_its_own_rate_window,
    bad_batches_are_refused_whole,
    the_data_key_reaches_members_wrapped_and_moves_on_when_one_leaves,
    a_commit_under_a_new_key_retires_what_older_keys_sealed,
    a_key_revoked_mid_sync_commits_nothing,
);

const DAY: i64 = 86_400;

async fn setup(backend: Backend) -> (Harness, String, String, String) {
    let h = Harness::new(backend, config()).await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let repo = h
        .post(&format!("/v1/orgs/{org}/repos"), &a, json!({"name": "web"}))
        .await;
    let repo = repo.body["id"].as_str().unwrap().to_string();
    (h, a, org, repo)
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

async fn a_commit_needs_the_whole_tree_and_replays_idempotently(backend: Backend) {
    let (h, a, org, repo) = setup(backend).await;
    let t = tree(&[("a.rs", &["fn a", "fn b"]), ("b.rs", &["fn c", "fn b"])]);
    assert_eq!(t.chunks, 3, "one chunk shared by two files is one chunk");
    let s = h.open_sync(&org, &repo, &a, "main", &t).await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    assert_eq!(s.body["expires_at"], START + DAY);
    let at = format!(
        "/v1/orgs/{org}/repos/{repo}/index/sessions/{}",
        s.body["id"].as_str().unwrap()
    );

    let missing = h
        .post(&format!("{at}/missing"), &a, json!({"ids": t.ids()}))
        .await;
    assert_eq!(ids(&missing.body["missing"]), t.ids());

    // Half the tree, then a commit: refused, naming what is missing, nothing moved.
    let (first, rest) = t.objects.split_at(3);
    let put = h
        .call(
            "PUT",
            &format!("{at}/objects"),
            Some(&a),
            Some(json!({"objects": first})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert!(
        put.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "stored")
    );
    let commit = json!({"base_generation": 0, "model": "scry-static-v3", "key_epoch": 1});
    let refused = h.post(&format!("{at}/commit"), &a, commit.clone()).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.code(), "missing_objects");
    let named = ids(&refused.body["missing"]);
    assert!(!named.is_empty());
    assert!(named.iter().all(|id| rest.iter().any(|o| o["id"] == *id)));
    assert_eq!(refused.body["generation"], 0);
    let refs = h
        .get(&format!("/v1/orgs/{org}/repos/{repo}/index/refs"), &a)
        .await;
    assert_eq!(refs.body, json!([]));

    // The whole batch again: what was stored is present, the rest stored.
    let put = h
        .call(
            "PUT",
            &format!("{at}/objects"),
            Some(&a),
            Some(json!({"objects": t.objects})),
        )
        .await;
    let statuses: Vec<&str> = put.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "present", "present", "present", "stored", "stored", "stored"
        ]
    );
    let done = h.post(&format!("{at}/commit"), &a, commit.clone()).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["generation"], 1);
    assert_eq!(done.body["root"], t.root);
    assert_eq!(done.body["repo_chunks"], 3);
    assert_eq!(done.body["model"], "scry-static-v3");

    // Replayed (the answer was lost): the same generation, nothing counted twice.
    let replay = h.post(&format!("{at}/commit"), &a, commit).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_eq!(replay.body, done.body);
    let repo_now = h.get(&format!("/v1/orgs/{org}/repos/{repo}"), &a).await;
    assert_eq!(repo_now.body["chunks"], 3);
    let usage = h.get(&format!("/v1/orgs/{org}/usage"), &a).await;
    assert_eq!(usage.body[0]["chunks_stored"], 3, "{}", usage.body);
    let audit = h.get(&format!("/v1/orgs/{org}/audit"), &a).await;
    let committed: Vec<&Value> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "index.committed")
        .collect();
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0]["details"]["generation"], 1);

    // A download: the root, then its children, bodies as uploaded.
    let fetch = format!("/v1/orgs/{org}/repos/{repo}/index/objects/fetch");
    let unknown = support::object_id("never uploaded");
    let got = h.post(&fetch, &a, json!({"ids": [t.root, unknown]})).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    let root = &got.body["objects"][0];
    assert_eq!(root["body"], t.objects[5]["body"]);
    let mut children = ids(&t.objects[5]["children"]);
    children.sort();
    assert_eq!(ids(&root["children"]), children);
    assert_eq!(ids(&got.body["missing"]), [unknown]);
}

async fn an_edit_uploads_only_what_changed(backend: Backend) {
    let (h, a, org, repo) = setup(backend).await;
    let v1 = tree(&[("a.rs", &["fn a", "fn b"]), ("b.rs", &["fn c"])]);
    assert_eq!(
        h.sync(&org, &repo, &a, "main", &v1, 0).await.body["generation"],
        1
    );

    // One function of b.rs changes: its chunk, its file node and the root are new.
    let v2 = tree(&[("a.rs", &["fn a", "fn b"]), ("b.rs", &["fn c2"])]);
    let s = h.open_sync(&org, &repo, &a, "main", &v2).await;
    let at = format!(
        "/v1/orgs/{org}/repos/{repo}/index/sessions/{}",
        s.body["id"].as_str().unwrap()
    );
    let missing = h
        .post(&format!("{at}/missing"), &a, json!({"ids": v2.ids()}))
        .await;
    assert_eq!(ids(&missing.body["missing"]).len(), 3, "{}", missing.body);
    let second = h.sync(&org, &repo, &a, "main", &v2, 1).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["generation"], 2);
    assert_eq!(second.body["repo_chunks"], 3, "fn c left, fn c2 came");

    // A client still on generation 1 is told the ref moved.
    let stale = h.sync(&org, &repo, &a, "main", &v1, 1).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.code(), "stale_generation");
    assert_eq!(stale.body["generation"], 2);

    // A branch sharing everything but one new chunk: distinct chunks count once.
    let branch = tree(&[
        ("a.rs", &["fn a", "fn b"]),
        ("b.rs", &["fn c2"]),
        ("c.rs", &["fn d"]),
    ]);
    let b = h.sync(&org, &repo, &a, "feature", &branch, 0).await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
    assert_eq!(b.body["repo_chunks"], 4);
    let refs = h
        .get(&format!("/v1/orgs/{org}/repos/{repo}/index/refs"), &a)
        .await;
    let names: Vec<&str> = refs
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ref"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["feature", "main"]);

    // Two clients commit on the same base: one wins, the other is told to rebase.
    let x = tree(&[("a.rs", &["fn x"])]);
    let y = tree(&[("a.rs", &["fn y"])]);
    let (rx, ry) = tokio::join!(
        h.sync(&org, &repo, &a, "main", &x, 2),
        h.sync(&org, &repo, &a, "main", &y, 2)
    );
    let mut statuses = [rx.status, ry.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} {}",
        rx.body,
        ry.body
    );
    let winner = if rx.status == StatusCode::OK { &x } else { &y };
    let refs = h
        .get(&format!("/v1/orgs/{org}/repos/{repo}/index/refs"), &a)
        .await;
    let main = &refs.body.as_array().unwrap()[1];
    assert_eq!(
        (main["generation"].as_i64(), main["root"].as_str()),
        (Some(3), Some(winner.root.as_str()))
    );
    // feature holds fn a, fn b, fn c2, fn d; main holds one more.
    assert_eq!(main["repo_chunks"], 5);
}

async fn chunk_quota_is_checked_at_sessions_and_exact_at_commit(backend: Backend) {
    let (h, a, org, web) = setup(backend).await;
    let tier = h
        .call(
            "PUT",
            &format!("/v1/admin/orgs/{org}/tier"),
            Some("operator-secret"),
            Some(json!({"tier": "enterprise", "limits": limits(10, 10, 10_000)})),
        )
        .await;
    assert_eq!(tier.status, StatusCode::OK, "{}", tier.body);
    let api = h
        .post(&format!("/v1/orgs/{org}/repos"), &a, json!({"name": "api"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Declared over the limit: refused before anything uploads.
    let big: Vec<String> = (0..11).map(|i| format!("fn f{i}")).collect();
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    let refused = h
        .open_sync(&org, &web, &a, "main", &tree(&[("a.rs", &big)]))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "quota_exceeded");
    assert_eq!(
        refused.body["error"]["message"],
        "quota exceeded: the enterprise tier allows 10 chunks"
    );
    assert_eq!(h.rows("index_sessions", &org).await, 0);

    // Two repos of 6 each, in parallel: both sessions fit alone, exactly one commit does.
    let six = |p: &str| (0..6).map(|i| format!("fn {p}{i}")).collect::<Vec<_>>();
    let (w, x) = (six("w"), six("x"));
    let tw = tree(&[("a.rs", &w.iter().map(String::as_str).collect::<Vec<_>>())]);
    let tx = tree(&[("a.rs", &x.iter().map(String::as_str).collect::<Vec<_>>())]);
    let (rw, rx) = tokio::join!(
        h.sync(&org, &web, &a, "main", &tw, 0),
        h.sync(&org, &api, &a, "main", &tx, 0)
    );
    let mut statuses = [rw.status, rx.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::FORBIDDEN],
        "{} {}",
        rw.body,
        rx.body
    );
    let lost = if rw.status == StatusCode::OK {
        &rx
    } else {
        &rw
    };
    assert_eq!(lost.code(), "quota_exceeded");
    let repos = h.get(&format!("/v1/orgs/{org}/repos"), &a).await;
    let total: i64 = repos.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["chunks"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 6);
    let exceeded = h.get(&format!("/v1/orgs/{org}/audit"), &a).await;
    assert!(
        exceeded.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "quota.exceeded")
    );

    // Shrinking always commits; the freed chunks fit the other repo.
    let (winner, loser, ltree) = if rw.status == StatusCode::OK {
        (&web, &api, &tx)
    } else {
        (&api, &web, &tw)
    };
    let small = h
        .sync(
            &org,
            winner,
            &a,
            "main",
            &tree(&[("a.rs", &["fn small"])]),
            1,
        )
        .await;
    assert_eq!(small.status, StatusCode::OK, "{}", small.body);
    assert_eq!(small.body["repo_chunks"], 1);
    let now_fits = h.sync(&org, loser, &a, "main", ltree, 0).await;
    assert_eq!(now_fits.status, StatusCode::OK, "{}", now_fits.body);
}

async fn objects_no_generation_holds_are_collected_after_a_day(backend: Backend) {
    let (h, a, org, repo) = setup(backend).await;
    let v1 = tree(&[("a.rs", &["fn a"]), ("b.rs", &["fn b"])]);
    h.sync(&org, &repo, &a, "main", &v1, 0).await;
    let v2 = tree(&[("a.rs", &["fn a"]), ("b.rs", &["fn b2"])]);
    h.sync(&org, &repo, &a, "main", &v2, 1).await;
    // An abandoned upload: a session that never commits.
    let lost = tree(&[("c.rs", &["fn lost"])]);
    let s = h.open_sync(&org, &repo, &a, "other", &lost).await;
    let at = format!(
        "/v1/orgs/{org}/repos/{repo}/index/sessions/{}",
        s.body["id"].as_str().unwrap()
    );
    h.call(
        "PUT",
        &format!("{at}/objects"),
        Some(&a),
        Some(json!({"objects": lost.objects})),
    )
    .await;
    let held = |n| n == v1.objects.len() + 3 + lost.objects.len();
    assert!(held(h.rows("index_objects", &org).await as usize));

    // Within the day: nothing goes, the abandoned session's objects are still there.
    h.clock.advance(DAY - 10);
    h.open_sync(&org, &repo, &a, "main", &v2).await;
    assert!(held(h.rows("index_objects", &org).await as usize));

    // A day on, only the live generation's objects are left; the session is gone.
    h.clock.advance(20);
    h.open_sync(&org, &repo, &a, "main", &v2).await;
    assert_eq!(
        h.rows("index_objects", &org).await as usize,
        v2.objects.len()
    );
    let expired = h
        .post(&format!("{at}/missing"), &a, json!({"ids": lost.ids()}))
        .await;
    assert_eq!(expired.status, StatusCode::NOT_FOUND);
    // The live generation still downloads whole.
    let got = h
        .post(
            &format!("/v1/orgs/{org}/repos/{repo}/index/objects/fetch"),
            &a,
            json!({"ids": v2.ids()}),
        )
        .await;
    assert_eq!(
        got.body["objects"].as_array().unwrap().len(),
        v2.objects.len()
    );
    assert_eq!(got.body["missing"], json!([]));

    // Deleting the repository deletes its index.
    let r = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/repos/{repo}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for table in [
        "index_objects",
        "index_edges",
        "index_refs",
        "index_sessions",
    ] {
        assert_eq!(h.rows(table, &org).await, 0, "{table}");
    }
}

async fn sync_is_private_to_the_org_and_needs_a_member(backend: Backend) {
    let (h, a, org, repo) = setup(backend).await;
    let t = tree(&[("a.rs", &["fn secret"])]);
    assert_eq!(
        h.sync(&org, &repo, &a, "main", &t, 0).await.status,
        StatusCode::OK
    );
    let s = h.open_sync(&org, &repo, &a, "main", &t).await;
    let session = s.body["id"].as_str().unwrap().to_string();

    // Another org's member: everything answers like nothing exists.
    let (_, m) = h.user("mallory@example.com").await;
    let theirs = h.org(&m, "evil").await;
    let their_repo = h
        .post(
            &format!("/v1/orgs/{theirs}/repos"),
            &m,
            json!({"name": "web"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/v1/orgs/{org}/repos/{repo}/index");
    for (method, path, body) in [
        ("GET", format!("{base}/refs"), None),
        (
            "POST",
            format!("{base}/objects/fetch"),
            Some(json!({"ids": t.ids()})),
        ),
        (
            "POST",
            format!("{base}/sessions"),
            Some(json!({"ref": "main", "root": t.root, "chunks": 1})),
        ),
        (
            "POST",
            format!("{base}/sessions/{session}/missing"),
            Some(json!({"ids": t.ids()})),
        ),
        (
            "PUT",
            format!("{base}/sessions/{session}/objects"),
            Some(json!({"objects": t.objects})),
        ),
        (
            "POST",
            format!("{base}/sessions/{session}/commit"),
            Some(json!({"base_generation": 1, "model": "m", "key_epoch": 1})),
        ),
    ] {
        let r = h.call(method, &path, Some(&m), body).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            r.body
        );
    }
    // Their own repo with our ids and session: nothing of ours shows through.
    let got = h
        .post(
            &format!("/v1/orgs/{theirs}/repos/{their_repo}/index/objects/fetch"),
            &m,
            json!({"ids": t.ids()}),
        )
        .await;
    assert_eq!(got.body["objects"], json!([]));
    let r = h
        .post(
            &format!("/v1/orgs/{theirs}/repos/{their_repo}/index/sessions/{session}/missing"),
            &m,
            json!({"ids": t.ids()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A viewer reads, does not write.
    let (_, v) = h.user("victor@example.com").await;
    h.join(&org, &a, "victor@example.com", "viewer", &v).await;
    assert_eq!(
        h.get(&format!("{base}/refs"), &v).await.status,
        StatusCode::OK
    );
    let got = h
        .post(
            &format!("{base}/objects/fetch"),
            &v,
            json!({"ids": [t.root]}),
        )
        .await;
    assert_eq!(got.body["objects"].as_array().unwrap().len(), 1);
    let r = h
        .post(
            &format!("{base}/sessions"),
            &v,
            json!({"ref": "main", "root": t.root, "chunks": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn sync_counts_in_its_own_rate_window(backend: Backend) {
    let mut config = config();
    config.tiers.get_mut("free").unwrap().requests_per_minute = 8;
    let h = Harness::new(backend, config).await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let repo = h
        .post(&format!("/v1/orgs/{org}/repos"), &a, json!({"name": "web"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.clock.advance(60);
    // The API's window runs full…
    for _ in 0..8 {
        assert_eq!(
            h.get(&format!("/v1/orgs/{org}"), &a).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        h.get(&format!("/v1/orgs/{org}"), &a).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // …and sync still has its own.
    let refs = format!("/v1/orgs/{org}/repos/{repo}/index/refs");
    for _ in 0..8 {
        assert_eq!(h.get(&refs, &a).await.status, StatusCode::OK);
    }
    let r = h.get(&refs, &a).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.code(), "rate_limited");
    assert!(r.headers.get("retry-after").is_some());
}

async fn bad_batches_are_refused_whole(backend: Backend) {
    let (h, a, org, repo) = setup(backend).await;
    let t = tree(&[("a.rs", &["fn a"])]);
    let s = h.open_sync(&org, &repo, &a, "main", &t).await;
    let at = format!(
        "/v1/orgs/{org}/repos/{repo}/index/sessions/{}",
        s.body["id"].as_str().unwrap()
    );
    let id = support::object_id("x");
    let chunk =
        |id: &str, body: &str| json!({"id": id, "kind": "records", "chunks": 1, "body": body});
    let declaring = |kind: &str, chunks: i64, body: &str| json!({"id": id, "kind": kind, "chunks": chunks, "body": body});
    // 0.9 MiB sealed: at least 225 chunks of records.
    let body = "A".repeat(900 * 1024 / 3 * 4);
    let huge = "A".repeat(((1 << 20) + 3) / 3 * 4 + 4);
    for (objects, expected) in [
        (json!([chunk("ABC", "AA==")]), StatusCode::BAD_REQUEST),
        (
            json!([chunk(&id.to_uppercase(), "AA==")]),
            StatusCode::BAD_REQUEST,
        ),
        (json!([chunk(&id, "not base64!")]), StatusCode::BAD_REQUEST),
        (
            json!([chunk(&id, "AA=="), chunk(&id, "AA==")]),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!([{"id": id, "kind": "records", "chunks": 1, "children": [id], "body": "AA=="}]),
            StatusCode::BAD_REQUEST,
        ),
        // The chunks a records object declares must fit its size; a node declares none.
        (
            json!([declaring("records", 0, "AA==")]),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!([declaring("records", 2, "AA==")]),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!([declaring("records", 224, &body)]),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!([declaring("node", 1, "AA==")]),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!([{"id": id, "kind": "tree", "body": "AA=="}]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!([chunk(&id, &huge)]), StatusCode::BAD_REQUEST),
    ] {
        let r = h
            .call(
                "PUT",
                &format!("{at}/objects"),
                Some(&a),
                Some(json!({"objects": objects})),
            )
            .await;
        assert_eq!(r.status, expected, "{}", r.body);
        assert!(r.body["error"]["code"].is_string());
    }
    // Five objects of 0.9 MiB: over a batch's 4 MiB.
    let many: Vec<Value> = (0..5)
        .map(|i| {
            let id = support::object_id(&format!("big{i}"));
            json!({"id": id, "kind": "records", "chunks": 300, "body": body})
        })
        .collect();
    let r = h
        .call(
            "PUT",
            &format!("{at}/objects"),
            Some(&a),
            Some(json!({"objects": many})),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    let too_many: Vec<String> = (0..10_001)
        .map(|i| support::object_id(&i.to_string()))
        .collect();
    let r = h
        .post(&format!("{at}/missing"), &a, json!({"ids": too_many}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.rows("index_objects", &org).await,
        0,
        "nothing of a refused batch is kept"
    );
    let r = h
        .post(
            &format!("{at}/commit"),
            &a,
            json!({"base_generation": -1, "model": "m", "key_epoch": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// A wrapped key's size (format, ephemeral public key, nonce, sealed key and epoch), base64.
fn wrapped(fill: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([fill; 109])
}

/// A key's check: every copy of one key carries the same.
fn check(key: u8) -> String {
    format!("{key:02x}").repeat(16)
}

async fn the_data_key_reaches_members_wrapped_and_moves_on_when_one_leaves(backend: Backend) {
    let (h, a, org, _) = setup(backend).await;
    let (bob, b) = h.user("bob@example.com").await;
    h.join(&org, &a, "bob@example.com", "member", &b).await;
    let (_, v) = h.user("victor@example.com").await;
    h.join(&org, &a, "victor@example.com", "viewer", &v).await;
    let base = format!("/v1/orgs/{org}/recipients");
    let register = |token: String, label: &'static str| {
        let h = &h;
        let base = base.clone();
        async move {
            let key = support::object_id(label);
            let r = h
                .post(&base, &token, json!({"public_key": key, "label": label}))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let ra = register(a.clone(), "ann's laptop").await;
    assert_eq!(
        register(a.clone(), "ann's laptop").await,
        ra,
        "registering again is a no-op"
    );
    let rb = register(b.clone(), "bob's desktop").await;
    let taken = h
        .post(
            &base,
            &b,
            json!({"public_key": support::object_id("ann's laptop"), "label": "x"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let listed = h.get(&base, &v).await;
    assert_eq!(listed.body["epoch"], 1);
    assert_eq!(listed.body["recipients"].as_array().unwrap().len(), 2);
    assert!(
        listed.body["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["has_key"] == false)
    );

    // The first holder wraps the key to each; the first copy of an epoch stays.
    for (r, fill) in [(&ra, 1), (&rb, 2)] {
        let put = h
            .call(
                "PUT",
                &format!("{base}/{r}/key"),
                Some(&a),
                Some(json!({"epoch": 1, "wrapped": wrapped(fill), "check": check(1)})),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    }
    let again = h
        .call(
            "PUT",
            &format!("{base}/{rb}/key"),
            Some(&b),
            Some(json!({"epoch": 1, "wrapped": wrapped(9), "check": check(1)})),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let mine = h.get(&format!("{base}/{rb}/key"), &b).await;
    assert_eq!(
        mine.body,
        json!({"epoch": 1, "wrapped": wrapped(2), "check": check(1)})
    );
    assert_eq!(
        h.get(&format!("{base}/{rb}/key"), &a).await.status,
        StatusCode::NOT_FOUND,
        "only its owner reads it"
    );
    for (body, status) in [
        (
            json!({"epoch": 2, "wrapped": wrapped(3), "check": check(1)}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"epoch": 1, "wrapped": "c2hvcnQ=", "check": check(1)}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"epoch": 1, "wrapped": wrapped(3), "check": "not hex"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"epoch": 1, "wrapped": wrapped(3)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = h
            .call("PUT", &format!("{base}/{ra}/key"), Some(&a), Some(body))
            .await;
        assert_eq!(r.status, status, "{}", r.body);
    }
    let viewer = h
        .call(
            "PUT",
            &format!("{base}/{ra}/key"),
            Some(&v),
            Some(json!({"epoch": 1, "wrapped": wrapped(4), "check": check(1)})),
        )
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    let listed = h.get(&base, &a).await;
    assert!(
        listed.body["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["has_key"] == true)
    );

    // The recovery key of an epoch is written down once, by an owner holding that key.
    let recovery = format!("/v1/orgs/{org}/recovery-key");
    for (token, body, status) in [
        (
            &b,
            json!({"epoch": 1, "check": check(1)}),
            StatusCode::FORBIDDEN,
        ),
        (
            &a,
            json!({"epoch": 1, "check": check(2)}),
            StatusCode::CONFLICT,
        ),
        (
            &a,
            json!({"epoch": 2, "check": check(1)}),
            StatusCode::CONFLICT,
        ),
        (
            &a,
            json!({"epoch": 1, "check": check(1)}),
            StatusCode::NO_CONTENT,
        ),
        (
            &a,
            json!({"epoch": 1, "check": check(1)}),
            StatusCode::CONFLICT,
        ),
    ] {
        let r = h.post(&recovery, token, body).await;
        assert_eq!(r.status, status, "{}", r.body);
    }
    assert_eq!(h.get(&base, &v).await.body["recovery_epoch"], 1);

    // Another org sees none of it.
    let (_, m) = h.user("mallory@example.com").await;
    h.org(&m, "evil").await;
    assert_eq!(h.get(&base, &m).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.get(&format!("{base}/{rb}/key"), &m).await.status,
        StatusCode::NOT_FOUND
    );

    // Bob leaves: his recipient goes, and the org moves to the next key epoch, which he
    // never holds.
    let removed = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{bob}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let listed = h.get(&base, &a).await;
    assert_eq!(listed.body["epoch"], 2);
    assert_eq!(
        listed.body["recovery_epoch"], 1,
        "epoch 2's is not written down"
    );
    let left: Vec<&str> = listed.body["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(left, [ra.as_str()]);
    assert_eq!(listed.body["recipients"][0]["has_key"], false);
    assert_eq!(
        h.get(&format!("{base}/{ra}/key"), &a).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.rows("wrapped_keys", &org).await,
        1,
        "ann's epoch-1 copy; bob's is gone"
    );

    // An API key's recipient: revoking a key that held the data key moves the epoch too.
    let created = h
        .post(
            &format!("/v1/orgs/{org}/keys"),
            &a,
            json!({"name": "ci", "role": "member"}),
        )
        .await;
    let (key, key_id) = (
        created.body["key"].as_str().unwrap().to_string(),
        created.body["api_key"]["id"].as_str().unwrap().to_string(),
    );
    let rk = register(key.clone(), "ci runner").await;
    // Epoch 2's key does not exist yet: its first copy must go to its maker's own device.
    // `fill` stands for a copy's bytes, `key` for the key wrapped in it.
    let put_key = |r: String, token: String, fill: u8, key: u8| {
        let h = &h;
        let base = base.clone();
        async move {
            h.call(
                "PUT",
                &format!("{base}/{r}/key"),
                Some(&token),
                Some(json!({"epoch": 2, "wrapped": wrapped(fill), "check": check(key)})),
            )
            .await
            .status
        }
    };
    assert_eq!(
        put_key(rk.clone(), a.clone(), 5, 2).await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        put_key(ra.clone(), a.clone(), 6, 2).await,
        StatusCode::CREATED
    );
    // A device that made a key of its own at the same time is refused: one key per epoch.
    assert_eq!(
        put_key(rk.clone(), key.clone(), 8, 7).await,
        StatusCode::CONFLICT
    );
    // So is a holder handing on another key than the epoch's.
    assert_eq!(
        put_key(rk.clone(), a.clone(), 5, 7).await,
        StatusCode::CONFLICT
    );
    // Who presents the epoch's check holds its key (restored from a recovery key): they may
    // give their own device a copy.
    assert_eq!(
        put_key(rk.clone(), key.clone(), 8, 2).await,
        StatusCode::CREATED
    );
    assert_eq!(put_key(rk.clone(), a.clone(), 5, 2).await, StatusCode::OK);
    assert_eq!(
        h.get(&format!("{base}/{rk}/key"), &key).await.body["epoch"],
        2
    );
    let revoked = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/keys/{key_id}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    assert_eq!(h.get(&base, &a).await.body["epoch"], 3);
    // Removing one's own recipient that held no key changes nothing.
    let r = h
        .call("DELETE", &format!("{base}/{ra}"), Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get(&base, &a).await.body["epoch"], 3);
}

async fn a_commit_under_a_new_key_retires_what_older_keys_sealed(backend: Backend) {
    let (h, a, org, repo) = setup(backend).await;
    let (bob, b) = h.user("bob@example.com").await;
    h.join(&org, &a, "bob@example.com", "member", &b).await;
    let v1 = tree(&[("a.rs", &["fn a", "fn b"]), ("b.rs", &["fn c"])]);
    let branch = tree(&[("a.rs", &["fn a", "fn b"]), ("c.rs", &["fn d"])]);
    h.sync(&org, &repo, &a, "main", &v1, 0).await;
    let b1 = h.sync(&org, &repo, &b, "feature", &branch, 0).await;
    assert_eq!(b1.body["repo_chunks"], 4, "{}", b1.body);

    // Bob held the key and leaves: the org moves to epoch 2.
    let base = format!("/v1/orgs/{org}/recipients");
    let mut held = Vec::new();
    for (token, label) in [(&a, "ann"), (&b, "bob")] {
        let r = h
            .post(
                &base,
                token,
                json!({"public_key": support::object_id(label), "label": label}),
            )
            .await;
        held.push(r.body["id"].as_str().unwrap().to_string());
    }
    for r in &held {
        let put = h
            .call(
                "PUT",
                &format!("{base}/{r}/key"),
                Some(&a),
                Some(json!({"epoch": 1, "wrapped": wrapped(1), "check": check(1)})),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    }
    // Ann's sync under epoch 1 has uploaded everything when Bob is removed.
    let racing = tree(&[("a.rs", &["fn a", "fn b", "fn e"]), ("b.rs", &["fn c"])]);
    let Ok(at) = h.upload(&org, &repo, &a, "main", &racing).await else {
        panic!("the session was refused")
    };
    let removed = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{bob}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get(&base, &a).await.body["epoch"], 2);
    // Bob holds epoch 1's key: what it sealed must not become live after he left.
    let late = json!({"base_generation": 1, "model": "scry-static-v3", "key_epoch": 1});
    let refused = h.post(&format!("{at}/commit"), &a, late).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "stale_key");
    assert_eq!(refused.body["generation"], 1);
    let refs = h
        .get(&format!("/v1/orgs/{org}/repos/{repo}/index/refs"), &a)
        .await;
    let main = refs
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ref"] == "main");
    assert_eq!(main.unwrap()["root"], v1.root.as_str(), "nothing moved");

    // The first commit under the new key (new ids, a new ref name) retires both old refs:
    // their chunks leave the count, and their objects are collected like any dead ones.
    let v2 = tree(&[("a.rs", &["fn a'", "fn b'"]), ("b.rs", &["fn c'"])]);
    let resealed = h.sync(&org, &repo, &a, "main-2", &v2, 0).await;
    assert_eq!(resealed.status, StatusCode::OK, "{}", resealed.body);
    assert_eq!(resealed.body["repo_chunks"], 3, "{}", resealed.body);
    let refs = h
        .get(&format!("/v1/orgs/{org}/repos/{repo}/index/refs"), &a)
        .await;
    let names: Vec<&str> = refs
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ref"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["main-2"]);
    // Later commits under the same key retire nothing more.
    let more = h.sync(&org, &repo, &a, "feature-2", &branch, 0).await;
    assert_eq!(more.body["repo_chunks"], 6, "{}", more.body);
}

async fn a_key_revoked_mid_sync_commits_nothing(backend: Backend) {
    let (h, a, org, repo) = setup(backend).await;
    let created = h
        .post(
            &format!("/v1/orgs/{org}/keys"),
            &a,
            json!({"name": "ci", "role": "member"}),
        )
        .await;
    let key = created.body["key"].as_str().unwrap().to_string();
    let key_id = created.body["api_key"]["id"].as_str().unwrap().to_string();
    let v1 = tree(&[("a.rs", &["fn a"])]);
    assert_eq!(
        h.sync(&org, &repo, &key, "main", &v1, 0).await.body["generation"],
        1
    );

    // The key's next sync has uploaded everything when the key is revoked.
    let v2 = tree(&[("a.rs", &["fn a", "fn b"]), ("b.rs", &["fn c"])]);
    let Ok(at) = h.upload(&org, &repo, &key, "main", &v2).await else {
        panic!("the session was refused")
    };
    let revoked = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/keys/{key_id}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let commit = h
        .post(
            &format!("{at}/commit"),
            &key,
            json!({"base_generation": 1, "model": "scry-static-v3", "key_epoch": 1}),
        )
        .await;
    assert_eq!(commit.status, StatusCode::UNAUTHORIZED, "{}", commit.body);
    let refs = h
        .get(&format!("/v1/orgs/{org}/repos/{repo}/index/refs"), &a)
        .await;
    assert_eq!(refs.body[0]["generation"], 1);
    assert_eq!(refs.body[0]["root"], v1.root.as_str());
    assert_eq!(refs.body[0]["repo_chunks"], 1, "nothing of v2 counts");

    // Someone still entitled syncs the same tree: what the key sent is there, uncounted
    // until this commit.
    let mine = h.open_sync(&org, &repo, &a, "main", &v2).await;
    let at = format!(
        "/v1/orgs/{org}/repos/{repo}/index/sessions/{}",
        mine.body["id"].as_str().unwrap()
    );
    let missing = h
        .post(&format!("{at}/missing"), &a, json!({"ids": v2.ids()}))
        .await;
    assert_eq!(missing.body["missing"], json!([]), "{}", missing.body);
    let done = h
        .post(
            &format!("{at}/commit"),
            &a,
            json!({"base_generation": 1, "model": "scry-static-v3", "key_epoch": 1}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["generation"], 2);
    assert_eq!(done.body["repo_chunks"], 3);
}
