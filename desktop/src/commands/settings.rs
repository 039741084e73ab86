//! The settings screen, and opening a result in the person's editor.

use std::path::{Path, PathBuf};

use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::settings::{self, Settings};
use crate::state::AppState;

#[tauri::command]
pub fn settings(state: State<'_, AppState>) -> Settings {
    state.settings().clone()
}

/// Checks and keeps the settings, and applies them: the open workspaces take the model and
/// exclusions, the autostart entry follows `start_at_login`, the next request goes to the
/// server.
#[tauri::command]
pub fn save_settings(state: State<'_, AppState>, settings: Settings) -> CommandResult<Settings> {
    apply(&state, settings)
}

/// Keeps and applies `settings` (the settings screen, the tray's pause).
pub fn apply(state: &AppState, settings: Settings) -> CommandResult<Settings> {
    if let Some(path) = settings::path() {
        settings.save(&path)?;
    }
    settings::set_start_at_login(settings.start_at_login)?;
    for workspace in state.workspaces().values() {
        workspace.set_settings(settings.index());
    }
    *state.settings() = settings.clone();
    Ok(settings)
}

/// Opens the file `path` of the open workspace `root` at `line`, with the editor the settings
/// name (or the system's default).
#[tauri::command]
pub fn open_result(
    state: State<'_, AppState>,
    root: String,
    path: String,
    line: u32,
) -> CommandResult<()> {
    open_in_editor(&state, Path::new(&root), &path, line)
}

/// Opens `path` of the open workspace `root` at `line` (the page's results, `scry://open`).
pub fn open_in_editor(state: &AppState, root: &Path, path: &str, line: u32) -> CommandResult<()> {
    let workspace = state.workspace(root)?;
    let file = inside(workspace.root(), path)?;
    let command = state.settings().open_command(&file, line);
    std::process::Command::new(&command[0])
        .args(&command[1..])
        .stdin(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| {
            CommandError::new(
                "editor",
                format!(
                    "cannot run {}: {e}; choose the editor in Settings",
                    command[0]
                ),
            )
        })
}

/// `path` under `root`, refused when it leads outside (the page only opens results).
fn inside(root: &Path, path: &str) -> CommandResult<PathBuf> {
    let file = root
        .join(path)
        .canonicalize()
        .map_err(|e| CommandError::new("not_found", format!("cannot open {path}: {e}")))?;
    if !file.starts_with(root) {
        return Err(CommandError::new(
            "invalid",
            format!("{path} is not inside {}", root.display()),
        ));
    }
    Ok(file)
}
