//! What the commands print: JSON lines for programs, coloured text for people.

use std::borrow::Cow;
use std::io::{self, Write};

use owo_colors::{OwoColorize, Stream};
use scry_client::api::{SearchResult, snippet};
use scry_client::sync::org::OrgHit;
use scry_core::{Hit, Status, UpdateStats};
use serde::Serialize;

#[derive(Serialize)]
struct JsonLine<'a> {
    query: &'a str,
    results: Vec<SearchResult>,
}

pub fn print_hits(query: &str, hits: &[Hit], json: bool, out: &mut impl Write) -> io::Result<()> {
    let placed: Vec<(Option<&str>, &Hit)> = hits.iter().map(|h| (None, h)).collect();
    print(query, &placed, json, out)
}

/// Org-wide results: each hit with its repository (its path is inside it).
pub fn print_org_hits(
    query: &str,
    hits: &[OrgHit],
    json: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let placed: Vec<(Option<&str>, &Hit)> = hits
        .iter()
        .map(|h| (Some(h.repo.as_str()), &h.hit))
        .collect();
    print(query, &placed, json, out)
}

fn print(
    query: &str,
    hits: &[(Option<&str>, &Hit)],
    json: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    if json {
        let line = JsonLine {
            query,
            results: (hits.iter())
                .map(|&(repo, h)| SearchResult::from_hit(repo, h))
                .collect(),
        };
        serde_json::to_writer(&mut *out, &line)?;
        return writeln!(out);
    }
    if hits.is_empty() {
        return writeln!(out, "no results for {query:?}");
    }
    for &(repo, hit) in hits {
        let repo = repo.map_or(String::new(), |r| format!("{}/", shown(r)));
        let location = format!(
            "{repo}{}:{}-{}",
            shown(&hit.path),
            hit.start_line,
            hit.end_line
        );
        let name = match (&hit.scope, &hit.symbol) {
            (Some(scope), Some(symbol)) => format!("{}.{}", shown(scope), shown(symbol)),
            (None, Some(symbol)) => shown(symbol).into_owned(),
            _ => String::new(),
        };
        writeln!(
            out,
            "{} {} {} {}",
            location.if_supports_color(Stream::Stdout, |t| t.cyan()),
            hit.kind
                .as_str()
                .if_supports_color(Stream::Stdout, |t| t.dimmed()),
            name.if_supports_color(Stream::Stdout, |t| t.bold()),
            format!("{:.3}", hit.score).if_supports_color(Stream::Stdout, |t| t.dimmed()),
        )?;
        for (i, line) in snippet(&hit.text).lines().enumerate() {
            let number = format!("{:>5}", hit.start_line as usize + i);
            writeln!(
                out,
                "{} {}",
                number.if_supports_color(Stream::Stdout, |t| t.dimmed()),
                shown(line)
            )?;
        }
        if !hit.more.is_empty() {
            let places: Vec<String> = (hit.more.iter())
                .map(|m| match &m.symbol {
                    Some(symbol) => format!("{}-{} {}", m.start_line, m.end_line, shown(symbol)),
                    None => format!("{}-{}", m.start_line, m.end_line),
                })
                .collect();
            let also = format!("      also: {}", places.join(", "));
            writeln!(
                out,
                "{}",
                also.if_supports_color(Stream::Stdout, |t| t.dimmed())
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `text` as it may reach a terminal: control characters (escape sequences that would move the
/// cursor, clear the screen or write the clipboard; carriage returns that would overwrite a
/// line) shown escaped, `\u{1b}`. Tabs stay. Names and code come from the files searched,
/// which anyone may have written; stdout may be a terminal even through a pipe's end.
pub fn shown(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

pub fn print_update(stats: &UpdateStats, status: &Status, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "indexed {} files ({} changed, {} deleted, {} unchanged) in {:.2}s: {} chunks written, {} vectors embedded",
        stats.files_seen,
        stats.files_indexed,
        stats.files_deleted,
        stats.files_unchanged,
        stats.elapsed.as_secs_f64(),
        stats.chunks_written,
        stats.vectors_embedded,
    )?;
    if !stats.skipped.is_empty() {
        let parts: Vec<String> = stats
            .skipped
            .iter()
            .map(|(r, n)| format!("{n} {}", r.describe()))
            .collect();
        writeln!(out, "skipped: {}", parts.join(", "))?;
    }
    writeln!(
        out,
        "index: {} files, {} chunks, model {}",
        status.files,
        status.chunks,
        status.model.as_deref().unwrap_or("none (lexical)")
    )
}

pub fn print_status(status: &Status, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "workspace: {}",
        shown(&status.root.display().to_string())
    )?;
    writeln!(
        out,
        "index:     {} ({:.1} MiB)",
        shown(&status.db_path.display().to_string()),
        status.db_bytes as f64 / (1024.0 * 1024.0)
    )?;
    writeln!(out, "files:     {}", status.files)?;
    writeln!(out, "chunks:    {}", status.chunks)?;
    writeln!(out, "vectors:   {}", status.vectors)?;
    let builtin = scry_core::StaticModel::builtin()
        .ok()
        .map(scry_core::Embedder::model_id);
    match status.model.as_deref() {
        None => writeln!(out, "model:     none (lexical search)")?,
        Some(id) if Some(id) == builtin => writeln!(out, "model:     {id} (built-in)")?,
        Some(id) => writeln!(out, "model:     {id}")?,
    }
    if let Some(id) = &status.rerank_model {
        writeln!(out, "reranker:  {id} (vectors kept for --rerank)")?;
    }
    writeln!(out, "schema:    {}", status.schema_version)
}

/// `scry status --json`; `problems` when `--check` asked for them.
pub fn print_status_json(
    status: &Status,
    problems: Option<Vec<String>>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let last = status.last_update;
    let mut value = serde_json::json!({
        "root": status.root,
        "index": status.db_path,
        "bytes": status.db_bytes,
        "files": status.files,
        "chunks": status.chunks,
        "vectors": status.vectors,
        "model": status.model,
        "reranker": status.rerank_model,
        "schema": status.schema_version,
        "reused": last.map(|l| l.reused),
        "embedded": last.map(|l| l.embedded),
    });
    if let Some(problems) = &problems {
        value["problems"] = serde_json::json!(problems);
    }
    writeln!(out, "{value}")?;
    match problems {
        Some(p) if !p.is_empty() => Err(scry_core::Error::CorruptIndex {
            path: status.db_path.clone(),
            message: format!("{} problems, listed in \"problems\"", p.len()),
        }
        .into()),
        _ => Ok(()),
    }
}

/// The project and line a checkout belongs to (what sync will name it by).
pub fn print_project(
    checkout: scry_core::Result<scry_core::repo::Checkout>,
    out: &mut impl Write,
) -> io::Result<()> {
    use scry_core::repo::Project;
    let checkout = match checkout {
        Ok(checkout) => checkout,
        Err(err) => return writeln!(out, "project:   unknown ({})", shown(&err.to_string())),
    };
    let line = checkout
        .line
        .map_or(String::new(), |l| format!(", on {}", shown(&l)));
    match checkout.project {
        Project::Remote(url) => writeln!(out, "project:   {}{line}", shown(&url)),
        Project::RootCommit(commit) => {
            writeln!(
                out,
                "project:   root commit {}{line} (no remote)",
                &commit[..12.min(commit.len())]
            )
        }
        Project::Unversioned => writeln!(out, "project:   not a Git checkout{line}"),
    }
}
