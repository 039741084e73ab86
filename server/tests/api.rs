//! The conformance suite: every case runs against SQLite and against a real PostgreSQL.

#[macro_use]
mod support;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use scry_server::clock::{Clock, DatabaseClock, SystemClock};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, Row};
use support::{Backend, Harness, config, limits};

on_both_backends!(
    sessions_are_revocable_and_expire,
    device_grant_follows_rfc_8628,
    members_roles_and_invitations,
    other_orgs_answer_like_nonexistent_ones,
    api_keys_are_checked_scoped_and_revocable,
    quotas_hold_under_parallel_requests,
    rate_limits_are_shared_by_replicas_and_follow_the_tier,
    usage_is_recorded_per_day,
    audit_and_export,
    deleting_removes_every_row_but_the_audit_entry,
    webhooks_are_signed_and_retried,
    bad_input_gets_a_json_4xx,
    sealed_snippets_are_an_admins_choice_for_the_org,
);

async fn harness(backend: Backend) -> Harness {
    Harness::new(backend, config()).await
}

async fn sessions_are_revocable_and_expire(backend: Backend) {
    let h = harness(backend).await;
    let (alice, token) = h.user("alice@example.com").await;

    let again = h
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "Alice@Example.com", "password": "another password"})),
        )
        .await;
    // The same answer as for a new address (no account enumeration); the owner is told.
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(again.body["id"], alice.as_str());
    assert_eq!(again.body["email"], "alice@example.com");
    let notices = h.mail_to("alice@example.com");
    assert!(
        notices.last().unwrap().contains("already has one"),
        "{notices:?}"
    );
    let short = h
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "bob@example.com", "password": "short"})),
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let not_email = h
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "bob", "password": "long enough password"})),
        )
        .await;
    assert_eq!(not_email.status, StatusCode::BAD_REQUEST);

    for (email, password) in [
        ("alice@example.com", "wrong password!"),
        ("nobody@example.com", "correct horse battery"),
    ] {
        let r = h
            .call(
                "POST",
                "/v1/sessions",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body["error"]["message"], "wrong email or password");
    }

    let me = h.get("/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["id"], alice.as_str());
    assert_eq!(me.body["user"]["email"], "alice@example.com");

    // Revoked at once.
    let out = h
        .call("DELETE", "/v1/sessions/current", Some(&token), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Expired after the configured lifetime.
    let (_, token) = h.user("carol@example.com").await;
    h.clock.advance(h.config.session_ttl_s - 1);
    assert_eq!(h.get("/v1/me", &token).await.status, StatusCode::OK);
    h.clock.advance(1);
    assert_eq!(
        h.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );

    for bad in ["scry_sess_notarealtoken", "garbage", "", "scry_live_x_y"] {
        let r = h.get("/v1/me", bad).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(r.code(), "unauthorized");
    }
    assert_eq!(
        h.call("GET", "/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn device_poll(h: &Harness, device_code: &str) -> (StatusCode, Value) {
    let body = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code={device_code}&client_id=scry-cli"
    );
    let r = h
        .raw_call(
            "POST",
            "/v1/device/token",
            None,
            Some("application/x-www-form-urlencoded"),
            body.into_bytes(),
        )
        .await;
    (r.status, r.body)
}

async fn device_start(h: &Harness) -> (String, String) {
    let r = h
        .raw_call(
            "POST",
            "/v1/device/code",
            None,
            Some("application/x-www-form-urlencoded"),
            b"client_id=scry-cli".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["interval"], 5);
    let user_code = r.body["user_code"].as_str().unwrap().to_string();
    assert_eq!(user_code.len(), 9, "XXXX-XXXX");
    assert!(
        r.body["verification_uri_complete"]
            .as_str()
            .unwrap()
            .ends_with(&user_code)
    );
    (
        r.body["device_code"].as_str().unwrap().to_string(),
        user_code,
    )
}

async fn device_grant_follows_rfc_8628(backend: Backend) {
    let h = harness(backend).await;
    let (_, token) = h.user("dev@example.com").await;

    let (device, user_code) = device_start(&h).await;
    let (status, body) = device_poll(&h, &device).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "authorization_pending");
    // Polling faster than the interval: slow down.
    let (_, body) = device_poll(&h, &device).await;
    assert_eq!(body["error"], "slow_down");
    // Each slow_down adds 5 s to the interval: 10 s, then 15 s.
    h.clock.advance(5);
    assert_eq!(device_poll(&h, &device).await.1["error"], "slow_down");
    h.clock.advance(15);
    assert_eq!(
        device_poll(&h, &device).await.1["error"],
        "authorization_pending"
    );

    // The person approves, typing the code loosely.
    let loose = user_code.to_lowercase().replace('-', " ");
    let r = h
        .post(
            "/v1/device/verify",
            &token,
            json!({"user_code": loose, "approve": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    h.clock.advance(15);
    let (status, body) = device_poll(&h, &device).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap();
    let me = h.get("/v1/me", access).await;
    assert_eq!(me.body["user"]["email"], "dev@example.com");
    // A device code logs in once.
    h.clock.advance(10);
    assert_eq!(device_poll(&h, &device).await.1["error"], "invalid_grant");

    // Denied.
    let (device, user_code) = device_start(&h).await;
    let r = h
        .post(
            "/v1/device/verify",
            &token,
            json!({"user_code": user_code, "approve": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(device_poll(&h, &device).await.1["error"], "access_denied");

    // Expired, and its code can no longer be approved.
    let (device, user_code) = device_start(&h).await;
    h.clock.advance(h.config.device_code_ttl_s);
    assert_eq!(device_poll(&h, &device).await.1["error"], "expired_token");
    let r = h
        .post(
            "/v1/device/verify",
            &token,
            json!({"user_code": user_code, "approve": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    assert_eq!(device_poll(&h, "made-up").await.1["error"], "invalid_grant");
    let wrong_grant = h
        .raw_call(
            "POST",
            "/v1/device/token",
            None,
            Some("application/x-www-form-urlencoded"),
            b"grant_type=password&device_code=x".to_vec(),
        )
        .await;
    assert_eq!(wrong_grant.body["error"], "unsupported_grant_type");
    let json_body = h
        .call(
            "POST",
            "/v1/device/code",
            None,
            Some(json!({"client_id": "x"})),
        )
        .await;
    assert_eq!(json_body.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

async fn members_roles_and_invitations(backend: Backend) {
    let h = harness(backend).await;
    let (alice, a) = h.user("alice@example.com").await;
    let (bob, b) = h.user("bob@example.com").await;
    let (_, c) = h.user("carol@example.com").await;
    let org = h.org(&a, "acme").await;

    // An invitation is for its email only.
    let r = h
        .post(
            &format!("/v1/orgs/{org}/invitations"),
            &a,
            json!({"email": "bob@example.com", "role": "member"}),
        )
        .await;
    let invite = r.body["token"].as_str().unwrap().to_string();
    let pending = h.get(&format!("/v1/orgs/{org}/invitations"), &a).await;
    assert_eq!(pending.body.as_array().unwrap().len(), 1);
    let wrong = h
        .post("/v1/invitations/accept", &c, json!({"token": invite}))
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    let ok = h
        .post("/v1/invitations/accept", &b, json!({"token": invite}))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["role"], "member");
    let twice = h
        .post("/v1/invitations/accept", &b, json!({"token": invite}))
        .await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
    h.join(&org, &a, "carol@example.com", "viewer", &c).await;

    let members = h.get(&format!("/v1/orgs/{org}/members"), &c).await;
    let roles: Vec<(String, String)> = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(roles.len(), 3);
    assert!(roles.contains(&("alice@example.com".into(), "owner".into())));
    assert!(roles.contains(&("carol@example.com".into(), "viewer".into())));

    // What each role may do.
    let repos = format!("/v1/orgs/{org}/repos");
    let viewer_write = h.post(&repos, &c, json!({"name": "web"})).await;
    assert_eq!(viewer_write.status, StatusCode::FORBIDDEN);
    assert_eq!(viewer_write.code(), "forbidden");
    assert_eq!(h.get(&repos, &c).await.status, StatusCode::OK);
    assert_eq!(
        h.post(&repos, &b, json!({"name": "web"})).await.status,
        StatusCode::CREATED
    );
    let member_invites = h
        .post(
            &format!("/v1/orgs/{org}/invitations"),
            &b,
            json!({"email": "dan@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(member_invites.status, StatusCode::FORBIDDEN);

    let promote = h
        .call(
            "PATCH",
            &format!("/v1/orgs/{org}/members/{bob}"),
            Some(&a),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promote.status, StatusCode::NO_CONTENT);
    let admin_makes_owner = h
        .call(
            "PATCH",
            &format!("/v1/orgs/{org}/members/{bob}"),
            Some(&b),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(admin_makes_owner.status, StatusCode::FORBIDDEN);
    // The last owner stays.
    let demote_last_owner = h
        .call(
            "PATCH",
            &format!("/v1/orgs/{org}/members/{alice}"),
            Some(&a),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(demote_last_owner.status, StatusCode::CONFLICT);
    let remove_last_owner = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{alice}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(remove_last_owner.status, StatusCode::CONFLICT);
    assert_eq!(
        h.call("DELETE", &format!("/v1/orgs/{org}"), Some(&b), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Removal takes effect at once.
    let removed = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{bob}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get(&repos, &b).await.status, StatusCode::NOT_FOUND);
    let me = h.get("/v1/me", &b).await;
    assert_eq!(me.body["orgs"].as_array().unwrap().len(), 0);

    // A pending invitation can be withdrawn (admins), once; its token then joins nobody.
    let invitations = format!("/v1/orgs/{org}/invitations");
    let sent = h
        .post(
            &invitations,
            &a,
            json!({"email": "bob@example.com", "role": "viewer"}),
        )
        .await;
    let (id, token) = (
        sent.body["invitation"]["id"].as_str().unwrap(),
        &sent.body["token"],
    );
    let by_viewer = h
        .call("DELETE", &format!("{invitations}/{id}"), Some(&c), None)
        .await;
    assert_eq!(by_viewer.status, StatusCode::FORBIDDEN);
    let revoked = h
        .call("DELETE", &format!("{invitations}/{id}"), Some(&a), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let again = h
        .call("DELETE", &format!("{invitations}/{id}"), Some(&a), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(h.get(&invitations, &a).await.body, json!([]));
    let late = h
        .post("/v1/invitations/accept", &b, json!({"token": token}))
        .await;
    assert_eq!(late.status, StatusCode::NOT_FOUND);

    // A viewer may not remove others, but may leave.
    let carol = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "carol@example.com")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let kick = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{alice}"),
            Some(&c),
            None,
        )
        .await;
    assert_eq!(kick.status, StatusCode::FORBIDDEN);
    let left = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{carol}"),
            Some(&c),
            None,
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get(&repos, &c).await.status, StatusCode::NOT_FOUND);
    let audit = h.get(&format!("/v1/orgs/{org}/audit"), &a).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"invitation.revoked"), "{actions:?}");
}

async fn other_orgs_answer_like_nonexistent_ones(backend: Backend) {
    let h = harness(backend).await;
    let (_, a) = h.user("alice@example.com").await;
    let (_, b) = h.user("bob@example.com").await;
    let org_a = h.org(&a, "alpha").await;
    let org_b = h.org(&b, "beta").await;
    let repo = h
        .post(
            &format!("/v1/orgs/{org_a}/repos"),
            &a,
            json!({"name": "secret"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let missing_org = "org_AAAAAAAAAAAAAAAAAAAA";
    let missing_repo = "repo_AAAAAAAAAAAAAAAAAAAA";

    for (theirs, nonexistent) in [
        (
            format!("/v1/orgs/{org_a}"),
            format!("/v1/orgs/{missing_org}"),
        ),
        (
            format!("/v1/orgs/{org_a}/repos"),
            format!("/v1/orgs/{missing_org}/repos"),
        ),
        (
            format!("/v1/orgs/{org_a}/repos/{repo}"),
            format!("/v1/orgs/{missing_org}/repos/{missing_repo}"),
        ),
        (
            format!("/v1/orgs/{org_a}/members"),
            format!("/v1/orgs/{missing_org}/members"),
        ),
        (
            format!("/v1/orgs/{org_a}/quota"),
            format!("/v1/orgs/{missing_org}/quota"),
        ),
        (
            format!("/v1/orgs/{org_a}/export"),
            format!("/v1/orgs/{missing_org}/export"),
        ),
    ] {
        let r1 = h.get(&theirs, &b).await;
        let r2 = h.get(&nonexistent, &b).await;
        assert_eq!(r1.status, StatusCode::NOT_FOUND, "{theirs}");
        assert_eq!((r1.status, &r1.body), (r2.status, &r2.body), "{theirs}");
    }
    // A repository id of org A under org B is no more visible.
    let cross = h.get(&format!("/v1/orgs/{org_b}/repos/{repo}"), &b).await;
    let none = h
        .get(&format!("/v1/orgs/{org_b}/repos/{missing_repo}"), &b)
        .await;
    assert_eq!((cross.status, &cross.body), (none.status, &none.body));
    let delete = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org_b}/repos/{repo}"),
            Some(&b),
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.get(&format!("/v1/orgs/{org_a}/repos/{repo}"), &a)
            .await
            .status,
        StatusCode::OK
    );

    // A user in two organisations sees each separately.
    h.join(&org_b, &b, "alice@example.com", "member", &a).await;
    h.post(
        &format!("/v1/orgs/{org_b}/repos"),
        &a,
        json!({"name": "shared"}),
    )
    .await;
    let names = |r: support::Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(h.get(&format!("/v1/orgs/{org_a}/repos"), &a).await),
        ["secret"]
    );
    assert_eq!(
        names(h.get(&format!("/v1/orgs/{org_b}/repos"), &a).await),
        ["shared"]
    );
    let me = h.get("/v1/me", &a).await;
    assert_eq!(me.body["orgs"].as_array().unwrap().len(), 2);
}

async fn create_key(h: &Harness, org: &str, token: &str, role: &str) -> (String, Value) {
    let r = h
        .post(
            &format!("/v1/orgs/{org}/keys"),
            token,
            json!({"name": "ci", "role": role}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (
        r.body["key"].as_str().unwrap().to_string(),
        r.body["api_key"].clone(),
    )
}

async fn api_keys_are_checked_scoped_and_revocable(backend: Backend) {
    let h = harness(backend).await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let other = h.org(&a, "other").await;
    let (key, meta) = create_key(&h, &org, &a, "member").await;

    assert!(key.starts_with("scry_live_"), "{key}");
    assert!(scry_server::auth::api_key_well_formed(&key));
    let prefix = meta["prefix"].as_str().unwrap();
    assert!(key.starts_with(prefix.trim_end_matches('…')), "{prefix}");
    assert!(meta["last_used_at"].is_null());
    // Listed without the key itself.
    let listed = h.get(&format!("/v1/orgs/{org}/keys"), &a).await;
    assert!(!listed.body.to_string().contains(&key));

    // The key acts in its organisation with its role.
    let repos = format!("/v1/orgs/{org}/repos");
    assert_eq!(h.get(&repos, &key).await.status, StatusCode::OK);
    assert_eq!(
        h.post(&repos, &key, json!({"name": "from-ci"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.call("DELETE", &format!("/v1/orgs/{org}"), Some(&key), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.get(&format!("/v1/orgs/{other}/repos"), &key).await.status,
        StatusCode::NOT_FOUND
    );
    // Users' own routes need a user.
    assert_eq!(h.get("/v1/me", &key).await.status, StatusCode::FORBIDDEN);
    let listed = h.get(&format!("/v1/orgs/{org}/keys"), &a).await;
    assert_eq!(listed.body[0]["last_used_at"], support::START);

    // One character off: refused as malformed, without a lookup.
    let mut typo = key.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    let r = h.get(&repos, &typo).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"]["message"], "malformed API key");

    // Revoked at once.
    let id = meta["id"].as_str().unwrap();
    let r = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/keys/{id}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = h.get(&repos, &key).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A key cannot mint keys above the role of whoever makes it.
    let (_, b) = h.user("bob@example.com").await;
    h.join(&org, &a, "bob@example.com", "admin", &b).await;
    let r = h
        .post(
            &format!("/v1/orgs/{org}/keys"),
            &b,
            json!({"name": "root", "role": "owner"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn quotas_hold_under_parallel_requests(backend: Backend) {
    let h = harness(backend).await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let repos = format!("/v1/orgs/{org}/repos");

    let attempts = (0..12).map(|i| {
        let app = h.app.clone();
        let (repos, a) = (repos.clone(), a.clone());
        tokio::spawn(async move {
            support::send(
                &app,
                "POST",
                &repos,
                Some(&a),
                Some(json!({"name": format!("r{i}")})),
            )
            .await
        })
    });
    let mut created = Vec::new();
    let mut refused = 0;
    for task in attempts {
        let r = task.await.unwrap();
        match r.status {
            StatusCode::CREATED => created.push(r.body["id"].as_str().unwrap().to_string()),
            StatusCode::FORBIDDEN => {
                assert_eq!(r.code(), "quota_exceeded");
                assert_eq!(
                    r.body["error"]["message"],
                    "quota exceeded: the free tier allows 3 repositories"
                );
                refused += 1;
            }
            other => panic!("{other}: {}", r.body),
        }
    }
    assert_eq!((created.len(), refused), (3, 9));
    assert_eq!(h.rows("repos", &org).await, 3);

    // Chunks: 10,000 across the organisation, committed in parallel by syncs of 4,000 each.
    let trees: Vec<support::Tree> = (0..created.len())
        .map(|r| {
            let chunks: Vec<String> = (0..4000).map(|i| format!("fn r{r}_{i}")).collect();
            let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
            support::tree(&[("a.rs", &chunks)])
        })
        .collect();
    let claims = tokio::join!(
        h.sync(&org, &created[0], &a, "main", &trees[0], 0),
        h.sync(&org, &created[1], &a, "main", &trees[1], 0),
        h.sync(&org, &created[2], &a, "main", &trees[2], 0),
    );
    let mut granted = 0;
    for r in [claims.0, claims.1, claims.2] {
        if r.status == StatusCode::OK {
            granted += 1;
        } else {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("10000 chunks"),
                "{}",
                r.body
            );
        }
    }
    assert_eq!(granted, 2);
    let total: i64 = h.get(&repos, &a).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["chunks"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 8000);

    // A tier change applies to the next request.
    let upgrade = h
        .call(
            "PUT",
            &format!("/v1/admin/orgs/{org}/tier"),
            Some("operator-secret"),
            Some(json!({"tier": "pro"})),
        )
        .await;
    assert_eq!(upgrade.status, StatusCode::OK, "{}", upgrade.body);
    assert_eq!(upgrade.body["tier"], "pro");
    assert_eq!(
        h.post(&repos, &a, json!({"name": "fourth"})).await.status,
        StatusCode::CREATED
    );
    let not_operator = h
        .call(
            "PUT",
            &format!("/v1/admin/orgs/{org}/tier"),
            Some(&a),
            Some(json!({"tier": "pro"})),
        )
        .await;
    assert_eq!(not_operator.status, StatusCode::UNAUTHORIZED);
    let enterprise = h
        .call(
            "PUT",
            &format!("/v1/admin/orgs/{org}/tier"),
            Some("operator-secret"),
            Some(json!({"tier": "enterprise", "limits": limits(4, 1_000_000, 10_000)})),
        )
        .await;
    assert_eq!(enterprise.status, StatusCode::OK);
    let org_now = h.get(&format!("/v1/orgs/{org}"), &a).await;
    assert_eq!(org_now.body["tier"], "enterprise");
    let fifth = h.post(&repos, &a, json!({"name": "fifth"})).await;
    assert_eq!(fifth.status, StatusCode::FORBIDDEN);
    assert_eq!(
        fifth.body["error"]["message"],
        "quota exceeded: the enterprise tier allows 4 repositories"
    );
}

async fn rate_limits_are_shared_by_replicas_and_follow_the_tier(backend: Backend) {
    let mut config = config();
    config.tiers.get_mut("free").unwrap().requests_per_minute = 10;
    config.tiers.get_mut("pro").unwrap().requests_per_minute = 100;
    let h = Harness::new(backend, config).await;
    let second = h.replica().await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let path = format!("/v1/orgs/{org}");

    // Twenty requests at once, alternating between the two replicas: ten pass.
    let tasks = (0..20).map(|i| {
        let app = if i % 2 == 0 {
            h.app.clone()
        } else {
            second.clone()
        };
        let (path, a) = (path.clone(), a.clone());
        tokio::spawn(async move { support::send(&app, "GET", &path, Some(&a), None).await })
    });
    let mut ok = 0;
    for task in tasks {
        let r = task.await.unwrap();
        match r.status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(r.code(), "rate_limited");
                let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=60).contains(&retry), "{retry}");
            }
            other => panic!("{other}: {}", r.body),
        }
    }
    assert_eq!(ok, 10);

    // The next minute starts afresh.
    h.clock.advance(60);
    assert_eq!(h.get(&path, &a).await.status, StatusCode::OK);

    // An upgrade lifts the limit without a restart.
    h.clock.advance(60);
    let upgrade = h
        .call(
            "PUT",
            &format!("/v1/admin/orgs/{org}/tier"),
            Some("operator-secret"),
            Some(json!({"tier": "pro"})),
        )
        .await;
    assert_eq!(upgrade.status, StatusCode::OK);
    let mut ok = 0;
    for i in 0..30 {
        let app = if i % 2 == 0 { &h.app } else { &second };
        if support::send(app, "GET", &path, Some(&a), None)
            .await
            .status
            == StatusCode::OK
        {
            ok += 1;
        }
    }
    assert_eq!(ok, 30);
}

async fn usage_is_recorded_per_day(backend: Backend) {
    let h = harness(backend).await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let repos = format!("/v1/orgs/{org}/repos");
    let repo = h.post(&repos, &a, json!({"name": "web"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let chunks: Vec<String> = (0..1200).map(|i| format!("fn f{i}")).collect();
    let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
    let committed = h
        .sync(
            &org,
            &repo,
            &a,
            "main",
            &support::tree(&[("a.rs", &chunks)]),
            0,
        )
        .await;
    assert_eq!(committed.status, StatusCode::OK, "{}", committed.body);
    h.get(&repos, &a).await;
    h.clock.advance(86_400);
    h.post(&repos, &a, json!({"name": "api"})).await;

    // What the org holds, against its tier's limits.
    let quota = h.get(&format!("/v1/orgs/{org}/quota"), &a).await;
    assert_eq!(quota.status, StatusCode::OK, "{}", quota.body);
    let free = config().tier_limits("free");
    assert_eq!(
        quota.body,
        json!({"tier": "free", "repos": 2, "chunks": 1200, "limits": {
            "max_repos": free.max_repos, "max_chunks": free.max_chunks,
            "requests_per_minute": free.requests_per_minute}})
    );

    let usage = h.get(&format!("/v1/orgs/{org}/usage"), &a).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert_eq!(
        usage.body,
        json!([
            {"day": "2026-11-22", "requests": 7, "repos_created": 1, "chunks_stored": 1200, "searches": 0},
            {"day": "2026-11-23", "requests": 3, "repos_created": 1, "chunks_stored": 0, "searches": 0},
        ])
    );
    let one_day = h
        .get(
            &format!("/v1/orgs/{org}/usage?from=2026-11-23&to=2026-11-23"),
            &a,
        )
        .await;
    assert_eq!(one_day.body.as_array().unwrap().len(), 1);
    let bad = h
        .get(&format!("/v1/orgs/{org}/usage?from=yesterday"), &a)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

async fn audit_and_export(backend: Backend) {
    let h = harness(backend).await;
    let (alice, a) = h.user("alice@example.com").await;
    let (_, b) = h.user("bob@example.com").await;
    let org = h.org(&a, "acme").await;
    h.join(&org, &a, "bob@example.com", "member", &b).await;
    h.post(&format!("/v1/orgs/{org}/repos"), &b, json!({"name": "web"}))
        .await;
    let (key, _) = create_key(&h, &org, &a, "viewer").await;
    let hook = h
        .post(
            &format!("/v1/orgs/{org}/webhooks"),
            &a,
            json!({"url": "https://hooks.example.com/scry", "events": ["*"]}),
        )
        .await;
    let secret = hook.body["secret"].as_str().unwrap().to_string();

    let audit = h.get(&format!("/v1/orgs/{org}/audit?limit=100"), &a).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "org.created",
            "member.invited",
            "member.added",
            "repo.created",
            "api_key.created",
            "webhook.created"
        ]
    );
    assert_eq!(audit.body["items"][0]["actor"], alice.as_str());
    // Pages follow each other without gaps.
    let first = h.get(&format!("/v1/orgs/{org}/audit?limit=4"), &a).await;
    let next = first.body["next"].as_str().unwrap();
    let second = h
        .get(&format!("/v1/orgs/{org}/audit?limit=4&after={next}"), &a)
        .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(second.body["items"][0]["action"], "api_key.created");
    // Members do not read the audit log.
    assert_eq!(
        h.get(&format!("/v1/orgs/{org}/audit"), &b).await.status,
        StatusCode::FORBIDDEN
    );

    let export = h.get(&format!("/v1/orgs/{org}/export"), &a).await;
    assert_eq!(export.status, StatusCode::OK);
    let e = &export.body;
    assert_eq!(e["org"]["name"], "acme");
    assert_eq!(e["members"].as_array().unwrap().len(), 2);
    assert_eq!(e["repos"][0]["name"], "web");
    assert_eq!(e["api_keys"].as_array().unwrap().len(), 1);
    assert_eq!(e["webhooks"].as_array().unwrap().len(), 1);
    assert!(!e["audit"].as_array().unwrap().is_empty());
    assert!(!e["usage"].as_array().unwrap().is_empty());
    // No secrets in an export.
    let text = e.to_string();
    assert!(!text.contains(&key) && !text.contains(&secret) && !text.contains("hash"));
}

async fn deleting_removes_every_row_but_the_audit_entry(backend: Backend) {
    const TENANT_TABLES: &[&str] = &[
        "memberships",
        "invitations",
        "repos",
        "api_keys",
        "usage_daily",
        "rate_windows",
        "audit_log",
        "webhooks",
        "webhook_deliveries",
        "webhook_queue",
        "index_objects",
        "index_edges",
        "index_refs",
        "index_sessions",
        "sync_rate_windows",
        "recipients",
        "wrapped_keys",
    ];
    let h = harness(backend).await;
    let (_, a) = h.user("alice@example.com").await;
    let (_, b) = h.user("bob@example.com").await;
    let org = h.org(&a, "doomed").await;
    let kept = h.org(&a, "kept").await;
    for o in [&org, &kept] {
        h.join(o, &a, "bob@example.com", "member", &b).await;
        h.post(
            &format!("/v1/orgs/{o}/invitations"),
            &a,
            json!({"email": "carol@example.com", "role": "viewer"}),
        )
        .await;
        h.post(&format!("/v1/orgs/{o}/repos"), &a, json!({"name": "web"}))
            .await;
        create_key(&h, o, &a, "member").await;
        h.post(
            &format!("/v1/orgs/{o}/webhooks"),
            &a,
            json!({"url": "https://hooks.example.com/scry", "events": ["*"]}),
        )
        .await;
        let api = h
            .post(&format!("/v1/orgs/{o}/repos"), &a, json!({"name": "api"}))
            .await;
        let api = api.body["id"].as_str().unwrap();
        let tree = support::tree(&[("a.rs", &["fn a"])]);
        let synced = h.sync(o, api, &a, "main", &tree, 0).await;
        assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
        let public_key = support::object_id(&format!("device of {o}"));
        let r = h
            .post(
                &format!("/v1/orgs/{o}/recipients"),
                &a,
                json!({"public_key": public_key, "label": "laptop"}),
            )
            .await;
        let wrapped = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode([7u8; 109])
        };
        let put = h
            .call(
                "PUT",
                &format!(
                    "/v1/orgs/{o}/recipients/{}/key",
                    r.body["id"].as_str().unwrap()
                ),
                Some(&a),
                Some(json!({"epoch": 1, "wrapped": wrapped, "check": "0".repeat(32)})),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    }
    for table in TENANT_TABLES {
        assert!(
            h.rows(table, &org).await > 0,
            "{table} has no rows to delete"
        );
    }
    let (key, _) = create_key(&h, &org, &a, "admin").await;

    // One repository.
    let repos = h.get(&format!("/v1/orgs/{org}/repos"), &a).await;
    let web = repos.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "web")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h
        .call(
            "DELETE",
            &format!("/v1/orgs/{org}/repos/{web}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(h.rows("repos", &org).await, 1);
    assert_eq!(
        h.get(&format!("/v1/orgs/{org}/repos/{web}"), &a)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The whole organisation.
    let r = h
        .call("DELETE", &format!("/v1/orgs/{org}"), Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(h.rows("orgs", &org).await, 0);
    for table in TENANT_TABLES {
        let left = h.rows(table, &org).await;
        let expected = i64::from(*table == "audit_log");
        assert_eq!(
            left, expected,
            "{table} keeps {left} rows of the deleted org"
        );
    }
    let entry = sqlx::query("SELECT action, actor FROM audit_log WHERE org_id = $1")
        .bind(&org)
        .fetch_one(&h.raw)
        .await
        .unwrap();
    assert_eq!(entry.get::<String, _>("action"), "org.deleted");
    assert_eq!(
        h.get(&format!("/v1/orgs/{org}"), &a).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get(&format!("/v1/orgs/{org}/repos"), &key).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The other organisation is whole.
    for table in TENANT_TABLES {
        assert!(h.rows(table, &kept).await > 0, "{table} of the other org");
    }
    let me = h.get("/v1/me", &b).await;
    assert_eq!(me.body["orgs"].as_array().unwrap().len(), 1);
}

/// A service whose webhooks may reach this machine's loopback receivers (an operator's
/// self-hosted setting; the default refuses them).
async fn harness_with_loopback_hooks(backend: Backend) -> Harness {
    let config = scry_server::config::Config {
        webhook_allow_private_targets: true,
        ..config()
    };
    Harness::new(backend, config).await
}

async fn webhooks_are_signed_and_retried(backend: Backend) {
    let h = harness_with_loopback_hooks(backend).await;
    let (_, a) = h.user("alice@example.com").await;
    let (_, b) = h.user("bob@example.com").await;
    let org = h.org(&a, "acme").await;

    // A receiver that fails the first delivery and accepts the next.
    type Received = Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>;
    let received: Received = Arc::default();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let received = received.clone();
            move |headers: axum::http::HeaderMap, body: String| async move {
                let mut all = received.lock().unwrap();
                all.push((headers, body));
                if all.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let r = h
        .post(
            &format!("/v1/orgs/{org}/webhooks"),
            &a,
            json!({"url": url, "events": ["member.added"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let hook = r.body["webhook"]["id"].as_str().unwrap().to_string();
    // An event it did not ask for is not sent; the one it asked for is.
    h.post(&format!("/v1/orgs/{org}/repos"), &a, json!({"name": "web"}))
        .await;
    h.join(&org, &a, "bob@example.com", "member", &b).await;

    let sender = h.sender();
    assert_eq!(sender.send_due().await, 1);
    let deliveries = h
        .get(&format!("/v1/orgs/{org}/webhooks/{hook}/deliveries"), &a)
        .await;
    let d = &deliveries.body[0];
    assert_eq!(d["event"], "member.added");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["last_error"], "failed (status 500)");
    assert_eq!(d["status"], "pending");
    // Not due again before its back-off.
    assert_eq!(sender.send_due().await, 0);
    h.clock.advance(scry_server::webhooks::backoff(0));
    assert_eq!(sender.send_due().await, 1);
    let deliveries = h
        .get(&format!("/v1/orgs/{org}/webhooks/{hook}/deliveries"), &a)
        .await;
    assert_eq!(deliveries.body[0]["status"], "delivered");
    assert_eq!(deliveries.body[0]["attempts"], 2);
    assert_eq!(sender.send_due().await, 0);

    // Two replicas' senders at once: each delivery goes out once.
    let (_, c) = h.user("carol@example.com").await;
    h.join(&org, &a, "carol@example.com", "viewer", &c).await;
    let other = h.sender_on(h.replica_store().await);
    let (n1, n2) = tokio::join!(sender.send_due(), other.send_due());
    assert_eq!(n1 + n2, 1);

    let all = received.lock().unwrap();
    assert_eq!(all.len(), 3);
    let (headers, body) = &all[1];
    let id = headers["webhook-id"].to_str().unwrap();
    let timestamp: i64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        timestamp,
        support::START + scry_server::webhooks::backoff(0)
    );
    // The same message id on every attempt, so receivers can de-duplicate.
    assert_eq!(all[0].0["webhook-id"], id);
    assert_eq!(
        headers["webhook-signature"].to_str().unwrap(),
        scry_server::webhooks::sign(&secret, id, timestamp, body)
    );
    let payload: Value = serde_json::from_str(body).unwrap();
    assert_eq!(payload["type"], "member.added");
    assert_eq!(payload["data"]["org_id"], org.as_str());
}

async fn bad_input_gets_a_json_4xx(backend: Backend) {
    let h = harness(backend).await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let repos = format!("/v1/orgs/{org}/repos");
    let json_ct = Some("application/json");

    // Method, path, content type, body, expected status.
    type Case<'a> = (&'a str, String, Option<&'a str>, Vec<u8>, StatusCode);
    let cases: Vec<Case> = vec![
        (
            "POST",
            repos.clone(),
            json_ct,
            b"{\"name\":".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            repos.clone(),
            json_ct,
            b"[1,2,3]".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            repos.clone(),
            json_ct,
            b"\xff\xfe".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            repos.clone(),
            json_ct,
            b"{\"name\":\"x\",\"admin\":true}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            repos.clone(),
            json_ct,
            b"{\"name\":\"\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            repos.clone(),
            json_ct,
            format!("{{\"name\":\"{}\"}}", "x".repeat(500)).into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            repos.clone(),
            Some("text/plain"),
            b"{\"name\":\"x\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "POST",
            repos.clone(),
            None,
            b"{\"name\":\"x\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "POST",
            repos.clone(),
            json_ct,
            vec![b' '; 200 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "GET",
            format!("{repos}?limit=0"),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("{repos}?limit=1000000"),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("{repos}?limit=-1"),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("{repos}?limit=abc"),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("{repos}?limit=99999999999999999999999"),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("{repos}?after=%27%3B%20DROP%20TABLE%20repos"),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("{repos}?page=2"),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("{repos}/not-an-id"),
            None,
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            "GET",
            "/v1/orgs/org_%00%00/repos".to_string(),
            None,
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            "GET",
            format!("/v1/orgs/{org}'--/repos"),
            None,
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            "PATCH",
            format!("/v1/orgs/{org}/members/usr_x"),
            json_ct,
            b"{\"role\":\"god\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            format!("{repos}/repo_AAAAAAAAAAAAAAAAAAAA/index/sessions"),
            json_ct,
            format!(
                "{{\"ref\":\"main\",\"root\":\"{}\",\"chunks\":-5}}",
                "a".repeat(64)
            )
            .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            format!("{repos}/repo_AAAAAAAAAAAAAAAAAAAA/index/sessions"),
            json_ct,
            format!(
                "{{\"ref\":\"main\",\"root\":\"{}\",\"chunks\":1e400}}",
                "a".repeat(64)
            )
            .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/v1/nothing-here".to_string(),
            None,
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            "PUT",
            "/v1/me".to_string(),
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "POST",
            "/v1/orgs/x".repeat(2000),
            None,
            vec![],
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, ct, body, expected) in cases {
        let r = h.raw_call(method, &path, Some(&a), ct, body).await;
        let shown = &path[..path.len().min(80)];
        assert_eq!(r.status, expected, "{method} {shown}: {}", r.body);
        assert!(
            !r.code().is_empty(),
            "{method} {shown}: no JSON error: {}",
            r.body
        );
    }
    // Nothing above was stored.
    assert_eq!(h.rows("repos", &org).await, 0);
}

/// A PostgreSQL pool of one connection, with the default timeouts.
fn one_connection() -> scry_server::db::PgLimits {
    scry_server::db::PgLimits {
        max_connections: 1,
        ..support::pg_limits(&config())
    }
}

// ---- PostgreSQL only: the database enforces the isolation -----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_catalog_forces_row_level_security_on_every_tenant_table() {
    let (url, login) = support::fresh_postgres_database().await;
    scry_server::db::Db::postgres(&login, Some(&url), one_connection())
        .await
        .unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();

    // Every table that holds an org's rows: by its org_id column, so a new one cannot be missed.
    let tenant_tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name = 'org_id' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tenant_tables.len() >= 9, "{tenant_tables:?}");
    let mut checked = tenant_tables.clone();
    checked.retain(|t| t != "webhook_queue");
    checked.push("orgs".into());
    for table in &checked {
        let (enabled, forced): (bool, bool) = sqlx::query_as(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class \
             WHERE relname = $1 AND relnamespace = 'public'::regnamespace",
        )
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert!(enabled && forced, "{table}: row-level security not forced");
        let policies: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_policies WHERE tablename = $1")
                .bind(table)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert!(policies > 0, "{table} has no policy");
    }

    // The service's login and the role it serves as own nothing and bypass nothing.
    for role in ["scry_app", "scry_login"] {
        let (superuser, bypass): (bool, bool) =
            sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
                .bind(role)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert!(!superuser && !bypass, "{role}");
        let owned: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = $1)",
        )
        .bind(role)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(owned, 0, "{role} owns tables");
    }
    // The login alone reads nothing: it only serves as scry_app.
    let mut service = sqlx::PgConnection::connect(&login).await.unwrap();
    let denied = sqlx::query("SELECT COUNT(*) FROM repos")
        .fetch_one(&mut service)
        .await;
    assert!(denied.is_err(), "the login reads tables without SET ROLE");
}

/// Two replicas whose hosts' clocks are 90 s apart count one rate window: each keeps the
/// database's time. (On their own clocks each counted a window of its own, twice the limit,
/// and the one ahead collected the other's window as expired.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_with_skewed_clocks_share_one_rate_window() {
    struct Skewed(i64);
    impl Clock for Skewed {
        fn now(&self) -> i64 {
            self.now_ms().div_euclid(1000)
        }
        fn now_ms(&self) -> i64 {
            SystemClock.now_ms() + self.0
        }
    }
    let mut config = config();
    config.tiers.get_mut("free").unwrap().requests_per_minute = 10;
    let h = Harness::new(Backend::Postgres, config).await;
    let (_, manual) = h.user("alice@example.com").await;
    let org = h.org(&manual, "acme").await;
    let mut replicas = Vec::new();
    for skew_ms in [-45_000, 45_000] {
        let clock = Arc::new(DatabaseClock::new(Arc::new(Skewed(skew_ms))));
        let offset = clock.set(h.store.db()).await.unwrap();
        assert!(
            (offset + skew_ms).abs() < 1_000,
            "{offset} for a skew of {skew_ms}"
        );
        let store = h.replica_store().await;
        replicas.push(scry_server::app(store, clock, h.config.clone()).unwrap());
    }
    let login = json!({"email": "alice@example.com", "password": "correct horse battery"});
    let a = support::send(&replicas[0], "POST", "/v1/sessions", None, Some(login)).await;
    let a = a.body["token"].as_str().unwrap().to_string();
    // Twenty requests within one minute of the database's.
    let into_minute = h.store.db().now_ms().await.unwrap().rem_euclid(60_000);
    if into_minute > 55_000 {
        tokio::time::sleep(std::time::Duration::from_millis(
            (60_500 - into_minute) as u64,
        ))
        .await;
    }
    let path = format!("/v1/orgs/{org}");
    let mut ok = 0;
    for i in 0..20 {
        let r = support::send(&replicas[i % 2], "GET", &path, Some(&a), None).await;
        ok += (r.status == StatusCode::OK) as usize;
    }
    assert_eq!(ok, 10);
}

/// A table locked for long (an operator's migration, a stuck transaction): a request that
/// needs it is refused with 503 once its wait for the lock times out, instead of holding a
/// connection for as long as the lock; others go on; it recovers alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_locked_table_times_out_with_503_not_a_pile_up() {
    let config = scry_server::config::Config {
        lock_timeout_ms: 1_000,
        ..config()
    };
    let h = Harness::new(Backend::Postgres, config).await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let keys = format!("/v1/orgs/{org}/keys");
    let new_key = json!({"name": "ci", "role": "member"});

    let mut lock = h.raw.begin().await.unwrap();
    lock.execute("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let waiting: Vec<_> = (0..12)
        .map(|_| {
            let (app, keys, a, body) = (h.app.clone(), keys.clone(), a.clone(), new_key.clone());
            tokio::spawn(
                async move { support::send(&app, "POST", &keys, Some(&a), Some(body)).await },
            )
        })
        .collect();
    // Every answer comes while the lock is still held: refused, not kept waiting for it.
    // (Without the timeout they would wait forever; the bound only turns that into a failure.)
    let answers = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        let mut answers = Vec::new();
        for task in waiting {
            answers.push(task.await.unwrap());
        }
        answers
    })
    .await
    .expect("requests on a locked table were kept waiting");
    for r in &answers {
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert_eq!(r.code(), "unavailable");
    }
    let repos = h.get(&format!("/v1/orgs/{org}/repos"), &a).await;
    assert_eq!(repos.status, StatusCode::OK, "{}", repos.body);

    lock.rollback().await.unwrap();
    let r = h.post(&keys, &a, new_key).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(h.rows("api_keys", &org).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_connection_serving_two_orgs_leaks_nothing() {
    let (url, login) = support::fresh_postgres_database().await;
    let store = scry_server::store::SqlStore::new(
        scry_server::db::Db::postgres(&login, Some(&url), one_connection())
            .await
            .unwrap(),
    );
    let clock = Arc::new(scry_server::clock::ManualClock::new(support::START));
    let data = tempfile::tempdir().unwrap();
    let config = scry_server::config::Config {
        data_dir: data.path().to_path_buf(),
        secrets_key: Some(support::TEST_SECRETS_KEY.into()),
        ..config()
    };
    let app = scry_server::app(Arc::new(store), clock, config).unwrap();
    let signup = |email: &'static str| {
        let app = app.clone();
        async move {
            let body = json!({"email": email, "password": "correct horse battery"});
            support::send(&app, "POST", "/v1/users", None, Some(body.clone())).await;
            support::send(&app, "POST", "/v1/sessions", None, Some(body))
                .await
                .body["token"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let a = signup("alice@example.com").await;
    let b = signup("bob@example.com").await;
    let org_a = support::send(
        &app,
        "POST",
        "/v1/orgs",
        Some(&a),
        Some(json!({"name": "a"})),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let org_b = support::send(
        &app,
        "POST",
        "/v1/orgs",
        Some(&b),
        Some(json!({"name": "b"})),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..3 {
        support::send(
            &app,
            "POST",
            &format!("/v1/orgs/{org_a}/repos"),
            Some(&a),
            Some(json!({"name": format!("a{i}")})),
        )
        .await;
    }
    // The one connection just served org A; org B sees nothing of it.
    let listed = support::send(
        &app,
        "GET",
        &format!("/v1/orgs/{org_b}/repos"),
        Some(&b),
        None,
    )
    .await;
    assert_eq!(listed.body["items"], json!([]));
    let export = support::send(
        &app,
        "GET",
        &format!("/v1/orgs/{org_b}/export"),
        Some(&b),
        None,
    )
    .await;
    assert!(!export.body.to_string().contains(&org_a));

    // And below the API: the tenant setting ends with its transaction.
    let mut conn = sqlx::PgConnection::connect(&login).await.unwrap();
    conn.execute("SET ROLE scry_app").await.unwrap();
    let count = "SELECT COUNT(*) FROM repos";
    let unscoped: i64 = sqlx::query_scalar(count)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(unscoped, 0, "without a tenant, no rows");
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(&org_a)
        .execute(&mut *tx)
        .await
        .unwrap();
    let scoped: i64 = sqlx::query_scalar(count).fetch_one(&mut *tx).await.unwrap();
    assert_eq!(scoped, 3);
    let forged = sqlx::query("INSERT INTO repos (id, org_id, name, chunks, created_at) VALUES ('repo_BBBBBBBBBBBBBBBBBBBB', $1, 'x', 0, 0)")
        .bind(&org_b)
        .execute(&mut *tx)
        .await;
    assert!(forged.is_err(), "a row for another org was written");
    drop(tx);
    let after: i64 = sqlx::query_scalar(count)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(after, 0);
}

// ---- fuzzing the request decoders ---------------------------------------------------------

mod fuzz {
    use std::sync::OnceLock;

    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use super::support::{Backend, Harness, config};

    struct Target {
        runtime: tokio::runtime::Runtime,
        h: Harness,
        token: String,
        org: String,
        repo: String,
    }

    fn target() -> &'static Target {
        static TARGET: OnceLock<Target> = OnceLock::new();
        TARGET.get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let (h, token, org, repo) = runtime.block_on(async {
                let h = Harness::new(Backend::Sqlite, config()).await;
                let (_, token) = h.user("fuzz@example.com").await;
                let org = h.org(&token, "fuzz").await;
                let repo = h
                    .post(
                        &format!("/v1/orgs/{org}/repos"),
                        &token,
                        serde_json::json!({"name": "r"}),
                    )
                    .await
                    .body["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                (h, token, org, repo)
            });
            Target {
                runtime,
                h,
                token,
                org,
                repo,
            }
        })
    }

    const ROUTES: &[&str] = &[
        "/v1/users",
        "/v1/sessions",
        "/v1/sessions/current",
        "/v1/me",
        "/v1/device/code",
        "/v1/device/token",
        "/v1/device/verify",
        "/v1/orgs",
        "/v1/orgs/{org}",
        "/v1/orgs/{org}/members",
        "/v1/orgs/{org}/members/{id}",
        "/v1/orgs/{org}/invitations",
        "/v1/invitations/accept",
        "/v1/orgs/{org}/repos",
        "/v1/orgs/{org}/repos/{repo}",
        "/v1/orgs/{org}/repos/{repo}/index/sessions",
        "/v1/orgs/{org}/repos/{repo}/index/sessions/{session}/missing",
        "/v1/orgs/{org}/repos/{repo}/index/sessions/{session}/objects",
        "/v1/orgs/{org}/repos/{repo}/index/sessions/{session}/commit",
        "/v1/orgs/{org}/repos/{repo}/index/refs",
        "/v1/orgs/{org}/repos/{repo}/index/objects/fetch",
        "/v1/orgs/{org}/recipients",
        "/v1/orgs/{org}/recipients/{id}",
        "/v1/orgs/{org}/recipients/{id}/key",
        "/v1/orgs/{org}/keys",
        "/v1/orgs/{org}/keys/{id}",
        "/v1/orgs/{org}/usage",
        "/v1/orgs/{org}/audit",
        "/v1/orgs/{org}/webhooks",
        "/v1/orgs/{org}/webhooks/{id}",
        "/v1/orgs/{org}/webhooks/{id}/deliveries",
        "/v1/admin/orgs/{org}/tier",
    ];

    const FIELDS: &[&str] = &[
        "public_key",
        "label",
        "wrapped",
        "check",
        "epoch",
        "name",
        "email",
        "password",
        "role",
        "chunks",
        "token",
        "url",
        "events",
        "tier",
        "limits",
        "approve",
        "user_code",
        "client_id",
        "max_repos",
        "requests_per_minute",
    ];

    fn segment(real: String) -> impl Strategy<Value = String> {
        prop_oneof![
            Just(real),
            Just("org_AAAAAAAAAAAAAAAAAAAA".to_string()),
            "[a-zA-Z0-9_%.~-]{0,40}",
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::String),
            prop::sample::select(vec!["owner", "admin", "viewer", "pro", "enterprise", "*"])
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(
                    |pairs| {
                        Value::Object(
                            pairs
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), v))
                                .collect::<Map<_, _>>(),
                        )
                    }
                ),
            ]
        })
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            json_value().prop_map(|v| v.to_string().into_bytes()),
            prop::collection::vec(any::<u8>(), 0..200),
            "[a-z_]{1,12}=[^&]{0,20}(&[a-z_]{1,12}=[^&]{0,20}){0,3}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever arrives, the answer is a 4xx or a success with a JSON body, never a 5xx.
        #[test]
        fn no_request_gets_a_server_error(
            method in prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE"]),
            route in prop::sample::select(ROUTES),
            org in segment(target().org.clone()),
            repo in segment(target().repo.clone()),
            id in segment("usr_AAAAAAAAAAAAAAAAAAAA".to_string()),
            query in prop::option::of("[a-z]{1,6}=[^&#]{0,12}(&[a-z]{1,6}=[^&#]{0,12}){0,2}"),
            content_type in prop::option::of(prop::sample::select(vec![
                "application/json", "application/x-www-form-urlencoded", "text/plain",
                "application/json; charset=utf-8", "multipart/form-data",
            ])),
            authenticated in any::<bool>(),
            body in body(),
        ) {
            let t = target();
            let encode = |s: &str| s.replace('%', "%25").replace('/', "%2F").replace('?', "%3F").replace('#', "%23");
            let mut path = route
                .replace("{org}", &encode(&org))
                .replace("{repo}", &encode(&repo))
                .replace("{id}", &encode(&id));
            if let Some(q) = query {
                path = format!("{path}?{}", q.replace(' ', "%20").replace('%', "%25"));
            }
            if axum::http::Uri::try_from(path.as_str()).is_err() {
                return Ok(());
            }
            let token = authenticated.then_some(t.token.as_str());
            let r = t.runtime.block_on(t.h.raw_call(method, &path, token, content_type, body));
            prop_assert!(r.status.as_u16() < 500, "{method} {path}: {} {}", r.status, r.body);
            if !r.status.is_success() {
                prop_assert!(!r.code().is_empty() || r.body["error"].is_string(), "{method} {path}: {}", r.body);
            }
        }
    }
}

async fn sealed_snippets_are_an_admins_choice_for_the_org(backend: Backend) {
    let h = harness(backend).await;
    let (_, a) = h.user("alice@example.com").await;
    let (_, b) = h.user("bob@example.com").await;
    let org = h.org(&a, "acme").await;
    h.join(&org, &a, "bob@example.com", "member", &b).await;
    let at = format!("/v1/orgs/{org}/sealed-snippets");
    assert_eq!(
        h.get(&format!("/v1/orgs/{org}"), &b).await.body["sealed_snippets"],
        false
    );
    let refused = h
        .call("PUT", &at, Some(&b), Some(json!({"enabled": true})))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let on = h
        .call("PUT", &at, Some(&a), Some(json!({"enabled": true})))
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    assert_eq!(on.body["sealed_snippets"], true);
    assert_eq!(
        h.get(&format!("/v1/orgs/{org}"), &b).await.body["sealed_snippets"],
        true
    );
    let audit = h.get(&format!("/v1/orgs/{org}/audit"), &a).await;
    let entry = (audit.body["items"].as_array().unwrap().iter())
        .find(|e| e["action"] == "org.settings_changed")
        .cloned();
    assert_eq!(entry.unwrap()["details"], json!({"sealed_snippets": true}));
    let off = h
        .call("PUT", &at, Some(&a), Some(json!({"enabled": false})))
        .await;
    assert_eq!(off.body["sealed_snippets"], false);
}
