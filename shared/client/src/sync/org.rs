//! Org-wide search, the client's half: every repository of the workspace's org that has a
//! synced generation, kept decrypted in one [`Mirror`] on this machine (so one query ranks them
//! together, and searches work offline), refreshed from the service where a repository's
//! generation moved on. Which generation: the ref of `main`, else of `master`, else the latest
//! committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scry_api::{Generation, Repo};
use scry_core::mirror::Mirror;
use serde::{Deserialize, Serialize};

use super::SyncError;
use super::pull::{Downloaded, pull_generation};
use super::state::Link;
use super::workspace::{connect, line_ref, link_of, org_key};
use crate::api::PageQuery;
use crate::sealing::OrgKey;
use crate::{Client, ErrorKind};

/// Branches whose generation stands for a repository, in order.
const DEFAULT_LINES: [&str; 2] = ["main", "master"];

/// What a refresh did.
#[derive(Debug, Default)]
pub struct Refreshed {
    pub org: String,
    /// Repositories with a synced generation, by name.
    pub repos: usize,
    /// Of them, those whose generation was fetched now (the others were current).
    pub fetched: usize,
    pub downloaded: Downloaded,
    pub elapsed: Duration,
    /// Why the service could not be asked (the mirror is searched as it was).
    pub offline: Option<String>,
}

/// The generation the mirror holds of a repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Held {
    name: String,
    root: String,
    committed_at: i64,
}

/// The org's mirror, as a workspace linked to it finds it.
pub struct OrgMirror {
    pub link: Link,
    pub mirror: Mirror,
    dir: PathBuf,
}

/// Opens the mirror of the org the workspace at `root` is linked to.
pub fn open(root: &Path) -> Result<OrgMirror, SyncError> {
    let link = link_of(root)?.ok_or_else(|| SyncError::NotEnabled(root.into()))?;
    if !(link.org.chars()).all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(SyncError::Protocol(format!(
            "{:?} is not an org id",
            link.org
        )));
    }
    // Org ids are the service's random ids: one folder per org, whatever address reaches it.
    let dir = scry_core::index_home().join("orgs").join(&link.org);
    let mirror = Mirror::open(&dir.join("mirror.redb"))?;
    Ok(OrgMirror { link, mirror, dir })
}

impl OrgMirror {
    /// Brings every repository of the org up to its current generation. A service that
    /// cannot be reached leaves the mirror as it is and says why in `offline`; `progress`
    /// hears each repository fetched. Reads the credential store: call it off an async
    /// runtime's threads.
    pub fn refresh(
        &mut self,
        root: &Path,
        progress: &mut dyn FnMut(&str, Downloaded),
    ) -> Result<Refreshed, SyncError> {
        let started = Instant::now();
        let mut done = Refreshed {
            org: self.link.org.clone(),
            ..Refreshed::default()
        };
        let (client, runtime) = connect(root, &self.link)?;
        let org = self.link.org.as_str();
        let repos = match runtime.block_on(all_repos(&client, org)) {
            Ok(repos) => repos,
            Err(SyncError::Service(e))
                if matches!(e.kind(), ErrorKind::Offline | ErrorKind::Unavailable) =>
            {
                done.offline = Some(e.to_string());
                done.repos = self.mirror.repos()?.len();
                return Ok(done);
            }
            Err(e) => return Err(e),
        };
        let key = org_key(&runtime, &client, &self.link.server, org)?;
        let mut held = self.held();
        for repo in repos {
            let refs = runtime.block_on(client.refs(org, &repo.id))?;
            let Some(generation) = standing(&refs, &key) else {
                continue;
            };
            done.repos += 1;
            let now = Held {
                name: mirror_name(&repo),
                root: generation.root.clone(),
                committed_at: generation.committed_at,
            };
            if held.get(&repo.id) == Some(&now) {
                continue;
            }
            let everything = |_: &str, _: &[u8; 16]| true;
            let mut fetched = Downloaded::default();
            let snapshot = {
                let mut heard = |d: Downloaded| {
                    fetched = d;
                    progress(&now.name, d);
                };
                let remote = (&client, org, repo.id.as_str());
                let pulled = pull_generation(remote, generation, &key, &everything, &mut heard);
                runtime.block_on(pulled)?
            };
            self.mirror.replace(&now.name, &snapshot)?;
            done.fetched += 1;
            done.downloaded.objects += fetched.objects;
            done.downloaded.bytes += fetched.bytes;
            held.insert(repo.id.clone(), now);
            self.save_held(&held)?;
        }
        done.elapsed = started.elapsed();
        Ok(done)
    }

    fn held_path(&self) -> PathBuf {
        self.dir.join("generations.json")
    }

    fn held(&self) -> BTreeMap<String, Held> {
        std::fs::read(self.held_path())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save_held(&self, held: &BTreeMap<String, Held>) -> Result<(), SyncError> {
        let path = self.held_path();
        let io = |source| SyncError::Io {
            path: path.clone(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(held).expect("serialisable")).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// A repository's name as the mirror files it: its name, `/` replaced (a mirror path's first
/// part names the repository).
fn mirror_name(repo: &Repo) -> String {
    repo.name.replace('/', "_")
}

/// The generation that stands for a repository: its `main` ref's, else `master`'s, else the
/// latest committed.
fn standing<'g>(refs: &'g [Generation], key: &OrgKey) -> Option<&'g Generation> {
    DEFAULT_LINES
        .iter()
        .find_map(|line| {
            let name = line_ref(key, line);
            refs.iter().find(|r| r.ref_name == name)
        })
        .or_else(|| refs.iter().max_by_key(|r| r.committed_at))
}

async fn all_repos(client: &Client, org: &str) -> Result<Vec<Repo>, SyncError> {
    let mut page = PageQuery {
        limit: Some(100),
        after: None,
    };
    let mut repos = Vec::new();
    loop {
        let got = client.repos(org, &page).await?;
        repos.extend(got.items);
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(repos),
        }
    }
}
