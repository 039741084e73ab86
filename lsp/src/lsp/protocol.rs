//! Scry's extensions to the Language Server Protocol, as they travel on the wire (documented in
//! `docs/lsp-extensions.md`), and the settings a client sends.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::{Position, Range, TextDocumentIdentifier, Uri};

use scry_core::live::{self, State};
use scry_core::{ChunkKind, Hit};

/// Results a request returns unless it asks for another number.
pub const DEFAULT_LIMIT: usize = 20;
/// Results no request gets more of.
pub const MAX_LIMIT: usize = 200;

/// `scry/search` (also the argument of the `scry.search` command).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchParams {
    pub query: String,
    pub limit: Option<usize>,
    pub lang: Option<String>,
    pub glob: Option<String>,
    /// Matching chunks, several of a file if they match, instead of one result per file.
    #[serde(default)]
    pub chunks: bool,
    /// `workspace` (the default: the open folders) or `org` (every synced repository of the
    /// org the first linked folder belongs to).
    pub scope: Option<Scope>,
    /// With `org`: only these repositories, by name.
    #[serde(default)]
    pub repos: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Workspace,
    Org,
}

/// `scry/similar` (also the argument of the `scry.similar` command).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimilarParams {
    pub text_document: TextDocumentIdentifier,
    pub range: Range,
    pub limit: Option<usize>,
    pub lang: Option<String>,
    pub glob: Option<String>,
    /// Open the best result in the editor (`window/showDocument`).
    #[serde(default)]
    pub show: bool,
}

/// One result of `scry/search` or `scry/similar`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    /// `null` for an org-wide result in a repository not checked out here.
    pub uri: Option<Uri>,
    /// Org-wide results: the repository (`path` lies inside it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    pub range: Range,
    pub score: f32,
    pub symbol: Option<String>,
    pub kind: &'static str,
    #[serde(skip)]
    pub chunk_kind: ChunkKind,
    pub language: String,
    /// Relative to its workspace folder, `/`-separated.
    pub path: String,
    /// The chunk's first lines.
    pub snippet: String,
    /// The file's other matching chunks, best first (results by file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<MoreResult>,
}

/// Another chunk of a result's file that matched.
#[derive(Clone, Debug, Serialize)]
pub struct MoreResult {
    /// Whole lines.
    pub range: Range,
    pub score: f32,
    pub symbol: Option<String>,
}

const SNIPPET_LINES: usize = 8;
const SNIPPET_CHARS: usize = 600;

impl SearchResult {
    pub fn new(uri: Option<Uri>, hit: Hit) -> SearchResult {
        let last_line = hit.text.lines().last().unwrap_or("");
        let range = Range::new(
            Position::new(hit.start_line.saturating_sub(1), 0),
            Position::new(
                hit.end_line.saturating_sub(1),
                last_line.encode_utf16().count() as u32,
            ),
        );
        let mut snippet: String = hit
            .text
            .lines()
            .take(SNIPPET_LINES)
            .collect::<Vec<_>>()
            .join("\n");
        if let Some((cut, _)) = snippet.char_indices().nth(SNIPPET_CHARS) {
            snippet.truncate(cut);
        }
        SearchResult {
            uri,
            repo: None,
            range,
            score: hit.score,
            symbol: hit.symbol,
            kind: hit.kind.as_str(),
            chunk_kind: hit.kind,
            language: hit.language,
            path: hit.path,
            snippet,
            more: (hit.more.into_iter())
                .map(|m| MoreResult {
                    range: Range::new(
                        Position::new(m.start_line.saturating_sub(1), 0),
                        Position::new(m.end_line, 0),
                    ),
                    score: m.score,
                    symbol: m.symbol,
                })
                .collect(),
        }
    }
}

/// One workspace folder's index: the answer to `scry/status` and the `scry/indexStatus`
/// notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatus {
    pub root: Uri,
    pub state: State,
    /// The index file.
    pub index: String,
    pub files: u64,
    pub chunks: u64,
    pub vectors: u64,
    /// The model whose vectors the index holds (`None`: lexical search only).
    pub model: Option<String>,
    /// Open buffers whose unsaved text is searched instead of their file.
    pub buffers: usize,
    pub message: Option<String>,
}

impl WorkspaceStatus {
    /// The engine's status as the protocol shows it; `None` for a root without a `file:` URI.
    pub fn new(status: live::Status) -> Option<WorkspaceStatus> {
        Some(WorkspaceStatus {
            root: Uri::from_file_path(&status.root)?,
            state: status.state,
            index: status.index.display().to_string(),
            files: status.files,
            chunks: status.chunks,
            vectors: status.vectors,
            model: status.model,
            buffers: status.buffers,
            message: status.message,
        })
    }
}

/// `scry/status`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResult {
    pub version: &'static str,
    pub workspaces: Vec<WorkspaceStatus>,
    /// The last background sync of each workspace that syncs.
    pub sync: Vec<SyncStatus>,
}

/// Where a workspace's background sync stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    Syncing,
    /// The account holds the index as of its last change.
    Synced,
    /// The account could not be reached; retried in a minute.
    Offline,
    /// It cannot sync until something changes (signed out, no key, over quota); `message`
    /// says what to do.
    Failed,
}

/// A workspace's background sync: the `scry/syncStatus` notification, and `sync` in
/// `scry/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    pub root: Uri,
    pub state: SyncState,
    /// The ref's generation on the account, after the last sync that reached it.
    pub generation: Option<i64>,
    pub objects_uploaded: usize,
    pub bytes_uploaded: u64,
    pub message: Option<String>,
}

/// `scry/syncStatus`, sent when a workspace's background sync starts and ends.
pub enum SyncStatusNotification {}

impl Notification for SyncStatusNotification {
    type Params = SyncStatus;
    const METHOD: &'static str = "scry/syncStatus";
}

/// `scry/indexStatus`, sent when a workspace's state or counts change.
pub enum IndexStatus {}

impl Notification for IndexStatus {
    type Params = WorkspaceStatus;
    const METHOD: &'static str = "scry/indexStatus";
}

/// What a client sets in `initializationOptions` or in `workspace/didChangeConfiguration`
/// (`{"settings": {"scry": {…}}}` or the object itself).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    /// `builtin` (default), `none`, or a model directory or file (relative to the workspace).
    pub model: Option<String>,
    /// Globs (gitignore syntax) kept out of the index.
    pub exclude: Vec<String>,
    /// Results a request returns when it does not say.
    pub limit: Option<usize>,
}

impl Settings {
    /// Reads settings from what a client sent; `Err` names the problem.
    pub fn from_value(value: &serde_json::Value) -> Result<Settings, String> {
        let value = match value.get("scry") {
            Some(inner) => inner,
            None => value,
        };
        if value.is_null() {
            return Ok(Settings::default());
        }
        serde_json::from_value(value.clone()).map_err(|e| format!("invalid Scry settings: {e}"))
    }

    /// What the live index takes of them.
    pub fn live(&self) -> live::Settings {
        live::Settings {
            model: self.model.clone(),
            exclude: self.exclude.clone(),
        }
    }
}

/// A request's result count: what it asked for, else the setting, else the default; capped.
pub fn limit(asked: Option<usize>, settings: &Settings) -> usize {
    asked
        .or(settings.limit)
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT)
}
