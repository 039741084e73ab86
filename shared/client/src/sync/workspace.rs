//! One sync of a workspace, as every shell runs it (`scry sync`, the language server in the
//! background, the desktop app): the workspace's link, this device's key for its org and its
//! credentials, the plan of its snapshot on the branch's ref, the push, the ledger entry.

use std::path::{Path, PathBuf};

use scry_core::snapshot::{SnapshotDelta, SnapshotFile};

use super::hosted::{self, Publication};
use super::state::{self, LedgerEntry, Link};
use super::{Kept, Plan, Pushed, Remote, Step, SyncError, hex, keys, push};
use crate::api::{NewRecoveryKey, PageQuery};
use crate::sealing::OrgKey;
use crate::{Client, credentials};

/// What a sync of a workspace did.
#[derive(Debug)]
pub struct Synced {
    pub link: Link,
    /// The branch (the service sees a keyed hash of it).
    pub line: String,
    pub plan: Plan,
    pub pushed: Pushed,
    /// What hosted search got of the code, when the repository serves it from this branch.
    pub hosted: Option<Publication>,
    /// Whether the chunks' text went too (sealed): the org's choice.
    pub snippets: bool,
}

/// Links the workspace at `root` (canonical) to the repository `name` of `org` on `server`
/// (as the credential store names it; `client` talks to it), creating the repository when the
/// org has none of that name (`None`: [`default_repo_name`]). The org's key is settled
/// separately ([`org_key`]), so a link is kept even while the key is pending.
pub async fn link_workspace(
    client: &Client,
    server: &str,
    root: &Path,
    org: &str,
    name: Option<&str>,
) -> Result<Link, SyncError> {
    let name = name.map_or_else(|| default_repo_name(root), String::from);
    let repo = find_or_create_repo(client, org, &name).await?;
    let link = Link {
        server: server.to_string(),
        org: org.to_string(),
        repo,
        repo_name: name,
    };
    state::save_link(&index_dir(root), &link)?;
    Ok(link)
}

/// The id of the repository `name` of `org`, created when there is none.
async fn find_or_create_repo(client: &Client, org: &str, name: &str) -> Result<String, SyncError> {
    let mut page = PageQuery {
        limit: Some(100),
        after: None,
    };
    loop {
        let repos = client.repos(org, &page).await?;
        if let Some(r) = repos.items.iter().find(|r| r.name == name) {
            return Ok(r.id.clone());
        }
        match repos.next {
            Some(next) => page.after = Some(next),
            None => return Ok(client.create_repo(org, name).await?.id),
        }
    }
}

/// A repository name clones of one project agree on: the remote's last path segment, else
/// the folder's name.
pub fn default_repo_name(root: &Path) -> String {
    use scry_core::repo::Project;
    let from_remote = match scry_core::repo::identify(root).map(|c| c.project) {
        Ok(Project::Remote(url)) => url.rsplit('/').next().map(String::from),
        _ => None,
    };
    from_remote
        .filter(|n| !n.is_empty())
        .or_else(|| root.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "workspace".into())
}

/// The directory of `root`'s index, where its sync state lives.
pub fn index_dir(root: &Path) -> PathBuf {
    let db = scry_core::default_db_path(root);
    db.parent()
        .expect("an index file lies in a directory")
        .to_path_buf()
}

/// The workspace's link, if sync is enabled for it.
pub fn link_of(root: &Path) -> Result<Option<Link>, SyncError> {
    state::link(&index_dir(root))
}

/// How a sync runs.
#[derive(Clone, Debug, Default)]
pub struct SyncOptions {
    /// Find out what would be sent; send nothing.
    pub dry_run: bool,
    /// The branch to publish as, instead of the one the workspace is on (CI publishing
    /// `main` from a detached checkout).
    pub line: Option<String>,
}

/// Syncs the workspace at `root` (canonical) to its linked repository, with `SCRY_API_KEY` or
/// the stored sign-in. `snapshot(since)` reads what changed in the index since the last
/// sync's change mark (see [`scry_core::Index::snapshot_since`]): it is called once the org's
/// key is at hand (a sync that must wait for the key reads nothing), and only what changed is
/// planned, unless the account lacks the last sync's tree. Records the sync in the ledger
/// unless it was dry or nothing changed. Reads the credential store: call it off an async
/// runtime's threads.
pub fn sync_workspace(
    root: &Path,
    mut snapshot: impl FnMut(Option<u64>) -> scry_core::Result<SnapshotDelta>,
    options: &SyncOptions,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Synced, SyncError> {
    let dry_run = options.dry_run;
    let index_dir = index_dir(root);
    let link = state::link(&index_dir)?.ok_or_else(|| SyncError::NotEnabled(root.into()))?;
    let (client, runtime) = connect(root, &link)?;
    let loaded = state::kept(&index_dir);
    let since = loaded.as_ref().map(|k| k.mark);
    let mut kept = loaded.unwrap_or_default();
    let line = options.line.clone().unwrap_or_else(|| line_of(root));
    // The org's choice: chunks' text travels (sealed) or not.
    let snippets = runtime.block_on(client.org(&link.org))?.sealed_snippets;
    let mut snapshot = |since| {
        let mut delta = snapshot(since)?;
        if snippets {
            with_texts(root, &mut delta.files);
        }
        Ok::<_, scry_core::Error>(delta)
    };
    let mut attempt = |kept: &mut Kept, progress: &mut (dyn FnMut(Step) + Send)| {
        let key = org_key(&runtime, &client, &link.server, &link.org)?;
        let mut plan = match kept.plan(&snapshot(since)?, &key, snippets) {
            Some(plan) => plan,
            None => complete_plan(kept, &mut snapshot, &key, snippets)?,
        };
        let ref_name = line_ref(&key, &line);
        let remote = Remote {
            client: &client,
            org: &link.org,
            repo: &link.repo,
            ref_name: &ref_name,
        };
        let pushed = match runtime.block_on(push(&remote, &plan, &key, dry_run, progress)) {
            Err(SyncError::PlanIncomplete) if since.is_some() => {
                plan = complete_plan(kept, &mut snapshot, &key, snippets)?;
                runtime.block_on(push(&remote, &plan, &key, dry_run, progress))?
            }
            pushed => pushed?,
        };
        Ok::<_, SyncError>((plan, pushed))
    };
    // A key rotated during the sync: the next attempt takes the new key, and its tree (ids
    // and ref name are keyed) is planned and sealed afresh.
    let (plan, pushed) = match attempt(&mut kept, progress) {
        Err(SyncError::KeyRotated) => attempt(&mut kept, progress)?,
        done => done?,
    };
    if !dry_run {
        state::save_kept(&index_dir, &kept)?;
    }
    let hosted = hosted::publish(&client, &link, &line, root, &plan, dry_run, progress);
    let hosted = runtime.block_on(hosted)?;
    if !dry_run && !pushed.unchanged {
        state::record(
            &index_dir,
            &LedgerEntry {
                at: now(),
                server: link.server.clone(),
                org: link.org.clone(),
                repo: link.repo.clone(),
                line: line.clone(),
                generation: pushed.generation,
                objects_uploaded: pushed.objects_uploaded,
                bytes_uploaded: pushed.bytes_uploaded,
                chunks: pushed.chunks,
                files: plan.files.len(),
                excluded: plan.excluded.len(),
            },
        )?;
    }
    Ok(Synced {
        link,
        line,
        plan,
        pushed,
        hosted,
        snippets,
    })
}

/// A client of the linked service with `SCRY_API_KEY` or the stored sign-in, and a runtime
/// for its requests (a client's pooled connections belong to one runtime).
pub(super) fn connect(
    root: &Path,
    link: &Link,
) -> Result<(Client, tokio::runtime::Runtime), SyncError> {
    let token = credentials::token_for(&link.server)
        .map_err(SyncError::Credentials)?
        .ok_or_else(|| SyncError::SignedOut(link.server.clone()))?;
    let client = Client::builder(&link.server).token(token).build()?;
    Ok((client, runtime(root)?))
}

/// The branch (or worktree) the workspace is on, as its ref is named before hashing.
pub fn line_of(root: &Path) -> String {
    scry_core::repo::identify(root)
        .ok()
        .and_then(|c| c.line)
        .unwrap_or_else(|| "default".into())
}

/// The ref of the workspace's branch, as the service sees it: a keyed hash of its name.
pub(super) fn ref_name(key: &OrgKey, root: &Path) -> String {
    line_ref(key, &line_of(root))
}

pub(super) fn line_ref(key: &OrgKey, line: &str) -> String {
    hex(&key.object_id("ref", line.as_bytes()))[..32].to_string()
}

/// The whole index's tree, planned afresh.
fn complete_plan(
    kept: &mut Kept,
    snapshot: &mut impl FnMut(Option<u64>) -> scry_core::Result<SnapshotDelta>,
    key: &OrgKey,
    snippets: bool,
) -> Result<Plan, SyncError> {
    *kept = Kept::default();
    Ok(kept
        .plan(&snapshot(None)?, key, snippets)
        .expect("a complete delta always plans"))
}

/// The most bytes of a chunk's text a sync carries: the service takes at most
/// `MAX_BYTES_PER_CHUNK` (4 KiB) sealed bytes per chunk on average, and a chunk may be 12 kB of
/// text that does not compress; the rest of a chunk that long is not carried.
const SNIPPET_BYTES: usize = 3_072;

/// The first `max` bytes of `text`, cut at a character's boundary.
fn head(text: &str, max: usize) -> &str {
    let end = (0..=max.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..end]
}

/// Gives each chunk its text, read from the file under `root` when the file still has the
/// bytes the index holds (else its chunks go without: the next sync after the index caught
/// up sends them).
fn with_texts(root: &Path, files: &mut [SnapshotFile]) {
    for file in files {
        let Ok(bytes) = std::fs::read(root.join(&file.path)) else {
            continue;
        };
        if scry_core::walk::file_hash(&bytes) != file.hash {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        for chunk in &mut file.chunks {
            let range = chunk.start_byte as usize..chunk.end_byte as usize;
            chunk.text = text.get(range).map(|t| head(t, SNIPPET_BYTES).to_string());
        }
    }
}

/// The org's data key for this device (see [`keys::settle`]), kept in the credential store
/// when it is new here. An API key in `SCRY_API_KEY` acts as its own device (see
/// [`credentials::EnvKey`]) and keeps nothing: CI machines come and go. The credential store
/// is read and written outside `runtime` (it may block); the requests run on it, the runtime
/// `client` was used on (a client's pooled connections belong to one runtime).
pub fn org_key(
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    server: &str,
    org: &str,
) -> Result<OrgKey, SyncError> {
    if let Some(env) = credentials::EnvKey::from_env() {
        let device = env.device_key();
        let settled = keys::settle(client, org, &device, "API key", None);
        return Ok(runtime.block_on(settled)?.0);
    }
    let (device, _) = credentials::device_key(server).map_err(SyncError::Credentials)?;
    let kept = credentials::load_org_key(server, org)
        .map_err(SyncError::Credentials)?
        .map(|(k, _)| k);
    let label = keys::device_label();
    let (key, source) = runtime.block_on(keys::settle(client, org, &device, &label, kept))?;
    if source != keys::Source::Kept {
        credentials::save_org_key(server, org, &key).map_err(SyncError::Credentials)?;
    }
    Ok(key)
}

/// The org's data key, for an owner to write down as its recovery key. The service records
/// that this epoch's was issued (once per epoch; owners only) before it is returned, so a
/// shell shows it once.
pub fn issue_recovery_key(
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    server: &str,
    org: &str,
) -> Result<OrgKey, SyncError> {
    let key = org_key(runtime, client, server, org)?;
    let issue = NewRecoveryKey {
        epoch: i64::from(key.epoch()),
        check: key.check(),
    };
    runtime.block_on(client.issue_recovery_key(org, &issue))?;
    Ok(key)
}

/// A runtime for one sync's requests.
fn runtime(root: &Path) -> Result<tokio::runtime::Runtime, SyncError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| SyncError::Io {
            path: root.into(),
            source,
        })
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_chunk_carries_its_head_only() {
        assert_eq!(head("abc", 10), "abc");
        assert_eq!(head("aé", 2), "a", "never inside a character");
        let long = "x".repeat(12_000);
        assert_eq!(head(&long, SNIPPET_BYTES).len(), SNIPPET_BYTES);
        // Room beside it for the vector (768 codes at most) and the record.
        const _: () = assert!(SNIPPET_BYTES + 1_024 <= scry_api::MAX_BYTES_PER_CHUNK);
    }
}
