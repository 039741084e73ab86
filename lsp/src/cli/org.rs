//! `scry search --org`: one ranked list over every repository of the org the workspace is
//! linked to, searched here over their synced generations (see `scry_client::sync::org`),
//! each result naming its repository. Results in this workspace's own repository show its
//! code, read from the checkout.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;
use scry_client::display::bytes;
use scry_client::sync::org;
use scry_core::model::ModelChoice;
use scry_core::{Filter, Hit};

use super::output::{self, shown};

/// What to search and how to print it.
pub struct Asked<'a> {
    pub queries: &'a [String],
    pub lang: Option<&'a str>,
    pub glob: Option<&'a str>,
    pub repos: &'a [String],
    pub limit: usize,
    pub json: bool,
}

pub fn search(root: &Path, model: &ModelChoice, asked: &Asked) -> anyhow::Result<()> {
    let root = root
        .canonicalize()
        .with_context(|| format!("workspace {}", root.display()))?;
    let mut org = org::open(&root)?;
    let refreshed = org.refresh(&root, &mut |repo, d| {
        eprint!("\rfetching {}: {}   ", shown(repo), bytes(d.bytes));
    })?;
    if refreshed.fetched > 0 {
        eprintln!();
    }
    match &refreshed.offline {
        Some(why) => eprintln!(
            "warning: {}; searching the copy of org {} kept here",
            shown(why),
            shown(&refreshed.org)
        ),
        None => eprintln!(
            "org {}: {} repositories ({} fetched, {} in {:.1}s)",
            shown(&refreshed.org),
            refreshed.repos,
            refreshed.fetched,
            bytes(refreshed.downloaded.bytes),
            refreshed.elapsed.as_secs_f64()
        ),
    }
    let held = org.mirror.repos()?;
    if held.is_empty() {
        anyhow::bail!(
            "no repository of org {} has a synced index yet: run `scry sync` in a checkout of each",
            refreshed.org
        );
    }
    if let Some(missing) = asked.repos.iter().find(|r| !held.contains(r)) {
        anyhow::bail!(
            "org {} has no synced repository {missing}; it has: {}",
            refreshed.org,
            held.join(", ")
        );
    }
    let filter = Filter::new(asked.lang, repo_glob(asked.repos, asked.glob).as_deref())?;
    let searcher = org.mirror.searcher(model.shared())?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    for query in asked.queries {
        let mut hits = searcher.search_files(query, asked.limit, &filter)?;
        for hit in &mut hits {
            hit.text = local_text(&root, &org.link.repo_name, hit).unwrap_or_default();
        }
        output::print_org_hits(query, &hits, asked.json, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

/// The glob over mirror paths (`repo/path`) for `--repo` and `--glob` (paths inside a
/// repository).
fn repo_glob(repos: &[String], glob: Option<&str>) -> Option<String> {
    let inside = glob.unwrap_or("**");
    match repos {
        [] => glob.map(|g| format!("*/{g}")),
        [one] => Some(format!("{one}/{inside}")),
        many => Some(format!("{{{}}}/{inside}", many.join(","))),
    }
}

/// A hit's code when it lies in the checkout at `root` (the repository `repo`).
fn local_text(root: &Path, repo: &str, hit: &Hit) -> Option<String> {
    let (hit_repo, path) = hit.path.split_once('/')?;
    if hit_repo != repo {
        return None;
    }
    let text = std::fs::read_to_string(root.join(path)).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .skip(hit.start_line.saturating_sub(1) as usize)
        .take((hit.end_line + 1).saturating_sub(hit.start_line) as usize)
        .collect();
    Some(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_and_path_globs_combine() {
        assert_eq!(repo_glob(&[], None), None);
        assert_eq!(repo_glob(&[], Some("src/**")).as_deref(), Some("*/src/**"));
        assert_eq!(repo_glob(&["a".into()], None).as_deref(), Some("a/**"));
        let two = repo_glob(&["a".into(), "b".into()], Some("*.py"));
        assert_eq!(two.as_deref(), Some("{a,b}/*.py"));
    }
}
