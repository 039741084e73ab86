//! Moving a ref to a plan's root: open a session (the quota is checked first), ask top-down
//! which objects the service lacks (a present node's subtree is not asked about), upload them
//! sealed in batches, commit on the ref's generation. Every step can be repeated: uploads are
//! content-addressed, a replayed commit answers its generation, so a sync killed anywhere
//! resumes by running again and sends only what is still missing.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use scry_api::{
    CommitRequest, MAX_BATCH_BYTES, MAX_IDS, MAX_SYNC_BODY, NewSyncSession, OBJECT_ID_LEN,
    ObjectBatch, SealedObject,
};

use super::plan::{Plan, Planned};
use super::{SyncError, hex};
use crate::sealing::OrgKey;
use crate::{Client, Committed};

/// Where a generation goes.
pub struct Remote<'a> {
    pub client: &'a Client,
    pub org: &'a str,
    pub repo: &'a str,
    /// The ref: a keyed hash of the branch, never its name.
    pub ref_name: &'a str,
}

/// What a sync did (or, dry, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// The ref's generation after it (before it, for a dry run or when nothing changed).
    pub generation: i64,
    pub objects_uploaded: usize,
    pub chunks_uploaded: usize,
    /// Sealed bytes sent.
    pub bytes_uploaded: u64,
    /// The generation's distinct chunks.
    pub chunks: usize,
    /// The repository's chunks on the account (all refs), as the service counts them.
    pub repo_chunks: i64,
    /// The ref already pointed at this root: one request, nothing sent.
    pub unchanged: bool,
}

/// How far a sync is, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Asking which objects the service lacks; `asked` ids so far.
    Negotiating {
        asked: usize,
    },
    /// Uploading: bytes sent of the bytes to send.
    Uploading {
        sent: u64,
        total: u64,
    },
    Committing,
    /// Uploading the code hosted search serves (the repository opted in): bytes sent of the
    /// bytes to send.
    Publishing {
        sent: u64,
        total: u64,
    },
}

/// A batch stays a margin below the service's limits on its sealed bytes and on its request
/// body (a batch of file nodes is mostly their children's ids).
const BATCH_BYTES: usize = MAX_BATCH_BYTES - 64 * 1024;
const WIRE_BYTES: usize = MAX_SYNC_BODY - 64 * 1024;
/// Commits tried (each after uploading what the last one named, or on a moved ref) before
/// giving up.
const COMMIT_ROUNDS: usize = 64;

/// Syncs `plan` to `remote`; with `dry_run`, finds out exactly what would be sent and sends
/// nothing.
pub async fn push(
    remote: &Remote<'_>,
    plan: &Plan,
    key: &OrgKey,
    dry_run: bool,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Pushed, SyncError> {
    let Remote {
        client, org, repo, ..
    } = remote;
    let current = client
        .refs(org, repo)
        .await?
        .into_iter()
        .find(|r| r.ref_name == remote.ref_name);
    let base = current.as_ref().map_or(0, |r| r.generation);
    let mut pushed = Pushed {
        generation: base,
        chunks: plan.chunks,
        repo_chunks: current.as_ref().map_or(0, |r| r.repo_chunks),
        ..Pushed::default()
    };
    if current.as_ref().is_some_and(|r| r.root == hex(&plan.root)) {
        pushed.unchanged = true;
        return Ok(pushed);
    }
    let session = client
        .open_sync_session(
            org,
            repo,
            &NewSyncSession {
                ref_name: remote.ref_name.into(),
                root: hex(&plan.root),
                chunks: plan.chunks as i64,
            },
        )
        .await?;
    let by_id: HashMap<String, &Planned> = plan.objects.iter().map(|o| (hex(&o.id), o)).collect();
    let missing: HashSet<String> = negotiate(remote, &session.id, plan, &by_id, progress)
        .await?
        .into_iter()
        .collect();
    // Children before parents (the plan's order): a sync killed part-way leaves no node whose
    // children are not all stored, so asking top-down stays right when it runs again.
    let wanted: Vec<&Planned> = plan
        .objects
        .iter()
        .filter(|o| missing.contains(&hex(&o.id)))
        .collect();
    pushed.objects_uploaded = wanted.len();
    pushed.chunks_uploaded = wanted.iter().map(|o| o.chunks as usize).sum();
    pushed.bytes_uploaded = wanted.iter().map(|o| sealed_len(o) as u64).sum();
    if dry_run {
        return Ok(pushed);
    }
    let mut uploader = Uploader {
        remote,
        session: &session.id,
        key,
        sent: 0,
        total: pushed.bytes_uploaded,
    };
    uploader.upload(&wanted, progress).await?;
    let mut base = base;
    let mut resent: HashSet<String> = HashSet::new();
    for _ in 0..COMMIT_ROUNDS {
        progress(Step::Committing);
        let request = CommitRequest {
            base_generation: base,
            model: wire_model(&plan.model),
            key_epoch: i64::from(key.epoch()),
        };
        match client.commit(org, repo, &session.id, &request).await? {
            Committed::Done(generation) => {
                pushed.generation = generation.generation;
                pushed.repo_chunks = generation.repo_chunks;
                return Ok(pushed);
            }
            // Collected since we asked (their parents were not live): send them too, as
            // long as each round names new ones.
            Committed::Missing { missing, .. } => {
                if !missing.iter().any(|id| resent.insert(id.clone())) {
                    return Err(SyncError::Protocol(
                        "the service keeps asking for objects it was sent".into(),
                    ));
                }
                let again: Vec<&Planned> = missing
                    .iter()
                    .map(|id| by_id.get(id.as_str()).copied())
                    .collect::<Option<_>>()
                    .ok_or(SyncError::PlanIncomplete)?;
                uploader.total += again.iter().map(|o| sealed_len(o) as u64).sum::<u64>();
                uploader.upload(&again, progress).await?;
                pushed.objects_uploaded += again.len();
                pushed.bytes_uploaded = uploader.total;
            }
            // Another device moved this ref: ours is the whole tree, so it goes on top.
            Committed::Stale { generation } => base = generation,
            Committed::StaleKey => return Err(SyncError::KeyRotated),
        }
    }
    Err(SyncError::Conflict(format!(
        "the ref kept moving through {COMMIT_ROUNDS} tries; run the sync again"
    )))
}

/// The ids of `plan` the service lacks, asked level by level from the root.
async fn negotiate(
    remote: &Remote<'_>,
    session: &str,
    plan: &Plan,
    by_id: &HashMap<String, &Planned>,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Vec<String>, SyncError> {
    let mut missing = Vec::new();
    let mut asked: HashSet<String> = HashSet::new();
    let mut level = vec![hex(&plan.root)];
    while !level.is_empty() {
        let mut next = Vec::new();
        for batch in level.chunks(MAX_IDS) {
            let lacking = remote
                .client
                .missing(remote.org, remote.repo, session, batch)
                .await?;
            for id in lacking {
                let object = match by_id.get(id.as_str()) {
                    Some(object) => object,
                    // Planned from the last sync's tree, which the service no longer holds.
                    None if asked.contains(&id) => return Err(SyncError::PlanIncomplete),
                    None => {
                        return Err(SyncError::Protocol(format!(
                            "the service answered an id it was not asked: {id}"
                        )));
                    }
                };
                next.extend(
                    object
                        .children
                        .iter()
                        .map(hex)
                        .filter(|c| asked.insert(c.clone())),
                );
                missing.push(id);
            }
            progress(Step::Negotiating {
                asked: asked.len() + 1,
            });
        }
        level = next;
    }
    Ok(missing)
}

struct Uploader<'a> {
    remote: &'a Remote<'a>,
    session: &'a str,
    key: &'a OrgKey,
    sent: u64,
    total: u64,
}

impl Uploader<'_> {
    /// Seals and sends `objects` in batches under the service's limits.
    async fn upload(
        &mut self,
        objects: &[&Planned],
        progress: &mut (dyn FnMut(Step) + Send),
    ) -> Result<(), SyncError> {
        for batch in batches(objects) {
            let mut bytes = 0;
            let sealed = batch
                .iter()
                .map(|object| {
                    let sealed = self.key.seal(&object.id, &object.plaintext);
                    bytes += sealed.len();
                    SealedObject {
                        id: hex(&object.id),
                        kind: object.kind,
                        children: object.children.iter().map(hex).collect(),
                        chunks: i64::from(object.chunks),
                        body: BASE64.encode(&sealed),
                    }
                })
                .collect();
            self.remote
                .client
                .put_objects(
                    self.remote.org,
                    self.remote.repo,
                    self.session,
                    &ObjectBatch { objects: sealed },
                )
                .await?;
            self.sent += bytes as u64;
            progress(Step::Uploading {
                sent: self.sent,
                total: self.total,
            });
        }
        Ok(())
    }
}

/// `objects` cut into consecutive batches, each under both of the service's limits.
fn batches<'o, 'p>(objects: &'o [&'p Planned]) -> impl Iterator<Item = &'o [&'p Planned]> {
    let mut rest = objects;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut bytes, mut wire, mut n) = (0, 0, 0);
        for object in rest {
            let (b, w) = (sealed_len(object), wire_len(object));
            if n > 0 && (bytes + b > BATCH_BYTES || wire + w > WIRE_BYTES) {
                break;
            }
            (bytes, wire, n) = (bytes + b, wire + w, n + 1);
        }
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        Some(batch)
    })
}

/// The model as the service's ref shows it: the id itself when it is a plain name of up to
/// 100 characters (a model file's name may be anything), else a hash of it. The root holds
/// the id as it is, sealed.
fn wire_model(model: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"._-/:@+".contains(&b);
    if (1..=100).contains(&model.len()) && model.bytes().all(plain) {
        model.into()
    } else {
        format!("model@{}", &blake3::hash(model.as_bytes()).to_hex()[..16])
    }
}

/// What an object adds to a batch's request body: its sealed bytes in base64, its id and its
/// children's (quoted, with a comma), and room for the keys around them.
fn wire_len(object: &Planned) -> usize {
    4 * sealed_len(object).div_ceil(3) + (object.children.len() + 1) * (OBJECT_ID_LEN + 3) + 64
}

/// The sealed size of an object: a format byte, the epoch, the nonce, the tag.
fn sealed_len(object: &Planned) -> usize {
    object.plaintext.len() + 1 + 4 + 24 + 16
}

#[cfg(test)]
mod tests {
    use super::*;
    use scry_api::ObjectKind;

    #[test]
    fn batches_stay_under_the_sealed_and_the_body_limits() {
        let object = |kind, children: usize, plaintext: usize| Planned {
            id: [7; 32],
            kind,
            children: vec![[1; 32]; children],
            chunks: 0,
            plaintext: vec![0; plaintext],
        };
        // Records fill a batch by their sealed bytes; nodes of a huge tree (many children) by
        // their ids on the wire, long before their sealed bytes would.
        let chunks: Vec<Planned> = (0..300)
            .map(|_| object(ObjectKind::Records, 0, 36_000))
            .collect();
        let nodes: Vec<Planned> = (0..200)
            .map(|_| object(ObjectKind::Node, 2_000, 64_000))
            .collect();
        for objects in [&chunks, &nodes] {
            let refs: Vec<&Planned> = objects.iter().collect();
            let cut: Vec<&[&Planned]> = batches(&refs).collect();
            assert_eq!(cut.iter().map(|b| b.len()).sum::<usize>(), refs.len());
            for batch in &cut {
                let sealed: usize = batch.iter().map(|o| sealed_len(o)).sum();
                let wire: usize = batch.iter().map(|o| wire_len(o)).sum();
                assert!(
                    sealed <= BATCH_BYTES && wire <= WIRE_BYTES,
                    "{sealed} {wire}"
                );
            }
            assert!(cut.len() > 1);
        }
        // One object over a limit still goes, alone.
        let huge = object(ObjectKind::Node, 65_536, 2_100_000);
        assert_eq!(batches(&[&huge]).count(), 1);
    }

    #[test]
    fn any_model_id_reaches_the_service_as_a_plain_name() {
        assert_eq!(
            super::wire_model("static:scry-code@2ea5a396"),
            "static:scry-code@2ea5a396"
        );
        let odd = super::wire_model("bert:my model (v2) ü@0123");
        assert!(odd.starts_with("model@") && odd.len() == 22, "{odd}");
        assert!(super::wire_model(&"x".repeat(101)).starts_with("model@"));
    }
}
