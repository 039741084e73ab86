//! The worker thread behind a [`super::Workspace`]: the only writer of its index.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::watcher::{self, Watch};
use super::{Event, Job, Settings, Settled, Sink, State, Status, pool};
use crate::disk_wait::DiskWait;
use crate::model::ModelChoice;
use crate::walk::{ChangeFilter, Excludes, IGNORE_FILES};
use crate::{Changes, Embedder, Error, Index, Progress, Result, Searcher};

/// Quiet time that ends a burst of jobs.
const QUIET: Duration = Duration::from_millis(8);
/// How soon an index the disk refused, or a folder that went away, is tried again without a
/// change to prompt it.
const RETRY: Duration = Duration::from_secs(30);
/// How often an idle worker checks that its index file is still there (deleted to free space,
/// it would otherwise stay open and growing until the process ends).
const FILE_CHECK: Duration = Duration::from_secs(30);
/// A burst that never goes quiet is still handled this often.
const MAX_BURST: Duration = Duration::from_millis(250);
/// An update of this many files (a branch switch, a first index) leaves the allocator holding
/// what its batches freed: it is given back at once.
const LARGE_UPDATE_FILES: u64 = 1000;
/// Smaller updates (saves, a few files at a time) free memory too, in every thread's heap, and
/// a server that runs for days would keep it: what they freed is given back this often.
const GIVE_BACK_EVERY: Duration = Duration::from_secs(60);
/// Updates that change fewer files than this show no progress.
const PROGRESS_MIN_FILES: u64 = 64;
/// Progress reports no more often than this.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Bursts that change at most this many files are searchable before they are committed.
const PREVIEW_MAX_FILES: usize = 32;

/// What the worker shares with its handle.
pub(super) struct Shared {
    pub root: PathBuf,
    pub db_path: PathBuf,
    pub settings: Settings,
    pub searcher: Arc<RwLock<Option<Searcher>>>,
    pub status: Arc<Mutex<Status>>,
    pub settled: Arc<Settled>,
    pub events: Sink,
    /// For the watcher, which turns events into jobs.
    pub jobs: Sender<Job>,
    /// Given to the index when it opens (see `Index::set_reuse`).
    pub offer: Mutex<Option<super::Offer>>,
    /// Where calls to the workspace's disk are marked, for the watchdog.
    pub disk: DiskWait,
}

pub(super) struct Worker {
    shared: Shared,
    index: Option<Index>,
    embedder: Option<Arc<dyn Embedder>>,
    watch: Option<Watch>,
    /// The warning last shown for a failure, so that retries of the same failure stay quiet.
    warned: Option<String>,
    /// The index file as opened: another file at its path (or none) means it was deleted.
    opened: Option<FileId>,
    /// An index closed to be opened again, kept until a searcher of the new one replaces the
    /// searcher reading it: a closed database fails every read.
    retired: Option<Index>,
    /// When freed memory was last given back, and whether updates freed more since.
    given_back: Instant,
    updated_since: bool,
}

/// A file's identity: device and inode where there are such things.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

impl FileId {
    fn of(path: &Path) -> Option<FileId> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(FileId(meta.dev(), meta.ino()))
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            Some(FileId(0, 0))
        }
    }
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
    snapshots: Vec<(Option<u64>, super::SnapshotReply)>,
    settles: Vec<Sender<()>>,
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
            Job::Snapshot(since, reply) => self.snapshots.push((since, reply)),
            Job::Settle(reply) => self.settles.push(reply),
            Job::Stop => self.stop = true,
        }
    }

    /// Whether the watcher's paths alone tell what changed: not after a rescan, new settings
    /// or new ignore rules, which only a walk can apply.
    fn scoped(&self, settings_changed: bool) -> bool {
        !self.rescan && !settings_changed && !self.ignore_rules_changed()
    }

    fn ignore_rules_changed(&self) -> bool {
        self.changed.iter().any(|p| is_ignore_file(p))
    }
}

impl Worker {
    pub fn new(shared: Shared) -> Worker {
        Worker {
            shared,
            index: None,
            embedder: None,
            watch: None,
            warned: None,
            opened: None,
            retired: None,
            given_back: Instant::now(),
            updated_since: false,
        }
    }

    pub fn run(mut self, rx: Receiver<Job>) {
        let mut retry = None;
        if let Err(err) = self.open() {
            retry = self.fail(&err);
        }
        loop {
            // An index the disk refused (full, read-only) is tried again now and then: the
            // cause may go away without a file changing.
            let first = match retry {
                None => match rx.recv_timeout(FILE_CHECK) {
                    Ok(job) => Ok(job),
                    // Handling a rescan finds the file or the folder gone and says so.
                    Err(RecvTimeoutError::Timeout)
                        if self.index_file_gone() || !self.root_is_there() =>
                    {
                        Ok(Job::Disk(Vec::new()))
                    }
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => Err(()),
                },
                Some(after) => match rx.recv_timeout(after) {
                    Ok(job) => Ok(job),
                    Err(RecvTimeoutError::Timeout) => Ok(Job::Disk(Vec::new())),
                    Err(RecvTimeoutError::Disconnected) => Err(()),
                },
            };
            let Ok(first) = first else { break };
            retry = None;
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
            let snapshots = std::mem::take(&mut burst.snapshots);
            let settles = std::mem::take(&mut burst.settles);
            match self.handle(burst) {
                Ok(()) => self.warned = None,
                Err(err) => retry = self.fail(&err),
            }
            for reply in settles {
                let _ = reply.send(());
            }
            for (since, reply) in snapshots {
                let snapshot = match &self.index {
                    Some(index) => index.snapshot_since(since),
                    None => Err(crate::Error::Storage(format!(
                        "the index of {} could not be opened",
                        self.shared.root.display()
                    ))),
                };
                let _ = reply.send(snapshot);
            }
        }
        tracing::debug!(root = %self.shared.root.display(), "indexing thread stopped");
    }

    fn emit(&self, event: Event) {
        (self.shared.events)(event);
    }

    fn index(&self) -> &Index {
        self.index.as_ref().expect("the index is open")
    }

    /// Opens the index and model, loads a searcher over what the index already holds (so
    /// searches answer at once), starts watching, then brings the index up to date.
    fn open(&mut self) -> Result<()> {
        let (mut index, excludes) = {
            let _waiting = self.shared.disk.begin();
            self.embedder = choose_model(&self.shared.settings, &self.shared.root)?;
            (
                Index::open(&self.shared.root, &self.shared.db_path)?,
                self.excludes()?,
            )
        };
        self.opened = FileId::of(&self.shared.db_path);
        if let Some(note) = index.open_note() {
            self.emit(Event::Warning(note));
        }
        index.set_excludes(excludes);
        index.set_disk_wait(self.shared.disk.clone());
        let offer = self.shared.offer.lock().expect("offer lock").take();
        index.set_reuse(offer.map(|offer| announced(offer, self.shared.events.clone())));
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
            pool::give_back_freed_memory();
        }
        self.publish_status(State::Ready, None);
        Ok(())
    }

    fn load_searcher(&mut self) -> Result<()> {
        let searcher = self.index().searcher(self.embedder.clone())?;
        *self.shared.searcher.write().expect("searcher lock") = Some(searcher);
        self.retired = None;
        self.shared.settled.set();
        Ok(())
    }

    /// Takes new settings, checking the model and excludes before anything changes.
    fn apply_settings(&mut self, settings: Settings) -> Result<()> {
        let excludes = Excludes::new(&settings.exclude).map_err(Error::Config)?;
        let embedder = match settings.model != self.shared.settings.model {
            true => Some(choose_model(&settings, &self.shared.root)?),
            false => None,
        };
        self.shared.settings = settings;
        if let Some(watch) = &self.watch {
            *watch.filter.write().expect("filter lock") =
                ChangeFilter::new(&self.shared.root, &excludes);
        }
        if let Some(embedder) = embedder {
            self.embedder = embedder;
            // A searcher of the new model (lexical until the index holds its vectors); open
            // buffers are embedded anew.
            let fresh = self.index().searcher(self.embedder.clone())?;
            let mut guard = self.shared.searcher.write().expect("searcher lock");
            match guard.as_mut() {
                Some(searcher) => searcher.apply(Changes::reload(fresh))?,
                None => *guard = Some(fresh),
            }
        }
        self.index.as_mut().expect("open").set_excludes(excludes);
        Ok(())
    }

    fn excludes(&self) -> Result<Excludes> {
        Excludes::new(&self.shared.settings.exclude).map_err(Error::Config)
    }

    /// Closes the index so that the next job opens it afresh.
    fn retire(&mut self) {
        if let Some(index) = self.index.take() {
            self.retired = Some(index);
        }
    }

    /// Whether the folder is still a directory (a call to its disk, so the watchdog hears of it
    /// when that disk does not answer).
    fn root_is_there(&self) -> bool {
        let _waiting = self.shared.disk.begin();
        self.shared.root.is_dir()
    }

    /// Whether the open index's file is no longer at its path.
    fn index_file_gone(&self) -> bool {
        self.index.is_some() && FileId::of(&self.shared.db_path) != self.opened
    }

    fn handle(&mut self, burst: Burst) -> Result<()> {
        if self.index_file_gone() {
            self.emit(Event::Warning(format!(
                "The index of {} was deleted; Scry indexes the folder again",
                self.shared.root.display()
            )));
            // The searcher answers from the old file until the new one is ready.
            self.retire();
        }
        if self.index.is_none() {
            if !self.root_is_there() {
                return Err(Error::NoWorkspace(self.shared.root.clone()));
            }
            // Opening failed earlier: a burst (a settings change, a file fixed) retries it.
            if let Some(settings) = &burst.settings {
                self.shared.settings = settings.clone();
            }
            self.open()?;
        }
        let mut disk = burst.disk;
        let mut settings_changed = false;
        if let Some(settings) = burst
            .settings
            .clone()
            .filter(|s| *s != self.shared.settings)
        {
            match self.apply_settings(settings) {
                Ok(()) => {
                    disk = true;
                    settings_changed = true;
                }
                // A bad setting leaves the working index as it was: say so, go on.
                Err(err) => self.emit(Event::Warning(format!(
                    "Scry keeps its previous settings for {}: {err}",
                    self.shared.root.display()
                ))),
            }
        }
        if disk {
            self.apply_disk_changes(&burst, settings_changed)?;
        }
        for (path, text) in burst.buffers {
            self.buffer(&path, text)?;
        }
        self.publish_status(State::Ready, None);
        Ok(())
    }

    fn apply_disk_changes(&mut self, burst: &Burst, settings_changed: bool) -> Result<()> {
        let previews = if burst.rescan || burst.changed.len() > PREVIEW_MAX_FILES {
            Vec::new()
        } else {
            self.preview(&burst.changed)?
        };
        let scoped = burst.scoped(settings_changed);
        let changed = scoped.then(|| burst.changed.iter().cloned().collect());
        let updated = self.update(changed);
        // Previews go whether the update succeeded or not: the index is what counts.
        let mut guard = self.shared.searcher.write().expect("searcher lock");
        if let Some(searcher) = guard.as_mut() {
            for path in previews {
                searcher.drop_buffer(&path)?;
            }
        }
        drop(guard);
        updated?;
        if let Some(watch) = self
            .watch
            .as_ref()
            .filter(|_| burst.ignore_rules_changed() || burst.rescan)
        {
            *watch.filter.write().expect("filter lock") =
                ChangeFilter::new(&self.shared.root, &self.excludes()?);
        }
        Ok(())
    }

    /// Brings the index up to date: at `paths` only when given, else everywhere.
    fn update(&mut self, paths: Option<Vec<PathBuf>>) -> Result<()> {
        self.publish_status(State::Indexing, None);
        static PROGRESS_IDS: AtomicU64 = AtomicU64::new(1);
        let id = PROGRESS_IDS.fetch_add(1, Ordering::Relaxed);
        let title = format!(
            "Indexing {}",
            self.shared
                .root
                .file_name()
                .map_or("workspace".into(), |n| n.to_string_lossy())
        );
        let events = &self.shared.events;
        let mut begun = false;
        let mut last_report = Instant::now();
        let mut on_progress = |p: Progress| {
            let (done, total, what) = match p {
                Progress::Walked { .. } | Progress::Offering { .. } => return,
                Progress::Indexed { done, total } => (done, total, "files"),
                Progress::Embedded { done, total } => (done, total, "chunks embedded"),
            };
            if total < PROGRESS_MIN_FILES {
                return;
            }
            if !begun {
                begun = true;
                events(Event::ProgressBegin {
                    id,
                    title: title.clone(),
                });
            }
            if done == total || last_report.elapsed() > PROGRESS_EVERY {
                last_report = Instant::now();
                events(Event::ProgressReport {
                    id,
                    done,
                    total,
                    what,
                });
            }
        };
        let index = self.index.as_mut().expect("open");
        let embedder = self.embedder.as_deref();
        let result = pool::in_background(|| match &paths {
            Some(paths) => index.update_paths(paths, embedder, &mut on_progress),
            None => index.update(embedder, &mut on_progress),
        });
        let progress_shown = begun;
        let end = |message: String| {
            if progress_shown {
                events(Event::ProgressEnd { id, message });
            }
        };
        let stats = match result {
            Ok(stats) => stats,
            Err(err) => {
                end("failed".into());
                return Err(err);
            }
        };
        self.apply_to_searcher()?;
        let reused = match stats.chunks_reused {
            0 => String::new(),
            n => format!(" ({n} chunks from the org's index)"),
        };
        end(format!(
            "{} files indexed{reused}, {} removed in {:.1} s",
            stats.files_indexed,
            stats.files_deleted,
            stats.elapsed.as_secs_f32()
        ));
        if let Some(note) = &stats.all_ignored {
            self.emit(Event::Warning(format!("Scry: {note}")));
        }
        if !stats.errors.is_empty() {
            tracing::warn!(errors = ?stats.errors, "some files could not be indexed");
        }
        let touched = stats.files_indexed + stats.files_deleted;
        if touched > 0 {
            tracing::info!(
                indexed = stats.files_indexed,
                deleted = stats.files_deleted,
                ms = stats.elapsed.as_millis() as u64,
                "index updated"
            );
        }
        self.updated_since |= touched > 0;
        if touched >= LARGE_UPDATE_FILES
            || (self.updated_since && self.given_back.elapsed() >= GIVE_BACK_EVERY)
        {
            pool::give_back_freed_memory();
            (self.given_back, self.updated_since) = (Instant::now(), false);
        }
        Ok(())
    }

    /// Moves what the last commit changed into the searcher.
    fn apply_to_searcher(&self) -> Result<()> {
        let changes = {
            let guard = self.shared.searcher.read().expect("searcher lock");
            match guard.as_ref() {
                Some(searcher) => self.index().changes(searcher)?,
                None => return Ok(()),
            }
        };
        if !changes.is_empty() {
            let mut guard = self.shared.searcher.write().expect("searcher lock");
            if let Some(searcher) = guard.as_mut() {
                searcher.apply(changes)?;
            }
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
            let Some(path) = crate::walk::workspace_path(&self.shared.root, abs) else {
                continue;
            };
            let read = {
                let _waiting = self.shared.disk.begin();
                std::fs::read_to_string(abs)
            };
            let text = match read {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(_) => continue,
            };
            let prepared = {
                let guard = self.shared.searcher.read().expect("searcher lock");
                let Some(searcher) = guard.as_ref() else {
                    return Ok(previews);
                };
                if searcher.buffer_paths().any(|p| p == path) {
                    continue;
                }
                searcher.prepare_buffer(&path, text)?
            };
            if let Some(buffer) = prepared {
                let mut guard = self.shared.searcher.write().expect("searcher lock");
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
        let on_disk = |t: &String| {
            std::fs::read(self.shared.root.join(path)).ok().as_deref() != Some(t.as_bytes())
        };
        let prepared = match text.filter(on_disk) {
            None => None,
            Some(text) => {
                let guard = self.shared.searcher.read().expect("searcher lock");
                match guard.as_ref() {
                    Some(searcher) => searcher.prepare_buffer(path, text)?,
                    None => return Ok(()),
                }
            }
        };
        let mut guard = self.shared.searcher.write().expect("searcher lock");
        let Some(searcher) = guard.as_mut() else {
            return Ok(());
        };
        match prepared {
            Some(buffer) => searcher.put_buffer(buffer),
            None => searcher.drop_buffer(path)?,
        }
        Ok(())
    }

    /// Watches the folder. Without a watcher (a system limit), the index still follows what
    /// the owner reports ([`super::Workspace::files_changed`], [`super::Workspace::rescan`]).
    fn watch(&mut self) {
        let excludes = self.excludes().unwrap_or_default();
        let root = &self.shared.root;
        let index_dir = self.shared.db_path.parent().map(Path::to_path_buf);
        let filter = ChangeFilter::new(root, &excludes);
        match watcher::watch(root, index_dir, filter, self.shared.jobs.clone()) {
            Ok(watch) => self.watch = Some(watch),
            Err(err) => self.emit(Event::Warning(format!(
                "Scry cannot watch {} ({err}); it sees only the changes it is told of (in an editor: saves, and `scry.reindex`)",
                root.display()
            ))),
        }
    }

    /// Reports `err`; returns when to try again by itself, for a storage failure. redb
    /// refuses every write after a failed one until the file is opened again, so the index is
    /// closed: the next job (or the retry) opens it afresh.
    fn fail(&mut self, err: &Error) -> Option<Duration> {
        let message = format!("Scry cannot index {}: {err}", self.shared.root.display());
        tracing::error!("{message}");
        // The state first: a client that asks for it on seeing the warning reads `failed`.
        self.publish_status(State::Failed, Some(message.clone()));
        self.shared.settled.set();
        if self.warned.as_ref() != Some(&message) {
            self.warned = Some(message.clone());
            self.emit(Event::Warning(message));
        }
        match err {
            Error::Unwritable(_) | Error::Storage(_) => {
                self.retire();
                Some(RETRY)
            }
            // A folder moved away or on a mount that went: looked for again, and indexed and
            // watched afresh once it is back (a watch does not outlive its folder).
            Error::NoWorkspace(_) => {
                self.retire();
                self.watch = None;
                Some(RETRY)
            }
            _ => None,
        }
    }

    fn publish_status(&self, state: State, message: Option<String>) {
        let mut status = self.shared.status.lock().expect("status lock").clone();
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
            .shared
            .searcher
            .read()
            .expect("searcher lock")
            .as_ref()
            .map_or(0, |s| s.buffer_paths().count());
        let mut current = self.shared.status.lock().expect("status lock");
        if *current != status {
            *current = status.clone();
            drop(current);
            self.emit(Event::Status(status));
        }
    }
}

/// The model `settings` name (relative paths from the workspace), else the configured one.
/// `offer` for an index's updates, each fetch announced as progress and a failure as a warning.
fn announced(mut offer: super::Offer, events: Sink) -> crate::Reuse {
    Box::new(move |files| {
        static FETCH_IDS: AtomicU64 = AtomicU64::new(1 << 62);
        let id = FETCH_IDS.fetch_add(1, Ordering::Relaxed);
        events(Event::ProgressBegin {
            id,
            title: "Fetching the org's index".into(),
        });
        let (offered, message) = match offer(files) {
            Ok(Some(s)) => {
                let message = format!("{} files to start from", s.files.len());
                (Some(s), message)
            }
            Ok(None) => (None, "none synced yet".into()),
            Err(err) => {
                events(Event::Warning(format!(
                    "Scry cannot start from the org's index ({err}); indexing every file here"
                )));
                (None, "failed".into())
            }
        };
        events(Event::ProgressEnd { id, message });
        offered
    })
}

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
