//! `scry/search` with `"scope": "org"`: org-wide search (see `scry_client::sync::org`) from the
//! first workspace folder linked to an org. Results in that folder's own repository open its
//! files; the others name their repository and carry no URI (the code is not here). The
//! mirror and its searcher are kept between requests, refreshed at most once a minute.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scry_client::sync::{org, workspace};
use scry_core::live::Workspace;
use scry_core::model::ModelChoice;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::Uri;

use super::protocol::{SearchParams, SearchResult};

/// How long a refreshed mirror answers before the service is asked again: a search box asks
/// on every keystroke.
const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// The org mirror last opened, with its searcher, and when it was refreshed.
#[derive(Clone, Default)]
pub struct Kept(Arc<Mutex<Option<(PathBuf, org::OrgMirror, Instant)>>>);

impl Kept {
    pub fn search(
        &self,
        workspaces: &[Arc<Workspace>],
        model: Option<&str>,
        params: SearchParams,
        limit: usize,
    ) -> RpcResult<Vec<SearchResult>> {
        let root = workspaces
            .iter()
            .map(|w| w.root())
            .find(|root| matches!(workspace::link_of(root), Ok(Some(_))))
            .ok_or_else(|| {
                RpcError::invalid_params(
                    "no workspace folder is linked to an org: run `scry sync enable` in one to \
                     search its org",
                )
            })?;
        let failed = |e: &dyn std::fmt::Display| RpcError {
            code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
            message: e.to_string().into(),
            data: None,
        };
        let mut kept = self.0.lock().expect("org lock");
        let fresh = matches!(&*kept, Some((r, _, at)) if r == root && at.elapsed() < REFRESH_EVERY);
        if !fresh {
            let mut mirror = org::open(root).map_err(|e| failed(&e))?;
            let refreshed = mirror
                .refresh(root, &mut |_, _| {})
                .map_err(|e| failed(&e))?;
            if let Some(why) = &refreshed.offline {
                tracing::warn!("org search from the copy kept here: {why}");
            }
            *kept = Some((root.to_path_buf(), mirror, Instant::now()));
        }
        let (_, mirror, _) = kept.as_mut().expect("just kept");
        let model = ModelChoice::resolve(model, root).map_err(|e| failed(&e))?;
        let asked = org::Asked {
            query: params.query,
            limit,
            lang: params.lang,
            glob: params.glob,
            repos: params.repos,
        };
        let hits = mirror
            .search(root, model.shared(), &asked)
            .map_err(|e| failed(&e))?;
        Ok(hits
            .into_iter()
            .map(|h| {
                let uri = h.local.as_deref().and_then(Uri::from_file_path);
                let mut result = SearchResult::new(uri, h.hit);
                result.repo = Some(h.repo);
                result
            })
            .collect())
    }
}
