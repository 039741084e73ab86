//! Team reuse: an update of a linked workspace with no index of its own (a fresh clone, a new
//! worktree, a new laptop) or with many changed files (a branch switch) starts from the
//! generation a teammate or CI synced of its repository: the records of the changed files,
//! fetched and opened with the org's key ([`scry_core::Index::set_reuse`] asks; it takes a
//! file's records only where the local file has the same bytes, and chunks and embeds the
//! rest).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use scry_api::Generation;
use scry_core::snapshot::Snapshot;

use crate::Client;
use crate::sealing::OrgKey;

use super::SyncError;
use super::pull::{Downloaded, pull_generation, root_sketches};
use super::sketch;
use super::state::Link;
use super::workspace::{connect, org_key, ref_name};

/// A generation offered to an update.
#[derive(Debug)]
pub struct Offered {
    pub link: Link,
    /// Whether it is of the workspace's own branch (else the repository's latest sync of
    /// another).
    pub same_branch: bool,
    pub generation: Generation,
    pub snapshot: Snapshot,
    pub downloaded: Downloaded,
    pub elapsed: Duration,
}

/// What the generation of the workspace's linked repository closest to it holds of `files`
/// (the paths and hashes an update changes; only their records are downloaded): the
/// generation of its branch, else the one whose sketch is most like `files` (the latest among
/// equals). `None` when the workspace is not linked or nothing was synced. Reads the
/// credential store: call it off an async runtime's threads.
pub fn offer(
    root: &Path,
    files: &[(String, [u8; 16])],
    progress: &mut dyn FnMut(Downloaded),
) -> Result<Option<Offered>, SyncError> {
    let started = Instant::now();
    let Some(link) = super::workspace::link_of(root)? else {
        return Ok(None);
    };
    let (client, runtime) = connect(root, &link)?;
    let refs = runtime.block_on(client.refs(&link.org, &link.repo))?;
    if refs.is_empty() {
        return Ok(None);
    }
    let key = org_key(&runtime, &client, &link.server, &link.org)?;
    let own = ref_name(&key, root);
    let same_branch = refs.iter().any(|r| r.ref_name == own);
    let remote = (&client, link.org.as_str(), link.repo.as_str());
    let generation = match refs.iter().find(|r| r.ref_name == own) {
        Some(generation) => generation.clone(),
        None => runtime.block_on(closest(remote, files, refs, &key)),
    };
    let wanted: HashMap<&str, &[u8; 16]> = files.iter().map(|(p, h)| (p.as_str(), h)).collect();
    let wanted = |path: &str, hash: &[u8; 16]| wanted.get(path) == Some(&hash);
    let mut downloaded = Downloaded::default();
    let mut on_download = |d| {
        downloaded = d;
        progress(d);
    };
    let pulled = pull_generation(remote, &generation, &key, &wanted, &mut on_download);
    let snapshot = runtime.block_on(pulled)?;
    Ok(Some(Offered {
        link,
        same_branch,
        generation,
        snapshot,
        downloaded,
        elapsed: started.elapsed(),
    }))
}

/// Of `refs` (not empty), the one whose root's sketch is most like `files`, the latest among
/// equals; roots that cannot be opened here (an earlier key's) count as least alike.
async fn closest(
    remote: (&Client, &str, &str),
    files: &[(String, [u8; 16])],
    refs: Vec<Generation>,
    key: &OrgKey,
) -> Generation {
    if refs.len() == 1 {
        return refs.into_iter().next().expect("one ref");
    }
    let here = sketch::of(
        files
            .iter()
            .map(|(path, hash)| sketch::value(key, path, hash)),
    );
    let sketches = root_sketches(remote, &refs, key).await;
    let alike = |s: &Option<Vec<u64>>| s.as_ref().map_or(-1.0, |s| sketch::similarity(&here, s));
    refs.into_iter()
        .zip(&sketches)
        .max_by(|(a, sa), (b, sb)| {
            alike(sa)
                .total_cmp(&alike(sb))
                .then(a.committed_at.cmp(&b.committed_at))
        })
        .map(|(generation, _)| generation)
        .expect("refs is not empty")
}

/// [`offer`] for a live index's updates ([`scry_core::live::Workspace::start_reusing`]).
pub fn live_offer(root: &Path) -> scry_core::live::Offer {
    let root = root.to_path_buf();
    Box::new(move |files| match offer(&root, files, &mut |_| {}) {
        Ok(offered) => Ok(offered.map(|o| o.snapshot)),
        Err(err) => Err(err.to_string()),
    })
}
