//! Org-wide search, the client's half: every repository of the workspace's org that has a
//! synced generation, kept decrypted in a [`Mirror`] on this machine (one query ranks them
//! together, and searches work offline), refreshed from the service where a repository's
//! generation moved on. Which generation: the ref of `main`, else of `master`, else the latest
//! committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scry_api::{Generation, Repo};
use scry_core::mirror::Mirror;
use scry_core::mirror::MirrorSearcher;
use scry_core::{Embedder, Filter, Hit};
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
    /// Why the service could not be asked: out of reach, or not signed in or the session
    /// revoked (the mirror is searched as it was).
    pub offline: Option<String>,
    /// Repositories that could not be brought up to date, by name, with why: each is
    /// searched as the mirror last held it (if at all); the others were refreshed.
    pub stale: Vec<(String, String)>,
}

/// What the service holds of a repository against what the mirror does.
enum Fetch {
    /// No synced generation.
    Unsynced,
    /// The mirror holds its standing generation.
    Current,
    /// A newer generation, pulled.
    New(Held, scry_core::snapshot::Snapshot, Downloaded),
}

/// The standing generation of `repo`, pulled unless the mirror holds it already.
async fn fetch_repo(
    client: &Client,
    org: &str,
    repo: &Repo,
    key: &OrgKey,
    held: &BTreeMap<String, Held>,
    progress: &mut dyn FnMut(&str, Downloaded),
) -> Result<Fetch, SyncError> {
    let refs = client.refs(org, &repo.id).await?;
    let Some(generation) = standing(&refs, key) else {
        return Ok(Fetch::Unsynced);
    };
    let now = Held {
        name: mirror_name(repo),
        root: generation.root.clone(),
        committed_at: generation.committed_at,
    };
    if held.get(&repo.id) == Some(&now) {
        return Ok(Fetch::Current);
    }
    let everything = |_: &str, _: &[u8; 16]| true;
    let mut fetched = Downloaded::default();
    let mut heard = |d: Downloaded| {
        fetched = d;
        progress(&now.name, d);
    };
    let remote = (client, org, repo.id.as_str());
    let snapshot = pull_generation(remote, generation, key, &everything, &mut heard).await?;
    Ok(Fetch::New(now, snapshot, fetched))
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
    /// Loaded by the first search after a refresh, kept for the next ones.
    searcher: Option<MirrorSearcher>,
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
    // The mirror was one index for the whole org before it was one per repository.
    let _ = std::fs::remove_file(dir.join("mirror.redb"));
    let mirror = Mirror::open(&dir.join("mirror"))?;
    Ok(OrgMirror {
        link,
        mirror,
        dir,
        searcher: None,
    })
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
        self.searcher = None;
        let mut done = Refreshed {
            org: self.link.org.clone(),
            ..Refreshed::default()
        };
        let (client, runtime) = match connect(root, &self.link) {
            Ok(connected) => connected,
            Err(e @ SyncError::SignedOut(_)) => return self.as_kept(done, e),
            Err(e) => return Err(e),
        };
        let org = self.link.org.as_str();
        let repos = match runtime.block_on(all_repos(&client, org)) {
            Ok(repos) => repos,
            Err(SyncError::Service(e))
                if matches!(
                    e.kind(),
                    ErrorKind::Offline | ErrorKind::Unavailable | ErrorKind::Unauthorized
                ) =>
            {
                return self.as_kept(done, SyncError::Service(e));
            }
            Err(e) => return Err(e),
        };
        let key = org_key(&runtime, &client, &self.link.server, org)?;
        let mut held = self.held();
        // A copy missing or damaged here is fetched again.
        let kept = self.mirror.repos()?;
        held.retain(|_, h| kept.contains(&h.name) && self.mirror.sound(&h.name));
        // Repositories gone from the org (or renamed) leave the mirror.
        let listed: BTreeMap<&str, String> = repos
            .iter()
            .map(|r| (r.id.as_str(), mirror_name(r)))
            .collect();
        let gone: Vec<String> = (held.iter())
            .filter(|(id, h)| listed.get(id.as_str()) != Some(&h.name))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(h) = held.remove(&id) {
                self.mirror.remove(&h.name)?;
            }
        }
        self.save_held(&held)?;
        for repo in repos {
            let name = mirror_name(&repo);
            let fetched = runtime.block_on(fetch_repo(&client, org, &repo, &key, &held, progress));
            let (now, snapshot, downloaded) = match fetched {
                Ok(Fetch::Unsynced) => continue,
                Ok(Fetch::Current) => {
                    done.repos += 1;
                    continue;
                }
                Ok(Fetch::New(now, snapshot, downloaded)) => (now, snapshot, downloaded),
                // One repository the service will not give (deleted meanwhile, a damaged
                // object) leaves the others to refresh.
                Err(e @ (SyncError::Service(_) | SyncError::Protocol(_))) => {
                    tracing::warn!("org search: {name} not refreshed: {e}");
                    done.repos += usize::from(held.contains_key(&repo.id));
                    done.stale.push((name, e.to_string()));
                    continue;
                }
                Err(e) => return Err(e),
            };
            done.repos += 1;
            self.mirror.replace(&now.name, &snapshot)?;
            done.fetched += 1;
            done.downloaded.objects += downloaded.objects;
            done.downloaded.bytes += downloaded.bytes;
            held.insert(repo.id.clone(), now);
            self.save_held(&held)?;
        }
        done.elapsed = started.elapsed();
        Ok(done)
    }

    /// The mirror as it is, when the service cannot be asked (`why`): the copy kept here was
    /// fetched with the person's access then. `why` itself when nothing is kept.
    fn as_kept(&self, mut done: Refreshed, why: SyncError) -> Result<Refreshed, SyncError> {
        done.repos = self.mirror.repos()?.len();
        if done.repos == 0 {
            return Err(why);
        }
        done.offline = Some(why.to_string());
        Ok(done)
    }

    /// The files of the org that best answer `query`, best first, across repositories (or
    /// only `repos`, by name); `lang` and `glob` (a path inside a repository) filter as in a
    /// local search. `embedder` (read by the first search after a refresh, whose searcher the
    /// next ones reuse) must be the model the generations were synced with for their
    /// vectors to count. Hits in the repository of the workspace at `root` carry their code,
    /// read there.
    pub fn search(
        &mut self,
        root: &Path,
        embedder: Option<Arc<dyn Embedder>>,
        asked: &Asked,
    ) -> Result<Vec<OrgHit>, SyncError> {
        let held = self.mirror.repos()?;
        if held.is_empty() {
            return Err(SyncError::Conflict(format!(
                "no repository of org {} has a synced index yet: run `scry sync` in a checkout \
                 of each",
                self.link.org
            )));
        }
        if let Some(missing) = asked.repos.iter().find(|r| !held.contains(r)) {
            return Err(SyncError::Conflict(format!(
                "org {} has no synced repository {missing}; it has: {}",
                self.link.org,
                held.join(", ")
            )));
        }
        let filter = Filter::new(asked.lang.as_deref(), asked.glob.as_deref())
            .map_err(|e| SyncError::Conflict(e.to_string()))?;
        let searcher = match self.searcher.take() {
            Some(searcher) => searcher,
            None => self.mirror.searcher(embedder)?,
        };
        let hits = searcher.search_files(&asked.query, asked.limit, &filter, &asked.repos);
        self.searcher = Some(searcher);
        let hits = hits?;
        Ok(hits
            .into_iter()
            .filter_map(|mut hit| {
                let (repo, path) = hit.path.split_once('/')?;
                let (repo, path) = (repo.to_string(), path.to_string());
                let local = (repo == mirror_name_of(&self.link.repo_name))
                    .then(|| root.join(&path))
                    .filter(|p| p.is_file());
                // The checkout's code where there is one, else the sealed snippet, if the
                // org has syncs carry them.
                if let Some(text) = local.as_deref().and_then(|p| lines(p, &hit)) {
                    hit.text = text;
                }
                hit.path = path;
                Some(OrgHit { repo, local, hit })
            })
            .collect())
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

/// What an org-wide search asks.
#[derive(Clone, Debug, Default)]
pub struct Asked {
    pub query: String,
    pub limit: usize,
    pub lang: Option<String>,
    /// A path glob inside a repository.
    pub glob: Option<String>,
    /// Only these repositories (by name); all when empty.
    pub repos: Vec<String>,
}

/// How long a refreshed mirror answers before the service is asked again: a search box asks
/// on every keystroke.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// Org-wide search as the long-running shells run it (the language server, the desktop app):
/// the mirror last opened is kept with its searcher, and refreshed at most every
/// [`REFRESH_EVERY`]. Cheap to clone; clones share the mirror.
#[derive(Clone, Default)]
pub struct KeptMirror(Arc<Mutex<Option<(PathBuf, OrgMirror, Instant)>>>);

impl KeptMirror {
    /// Searches the org of the first of `roots` linked to one, with `model` (as the
    /// workspace's settings name it). Reads the credential store: call it off an async
    /// runtime's threads.
    pub fn search<'r>(
        &self,
        roots: impl IntoIterator<Item = &'r Path>,
        model: Option<&str>,
        asked: &Asked,
    ) -> Result<(PathBuf, Vec<OrgHit>), SyncError> {
        let root = (roots.into_iter())
            .find(|root| matches!(link_of(root), Ok(Some(_))))
            .ok_or_else(|| {
                SyncError::Conflict(
                    "no workspace is linked to an org: run `scry sync enable` in one to search \
                     its org"
                        .into(),
                )
            })?;
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = matches!(&*kept, Some((r, _, at)) if r == root && at.elapsed() < REFRESH_EVERY);
        if !fresh {
            let mut mirror = open(root)?;
            let refreshed = mirror.refresh(root, &mut |_, _| {})?;
            if let Some(why) = &refreshed.offline {
                tracing::warn!("org search from the copy kept here: {why}");
            }
            *kept = Some((root.to_path_buf(), mirror, Instant::now()));
        }
        let (_, mirror, _) = kept.as_mut().expect("just kept");
        let model = scry_core::model::ModelChoice::resolve(model, root)?;
        Ok((
            root.to_path_buf(),
            mirror.search(root, model.shared(), asked)?,
        ))
    }
}

/// One result of an org-wide search.
#[derive(Clone, Debug)]
pub struct OrgHit {
    pub repo: String,
    /// Where the file lies on this machine, when the search ran from a checkout of its
    /// repository.
    pub local: Option<PathBuf>,
    /// `path` inside the repository; `text` read from `local`, else the sealed snippet (when
    /// the org has syncs carry them), else empty.
    pub hit: Hit,
}

/// A repository's name as the mirror files it: its name, `/` replaced (a mirror path's first
/// part names the repository).
fn mirror_name(repo: &Repo) -> String {
    mirror_name_of(&repo.name)
}

fn mirror_name_of(name: &str) -> String {
    name.replace('/', "_")
}

/// `hit`'s lines of the file at `path`.
fn lines(path: &Path, hit: &Hit) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .skip(hit.start_line.saturating_sub(1) as usize)
        .take((hit.end_line + 1).saturating_sub(hit.start_line) as usize)
        .collect();
    Some(lines.join("\n"))
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
