//! Hosted search's half of a sync: when an org admin opted the repository in for the branch
//! being synced, the text of every file the plan includes is published too, readable by the
//! service (see `scry_api::search`): the texts it lacks, then the list of files. Files left
//! out of the plan as secrets are never read.

use std::collections::HashSet;
use std::path::Path;

use scry_api::{
    HostedBlob, HostedBlobs, HostedFile, HostedTree, MAX_BATCH_BYTES, MAX_HOSTED_FILE_BYTES,
    MAX_IDS,
};

use super::state::Link;
use super::{Plan, Step, SyncError};
use crate::{Client, HostedPublished};

/// A batch of texts stays a margin below the service's limit.
const BATCH_BYTES: usize = MAX_BATCH_BYTES - 64 * 1024;
/// Publications tried (each after uploading what the last one named) before giving up.
const ROUNDS: usize = 4;

/// What a sync published for hosted search.
#[derive(Clone, Debug, Default)]
pub struct Publication {
    /// The branch hosted search serves (the one synced).
    pub branch: String,
    /// Files whose text the service now holds (or would, dry).
    pub files: usize,
    /// Bytes of text in them.
    pub bytes: u64,
    /// Texts uploaded (or that would be), and their bytes: what the service lacked.
    pub texts_uploaded: usize,
    pub bytes_uploaded: u64,
    /// Files of the plan not published: unreadable now, not UTF-8, or over 1 MiB.
    pub skipped: usize,
}

/// Publishes the text of `plan`'s files under `root` when the linked repository serves hosted
/// search from `line`; `None` when it does not (the default: nothing readable leaves).
pub async fn publish(
    client: &Client,
    link: &Link,
    line: &str,
    root: &Path,
    plan: &Plan,
    dry_run: bool,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Option<Publication>, SyncError> {
    let (org, repo) = (link.org.as_str(), link.repo.as_str());
    let served = client.repo(org, repo).await?.hosted_search;
    if served.as_deref() != Some(line) {
        return Ok(None);
    }
    let mut publication = Publication {
        branch: line.to_string(),
        ..Publication::default()
    };
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut tree = Vec::with_capacity(plan.files.len());
    for path in &plan.files {
        let Some(text) = read_text(&root.join(path)) else {
            publication.skipped += 1;
            continue;
        };
        let id = blake3::hash(text.as_bytes()).to_hex().to_string();
        publication.files += 1;
        publication.bytes += text.len() as u64;
        tree.push(HostedFile {
            path: path.clone(),
            blob: id.clone(),
        });
        texts.push((id, text));
    }
    texts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    texts.dedup_by(|a, b| a.0 == b.0);
    let ids: Vec<String> = texts.iter().map(|(id, _)| id.clone()).collect();
    let mut missing: Vec<String> = Vec::new();
    for batch in ids.chunks(MAX_IDS) {
        missing.extend(client.hosted_missing(org, repo, batch).await?);
    }
    let tree = HostedTree {
        branch: line.to_string(),
        files: tree,
    };
    for _ in 0..ROUNDS {
        let lacking: HashSet<&String> = missing.iter().collect();
        let wanted: Vec<&(String, String)> = (texts.iter())
            .filter(|(id, _)| lacking.contains(id))
            .collect();
        publication.texts_uploaded += wanted.len();
        publication.bytes_uploaded += wanted.iter().map(|(_, t)| t.len() as u64).sum::<u64>();
        if dry_run {
            return Ok(Some(publication));
        }
        upload(client, org, repo, &wanted, progress).await?;
        match client.publish_hosted(org, repo, &tree).await? {
            HostedPublished::Done(_) => return Ok(Some(publication)),
            HostedPublished::Missing(again) => missing = again,
        }
    }
    Err(SyncError::Conflict(
        "the account kept losing the texts this sync uploaded for hosted search; sync again".into(),
    ))
}

/// A file's text, when it is UTF-8 and small enough to be indexed.
fn read_text(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_HOSTED_FILE_BYTES as u64 {
        return None;
    }
    String::from_utf8(std::fs::read(path).ok()?).ok()
}

async fn upload(
    client: &Client,
    org: &str,
    repo: &str,
    texts: &[&(String, String)],
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<(), SyncError> {
    let total: u64 = texts.iter().map(|(_, t)| t.len() as u64).sum();
    let (mut sent, mut batch, mut bytes) = (0u64, Vec::new(), 0usize);
    let mut rest = texts.iter().peekable();
    while let Some((id, text)) = rest.next() {
        bytes += text.len();
        batch.push(HostedBlob {
            id: id.clone(),
            text: text.clone(),
        });
        let full = rest
            .peek()
            .is_none_or(|(_, next)| bytes + next.len() > BATCH_BYTES);
        if full {
            let blobs = HostedBlobs {
                blobs: std::mem::take(&mut batch),
            };
            client.put_hosted_blobs(org, repo, &blobs).await?;
            sent += bytes as u64;
            bytes = 0;
            progress(Step::Publishing { sent, total });
        }
    }
    Ok(())
}
