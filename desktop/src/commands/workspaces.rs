//! Local workspaces: folders this machine indexes, each a live index (`scry-core`'s, as the
//! language server keeps) that follows the disk, and search over them.

use std::path::{Path, PathBuf};

use scry_client::display::{ago, bytes};
use scry_client::sync::workspace::now;
use scry_core::Filter;
use scry_core::live::{self, Event};
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::blocking;
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

#[derive(Clone, Debug, Serialize, TS)]
pub struct WorkspaceView {
    pub root: String,
    /// `opening`, `indexing`, `ready` or `failed` (then `message` says why).
    pub state: String,
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub chunks: u64,
    pub model: Option<String>,
    pub message: Option<String>,
    /// When the index last changed (`5 min ago`), and its size on disk.
    pub updated: Option<String>,
    pub size: Option<String>,
}

/// The `workspace-progress` event: a long update's progress.
#[derive(Clone, Debug, Serialize, TS)]
pub struct WorkspaceProgress {
    pub root: String,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
    /// What is counted: `files` or `chunks embedded`.
    pub what: String,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct SearchHit {
    /// The workspace, and the file relative to it; empty for an org-wide result whose
    /// repository is not checked out here (then `repo` names it).
    pub root: String,
    /// Org-wide results: the repository.
    pub repo: Option<String>,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub symbol: Option<String>,
    pub score: f32,
    /// The chunk's first lines.
    pub snippet: String,
    /// The file's other matching chunks, best first.
    pub more: Vec<AlsoHit>,
}

/// Another place in a result's file that matched.
#[derive(Clone, Debug, Serialize, TS)]
pub struct AlsoHit {
    pub start_line: u32,
    pub end_line: u32,
    pub symbol: Option<String>,
}

/// The workspaces open in the app.
#[tauri::command]
pub fn workspaces(state: State<'_, AppState>) -> Vec<WorkspaceView> {
    state
        .workspaces()
        .values()
        .map(|w| view(&w.status()))
        .collect()
}

/// Adds a folder: its index opens (or is made) and follows the disk from now on; `workspace`
/// and `workspace-progress` events tell how it goes.
#[tauri::command]
pub async fn add_workspace(
    state: State<'_, AppState>,
    path: String,
) -> CommandResult<WorkspaceView> {
    let opener = Opener::of(&state);
    let workspace = blocking(move || opener.open(Path::new(&path))).await?;
    let status = view(&workspace.status());
    state.workspaces().insert(
        workspace.root().to_path_buf(),
        std::sync::Arc::new(workspace),
    );
    state.save_roots()?;
    Ok(status)
}

/// Walks the whole folder again for changes the watcher missed (a mount, a sync tool).
#[tauri::command]
pub fn reindex_workspace(state: State<'_, AppState>, root: String) -> CommandResult<()> {
    state.workspace(Path::new(&root))?.rescan();
    Ok(())
}

/// Closes a workspace; with `delete_index`, its index files go too.
#[tauri::command]
pub fn remove_workspace(
    state: State<'_, AppState>,
    root: String,
    delete_index: bool,
) -> CommandResult<()> {
    let root = PathBuf::from(root);
    if state.syncing().contains(&root) {
        return Err(CommandError::new(
            "conflict",
            format!(
                "{} is syncing: remove it when the sync ends",
                root.display()
            ),
        ));
    }
    let removed = state.workspaces().remove(&root);
    let Some(workspace) = removed else {
        return Err(CommandError::new(
            "not_found",
            format!("{} is not open", root.display()),
        ));
    };
    let index = workspace.status().index;
    drop(workspace);
    state.save_roots()?;
    if delete_index && let Some(dir) = index.parent() {
        std::fs::remove_dir_all(dir).map_err(|e| {
            CommandError::new(
                "io",
                format!("cannot delete the index in {}: {e}", dir.display()),
            )
        })?;
    }
    Ok(())
}

/// Searches every open workspace; the best `limit` files over all of them.
#[tauri::command]
pub async fn search(
    state: State<'_, AppState>,
    query: String,
    limit: u32,
) -> CommandResult<Vec<SearchHit>> {
    let limit = limit.clamp(1, 200) as usize;
    let mut hits = Vec::new();
    for (root, workspace) in state.workspaces().iter() {
        let found = workspace.with_searcher(|s| s.search_files(&query, limit, &Filter::default()));
        for hit in found.transpose()?.unwrap_or_default() {
            hits.push(search_hit(root.display().to_string(), None, hit));
        }
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(limit);
    Ok(hits)
}

/// Searches every repository of the org of the first open workspace linked to one, from the
/// copy kept on this machine (refreshed at most once a minute; see `scry_client::sync::org`).
/// A result in a repository checked out here opens there.
#[tauri::command]
pub async fn search_org(
    state: State<'_, AppState>,
    query: String,
    limit: u32,
) -> CommandResult<Vec<SearchHit>> {
    let roots: Vec<PathBuf> = state.workspaces().keys().cloned().collect();
    let (kept, model) = (state.org.clone(), state.settings().model.clone());
    blocking(move || {
        let asked = scry_client::sync::org::Asked {
            query,
            limit: limit.clamp(1, 200) as usize,
            lang: None,
            glob: None,
            repos: Vec::new(),
        };
        let model = Some(model.as_str()).filter(|m| !m.is_empty());
        let (root, hits) = kept.search(roots.iter().map(PathBuf::as_path), model, &asked)?;
        Ok((hits.into_iter())
            .map(|h| {
                let here = h.local.is_some().then(|| root.display().to_string());
                search_hit(here.unwrap_or_default(), Some(h.repo), h.hit)
            })
            .collect())
    })
    .await
}

fn search_hit(root: String, repo: Option<String>, hit: scry_core::Hit) -> SearchHit {
    SearchHit {
        root,
        repo,
        snippet: hit.text.lines().take(8).collect::<Vec<_>>().join("\n"),
        more: (hit.more.into_iter())
            .map(|m| AlsoHit {
                start_line: m.start_line,
                end_line: m.end_line,
                symbol: m.symbol,
            })
            .collect(),
        path: hit.path,
        start_line: hit.start_line,
        end_line: hit.end_line,
        symbol: hit.symbol,
        score: hit.score,
    }
}

/// What starting a folder's live index takes from the app, so that it can start off the main
/// thread: opening touches the folder's disk, which a stalled mount can hold for minutes.
pub struct Opener {
    emit: std::sync::Arc<crate::state::Emit>,
    cues: crate::state::Cues,
    settings: live::Settings,
}

impl Opener {
    pub fn of(state: &AppState) -> Opener {
        Opener {
            emit: state.emitter(),
            cues: state.cues(),
            settings: state.settings().index(),
        }
    }

    /// Starts the live index of the folder at `root`, its events sent to the page.
    pub fn open(self, root: &Path) -> CommandResult<live::Workspace> {
        let offer = scry_client::sync::reuse::live_offer(root);
        Ok(live::Workspace::start_reusing(
            root,
            self.settings,
            Some(offer),
            on_event(root, self.emit, self.cues),
        )?)
    }
}

fn on_event(
    root: &Path,
    emit: std::sync::Arc<crate::state::Emit>,
    cues: crate::state::Cues,
) -> impl Fn(Event) + Send + Sync + 'static {
    let shown = root.display().to_string();
    move |event: Event| match event {
        Event::Status(status) => {
            if status.state == live::State::Ready {
                cues.changed(status.root.clone());
            }
            emit("workspace", json(&view(&status)))
        }
        Event::ProgressReport {
            done, total, what, ..
        } => {
            let progress = WorkspaceProgress {
                root: shown.clone(),
                done,
                total,
                what: what.into(),
            };
            emit("workspace-progress", json(&progress));
        }
        Event::Warning(message) => emit("warning", serde_json::Value::String(message)),
        Event::ProgressBegin { .. } | Event::ProgressEnd { .. } => {}
    }
}

fn view(status: &live::Status) -> WorkspaceView {
    let state = serde_json::to_value(status.state).expect("states serialise");
    let disk = on_disk(&status.index);
    WorkspaceView {
        root: status.root.display().to_string(),
        state: state.as_str().unwrap_or("failed").to_string(),
        files: status.files,
        chunks: status.chunks,
        model: status.model.clone(),
        message: status.message.clone(),
        updated: disk.map(|(at, _)| ago(at, now())),
        size: disk.map(|(_, size)| bytes(size)),
    }
}

/// When the index in `index`'s directory last changed (unix seconds), and its bytes.
fn on_disk(index: &Path) -> Option<(i64, u64)> {
    let files = std::fs::read_dir(index.parent()?).ok()?;
    let (mut latest, mut size) = (0, 0);
    for meta in files.flatten().filter_map(|f| f.metadata().ok()) {
        if meta.is_file() {
            size += meta.len();
            let at = meta
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            latest = latest.max(at.as_secs() as i64);
        }
    }
    (size > 0).then_some((latest, size))
}

fn json(value: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("views serialise")
}
