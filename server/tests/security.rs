//! The findings of a hostile probe of the service, each as a regression test on SQLite and on a
//! real PostgreSQL: what an attacker or a careless client tried, and what must answer instead.

#[macro_use]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use scry_server::clock::Clock;
use scry_server::config::Config;
use scry_server::store::Users;
use serde_json::json;
use sqlx::Row;
use support::{Backend, Harness, config};

on_both_backends!(
    keys_never_outlive_or_outrank_their_creator,
    only_owners_change_owners,
    webhooks_reach_public_addresses_only,
    one_orgs_slow_webhooks_do_not_delay_another,
    logins_are_throttled_and_hashing_is_bounded,
    sign_ups_and_the_device_flow_are_throttled,
    invitations_need_a_verified_address,
    a_failed_verification_mail_keeps_the_account,
    input_is_checked_as_people_see_it,
    operator_routes_check_the_token_first_and_metrics_are_off,
    deliveries_of_an_unknown_hook_are_not_found,
    secrets_are_sealed_and_files_private,
);

fn with(change: impl FnOnce(&mut Config)) -> Config {
    let mut config = config();
    change(&mut config);
    config
}

async fn create_key(h: &Harness, org: &str, token: &str, role: &str) -> String {
    let r = h
        .post(
            &format!("/v1/orgs/{org}/keys"),
            token,
            json!({"name": "ci", "role": role}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["key"].as_str().unwrap().to_string()
}

async fn set_role(h: &Harness, org: &str, actor: &str, user: &str, role: &str) -> StatusCode {
    h.call(
        "PATCH",
        &format!("/v1/orgs/{org}/members/{user}"),
        Some(actor),
        Some(json!({ "role": role })),
    )
    .await
    .status
}

async fn remove(h: &Harness, org: &str, actor: &str, user: &str) -> StatusCode {
    h.call(
        "DELETE",
        &format!("/v1/orgs/{org}/members/{user}"),
        Some(actor),
        None,
    )
    .await
    .status
}

/// Finding 1: a removed admin's key kept listing members, minting admin keys and inviting its
/// owner back; a demoted admin's key kept admin reads.
async fn keys_never_outlive_or_outrank_their_creator(backend: Backend) {
    let h = Harness::new(backend, config()).await;
    let (_, a) = h.user("alice@example.com").await;
    let (bob, b) = h.user("bob@example.com").await;
    let org = h.org(&a, "acme").await;
    h.join(&org, &a, "bob@example.com", "admin", &b).await;
    let keys = format!("/v1/orgs/{org}/keys");
    let members = format!("/v1/orgs/{org}/members");
    let invitations = format!("/v1/orgs/{org}/invitations");

    let first = create_key(&h, &org, &b, "admin").await;
    assert_eq!(h.get(&keys, &first).await.status, StatusCode::OK);
    // A key cannot mint keys: every key traces back to a person.
    let minted = h
        .post(&keys, &first, json!({"name": "x", "role": "admin"}))
        .await;
    assert_eq!(minted.status, StatusCode::FORBIDDEN, "{}", minted.body);
    let r = h
        .post(
            &invitations,
            &b,
            json!({"email": "eve@example.com", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // Demoted: the key is capped at the new role, the invitation above it withdrawn.
    assert_eq!(
        set_role(&h, &org, &a, &bob, "member").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.get(&keys, &first).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.get(&format!("/v1/orgs/{org}/repos"), &first).await.status,
        StatusCode::OK
    );
    let listed = h.get(&keys, &a).await;
    assert_eq!(listed.body[0]["role"], "member", "{}", listed.body);
    assert_eq!(h.get(&invitations, &a).await.body, json!([]));
    // Promoted again, the key stays where it was capped.
    assert_eq!(
        set_role(&h, &org, &a, &bob, "admin").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.get(&keys, &first).await.status, StatusCode::FORBIDDEN);

    // Removed: every key they made stops at once, and nothing they invited remains.
    let second = create_key(&h, &org, &b, "admin").await;
    h.post(
        &invitations,
        &b,
        json!({"email": "bob2@example.com", "role": "admin"}),
    )
    .await;
    assert_eq!(remove(&h, &org, &a, &bob).await, StatusCode::NO_CONTENT);
    for key in [&first, &second] {
        assert_eq!(h.get(&members, key).await.status, StatusCode::UNAUTHORIZED);
        let invite = h
            .post(
                &invitations,
                key,
                json!({"email": "bob@example.com", "role": "admin"}),
            )
            .await;
        assert_eq!(invite.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(h.get(&invitations, &a).await.body, json!([]));
    assert_eq!(h.get(&keys, &a).await.body, json!([]));
    let audit = h.get(&format!("/v1/orgs/{org}/audit"), &a).await;
    let removed = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.removed")
        .unwrap();
    assert_eq!(removed["details"]["keys_revoked"], 2);
    assert_eq!(removed["details"]["invitations_revoked"], 1);
}

/// Finding 2: an admin demoted and removed a co-owner.
async fn only_owners_change_owners(backend: Backend) {
    let h = Harness::new(backend, config()).await;
    let (_, a) = h.user("alice@example.com").await;
    let (_, b) = h.user("bob@example.com").await;
    let (carol, c) = h.user("carol@example.com").await;
    let org = h.org(&a, "acme").await;
    h.join(&org, &a, "bob@example.com", "admin", &b).await;
    h.join(&org, &a, "carol@example.com", "owner", &c).await;

    assert_eq!(
        set_role(&h, &org, &b, &carol, "viewer").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(remove(&h, &org, &b, &carol).await, StatusCode::FORBIDDEN);
    let members = h.get(&format!("/v1/orgs/{org}/members"), &a).await;
    assert!(
        members
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == carol.as_str() && m["role"] == "owner")
    );
    assert_eq!(
        set_role(&h, &org, &a, &carol, "viewer").await,
        StatusCode::NO_CONTENT
    );
}

type Received = Arc<Mutex<Vec<(String, Instant)>>>;

/// A loopback receiver: answers 204 after `delay`, records each body and when it arrived.
async fn receiver(delay: Duration) -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let received = received.clone();
            move |body: String| async move {
                received.lock().unwrap().push((body, Instant::now()));
                tokio::time::sleep(delay).await;
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// Finding 3: webhooks were accepted and delivered to loopback, private and metadata
/// addresses, and the deliveries listing told `HTTP 401` from `error sending request`.
async fn webhooks_reach_public_addresses_only(backend: Backend) {
    let h = Harness::new(backend, config()).await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let hooks = format!("/v1/orgs/{org}/webhooks");
    for url in [
        "http://127.0.0.1:8787/x",
        "http://localhost/x",
        "http://[::1]/x",
        "http://0x7f000001/x",
        "http://2130706433/x",
        "http://10.0.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/x",
        "http://user:pass@hooks.example.com/x",
        "http://vm/x",
    ] {
        let r = h
            .post(&hooks, &a, json!({"url": url, "events": ["*"]}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.body);
    }
    assert_eq!(h.get(&hooks, &a).await.body, json!([]));

    // A hook made while private targets were allowed (or whose name now resolves inward) is
    // refused when a delivery connects, and says only "unreachable".
    let (url, received) = receiver(Duration::ZERO).await;
    let permissive = Harness::new(backend, with(|c| c.webhook_allow_private_targets = true));
    let permissive = permissive.await;
    let (_, p) = permissive.user("alice@example.com").await;
    let porg = permissive.org(&p, "acme").await;
    let r = permissive
        .post(
            &format!("/v1/orgs/{porg}/webhooks"),
            &p,
            json!({"url": url, "events": ["*"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let hook = r.body["webhook"]["id"].as_str().unwrap().to_string();
    let strict = scry_server::webhooks::Sender::new(
        permissive.store.clone(),
        permissive.clock.clone(),
        scry_server::secrets::SecretBox::new(&permissive.config.secrets_key().unwrap()),
        &config(),
    );
    assert_eq!(strict.send_due().await, 1);
    assert!(received.lock().unwrap().is_empty());
    let d = permissive
        .get(&format!("/v1/orgs/{porg}/webhooks/{hook}/deliveries"), &p)
        .await;
    assert_eq!(d.body[0]["last_error"], "unreachable", "{}", d.body);
}

/// Finding 4: deliveries went one at a time, so three hanging hooks of one org held up
/// another org's delivery by 90 s.
async fn one_orgs_slow_webhooks_do_not_delay_another(backend: Backend) {
    let h = Harness::new(
        backend,
        with(|c| {
            c.webhook_allow_private_targets = true;
            c.webhook_timeout_ms = 60_000;
        }),
    )
    .await;
    let (_, a) = h.user("alice@example.com").await;
    let (_, b) = h.user("bob@example.com").await;
    let slow_org = h.org(&a, "slow").await;
    let fast_org = h.org(&b, "fast").await;
    // The slow endpoint never answers: each send to it ends only at the 60 s timeout.
    let (slow, _) = receiver(Duration::from_secs(600)).await;
    let (fast, received) = receiver(Duration::ZERO).await;
    for _ in 0..3 {
        let r = h
            .post(
                &format!("/v1/orgs/{slow_org}/webhooks"),
                &a,
                json!({"url": slow, "events": ["*"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    // The slow org's deliveries are older: a sender going in order meets them first.
    h.clock.advance(1);
    h.post(
        &format!("/v1/orgs/{fast_org}/webhooks"),
        &b,
        json!({"url": fast, "events": ["*"]}),
    )
    .await;

    // A sender that queued the fast org behind the slow one could not deliver before the
    // first slow send timed out (60 s); the deadline below is half that.
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let running = tokio::spawn(h.sender().run(Duration::from_millis(50), stopped));
    while received.lock().unwrap().is_empty() && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.abort();
    assert!(
        !received.lock().unwrap().is_empty(),
        "the fast org's delivery waited behind the slow org's hanging endpoints"
    );
}

/// Finding 5: 50 wrong passwords in a row all got 401, and 200 concurrent logins hashed at
/// once (19 MiB each).
async fn logins_are_throttled_and_hashing_is_bounded(backend: Backend) {
    let h = Harness::new(
        backend,
        with(|c| {
            c.throttle.login_failures_per_account = 3;
            c.throttle.login_failures_per_address = 5;
        }),
    )
    .await;
    h.user("alice@example.com").await;
    let login = |email: &str, password: &str| json!({"email": email, "password": password});
    for _ in 0..3 {
        let r = h
            .post_from(
                "203.0.113.1",
                "/v1/sessions",
                None,
                login("alice@example.com", "wrong password"),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Then even the right password waits for the window, from any address.
    let right = login("alice@example.com", "correct horse battery");
    let r = h
        .post_from("203.0.113.2", "/v1/sessions", None, right.clone())
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=h.config.throttle.window_s).contains(&retry));
    h.clock.advance(retry);
    let r = h
        .post_from("203.0.113.2", "/v1/sessions", None, right.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Guesses sent at once are counted before they are hashed: exactly the limit get through.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let app = h.app.clone();
        let body = login("burst@example.com", "wrong password");
        burst.spawn(
            async move { support::send(&app, "POST", "/v1/sessions", None, Some(body)).await },
        );
    }
    let statuses: Vec<StatusCode> = burst.join_all().await.iter().map(|r| r.status).collect();
    let hashed = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((hashed, refused), (3, 17), "{statuses:?}");

    // One address guessing across accounts.
    for i in 0..5 {
        let r = h
            .post_from(
                "203.0.113.9",
                "/v1/sessions",
                None,
                login(&format!("user{i}@example.com"), "wrong password"),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let from_guesser = h
        .post_from("203.0.113.9", "/v1/sessions", None, right.clone())
        .await;
    assert_eq!(from_guesser.status, StatusCode::TOO_MANY_REQUESTS);
    let elsewhere = h
        .post_from("203.0.113.3", "/v1/sessions", None, right)
        .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED);

    // One hash at a time, a 1 ms queue: a burst is answered 503 + Retry-After, not hashed.
    let h = Harness::new(
        backend,
        with(|c| {
            c.password_hash_concurrency = 1;
            c.password_hash_queue_ms = 1;
        }),
    )
    .await;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..16 {
        let app = h.app.clone();
        let body =
            json!({"email": format!("u{i}@example.com"), "password": "correct horse battery"});
        burst
            .spawn(async move { support::send(&app, "POST", "/v1/users", None, Some(body)).await });
    }
    let replies = burst.join_all().await;
    let busy: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        !busy.is_empty(),
        "16 concurrent sign-ups all hashed at once"
    );
    assert!(
        busy.iter()
            .all(|r| r.headers.contains_key("retry-after") && r.code() == "busy")
    );
    assert!(
        replies
            .iter()
            .all(|r| [StatusCode::CREATED, StatusCode::SERVICE_UNAVAILABLE].contains(&r.status))
    );
}

/// Findings 5 and 6: unlimited sign-ups, 300 device codes in 0.4 s (all left in the table),
/// 400 user-code guesses in 0.5 s.
async fn sign_ups_and_the_device_flow_are_throttled(backend: Backend) {
    let h = Harness::new(
        backend,
        with(|c| {
            c.throttle.signups_per_address = 2;
            c.throttle.device_codes_per_address = 2;
            c.throttle.device_verify_failures_per_user = 3;
        }),
    )
    .await;
    for (i, expected) in [
        StatusCode::CREATED,
        StatusCode::CREATED,
        StatusCode::TOO_MANY_REQUESTS,
    ]
    .into_iter()
    .enumerate()
    {
        let body =
            json!({"email": format!("s{i}@example.com"), "password": "correct horse battery"});
        let r = h.post_from("198.51.100.7", "/v1/users", None, body).await;
        assert_eq!(r.status, expected, "{}", r.body);
    }

    let code = || {
        h.call_from(
            "198.51.100.8",
            "/v1/device/code",
            None,
            "application/x-www-form-urlencoded",
            "client_id=scry-cli",
        )
    };
    assert_eq!(code().await.status, StatusCode::OK);
    let pending = code().await;
    assert_eq!(pending.status, StatusCode::OK);
    let over = code().await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{}", over.body);
    assert!(over.headers.contains_key("retry-after"));

    let (_, a) = h.user("alice@example.com").await;
    for guess in ["BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD"] {
        let r = h
            .post(
                "/v1/device/verify",
                &a,
                json!({"user_code": guess, "approve": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    let real = pending.body["user_code"].as_str().unwrap();
    let r = h
        .post(
            "/v1/device/verify",
            &a,
            json!({"user_code": real, "approve": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);

    // Expired codes are collected.
    let count = || async {
        sqlx::query("SELECT COUNT(*) AS n FROM device_codes")
            .fetch_one(&h.raw)
            .await
            .unwrap()
            .try_get::<i64, _>("n")
            .unwrap()
    };
    assert_eq!(count().await, 2);
    h.clock.advance(h.config.device_code_ttl_s);
    assert!(h.store.collect_expired(h.clock.now()).await.unwrap() >= 2);
    assert_eq!(count().await, 0);
}

/// Finding 7: sign-up told which addresses have accounts, and `DAVE@b.test`, never verified,
/// claimed an invitation sent to dave.
async fn invitations_need_a_verified_address(backend: Backend) {
    let h = Harness::new(backend, config()).await;
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let r = h
        .post(
            &format!("/v1/orgs/{org}/invitations"),
            &a,
            json!({"email": "dave@b.test", "role": "admin"}),
        )
        .await;
    let invitation = r.body["token"].as_str().unwrap().to_string();

    let signed_up = h
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "DAVE@b.test", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(signed_up.body["email"], "dave@b.test");
    assert_eq!(signed_up.body["email_verified"], false);
    let d = h.login("dave@b.test").await;
    let accept = h
        .post("/v1/invitations/accept", &d, json!({"token": invitation}))
        .await;
    assert_eq!(accept.status, StatusCode::FORBIDDEN, "{}", accept.body);
    assert_eq!(accept.code(), "email_unverified");
    assert_eq!(
        h.call(
            "POST",
            "/v1/users/verify",
            None,
            Some(json!({"token": "scry_vfy_not-a-token"}))
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // The address's owner asks for a fresh token, confirms, and then joins.
    let again = h.post("/v1/me/verification", &d, json!(null)).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(h.mail_to("dave@b.test").len(), 2);
    let token = h.verification_token("dave@b.test").unwrap();
    let verified = h
        .call(
            "POST",
            "/v1/users/verify",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK);
    assert_eq!(
        h.call(
            "POST",
            "/v1/users/verify",
            None,
            Some(json!({"token": token}))
        )
        .await
        .status,
        StatusCode::NOT_FOUND,
        "a token is spent once"
    );
    let accept = h
        .post("/v1/invitations/accept", &d, json!({"token": invitation}))
        .await;
    assert_eq!(accept.status, StatusCode::OK, "{}", accept.body);
    assert_eq!(
        h.post("/v1/me/verification", &d, json!(null)).await.status,
        StatusCode::CONFLICT
    );
}

/// A sign-up whose verification mail cannot be sent still made the account: it answers 201,
/// and asking for a new token says the mail failed (503) instead of losing the person.
async fn a_failed_verification_mail_keeps_the_account(backend: Backend) {
    let h = Harness::new(backend, with(|c| c.mail_command = Some("exit 1".into()))).await;
    let id = h.unverified_user("erin@example.com").await;
    let erin = h.login("erin@example.com").await;
    assert_eq!(h.get("/v1/me", &erin).await.body["user"]["id"], id.as_str());
    let again = h.post("/v1/me/verification", &erin, json!(null)).await;
    assert_eq!(
        again.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        again.body
    );
    assert!(
        again.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be sent")
    );
}

/// Finding 8: blank and NUL passwords, byte-counted limits, invisible and bidirectional
/// characters in names, look-alike and malformed addresses, CR/LF in webhook URLs.
async fn input_is_checked_as_people_see_it(backend: Backend) {
    let h = Harness::new(backend, config()).await;
    let sign_up = |email: &str, password: &str| {
        h.call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": email, "password": password})),
        )
    };
    for password in [" ".repeat(10), "\0".repeat(10), "\t".repeat(12)] {
        assert_eq!(
            sign_up("p@example.com", &password).await.status,
            StatusCode::BAD_REQUEST,
            "{password:?}"
        );
    }
    assert_eq!(
        sign_up("euro@example.com", &"€".repeat(400)).await.status,
        StatusCode::CREATED
    );
    for email in [
        "\u{0430}lice@a.test",
        "alice@a.test\u{202E}",
        "a@b..test",
        "a@b.test@c.test",
    ] {
        assert_eq!(
            sign_up(email, "correct horse battery").await.status,
            StatusCode::BAD_REQUEST,
            "{email:?}"
        );
    }
    let (_, a) = h.user("alice@example.com").await;
    for name in ["ac\u{202E}me", "a\u{200B}b", "\u{FEFF}"] {
        let r = h.post("/v1/orgs", &a, json!({ "name": name })).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name:?}");
    }
    let org = h.org(&a, "acme").await;
    for url in [
        "https://hooks.example.com/x\r\nX-Evil: 1",
        "https://hooks.example.com/\0",
    ] {
        let r = h
            .post(
                &format!("/v1/orgs/{org}/webhooks"),
                &a,
                json!({"url": url, "events": ["*"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url:?}");
    }
}

/// Finding 9: the operator route read the body before the token, answered 401 with no token
/// configured, and `/metrics` was open to anyone.
async fn operator_routes_check_the_token_first_and_metrics_are_off(backend: Backend) {
    let h = Harness::new(backend, config()).await;
    let path = "/v1/admin/orgs/org_00000000000000000000/tier";
    for content_type in [None, Some("text/plain"), Some("application/json")] {
        let r = h
            .raw_call(
                "PUT",
                path,
                None,
                content_type,
                b"{\"tier\": 5, \"x\"".to_vec(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{content_type:?}: {}",
            r.body
        );
    }
    let r = h
        .raw_call(
            "PUT",
            path,
            Some("wrong"),
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.call("GET", "/metrics", None, None).await.status,
        StatusCode::NOT_FOUND
    );

    let closed = Harness::new(backend, with(|c| c.admin_token = None)).await;
    let r = closed
        .raw_call(
            "PUT",
            path,
            Some("anything"),
            Some("application/json"),
            b"{\"tier\": \"pro\"}".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

/// Finding 10: another org's or an unknown hook's deliveries answered 200 `[]`.
async fn deliveries_of_an_unknown_hook_are_not_found(backend: Backend) {
    let h = Harness::new(backend, with(|c| c.webhook_allow_private_targets = true)).await;
    let (_, a) = h.user("alice@example.com").await;
    let (_, b) = h.user("bob@example.com").await;
    let org_a = h.org(&a, "a").await;
    let org_b = h.org(&b, "b").await;
    let (url, _) = receiver(Duration::ZERO).await;
    let r = h
        .post(
            &format!("/v1/orgs/{org_b}/webhooks"),
            &b,
            json!({"url": url, "events": ["*"]}),
        )
        .await;
    let their_hook = r.body["webhook"]["id"].as_str().unwrap().to_string();
    for hook in ["hook_00000000000000000000", their_hook.as_str()] {
        let r = h
            .get(&format!("/v1/orgs/{org_a}/webhooks/{hook}/deliveries"), &a)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{hook}");
    }
    let own = h
        .get(
            &format!("/v1/orgs/{org_b}/webhooks/{their_hook}/deliveries"),
            &b,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);
}

/// Finding 11: the data directory and database were world-readable and held webhook secrets
/// in the clear.
async fn secrets_are_sealed_and_files_private(backend: Backend) {
    let h = Harness::new(backend, with(|c| c.webhook_allow_private_targets = true)).await;
    if backend == Backend::Sqlite {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: std::path::PathBuf| std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(h.config.data_dir.clone()), 0o700);
        assert_eq!(mode(h.config.data_dir.join("scry-server.db")), 0o600);
        assert_eq!(mode(h.config.data_dir.join("secrets.key")), 0o600);
    }
    let (_, a) = h.user("alice@example.com").await;
    let org = h.org(&a, "acme").await;
    let (url, received) = receiver(Duration::ZERO).await;
    let r = h
        .post(
            &format!("/v1/orgs/{org}/webhooks"),
            &a,
            json!({"url": url, "events": ["repo.created"]}),
        )
        .await;
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let hook = r.body["webhook"]["id"].as_str().unwrap().to_string();
    let stored = || async {
        sqlx::query("SELECT secret FROM webhooks WHERE id = $1")
            .bind(&hook)
            .fetch_one(&h.raw)
            .await
            .unwrap()
            .try_get::<String, _>("secret")
            .unwrap()
    };
    let sealed = stored().await;
    assert!(sealed.starts_with("sealed:v1:") && !sealed.contains(&secret[6..]));

    // A secret stored in the clear by an older version still signs, and is sealed on use.
    sqlx::query("UPDATE webhooks SET secret = $1 WHERE id = $2")
        .bind(&secret)
        .bind(&hook)
        .execute(&h.raw)
        .await
        .unwrap();
    h.post(&format!("/v1/orgs/{org}/repos"), &a, json!({"name": "web"}))
        .await;
    assert_eq!(h.sender().send_due().await, 1);
    assert_eq!(received.lock().unwrap().len(), 1);
    let deliveries = h
        .get(&format!("/v1/orgs/{org}/webhooks/{hook}/deliveries"), &a)
        .await;
    assert_eq!(
        deliveries.body[0]["status"], "delivered",
        "{}",
        deliveries.body
    );
    assert!(stored().await.starts_with("sealed:v1:"));
}
