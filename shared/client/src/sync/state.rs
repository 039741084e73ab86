//! What a workspace keeps about its sync, in its index directory: the link to a repository
//! (`sync.json`; no link, no sync), the ledger of what left the machine (`sync-log.jsonl`,
//! one line per sync that sent or committed anything), and the last sync's tree
//! (`sync-tree.bin`, ids only: what lets the next sync plan only what changed).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Kept, SyncError};

/// Which repository of which organisation on which service a workspace syncs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub server: String,
    pub org: String,
    pub repo: String,
    pub repo_name: String,
}

/// One sync, as the ledger records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Unix seconds.
    pub at: i64,
    pub server: String,
    pub org: String,
    pub repo: String,
    /// The branch, as named locally (the service sees a keyed hash).
    pub line: String,
    pub generation: i64,
    pub objects_uploaded: usize,
    pub bytes_uploaded: u64,
    pub chunks: usize,
    pub files: usize,
    pub excluded: usize,
}

const LINK: &str = "sync.json";
const LEDGER: &str = "sync-log.jsonl";
const KEPT: &str = "sync-tree.bin";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SyncError + '_ {
    move |source| SyncError::Io {
        path: path.into(),
        source,
    }
}

/// The workspace's link, if sync is enabled.
pub fn link(index_dir: &Path) -> Result<Option<Link>, SyncError> {
    let path = index_dir.join(LINK);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SyncError::Damaged {
                path,
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Enables sync to `link` (replacing an earlier link).
pub fn save_link(index_dir: &Path, link: &Link) -> Result<PathBuf, SyncError> {
    let path = index_dir.join(LINK);
    let temporary = index_dir.join("sync.json.tmp");
    let bytes = serde_json::to_vec_pretty(link).expect("a link serialises");
    std::fs::create_dir_all(index_dir).map_err(io(index_dir))?;
    std::fs::write(&temporary, bytes).map_err(io(&temporary))?;
    std::fs::rename(&temporary, &path).map_err(io(&path))?;
    Ok(path)
}

/// The last sync's tree; `None` when there is none, or it is unreadable (the next sync plans
/// everything, as the first did).
pub fn kept(index_dir: &Path) -> Option<Kept> {
    let bytes = std::fs::read(index_dir.join(KEPT)).ok()?;
    postcard::from_bytes(&bytes).ok()
}

/// Keeps `kept` as the last sync's tree, replacing the earlier one at once.
pub fn save_kept(index_dir: &Path, kept: &Kept) -> Result<(), SyncError> {
    let path = index_dir.join(KEPT);
    let temporary = index_dir.join("sync-tree.bin.tmp");
    let bytes = postcard::to_allocvec(kept).expect("ids serialise");
    std::fs::write(&temporary, bytes).map_err(io(&temporary))?;
    std::fs::rename(&temporary, &path).map_err(io(&path))
}

/// Disables sync; whether it was enabled. The ledger stays.
pub fn remove_link(index_dir: &Path) -> Result<bool, SyncError> {
    let _ = std::fs::remove_file(index_dir.join(KEPT));
    let path = index_dir.join(LINK);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Appends one entry to the ledger, durably.
pub fn record(index_dir: &Path, entry: &LedgerEntry) -> Result<(), SyncError> {
    let path = index_dir.join(LEDGER);
    let mut line = serde_json::to_vec(entry).expect("an entry serialises");
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    file.write_all(&line).map_err(io(&path))?;
    file.sync_data().map_err(io(&path))
}

/// The ledger, oldest first; a line a crash cut short is skipped.
pub fn ledger(index_dir: &Path) -> Result<Vec<LedgerEntry>, SyncError> {
    let path = index_dir.join(LEDGER);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(&path)(e)),
    }
}
