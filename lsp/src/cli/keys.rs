//! `scry keys create | list | revoke`: an org's API keys, for CI and scripts. A key made here
//! carries its own sync key (see `scry_client::credentials::EnvKey`), registered with the org
//! and handed the org's data key at once, so a CI job with only `SCRY_API_KEY` can sync.

use std::io::Write;

use anyhow::{Context, Result, bail};
use scry_client::api::{ApiKey, Role};
use scry_client::credentials;
use scry_client::sync::{self, SyncError};
use serde_json::json;

use super::account::{pick_org, runtime, signed_in};
use scry_client::display::ago;

use super::output::shown;

/// `scry keys create`: the key on `out` (once; nothing keeps it), what to do with it on `err`.
pub fn create(
    server: &str,
    org: Option<&str>,
    name: &str,
    role: Role,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<()> {
    if credentials::EnvKey::from_env().is_some() {
        // Every key traces back to a person (and the org's key is wrapped from their device).
        bail!("API keys are made by a signed-in person: unset SCRY_API_KEY and `scry login`");
    }
    let client = signed_in(server)?;
    let runtime = runtime()?;
    let org = runtime.block_on(pick_org(&client, org))?;
    // The org's key first: a failure here leaves no key behind.
    let org_key = match sync::workspace::org_key(&runtime, &client, server, &org) {
        Ok(key) => Some(key),
        Err(SyncError::KeyPending(_)) => None,
        Err(e) => return Err(e).context("cannot reach the org's data key"),
    };
    let created = runtime
        .block_on(client.create_key(&org, name, role))
        .with_context(|| format!("cannot create the API key {name}"))?;
    let provisioned = runtime.block_on(sync::keys::provision(
        &client,
        &org,
        &created.key,
        name,
        org_key.as_ref(),
    ));
    let secret = match provisioned {
        Ok(secret) => secret,
        Err(e) => {
            // A key CI could not sync with is worse than none: take it back.
            let _ = runtime.block_on(client.revoke_key(&org, &created.api_key.id));
            return Err(e).context("cannot give the new key its sync key; it was revoked");
        }
    };
    writeln!(out, "{}", *secret)?;
    writeln!(
        err,
        "Created API key {} ({}, {}) of org {org}. It is shown once: keep it in your CI's \
         secrets as SCRY_API_KEY. The part after the last '.' is its sync key, which the \
         service never sees.",
        shown(name),
        shown(&created.api_key.prefix),
        role.as_str()
    )?;
    if org_key.is_none() {
        writeln!(
            err,
            "note: this device does not hold the org's data key yet; the key can sync once a \
             device that holds it runs `scry sync`"
        )?;
    }
    Ok(())
}

/// `scry keys list`: the org's keys (never the keys themselves).
pub fn list(server: &str, org: Option<&str>, json: bool, out: &mut impl Write) -> Result<()> {
    let client = signed_in(server)?;
    let runtime = runtime()?;
    let org = runtime.block_on(pick_org(&client, org))?;
    let keys = runtime.block_on(client.keys(&org))?;
    if json {
        writeln!(out, "{}", json!(keys))?;
        return Ok(());
    }
    let now = scry_client::sync::workspace::now();
    for k in &keys {
        let used = k
            .last_used_at
            .map_or_else(|| "never used".into(), |t| format!("used {}", ago(t, now)));
        writeln!(
            out,
            "{}  {:<24} {:<7} {used}",
            shown(&k.prefix),
            shown(&k.name),
            k.role.as_str()
        )?;
    }
    Ok(())
}

/// `scry keys revoke KEY`: by id, prefix or name; the org moves to a new data key epoch if
/// the key held the data key.
pub fn revoke(server: &str, org: Option<&str>, which: &str, err: &mut impl Write) -> Result<()> {
    let client = signed_in(server)?;
    let runtime = runtime()?;
    let org = runtime.block_on(pick_org(&client, org))?;
    let keys = runtime.block_on(client.keys(&org))?;
    let key = find(&keys, which)?;
    runtime
        .block_on(client.revoke_key(&org, &key.id))
        .with_context(|| format!("cannot revoke {}", shown(&key.name)))?;
    writeln!(
        err,
        "Revoked API key {} ({})",
        shown(&key.name),
        shown(&key.prefix)
    )?;
    Ok(())
}

fn find<'k>(keys: &'k [ApiKey], which: &str) -> Result<&'k ApiKey> {
    let found: Vec<&ApiKey> = keys
        .iter()
        .filter(|k| k.id == which || k.name == which || k.prefix == which)
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => bail!("no API key {} in this org", shown(which)),
        _ => bail!(
            "several API keys are called {}: name one by its prefix",
            shown(which)
        ),
    }
}
