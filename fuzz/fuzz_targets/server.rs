//! The account service's request handling (routing, extractors, validation, handlers) on
//! hostile requests: any method and route of its OpenAPI document, ids real or made up, a
//! session, an API key or garbage as the credential, any body. It answers every one, never
//! with a 500, and every refusal is a JSON error with a code. One service per process, on
//! SQLite in a temporary directory, with a member, an org, a repository and an API key.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Result, Unstructured};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Service {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    routes: Vec<(Method, String)>,
    /// Real ids a path may name, by placeholder.
    ids: Vec<(&'static str, String)>,
    session: String,
    api_key: String,
    _dir: tempfile::TempDir,
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, body.to_vec())
}

async fn post(app: &axum::Router, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, body) = send(app, request.body(Body::from(body.to_string())).unwrap()).await;
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut config = scry_server::config::Config {
            data_dir: dir.path().to_path_buf(),
            admin_token: Some("operator-secret".into()),
            ..Default::default()
        };
        // Limits would answer most requests with 429 after a minute of fuzzing.
        for limits in config.tiers.values_mut() {
            limits.requests_per_minute = i64::MAX / 2;
        }
        let t = &mut config.throttle;
        for n in [
            &mut t.login_failures_per_account,
            &mut t.login_failures_per_address,
            &mut t.signups_per_address,
            &mut t.device_codes_per_address,
            &mut t.device_verify_failures_per_user,
            &mut t.verification_emails_per_user,
        ] {
            *n = i64::MAX / 2;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outbox = config.outbox();
        let app = runtime.block_on(async {
            let store = scry_server::open_store(&config).await.unwrap();
            let clock = std::sync::Arc::new(scry_server::clock::SystemClock);
            scry_server::app(store, clock, config).unwrap()
        });
        let (routes, session, api_key, ids) = runtime.block_on(async {
            let (_, spec) = send(
                &app,
                Request::get("/openapi.json").body(Body::empty()).unwrap(),
            )
            .await;
            let spec: Value = serde_json::from_slice(&spec).unwrap();
            let mut routes = Vec::new();
            for (path, item) in spec["paths"].as_object().unwrap() {
                for method in item.as_object().unwrap().keys() {
                    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                    // Signing the fuzzer's own session out would leave it nothing to reach.
                    if !(method == Method::DELETE && path == "/v1/sessions/current") {
                        routes.push((method, path.clone()));
                    }
                }
            }
            let password = "correct horse battery";
            let email = "fuzz@example.com";
            post(
                &app,
                "/v1/users",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
            let mail = std::fs::read_dir(&outbox)
                .unwrap()
                .flatten()
                .next()
                .unwrap()
                .path();
            let mail = std::fs::read_to_string(mail).unwrap();
            let at = mail.find("scry_vfy_").unwrap();
            let token: String = mail[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            post(&app, "/v1/users/verify", None, json!({"token": token})).await;
            let login = post(
                &app,
                "/v1/sessions",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
            let session = login["token"].as_str().unwrap().to_string();
            let org = post(&app, "/v1/orgs", Some(&session), json!({"name": "acme"})).await;
            let org = org["id"].as_str().unwrap().to_string();
            let repo = post(
                &app,
                &format!("/v1/orgs/{org}/repos"),
                Some(&session),
                json!({"name": "widgets"}),
            )
            .await;
            let key = post(
                &app,
                &format!("/v1/orgs/{org}/keys"),
                Some(&session),
                json!({"name": "ci", "role": "admin"}),
            )
            .await;
            let ids = vec![
                ("{org}", org),
                ("{repo}", repo["id"].as_str().unwrap().to_string()),
                ("{key}", key["api_key"]["id"].as_str().unwrap().to_string()),
            ];
            (
                routes,
                session,
                key["key"].as_str().unwrap().to_string(),
                ids,
            )
        });
        Service {
            runtime,
            app,
            routes,
            ids,
            session,
            api_key,
            _dir: dir,
        }
    })
}

#[derive(Debug)]
struct Call {
    method: Method,
    uri: String,
    credential: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl<'a> Arbitrary<'a> for Call {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Call> {
        let s = service();
        let (method, template) = u.choose(&s.routes)?.clone();
        let placeholders = template.matches('{').count();
        let mut uri = template.clone();
        for i in 0..placeholders {
            let start = uri.find('{').unwrap();
            let end = start + uri[start..].find('}').unwrap() + 1;
            let name = uri[start..end].to_string();
            let real = s
                .ids
                .iter()
                .find(|(p, _)| *p == name)
                .map(|(_, id)| id.clone());
            // The last id of a DELETE is never a real one: the fuzzer keeps its org.
            let keep_real = !(method == Method::DELETE && i + 1 == placeholders);
            let id = match real {
                Some(id) if keep_real && u.ratio(7, 8)? => id,
                _ => String::arbitrary(u)?,
            };
            uri.replace_range(start..end, &id);
        }
        if u.ratio(1, 4)? {
            uri.push('?');
            uri.push_str(&String::arbitrary(u)?);
        }
        let credential = match u.int_in_range(0..=4)? {
            0 => None,
            1 | 2 => Some(format!("Bearer {}", s.session)),
            3 => Some(format!("Bearer {}", s.api_key)),
            _ => Some(String::arbitrary(u)?),
        };
        let content_type = *u.choose(&[Some("application/json"), None, Some("text/plain")])?;
        Ok(Call {
            method,
            uri,
            credential,
            content_type,
            body: u.arbitrary()?,
        })
    }
}

fuzz_target!(|call: Call| {
    let s = service();
    let mut request = Request::builder()
        .method(call.method.clone())
        .uri(call.uri.as_str());
    if let Some(credential) = &call.credential {
        request = request.header(header::AUTHORIZATION, credential.as_str());
    }
    if let Some(content_type) = call.content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    // A URI or header that HTTP cannot carry never reaches the service.
    let Ok(request) = request.body(Body::from(call.body.clone())) else {
        return;
    };
    let (status, body) = s.runtime.block_on(send(&s.app, request));
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        String::from_utf8_lossy(&body)
    );
    if status.is_client_error() || status.is_server_error() {
        let error: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{status}: not JSON: {}", String::from_utf8_lossy(&body)));
        assert!(
            error["error"]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{status}: {error}"
        );
    }
});
