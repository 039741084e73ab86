//! An update of a linked workspace that fills its empty index or changes many files (a branch
//! switch) starts from the org's synced index of its repository (see
//! `scry_client::sync::reuse`), and says what it spared.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use scry_client::display::bytes;
use scry_client::sync::reuse::{self, Offered};
use scry_core::snapshot::Snapshot;
use scry_core::{Index, UpdateStats};

use super::output::shown;

/// What the offer fetched, once the update asked.
pub type Taken = Arc<Mutex<Option<Offered>>>;

/// Lets `index`'s updates ask the org's index when the workspace is linked; a failure warns
/// and the update makes every record itself.
pub fn arm(index: &mut Index) -> anyhow::Result<Taken> {
    let taken = Taken::default();
    let root = index.root().to_path_buf();
    if scry_client::sync::workspace::link_of(&root)?.is_none() {
        return Ok(taken);
    }
    let kept = taken.clone();
    index.set_reuse(Some(Box::new(move |files| {
        match reuse::offer(&root, files, &mut |_| {}) {
            Ok(Some(mut offered)) => {
                let nothing = Snapshot {
                    model: None,
                    files: Vec::new(),
                };
                let snapshot = std::mem::replace(&mut offered.snapshot, nothing);
                *kept.lock().expect("reuse lock") = Some(offered);
                Some(snapshot)
            }
            Ok(None) => None,
            Err(e) => {
                eprintln!(
                    "warning: cannot start from the org's index ({}); indexing every file here",
                    shown(&e.to_string())
                );
                None
            }
        }
    })));
    Ok(taken)
}

pub fn report(taken: &Taken, stats: &UpdateStats, err: &mut impl Write) -> io::Result<()> {
    let Some(offered) = taken.lock().expect("reuse lock").take() else {
        return Ok(());
    };
    let branch = match offered.same_branch {
        true => "this branch",
        false => "another branch",
    };
    writeln!(
        err,
        "reused {} chunks of generation {} of {} ({branch}; {} fetched in {:.1}s); {} chunks \
         embedded here",
        stats.chunks_reused,
        offered.generation.generation,
        shown(&offered.link.repo_name),
        bytes(offered.downloaded.bytes),
        offered.elapsed.as_secs_f64(),
        stats.vectors_embedded,
    )
}
