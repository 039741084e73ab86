//! A first index of a linked workspace that starts from the org's synced index of its
//! repository (see `scry_client::sync::reuse`): fetched with a progress line, and said what
//! it spared.

use std::io::{self, Write};
use std::path::Path;

use scry_client::display::bytes;
use scry_client::sync::reuse::{self, Offered};
use scry_core::UpdateStats;

use super::output::shown;
use super::progress;

/// The generation to start from; `None` (after a warning, when something failed: indexing
/// goes on without it) when there is none.
pub fn offer(root: &Path) -> Option<Offered> {
    let mut bar = progress::Bar::new();
    let offered = reuse::offer(root, &mut |d| bar.download(d));
    bar.finish();
    offered.unwrap_or_else(|e| {
        eprintln!(
            "warning: cannot start from the org's index ({}); indexing every file here",
            shown(&e.to_string())
        );
        None
    })
}

pub fn report(offered: &Offered, stats: &UpdateStats, err: &mut impl Write) -> io::Result<()> {
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
