//! Every request type through the client to a real `scry-server` (SQLite) on loopback, with the
//! typed answers checked, including a 429 the client waits out and a typed `quota_exceeded`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scry_client::api::{Limits, NewWebhook, PageQuery, Role, TierChange, UsageQuery};
use scry_client::{Client, DeviceToken, ErrorKind};
use scry_server::clock::{Clock, ManualClock};
use scry_server::config::Config;

/// 2026-11-22 12:00:00 UTC, the start of a minute.
const START: i64 = 1_795_348_800;
const PASSWORD: &str = "correct horse battery";

struct Service {
    base: String,
    clock: Arc<ManualClock>,
    config: Config,
    _dir: tempfile::TempDir,
}

/// A service on a free loopback port, its data in a temporary directory, its clock manual.
async fn service() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        admin_token: Some("operator-secret".into()),
        ..Config::default()
    };
    config.tiers.get_mut("free").unwrap().requests_per_minute = 10_000;
    let store = scry_server::open_store(&config).await.unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let app = scry_server::app(store, clock.clone(), config.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Service {
        base,
        clock,
        config,
        _dir: dir,
    }
}

impl Service {
    fn client(&self) -> Client {
        Client::builder(&self.base).build().unwrap()
    }

    /// The last verification token mailed to `email` (the file outbox).
    fn mailed_token(&self, email: &str) -> String {
        let mut files: Vec<_> = std::fs::read_dir(self.config.outbox())
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

    /// Signs up, verifies and logs in: a client carrying the session.
    async fn person(&self, email: &str) -> Client {
        let anonymous = self.client();
        let user = anonymous.sign_up(email, PASSWORD).await.unwrap();
        assert!(!user.email_verified);
        let verified = anonymous
            .verify_email(&self.mailed_token(email))
            .await
            .unwrap();
        assert!(verified.email_verified && verified.id == user.id);
        let session = anonymous.login(email, PASSWORD).await.unwrap();
        assert_eq!(session.user.id, user.id);
        anonymous.with_token(session.token)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_goes_through_the_typed_client() {
    let s = service().await;
    let anonymous = s.client();
    assert_eq!(anonymous.health().await.unwrap().status, "ok");
    assert_eq!(anonymous.ready().await.unwrap().status, "ready");

    let alice = s.person("alice@example.com").await;
    let me = alice.me().await.unwrap();
    assert_eq!(me.user.email, "alice@example.com");
    let again = alice.resend_verification().await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict);

    let org = alice.create_org("acme").await.unwrap();
    assert_eq!(org.tier, "free");
    assert_eq!(alice.orgs().await.unwrap()[0].role, Role::Owner);
    assert_eq!(alice.org(&org.id).await.unwrap().name, "acme");

    // Members and invitations.
    let bob = s.person("bob@example.com").await;
    let bob_id = bob.me().await.unwrap().user.id;
    let invited = alice
        .create_invitation(&org.id, "bob@example.com", Role::Member)
        .await
        .unwrap();
    assert_eq!(alice.invitations(&org.id).await.unwrap().len(), 1);
    let joined = bob.accept_invitation(&invited.token).await.unwrap();
    assert_eq!(
        (joined.org_id.as_str(), joined.role),
        (org.id.as_str(), Role::Member)
    );
    alice
        .set_member_role(&org.id, &bob_id, Role::Admin)
        .await
        .unwrap();
    let members = bob.members(&org.id).await.unwrap();
    assert!(
        members
            .iter()
            .any(|m| m.user_id == bob_id && m.role == Role::Admin)
    );

    // Repositories, a page at a time, and their chunk counts.
    let web = alice.create_repo(&org.id, "web").await.unwrap();
    alice.create_repo(&org.id, "api").await.unwrap();
    let first = alice
        .repos(
            &org.id,
            &PageQuery {
                limit: Some(1),
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    let rest = alice
        .repos(
            &org.id,
            &PageQuery {
                limit: Some(10),
                after: first.next.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(alice.repo(&org.id, &web.id).await.unwrap().name, "web");

    // API keys: shown once, usable, revocable.
    let created = alice.create_key(&org.id, "ci", Role::Member).await.unwrap();
    assert!(created.key.starts_with("scry_live_"));
    let ci = anonymous.with_token(&created.key);
    assert_eq!(ci.orgs().await.unwrap()[0].org.id, org.id);
    let current = ci.current_key().await.unwrap();
    assert_eq!(
        (
            current.org.id.as_str(),
            current.key.name.as_str(),
            current.key.role
        ),
        (org.id.as_str(), "ci", Role::Member)
    );
    assert_eq!(
        alice.current_key().await.unwrap_err().kind(),
        ErrorKind::Invalid,
        "a session is not a key"
    );
    assert_eq!(
        alice.keys(&org.id).await.unwrap()[0].prefix,
        created.api_key.prefix
    );

    // Usage, audit, export.
    let days = alice.usage(&org.id, &UsageQuery::default()).await.unwrap();
    assert!(days[0].requests > 0 && days[0].repos_created == 2);
    let audit = alice.audit(&org.id, &PageQuery::default()).await.unwrap();
    assert!(audit.items.iter().any(|e| e.action == "repo.created"));
    let export = alice.export(&org.id).await.unwrap();
    assert_eq!(export["repos"].as_array().unwrap().len(), 2);

    // Webhooks.
    let hook = alice
        .create_webhook(
            &org.id,
            &NewWebhook {
                url: "https://hooks.example.com/scry".into(),
                events: vec!["repo.deleted".into()],
            },
        )
        .await
        .unwrap();
    assert!(hook.secret.starts_with("whsec_"));
    assert_eq!(alice.webhooks(&org.id).await.unwrap().len(), 1);
    assert!(
        alice
            .deliveries(&org.id, &hook.webhook.id)
            .await
            .unwrap()
            .is_empty()
    );
    let refused = alice
        .create_webhook(
            &org.id,
            &NewWebhook {
                url: "http://169.254.169.254/".into(),
                events: vec!["*".into()],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        (refused.kind(), refused.code()),
        (ErrorKind::Invalid, "bad_request")
    );

    // The device flow: pending, approved by a signed-in person, granted once.
    let device = anonymous.device_code("scry-cli").await.unwrap();
    assert_eq!(
        anonymous.device_token(&device.device_code).await.unwrap(),
        DeviceToken::Pending
    );
    alice.device_verify(&device.user_code, true).await.unwrap();
    s.clock.advance(device.interval);
    let DeviceToken::Granted(token) = anonymous.device_token(&device.device_code).await.unwrap()
    else {
        panic!("not granted");
    };
    assert_eq!(
        anonymous.with_token(token).me().await.unwrap().user.email,
        "alice@example.com"
    );
    let used = anonymous
        .device_token(&device.device_code)
        .await
        .unwrap_err();
    assert_eq!(used.code(), "invalid_grant");

    // The quota, surfaced as a typed error naming the limit.
    alice.create_repo(&org.id, "docs").await.unwrap();
    let over = alice.create_repo(&org.id, "fourth").await.unwrap_err();
    assert_eq!(over.kind(), ErrorKind::QuotaExceeded);
    assert_eq!(over.code(), "quota_exceeded");
    assert!(over.to_string().contains("3 repositories"), "{over}");

    // Taking things down.
    alice
        .delete_webhook(&org.id, &hook.webhook.id)
        .await
        .unwrap();
    alice
        .revoke_key(&org.id, &created.api_key.id)
        .await
        .unwrap();
    assert_eq!(ci.orgs().await.unwrap_err().kind(), ErrorKind::Unauthorized);
    alice.remove_member(&org.id, &bob_id).await.unwrap();
    assert_eq!(
        bob.org(&org.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    alice.delete_repo(&org.id, &web.id).await.unwrap();
    alice.delete_org(&org.id).await.unwrap();
    alice.logout().await.unwrap();
    assert_eq!(
        alice.me().await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_once_and_an_operator_sets_tiers() {
    let s = service().await;
    let alice = s.person("alice@example.com").await;
    let org = alice.create_org("tiny").await.unwrap();
    let operator = s.client().with_token("operator-secret");
    let limits = Limits {
        max_repos: 5,
        max_chunks: 100,
        requests_per_minute: 1,
    };
    let moved = operator
        .set_tier(
            &org.id,
            &TierChange {
                tier: "enterprise".into(),
                limits: Some(limits),
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.custom_limits, Some(limits));
    let wrong = s.client().with_token("not-the-operator");
    let refused = wrong
        .set_tier(
            &org.id,
            &TierChange {
                tier: "pro".into(),
                limits: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthorized);

    // One request a minute, one second before the minute ends: the next is told to wait 1 s.
    s.clock.advance(59 - s.clock.now().rem_euclid(60));
    alice.org(&org.id).await.unwrap();
    let session = s
        .client()
        .login("alice@example.com", PASSWORD)
        .await
        .unwrap();
    let no_retry = Client::builder(s.base.clone())
        .retries(0)
        .token(session.token)
        .build()
        .unwrap();
    let told = no_retry.org(&org.id).await.unwrap_err();
    assert_eq!(told.kind(), ErrorKind::RateLimited);
    assert_eq!(told.retry_after(), Some(Duration::from_secs(1)));

    // The default client waits it out: the clock reaches the next minute meanwhile.
    let clock = s.clock.clone();
    let tick = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        clock.advance(1);
    });
    let started = Instant::now();
    let org_again = alice.org(&org.id).await.unwrap();
    assert_eq!(org_again.id, org.id);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it did not wait"
    );
    tick.await.unwrap();
}

#[tokio::test]
async fn an_unreachable_service_is_offline() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder(format!("http://127.0.0.1:{port}"))
        .retries(1)
        .build()
        .unwrap();
    let e = client.health().await.unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Offline, "offline"));
    assert!(Client::builder("ftp://x").build().is_err());
}

/// Hex of an object id, as the service sees it.
fn hex(id: &scry_client::sealing::ObjectId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_objects_sync_and_come_back_only_to_the_key() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use scry_client::Committed;
    use scry_client::api::{CommitRequest, NewSyncSession, ObjectBatch, ObjectKind, SealedObject};
    use scry_client::sealing::OrgKey;

    let s = service().await;
    let alice = s.person("alice@example.com").await;
    let org = alice.create_org("acme").await.unwrap();
    let repo = alice.create_repo(&org.id, "web").await.unwrap();
    let key = OrgKey::generate(1);
    let model = "scry-static-v3";

    // Two chunk records and a root node over them, sealed.
    let records = [
        &b"fn parse(input: &str)"[..],
        &b"fn render(tree: &Tree)"[..],
    ];
    let chunk_ids: Vec<_> = records.iter().map(|r| key.object_id(model, r)).collect();
    let root_plain = chunk_ids.iter().map(hex).collect::<Vec<_>>().join("\n");
    let root_id = key.object_id(model, root_plain.as_bytes());
    let mut objects: Vec<SealedObject> = records
        .iter()
        .zip(&chunk_ids)
        .map(|(r, id)| SealedObject {
            id: hex(id),
            kind: ObjectKind::Records,
            children: vec![],
            chunks: 1,
            body: BASE64.encode(key.seal(id, r)),
        })
        .collect();
    objects.push(SealedObject {
        id: hex(&root_id),
        kind: ObjectKind::Node,
        children: chunk_ids.iter().map(hex).collect(),
        chunks: 0,
        body: BASE64.encode(key.seal(&root_id, root_plain.as_bytes())),
    });

    let session = alice
        .open_sync_session(
            &org.id,
            &repo.id,
            &NewSyncSession {
                ref_name: "main".into(),
                root: hex(&root_id),
                chunks: 2,
            },
        )
        .await
        .unwrap();
    let all: Vec<String> = objects.iter().map(|o| o.id.clone()).collect();
    let missing = alice
        .missing(&org.id, &repo.id, &session.id, &all)
        .await
        .unwrap();
    assert_eq!(missing, all);
    // Only the root first: the commit names the chunks it lacks.
    let batch = |objects: &[SealedObject]| ObjectBatch {
        objects: objects.to_vec(),
    };
    alice
        .put_objects(&org.id, &repo.id, &session.id, &batch(&objects[2..]))
        .await
        .unwrap();
    let commit = CommitRequest {
        base_generation: 0,
        model: model.into(),
        key_epoch: 1,
    };
    match alice
        .commit(&org.id, &repo.id, &session.id, &commit)
        .await
        .unwrap()
    {
        Committed::Missing {
            mut missing,
            generation,
        } => {
            missing.sort();
            let mut chunks = all[..2].to_vec();
            chunks.sort();
            assert_eq!((missing, generation), (chunks, 0));
        }
        other => panic!("{other:?}"),
    }
    alice
        .put_objects(&org.id, &repo.id, &session.id, &batch(&objects))
        .await
        .unwrap();
    let Committed::Done(generation) = alice
        .commit(&org.id, &repo.id, &session.id, &commit)
        .await
        .unwrap()
    else {
        panic!("not committed")
    };
    assert_eq!((generation.generation, generation.repo_chunks), (1, 2));
    assert_eq!(alice.repo(&org.id, &repo.id).await.unwrap().chunks, 2);
    let Committed::Stale { generation } = alice
        .commit(
            &org.id,
            &repo.id,
            &alice
                .open_sync_session(
                    &org.id,
                    &repo.id,
                    &NewSyncSession {
                        ref_name: "main".into(),
                        root: hex(&root_id),
                        chunks: 2,
                    },
                )
                .await
                .unwrap()
                .id,
            &commit,
        )
        .await
        .unwrap()
    else {
        panic!("a commit on an old base is stale")
    };
    assert_eq!(generation, 1);

    // Downloaded, the records open with the key; the service held ciphertext only.
    let refs = alice.refs(&org.id, &repo.id).await.unwrap();
    assert_eq!(refs[0].root, hex(&root_id));
    let fetched = alice.fetch_objects(&org.id, &repo.id, &all).await.unwrap();
    assert_eq!(fetched.objects.len(), 3);
    for (o, id) in fetched.objects[..2].iter().zip(&chunk_ids) {
        let sealed = BASE64.decode(&o.body).unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"parse" || w == b"rende"));
        let opened = key.open(id, &sealed).unwrap();
        assert!(records.contains(&opened.as_slice()));
        // Tampered, swapped to another id, or under another org's key: refused.
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(id, &tampered).is_err());
        assert!(key.open(&root_id, &sealed).is_err());
        assert!(OrgKey::generate(1).open(id, &sealed).is_err());
    }
}

impl Service {
    /// A person and an org on an enterprise tier roomy enough for many synced repos.
    async fn syncing_org(&self) -> (Client, scry_client::api::Org) {
        let alice = self.person("alice@example.com").await;
        let org = alice.create_org("acme").await.unwrap();
        let tier = TierChange {
            tier: "enterprise".into(),
            limits: Some(Limits {
                max_repos: 1_000,
                max_chunks: 1_000_000,
                requests_per_minute: 100_000,
            }),
        };
        let operator = self.client().with_token("operator-secret");
        operator.set_tier(&org.id, &tier).await.unwrap();
        (alice, org)
    }
}

/// `n` codes that do not compress, like a real vector's, from `seed`.
fn noise(seed: usize, n: usize) -> Vec<i8> {
    let mut x = seed as u64 * 2 + 1;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as i8
        })
        .collect()
}

/// A synthetic index: `files` files of `per_file` chunks, each with a 1,024-dimension vector.
fn big_snapshot(files: usize, per_file: usize) -> scry_core::snapshot::Snapshot {
    use scry_core::snapshot::{Snapshot, SnapshotChunk, SnapshotFile};
    Snapshot {
        model: Some("static:test@0123".into()),
        files: (0..files)
            .map(|f| SnapshotFile {
                path: format!("src/m{f}.rs"),
                language: "rust".into(),
                hash: [f as u8; 16],
                chunks: (0..per_file)
                    .map(|c| SnapshotChunk {
                        start_line: c as u32 * 10,
                        end_line: c as u32 * 10 + 9,
                        start_byte: 0,
                        end_byte: 0,
                        symbol: Some(format!("f{f}_{c}")),
                        kind: scry_core::ChunkKind::Function,
                        scope: None,
                        content_hash: [c as u8; 16],
                        vector: Some((0.01, noise(f * 100_000 + c, 1024))),
                        text: None,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_upload_resumes_without_resending() {
    use scry_client::sealing::OrgKey;
    use scry_client::sync::{self, Remote, Step};

    let s = service().await;
    let (alice, org) = s.syncing_org().await;
    let repo = alice.create_repo(&org.id, "web").await.unwrap();
    let key = OrgKey::generate(1);
    // About 9 MB sealed: three batches.
    let plan = sync::plan(&big_snapshot(60, 140), &key);
    let remote = Remote {
        client: &alice,
        org: &org.id,
        repo: &repo.id,
        ref_name: "main",
    };

    // Killed once the first batch is stored: the future is dropped where it stands.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    let mut first_batch = 0;
    let mut on_step = |step: Step| {
        if let Step::Uploading { sent, .. } = step
            && let Some(tx) = tx.take()
        {
            first_batch = sent;
            let _ = tx.send(());
        }
    };
    tokio::select! {
        done = sync::push(&remote, &plan, &key, false, &mut on_step) => panic!("not killed: {done:?}"),
        _ = rx => {}
    }
    assert!(first_batch > 0);
    assert!(alice.refs(&org.id, &repo.id).await.unwrap().is_empty());

    // Run again: it asks what is missing and sends only that.
    let resumed = sync::push(&remote, &plan, &key, false, &mut |_| {})
        .await
        .unwrap();
    let whole = sync::push(&remote, &plan, &key, true, &mut |_| {})
        .await
        .unwrap();
    assert!(
        whole.unchanged,
        "a dry run after the commit sees the same root"
    );
    assert_eq!(resumed.generation, 1);
    assert_eq!(resumed.repo_chunks, plan.chunks as i64);
    let total: u64 = plan
        .objects
        .iter()
        .map(|o| o.plaintext.len() as u64 + 45)
        .sum();
    assert_eq!(
        resumed.bytes_uploaded + first_batch,
        total,
        "nothing re-sent, nothing left out"
    );
    assert!(total > 8_000_000, "{total}");
    // Downloaded back in answers of at most 4 MiB each: the same index.
    let pulled = sync::pull(&alice, &org.id, &repo.id, "main", &key)
        .await
        .unwrap()
        .unwrap();
    let mut expected = big_snapshot(60, 140);
    expected.files.sort_by(|a, b| a.path.cmp(&b.path));
    assert!(
        pulled == expected,
        "the pulled index differs from the pushed one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_sealed_under_a_replaced_key_is_not_committed() {
    use scry_client::sealing::OrgKey;
    use scry_client::sync::{self, Remote, SyncError};

    let s = service().await;
    let (alice, org) = s.syncing_org().await;
    let repo = alice.create_repo(&org.id, "web").await.unwrap();
    let remote = Remote {
        client: &alice,
        org: &org.id,
        repo: &repo.id,
        ref_name: "main",
    };
    // The org is at epoch 1; a key of another epoch (one rotated away meanwhile) uploads
    // and is refused at the commit, which the workspace sync answers by sealing again.
    let old = OrgKey::generate(2);
    let plan = sync::plan(&big_snapshot(2, 3), &old);
    let refused = sync::push(&remote, &plan, &old, false, &mut |_| {}).await;
    assert!(matches!(refused, Err(SyncError::KeyRotated)), "{refused:?}");
    assert!(alice.refs(&org.id, &repo.id).await.unwrap().is_empty());
    let current = OrgKey::generate(1);
    let plan = sync::plan(&big_snapshot(2, 3), &current);
    let done = sync::push(&remote, &plan, &current, false, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(done.generation, 1);
}

/// One random change to a snapshot: an edit, a new file (sometimes one that looks like a
/// secret), a deletion, a rename, a chunk copied into another file, or another model.
fn mutate(snapshot: &mut scry_core::snapshot::Snapshot, rng: &mut impl rand::Rng, step: usize) {
    use scry_core::snapshot::{SnapshotChunk, SnapshotFile};
    let chunk = |rng: &mut dyn rand::RngCore| SnapshotChunk {
        start_line: rng.next_u32() % 500,
        end_line: 600,
        start_byte: 0,
        end_byte: rng.next_u32() % 9000,
        symbol: Some(format!("f{}", rng.next_u32() % 50)),
        kind: scry_core::ChunkKind::Function,
        scope: None,
        content_hash: [rng.next_u32() as u8; 16],
        vector: Some((0.02, (0..64).map(|_| rng.next_u32() as i8).collect())),
        text: rng
            .next_u32()
            .is_multiple_of(3)
            .then(|| format!("fn f() {{ {} }}", rng.next_u32())),
    };
    let files = &mut snapshot.files;
    match rng.random_range(0..6) {
        0 if !files.is_empty() => {
            let f = rng.random_range(0..files.len());
            if files[f].chunks.is_empty() {
                files[f].chunks.push(chunk(rng));
            } else {
                let c = rng.random_range(0..files[f].chunks.len());
                files[f].chunks[c] = chunk(rng);
            }
            files[f].hash[0] = files[f].hash[0].wrapping_add(1);
        }
        1 => {
            let secret = rng.random_range(0..4) == 0;
            let path = if secret {
                format!("conf/.env.{step}")
            } else {
                format!("src/new{step}.rs")
            };
            let n = rng.random_range(0..4);
            files.push(SnapshotFile {
                path,
                language: "rust".into(),
                hash: [step as u8; 16],
                chunks: (0..n).map(|_| chunk(rng)).collect(),
            });
        }
        2 if !files.is_empty() => {
            files.remove(rng.random_range(0..files.len()));
        }
        3 if !files.is_empty() => {
            let f = rng.random_range(0..files.len());
            files[f].path = format!("moved/{step}/{}", files[f].path);
        }
        4 if files.len() >= 2 && !files[0].chunks.is_empty() => {
            let copied = files[0].chunks[0].clone();
            let last = files.len() - 1;
            files[last].chunks.push(copied);
        }
        5 => snapshot.model = Some(format!("static:test@{step:04}")),
        _ => {}
    }
    snapshot.files.sort_by(|a, b| a.path.cmp(&b.path));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_pulled_is_always_what_was_pushed() {
    use rand::SeedableRng;
    use scry_client::sealing::OrgKey;
    use scry_client::sync::{self, Remote};

    let s = service().await;
    let (alice, org) = s.syncing_org().await;
    let cases: u64 = std::env::var("SCRY_SYNC_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(12);
    for seed in 0..cases {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let repo = alice
            .create_repo(&org.id, &format!("r{seed}"))
            .await
            .unwrap();
        let key = OrgKey::generate(1);
        let mut snapshot = big_snapshot(3, 2);
        for step in 0..8 {
            mutate(&mut snapshot, &mut rng, step);
            let plan = sync::plan(&snapshot, &key);
            let remote = Remote {
                client: &alice,
                org: &org.id,
                repo: &repo.id,
                ref_name: "main",
            };
            sync::push(&remote, &plan, &key, false, &mut |_| {})
                .await
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
            let pulled = sync::pull(&alice, &org.id, &repo.id, "main", &key)
                .await
                .unwrap()
                .expect("the ref exists");
            let mut expected = snapshot.clone();
            expected
                .files
                .retain(|f| sync::secret_reason(&f.path).is_none());
            assert_eq!(pulled, expected, "seed {seed} step {step}");
        }
        // Another org's key opens nothing of it.
        let other = sync::pull(&alice, &org.id, &repo.id, "main", &OrgKey::generate(1)).await;
        assert!(other.is_err(), "seed {seed}");
    }
}
