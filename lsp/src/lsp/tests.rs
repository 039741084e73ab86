//! The server in process: requests straight into the service, no stdio, no child process.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};
use tower_lsp_server::LspService;
use tower_lsp_server::jsonrpc::{Request, Response};

use super::Backend;

type Service_ = LspService<Backend>;

async fn call(service: &mut Service_, id: i64, method: &'static str, params: Value) -> Response {
    let request = Request::build(method).id(id).params(params).finish();
    service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap()
        .expect("a request gets a response")
}

async fn notify(service: &mut Service_, method: &'static str, params: Value) {
    let request = Request::build(method).params(params).finish();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert!(response.is_none());
}

fn result(response: Response) -> Value {
    let (_, result) = response.into_parts();
    result.expect("success")
}

/// The symbols `scry/search` returns for `query`, best first.
async fn search_symbols(service: &mut Service_, query: &str) -> Vec<String> {
    let hits = result(
        call(
            service,
            3,
            "scry/search",
            json!({"query": query, "limit": 3}),
        )
        .await,
    );
    hits.as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["symbol"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffers_follow_document_sync_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("a.py"), "def original_name():\n    pass\n").unwrap();
    let index = tempfile::tempdir().unwrap();
    // SAFETY: the only test in this binary that reads the variable, set before any thread
    // of the server starts.
    unsafe { std::env::set_var("SCRY_INDEX_DIR", index.path()) };

    let (mut service, socket) = LspService::build(Backend::new)
        .custom_method("scry/search", Backend::search)
        .custom_method("scry/status", Backend::status)
        .finish();
    // Play the client's part: answer the server's requests, drop its notifications.
    let (mut requests, mut responses) = socket.split();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(id) = request.id().cloned() {
                let _ = responses.send(Response::from_ok(id, Value::Null)).await;
            }
        }
    });

    let uri = format!("file://{}", root.display());
    let init = result(
        call(
            &mut service,
            1,
            "initialize",
            json!({"capabilities": {}, "workspaceFolders": [{"uri": uri, "name": "ws"}]}),
        )
        .await,
    );
    assert_eq!(init["capabilities"]["textDocumentSync"]["change"], 1);
    notify(&mut service, "initialized", json!({})).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = result(call(&mut service, 2, "scry/status", Value::Null).await);
        if status["workspaces"][0]["state"] == "ready" {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Fifty changes in a row, sent without waiting: the last one must be what is searched.
    let doc = format!("{uri}/a.py");
    notify(
        &mut service,
        "textDocument/didOpen",
        json!({"textDocument": {"uri": doc, "languageId": "python", "version": 0,
            "text": "def original_name():\n    pass\n"}}),
    )
    .await;
    for version in 1..=50 {
        notify(
            &mut service,
            "textDocument/didChange",
            json!({"textDocument": {"uri": doc, "version": version},
                "contentChanges": [{"text": format!("def edited_version_{version}():\n    pass\n")}]}),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let symbols = search_symbols(&mut service, "edited_version").await;
        if symbols == ["edited_version_50"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the last change never showed: {symbols:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // No older change overtakes it later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        search_symbols(&mut service, "edited_version").await,
        ["edited_version_50"]
    );
    let status = result(call(&mut service, 4, "scry/status", Value::Null).await);
    assert_eq!(status["workspaces"][0]["buffers"], 1, "{status}");
    let err = call(
        &mut service,
        5,
        "workspace/executeCommand",
        json!({"command": "nope"}),
    )
    .await;
    let (_, err) = err.into_parts();
    assert!(err.unwrap_err().message.contains("scry.reindex"));
    call(&mut service, 6, "shutdown", Value::Null).await;
}
