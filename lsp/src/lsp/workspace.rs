//! One workspace folder: its index, kept current by a worker thread (the only writer of this
//! process), and the live searcher that requests read.
//!
//! The worker takes jobs in order: disk changes from the watcher, editor buffers, settings.
//! It coalesces what arrives within a few milliseconds (an editor's save through a temporary
//! file, a branch switch's thousands of writes), updates the index, and applies the changes to
//! the searcher under a write lock held only for in-memory moves. Requests never wait for
//! indexing: they read the searcher as of the last applied commit.
//!
//! Indexing runs on a pool of its own whose threads sit ten nice levels below the server's
//! (at most 19): searches use rayon's global pool, so a large update neither queues them behind
//! its batches nor takes the cores they need.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{EventKind, RecursiveMode, Watcher};
use scry_core::walk::{ChangeFilter, Excludes, IGNORE_FILES};
use scry_core::{Changes, Embedder, Index, Progress, Searcher, default_db_path};
use tokio::sync::{mpsc::UnboundedSender, watch};
use tower_lsp_server::ls_types::Uri;

use super::protocol::{IndexState, Settings, WorkspaceStatus};
use crate::model::ModelChoice;

/// Quiet time that ends a burst of jobs.
const QUIET: Duration = Duration::from_millis(8);
/// A burst that never goes quiet is still handled this often.
const MAX_BURST: Duration = Duration::from_millis(250);
/// An update of this many files (a branch switch, a first index) leaves the allocator holding
/// what its batches freed.
const LARGE_UPDATE_FILES: u64 = 1000;
/// Updates that change fewer files than this show no progress.
const PROGRESS_MIN_FILES: u64 = 64;
/// Bursts that change at most this many files are searchable before they are committed.
const PREVIEW_MAX_FILES: usize = 32;

pub enum Job {
    /// Files changed on disk (none named: the watcher lost track, or a rescan was asked for);
    /// the walk finds out what changed.
    Disk(Vec<PathBuf>),
    /// An editor's text for a file (`None`: the buffer closed, the file on disk counts again).
    Buffer {
        path: String,
        text: Option<String>,
    },
    Settings(Settings),
    Stop,
}

/// What the worker tells the client, in order.
pub enum Event {
    Status(WorkspaceStatus),
    ProgressBegin {
        token: String,
        title: String,
    },
    ProgressReport {
        token: String,
        message: String,
        percentage: u32,
    },
    ProgressEnd {
        token: String,
        message: String,
    },
    Warning(String),
}

pub struct Workspace {
    pub root: PathBuf,
    searcher: Arc<RwLock<Option<Searcher>>>,
    /// Whether opening is over: a searcher is loaded, or the index failed.
    settled: watch::Receiver<bool>,
    status: Arc<Mutex<WorkspaceStatus>>,
    jobs: Sender<Job>,
}

impl Workspace {
    /// Starts the worker of the folder at `root`; it opens the index, brings it up to date,
    /// and watches the folder.
    pub fn start(
        root: &Path,
        settings: Settings,
        events: UnboundedSender<Event>,
    ) -> Result<Arc<Workspace>> {
        let root = root
            .canonicalize()
            .with_context(|| format!("workspace folder {}", root.display()))?;
        let uri =
            Uri::from_file_path(&root).with_context(|| format!("no URI for {}", root.display()))?;
        let db_path = default_db_path(&root);
        let status = WorkspaceStatus {
            root: uri.clone(),
            state: IndexState::Opening,
            index: db_path.display().to_string(),
            files: 0,
            chunks: 0,
            vectors: 0,
            model: None,
            buffers: 0,
            message: None,
        };
        let (jobs, rx) = std::sync::mpsc::channel();
        let (settled_tx, settled) = watch::channel(false);
        let ws = Arc::new(Workspace {
            root: root.clone(),
            searcher: Arc::new(RwLock::new(None)),
            settled,
            status: Arc::new(Mutex::new(status)),
            jobs: jobs.clone(),
        });
        let mut worker = Worker {
            root,
            db_path,
            settings,
            index: None,
            embedder: None,
            searcher: ws.searcher.clone(),
            status: ws.status.clone(),
            events,
            jobs,
            watcher: None,
            filter: None,
            settled: settled_tx,
            progress_serial: 0,
        };
        std::thread::Builder::new()
            .name(format!("scry-index-{}", ws.name()))
            .spawn(move || worker.run(rx))
            .context("cannot start the indexing thread")?;
        Ok(ws)
    }

    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map_or("/".into(), |n| n.to_string_lossy().into_owned())
    }

    pub fn send(&self, job: Job) {
        // The worker only goes away after `Stop`; a job sent later has nothing left to do.
        let _ = self.jobs.send(job);
    }

    pub fn status(&self) -> WorkspaceStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// The workspace path of `path` when it lies in this folder.
    pub fn relative(&self, path: &Path) -> Option<String> {
        scry_core::walk::workspace_path(&self.root, path)
    }

    /// Waits (up to `timeout`) until a searcher is loaded or the index failed; `false` if
    /// neither happened in time.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let mut settled = self.settled.clone();
        tokio::time::timeout(timeout, settled.wait_for(|&l| l))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Runs `f` on the searcher, if it is loaded.
    pub fn with_searcher<T>(&self, f: impl FnOnce(&Searcher) -> T) -> Option<T> {
        let guard = self.searcher.read().expect("searcher lock");
        guard.as_ref().map(f)
    }
}

struct Worker {
    root: PathBuf,
    db_path: PathBuf,
    settings: Settings,
    index: Option<Index>,
    embedder: Option<Arc<dyn Embedder>>,
    searcher: Arc<RwLock<Option<Searcher>>>,
    status: Arc<Mutex<WorkspaceStatus>>,
    events: UnboundedSender<Event>,
    jobs: Sender<Job>,
    watcher: Option<notify::RecommendedWatcher>,
    filter: Option<Arc<RwLock<ChangeFilter>>>,
    settled: watch::Sender<bool>,
    progress_serial: u64,
}

/// What one burst of jobs asks for.
#[derive(Default)]
struct Burst {
    disk: bool,
    /// A job named no files: only the walk knows what changed.
    rescan: bool,
    /// The files the watcher named.
    changed: HashSet<PathBuf>,
    buffers: HashMap<String, Option<String>>,
    settings: Option<Settings>,
    stop: bool,
}

impl Burst {
    fn absorb(&mut self, job: Job) {
        match job {
            Job::Disk(paths) => {
                self.disk = true;
                self.rescan |= paths.is_empty();
                self.changed.extend(paths);
            }
            Job::Buffer { path, text } => {
                self.buffers.insert(path, text);
            }
            Job::Settings(s) => self.settings = Some(s),
            Job::Stop => self.stop = true,
        }
    }
}

impl Worker {
    fn run(&mut self, rx: Receiver<Job>) {
        if let Err(err) = self.open() {
            self.fail(&err);
        }
        while let Ok(first) = rx.recv() {
            let mut burst = Burst::default();
            burst.absorb(first);
            let started = Instant::now();
            while !burst.stop && started.elapsed() < MAX_BURST {
                match rx.recv_timeout(QUIET) {
                    Ok(job) => burst.absorb(job),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            if burst.stop {
                break;
            }
            if let Err(err) = self.handle(burst) {
                self.fail(&err);
            }
        }
        tracing::debug!(root = %self.root.display(), "indexing thread stopped");
    }

    /// Opens the index and model, loads a searcher over what the index already holds (so
    /// searches answer at once), starts watching, then brings the index up to date.
    fn open(&mut self) -> Result<()> {
        self.load_model()?;
        let mut index = Index::open(&self.root, &self.db_path).map_err(anyhow::Error::from)?;
        if let Some(note) = index.open_note() {
            let _ = self.events.send(Event::Warning(note));
        }
        index.set_excludes(self.excludes()?);
        // A first index is searched once built: a searcher holding the empty snapshot would
        // keep the file from being compacted after it.
        let first = index.status()?.files == 0;
        self.index = Some(index);
        if !first {
            self.load_searcher()?;
        }
        self.watch();
        self.update(None)?;
        if first {
            self.load_searcher()?;
            give_back_freed_memory();
        }
        self.publish_status(IndexState::Ready, None);
        Ok(())
    }

    fn load_searcher(&mut self) -> Result<()> {
        let searcher = self
            .index
            .as_ref()
            .expect("open")
            .searcher(self.embedder.clone())?;
        *self.searcher.write().expect("searcher lock") = Some(searcher);
        let _ = self.settled.send(true);
        Ok(())
    }

    /// Takes new settings, checking the model and excludes before anything changes.
    fn apply_settings(&mut self, settings: Settings) -> Result<()> {
        let excludes = Excludes::new(&settings.exclude).map_err(anyhow::Error::msg)?;
        let model_changed = settings.model != self.settings.model;
        let embedder = match model_changed {
            true => Some(choose_model(&settings, &self.root)?),
            false => None,
        };
        self.settings = settings;
        if let Some(filter) = &self.filter {
            *filter.write().expect("filter lock") = ChangeFilter::new(&self.root, &excludes);
        }
        if let Some(embedder) = embedder {
            self.embedder = embedder;
            // A searcher of the new model (lexical until the index holds its vectors); open
            // buffers are embedded anew.
            let fresh = self
                .index
                .as_ref()
                .expect("open")
                .searcher(self.embedder.clone())?;
            let mut guard = self.searcher.write().expect("searcher lock");
            match guard.as_mut() {
                Some(searcher) => searcher.apply(Changes::reload(fresh))?,
                None => *guard = Some(fresh),
            }
        }
        self.index.as_mut().expect("open").set_excludes(excludes);
        Ok(())
    }

    fn load_model(&mut self) -> Result<()> {
        self.embedder = choose_model(&self.settings, &self.root)?;
        Ok(())
    }

    fn excludes(&self) -> Result<Excludes> {
        Excludes::new(&self.settings.exclude).map_err(anyhow::Error::msg)
    }

    fn handle(&mut self, burst: Burst) -> Result<()> {
        if self.index.is_none() {
            // Opening failed earlier: a burst (a settings change, a file fixed) retries it.
            if let Some(settings) = &burst.settings {
                self.settings = settings.clone();
            }
            self.open()?;
        }
        let mut disk = burst.disk;
        let mut disk_from_settings = false;
        if let Some(settings) = burst.settings.filter(|s| *s != self.settings) {
            match self.apply_settings(settings) {
                Ok(()) => {
                    disk = true;
                    disk_from_settings = true;
                }
                // A bad setting leaves the working index as it was: say so, go on.
                Err(err) => {
                    let _ = self.events.send(Event::Warning(format!(
                        "Scry keeps its previous settings for {}: {err:#}",
                        self.root.display()
                    )));
                }
            }
        }
        if disk {
            let previews = if burst.rescan || burst.changed.len() > PREVIEW_MAX_FILES {
                Vec::new()
            } else {
                self.preview(&burst.changed)?
            };
            // The watcher's paths alone, unless only a walk can tell what changed (a rescan,
            // new settings or ignore rules).
            let scoped = !burst.rescan
                && !disk_from_settings
                && !burst.changed.iter().any(|p| is_ignore_file(p));
            let updated = self.update(scoped.then(|| burst.changed.iter().cloned().collect()));
            // Previews go whether the update succeeded or not: the index is what counts.
            let mut guard = self.searcher.write().expect("searcher lock");
            if let Some(searcher) = guard.as_mut() {
                for path in previews {
                    searcher.drop_buffer(&path)?;
                }
            }
            drop(guard);
            updated?;
            let ignore_files_changed = burst.changed.iter().any(|p| is_ignore_file(p));
            if let Some(filter) = self
                .filter
                .as_ref()
                .filter(|_| ignore_files_changed || burst.rescan)
            {
                *filter.write().expect("filter lock") =
                    ChangeFilter::new(&self.root, &self.excludes()?);
            }
        }
        for (path, text) in burst.buffers {
            self.buffer(&path, text)?;
        }
        self.publish_status(IndexState::Ready, None);
        Ok(())
    }

    /// Brings the index up to date: at `paths` only when given, else everywhere.
    fn update(&mut self, paths: Option<Vec<PathBuf>>) -> Result<()> {
        self.publish_status(IndexState::Indexing, None);
        self.progress_serial += 1;
        let token = format!("scry-index-{}-{}", std::process::id(), self.progress_serial);
        let events = self.events.clone();
        let title = format!(
            "Indexing {}",
            self.root
                .file_name()
                .map_or("workspace".into(), |n| n.to_string_lossy())
        );
        let mut begun = false;
        let mut last_report = Instant::now();
        let mut on_progress = |p: Progress| {
            let (done, total, what) = match p {
                Progress::Walked { .. } => return,
                Progress::Indexed { done, total } => (done, total, "files"),
                Progress::Embedded { done, total } => (done, total, "chunks embedded"),
            };
            if total < PROGRESS_MIN_FILES {
                return;
            }
            if !begun {
                begun = true;
                let _ = events.send(Event::ProgressBegin {
                    token: token.clone(),
                    title: title.clone(),
                });
            }
            if done == total || last_report.elapsed() > Duration::from_millis(100) {
                last_report = Instant::now();
                let _ = events.send(Event::ProgressReport {
                    token: token.clone(),
                    message: format!("{done}/{total} {what}"),
                    percentage: (done * 100 / total.max(1)) as u32,
                });
            }
        };
        let index = self.index.as_mut().expect("open");
        let embedder = self.embedder.as_deref();
        let result = in_background(|| match &paths {
            Some(paths) => index.update_paths(paths, embedder, &mut on_progress),
            None => index.update(embedder, &mut on_progress),
        });
        let begun_progress = begun;
        let stats = match result {
            Ok(stats) => stats,
            Err(err) => {
                if begun_progress {
                    let _ = self.events.send(Event::ProgressEnd {
                        token,
                        message: "failed".into(),
                    });
                }
                return Err(err.into());
            }
        };
        let index = self.index.as_ref().expect("open");
        let changes = {
            let guard = self.searcher.read().expect("searcher lock");
            match guard.as_ref() {
                Some(searcher) => Some(index.changes(searcher)?),
                None => None,
            }
        };
        if let Some(changes) = changes.filter(|c| !c.is_empty()) {
            let mut guard = self.searcher.write().expect("searcher lock");
            if let Some(searcher) = guard.as_mut() {
                searcher.apply(changes)?;
            }
        }
        if begun_progress {
            let _ = self.events.send(Event::ProgressEnd {
                token,
                message: format!(
                    "{} files indexed, {} removed in {:.1} s",
                    stats.files_indexed,
                    stats.files_deleted,
                    stats.elapsed.as_secs_f32()
                ),
            });
        }
        if let Some(note) = &stats.all_ignored {
            let _ = self.events.send(Event::Warning(format!("Scry: {note}")));
        }
        if !stats.errors.is_empty() {
            tracing::warn!(errors = ?stats.errors, "some files could not be indexed");
        }
        if stats.files_indexed + stats.files_deleted > 0 {
            tracing::info!(
                indexed = stats.files_indexed,
                deleted = stats.files_deleted,
                ms = stats.elapsed.as_millis() as u64,
                "index updated"
            );
        }
        if stats.files_indexed + stats.files_deleted >= LARGE_UPDATE_FILES {
            give_back_freed_memory();
        }
        Ok(())
    }

    /// Makes a few changed files searchable before the update commits them (a commit writes
    /// and syncs pages all over the index: tens of milliseconds): each gets its text on disk
    /// as a buffer, dropped once the commit is applied. Files with an editor's buffer keep
    /// it; new files wait for the commit.
    fn preview(&self, changed: &HashSet<PathBuf>) -> Result<Vec<String>> {
        let mut previews = Vec::new();
        for abs in changed {
            let Some(path) = scry_core::walk::workspace_path(&self.root, abs) else {
                continue;
            };
            let text = match std::fs::read_to_string(abs) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(_) => continue,
            };
            let prepared = {
                let guard = self.searcher.read().expect("searcher lock");
                let Some(searcher) = guard.as_ref() else {
                    return Ok(previews);
                };
                if searcher.buffer_paths().any(|p| p == path) {
                    continue;
                }
                searcher.prepare_buffer(&path, text)?
            };
            if let Some(buffer) = prepared {
                let mut guard = self.searcher.write().expect("searcher lock");
                if let Some(searcher) = guard.as_mut() {
                    searcher.put_buffer(buffer);
                    previews.push(path);
                }
            }
        }
        Ok(previews)
    }

    /// Puts an editor's text over its file, or takes it away when the buffer closed or
    /// matches the file on disk again (saved, or edits undone).
    fn buffer(&self, path: &str, text: Option<String>) -> Result<()> {
        let text = text
            .filter(|t| std::fs::read(self.root.join(path)).ok().as_deref() != Some(t.as_bytes()));
        let prepared = match text {
            None => None,
            Some(text) => {
                let guard = self.searcher.read().expect("searcher lock");
                match guard.as_ref() {
                    Some(searcher) => searcher.prepare_buffer(path, text)?,
                    None => return Ok(()),
                }
            }
        };
        let mut guard = self.searcher.write().expect("searcher lock");
        let Some(searcher) = guard.as_mut() else {
            return Ok(());
        };
        match prepared {
            Some(buffer) => searcher.put_buffer(buffer),
            None => searcher.drop_buffer(path)?,
        }
        Ok(())
    }

    /// Watches the folder; relevant changes become `Job::Disk`. Without a watcher (a system
    /// limit), the index still follows saves made in the editor and `scry.reindex`.
    fn watch(&mut self) {
        let excludes = self.excludes().unwrap_or_default();
        let filter = Arc::new(RwLock::new(ChangeFilter::new(&self.root, &excludes)));
        let jobs = self.jobs.clone();
        let index_dir = self.db_path.parent().map(Path::to_path_buf);
        let events_filter = filter.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            let paths = match res {
                Ok(event) if event.need_rescan() => Vec::new(),
                Ok(event) => {
                    let kind_matters = matches!(
                        event.kind,
                        EventKind::Create(_)
                            | EventKind::Remove(_)
                            | EventKind::Any
                            | EventKind::Other
                            | EventKind::Modify(
                                notify::event::ModifyKind::Data(_)
                                    | notify::event::ModifyKind::Name(_)
                                    | notify::event::ModifyKind::Any
                            )
                    );
                    let filter = events_filter.read().expect("filter lock");
                    let paths: Vec<PathBuf> = event
                        .paths
                        .into_iter()
                        .filter(|p| {
                            kind_matters
                                && !index_dir.as_ref().is_some_and(|d| p.starts_with(d))
                                && filter.is_relevant(p)
                        })
                        .collect();
                    if paths.is_empty() {
                        return;
                    }
                    paths
                }
                // An error (e.g. the queue overflowed): rescan to be sure.
                Err(_) => Vec::new(),
            };
            let _ = jobs.send(Job::Disk(paths));
        };
        match notify::recommended_watcher(handler)
            .and_then(|mut w| w.watch(&self.root, RecursiveMode::Recursive).map(|()| w))
        {
            Ok(watcher) => {
                self.watcher = Some(watcher);
                self.filter = Some(filter);
            }
            Err(err) => {
                let _ = self.events.send(Event::Warning(format!(
                    "Scry cannot watch {} ({err}); changes made outside the editor show after `scry.reindex`",
                    self.root.display()
                )));
            }
        }
    }

    fn fail(&self, err: &anyhow::Error) {
        let message = format!("Scry cannot index {}: {err:#}", self.root.display());
        tracing::error!("{message}");
        // The state first: an editor that asks for it on seeing the warning reads `failed`.
        self.publish_status(IndexState::Failed, Some(message.clone()));
        let _ = self.settled.send(true);
        let _ = self.events.send(Event::Warning(message));
    }

    fn publish_status(&self, state: IndexState, message: Option<String>) {
        let mut status = self.status.lock().expect("status lock").clone();
        status.state = state;
        status.message = message;
        if let Some(index) = &self.index
            && let Ok(s) = index.status()
        {
            status.files = s.files;
            status.chunks = s.chunks;
            status.vectors = s.vectors;
            status.model = s.model;
        }
        status.buffers = self
            .searcher
            .read()
            .expect("searcher lock")
            .as_ref()
            .map_or(0, |s| s.buffer_paths().count());
        let mut current = self.status.lock().expect("status lock");
        if *current != status {
            *current = status.clone();
            drop(current);
            let _ = self.events.send(Event::Status(status));
        }
    }
}

/// The model `settings` name (relative paths from the workspace), else the configured one.
fn choose_model(settings: &Settings, root: &Path) -> Result<Option<Arc<dyn Embedder>>> {
    let choice = match &settings.model {
        Some(model) => ModelChoice::named(model, root)?,
        None => ModelChoice::configured(root)?,
    };
    Ok(choice.shared())
}

fn is_ignore_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| IGNORE_FILES.contains(&n.to_str().unwrap_or("")))
}

/// Returns to the system the memory a large update freed, at once rather than when the
/// allocator next gets round to it: an editor's server would otherwise sit on memory it no
/// longer uses after indexing a large tree.
fn give_back_freed_memory() {
    // SAFETY: mi_collect only releases free pages of mimalloc's own heaps.
    let collect = || unsafe { libmimalloc_sys::mi_collect(true) };
    // Each thread's heap holds what that thread freed: the indexing threads' most of all.
    if let Some(pool) = indexing_pool() {
        pool.broadcast(|_| collect());
    }
    rayon::broadcast(|_| collect());
    collect();
}

/// Runs `f` (an index update) on the indexing pool, so every rayon task it starts runs there
/// too; on rayon's global pool if that pool could not be made.
fn in_background<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match indexing_pool() {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// One pool for every workspace of the process, as many threads as cores, each at a lower
/// priority (threads it starts, like the batch reader, inherit it).
fn indexing_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        // Threads inherit their maker's priority: rayon's global pool, where searches run,
        // must exist before any indexing thread could be the one to make it.
        rayon::broadcast(|_| ());
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("scry-indexing-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|err| tracing::warn!("indexing shares the search threads: {err}"))
            .ok()
    })
    .as_ref()
}

/// Lowers the calling thread's scheduling priority; a failure only leaves it where it was.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        /// How many nice levels below the server indexing runs: relative, so a server that was
        /// started niced is never raised above its own requests (as root could do).
        const INDEXING_NICENESS: i32 = 10;
        // SAFETY: getpriority and setpriority only read and change scheduling; on Linux
        // `who = 0` with PRIO_PROCESS names the calling thread alone, not the whole process
        // (and a new thread starts at its maker's value).
        let failed = unsafe {
            let current = libc::getpriority(libc::PRIO_PROCESS, 0);
            libc::setpriority(libc::PRIO_PROCESS, 0, (current + INDEXING_NICENESS).min(19)) != 0
        };
        if failed {
            tracing::debug!(
                "indexing keeps its priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The calling thread's nice value (the 19th field of its stat line).
    fn niceness() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("thread stat");
        let (_, fields) = stat.rsplit_once(')').expect("stat line");
        fields
            .split_whitespace()
            .nth(16)
            .expect("nice field")
            .parse()
            .expect("a number")
    }

    #[test]
    fn indexing_runs_below_the_threads_that_answer_requests() {
        let requests = niceness();
        let below = (requests + 10).min(19);
        let (update, helpers) =
            super::in_background(|| (niceness(), rayon::broadcast(|_| niceness())));
        assert_eq!(
            update, below,
            "an update ran at nice {update}, requests at {requests}"
        );
        assert!(
            helpers.iter().all(|&n| n == below),
            "its helpers: {helpers:?}"
        );
        // Searches run on rayon's global pool and on the caller's threads: untouched.
        assert_eq!(niceness(), requests);
        assert!(
            rayon::broadcast(|_| niceness())
                .iter()
                .all(|&n| n == requests)
        );
    }
}
