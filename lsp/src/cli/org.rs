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

use super::output::{self, shown};

/// What to search and how to print it.
pub struct Asked<'a> {
    pub queries: &'a [String],
    /// All but the query.
    pub base: org::Asked,
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
    for (repo, why) in &refreshed.stale {
        eprintln!(
            "warning: {} was not brought up to date ({}); its copy kept here, if any, is searched",
            shown(repo),
            shown(why)
        );
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    for query in asked.queries {
        let one = org::Asked {
            query: query.clone(),
            ..asked.base.clone()
        };
        let hits = org.search(&root, model.shared(), &one)?;
        output::print_org_hits(query, &hits, asked.json, &mut out)?;
    }
    out.flush()?;
    Ok(())
}
