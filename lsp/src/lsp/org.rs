//! `scry/search` with `"scope": "org"`: org-wide search (see `scry_client::sync::org`) from the
//! first workspace folder linked to an org. Results in that folder's own repository open its
//! files; the others name their repository and carry no URI (the code is not here). The
//! mirror and its searcher are kept between requests ([`org::KeptMirror`]).

use std::sync::Arc;

use scry_client::sync::{SyncError, org};
use scry_core::live::Workspace;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::Uri;

use super::protocol::{SearchParams, SearchResult};

/// The org mirror last opened.
#[derive(Clone, Default)]
pub struct Kept(org::KeptMirror);

impl Kept {
    pub fn search(
        &self,
        workspaces: &[Arc<Workspace>],
        model: Option<&str>,
        params: SearchParams,
        limit: usize,
    ) -> RpcResult<Vec<SearchResult>> {
        let asked = org::Asked {
            query: params.query,
            limit,
            lang: params.lang,
            glob: params.glob,
            repos: params.repos,
        };
        let roots = workspaces.iter().map(|w| w.root());
        let (_, hits) = self.0.search(roots, model, &asked).map_err(|e| match e {
            SyncError::Conflict(m) => RpcError::invalid_params(m),
            e => RpcError {
                code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
                message: e.to_string().into(),
                data: None,
            },
        })?;
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
