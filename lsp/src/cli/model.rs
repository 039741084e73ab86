//! Which embedding model a command uses: `--model`, `SCRY_MODEL`, or a config file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use scry_core::{BertEmbedder, Embedder};
use serde::Deserialize;

pub enum ModelChoice {
    /// No model: BM25 and the ranking layer only.
    Lexical,
    Bert(Box<BertEmbedder>),
}

/// `.scry.toml` in the workspace, or `$XDG_CONFIG_HOME/scry/config.toml`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    /// A model directory, relative to the config file, or `none`.
    model: Option<String>,
}

impl ModelChoice {
    /// The flag (or `SCRY_MODEL`, which clap folds into it) wins, then the workspace's
    /// config, then the user's.
    pub fn resolve(flag: Option<&str>, root: &Path) -> Result<Self> {
        let chosen = match flag {
            Some(value) => Some((value.to_string(), std::env::current_dir()?)),
            None => config_model(root)?,
        };
        match chosen {
            None => Ok(ModelChoice::Lexical),
            Some((value, _)) if value.eq_ignore_ascii_case("none") || value.is_empty() => {
                Ok(ModelChoice::Lexical)
            }
            Some((value, base)) => {
                let dir = base.join(&value);
                let embedder = BertEmbedder::load(&dir)?;
                Ok(ModelChoice::Bert(Box::new(embedder)))
            }
        }
    }

    pub fn embedder(&self) -> Option<&dyn Embedder> {
        match self {
            ModelChoice::Lexical => None,
            ModelChoice::Bert(model) => Some(model.as_ref()),
        }
    }
}

fn config_model(root: &Path) -> Result<Option<(String, PathBuf)>> {
    let candidates = [
        Some(root.join(".scry.toml")),
        dirs::config_dir().map(|d| d.join("scry").join("config.toml")),
    ];
    for path in candidates.into_iter().flatten() {
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a valid Scry config: {}",
                path.display(),
                e.message()
            )
        })?;
        if let Some(model) = config.model {
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            return Ok(Some((model, base)));
        }
    }
    Ok(None)
}
