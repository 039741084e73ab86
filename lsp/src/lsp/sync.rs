//! Background sync of the workspaces whose sync is enabled (`scry sync enable`), when
//! `scry_client::sync::schedule` says: once a workspace's index is ready and has stayed quiet
//! for a while, its snapshot is synced on the blocking pool, one workspace at a time, never in
//! a search's way; failures that waiting fixes are tried again. Reported as
//! `scry/syncStatus` and `$/progress`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use scry_client::ErrorKind;
use scry_client::sync::schedule::{self, Due};
use scry_client::sync::{SyncError, SyncOptions, sync_workspace, workspace::link_of};
use scry_core::live::Workspace;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{ProgressToken, Uri};

use super::protocol::{SyncState, SyncStatus, SyncStatusNotification};

/// The workspaces' last sync states, for `scry/status`.
pub type Statuses = Arc<Mutex<HashMap<PathBuf, SyncStatus>>>;

/// Tells the syncer which workspaces changed.
#[derive(Clone)]
pub struct Syncer {
    changed: UnboundedSender<PathBuf>,
    pub statuses: Statuses,
}

impl Syncer {
    pub fn start(client: Client, workspaces: Arc<RwLock<Vec<Arc<Workspace>>>>) -> Syncer {
        let (changed, rx) = tokio::sync::mpsc::unbounded_channel();
        let statuses = Statuses::default();
        tokio::spawn(run(client, workspaces, statuses.clone(), rx));
        Syncer { changed, statuses }
    }

    /// The index of the workspace at `root` is ready with a change: sync it once it is quiet.
    pub fn index_ready(&self, root: PathBuf) {
        let _ = self.changed.send(root);
    }
}

async fn run(
    client: Client,
    workspaces: Arc<RwLock<Vec<Arc<Workspace>>>>,
    statuses: Statuses,
    mut changed: UnboundedReceiver<PathBuf>,
) {
    let mut due = Due::default();
    loop {
        tokio::select! {
            root = changed.recv() => match root {
                Some(root) => due.changed(root),
                None => return,
            },
            () = schedule::until(due.next()) => {
                for root in due.ready() {
                    let ws = workspaces
                        .read()
                        .expect("workspaces lock")
                        .iter()
                        .find(|w| w.root() == root)
                        .cloned();
                    if let Some(ws) = ws
                        && let Some(retry) = sync_one(&client, &statuses, ws).await
                    {
                        due.retry(root, retry);
                    }
                }
            }
        }
    }
}

/// Syncs one workspace if it is linked; when to try again, if it should be.
async fn sync_one(client: &Client, statuses: &Statuses, ws: Arc<Workspace>) -> Option<Duration> {
    let root = ws.root().to_path_buf();
    let uri = Uri::from_file_path(&root)?;
    match link_of(&root) {
        Ok(Some(_)) => {}
        Ok(None) => return None,
        Err(err) => {
            report(client, statuses, &root, failed(&uri, err.to_string())).await;
            return None;
        }
    }
    let previous = statuses.lock().expect("statuses lock").get(&root).cloned();
    let syncing = SyncStatus {
        state: SyncState::Syncing,
        message: None,
        ..previous.unwrap_or_else(|| failed(&uri, String::new()))
    };
    report(client, statuses, &root, syncing).await;
    let token = ProgressToken::String(format!("scry-sync-{}-{}", std::process::id(), ws.name()));
    let progress = match client.create_work_done_progress(token.clone()).await {
        Ok(()) => Some(
            client
                .progress(token, format!("Syncing {}", ws.name()))
                .begin()
                .await,
        ),
        Err(_) => None,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        sync_workspace(
            ws.root(),
            |since| ws.snapshot_since(since),
            &SyncOptions::default(),
            &mut |_| {},
        )
        .map_err(failure)
    })
    .await
    .unwrap_or_else(|e| Err(Failure::Failed(format!("the sync stopped: {e}"), None)));
    let (status, retry) = match outcome {
        Ok(synced) => (
            SyncStatus {
                root: uri,
                state: SyncState::Synced,
                generation: Some(synced.pushed.generation),
                objects_uploaded: synced.pushed.objects_uploaded,
                bytes_uploaded: synced.pushed.bytes_uploaded,
                message: None,
            },
            None,
        ),
        Err(Failure::Offline(message)) => (
            SyncStatus {
                state: SyncState::Offline,
                ..failed(&uri, message)
            },
            Some(schedule::OFFLINE_RETRY),
        ),
        Err(Failure::Failed(message, retry)) => (failed(&uri, message), retry),
    };
    if let Some(progress) = progress {
        let done = match status.state {
            SyncState::Synced => format!("generation {}", status.generation.unwrap_or(0)),
            _ => status.message.clone().unwrap_or_default(),
        };
        progress.finish_with_message(done).await;
    }
    if status.state == SyncState::Failed {
        tracing::warn!(root = %root.display(), "sync failed: {}", status.message.as_deref().unwrap_or(""));
    }
    report(client, statuses, &root, status).await;
    retry
}

enum Failure {
    Offline(String),
    /// With when to try again, when waiting can fix it without a change here.
    Failed(String, Option<Duration>),
}

fn failure(e: SyncError) -> Failure {
    let retry = schedule::retry_after(&e);
    match &e {
        SyncError::Service(c) if c.kind() == ErrorKind::Offline => {
            Failure::Offline(format!("{c:#}"))
        }
        _ => Failure::Failed(e.to_string(), retry),
    }
}

fn failed(uri: &Uri, message: String) -> SyncStatus {
    SyncStatus {
        root: uri.clone(),
        state: SyncState::Failed,
        generation: None,
        objects_uploaded: 0,
        bytes_uploaded: 0,
        message: Some(message),
    }
}

async fn report(client: &Client, statuses: &Statuses, root: &Path, status: SyncStatus) {
    statuses
        .lock()
        .expect("statuses lock")
        .insert(root.to_path_buf(), status.clone());
    client
        .send_notification::<SyncStatusNotification>(status)
        .await;
}
