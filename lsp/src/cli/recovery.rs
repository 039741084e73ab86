//! `scry sync recovery-key` and `scry sync recover`: the org's data key written down by an
//! owner, and restored from it on a new device when no device that held it is left (without
//! it, what was synced cannot be read again, by anyone).

use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail};
use scry_client::api::Role;
use scry_client::credentials;
use scry_client::sealing::OrgKey;
use scry_client::sync::{self, keys};

use super::account::{pick_org, runtime, signed_in};
use super::output::shown;

/// `scry sync recovery-key`: the key on `out`, what it is for on `err`. Owners only, once per
/// key epoch (the service records it before anything is printed).
pub fn print(
    server: &str,
    org: Option<&str>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<()> {
    if credentials::EnvKey::from_env().is_some() {
        bail!("a recovery key is for an org's owner: unset SCRY_API_KEY and `scry login`");
    }
    let client = signed_in(server)?;
    let runtime = runtime()?;
    let org = runtime.block_on(pick_org(&client, org))?;
    let role = runtime
        .block_on(client.orgs())?
        .into_iter()
        .find(|m| m.org.id == org)
        .map(|m| m.role);
    if role != Some(Role::Owner) {
        bail!("only an owner of the org writes down its recovery key");
    }
    let key = sync::workspace::issue_recovery_key(&runtime, &client, server, &org)
        .context("no recovery key was printed")?;
    writeln!(out, "{}", *key.to_recovery())?;
    writeln!(
        err,
        "This is the recovery key of org {org}'s data key (epoch {}, fingerprint {}). Keep it \
         offline, like a password: with it and a sign-in, anyone reads what the org syncs. If \
         every device that holds the key is lost, `scry sync recover` restores it from this. \
         It is printed once: write it down now. When the org moves to a new key (a member or \
         key removed), write down the new one.",
        key.epoch(),
        key.fingerprint()
    )?;
    Ok(())
}

/// `scry sync recover`: reads a recovery key from `input` (one line: never an argument, which
/// shell history would keep) and restores the org's key on this device.
pub fn recover(
    server: &str,
    org: Option<&str>,
    input: &mut impl BufRead,
    err: &mut impl Write,
) -> Result<()> {
    let client = signed_in(server)?;
    let runtime = runtime()?;
    let org = runtime.block_on(pick_org(&client, org))?;
    writeln!(err, "Recovery key for org {}:", shown(&org))?;
    let mut line = zeroize::Zeroizing::new(String::new());
    input.read_line(&mut line)?;
    let Some(key) = OrgKey::from_recovery(&line) else {
        bail!("that is not a recovery key (a typo? its checksum does not match)");
    };
    let (device, label) = match credentials::EnvKey::from_env() {
        Some(env) => (env.device_key(), "API key".to_string()),
        None => (credentials::device_key(server)?.0, keys::device_label()),
    };
    runtime
        .block_on(keys::recover(&client, &org, &device, &label, &key))
        .context("cannot restore the org's key")?;
    if credentials::EnvKey::from_env().is_none() {
        credentials::save_org_key(server, &org, &key)?;
    }
    writeln!(
        err,
        "Restored org {}'s data key on this device (fingerprint {}); `scry sync` works here again",
        shown(&org),
        key.fingerprint()
    )?;
    Ok(())
}
