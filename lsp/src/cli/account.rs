//! `scry login | logout | whoami`: signing this machine in to the account service.
//!
//! The server is `--server`, else `SCRY_SERVER`, else `server` in a config file, else the
//! service's default. An org API key in `SCRY_API_KEY` wins over the stored sign-in.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use scry_client::credentials::{self, Place};
use scry_client::{Client, ErrorKind};
use serde_json::json;

use super::output::shown;

/// The account service to talk to (the flag, which clap fills from `SCRY_SERVER` too).
pub fn server(flag: Option<String>) -> Result<String> {
    Ok(scry_client::configured_server(flag, Path::new("."))?)
}

/// How this client names itself in the device flow.
const CLIENT_ID: &str = "scry-cli";

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

/// A client acting for this machine on `server`: `SCRY_API_KEY`, else the stored sign-in.
pub(super) fn signed_in(server: &str) -> Result<Client> {
    let Some(token) = credentials::token_for(server)? else {
        bail!("not signed in to {server}: run `scry login` (or set SCRY_API_KEY)");
    };
    Ok(Client::builder(server).token(token).build()?)
}

/// Signs in through the device flow: shows a code and where to approve it, opens the browser
/// when there is one, waits for the approval, keeps the session token.
pub fn login(server: &str, open_browser: bool, err: &mut impl Write) -> Result<()> {
    let client = Client::builder(server).build()?;
    let runtime = runtime()?;
    let start = runtime
        .block_on(client.device_code(CLIENT_ID))
        .with_context(|| format!("cannot start signing in to {server}"))?;
    writeln!(
        err,
        "To sign in, open {}\nand check that it shows the code {}",
        shown(&start.verification_uri_complete),
        shown(&start.user_code)
    )?;
    if open_browser {
        open_in_browser(&start.verification_uri_complete);
    }
    writeln!(err, "Waiting for the approval… (Ctrl-C to give up)")?;
    let token = match runtime.block_on(client.wait_for_device_approval(&start)) {
        Ok(token) => token,
        Err(e) if e.code() == "access_denied" => bail!("the sign-in was denied"),
        Err(e) if e.code() == "expired_token" => {
            bail!("the code expired before it was approved: run `scry login` again")
        }
        Err(e) => return Err(e.into()),
    };
    let signed_in = Client::builder(server).token(&token).build()?;
    let me = runtime.block_on(signed_in.me())?;
    match credentials::save(server, &token)? {
        Place::Keyring => {}
        Place::File { path, why } => writeln!(
            err,
            "warning: {why}; the session is kept in {} (readable by you only)",
            path.display()
        )?,
    }
    writeln!(err, "Signed in to {server} as {}", shown(&me.user.email))?;
    Ok(())
}

/// Opens `url` in the desktop's browser, if there is a desktop; the URL is printed anyway.
fn open_in_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        "xdg-open"
    } else {
        return;
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Ends the stored session on the server and forgets it here.
pub fn logout(server: &str, err: &mut impl Write) -> Result<()> {
    let Some((token, _)) = credentials::load(server)? else {
        writeln!(err, "Not signed in to {server}")?;
        return Ok(());
    };
    let client = Client::builder(server).token(token).retries(0).build()?;
    match runtime()?.block_on(client.logout()) {
        Ok(()) => {}
        // Already over on the server: nothing to end there.
        Err(e) if e.kind() == ErrorKind::Unauthorized => {}
        Err(e) => writeln!(
            err,
            "warning: the session could not be ended on the server ({e}); it expires by itself"
        )?,
    }
    credentials::delete(server)?;
    writeln!(err, "Signed out of {server}")?;
    Ok(())
}

/// Who requests to `server` act as: the API key's org and role, or the signed-in user.
pub fn whoami(server: &str, json: bool, out: &mut impl Write) -> Result<()> {
    let runtime = runtime()?;
    if let Some(key) = credentials::EnvKey::from_env() {
        let client = Client::builder(server).token(key.token).build()?;
        let current = runtime
            .block_on(client.current_key())
            .context("SCRY_API_KEY was refused")?;
        if json {
            let value = json!({"server": server, "key": current.key, "org": current.org});
            writeln!(out, "{value}")?;
        } else {
            writeln!(
                out,
                "API key {} ({}) of org {} as {}, on {server}",
                shown(&current.key.name),
                shown(&current.key.prefix),
                shown(&current.org.name),
                current.key.role.as_str()
            )?;
        }
        return Ok(());
    }
    let Some((token, _)) = credentials::load(server)? else {
        bail!("not signed in to {server}: run `scry login` (or set SCRY_API_KEY)");
    };
    let client = Client::builder(server).token(token).build()?;
    let me = runtime.block_on(client.me()).map_err(|e| match e.kind() {
        ErrorKind::Unauthorized => {
            anyhow::anyhow!("the sign-in to {server} expired or was revoked: run `scry login`")
        }
        _ => e.into(),
    })?;
    if json {
        let value = json!({"server": server, "user": me.user, "orgs": me.orgs});
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "{} on {server}", shown(&me.user.email))?;
        for m in &me.orgs {
            writeln!(out, "  {} ({})", shown(&m.org.name), m.role.as_str())?;
        }
    }
    Ok(())
}

/// The organisation named, or the only one the credentials reach.
pub(super) async fn pick_org(client: &Client, org: Option<&str>) -> Result<String> {
    if let Ok(current) = client.current_key().await {
        return match org {
            Some(o) if o != current.org.id && o != current.org.name => {
                bail!("SCRY_API_KEY belongs to org {}, not {o}", current.org.name)
            }
            _ => Ok(current.org.id),
        };
    }
    let orgs = client.orgs().await?;
    let found: Vec<_> = orgs
        .iter()
        .filter(|m| org.is_none_or(|o| m.org.id == o || m.org.name == o))
        .collect();
    match (found.as_slice(), org) {
        ([one], _) => Ok(one.org.id.clone()),
        ([], Some(o)) => bail!("you are not a member of an org {o}"),
        ([], None) => {
            bail!("you are in no org yet: create one (the desktop app, or POST /v1/orgs)")
        }
        (_, _) => bail!(
            "you are in several orgs ({}): name one with --org",
            found
                .iter()
                .map(|m| m.org.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
