//! A live index: one workspace folder's index kept current while the folder and its open
//! buffers change, and the searcher that reads it. Every shell builds on it: the language
//! server maps editor messages onto a [`Workspace`] and its [`Event`]s onto the protocol,
//! `scry watch` prints them, the desktop app shows them.
//!
//! A worker thread (the only writer of the index in this process) takes jobs in order: disk
//! changes from the watcher, editor buffers, settings. It coalesces what arrives within a few
//! milliseconds (an editor's save through a temporary file, a branch switch's thousands of
//! writes), updates the index on a pool below the process's priority, and applies the changes
//! to the searcher under a write lock held only for in-memory moves. Searches never wait for
//! indexing: they read the searcher as of the last applied commit, plus the open buffers.

mod pool;
#[cfg(unix)]
mod socket;
mod watchdog;
mod watcher;
mod worker;

pub use watchdog::{DISK_PATIENCE, disk_stall_message};

#[cfg(unix)]
pub use socket::{Ask, Question, ask};

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::disk_wait::DiskWait;
use crate::snapshot::Snapshot;
use crate::{Error, Result, Searcher, default_db_path};

/// What the user chose for a workspace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `builtin`, `none`, or a model directory or file (relative to the workspace); `None`:
    /// the configured model (see [`crate::model`]).
    pub model: Option<String>,
    /// Globs (gitignore syntax) kept out of the index.
    pub exclude: Vec<String>,
}

/// Where a workspace's index stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    /// Opening the index and loading the model.
    Opening,
    /// Bringing the index up to date; searches answer from the last committed state.
    Indexing,
    /// Up to date with the disk and the open buffers.
    Ready,
    /// The index cannot be used; `message` says why and what to do.
    Failed,
}

/// A workspace's index as of its last change of state or counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub root: PathBuf,
    pub state: State,
    /// The index file.
    pub index: PathBuf,
    pub files: u64,
    pub chunks: u64,
    pub vectors: u64,
    /// The model whose vectors the index holds (`None`: lexical search only).
    pub model: Option<String>,
    /// Open buffers whose unsaved text is searched instead of their file.
    pub buffers: usize,
    pub message: Option<String>,
}

impl Status {
    /// A folder's status before its index is open.
    pub fn opening(root: &Path) -> Status {
        Status {
            root: root.to_path_buf(),
            state: State::Opening,
            index: default_db_path(root),
            files: 0,
            chunks: 0,
            vectors: 0,
            model: None,
            buffers: 0,
            message: None,
        }
    }
}

/// What a workspace reports, in order. Progress ids are unique in the process.
#[derive(Clone, Debug)]
pub enum Event {
    /// The state or the counts changed.
    Status(Status),
    /// A long update began (short ones report nothing).
    ProgressBegin {
        id: u64,
        title: String,
    },
    /// At most ten a second, and one when a stage completes.
    ProgressReport {
        id: u64,
        done: u64,
        total: u64,
        /// What is counted: `files` or `chunks embedded`.
        what: &'static str,
    },
    ProgressEnd {
        id: u64,
        message: String,
    },
    /// Something the user should hear about: a setting kept back, a folder that cannot be
    /// watched, a failed index.
    Warning(String),
}

type Sink = Arc<dyn Fn(Event) + Send + Sync>;

/// Fetches what another copy of the workspace synced of the files an update changes (a first
/// index, a branch switch; see [`crate::Index::set_reuse`]): `Ok(None)` when there is none,
/// `Err` what to warn about (the update then makes every record itself).
pub type Offer = Box<
    dyn FnMut(&[(String, [u8; 16])]) -> std::result::Result<Option<Snapshot>, String> + Send + Sync,
>;

type SnapshotReply = std::sync::mpsc::Sender<Result<crate::snapshot::SnapshotDelta>>;

enum Job {
    /// Files changed on disk (none named: the watcher lost track, or a rescan was asked for);
    /// the walk finds out what changed.
    Disk(Vec<PathBuf>),
    /// An editor's text for a file (`None`: the buffer closed, the file on disk counts again).
    Buffer {
        path: String,
        text: Option<String>,
    },
    Settings(Settings),
    /// What changed in the index since a change mark (everything, without one) once the jobs
    /// before it are applied.
    Snapshot(Option<u64>, SnapshotReply),
    /// Answered once the jobs before it are applied: a one-shot question's freshness.
    Settle(Sender<()>),
    Stop,
}

/// Set once opening is over: a searcher is loaded, or the index failed.
#[derive(Default)]
struct Settled {
    done: Mutex<bool>,
    changed: Condvar,
}

impl Settled {
    fn set(&self) {
        *self.done.lock().expect("settled lock") = true;
        self.changed.notify_all();
    }
}

/// The handle on one workspace's live index. Dropping it stops the worker (an update in
/// flight is one transaction: nothing is lost).
pub struct Workspace {
    root: PathBuf,
    searcher: Arc<RwLock<Option<Searcher>>>,
    settled: Arc<Settled>,
    status: Arc<Mutex<Status>>,
    jobs: Sender<Job>,
    /// Where one-shot commands ask this live index instead of loading the index.
    #[cfg(unix)]
    _socket: Option<socket::Server>,
    /// Stops the watchdog (see [`watchdog`]) when dropped.
    _watchdog: Sender<()>,
}

impl Workspace {
    /// Starts the worker of the folder at `root`: it opens the index (in the default place),
    /// loads a searcher over what it holds, watches the folder and brings the index up to
    /// date. `on_event` hears about it from the worker's thread.
    pub fn start(
        root: &Path,
        settings: Settings,
        on_event: impl Fn(Event) + Send + Sync + 'static,
    ) -> Result<Workspace> {
        Workspace::start_reusing(root, settings, None, on_event)
    }

    /// [`Workspace::start`]; updates that fill the empty index or change many files (a branch
    /// switch) start from what `offer` fetches.
    pub fn start_reusing(
        root: &Path,
        settings: Settings,
        offer: Option<Offer>,
        on_event: impl Fn(Event) + Send + Sync + 'static,
    ) -> Result<Workspace> {
        if !root.is_dir() {
            return Err(Error::NoWorkspace(root.to_path_buf()));
        }
        let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
        let db_path = default_db_path(&root);
        let status = Status::opening(&root);
        let (jobs, rx) = std::sync::mpsc::channel();
        let searcher = Arc::new(RwLock::new(None));
        let status = Arc::new(Mutex::new(status));
        #[cfg(unix)]
        let _socket = socket::Server::start(
            &db_path,
            socket::Served {
                searcher: searcher.clone(),
                status: status.clone(),
                jobs: jobs.clone(),
            },
        );
        let (watchdog, stop_watchdog) = std::sync::mpsc::channel();
        let ws = Workspace {
            root: root.clone(),
            searcher,
            settled: Arc::new(Settled::default()),
            status,
            jobs: jobs.clone(),
            #[cfg(unix)]
            _socket,
            _watchdog: watchdog,
        };
        let events: Sink = Arc::new(on_event);
        let disk = DiskWait::default();
        let dog = watchdog::Watchdog {
            root: root.clone(),
            disk: disk.clone(),
            status: ws.status.clone(),
            events: events.clone(),
        };
        std::thread::Builder::new()
            .name(format!("scry-disk-{}", ws.name()))
            .spawn(move || dog.run(stop_watchdog))
            .map_err(|e| Error::io(&ws.root, e))?;
        let worker = worker::Worker::new(worker::Shared {
            root,
            db_path,
            settings,
            searcher: ws.searcher.clone(),
            status: ws.status.clone(),
            settled: ws.settled.clone(),
            events,
            jobs,
            offer: Mutex::new(offer),
            disk,
        });
        std::thread::Builder::new()
            .name(format!("scry-index-{}", ws.name()))
            .spawn(move || worker.run(rx))
            .map_err(|e| Error::io(&ws.root, e))?;
        Ok(ws)
    }

    /// The folder, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder's name, for titles.
    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map_or("/".into(), |n| n.to_string_lossy().into_owned())
    }

    pub fn status(&self) -> Status {
        self.status.lock().expect("status lock").clone()
    }

    /// The workspace path of `path` when it lies in this folder.
    pub fn relative(&self, path: &Path) -> Option<String> {
        crate::walk::workspace_path(&self.root, path)
    }

    /// Waits (up to `timeout`) until a searcher is loaded or the index failed; `false` if
    /// neither happened in time.
    pub fn wait_settled(&self, timeout: Duration) -> bool {
        let done = self.settled.done.lock().expect("settled lock");
        let (done, _) = self
            .settled
            .changed
            .wait_timeout_while(done, timeout, |done| !*done)
            .expect("settled lock");
        *done
    }

    /// Runs `f` on the searcher, if it is loaded.
    pub fn with_searcher<T>(&self, f: impl FnOnce(&Searcher) -> T) -> Option<T> {
        let guard = self.searcher.read().expect("searcher lock");
        guard.as_ref().map(f)
    }

    /// Files changed on disk (absolute paths): what the watcher reports, for a process that
    /// learns of changes some other way (an editor's save).
    pub fn files_changed(&self, paths: Vec<PathBuf>) {
        self.send(Job::Disk(paths));
    }

    /// Walks the whole folder for changes: after a watcher's overflow, or when asked.
    pub fn rescan(&self) {
        self.send(Job::Disk(Vec::new()));
    }

    /// An editor's unsaved text for the file at workspace path `path` is searched instead of
    /// the file; `None` (the buffer closed) makes the file count again.
    pub fn set_buffer(&self, path: String, text: Option<String>) {
        self.send(Job::Buffer { path, text });
    }

    /// New settings: a bad one is reported as a [`Event::Warning`] and the old ones kept.
    pub fn set_settings(&self, settings: Settings) {
        self.send(Job::Settings(settings));
    }

    /// What changed in the index since the change mark `since` (everything, when `None`; see
    /// [`crate::Index::snapshot_since`]) once everything sent before is applied (for sync);
    /// waits while the worker is busy, so call it off the threads that answer requests.
    pub fn snapshot_since(&self, since: Option<u64>) -> Result<crate::snapshot::SnapshotDelta> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.send(Job::Snapshot(since, tx));
        rx.recv().unwrap_or_else(|_| {
            Err(Error::Storage(format!(
                "the index of {} stopped before it could be read",
                self.root.display()
            )))
        })
    }

    fn send(&self, job: Job) {
        // The worker only goes away after `Stop`; a job sent later has nothing left to do.
        let _ = self.jobs.send(job);
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        self.send(Job::Stop);
    }
}
