//! What the app holds while it runs: the account service it talks to, and the live index of
//! each local workspace the person added (the list is kept in the config directory, so the
//! app reopens them at start).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use scry_core::live;

use crate::error::{CommandError, CommandResult};
use crate::settings::{self, Settings};

/// Sends an event to the page: its name and payload.
pub type Emit = dyn Fn(&str, serde_json::Value) + Send + Sync;

pub struct AppState {
    /// `SCRY_SERVER`, which overrides the settings' server.
    chosen_server: Option<String>,
    settings: Mutex<Settings>,
    workspaces: Mutex<BTreeMap<PathBuf, Arc<live::Workspace>>>,
    syncing: Syncing,
    cues: Cues,
    /// Taken once, by the background syncer.
    cue_receiver: Mutex<Option<UnboundedReceiver<Cue>>>,
    /// Where the list of workspaces is kept.
    list: Option<PathBuf>,
    /// Set once the app is built (commands and workers send events through it).
    emit: OnceLock<std::sync::Arc<Emit>>,
    /// Org-wide search's mirror, kept between searches.
    pub org: scry_client::sync::org::KeptMirror,
}

impl AppState {
    /// This user's settings and workspace list; the server is `SCRY_SERVER`, else the
    /// settings', else the config files' (as the CLI resolves it).
    pub fn load() -> CommandResult<AppState> {
        let chosen = std::env::var("SCRY_SERVER").ok().filter(|s| !s.is_empty());
        let settings = settings::path()
            .map(|p| Settings::load(&p))
            .unwrap_or_default();
        let (cue_sender, cue_receiver) = tokio::sync::mpsc::unbounded_channel();
        let state = AppState {
            chosen_server: chosen,
            settings: Mutex::new(settings),
            workspaces: Mutex::new(BTreeMap::new()),
            syncing: Syncing::default(),
            cues: Cues(cue_sender),
            cue_receiver: Mutex::new(Some(cue_receiver)),
            list: dirs::config_dir().map(|d| d.join("scry").join("desktop-workspaces.json")),
            emit: OnceLock::new(),
            org: Default::default(),
        };
        state.server()?;
        Ok(state)
    }

    /// The account service the app talks to now.
    pub fn server(&self) -> CommandResult<String> {
        let from_settings =
            Some(self.settings().server.trim().to_string()).filter(|s| !s.is_empty());
        let home = dirs::home_dir().unwrap_or_else(|| PathBuf::from("/"));
        Ok(scry_client::configured_server(
            self.chosen_server.clone().or(from_settings),
            &home,
        )?)
    }

    pub fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_emitter(&self, emit: std::sync::Arc<Emit>) {
        let _ = self.emit.set(emit);
    }

    /// Where events go: the page, or nowhere before the app is built.
    pub fn emitter(&self) -> std::sync::Arc<Emit> {
        self.emit
            .get()
            .cloned()
            .unwrap_or_else(|| std::sync::Arc::new(|_: &str, _| {}))
    }

    /// The folders added before, in the order kept; a damaged list is kept aside as
    /// `.damaged` (the next save would overwrite it) and none are reopened.
    pub fn kept_roots(&self) -> Vec<PathBuf> {
        let Some(path) = &self.list else {
            return Vec::new();
        };
        let Ok(bytes) = std::fs::read(path) else {
            return Vec::new();
        };
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "{} is damaged ({e}); kept aside, no workspace reopened",
                path.display()
            );
            let _ = std::fs::rename(path, path.with_extension("json.damaged"));
            Vec::new()
        })
    }

    /// Writes the list of open workspaces (atomically: a crash keeps the old list).
    pub fn save_roots(&self) -> CommandResult<()> {
        let Some(path) = &self.list else {
            return Ok(());
        };
        let roots: Vec<PathBuf> = self.workspaces().keys().cloned().collect();
        let io = |e: std::io::Error| {
            CommandError::new(
                "io",
                format!("cannot keep the workspace list in {}: {e}", path.display()),
            )
        };
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
        let temp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&roots).expect("paths serialise");
        std::fs::write(&temp, bytes).map_err(io)?;
        std::fs::rename(&temp, path).map_err(io)
    }

    pub fn workspaces(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, Arc<live::Workspace>>> {
        // A panic elsewhere while holding the lock leaves the map whole: keep using it.
        self.workspaces.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The open workspace at `root`; `not_found` when it is not open.
    pub fn workspace(&self, root: &Path) -> CommandResult<Arc<live::Workspace>> {
        self.workspaces().get(root).cloned().ok_or_else(|| {
            CommandError::new(
                "not_found",
                format!("{} is not open: add it first", root.display()),
            )
        })
    }

    /// Where workspaces tell the background syncer they changed.
    pub fn cues(&self) -> Cues {
        self.cues.clone()
    }

    /// What the background syncer hears (once: `None` after).
    pub fn take_cue_receiver(&self) -> UnboundedReceiver<Cue> {
        self.cue_receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| tokio::sync::mpsc::unbounded_channel().1)
    }

    /// The workspaces being synced now.
    pub fn syncing(&self) -> Syncing {
        self.syncing.clone()
    }
}

/// What the background syncer hears.
#[derive(Debug)]
pub enum Cue {
    /// The workspace's index is ready with a change.
    Changed(PathBuf),
    /// A sync failed in a way waiting fixes: try again after this long.
    Retry(PathBuf, Duration),
}

#[derive(Clone)]
pub struct Cues(UnboundedSender<Cue>);

impl Cues {
    pub fn changed(&self, root: PathBuf) {
        let _ = self.0.send(Cue::Changed(root));
    }

    pub fn retry(&self, root: PathBuf, after: Duration) {
        let _ = self.0.send(Cue::Retry(root, after));
    }
}

/// The roots whose sync runs now (one at a time per workspace).
#[derive(Clone, Default)]
pub struct Syncing(Arc<Mutex<BTreeSet<PathBuf>>>);

impl Syncing {
    /// Marks `root` as syncing; false when it already was.
    pub fn start(&self, root: &Path) -> bool {
        self.roots().insert(root.to_path_buf())
    }

    pub fn end(&self, root: &Path) {
        self.roots().remove(root);
    }

    pub fn contains(&self, root: &Path) -> bool {
        self.roots().contains(root)
    }

    fn roots(&self) -> std::sync::MutexGuard<'_, BTreeSet<PathBuf>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
