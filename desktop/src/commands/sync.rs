//! Sync of local workspaces to the account, as `scry sync` and the language server run it
//! (`scry_client::sync`): a preview of what would leave before anything is linked, enabling
//! (linking to a repository of an org), syncing now with `sync-progress` events and a `sync`
//! event at the end, the ledger of what left, disabling; and the account's repositories.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use scry_client::api::PageQuery;
use scry_client::display::{ago, bytes, utc};
use scry_client::sealing::OrgKey;
use scry_client::sync::state::{self, LedgerEntry};
use scry_client::sync::workspace::{self, index_dir, link_of, now};
use scry_client::sync::{Kept, Step, SyncError, schedule};
use scry_core::live;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::account::session;
use super::{blocking, blocking_session};
use crate::error::{CommandError, CommandResult};
use crate::state::{AppState, Emit};

/// A workspace's sync, as the page shows it.
#[derive(Clone, Debug, Serialize, TS)]
pub struct SyncView {
    pub root: String,
    /// `off`, `idle`, `syncing`.
    pub state: String,
    /// The linked repository's name, org and server, when on.
    pub repo_name: Option<String>,
    pub org: Option<String>,
    pub server: Option<String>,
    /// The last sync: `generation 3, 5 min ago`.
    pub last: Option<String>,
}

/// What a first sync would send, before anything is linked: planned here with a throwaway
/// key (sizes do not depend on the key).
#[derive(Clone, Debug, Serialize, TS)]
pub struct SyncPreview {
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub chunks: u64,
    #[ts(type = "number")]
    pub objects: u64,
    /// Sealed bytes, as people read them.
    pub size: String,
    /// Files that never leave, and why.
    pub excluded: Vec<Excluded>,
    /// What the service can and cannot see.
    pub privacy: String,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct Excluded {
    pub path: String,
    pub why: String,
}

/// One line of the ledger: a sync that sent or committed something.
#[derive(Clone, Debug, Serialize, TS)]
pub struct LedgerRow {
    pub at: String,
    /// The branch, as named here (the service sees a keyed hash).
    pub line: String,
    #[ts(type = "number")]
    pub generation: i64,
    #[ts(type = "number")]
    pub objects: u64,
    pub sent: String,
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub excluded: u64,
}

/// The `sync-progress` event.
#[derive(Clone, Debug, Serialize, TS)]
pub struct SyncProgress {
    pub root: String,
    /// `negotiating`, `uploading` or `committing`.
    pub stage: String,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
}

/// The `sync` event: how a sync ended.
#[derive(Clone, Debug, Serialize, TS)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SyncEvent {
    Synced {
        view: SyncView,
        #[ts(type = "number")]
        generation: i64,
        #[ts(type = "number")]
        objects: u64,
        sent: String,
    },
    Failed {
        view: SyncView,
        error: CommandError,
    },
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct RepoView {
    pub id: String,
    pub name: String,
    #[ts(type = "number")]
    pub chunks: i64,
    pub created: String,
    /// The folder on this machine linked to it.
    pub linked: Option<String>,
    /// Its branches' generations on the account: the highest, and when the last came.
    #[ts(type = "number | null")]
    pub generation: Option<i64>,
    pub last_sync: Option<String>,
    /// The branch whose code hosted search serves, readable by the service; `null`: off.
    pub hosted_search: Option<String>,
}

/// Where a workspace's sync stands.
#[tauri::command]
pub async fn sync_state(state: State<'_, AppState>, root: String) -> CommandResult<SyncView> {
    let root = PathBuf::from(root);
    let syncing = state.syncing().contains(&root);
    blocking(move || view(&root, syncing)).await
}

/// What a first sync of the workspace would send and what it would leave out.
#[tauri::command]
pub async fn sync_preview(state: State<'_, AppState>, root: String) -> CommandResult<SyncPreview> {
    let workspace = state.workspace(Path::new(&root))?;
    blocking(move || {
        let delta = workspace.snapshot_since(None)?;
        let plan = Kept::default()
            .plan(&delta, &OrgKey::generate(0), false)
            .ok_or_else(|| CommandError::new("internal", "the whole index did not plan"))?;
        let sealed: usize = plan
            .objects
            .iter()
            .map(|o| OrgKey::sealed_len(o.plaintext.len()))
            .sum();
        Ok(SyncPreview {
            files: plan.files.len() as u64,
            chunks: plan.chunks as u64,
            objects: plan.objects.len() as u64,
            size: bytes(sealed as u64),
            excluded: plan
                .excluded
                .iter()
                .map(|(path, why)| Excluded {
                    path: path.clone(),
                    why: why.to_string(),
                })
                .collect(),
            privacy: "Paths, code and vectors leave sealed with the org's key, which the \
                      service never sees; it sees ids, sizes, and which node holds which ids."
                .into(),
        })
    })
    .await
}

/// Links the workspace to the repository `repo_name` of `org` (created when missing; the
/// folder's or remote's name by default) and takes the org's data key on this device.
#[tauri::command]
pub async fn enable_sync(
    state: State<'_, AppState>,
    root: String,
    org: String,
    repo_name: Option<String>,
) -> CommandResult<SyncView> {
    let workspace = state.workspace(Path::new(&root))?;
    let client = session(&state).await?;
    let name = repo_name.filter(|n| !n.trim().is_empty());
    let link = workspace::link_workspace(
        &client,
        &state.server()?,
        workspace.root(),
        &org,
        name.as_deref(),
    )
    .await?;
    let root = workspace.root().to_path_buf();
    blocking(move || {
        let (runtime, client) = blocking_session(&link.server)?;
        match workspace::org_key(&runtime, &client, &link.server, &link.org) {
            Ok(_) | Err(SyncError::KeyPending(_)) => view(&root, false),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// Syncs the workspace now, in the background: `sync-progress` events, then a `sync` event.
#[tauri::command]
pub async fn sync_now(state: State<'_, AppState>, root: String) -> CommandResult<SyncView> {
    start(&state, state.workspace(Path::new(&root))?)
}

/// Starts a sync of `workspace` unless one runs; where it stands.
pub fn start(state: &AppState, workspace: Arc<live::Workspace>) -> CommandResult<SyncView> {
    let root = workspace.root().to_path_buf();
    let syncing = state.syncing();
    if !syncing.start(&root) {
        return view(&root, true);
    }
    let started = view(&root, true)
        .and_then(|view| match view.state.as_str() {
            "off" => Err(SyncError::NotEnabled(root.clone()).into()),
            _ => Ok(view),
        })
        .inspect_err(|_| syncing.end(&root))?;
    let (emit, cues) = (state.emitter(), state.cues());
    tauri::async_runtime::spawn_blocking(move || {
        let (event, retry) = run_sync(&workspace, &emit);
        syncing.end(&root);
        if let Some(after) = retry {
            cues.retry(root, after);
        }
        emit(
            "sync",
            serde_json::to_value(event).expect("events serialise"),
        );
    });
    Ok(started)
}

/// Starts a sync of every open workspace that is linked (the tray's `Sync now`).
pub fn start_all(state: &AppState) {
    let open: Vec<Arc<live::Workspace>> = state.workspaces().values().cloned().collect();
    for workspace in open {
        if matches!(link_of(workspace.root()), Ok(Some(_)))
            && let Err(e) = start(state, workspace)
        {
            tracing::warn!("cannot start a sync: {}", e.message);
        }
    }
}

/// The ledger: every sync that sent or committed something, newest first.
#[tauri::command]
pub async fn sync_ledger(root: String) -> CommandResult<Vec<LedgerRow>> {
    blocking(move || {
        let entries = state::ledger(&index_dir(Path::new(&root)))?;
        Ok(entries.iter().rev().map(ledger_row).collect())
    })
    .await
}

/// Stops syncing the workspace; with `delete_remote`, the account's copy goes too.
#[tauri::command]
pub async fn disable_sync(
    state: State<'_, AppState>,
    root: String,
    delete_remote: bool,
) -> CommandResult<SyncView> {
    let root = PathBuf::from(root);
    let link = {
        let root = root.clone();
        blocking(move || Ok(link_of(&root)?)).await?
    };
    if let Some(link) = link
        && delete_remote
    {
        match session(&state)
            .await?
            .delete_repo(&link.org, &link.repo)
            .await
        {
            Err(e) if e.kind() != scry_client::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    blocking(move || {
        state::remove_link(&index_dir(&root))?;
        view(&root, false)
    })
    .await
}

/// The org's repositories on the account, and which folder here is linked to each.
#[tauri::command]
pub async fn account_repos(
    state: State<'_, AppState>,
    org: String,
) -> CommandResult<Vec<RepoView>> {
    let client = session(&state).await?;
    let roots: Vec<PathBuf> = state.workspaces().keys().cloned().collect();
    let links = blocking(move || {
        Ok(roots
            .into_iter()
            .filter_map(|root| Some((link_of(&root).ok()??, root)))
            .collect::<Vec<_>>())
    })
    .await?;
    let mut page = PageQuery {
        limit: Some(100),
        after: None,
    };
    let mut repos = Vec::new();
    loop {
        let found = client.repos(&org, &page).await?;
        for r in found.items {
            let refs = client.refs(&org, &r.id).await?;
            repos.push(RepoView {
                linked: links
                    .iter()
                    .find(|(link, _)| link.repo == r.id)
                    .map(|(_, root)| root.display().to_string()),
                generation: refs.iter().map(|g| g.generation).max(),
                last_sync: refs
                    .iter()
                    .map(|g| g.committed_at)
                    .max()
                    .map(|at| ago(at, now())),
                id: r.id,
                name: r.name,
                chunks: r.chunks,
                created: utc(r.created_at),
                hosted_search: r.hosted_search,
            });
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => return Ok(repos),
        }
    }
}

/// Turns hosted search on for `branch` of a repository (the service then keeps the code its
/// syncs publish readable, to search it for the org), or off (`null`: the service deletes that
/// code). Admins.
#[tauri::command]
pub async fn set_hosted_search(
    state: State<'_, AppState>,
    org: String,
    repo: String,
    branch: Option<String>,
) -> CommandResult<()> {
    let client = session(&state).await?;
    client
        .set_hosted_search(&org, &repo, branch.as_deref())
        .await?;
    Ok(())
}

/// One sync of `workspace`, its steps sent as `sync-progress`; how it ended, and when to try
/// again by itself if waiting can fix a failure.
fn run_sync(workspace: &live::Workspace, emit: &Arc<Emit>) -> (SyncEvent, Option<Duration>) {
    let root = workspace.root();
    let shown = root.display().to_string();
    let mut progress = |step: Step| {
        let (stage, done, total) = match step {
            Step::Negotiating { asked } => ("negotiating", asked as u64, 0),
            Step::Uploading { sent, total } => ("uploading", sent, total),
            Step::Committing => ("committing", 0, 0),
            Step::Publishing { sent, total } => ("publishing", sent, total),
        };
        let progress = SyncProgress {
            root: shown.clone(),
            stage: stage.into(),
            done,
            total,
        };
        emit(
            "sync-progress",
            serde_json::to_value(progress).expect("events serialise"),
        );
    };
    let synced = workspace::sync_workspace(
        root,
        |since| workspace.snapshot_since(since),
        &workspace::SyncOptions::default(),
        &mut progress,
    );
    let after = |view: CommandResult<SyncView>| view.unwrap_or_else(|_| off(root));
    match synced {
        Ok(synced) => {
            let event = SyncEvent::Synced {
                view: after(view(root, false)),
                generation: synced.pushed.generation,
                objects: synced.pushed.objects_uploaded as u64,
                sent: bytes(synced.pushed.bytes_uploaded),
            };
            (event, None)
        }
        Err(e) => {
            let retry = schedule::retry_after(&e);
            let event = SyncEvent::Failed {
                view: after(view(root, false)),
                error: e.into(),
            };
            (event, retry)
        }
    }
}

/// The sync of the workspace at `root`, from its link and ledger.
fn view(root: &Path, syncing: bool) -> CommandResult<SyncView> {
    let Some(link) = link_of(root)? else {
        return Ok(off(root));
    };
    let last = state::ledger(&index_dir(root))?
        .pop()
        .map(|e| format!("generation {}, {}", e.generation, ago(e.at, now())));
    Ok(SyncView {
        root: root.display().to_string(),
        state: if syncing { "syncing" } else { "idle" }.into(),
        repo_name: Some(link.repo_name),
        org: Some(link.org),
        server: Some(link.server),
        last,
    })
}

fn off(root: &Path) -> SyncView {
    SyncView {
        root: root.display().to_string(),
        state: "off".into(),
        repo_name: None,
        org: None,
        server: None,
        last: None,
    }
}

fn ledger_row(e: &LedgerEntry) -> LedgerRow {
    LedgerRow {
        at: utc(e.at),
        line: e.line.clone(),
        generation: e.generation,
        objects: e.objects_uploaded as u64,
        sent: bytes(e.bytes_uploaded),
        files: e.files as u64,
        excluded: e.excluded as u64,
    }
}
