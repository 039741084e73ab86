//! Scry's desktop app: a thin Tauri shell over the shared crates. [`commands`] are the page's
//! calls, each a few lines over `scry-client` or `scry-core`; [`error::CommandError`] is the
//! one error they answer with; [`state::AppState`] holds the server and the live workspaces.
//! [`app`] wires them into any runtime, so tests drive the same app with Tauri's mock
//! runtime.

pub mod background;
pub mod commands;
pub mod error;
pub mod os;
pub mod settings;
pub mod state;

use std::sync::Arc;

use tauri::{Emitter, Manager, Runtime};

use crate::state::AppState;

/// The app on `builder` with `context`: its commands, its state, the kept workspaces reopened.
/// The app runs it with Tauri's runtime; tests with the mock runtime.
pub fn app<R: Runtime>(
    builder: tauri::Builder<R>,
    context: tauri::Context<R>,
) -> Result<tauri::App<R>, Box<dyn std::error::Error>> {
    let app = builder
        .invoke_handler(tauri::generate_handler![
            commands::account::account_status,
            commands::account::sign_in_with_password,
            commands::account::start_device_sign_in,
            commands::account::sign_out,
            commands::account::open_server_page,
            commands::orgs::create_org,
            commands::orgs::delete_org,
            commands::orgs::leave_org,
            commands::orgs::members,
            commands::orgs::set_member_role,
            commands::orgs::remove_member,
            commands::orgs::invitations,
            commands::orgs::invite,
            commands::orgs::revoke_invitation,
            commands::orgs::accept_invitation,
            commands::data_key::data_key,
            commands::data_key::take_data_key,
            commands::data_key::recovery_key,
            commands::keys::api_keys,
            commands::keys::create_api_key,
            commands::keys::revoke_api_key,
            commands::usage::plan,
            commands::usage::audit,
            commands::usage::export_org,
            commands::sync::sync_state,
            commands::sync::sync_preview,
            commands::sync::enable_sync,
            commands::sync::sync_now,
            commands::sync::sync_ledger,
            commands::sync::disable_sync,
            commands::sync::account_repos,
            commands::settings::settings,
            commands::settings::save_settings,
            commands::settings::open_result,
            commands::workspaces::workspaces,
            commands::workspaces::add_workspace,
            commands::workspaces::remove_workspace,
            commands::workspaces::reindex_workspace,
            commands::workspaces::search,
            commands::workspaces::search_org,
            commands::sync::set_hosted_search,
        ])
        .build(context)?;
    let state = AppState::load()?;
    let handle = app.handle().clone();
    state.set_emitter(Arc::new(move |name: &str, payload| {
        if let Err(e) = handle.emit(name, payload) {
            tracing::warn!("cannot send the {name} event: {e}");
        }
    }));
    let cues = state.take_cue_receiver();
    let roots = state.kept_roots();
    app.manage(state);
    // Off the main thread: a folder on a mount that stopped answering must not hold the
    // window. Each one shows up on the page with its first status.
    let handle = app.handle().clone();
    tauri::async_runtime::spawn_blocking(move || {
        let state = handle.state::<AppState>();
        for root in roots {
            match commands::workspaces::Opener::of(&state).open(&root) {
                Ok(workspace) => {
                    state
                        .workspaces()
                        .insert(workspace.root().to_path_buf(), Arc::new(workspace));
                }
                Err(e) => tracing::warn!("cannot reopen {}: {}", root.display(), e.message),
            }
        }
    });
    tauri::async_runtime::spawn(background::run(app.handle().clone(), cues));
    Ok(app)
}

/// Runs the app.
pub fn run() {
    tracing_subscriber_init();
    let builder = os::with_desktop(tauri::Builder::default());
    match app(builder, tauri::generate_context!()) {
        Ok(app) => {
            if let Err(e) = os::setup(&app) {
                tracing::warn!("the tray, shortcut or notifications are not available: {e}");
            }
            app.run(|_, _| {})
        }
        Err(e) => {
            eprintln!("scry-desktop: cannot start: {e}");
            std::process::exit(1);
        }
    }
}

/// Logs to stderr, `RUST_LOG` filtering (warnings by default).
fn tracing_subscriber_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
