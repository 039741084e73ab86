//! `scry lsp`: the language server, a shell over the engine's live index
//! ([`scry_core::live`]): each workspace folder gets one; editor messages become its jobs, its
//! events become `$/progress`, `scry/indexStatus` and warnings. Requests search it from the
//! last committed state plus the open buffers. Workspaces whose sync is enabled are synced in
//! the background (`sync`).
//!
//! Document sync handlers never await: tower-lsp-server starts handlers in arrival order, and a
//! handler that finishes in its first poll cannot be overtaken, so buffers reach the worker in
//! the order the editor sent them. Searches run on the blocking pool.

mod folders;
mod framing;
mod org;
mod protocol;
mod sync;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use protocol::{
    IndexStatus, Scope, SearchParams, SearchResult, Settings, SimilarParams, StatusResult,
    WorkspaceStatus, limit,
};
use scry_core::live::{Event, Workspace};
use scry_core::{ChunkKind, Filter, Hit, Span};

/// How long a request waits for a workspace whose index is still opening.
const OPEN_WAIT: Duration = Duration::from_secs(10);

const COMMANDS: [&str; 3] = ["scry.search", "scry.similar", "scry.reindex"];

/// Serves the protocol on stdin/stdout until the client says `exit` or closes the stream.
pub fn run() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (service, socket) = LspService::build(Backend::new)
            .custom_method("scry/search", Backend::search)
            .custom_method("scry/similar", Backend::similar)
            .custom_method("scry/status", Backend::status)
            .finish();
        let (guarded, library_in) = tokio::io::duplex(1 << 20);
        let (library_out, replies) = tokio::io::duplex(1 << 20);
        let (out, frames) = tokio::sync::mpsc::unbounded_channel();
        let input = tokio::spawn(framing::guard_input(
            tokio::io::stdin(),
            guarded,
            out.clone(),
        ));
        let output = tokio::spawn(framing::frames_of(replies, out));
        let writer = tokio::spawn(framing::write_frames(tokio::io::stdout(), frames));
        Server::new(library_in, library_out, socket)
            .serve(service)
            .await;
        // The library's output is closed: pass on what it wrote, then stop.
        let _ = output.await;
        input.abort();
        let _ = input.await;
        let _ = writer.await;
    });
    // The stdin reader blocks in a thread of its own until the client closes the pipe, which
    // it need not do after `exit`: do not wait for it.
    runtime.shutdown_background();
    // Worker threads may be mid-update: every write is one transaction, so leaving now
    // loses nothing.
    Ok(())
}

struct Backend {
    client: Client,
    workspaces: Arc<RwLock<Vec<Arc<Workspace>>>>,
    syncer: sync::Syncer,
    settings: Arc<Mutex<Settings>>,
    /// The text of each open document, as the editor last sent it.
    documents: Arc<Mutex<HashMap<Uri, String>>>,
    folders: folders::Folders,
    capabilities: Mutex<ClientCapabilities>,
    events: UnboundedSender<Event>,
    /// Folders named at `initialize`, opened at `initialized` (when the client may be asked
    /// to show progress).
    pending_folders: Mutex<Vec<PathBuf>>,
    /// The org mirror org-wide searches read, refreshed at most once a minute.
    org: org::Kept,
}

impl Backend {
    fn new(client: Client) -> Backend {
        let (events, rx) = tokio::sync::mpsc::unbounded_channel();
        let workspaces = Arc::new(RwLock::new(Vec::new()));
        let syncer = sync::Syncer::start(client.clone(), workspaces.clone());
        tokio::spawn(forward_events(client.clone(), syncer.clone(), rx));
        let documents = Arc::new(Mutex::new(HashMap::new()));
        let settings = Arc::new(Mutex::new(Settings::default()));
        let folders = folders::Folders::start(
            workspaces.clone(),
            documents.clone(),
            settings.clone(),
            events.clone(),
        );
        Backend {
            org: org::Kept::default(),
            client,
            workspaces,
            syncer,
            settings,
            documents,
            folders,
            capabilities: Mutex::new(ClientCapabilities::default()),
            events,
            pending_folders: Mutex::new(Vec::new()),
        }
    }

    fn workspaces(&self) -> Vec<Arc<Workspace>> {
        self.workspaces.read().expect("workspaces lock").clone()
    }

    fn settings(&self) -> Settings {
        self.settings.lock().expect("settings lock").clone()
    }

    /// The workspace holding `uri`'s file (the innermost when folders nest), and its path
    /// there.
    fn locate(&self, uri: &Uri) -> Option<(Arc<Workspace>, String)> {
        let path = uri.to_file_path()?;
        self.workspaces()
            .into_iter()
            .filter(|w| path.starts_with(w.root()) || w.relative(&path).is_some())
            .max_by_key(|w| w.root().as_os_str().len())
            .and_then(|w| {
                let rel = w.relative(&path)?;
                Some((w, rel))
            })
    }

    /// Sends an open document's text to its workspace (the worker decides whether it differs
    /// from the file on disk).
    fn buffer_changed(&self, uri: &Uri, text: Option<String>) {
        if let Some((ws, path)) = self.locate(uri) {
            ws.set_buffer(path, text);
        }
    }

    async fn ready_workspaces(&self) -> RpcResult<Vec<Arc<Workspace>>> {
        let (folders, all) = (self.folders.clone(), self.workspaces.clone());
        let workspaces = blocking(move || {
            folders.wait_opened(OPEN_WAIT);
            let workspaces = all.read().expect("workspaces lock").clone();
            for ws in &workspaces {
                ws.wait_settled(OPEN_WAIT);
            }
            Ok(workspaces)
        })
        .await?;
        if workspaces.is_empty() {
            let opening = self.folders.statuses();
            return Err(invalid(&match opening.iter().find_map(|s| s.message.clone()) {
                Some(stalled) => format!("the workspace folder is still opening: {stalled}"),
                None if !opening.is_empty() => "the workspace folder is still opening".into(),
                None => "no workspace folder is open: open a folder (or give the client a root) to search it".into(),
            }));
        }
        Ok(workspaces)
    }

    async fn search(&self, params: SearchParams) -> RpcResult<Vec<SearchResult>> {
        if params.scope == Some(Scope::Org) {
            let limit = limit(params.limit, &self.settings());
            let model = self.settings().model;
            let (folders, all, kept) = (
                self.folders.clone(),
                self.workspaces.clone(),
                self.org.clone(),
            );
            return blocking(move || {
                folders.wait_opened(OPEN_WAIT);
                let workspaces = all.read().expect("workspaces lock").clone();
                kept.search(&workspaces, model.as_deref(), params, limit)
            })
            .await;
        }
        let workspaces = self.ready_workspaces().await?;
        let limit = limit(params.limit, &self.settings());
        let filter = Filter::new(params.lang.as_deref(), params.glob.as_deref())
            .map_err(|e| invalid(&e.to_string()))?;
        let (query, chunks) = (params.query, params.chunks);
        blocking(move || {
            let mut results = Vec::new();
            let mut searched = 0;
            for ws in &workspaces {
                let hits = ws.with_searcher(|s| match chunks {
                    true => s.search(&query, limit, &filter),
                    false => s.search_files(&query, limit, &filter),
                });
                if let Some(hits) = hits {
                    searched += 1;
                    results.extend(to_results(ws, hits.map_err(|e| invalid(&e.to_string()))?));
                }
            }
            if searched == 0 {
                if let Some(message) = workspaces.iter().find_map(|w| w.status().message) {
                    return Err(RpcError {
                        code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
                        message: message.into(),
                        data: None,
                    });
                }
                return Err(RpcError {
                    code: tower_lsp_server::jsonrpc::ErrorCode::ServerError(-32002),
                    message: "Scry is still building the first index of this workspace; try again when its progress ends".into(),
                    data: None,
                });
            }
            Ok(best(results, limit))
        })
        .await
    }

    async fn similar(&self, params: SimilarParams) -> RpcResult<Vec<SearchResult>> {
        self.ready_workspaces().await?;
        let (ws, path) = self.locate(&params.text_document.uri).ok_or_else(|| {
            invalid("the document is not in an open workspace folder: Scry only compares code inside them")
        })?;
        let limit = limit(params.limit, &self.settings());
        let filter = Filter::new(params.lang.as_deref(), params.glob.as_deref())
            .map_err(|e| invalid(&e.to_string()))?;
        let range = params.range;
        let ws2 = ws.clone();
        let results = blocking(move || {
            let (start_line, end_line) = if range.start == range.end {
                // Nothing selected: the definition at the cursor.
                ws2.with_searcher(|s| s.enclosing(&path, range.start.line + 1))
                    .flatten()
                    .ok_or_else(|| {
                        invalid("no indexed code at the cursor: select the lines to compare")
                    })?
            } else if range.end.character == 0 && range.end.line > range.start.line {
                (range.start.line + 1, range.end.line)
            } else {
                (range.start.line + 1, range.end.line + 1)
            };
            let span = Span {
                path: PathBuf::from(&path),
                start_line,
                end_line,
            };
            let hits = ws2
                .with_searcher(|s| s.similar(&span, limit, &filter))
                .ok_or_else(|| invalid("the index is not open yet"))?
                .map_err(|e| invalid(&e.to_string()))?;
            Ok(to_results(&ws2, hits))
        })
        .await?;
        if params.show {
            self.show(results.first()).await;
        }
        Ok(results)
    }

    async fn status(&self) -> RpcResult<StatusResult> {
        Ok(StatusResult {
            version: env!("CARGO_PKG_VERSION"),
            workspaces: (self.workspaces().iter().map(|w| w.status()))
                .chain(self.folders.statuses())
                .filter_map(WorkspaceStatus::new)
                .collect(),
            sync: self
                .syncer
                .statuses
                .lock()
                .expect("statuses lock")
                .values()
                .cloned()
                .collect(),
        })
    }

    /// Opens a result in the editor when the client can (`window/showDocument`).
    async fn show(&self, result: Option<&SearchResult>) {
        let supported = self
            .capabilities
            .lock()
            .expect("capabilities lock")
            .window
            .as_ref()
            .and_then(|w| w.show_document.as_ref())
            .is_some_and(|s| s.support);
        let Some((result, uri)) = result
            .filter(|_| supported)
            .and_then(|r| Some((r, r.uri.clone()?)))
        else {
            return;
        };
        let params = ShowDocumentParams {
            uri,
            external: None,
            take_focus: Some(true),
            selection: Some(result.range),
        };
        if let Err(err) = self.client.show_document(params).await {
            tracing::debug!("showDocument failed: {err}");
        }
    }

    fn apply_settings(&self, value: Option<&Value>) {
        let Some(value) = value else { return };
        match Settings::from_value(value) {
            Ok(settings) => {
                *self.settings.lock().expect("settings lock") = settings.clone();
                for ws in self.workspaces() {
                    ws.set_settings(settings.live());
                }
            }
            Err(message) => {
                let _ = self.events.send(Event::Warning(message));
            }
        }
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        *self.capabilities.lock().expect("capabilities lock") = params.capabilities.clone();
        // Bad options must not keep the server from starting: say so, use the defaults.
        self.apply_settings(params.initialization_options.as_ref());
        #[allow(deprecated)]
        let folders: Vec<PathBuf> = match (&params.workspace_folders, &params.root_uri) {
            (Some(folders), _) if !folders.is_empty() => folders
                .iter()
                .filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned()))
                .collect(),
            (_, Some(root)) => root
                .to_file_path()
                .map(|p| p.into_owned())
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        *self.pending_folders.lock().expect("folders lock") = folders;
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "scry".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::FULL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..Default::default()
                    },
                )),
                workspace_symbol_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: COMMANDS.iter().map(|c| c.to_string()).collect(),
                    ..Default::default()
                }),
                workspace: Some(WorkspaceServerCapabilities {
                    workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                        supported: Some(true),
                        change_notifications: Some(OneOf::Left(true)),
                    }),
                    file_operations: None,
                }),
                experimental: Some(json!({
                    "scry": {
                        "search": "scry/search",
                        "similar": "scry/similar",
                        "status": "scry/status",
                        "indexStatus": "scry/indexStatus",
                        "syncStatus": "scry/syncStatus",
                    }
                })),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let folders = std::mem::take(&mut *self.pending_folders.lock().expect("folders lock"));
        for folder in folders {
            self.folders.open(folder);
        }
    }

    async fn shutdown(&self) -> RpcResult<()> {
        // A workspace's worker stops with its last handle, once requests in flight are done.
        self.workspaces.write().expect("workspaces lock").clear();
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.documents
            .lock()
            .expect("documents lock")
            .insert(doc.uri.clone(), doc.text.clone());
        self.buffer_changed(&doc.uri, Some(doc.text));
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        // Full sync: the last change holds the whole text.
        let Some(change) = params.content_changes.into_iter().last() else {
            return;
        };
        let uri = params.text_document.uri;
        self.documents
            .lock()
            .expect("documents lock")
            .insert(uri.clone(), change.text.clone());
        self.buffer_changed(&uri, Some(change.text));
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let uri = params.text_document.uri;
        let text = self
            .documents
            .lock()
            .expect("documents lock")
            .get(&uri)
            .cloned();
        if let Some((ws, path)) = self.locate(&uri) {
            // The watcher sees the write too; without one, this is what picks it up.
            ws.rescan();
            ws.set_buffer(path, text);
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.documents.lock().expect("documents lock").remove(&uri);
        self.buffer_changed(&uri, None);
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.apply_settings(Some(&params.settings));
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        for removed in params.event.removed {
            if let Some(path) = removed.uri.to_file_path() {
                self.folders.close(path.into_owned());
            }
        }
        for added in params.event.added {
            if let Some(path) = added.uri.to_file_path() {
                self.folders.open(path.into_owned());
            }
        }
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> RpcResult<Option<WorkspaceSymbolResponse>> {
        if params.query.trim().is_empty() {
            return Ok(Some(WorkspaceSymbolResponse::Flat(Vec::new())));
        }
        let results = self
            .search(SearchParams {
                query: params.query,
                chunks: true,
                ..SearchParams::default()
            })
            .await?;
        #[allow(deprecated)]
        let symbols = results
            .into_iter()
            .filter_map(|r| {
                Some(SymbolInformation {
                    name: r
                        .symbol
                        .clone()
                        .unwrap_or_else(|| r.snippet.lines().next().unwrap_or("").trim().into()),
                    kind: symbol_kind(r.chunk_kind),
                    tags: None,
                    deprecated: None,
                    location: Location::new(r.uri?, r.range),
                    container_name: Some(r.path),
                })
            })
            .collect();
        Ok(Some(WorkspaceSymbolResponse::Flat(symbols)))
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        if params.range.start == params.range.end
            || self.locate(&params.text_document.uri).is_none()
        {
            return Ok(None);
        }
        let arguments = json!({
            "textDocument": {"uri": params.text_document.uri},
            "range": params.range,
            "show": true,
        });
        Ok(Some(vec![CodeActionOrCommand::CodeAction(CodeAction {
            title: "Find similar code".into(),
            kind: Some(CodeActionKind::new("scry.similar")),
            command: Some(Command::new(
                "Find similar code".into(),
                "scry.similar".into(),
                Some(vec![arguments]),
            )),
            ..Default::default()
        })]))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> RpcResult<Option<LSPAny>> {
        let argument = params.arguments.into_iter().next();
        match params.command.as_str() {
            "scry.search" => {
                let params: SearchParams = match argument {
                    Some(Value::String(query)) => SearchParams {
                        query,
                        ..SearchParams::default()
                    },
                    Some(value) => parse(value)?,
                    None => return Err(invalid("scry.search takes a query")),
                };
                let results = self.search(params).await?;
                Ok(Some(json!(results)))
            }
            "scry.similar" => {
                let params: SimilarParams = parse(
                    argument.ok_or_else(|| invalid("scry.similar takes {textDocument, range}"))?,
                )?;
                let results = self.similar(params).await?;
                Ok(Some(json!(results)))
            }
            "scry.reindex" => {
                for ws in self.workspaces() {
                    ws.rescan();
                }
                Ok(None)
            }
            other => Err(invalid(&format!(
                "unknown command `{other}`; Scry's are {}",
                COMMANDS.join(", ")
            ))),
        }
    }
}

/// Forwards what workers report to the client, one at a time and in order; a ready index
/// is the syncer's cue.
async fn forward_events(client: Client, syncer: sync::Syncer, mut rx: UnboundedReceiver<Event>) {
    let mut progress = HashMap::new();
    while let Some(event) = rx.recv().await {
        match event {
            Event::Status(status) => {
                if status.state == scry_core::live::State::Ready {
                    syncer.index_ready(status.root.clone());
                }
                if let Some(status) = WorkspaceStatus::new(status) {
                    client.send_notification::<IndexStatus>(status).await;
                }
            }
            Event::Warning(message) => {
                tracing::warn!("{message}");
                client.show_message(MessageType::WARNING, message).await;
            }
            Event::ProgressBegin { id, title } => {
                let token_id = ProgressToken::String(progress_token(id));
                // Clients that do not support progress answer with an error: skip it then.
                if client
                    .create_work_done_progress(token_id.clone())
                    .await
                    .is_ok()
                {
                    let ongoing = client
                        .progress(token_id, title)
                        .with_percentage(0)
                        .begin()
                        .await;
                    progress.insert(id, ongoing);
                }
            }
            Event::ProgressReport {
                id,
                done,
                total,
                what,
            } => {
                if let Some(ongoing) = progress.get(&id) {
                    let percentage = (done * 100 / total.max(1)) as u32;
                    ongoing
                        .report_with_message(format!("{done}/{total} {what}"), percentage)
                        .await;
                }
            }
            Event::ProgressEnd { id, message } => {
                if let Some(ongoing) = progress.remove(&id) {
                    ongoing.finish_with_message(message).await;
                }
            }
        }
    }
}

/// Progress ids are unique in the process; tokens in the client's session.
fn progress_token(id: u64) -> String {
    format!("scry-index-{}-{id}", std::process::id())
}

fn to_results(ws: &Workspace, hits: Vec<Hit>) -> Vec<SearchResult> {
    hits.into_iter()
        .filter_map(|hit| {
            let uri = Uri::from_file_path(ws.root().join(&hit.path))?;
            Some(SearchResult::new(Some(uri), hit))
        })
        .collect()
}

/// The `limit` best of results from several workspaces.
fn best(mut results: Vec<SearchResult>, limit: usize) -> Vec<SearchResult> {
    results.sort_by(|a, b| b.score.total_cmp(&a.score));
    results.truncate(limit);
    results
}

fn symbol_kind(kind: ChunkKind) -> SymbolKind {
    match kind {
        ChunkKind::Function | ChunkKind::Macro => SymbolKind::FUNCTION,
        ChunkKind::Method => SymbolKind::METHOD,
        ChunkKind::Class => SymbolKind::CLASS,
        ChunkKind::Struct => SymbolKind::STRUCT,
        ChunkKind::Enum => SymbolKind::ENUM,
        ChunkKind::Interface => SymbolKind::INTERFACE,
        ChunkKind::Impl => SymbolKind::OBJECT,
        ChunkKind::Module => SymbolKind::MODULE,
        ChunkKind::Type => SymbolKind::TYPE_PARAMETER,
        ChunkKind::Section => SymbolKind::STRING,
        ChunkKind::Block => SymbolKind::NAMESPACE,
    }
}

fn invalid(message: &str) -> RpcError {
    RpcError::invalid_params(message.to_string())
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> RpcResult<T> {
    serde_json::from_value(value).map_err(|e| invalid(&format!("invalid arguments: {e}")))
}

/// Runs `f` on the blocking pool: searches must not hold up the protocol's tasks.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> RpcResult<T> + Send + 'static,
) -> RpcResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!("a search failed: {e}");
        RpcError::internal_error()
    })?
}

#[cfg(test)]
mod tests;
