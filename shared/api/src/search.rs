//! Hosted search: an org admin opts a repository in (`PUT …/repos/{repo}/hosted-search`), its
//! clients then publish the text of the files they index on the served branch, readable by
//! the service (content-addressed blobs, then the file list), and `POST /v1/orgs/{org}/search`
//! searches every opted-in repository with the same engine as the CLI, answering in the CLI's
//! JSON result shape.

use serde::{Deserialize, Serialize};

/// The most files one published tree may list.
pub const MAX_HOSTED_FILES: usize = 100_000;
/// The most bytes of one file's text: larger files are not indexed either.
pub const MAX_HOSTED_FILE_BYTES: usize = 1 << 20;
/// The most bytes of hosted text an org may hold per chunk its tier allows.
pub const HOSTED_BYTES_PER_CHUNK: i64 = 4_096;
/// The largest request body of the hosted routes: a tree's file list, or a batch of blobs
/// (up to [`crate::MAX_BATCH_BYTES`] of text, escaped in JSON).
pub const MAX_HOSTED_BODY: usize = 24 << 20;
/// The most results one search answers.
pub const MAX_SEARCH_LIMIT: usize = 100;

/// `PUT /v1/orgs/{org}/repos/{repo}/hosted-search` (admins).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostedSearch {
    /// On: the service keeps this repository's code readable and searches it. Off: the
    /// service deletes that code at once.
    pub enabled: bool,
    /// The branch whose syncs publish the code (1 to 100 characters; default `main`).
    #[serde(default)]
    pub branch: Option<String>,
}

/// One file's text: its id is the BLAKE3 hash of the text (64 lowercase hex digits), which
/// the service checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostedBlob {
    pub id: String,
    pub text: String,
}

/// `PUT …/hosted/blobs`: up to [`crate::MAX_BATCH_BYTES`] of text.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostedBlobs {
    pub blobs: Vec<HostedBlob>,
}

/// A file of a published tree: its path in the repository (`/`-separated, relative) and its
/// text's blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostedFile {
    pub path: String,
    pub blob: String,
}

/// `PUT …/hosted/tree`: the files hosted search serves from now on (every blob uploaded).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostedTree {
    /// The branch the files are of: refused unless it is the one served.
    pub branch: String,
    pub files: Vec<HostedFile>,
}

/// What hosted search serves of a repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostedState {
    /// The branch served; `None` when hosted search is off.
    pub branch: Option<String>,
    /// Grows with each published tree; 0 before the first.
    pub generation: i64,
    pub files: i64,
    /// Bytes of text held.
    pub bytes: i64,
    pub published_at: Option<i64>,
}

/// `POST /v1/orgs/{org}/search`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    /// Only these repositories (by name or id); default: every one with hosted search on.
    #[serde(default)]
    pub repos: Vec<String>,
    /// 1 to [`MAX_SEARCH_LIMIT`] (default 10).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only this language (`rust`, `python`…).
    #[serde(default)]
    pub lang: Option<String>,
    /// Only paths inside each repository matching this glob (`src/**/*.rs`).
    #[serde(default)]
    pub glob: Option<String>,
}

/// A result, as `scry search --json` prints it (with `repo` for org-wide results).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResult {
    /// Org-wide results only: the repository's name, and `path` inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub score: f32,
    pub symbol: Option<String>,
    pub language: String,
    pub kind: String,
    pub scope: Option<String>,
    /// The chunk's first lines.
    pub snippet: String,
    /// The file's other matching chunks, when results are by file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<SearchAlso>,
}

/// Another matching chunk of a result's file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchAlso {
    pub start_line: u32,
    pub end_line: u32,
    pub symbol: Option<String>,
    pub score: f32,
}

/// What `POST /v1/orgs/{org}/search` answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    pub results: Vec<SearchResult>,
    /// The repositories searched, each at the generation of its published tree.
    pub searched: Vec<SearchedRepo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchedRepo {
    pub id: String,
    pub name: String,
    pub generation: i64,
}

/// Lines of a result's text its snippet shows.
pub const SNIPPET_LINES: usize = 4;

/// The snippet of a chunk's text: its first [`SNIPPET_LINES`] lines.
pub fn snippet(text: &str) -> String {
    let lines: Vec<&str> = text.lines().take(SNIPPET_LINES).collect();
    lines.join("\n").trim_end().to_string()
}

#[cfg(feature = "core")]
impl SearchResult {
    /// The result a hit of the engine is; `repo` for org-wide results.
    pub fn from_hit(repo: Option<&str>, hit: &scry_core::Hit) -> SearchResult {
        SearchResult {
            repo: repo.map(String::from),
            path: hit.path.clone(),
            start_line: hit.start_line,
            end_line: hit.end_line,
            score: hit.score,
            symbol: hit.symbol.clone(),
            language: hit.language.clone(),
            kind: hit.kind.as_str().to_string(),
            scope: hit.scope.clone(),
            snippet: snippet(&hit.text),
            more: (hit.more.iter())
                .map(|m| SearchAlso {
                    start_line: m.start_line,
                    end_line: m.end_line,
                    symbol: m.symbol.clone(),
                    score: m.score,
                })
                .collect(),
        }
    }
}

/// 409 from `PUT …/hosted/tree`: code `missing_objects` when blobs it names are not held
/// (upload `missing`, up to 1,000 of them, then publish again); code `conflict`, without
/// `missing`, when hosted search is off for the repository or serves another branch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostedConflict {
    pub error: crate::ErrorDetail,
    #[serde(default)]
    pub missing: Vec<String>,
}
