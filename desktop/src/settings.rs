//! The person's choices, kept in `$XDG_CONFIG_HOME/scry/desktop.json`: the account service,
//! the editor a result opens in, the model and exclusions of the workspaces' indexes, and
//! whether the app starts at login (an XDG autostart entry).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{CommandError, CommandResult};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct Settings {
    /// The account service; empty: `SCRY_SERVER` or the CLI's configuration.
    pub server: String,
    /// The command that opens a result, `{file}` and `{line}` replaced (`code --goto
    /// {file}:{line}`); empty: the system's default application for the file.
    pub editor: String,
    /// `builtin` (the static code model) or `none` (lexical search only); empty: as
    /// configured for the CLI.
    pub model: String,
    /// Globs (gitignore syntax) kept out of every workspace's index.
    pub exclude: Vec<String>,
    pub start_at_login: bool,
    /// Linked workspaces stop syncing as they change (`Sync now` still does).
    pub pause_sync: bool,
}

impl Settings {
    /// The settings at `path`; the defaults when there are none or they cannot be read (a
    /// damaged file is kept aside as `.damaged`, not lost).
    pub fn load(path: &Path) -> Settings {
        let Ok(bytes) = std::fs::read(path) else {
            return Settings::default();
        };
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("{} is damaged ({e}); using the defaults", path.display());
            let _ = std::fs::rename(path, path.with_extension("json.damaged"));
            Settings::default()
        })
    }

    /// Checks the settings, then writes them atomically (a crash keeps the old ones).
    pub fn save(&self, path: &Path) -> CommandResult<()> {
        self.check()?;
        let io = |e: std::io::Error| {
            CommandError::new(
                "io",
                format!("cannot keep the settings in {}: {e}", path.display()),
            )
        };
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
        let temp = path.with_extension("json.tmp");
        std::fs::write(
            &temp,
            serde_json::to_vec_pretty(self).expect("settings serialise"),
        )
        .map_err(io)?;
        std::fs::rename(&temp, path).map_err(io)
    }

    fn check(&self) -> CommandResult<()> {
        let invalid = |m: String| Err(CommandError::new("invalid", m));
        let server = self.server.trim();
        let web = ["http://", "https://"]
            .iter()
            .any(|p| server.starts_with(p));
        if !server.is_empty() && !web {
            return invalid(format!(
                "the server must be an http:// or https:// address, not {server:?}"
            ));
        }
        if !self.editor.trim().is_empty() && shlex::split(&self.editor).is_none_or(|w| w.is_empty())
        {
            return invalid(format!(
                "the editor command {:?} has an unclosed quote",
                self.editor
            ));
        }
        if !["", "builtin", "none"].contains(&self.model.as_str()) {
            return invalid(format!(
                "the model is builtin or none, not {:?}",
                self.model
            ));
        }
        Ok(())
    }

    /// The live index's settings these choices make.
    pub fn index(&self) -> scry_core::live::Settings {
        scry_core::live::Settings {
            model: (!self.model.is_empty()).then(|| self.model.clone()),
            exclude: self
                .exclude
                .iter()
                .filter(|g| !g.trim().is_empty())
                .cloned()
                .collect(),
        }
    }

    /// The command that opens `file` at `line`: the editor's words with the placeholders
    /// replaced (a file not named in them goes last), or the system's opener.
    pub fn open_command(&self, file: &Path, line: u32) -> Vec<String> {
        let file = file.display().to_string();
        let Some(words) = shlex::split(&self.editor).filter(|w| !w.is_empty()) else {
            return vec!["xdg-open".into(), file];
        };
        let mut named = false;
        let mut command: Vec<String> = words
            .iter()
            .map(|w| {
                named |= w.contains("{file}");
                w.replace("{file}", &file)
                    .replace("{line}", &line.to_string())
            })
            .collect();
        if !named {
            command.push(file);
        }
        command
    }
}

/// Where the settings are kept.
pub fn path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("scry").join("desktop.json"))
}

/// Adds or removes the XDG autostart entry that starts the app at login.
pub fn set_start_at_login(on: bool) -> CommandResult<()> {
    let Some(dir) = dirs::config_dir().map(|d| d.join("autostart")) else {
        return Ok(());
    };
    let entry = dir.join("dev.scry.desktop.desktop");
    let io = |e: std::io::Error| {
        CommandError::new("io", format!("cannot change {}: {e}", entry.display()))
    };
    if !on {
        return match std::fs::remove_file(&entry) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
        };
    }
    let exe = std::env::current_exe().map_err(io)?;
    std::fs::create_dir_all(&dir).map_err(io)?;
    let text = format!(
        "[Desktop Entry]\nType=Application\nName=Scry\nComment=Semantic code search, and its account\nExec=\"{}\"\nIcon=scry-desktop\nX-GNOME-Autostart-enabled=true\n",
        exe.display()
    );
    std::fs::write(&entry, text).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_open_in_the_chosen_editor_or_the_system_default() {
        let file = Path::new("/src/my project/a.rs");
        let mut s = Settings::default();
        assert_eq!(
            s.open_command(file, 7),
            ["xdg-open", "/src/my project/a.rs"]
        );
        s.editor = "code --goto {file}:{line}".into();
        assert_eq!(
            s.open_command(file, 7),
            ["code", "--goto", "/src/my project/a.rs:7"]
        );
        s.editor = "x-terminal-emulator -e nvim +{line}".into();
        assert_eq!(
            s.open_command(file, 7),
            [
                "x-terminal-emulator",
                "-e",
                "nvim",
                "+7",
                "/src/my project/a.rs"
            ]
        );
    }

    #[test]
    fn bad_settings_are_refused_with_what_is_wrong() {
        let bad = |s: Settings| s.check().unwrap_err().message;
        let server = Settings {
            server: "ftp://x".into(),
            ..Default::default()
        };
        assert!(bad(server).contains("http://"));
        let editor = Settings {
            editor: "code 'unclosed".into(),
            ..Default::default()
        };
        assert!(bad(editor).contains("unclosed quote"));
        let model = Settings {
            model: "gpt".into(),
            ..Default::default()
        };
        assert!(bad(model).contains("builtin or none"));
        assert!(Settings::default().check().is_ok());
    }

    #[test]
    fn a_damaged_file_gives_the_defaults_and_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("desktop.json");
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
        assert!(dir.path().join("desktop.json.damaged").exists());
        let chosen = Settings {
            editor: "hx {file}:{line}".into(),
            ..Default::default()
        };
        chosen.save(&path).unwrap();
        assert_eq!(Settings::load(&path), chosen);
    }
}
