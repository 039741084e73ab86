//! Scry's config files: `.scry.toml` in a workspace, then the user's
//! `$XDG_CONFIG_HOME/scry/config.toml`. A key set in the first wins.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// One config file's settings; unknown keys are refused so that a typo is not silently ignored.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `builtin`, `none`, or a model directory or file, relative to the config file.
    pub model: Option<String>,
    /// The account service's base URL, for sign-in and sync.
    pub server: Option<String>,
}

/// The config files that exist for a workspace at `root`, in order of precedence, each with
/// the folder it lies in.
pub fn configs(root: &Path) -> Result<Vec<(Config, PathBuf)>> {
    let candidates = [Some(root.join(".scry.toml")), user_config_path()];
    let mut found = Vec::new();
    for path in candidates.into_iter().flatten() {
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "{} is not a valid Scry config: {}",
                path.display(),
                e.message()
            ))
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        found.push((config, base));
    }
    Ok(found)
}

/// `$XDG_CONFIG_HOME/scry/config.toml` (or the platform's equivalent).
pub fn user_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("scry").join("config.toml"))
}
