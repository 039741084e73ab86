//! Hosted search's requests (`scry_api::search` describes them): turning it on or off,
//! publishing the code it serves, and searching the org with it.

use reqwest::{Method, StatusCode};
use scry_api::*;

use crate::{Body, Client, Result, api_error, decode};

/// What a publication came to.
#[derive(Clone, Debug)]
pub enum HostedPublished {
    Done(HostedState),
    /// The service lacks these texts; nothing changed.
    Missing(Vec<String>),
}

impl Client {
    /// Turns hosted search on for `branch`, or off (`None`: the service deletes the code).
    pub async fn set_hosted_search(
        &self,
        org: &str,
        repo: &str,
        branch: Option<&str>,
    ) -> Result<Repo> {
        let body = HostedSearch {
            enabled: branch.is_some(),
            branch: branch.map(String::from),
        };
        let path = ["v1", "orgs", org, "repos", repo, "hosted-search"];
        self.call(Method::PUT, &path, None, Body::Json(&body)).await
    }

    /// What hosted search serves of a repository.
    pub async fn hosted_state(&self, org: &str, repo: &str) -> Result<HostedState> {
        let path = ["v1", "orgs", org, "repos", repo, "hosted"];
        self.call(Method::GET, &path, None, Body::<()>::None).await
    }

    /// The texts of `ids` the service lacks (at most `MAX_IDS` per call).
    pub async fn hosted_missing(
        &self,
        org: &str,
        repo: &str,
        ids: &[String],
    ) -> Result<Vec<String>> {
        let body = ObjectIds { ids: ids.to_vec() };
        let path = ["v1", "orgs", org, "repos", repo, "hosted", "missing"];
        let answer: Missing = self
            .call(Method::POST, &path, None, Body::ReplayableJson(&body))
            .await?;
        Ok(answer.missing)
    }

    /// Uploads texts (at most `MAX_BATCH_BYTES`); sending one again is a no-op.
    pub async fn put_hosted_blobs(
        &self,
        org: &str,
        repo: &str,
        blobs: &HostedBlobs,
    ) -> Result<StoredObjects> {
        let path = ["v1", "orgs", org, "repos", repo, "hosted", "blobs"];
        self.call(Method::PUT, &path, None, Body::Json(blobs)).await
    }

    /// Makes `tree` the code hosted search serves.
    pub async fn publish_hosted(
        &self,
        org: &str,
        repo: &str,
        tree: &HostedTree,
    ) -> Result<HostedPublished> {
        let path = ["v1", "orgs", org, "repos", repo, "hosted", "tree"];
        let answer = self
            .send_raw(Method::PUT, &path, None, Body::Json(tree))
            .await?;
        if answer.status.is_success() {
            return decode(&answer.url, &answer.body).map(HostedPublished::Done);
        }
        if answer.status == StatusCode::CONFLICT
            && let Ok(c) = serde_json::from_slice::<HostedConflict>(&answer.body)
            && c.error.code == "missing_objects"
        {
            return Ok(HostedPublished::Missing(c.missing));
        }
        Err(api_error(&answer))
    }

    /// Searches the org's repositories that have hosted search on.
    pub async fn search_org(&self, org: &str, request: &SearchRequest) -> Result<SearchResults> {
        let path = ["v1", "orgs", org, "search"];
        self.call(Method::POST, &path, None, Body::ReplayableJson(request))
            .await
    }
}
