//! Signing in and out (device flow, or email and password against a self-hosted server) and
//! who is signed in. The session goes to the same credential entry the CLI and the language
//! server read.

use scry_client::Client;
use scry_client::api::OrgMembership;
use scry_client::credentials::{self, Place};
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::blocking;
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// How the app names itself in the device flow.
const CLIENT_ID: &str = "scry-desktop";

#[derive(Clone, Debug, Serialize, TS)]
pub struct AccountStatus {
    pub server: String,
    /// `None` when signed out.
    pub email: Option<String>,
    pub orgs: Vec<OrgView>,
    /// Where the session is kept: `keyring`, or the fallback file's path and why.
    pub credential: Option<String>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub role: String,
}

impl From<&OrgMembership> for OrgView {
    fn from(m: &OrgMembership) -> OrgView {
        OrgView {
            id: m.org.id.clone(),
            name: m.org.name.clone(),
            tier: m.org.tier.clone(),
            role: m.role.as_str().into(),
        }
    }
}

/// A device sign-in under way: show the code, open the page; a `sign-in` event says how it
/// ended.
#[derive(Clone, Debug, Serialize, TS)]
pub struct DeviceStart {
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in_s: u32,
}

/// The `sign-in` event.
#[derive(Clone, Debug, Serialize, TS)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SignInEvent {
    SignedIn { email: String },
    Failed { error: CommandError },
}

/// Who is signed in to the app's server, and their orgs.
#[tauri::command]
pub async fn account_status(state: State<'_, AppState>) -> CommandResult<AccountStatus> {
    let server = state.server()?;
    let stored = {
        let server = server.clone();
        blocking(move || Ok(credentials::load(&server)?)).await?
    };
    let Some((token, place)) = stored else {
        return Ok(signed_out(server));
    };
    let me = client(&server, Some(&token))?.me().await?;
    Ok(AccountStatus {
        email: Some(me.user.email),
        orgs: me.orgs.iter().map(OrgView::from).collect(),
        credential: Some(describe(&place)),
        server,
    })
}

/// Signs in with an email and password (a self-hosted server without a browser flow).
#[tauri::command]
pub async fn sign_in_with_password(
    state: State<'_, AppState>,
    email: String,
    password: String,
) -> CommandResult<AccountStatus> {
    let server = state.server()?;
    let session = client(&server, None)?.login(&email, &password).await?;
    keep(&server, session.token).await?;
    account_status(state).await
}

/// Starts a device sign-in; it completes in the background (the `sign-in` event).
#[tauri::command]
pub async fn start_device_sign_in(state: State<'_, AppState>) -> CommandResult<DeviceStart> {
    let server = state.server()?;
    let anonymous = client(&server, None)?;
    let start = anonymous.device_code(CLIENT_ID).await?;
    let shown = DeviceStart {
        user_code: start.user_code.clone(),
        verification_uri: start.verification_uri.clone(),
        verification_uri_complete: start.verification_uri_complete.clone(),
        expires_in_s: start.expires_in.max(0) as u32,
    };
    open_in_browser(&shown.verification_uri_complete);
    let emit = state.emitter();
    tauri::async_runtime::spawn(async move {
        let event = match finish_device_sign_in(&anonymous, &server, &start).await {
            Ok(email) => SignInEvent::SignedIn { email },
            Err(error) => SignInEvent::Failed { error },
        };
        emit(
            "sign-in",
            serde_json::to_value(event).expect("events serialise"),
        );
    });
    Ok(shown)
}

/// Opens a page of the app's server (the device-flow page) in the person's browser.
#[tauri::command]
pub fn open_server_page(state: State<'_, AppState>, url: String) -> CommandResult<()> {
    let server = state.server()?;
    if !url.starts_with(server.trim_end_matches('/')) {
        return Err(CommandError::new(
            "invalid",
            format!("{url} is not a page of {server}"),
        ));
    }
    open_in_browser(&url);
    Ok(())
}

/// Shows `url` in the browser `BROWSER` names, else the desktop's (xdg-open); the page shows
/// the link too, so a desktop without a browser only costs a click.
fn open_in_browser(url: &str) {
    let browser = std::env::var("BROWSER").unwrap_or_else(|_| "xdg-open".into());
    let opened = std::process::Command::new(browser)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = opened {
        tracing::info!("cannot open the browser: {e}");
    }
}

/// Ends the session on the server (when it can be reached) and forgets it here.
#[tauri::command]
pub async fn sign_out(state: State<'_, AppState>) -> CommandResult<AccountStatus> {
    let server = state.server()?;
    let stored = {
        let server = server.clone();
        blocking(move || Ok(credentials::load(&server)?)).await?
    };
    if let Some((token, _)) = stored {
        // Offline or already revoked: the local copy goes anyway.
        let _ = client(&server, Some(&token))?.logout().await;
    }
    let forgotten = server.clone();
    blocking(move || Ok(credentials::delete(&forgotten).map(|_| ())?)).await?;
    Ok(signed_out(server))
}

async fn finish_device_sign_in(
    anonymous: &Client,
    server: &str,
    start: &scry_client::api::DeviceCodeResponse,
) -> CommandResult<String> {
    let token = anonymous.wait_for_device_approval(start).await?;
    let me = client(server, Some(&token))?.me().await?;
    keep(server, token).await?;
    Ok(me.user.email)
}

/// Keeps a session token in the credential store (or its fallback file).
async fn keep(server: &str, token: String) -> CommandResult<()> {
    let server = server.to_string();
    blocking(move || Ok(credentials::save(&server, &token).map(|_| ())?)).await
}

/// A client carrying the stored session of the app's server; `not_signed_in` without one.
pub(super) async fn session(state: &AppState) -> CommandResult<Client> {
    let server = state.server()?;
    let stored = {
        let server = server.clone();
        blocking(move || Ok(credentials::load(&server)?)).await?
    };
    let (token, _) = stored.ok_or_else(|| CommandError::not_signed_in(&server))?;
    client(&server, Some(&token))
}

pub(super) fn client(server: &str, token: Option<&str>) -> CommandResult<Client> {
    let builder = Client::builder(server);
    let builder = match token {
        Some(token) => builder.token(token),
        None => builder,
    };
    builder.build().map_err(CommandError::from)
}

fn signed_out(server: String) -> AccountStatus {
    AccountStatus {
        server,
        email: None,
        orgs: Vec::new(),
        credential: None,
    }
}

pub(super) fn describe(place: &Place) -> String {
    match place {
        Place::Keyring => "keyring".into(),
        Place::File { path, why } => format!("{} ({why})", path.display()),
    }
}
