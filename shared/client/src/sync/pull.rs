//! The way back: the generation a ref points at, downloaded level by level from its root and
//! opened with the org's key, as the snapshot it was made from (secrets never left, so they
//! never come back). Every object must open under its id and hash back to it, so the service
//! can neither change nor swap what it stores.

use std::collections::{HashMap, HashSet, VecDeque};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use scry_api::{Generation, MAX_IDS, ObjectKind, SealedObject};
use scry_core::snapshot::{Snapshot, SnapshotChunk, SnapshotFile};

use super::plan::{BucketBody, FileBody, NO_MODEL, RootBody, decode, decode_records, decompress};
use super::{SyncError, hex};
use crate::Client;
use crate::sealing::{ObjectId, OrgKey};

/// What a download has fetched so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Downloaded {
    pub objects: u64,
    /// Sealed bytes, as the service sent them (before base64).
    pub bytes: u64,
}

/// The snapshot `ref_name` of `repo` holds; `None` when the ref was never synced.
pub async fn pull(
    client: &Client,
    org: &str,
    repo: &str,
    ref_name: &str,
    key: &OrgKey,
) -> Result<Option<Snapshot>, SyncError> {
    let refs = client.refs(org, repo).await?;
    let Some(generation) = refs.into_iter().find(|r| r.ref_name == ref_name) else {
        return Ok(None);
    };
    let remote = (client, org, repo);
    let everything = |_: &str, _: &[u8; 16]| true;
    let mut quiet = |_| {};
    let pulled = pull_generation(remote, &generation, key, &everything, &mut quiet);
    Ok(Some(pulled.await?))
}

/// The snapshot of `generation` of the repository `(client, org, repo)`, fetched level by
/// level: of its files, those `wanted` (by path and hash) with their chunk records, whose
/// objects are the bulk of a download; `progress` hears after each answer of the service.
pub async fn pull_generation(
    remote: (&Client, &str, &str),
    generation: &Generation,
    key: &OrgKey,
    wanted: &dyn Fn(&str, &[u8; 16]) -> bool,
    progress: &mut dyn FnMut(Downloaded),
) -> Result<Snapshot, SyncError> {
    let root_id = parse_id(&generation.root)?;
    let mut store = Fetched::new(remote, key, progress);
    store.fetch(&[root_id]).await?;
    let root_plain = store.take(&root_id, ObjectKind::Node)?;
    let root = RootBody::decode(&root_plain).ok_or_else(|| damaged(&root_id, "root"))?;
    let model = root.model.to_string();
    store.check_ids(&model, &root_id, &root_plain)?;
    store.fetch(&root.buckets).await?;
    let mut file_ids = Vec::new();
    for id in &root.buckets {
        let plain = store.take_checked(&model, id, ObjectKind::Node)?;
        let bucket: BucketBody = decode(&plain).ok_or_else(|| damaged(id, "bucket"))?;
        file_ids.extend(bucket.files);
    }
    store.fetch(&file_ids).await?;
    let mut records_ids = Vec::new();
    let mut file_plains = Vec::with_capacity(file_ids.len());
    for id in &file_ids {
        let plain = store.take_checked(&model, id, ObjectKind::Node)?;
        let body: FileBody = decode(&plain).ok_or_else(|| damaged(id, "file"))?;
        if !wanted(body.path, &body.hash) {
            continue;
        }
        records_ids.extend(body.records.iter().copied());
        drop(body);
        file_plains.push((*id, plain));
    }
    records_ids.sort_unstable();
    records_ids.dedup();
    store.fetch(&records_ids).await?;
    let mut records: HashMap<ObjectId, Vec<SnapshotChunk>> = HashMap::new();
    for id in &records_ids {
        let compressed = store.take(id, ObjectKind::Records)?;
        let plain = decompress(&compressed).ok_or_else(|| damaged(id, "records object"))?;
        store.check_ids(&model, id, &plain)?;
        records.insert(
            *id,
            decode_records(&plain).ok_or_else(|| damaged(id, "records"))?,
        );
    }
    let mut files = Vec::with_capacity(file_ids.len());
    for (id, plain) in &file_plains {
        let body: FileBody = decode(plain).ok_or_else(|| damaged(id, "file"))?;
        let mut chunks = Vec::new();
        for part in &body.records {
            let part = records.get(part).ok_or_else(|| damaged(part, "records"))?;
            chunks.extend(part.iter().cloned());
        }
        files.push(SnapshotFile {
            path: body.path.to_string(),
            language: body.language.to_string(),
            hash: body.hash,
            chunks,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Snapshot {
        model: (model != NO_MODEL).then_some(model),
        files,
    })
}

/// The sketch (see [`super::sketch`]) of each generation's root, in order; `None` for a root
/// that does not open under `key` (sealed under an earlier key) or cannot be fetched. Empty
/// for a root from before sketches.
pub async fn root_sketches(
    remote: (&Client, &str, &str),
    generations: &[Generation],
    key: &OrgKey,
) -> Vec<Option<Vec<u64>>> {
    let mut sketches = Vec::with_capacity(generations.len());
    for generation in generations {
        let mut quiet = |_| {};
        let mut store = Fetched::new(remote, key, &mut quiet);
        let sketch = async {
            let id = parse_id(&generation.root)?;
            store.fetch(&[id]).await?;
            let plain = store.take(&id, ObjectKind::Node)?;
            let root = RootBody::decode(&plain).ok_or_else(|| damaged(&id, "root"))?;
            store.check_ids(root.model, &id, &plain)?;
            Ok::<_, SyncError>(root.sketch)
        };
        sketches.push(sketch.await.ok());
    }
    sketches
}

/// Objects fetched and opened, by id.
struct Fetched<'a> {
    client: &'a Client,
    org: &'a str,
    repo: &'a str,
    key: &'a OrgKey,
    opened: HashMap<ObjectId, (ObjectKind, Vec<u8>)>,
    downloaded: Downloaded,
    progress: &'a mut dyn FnMut(Downloaded),
}

impl<'a> Fetched<'a> {
    fn new(
        (client, org, repo): (&'a Client, &'a str, &'a str),
        key: &'a OrgKey,
        progress: &'a mut dyn FnMut(Downloaded),
    ) -> Self {
        Fetched {
            client,
            org,
            repo,
            key,
            opened: HashMap::new(),
            downloaded: Downloaded::default(),
            progress,
        }
    }

    /// Fetches and opens `ids`, asking again for what an answer cut for size. One ask is in
    /// flight while the last answer is opened, so the service reads the next objects while
    /// this side decrypts; each asks for about as many ids as the last answer held (an answer
    /// is cut at the service's batch size: asking for more costs the service lookups).
    async fn fetch(&mut self, ids: &[ObjectId]) -> Result<(), SyncError> {
        let mut wanted: Vec<String> = ids
            .iter()
            .filter(|id| !self.opened.contains_key(*id))
            .map(hex)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut wanted: VecDeque<String> = wanted.into();
        let (client, org, repo) = (self.client, self.org, self.repo);
        let ask = |ids: Vec<String>| async move {
            match ids.is_empty() {
                true => Ok::<_, SyncError>(None),
                false => Ok(Some((client.fetch_objects(org, repo, &ids).await?, ids))),
            }
        };
        let mut answer = ask(take(&mut wanted, MAX_IDS)).await?;
        while let Some((got, asked)) = answer.take() {
            if let Some(gone) = got.missing.first() {
                return Err(SyncError::Protocol(format!(
                    "the service lost object {gone} of a committed generation"
                )));
            }
            let sent: HashSet<&str> = got.objects.iter().map(|o| o.id.as_str()).collect();
            let asked_for = asked.len();
            let cut: Vec<String> = asked
                .into_iter()
                .filter(|id| !sent.contains(id.as_str()))
                .collect();
            if cut.len() == asked_for {
                return Err(SyncError::Protocol(
                    "the service sent no object it was asked for".into(),
                ));
            }
            for id in cut.into_iter().rev() {
                wanted.push_front(id);
            }
            let next = take(&mut wanted, (got.objects.len() * 5 / 4).clamp(16, MAX_IDS));
            let (next, opened) = tokio::join!(ask(next), self.open(got.objects));
            opened?;
            answer = next?;
        }
        Ok(())
    }

    /// Opens what an answer held, letting the next ask proceed now and then.
    async fn open(&mut self, objects: Vec<SealedObject>) -> Result<(), SyncError> {
        for (i, object) in objects.into_iter().enumerate() {
            if i % 32 == 31 {
                tokio::task::yield_now().await;
            }
            let id = parse_id(&object.id)?;
            let sealed = BASE64
                .decode(&object.body)
                .map_err(|_| damaged(&id, "body"))?;
            self.downloaded.objects += 1;
            self.downloaded.bytes += sealed.len() as u64;
            let plain = self
                .key
                .open(&id, &sealed)
                .map_err(|e| SyncError::Protocol(format!("object {}: {e}", object.id)))?;
            self.opened.insert(id, (object.kind, plain));
        }
        (self.progress)(self.downloaded);
        Ok(())
    }

    /// The plaintext of `id`, which must be of `kind`.
    fn take(&mut self, id: &ObjectId, kind: ObjectKind) -> Result<Vec<u8>, SyncError> {
        match self.opened.remove(id) {
            Some((k, plain)) if k == kind => Ok(plain),
            _ => Err(damaged(id, "object of its kind")),
        }
    }

    /// The plaintext of `id`, of `kind`, which must hash back to it under `model`.
    fn take_checked(
        &mut self,
        model: &str,
        id: &ObjectId,
        kind: ObjectKind,
    ) -> Result<Vec<u8>, SyncError> {
        let plain = self.take(id, kind)?;
        self.check_ids(model, id, &plain)?;
        Ok(plain)
    }

    fn check_ids(&self, model: &str, id: &ObjectId, plain: &[u8]) -> Result<(), SyncError> {
        if self.key.object_id(model, plain) == *id {
            Ok(())
        } else {
            Err(damaged(id, "object whose content does not match its id"))
        }
    }
}

/// Up to `n` ids from the front of `wanted`.
fn take(wanted: &mut VecDeque<String>, n: usize) -> Vec<String> {
    let n = n.min(wanted.len());
    wanted.drain(..n).collect()
}

fn parse_id(text: &str) -> Result<ObjectId, SyncError> {
    let bad = || SyncError::Protocol(format!("{text:?} is not an object id"));
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(id)
}

fn damaged(id: &ObjectId, what: &str) -> SyncError {
    SyncError::Protocol(format!("{} is not a valid {what}", hex(id)))
}
