//! What the app does with the desktop around it: one instance (a second launch, or a
//! `scry://` link, goes to the running one), the window's size and place remembered, a tray
//! icon that shows the sync state with Search…, Sync now, Open and Quit, a global shortcut
//! to search, notifications when a first sync finishes or a sync fails, and `scry://` links:
//!
//! - `scry://search?q=TEXT` shows the search screen with `TEXT` searched;
//! - `scry://open?root=DIR&path=FILE&line=N` opens a result of an open workspace in the
//!   editor the settings name.
//!
//! Only the real app has these ([`with_desktop`] and [`setup`] in `run`); the commands work
//! the same without them, as the tests run them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Emitter, Listener, Manager, Runtime};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, ShortcutState};
use tauri_plugin_notification::NotificationExt;

use crate::commands;
use crate::settings::Settings;
use crate::state::AppState;

/// The global shortcut that brings up search.
pub const SEARCH_SHORTCUT: &str = "CommandOrControl+Shift+Space";

/// `builder` with the plugins the desktop needs: one instance, window state, notifications,
/// global shortcuts.
pub fn with_desktop<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            show(app);
            follow_args(app, &argv);
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_global_shortcut::Builder::new().build())
}

/// The tray, the shortcut, notifications of syncs, and the link this process was started with.
pub fn setup<R: Runtime>(app: &tauri::App<R>) -> tauri::Result<()> {
    let tray = tray(app)?;
    let handle = app.handle().clone();
    // Whether the tooltip says syncing: set by a sync's first progress, cleared at its end.
    let syncing = Arc::new(AtomicBool::new(false));
    {
        let (tray, syncing) = (tray.clone(), syncing.clone());
        app.listen_any("sync-progress", move |_| {
            if !syncing.swap(true, Ordering::Relaxed) {
                let _ = tray.set_tooltip(Some("Scry: syncing"));
            }
        });
    }
    app.listen_any("sync", move |event| {
        syncing.store(false, Ordering::Relaxed);
        let Ok(done) = serde_json::from_str::<serde_json::Value>(event.payload()) else {
            return;
        };
        let name = done["view"]["repo_name"]
            .as_str()
            .unwrap_or("a workspace")
            .to_string();
        let (tooltip, note) = match done["outcome"].as_str() {
            Some("failed") => {
                let why = done["error"]["message"].as_str().unwrap_or("").to_string();
                (
                    format!("Scry: sync failed ({why})"),
                    Some((format!("The sync of {name} failed"), why)),
                )
            }
            _ if done["generation"] == 1 => {
                let sent = done["sent"].as_str().unwrap_or("").to_string();
                (
                    "Scry: synced".into(),
                    Some((
                        format!("{name} is on the account"),
                        format!("The first sync sent {sent}, sealed."),
                    )),
                )
            }
            _ => ("Scry: synced".into(), None),
        };
        let _ = tray.set_tooltip(Some(tooltip));
        if let Some((title, body)) = note
            && let Err(e) = handle
                .notification()
                .builder()
                .title(title)
                .body(body)
                .show()
        {
            tracing::debug!("no notification: {e}");
        }
    });
    let shortcut = app
        .global_shortcut()
        .on_shortcut(SEARCH_SHORTCUT, |app, _, event| {
            if event.state == ShortcutState::Pressed {
                navigate(app, "search", None);
            }
        });
    if let Err(e) = shortcut {
        tracing::warn!("the search shortcut {SEARCH_SHORTCUT} is not available: {e}");
    }
    let argv: Vec<String> = std::env::args().collect();
    follow_args(app.handle(), &argv);
    Ok(())
}

fn tray<R: Runtime>(app: &tauri::App<R>) -> tauri::Result<TrayIcon<R>> {
    let paused = app.state::<AppState>().settings().pause_sync;
    let pause = CheckMenuItem::with_id(app, "pause", "Pause sync", true, paused, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &MenuItem::with_id(app, "search", "Search…", true, None::<&str>)?,
            &MenuItem::with_id(app, "sync", "Sync now", true, None::<&str>)?,
            &pause,
            &MenuItem::with_id(app, "open", "Open Scry", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id("scry")
        .tooltip("Scry: idle")
        .menu(&menu)
        .on_menu_event(move |app, event| match event.id().as_ref() {
            "search" => navigate(app, "search", None),
            "sync" => commands::sync::start_all(&app.state::<AppState>()),
            "pause" => set_paused(app, pause.is_checked().unwrap_or(false)),
            "open" => show(app),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)
}

/// Pauses or resumes background sync, as the settings screen does.
fn set_paused<R: Runtime>(app: &AppHandle<R>, paused: bool) {
    let state = app.state::<AppState>();
    let settings = Settings {
        pause_sync: paused,
        ..state.settings().clone()
    };
    if let Err(e) = commands::settings::apply(&state, settings) {
        warn(app, e.message);
    }
}

/// Follows the first `scry://` link among a launch's arguments.
fn follow_args<R: Runtime>(app: &AppHandle<R>, argv: &[String]) {
    if let Some(link) = argv.iter().skip(1).find(|a| a.starts_with("scry://")) {
        follow(app, link);
    }
}

/// Follows a `scry://` link; one it does not know is logged and shown as a warning.
pub fn follow<R: Runtime>(app: &AppHandle<R>, link: &str) {
    let Ok(url) = url::Url::parse(link) else {
        return warn(app, format!("{link} is not a link Scry understands"));
    };
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    match url.host_str() {
        Some("search") => navigate(app, "search", query("q")),
        Some("open") => {
            let (Some(root), Some(path)) = (query("root"), query("path")) else {
                return warn(app, format!("{link} names no root and path"));
            };
            let line = query("line").and_then(|l| l.parse().ok()).unwrap_or(1);
            let state = app.state::<AppState>();
            if let Err(e) =
                commands::settings::open_in_editor(&state, Path::new(&root), &path, line)
            {
                warn(app, e.message);
            }
        }
        _ => warn(
            app,
            format!("{link} is not a link Scry understands (scry://search, scry://open)"),
        ),
    }
}

/// Shows the main window, in front.
fn show<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Shows the window on `screen` (the page listens for `navigate`), with `query` searched.
fn navigate<R: Runtime>(app: &AppHandle<R>, screen: &str, query: Option<String>) {
    show(app);
    let _ = app.emit(
        "navigate",
        serde_json::json!({"screen": screen, "query": query}),
    );
}

fn warn<R: Runtime>(app: &AppHandle<R>, message: String) {
    tracing::warn!("{message}");
    let _ = app.emit("warning", serde_json::Value::String(message));
}
