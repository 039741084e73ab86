//! Which project a checkout belongs to, and which line of it: clones, worktrees and branches of
//! one project share a project identity (so their indexes can meet in one hosted repo), each
//! branch or worktree is a line of its own. Read from Git's files, without running Git, except
//! for a repository with no remote, whose root commit names it.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// What a checkout is a copy of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Project {
    /// The `origin` remote (or the only remote), normalised: `host[:port]/path`, the same for
    /// its SSH, HTTPS and scp-like spellings.
    Remote(String),
    /// A repository without a remote: its first commit (the oldest root), shared by its clones.
    RootCommit(String),
    /// Not in a Git repository, or one without commits: only a name chosen by the user can
    /// link it.
    Unversioned,
}

/// A checkout's project and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    pub project: Project,
    /// The branch checked out (`main`), or `detached` for a detached HEAD, or `None` outside
    /// Git.
    pub line: Option<String>,
}

/// The project and line of the checkout that holds `root`.
pub fn identify(root: &Path) -> Result<Checkout> {
    // Canonical, so that the folders above a relative path are searched too.
    let root = &root.canonicalize().map_err(|e| Error::io(root, e))?;
    let Some(git) = GitDir::find(root)? else {
        return Ok(Checkout {
            project: Project::Unversioned,
            line: None,
        });
    };
    let line = Some(git.line()?);
    let project = match git.origin()? {
        Some(url) => Project::Remote(normalise_remote(&url)),
        None => match root_commit(root) {
            Some(commit) => Project::RootCommit(commit),
            None => Project::Unversioned,
        },
    };
    Ok(Checkout { project, line })
}

impl Project {
    /// The project's identity under `key` (an organisation's secret): equal for equal projects
    /// and keys, telling nothing of the project to whoever lacks the key.
    pub fn fingerprint(&self, key: &[u8; 32]) -> Option<[u8; 32]> {
        let named = match self {
            Project::Remote(url) => format!("remote\0{url}"),
            Project::RootCommit(commit) => format!("root\0{commit}"),
            Project::Unversioned => return None,
        };
        Some(*blake3::keyed_hash(key, named.as_bytes()).as_bytes())
    }
}

/// Hosts whose repository paths are case-insensitive.
const CASELESS_HOSTS: [&str; 3] = ["github.com", "gitlab.com", "bitbucket.org"];

/// One spelling per remote: no scheme, user, password, default port, `.git` or trailing slash;
/// the host in lower case (the path too on hosts that ignore its case). A local path stays a
/// path.
pub fn normalise_remote(url: &str) -> String {
    let url = url.trim();
    let (host, path) = match url.split_once("://") {
        Some((scheme, rest)) if scheme != "file" => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let default_port = match scheme.to_ascii_lowercase().as_str() {
                "https" => ":443",
                "http" => ":80",
                "ssh" | "git+ssh" | "ssh+git" => ":22",
                "git" => ":9418",
                _ => "",
            };
            let host = host_port
                .strip_suffix(default_port)
                .filter(|_| !default_port.is_empty())
                .unwrap_or(host_port);
            (host.to_ascii_lowercase(), path)
        }
        Some((_, path)) => return format!("file:{}", tidy_path(path)),
        // scp-like `user@host:path`: a colon before any slash.
        None => match url.split_once(':') {
            Some((authority, path)) if !authority.contains('/') && !authority.is_empty() => {
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                (host.to_ascii_lowercase(), path)
            }
            _ => return format!("file:{}", tidy_path(url)),
        },
    };
    let mut path = tidy_path(path);
    if CASELESS_HOSTS.contains(&host.as_str()) {
        path = path.to_ascii_lowercase();
    }
    format!("{host}/{path}")
}

fn tidy_path(path: &str) -> String {
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    path.split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// A checkout's Git directories: its own (HEAD) and the common one (config), which differ for
/// a linked worktree.
struct GitDir {
    own: PathBuf,
    common: PathBuf,
}

impl GitDir {
    /// The `.git` of `root` or of the nearest folder above it.
    fn find(root: &Path) -> Result<Option<GitDir>> {
        for dir in root.ancestors() {
            let dot_git = dir.join(".git");
            if dot_git.is_dir() {
                return Ok(Some(GitDir {
                    common: dot_git.clone(),
                    own: dot_git,
                }));
            }
            if dot_git.is_file() {
                // A worktree or submodule: `gitdir: PATH`, relative to the folder.
                let text = read(&dot_git)?;
                let Some(target) = text.trim().strip_prefix("gitdir:") else {
                    return Ok(None);
                };
                let own = dir.join(target.trim());
                let common = match std::fs::read_to_string(own.join("commondir")) {
                    Ok(rel) => own.join(rel.trim()),
                    Err(_) => own.clone(),
                };
                return Ok(Some(GitDir { own, common }));
            }
        }
        Ok(None)
    }

    fn line(&self) -> Result<String> {
        let head = read(&self.own.join("HEAD"))?;
        Ok(match head.trim().strip_prefix("ref: refs/heads/") {
            Some(branch) => branch.to_string(),
            None => "detached".to_string(),
        })
    }

    /// The URL of `origin`, else of the only remote.
    fn origin(&self) -> Result<Option<String>> {
        let config = match std::fs::read_to_string(self.common.join("config")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(self.common.join("config"), e)),
        };
        let remotes = remote_urls(&config);
        Ok(remotes
            .iter()
            .find(|(name, _)| name == "origin")
            .or_else(|| remotes.first().filter(|_| remotes.len() == 1))
            .map(|(_, url)| url.clone()))
    }
}

/// `(name, url)` of each `[remote "name"]` section with a `url` (the first, as Git fetches).
fn remote_urls(config: &str) -> Vec<(String, String)> {
    let mut remotes: Vec<(String, String)> = Vec::new();
    let mut section: Option<String> = None;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line
                .strip_prefix("[remote \"")
                .and_then(|rest| rest.strip_suffix("\"]"))
                .map(str::to_string);
            continue;
        }
        let Some(name) = &section else { continue };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("url") && !remotes.iter().any(|(n, _)| n == name) {
            remotes.push((name.clone(), value.trim().trim_matches('"').to_string()));
        }
    }
    remotes
}

/// The oldest root commit of HEAD, by asking Git (it reads packed objects); `None` without
/// Git or commits.
fn root_commit(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-list", "--max-parents=0", "HEAD"])
        .current_dir(root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // Several roots (merged histories): the list ends with the oldest.
    String::from_utf8(out.stdout)
        .ok()?
        .lines()
        .last()
        .map(str::to_string)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_remote_has_one_spelling() {
        let same = [
            "git@github.com:Scry-Dev/Scry.git",
            "https://github.com/scry-dev/scry",
            "https://user:token@GitHub.com:443/scry-dev/scry.git/",
            "ssh://git@github.com/scry-dev/scry.git",
            "ssh://git@github.com:22/scry-dev/scry",
            "git://github.com/scry-dev//scry.git",
        ];
        for url in same {
            assert_eq!(normalise_remote(url), "github.com/scry-dev/scry", "{url}");
        }
        // Elsewhere the path's case counts, and so does a port that is not the default.
        assert_eq!(
            normalise_remote("https://git.example.com/Team/Tool.git"),
            "git.example.com/Team/Tool"
        );
        assert_eq!(
            normalise_remote("ssh://git@git.example.com:2222/team/tool"),
            "git.example.com:2222/team/tool"
        );
        assert_eq!(normalise_remote("/srv/git/tool.git"), "file:srv/git/tool");
        assert_eq!(
            normalise_remote("file:///srv/git/tool"),
            "file:srv/git/tool"
        );
    }

    #[test]
    fn fingerprints_need_the_key() {
        let project = Project::Remote("github.com/scry-dev/scry".into());
        let a = project.fingerprint(&[1; 32]).unwrap();
        assert_eq!(a, project.fingerprint(&[1; 32]).unwrap());
        assert_ne!(a, project.fingerprint(&[2; 32]).unwrap());
        assert_ne!(
            a,
            Project::RootCommit("github.com/scry-dev/scry".into())
                .fingerprint(&[1; 32])
                .unwrap()
        );
        assert_eq!(Project::Unversioned.fingerprint(&[1; 32]), None);
    }

    fn git(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn clones_worktrees_and_branches_share_a_project() {
        if std::process::Command::new("git")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: no git");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin");
        std::fs::create_dir(&origin).unwrap();
        git(&origin, &["init", "-q", "-b", "main"]);
        std::fs::write(origin.join("a.py"), "x = 1\n").unwrap();
        git(&origin, &["add", "."]);
        git(&origin, &["commit", "-q", "-m", "first"]);

        // No remote: the root commit names it, and a clone's origin is a path.
        let here = identify(&origin).unwrap();
        assert!(matches!(here.project, Project::RootCommit(ref c) if c.len() == 40));
        assert_eq!(here.line.as_deref(), Some("main"));

        let clone = dir.path().join("clone");
        git(dir.path(), &["clone", "-q", "origin", "clone"]);
        git(
            &clone,
            &[
                "remote",
                "set-url",
                "origin",
                "git@github.com:Scry-Dev/Scry.git",
            ],
        );
        let worktree = dir.path().join("feature");
        git(
            &clone,
            &["worktree", "add", "-q", "-b", "feature", "../feature"],
        );
        std::fs::create_dir(clone.join("sub")).unwrap();

        let in_clone = identify(&clone.join("sub")).unwrap();
        let in_worktree = identify(&worktree).unwrap();
        let remote = Project::Remote("github.com/scry-dev/scry".into());
        assert_eq!(in_clone.project, remote);
        assert_eq!(in_worktree.project, remote);
        assert_eq!(in_clone.line.as_deref(), Some("main"));
        assert_eq!(in_worktree.line.as_deref(), Some("feature"));

        git(&clone, &["checkout", "-q", "--detach"]);
        assert_eq!(identify(&clone).unwrap().line.as_deref(), Some("detached"));

        let plain = tempfile::tempdir().unwrap();
        assert_eq!(
            identify(plain.path()).unwrap(),
            Checkout {
                project: Project::Unversioned,
                line: None
            }
        );
    }
}
