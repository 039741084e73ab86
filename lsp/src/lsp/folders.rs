//! Opening and closing workspace folders, in the order the client named them, off the threads
//! that answer messages: opening a folder touches its disk (the path made canonical, the
//! repository and config read), which a stalled mount can hold for minutes, and no other
//! request may wait for that.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use scry_core::live::{self, Event, Workspace};
use tokio::sync::mpsc::UnboundedSender;
use tower_lsp_server::ls_types::Uri;

use super::protocol::Settings;

type Workspaces = Arc<RwLock<Vec<Arc<Workspace>>>>;

enum Change {
    Open(PathBuf),
    Close(PathBuf),
}

#[derive(Clone)]
pub(super) struct Folders {
    changes: UnboundedSender<Change>,
    opening: Arc<Opening>,
}

/// Folders named but not open yet, with when each was named.
#[derive(Default)]
struct Opening {
    folders: Mutex<Vec<(PathBuf, Instant)>>,
    changed: Condvar,
}

impl Folders {
    /// Applies changes one at a time. A folder that opens gets the editor's open documents in
    /// it (`documents`): they may have been sent before it was there to take them.
    pub fn start(
        workspaces: Workspaces,
        documents: Arc<Mutex<HashMap<Uri, String>>>,
        settings: Arc<Mutex<Settings>>,
        events: UnboundedSender<Event>,
    ) -> Folders {
        let (changes, mut queue) = tokio::sync::mpsc::unbounded_channel();
        let opening = Arc::new(Opening::default());
        let folders = Folders { changes, opening };
        let this = folders.clone();
        tokio::spawn(async move {
            while let Some(change) = queue.recv().await {
                let (workspaces, documents, settings, events, this) = (
                    workspaces.clone(),
                    documents.clone(),
                    settings.clone(),
                    events.clone(),
                    this.clone(),
                );
                let _ = tokio::task::spawn_blocking(move || match change {
                    Change::Open(path) => {
                        let shared = Shared {
                            workspaces: &workspaces,
                            documents: &documents,
                            settings: &settings,
                            events: &events,
                        };
                        shared.open(&path);
                        this.opened(&path);
                    }
                    Change::Close(path) => close(&workspaces, &path),
                })
                .await;
            }
        });
        folders
    }

    pub fn open(&self, path: PathBuf) {
        let mut opening = self.opening.folders.lock().expect("opening lock");
        opening.push((path.clone(), Instant::now()));
        let _ = self.changes.send(Change::Open(path));
    }

    pub fn close(&self, path: PathBuf) {
        let _ = self.changes.send(Change::Close(path));
    }

    /// Waits (up to `timeout`) until every folder named so far is open or failed to.
    pub fn wait_opened(&self, timeout: Duration) {
        let opening = self.opening.folders.lock().expect("opening lock");
        let _ = (self.opening.changed)
            .wait_timeout_while(opening, timeout, |o| !o.is_empty())
            .expect("opening lock");
    }

    /// The status of each folder still opening; after [`live::DISK_PATIENCE`] it says that
    /// the folder's disk is not answering.
    pub fn statuses(&self) -> Vec<live::Status> {
        let opening = self.opening.folders.lock().expect("opening lock");
        (opening.iter())
            .map(|(path, since)| live::Status {
                message: (since.elapsed() >= live::DISK_PATIENCE)
                    .then(|| live::disk_stall_message(path)),
                ..live::Status::opening(path)
            })
            .collect()
    }

    fn opened(&self, path: &Path) {
        let mut opening = self.opening.folders.lock().expect("opening lock");
        if let Some(at) = opening.iter().position(|(p, _)| p == path) {
            opening.remove(at);
        }
        self.opening.changed.notify_all();
    }
}

/// What opening a folder reads and changes of the server's state.
struct Shared<'a> {
    workspaces: &'a Workspaces,
    documents: &'a Mutex<HashMap<Uri, String>>,
    settings: &'a Mutex<Settings>,
    events: &'a UnboundedSender<Event>,
}

impl Shared<'_> {
    fn open(&self, path: &Path) {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let open = self.workspaces.read().expect("workspaces lock");
        if open.iter().any(|w| w.root() == canonical) {
            return;
        }
        drop(open);
        let on_event = {
            let events = self.events.clone();
            move |event| {
                let _ = events.send(event);
            }
        };
        let settings = self.live_settings();
        // A first index of a linked workspace starts from the org's synced index.
        let offer = scry_client::sync::reuse::live_offer(&canonical);
        match Workspace::start_reusing(path, settings.clone(), Some(offer), on_event) {
            Ok(ws) => {
                tracing::info!(root = %ws.root().display(), "workspace opened");
                // Under the documents' lock, so that a change sent meanwhile is not lost: it
                // either finds the workspace or is among the texts given to it here.
                let documents = self.documents.lock().expect("documents lock");
                for (uri, text) in documents.iter() {
                    if let Some(rel) = uri.to_file_path().and_then(|p| ws.relative(&p)) {
                        ws.set_buffer(rel, Some(text.clone()));
                    }
                }
                let ws = Arc::new(ws);
                self.workspaces
                    .write()
                    .expect("workspaces lock")
                    .push(ws.clone());
                // Settings that changed while it opened reached the folders open then.
                let now = self.live_settings();
                if now != settings {
                    ws.set_settings(now);
                }
            }
            Err(err) => {
                let _ = (self.events).send(Event::Warning(format!("Scry cannot open {err:#}")));
            }
        }
    }

    fn live_settings(&self) -> live::Settings {
        self.settings.lock().expect("settings lock").live()
    }
}

fn close(workspaces: &Workspaces, path: &Path) {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    // Dropping the folder's handle stops its worker.
    let mut workspaces = workspaces.write().expect("workspaces lock");
    workspaces.retain(|w| w.root() != canonical && w.root() != path);
}
