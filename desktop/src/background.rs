//! Background sync of the open workspaces that are linked, on `scry_client::sync::schedule`'s
//! timing (as the language server does): a workspace whose index is ready with a change is
//! synced once it has been quiet; a failure that waiting fixes is tried again. Paused by the
//! settings; `Sync now` works regardless.

use std::path::Path;

use scry_client::sync::schedule::{self, Due};
use scry_client::sync::workspace::link_of;
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::commands::sync::start;
use crate::state::{AppState, Cue};

pub async fn run<R: Runtime>(app: AppHandle<R>, mut cues: UnboundedReceiver<Cue>) {
    let mut due = Due::default();
    loop {
        tokio::select! {
            cue = cues.recv() => match cue {
                Some(Cue::Changed(root)) => due.changed(root),
                Some(Cue::Retry(root, after)) => due.retry(root, after),
                None => return,
            },
            () = schedule::until(due.next()) => {
                let state = app.state::<AppState>();
                for root in due.ready() {
                    if state.syncing().contains(&root) {
                        // What changed during that sync goes in the next one.
                        due.retry(root, schedule::quiet());
                    } else {
                        sync(&state, &root);
                    }
                }
            }
        }
    }
}

/// Starts a sync of the workspace at `root` if it is open, linked, and sync is not paused.
fn sync(state: &AppState, root: &Path) {
    if state.settings().pause_sync || !matches!(link_of(root), Ok(Some(_))) {
        return;
    }
    let Ok(workspace) = state.workspace(root) else {
        return;
    };
    if let Err(e) = start(state, workspace) {
        tracing::warn!("cannot sync {}: {}", root.display(), e.message);
    }
}
