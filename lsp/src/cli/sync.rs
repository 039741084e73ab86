//! `scry sync [enable | disable | status | log]`: a workspace's index on the account, sealed
//! with the org's key (see `scry_client::sync`). Off until `enable`; what left the machine is in
//! the ledger (`scry sync log`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use scry_client::ErrorKind;
use scry_client::credentials::{self, Place};
use scry_client::sync::state;
use scry_client::sync::{self, SyncOptions, Synced};
use scry_core::model::ModelChoice;
use serde_json::json;

use super::account::{pick_org, runtime, signed_in};
use scry_client::display::{ago, bytes, utc};

use super::output::shown;
use super::{open_index, progress, update};

/// The org's and the repository's settings an admin changes with `scry sync enable`; `None`
/// leaves one as it is.
pub struct Choices {
    pub hosted_search: Option<bool>,
    pub sealed_snippets: Option<bool>,
}

/// `scry sync enable`: links the workspace to a repository of an organisation (creating it),
/// registers this device for the org's data key and takes it (making it when nobody holds
/// one yet).
pub fn enable(
    root: &Path,
    server: &str,
    org: Option<&str>,
    repo: Option<&str>,
    choices: Choices,
    err: &mut impl Write,
) -> Result<()> {
    let client = signed_in(server)?;
    let runtime = runtime()?;
    let org = runtime.block_on(pick_org(&client, org))?;
    let link = runtime
        .block_on(sync::workspace::link_workspace(
            &client,
            server,
            &index_root(root)?,
            &org,
            repo,
        ))
        .context("cannot link the workspace to a repository of the org")?;
    match sync::workspace::org_key(&runtime, &client, server, &org) {
        Ok(key) => writeln!(
            err,
            "This device holds the org's data key (fingerprint {}); the service never sees it",
            key.fingerprint()
        )?,
        Err(e @ sync::SyncError::KeyPending(_)) => writeln!(err, "note: {e}")?,
        Err(e) => return Err(explain(e)),
    }
    if let Some((_, Place::File { path, why })) = credentials::load_org_key(server, &org)? {
        writeln!(
            err,
            "warning: {why}; the org's key is kept in {} (readable by you only)",
            path.display()
        )?;
    }
    writeln!(
        err,
        "Sync enabled: {} → repository {} ({repo}) of org {org} on {server}\n\
         Run `scry sync --dry-run` to see what would leave, `scry sync` to sync.",
        root.display(),
        shown(&link.repo_name),
        repo = link.repo,
    )?;
    if let Some(on) = choices.sealed_snippets {
        let set = client.set_sealed_snippets(&link.org, on);
        runtime
            .block_on(set)
            .context("cannot change sealed snippets (an org admin's to change)")?;
        writeln!(
            err,
            "{}",
            match on {
                true =>
                    "Sealed snippets on for the org: from each repository's next sync, its \
                         chunks' code travels too, sealed with the org's key (the service reads \
                         none of it), and `scry search --org` shows and matches it.",
                false => "Sealed snippets off for the org: syncs from now on carry no code.",
            }
        )?;
    }
    if let Some(on) = choices.hosted_search {
        let line = sync::workspace::line_of(&index_root(root)?);
        let branch = on.then_some(line);
        let set = client.set_hosted_search(&link.org, &link.repo, branch.as_deref());
        runtime
            .block_on(set)
            .context("cannot change hosted search (an org admin's to change)")?;
        match branch {
            Some(branch) => writeln!(
                err,
                "Hosted search on for branch {}: from its next sync, the code of its indexed \
                 files is stored readable by the service, which searches it for the org \
                 (`POST /v1/orgs/{org}/search`, with a session or an API key).",
                shown(&branch)
            )?,
            None => writeln!(
                err,
                "Hosted search off: the service deleted the code it held readable; syncs \
                 send only sealed objects."
            )?,
        }
    }
    Ok(())
}

/// `scry sync disable [--delete]`.
pub fn disable(root: &Path, delete: bool, err: &mut impl Write) -> Result<()> {
    let index_dir = index_dir(root)?;
    let Some(link) = state::link(&index_dir)? else {
        writeln!(err, "Sync is not enabled for {}", root.display())?;
        return Ok(());
    };
    if delete {
        let client = signed_in(&link.server)?;
        match runtime()?.block_on(client.delete_repo(&link.org, &link.repo)) {
            Ok(()) => writeln!(err, "Deleted the hosted copy ({})", link.repo)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("cannot delete the hosted copy"),
        }
    }
    state::remove_link(&index_dir)?;
    writeln!(err, "Sync disabled for {}", root.display())?;
    Ok(())
}

/// `scry sync [--dry-run] [--json]`: brings the index up to date, then syncs it.
pub fn run(root: &Path, options: &SyncOptions, json: bool, out: &mut impl Write) -> Result<()> {
    let model = ModelChoice::resolve(None, root)?;
    let mut index = open_index(root, false)?;
    let root = index.root().to_path_buf();
    if sync::workspace::link_of(&root)?.is_none() {
        bail!(
            "sync is not enabled for {}: run `scry sync enable` first",
            root.display()
        );
    }
    update(&mut index, &model, true)?;
    let mut bar = progress::Bar::new();
    let synced = sync::sync_workspace(
        &root,
        |since| index.snapshot_since(since),
        options,
        &mut |s| bar.sync_step(s),
    );
    bar.finish();
    let synced = synced.map_err(explain)?;
    report(&synced, options.dry_run, json, out)
}

fn report(synced: &Synced, dry_run: bool, json: bool, out: &mut impl Write) -> Result<()> {
    let Synced {
        link,
        line,
        plan,
        pushed,
        hosted,
        snippets,
    } = synced;
    if json {
        let value = json!({
            "repo": link.repo,
            "ref": line,
            "generation": pushed.generation,
            "objects_uploaded": pushed.objects_uploaded,
            "bytes_uploaded": pushed.bytes_uploaded,
            "chunks": pushed.chunks,
            "dry_run": dry_run,
            "snippets": snippets,
            "hosted": hosted.as_ref().map(|h| json!({
                "branch": h.branch,
                "files": h.files,
                "bytes": h.bytes,
                "texts_uploaded": h.texts_uploaded,
                "bytes_uploaded": h.bytes_uploaded,
                "skipped": h.skipped,
            })),
        });
        writeln!(out, "{value}")?;
        return Ok(());
    }
    let verb = if dry_run { "would send" } else { "sent" };
    if pushed.unchanged {
        writeln!(
            out,
            "Up to date: {} ({line}) is at generation {} on the account",
            shown(&link.repo_name),
            pushed.generation
        )?;
    } else {
        writeln!(
            out,
            "{} ({line}): {verb} {} objects ({} chunk records), {} sealed; {}",
            shown(&link.repo_name),
            pushed.objects_uploaded,
            pushed.chunks_uploaded,
            bytes(pushed.bytes_uploaded),
            if dry_run {
                format!("generation {} stays until you sync", pushed.generation)
            } else {
                format!("now generation {}", pushed.generation)
            }
        )?;
    }
    writeln!(
        out,
        "{} files, {} chunks in the generation; model {}",
        plan.files.len(),
        pushed.chunks,
        plan.model
    )?;
    if !plan.excluded.is_empty() {
        writeln!(out, "never synced (they look like secrets):")?;
        for (path, why) in &plan.excluded {
            writeln!(out, "  {} — {why}", shown(path))?;
        }
    }
    if let Some(h) = hosted {
        writeln!(
            out,
            "hosted search ({}): {verb} {} texts ({}); the service holds the code of {} files \
             ({}) readable, to search it{}",
            shown(&h.branch),
            h.texts_uploaded,
            bytes(h.bytes_uploaded),
            h.files,
            bytes(h.bytes),
            match h.skipped {
                0 => String::new(),
                n => format!("; {n} files not sent (unreadable, not UTF-8 or over 1 MiB)"),
            }
        )?;
    }
    if dry_run {
        writeln!(
            out,
            "Nothing was sent. Paths, code and vectors leave sealed with the org's key; the \
             service sees ids, sizes and which node holds which ids."
        )?;
        if *snippets {
            writeln!(
                out,
                "The org has syncs carry each chunk's code (sealed snippets), so teammates' \
                 org-wide search shows it."
            )?;
        }
        if hosted.is_some() {
            writeln!(
                out,
                "Except: an org admin turned hosted search on for this repository, so the code \
                 of the files above is also stored readable by the service (`scry sync enable \
                 --no-hosted-search` turns it off and deletes it)."
            )?;
        }
    }
    Ok(())
}

/// `scry sync status [--json]`.
pub fn status(root: &Path, json: bool, out: &mut impl Write) -> Result<()> {
    let index_dir = index_dir(root)?;
    let link = state::link(&index_dir)?;
    let last = state::ledger(&index_dir)?.pop();
    if json {
        let value = json!({"enabled": link.is_some(), "link": link, "last": last});
        writeln!(out, "{value}")?;
        return Ok(());
    }
    let Some(link) = link else {
        writeln!(out, "sync:      off (`scry sync enable` to turn it on)")?;
        return Ok(());
    };
    writeln!(
        out,
        "sync:      on → {} ({}) of org {} on {}",
        shown(&link.repo_name),
        link.repo,
        link.org,
        link.server
    )?;
    match last {
        Some(e) => writeln!(
            out,
            "last sync: generation {} of {}, {} objects / {} sent, {}",
            e.generation,
            shown(&e.line),
            e.objects_uploaded,
            bytes(e.bytes_uploaded),
            ago(e.at, sync::workspace::now())
        )?,
        None => writeln!(out, "last sync: never")?,
    }
    Ok(())
}

/// `scry sync log`: the ledger, one sync a line, oldest first.
pub fn log(root: &Path, json: bool, out: &mut impl Write) -> Result<()> {
    for e in state::ledger(&index_dir(root)?)? {
        if json {
            writeln!(out, "{}", serde_json::to_string(&e)?)?;
        } else {
            writeln!(
                out,
                "{}  {} {} gen {}  {} objects  {}  {} files ({} excluded)",
                utc(e.at),
                e.repo,
                shown(&e.line),
                e.generation,
                e.objects_uploaded,
                bytes(e.bytes_uploaded),
                e.files,
                e.excluded
            )?;
        }
    }
    Ok(())
}

fn index_dir(root: &Path) -> Result<PathBuf> {
    Ok(sync::workspace::index_dir(&index_root(root)?))
}

fn index_root(root: &Path) -> Result<PathBuf> {
    root.canonicalize()
        .with_context(|| format!("workspace {} does not exist", root.display()))
}

/// A failure in words that say what to do.
fn explain(e: sync::SyncError) -> anyhow::Error {
    use scry_client::sync::SyncError;
    match &e {
        SyncError::Service(c) if c.kind() == ErrorKind::QuotaExceeded => {
            anyhow::anyhow!("{c}: the sync was refused before anything was sent")
        }
        SyncError::Service(c) if c.kind() == ErrorKind::Unauthorized => {
            anyhow::anyhow!("the sign-in expired or was revoked: run `scry login` ({c})")
        }
        SyncError::Service(c) if c.kind() == ErrorKind::NotFound => anyhow::anyhow!(
            "the linked repository is gone or out of reach: run `scry sync enable` again ({c})"
        ),
        _ => e.into(),
    }
}
