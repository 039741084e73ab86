//! The folder's watcher: relevant file-system events become [`Job::Disk`].

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};

use notify::{EventKind, RecursiveMode, Watcher};

use super::Job;
use crate::walk::ChangeFilter;

/// A running watcher and the filter it applies (replaced when ignore rules change).
pub(super) struct Watch {
    _watcher: notify::RecommendedWatcher,
    pub filter: Arc<RwLock<ChangeFilter>>,
}

/// Watches `root` recursively; events under `index_dir` (the index's own writes) and paths the
/// filter rejects are dropped. An event the watcher could not follow asks for a rescan.
pub(super) fn watch(
    root: &Path,
    index_dir: Option<PathBuf>,
    filter: ChangeFilter,
    jobs: Sender<Job>,
) -> notify::Result<Watch> {
    let filter = Arc::new(RwLock::new(filter));
    let events_filter = filter.clone();
    let handler = move |res: notify::Result<notify::Event>| {
        let paths = match res {
            Ok(event) if event.need_rescan() => Vec::new(),
            Ok(event) => {
                if !kind_matters(&event.kind) {
                    return;
                }
                let filter = events_filter.read().expect("filter lock");
                let paths: Vec<PathBuf> = event
                    .paths
                    .into_iter()
                    .filter(|p| {
                        !index_dir.as_ref().is_some_and(|d| p.starts_with(d))
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
    let mut watcher = notify::recommended_watcher(handler)?;
    watcher.watch(root, RecursiveMode::Recursive)?;
    Ok(Watch {
        _watcher: watcher,
        filter,
    })
}

/// Events that can change what a file holds (reads and metadata changes cannot).
fn kind_matters(kind: &EventKind) -> bool {
    use notify::event::ModifyKind;
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Any
            | EventKind::Other
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
    )
}
