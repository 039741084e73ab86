//! Which embedding model a workspace uses: a name given by the user (a flag, an editor
//! setting), else a config file, else the model compiled into the binary. Every shell (the
//! CLI, the language server, the desktop app) resolves it the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{BertEmbedder, Embedder, Error, Result, StaticModel};

pub enum ModelChoice {
    /// No model: BM25 and the ranking layer only.
    Lexical,
    /// The static code model compiled into this binary: the default.
    Builtin(&'static StaticModel),
    /// A model from disk: a transformer directory or a static model file.
    Loaded(Arc<dyn Embedder>),
}

impl ModelChoice {
    /// The flag (or `SCRY_MODEL`, which clap folds into it) wins, then the workspace's
    /// config, then the user's, then the built-in model.
    pub fn resolve(flag: Option<&str>, root: &Path) -> Result<Self> {
        match flag {
            Some(value) => {
                let here = std::env::current_dir().map_err(|e| Error::io(".", e))?;
                Self::named(value, &here)
            }
            None => Self::configured(root),
        }
    }

    /// The workspace's config, then the user's, then the built-in model.
    pub fn configured(root: &Path) -> Result<Self> {
        match config_model(root)? {
            Some((value, base)) => Self::named(&value, &base),
            None => Ok(ModelChoice::Builtin(StaticModel::builtin()?)),
        }
    }

    /// `builtin`, `none`, or a model directory or file (relative paths from `base`).
    pub fn named(value: &str, base: &Path) -> Result<Self> {
        if value.eq_ignore_ascii_case("none") {
            return Ok(ModelChoice::Lexical);
        }
        if value.is_empty() || value.eq_ignore_ascii_case("builtin") {
            return Ok(ModelChoice::Builtin(StaticModel::builtin()?));
        }
        let path = base.join(value);
        if !path.exists() {
            return Err(Error::Config(format!(
                "model {} does not exist; give `builtin` (the default), `none`, a model directory or a static model file",
                path.display()
            )));
        }
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let name = path
                .file_stem()
                .map_or("model".into(), |n| n.to_string_lossy().into_owned());
            let model = StaticModel::from_bytes(&name, &bytes)
                .map_err(|e| Error::Config(format!("model file {}: {e}", path.display())))?;
            return Ok(ModelChoice::Loaded(Arc::new(model)));
        }
        Ok(ModelChoice::Loaded(Arc::new(BertEmbedder::load(&path)?)))
    }

    /// A handle on the model for searchers, which keep it as long as they live: a language
    /// server's settings switch drops the old model with the last searcher that used it.
    pub fn shared(&self) -> Option<Arc<dyn Embedder>> {
        match self {
            ModelChoice::Lexical => None,
            ModelChoice::Builtin(model) => Some(Arc::new(*model)),
            ModelChoice::Loaded(model) => Some(model.clone()),
        }
    }

    pub fn embedder(&self) -> Option<&dyn Embedder> {
        match self {
            ModelChoice::Lexical => None,
            ModelChoice::Builtin(model) => Some(*model),
            ModelChoice::Loaded(model) => Some(model.as_ref()),
        }
    }
}

fn config_model(root: &Path) -> Result<Option<(String, PathBuf)>> {
    Ok(crate::config::configs(root)?
        .into_iter()
        .find_map(|(config, base)| Some((config.model?, base))))
}
