//! What a generation of an index becomes on the account: a tree of sealed objects. A file's
//! chunk records (lines, names, the vector; compressed, in parts of at most
//! [`RECORDS_PART_BYTES`]) under file nodes (path, language, hash, the parts in order) under
//! bucket nodes (files grouped by a keyed hash of their path, so an edit changes one bucket)
//! under a root (the model, the buckets). Every object's id is the org's keyed hash of its
//! plaintext (for records, before compression: ids do not depend on the compressor), and a
//! node's plaintext holds its children's ids: equal content has one id, and a changed file
//! changes only the ids on its way to the root.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use scry_api::{MAX_OBJECT_BYTES, ObjectKind};
use scry_core::snapshot::{Snapshot, SnapshotChunk, SnapshotDelta, SnapshotFile};
use serde::{Deserialize, Serialize};

use super::sketch;
use crate::sealing::{ObjectId, OrgKey};

/// Bumped if a node's plaintext layout changes.
const LAYOUT: u8 = 2;
/// Records objects' layout: 3 added each chunk's (optional) text; 2 is still read.
const RECORDS_LAYOUT: u8 = 3;
/// The most encoded bytes of chunk records in one records object: compressed and sealed, it
/// stays under the service's [`MAX_OBJECT_BYTES`].
pub const RECORDS_PART_BYTES: usize = MAX_OBJECT_BYTES / 2;
/// Compression of records: they are mostly vector codes, whose bytes are far from uniform.
const ZSTD_LEVEL: i32 = 3;
/// The model id a lexical-only index syncs under.
pub const NO_MODEL: &str = "none";

/// One object of the tree, before sealing.
#[derive(Clone, Debug)]
pub struct Planned {
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub children: Vec<ObjectId>,
    /// The chunk records a records object holds; 0 for a node.
    pub chunks: u32,
    /// What is sealed (records compressed).
    pub plaintext: Vec<u8>,
}

/// A generation to sync: its objects (children before parents, the root last), and what was
/// left out.
#[derive(Clone, Debug)]
pub struct Plan {
    pub model: String,
    pub root: ObjectId,
    pub objects: Vec<Planned>,
    /// Chunk records in distinct records objects (what the service counts).
    pub chunks: usize,
    /// Files included, in path order.
    pub files: Vec<String>,
    /// Files left out, with why.
    pub excluded: Vec<(String, &'static str)>,
}

/// A file node's plaintext: the file and the records objects of its chunks, in order.
#[derive(Serialize, Deserialize)]
pub(super) struct FileBody<'a> {
    pub path: &'a str,
    pub language: &'a str,
    pub hash: [u8; 16],
    pub records: Vec<ObjectId>,
}

/// A bucket node's plaintext: its files.
#[derive(Serialize, Deserialize)]
pub(super) struct BucketBody {
    pub files: Vec<ObjectId>,
}

/// The root's plaintext: the model (as the index names it), the buckets, and the sketch of
/// its files (see [`super::sketch`]).
#[derive(Serialize, Deserialize)]
pub(super) struct RootBody<'a> {
    pub model: &'a str,
    pub buckets: Vec<ObjectId>,
    pub sketch: Vec<u64>,
}

/// A root made before roots carried a sketch.
#[derive(Deserialize)]
struct UnsketchedRoot<'a> {
    model: &'a str,
    buckets: Vec<ObjectId>,
}

impl<'a> RootBody<'a> {
    /// A root read back, with or without a sketch.
    pub(super) fn decode(plaintext: &'a [u8]) -> Option<RootBody<'a>> {
        decode(plaintext).or_else(|| {
            let old: UnsketchedRoot = decode(plaintext)?;
            Some(RootBody {
                model: old.model,
                buckets: old.buckets,
                sketch: Vec::new(),
            })
        })
    }
}

/// Why a file must never leave the machine, even as vectors; `None` for an ordinary file.
pub fn secret_reason(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let stem_is = |s: &str| name == s || name.starts_with(&format!("{s}."));
    if stem_is(".env") || name.ends_with(".env") {
        return Some("an environment file (.env)");
    }
    let keys = [
        ".pem",
        ".key",
        ".p12",
        ".pfx",
        ".jks",
        ".keystore",
        ".asc",
        ".gpg",
        ".ppk",
    ];
    if keys.iter().any(|e| name.ends_with(e))
        || ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"]
            .iter()
            .any(|k| stem_is(k))
    {
        return Some("a private key");
    }
    let credentials = [
        ".netrc",
        ".npmrc",
        ".pypirc",
        ".pgpass",
        ".git-credentials",
        ".htpasswd",
        ".dockercfg",
        "credentials",
        "credentials.json",
        "secrets.json",
        "secrets.yaml",
        "secrets.yml",
        "secrets.toml",
    ];
    if credentials.contains(&name.as_str()) || path.contains(".aws/") || path.contains(".ssh/") {
        return Some("a credentials file");
    }
    None
}

/// The tree of `snapshot` under `key`.
pub fn plan(snapshot: &Snapshot, key: &OrgKey) -> Plan {
    let mut kept = Kept::default();
    let files: Vec<&SnapshotFile> = snapshot.files.iter().collect();
    kept.apply(snapshot.model.as_deref(), &files, &[], key)
}

/// The last plan's tree, kept beside the index so that the next sync plans only what changed
/// since (the index's change log says what, see [`SnapshotDelta`]): per file its node and chunk
/// ids, per bucket its node's id. Only ids: no plaintext, nothing of the key.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Kept {
    /// Whose ids these are: the org key's check, and the model.
    key_check: String,
    model: String,
    /// Whether its records carry the chunks' text.
    #[serde(default)]
    snippets: bool,
    /// The index's change mark they are as of.
    pub mark: u64,
    files: BTreeMap<String, KeptFile>,
    /// Paths left out as secrets.
    excluded: BTreeSet<String>,
    buckets: BTreeMap<u8, ObjectId>,
    root: Option<ObjectId>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct KeptFile {
    node: ObjectId,
    /// Its records objects and how many chunks each holds.
    records: Vec<(ObjectId, u32)>,
    bucket: u8,
    /// Its value in the root's sketch.
    sketched: u64,
}

impl Kept {
    /// The tree after `delta`: the plan holds the objects that are new since this kept one
    /// (the changed files' chunks and nodes, their buckets, the root; everything, when the
    /// delta is complete or the key or model changed), and this becomes the new tree. The
    /// service holds the rest from the last sync; when it does not (another repository, or
    /// collected since), [`super::push`] says [`SyncError::PlanIncomplete`] and a complete
    /// delta is planned instead.
    ///
    /// [`SyncError::PlanIncomplete`]: super::SyncError::PlanIncomplete
    ///
    /// `None` for a partial delta this tree cannot take (made under another key or model):
    /// plan a complete one.
    ///
    /// `snippets`: whether the delta's chunks carry their text (the org's choice); a tree
    /// made the other way is planned afresh.
    pub fn plan(&mut self, delta: &SnapshotDelta, key: &OrgKey, snippets: bool) -> Option<Plan> {
        let model = delta.model.as_deref().unwrap_or(NO_MODEL);
        let same_tree =
            self.key_check == key.check() && self.model == model && self.snippets == snippets;
        if !same_tree && !delta.complete {
            return None;
        }
        if delta.complete {
            *self = Kept::default();
        }
        let files: Vec<&SnapshotFile> = delta.files.iter().collect();
        let plan = self.apply(delta.model.as_deref(), &files, &delta.removed, key);
        self.mark = delta.mark;
        self.snippets = snippets;
        Some(plan)
    }

    fn apply(
        &mut self,
        model: Option<&str>,
        changed: &[&SnapshotFile],
        removed: &[String],
        key: &OrgKey,
    ) -> Plan {
        let model = model.unwrap_or(NO_MODEL).to_string();
        self.key_check = key.check();
        self.model = model.clone();
        let mut objects = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |objects: &mut Vec<Planned>, children: Vec<ObjectId>, plaintext: Vec<u8>| {
            let id = key.object_id(&model, &plaintext);
            if seen.insert(id) {
                objects.push(Planned {
                    id,
                    kind: ObjectKind::Node,
                    children,
                    chunks: 0,
                    plaintext,
                });
            }
            id
        };
        let mut seen_records = HashSet::new();
        let mut touched = BTreeSet::new();
        for path in removed {
            self.excluded.remove(path);
            if let Some(gone) = self.files.remove(path) {
                touched.insert(gone.bucket);
            }
        }
        for file in changed {
            let bucket = bucket_of(key, &file.path);
            touched.insert(bucket);
            if secret_reason(&file.path).is_some() {
                self.files.remove(&file.path);
                self.excluded.insert(file.path.clone());
                continue;
            }
            self.excluded.remove(&file.path);
            let mut records = Vec::new();
            for part in records_parts(&file.chunks) {
                let encoded = encode_as(RECORDS_LAYOUT, &part);
                let id = key.object_id(&model, &encoded);
                if seen_records.insert(id) {
                    objects.push(Planned {
                        id,
                        kind: ObjectKind::Records,
                        children: Vec::new(),
                        chunks: part.len() as u32,
                        plaintext: compress(&encoded),
                    });
                }
                records.push((id, part.len() as u32));
            }
            let body = FileBody {
                path: &file.path,
                language: &file.language,
                hash: file.hash,
                records: records.iter().map(|r| r.0).collect(),
            };
            let children = sorted(body.records.clone());
            let node = add(&mut objects, children, encode(&body));
            self.files.insert(
                file.path.clone(),
                KeptFile {
                    node,
                    records,
                    bucket,
                    sketched: sketch::value(key, &file.path, &file.hash),
                },
            );
        }
        let mut in_bucket: BTreeMap<u8, Vec<ObjectId>> = BTreeMap::new();
        for file in self.files.values().filter(|f| touched.contains(&f.bucket)) {
            in_bucket.entry(file.bucket).or_default().push(file.node);
        }
        for bucket in touched {
            match in_bucket.remove(&bucket) {
                Some(files) => {
                    let children = sorted(files.clone());
                    let id = add(&mut objects, children, encode(&BucketBody { files }));
                    self.buckets.insert(bucket, id);
                }
                None => {
                    self.buckets.remove(&bucket);
                }
            }
        }
        let bucket_ids: Vec<ObjectId> = self.buckets.values().copied().collect();
        let root_body = RootBody {
            model: &model,
            buckets: bucket_ids.clone(),
            sketch: sketch::of(self.files.values().map(|f| f.sketched)),
        };
        let root = add(&mut objects, sorted(bucket_ids), encode(&root_body));
        self.root = Some(root);
        let records: HashMap<&ObjectId, u32> = self
            .files
            .values()
            .flat_map(|f| f.records.iter().map(|(id, n)| (id, *n)))
            .collect();
        Plan {
            model,
            root,
            objects,
            chunks: records.values().map(|&n| n as usize).sum(),
            files: self.files.keys().cloned().collect(),
            excluded: self
                .excluded
                .iter()
                .map(|p| (p.clone(), secret_reason(p).unwrap_or("a secret")))
                .collect(),
        }
    }
}

fn sorted(mut ids: Vec<ObjectId>) -> Vec<ObjectId> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Which of 256 buckets a path falls in, by the org's keyed hash (bucket sizes tell nothing of
/// the paths).
fn bucket_of(key: &OrgKey, path: &str) -> u8 {
    key.object_id("bucket", path.as_bytes())[0]
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    encode_as(LAYOUT, value)
}

fn encode_as<T: Serialize>(layout: u8, value: &T) -> Vec<u8> {
    let mut bytes = vec![layout];
    bytes.extend(postcard::to_allocvec(value).expect("records always serialise"));
    bytes
}

/// A file's chunks in parts whose encoding stays under [`RECORDS_PART_BYTES`] (a file of
/// thousands of chunks, generated tables, makes several).
fn records_parts(chunks: &[SnapshotChunk]) -> Vec<&[SnapshotChunk]> {
    let mut parts = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, chunk) in chunks.iter().enumerate() {
        let size = postcard::experimental::serialized_size(chunk).expect("records serialise");
        if i > start && bytes + size > RECORDS_PART_BYTES {
            parts.push(&chunks[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < chunks.len() {
        parts.push(&chunks[start..]);
    }
    parts
}

/// A records object's plaintext: its encoding compressed, behind the layout byte.
fn compress(encoded: &[u8]) -> Vec<u8> {
    let mut out = vec![encoded[0]];
    out.extend(zstd::bulk::compress(&encoded[1..], ZSTD_LEVEL).expect("zstd compresses memory"));
    out
}

/// The encoding [`compress`] compressed; `None` for another layout, or bytes that do not
/// decompress, or not within a bound (a part is cut at [`RECORDS_PART_BYTES`] unless one
/// record is larger).
pub(super) fn decompress(plaintext: &[u8]) -> Option<Vec<u8>> {
    let (&layout, rest) = plaintext.split_first()?;
    matches!(layout, 2 | RECORDS_LAYOUT).then_some(())?;
    let mut out = vec![layout];
    out.extend(zstd::bulk::decompress(rest, 4 * MAX_OBJECT_BYTES).ok()?);
    Some(out)
}

/// A records object's chunks, from what [`decompress`] gave, in either layout.
pub(super) fn decode_records(encoded: &[u8]) -> Option<Vec<SnapshotChunk>> {
    /// A chunk as layout 2 held it: without text.
    #[derive(Deserialize)]
    struct Untexted {
        start_line: u32,
        end_line: u32,
        start_byte: u32,
        end_byte: u32,
        symbol: Option<String>,
        kind: scry_core::ChunkKind,
        scope: Option<String>,
        content_hash: [u8; 16],
        vector: Option<(f32, Vec<i8>)>,
    }
    let (&layout, rest) = encoded.split_first()?;
    match layout {
        RECORDS_LAYOUT => postcard::from_bytes(rest).ok(),
        2 => {
            let old: Vec<Untexted> = postcard::from_bytes(rest).ok()?;
            Some(
                (old.into_iter())
                    .map(|c| SnapshotChunk {
                        start_line: c.start_line,
                        end_line: c.end_line,
                        start_byte: c.start_byte,
                        end_byte: c.end_byte,
                        symbol: c.symbol,
                        kind: c.kind,
                        scope: c.scope,
                        content_hash: c.content_hash,
                        vector: c.vector,
                        text: None,
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// An object's plaintext, read back (a download); `None` for another layout or bytes that do
/// not decode as `T`.
pub(super) fn decode<'a, T: Deserialize<'a>>(plaintext: &'a [u8]) -> Option<T> {
    let (&layout, rest) = plaintext.split_first()?;
    (layout == LAYOUT).then(|| postcard::from_bytes(rest).ok())?
}

/// Reads `plaintext` as each kind of object a download holds, as [`super::pull`] does, and
/// says how many ids and chunks it found: the entry point of the `sync_objects` fuzz target
/// (`fuzz/`), compiled only into its instrumented build.
#[cfg(fuzzing)]
#[doc(hidden)]
pub fn read_any_object(plaintext: &[u8]) -> usize {
    let mut found = 0;
    if let Some(root) = RootBody::decode(plaintext) {
        found += root.model.len() + root.buckets.len() + root.sketch.len();
    }
    if let Some(bucket) = decode::<BucketBody>(plaintext) {
        found += bucket.files.len();
    }
    if let Some(file) = decode::<FileBody>(plaintext) {
        found += file.path.len() + file.records.len();
    }
    if let Some(chunks) = decompress(plaintext).as_deref().and_then(decode_records) {
        found += chunks.len();
    }
    // A records object as the layout byte and postcard, uncompressed: the decoder behind it.
    if let Some(chunks) = decode_records(plaintext) {
        found += chunks.len();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use scry_core::ChunkKind;
    use scry_core::snapshot::{SnapshotChunk, SnapshotFile};

    fn file(path: &str, texts: &[u32]) -> SnapshotFile {
        SnapshotFile {
            path: path.into(),
            language: "rust".into(),
            hash: [texts.len() as u8; 16],
            chunks: texts
                .iter()
                .map(|&n| SnapshotChunk {
                    start_line: n,
                    end_line: n + 3,
                    start_byte: n * 10,
                    end_byte: n * 10 + 30,
                    symbol: Some(format!("f{n}")),
                    kind: ChunkKind::Function,
                    scope: None,
                    content_hash: [n as u8; 16],
                    vector: Some((0.01, vec![n as i8; 8])),
                    text: None,
                })
                .collect(),
        }
    }

    fn snapshot(files: Vec<SnapshotFile>) -> Snapshot {
        Snapshot {
            model: Some("scry-static-v3".into()),
            files,
        }
    }

    #[test]
    fn an_edit_changes_only_the_ids_on_its_way_to_the_root() {
        let key = OrgKey::generate(1);
        let many: Vec<SnapshotFile> = (0..40)
            .map(|i| file(&format!("src/f{i}.rs"), &[i * 2, i * 2 + 1]))
            .collect();
        let before = plan(&snapshot(many.clone()), &key);
        assert_eq!((before.chunks, before.files.len()), (80, 40));
        assert_eq!(
            plan(&snapshot(many.clone()), &key).root,
            before.root,
            "deterministic"
        );
        let mut edited = many;
        edited[7].chunks[1].end_line += 1;
        let after = plan(&snapshot(edited), &key);
        let old: HashSet<ObjectId> = before.objects.iter().map(|o| o.id).collect();
        let new: Vec<&Planned> = after
            .objects
            .iter()
            .filter(|o| !old.contains(&o.id))
            .collect();
        // The file's records, its node, its bucket, the root.
        assert_eq!(
            new.len(),
            4,
            "{:?}",
            new.iter().map(|o| o.kind).collect::<Vec<_>>()
        );
        assert_eq!(after.objects.last().unwrap().id, after.root);
        // Another org's key: no id in common.
        let other = plan(
            &snapshot(vec![file("src/f0.rs", &[0, 1])]),
            &OrgKey::generate(1),
        );
        assert!(other.objects.iter().all(|o| !old.contains(&o.id)));
    }

    #[test]
    fn a_kept_tree_plans_only_what_changed_and_ends_where_a_full_plan_does() {
        let key = OrgKey::generate(1);
        let mut files: BTreeMap<String, SnapshotFile> = (0..30)
            .map(|i| {
                (
                    format!("src/f{i:02}.rs"),
                    file(&format!("src/f{i:02}.rs"), &[i * 2]),
                )
            })
            .collect();
        let full = |files: &BTreeMap<String, SnapshotFile>| {
            plan(&snapshot(files.values().cloned().collect()), &key)
        };
        let delta =
            |files: Vec<SnapshotFile>, removed: Vec<String>, mark, complete| SnapshotDelta {
                model: Some("scry-static-v3".into()),
                mark,
                files,
                removed,
                complete,
            };
        let mut kept = Kept::default();
        let all = files.values().cloned().collect();
        let first = kept
            .plan(&delta(all, vec![], 1, true), &key, false)
            .unwrap();
        assert_eq!(first.root, full(&files).root);

        // Edits, new files, deletions and secrets, a few at a time (a fixed LCG).
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for round in 0..300u32 {
            let (mut changed, mut removed) = (Vec::new(), Vec::new());
            for _ in 0..=next(3) {
                let name = match next(10) {
                    0 => format!("config/{}.env", next(4)),
                    _ => format!("src/f{:02}.rs", next(40)),
                };
                if next(4) == 0 {
                    files.remove(&name);
                    changed.retain(|c: &SnapshotFile| c.path != name);
                    removed.push(name);
                } else {
                    let f = file(&name, &[round * 3 + next(3) as u32, 1000 + next(5) as u32]);
                    files.insert(name, f.clone());
                    removed.retain(|r| *r != f.path);
                    changed.retain(|c: &SnapshotFile| c.path != f.path);
                    changed.push(f);
                }
            }
            changed.sort_by(|a, b| a.path.cmp(&b.path));
            let mark = u64::from(round) + 2;
            let p = kept.plan(&delta(changed.clone(), removed, mark, false), &key, false);
            let p = p.unwrap();
            let f = full(&files);
            assert_eq!(
                (p.root, p.chunks, &p.files, &p.excluded),
                (f.root, f.chunks, &f.files, &f.excluded),
                "round {round}"
            );
            // The changed files' chunks and nodes, a bucket each, the root: no more.
            let most = changed.iter().map(|c| c.chunks.len() + 2).sum::<usize>() + 4 + 1;
            assert!(
                p.objects.len() <= most,
                "round {round}: {}",
                p.objects.len()
            );
            assert_eq!(kept.mark, mark);
        }
        // Under another key, a partial delta is refused: the caller plans a complete one.
        let other = OrgKey::generate(1);
        assert!(
            kept.plan(&delta(vec![], vec![], 999, false), &other, false)
                .is_none()
        );
        // So is one that would mix records with and without text (the org changed its mind).
        assert!(
            kept.plan(&delta(vec![], vec![], 999, false), &key, true)
                .is_none()
        );
        assert!(
            kept.plan(&delta(vec![], vec![], 999, true), &other, false)
                .is_some()
        );
    }

    #[test]
    fn secrets_never_enter_the_tree() {
        let key = OrgKey::generate(1);
        let p = plan(
            &snapshot(vec![
                file(".env", &[1]),
                file("config/.env.production", &[2]),
                file("deploy/id_ed25519", &[3]),
                file("certs/server.key", &[4]),
                file("home/.aws/credentials", &[5]),
                file("src/main.rs", &[6]),
                file("src/environment.rs", &[7]),
            ]),
            &key,
        );
        assert_eq!(p.files, ["src/environment.rs", "src/main.rs"]);
        assert_eq!(p.excluded.len(), 5);
        assert_eq!(p.chunks, 2);
    }

    #[test]
    fn records_come_back_from_their_compressed_parts() {
        let key = OrgKey::generate(1);
        // ~600 records of ~1.1 kB: cut in two parts, each of which opens and hashes back.
        let mut big = file("gen/tables.c", &(0..600).collect::<Vec<_>>());
        for c in &mut big.chunks {
            c.text = Some(format!("fn f{}() {{}}", c.start_line));
            c.vector = Some((
                0.5,
                (0..1024).map(|i| (i * 7 + c.start_line) as i8).collect(),
            ));
        }
        let p = plan(&snapshot(vec![big.clone(), file("a.rs", &[1, 2])]), &key);
        let records: Vec<&Planned> = p
            .objects
            .iter()
            .filter(|o| o.kind == ObjectKind::Records)
            .collect();
        assert_eq!(records.len(), 3);
        assert_eq!(p.chunks, 602);
        let mut back = Vec::new();
        for o in &records {
            assert!(
                o.plaintext.len() < MAX_OBJECT_BYTES - 64,
                "{}",
                o.plaintext.len()
            );
            let encoded = decompress(&o.plaintext).unwrap();
            assert_eq!(key.object_id(&p.model, &encoded), o.id);
            let part = decode_records(&encoded).unwrap();
            assert_eq!(part.len() as u32, o.chunks);
            back.extend(part);
        }
        back.truncate(600);
        assert!(back == big.chunks, "the big file's records, in order");
        assert_eq!(decompress(&[LAYOUT, 1, 2, 3]), None);
    }

    #[test]
    fn a_chunk_record_reads_back() {
        let f = file("a.rs", &[9]);
        let bytes = encode(&f.chunks[0]);
        assert_eq!(decode::<SnapshotChunk>(&bytes), Some(f.chunks[0].clone()));
        assert_eq!(decode::<SnapshotChunk>(&[LAYOUT + 1]), None);
    }

    #[test]
    fn records_synced_before_snippets_read_back_without_text() {
        let c = file("a.rs", &[9]).chunks.remove(0);
        let old = vec![(
            c.start_line,
            c.end_line,
            c.start_byte,
            c.end_byte,
            c.symbol.clone(),
            c.kind,
            c.scope.clone(),
            c.content_hash,
            c.vector.clone(),
        )];
        assert_eq!(decode_records(&encode_as(2, &old)), Some(vec![c.clone()]));
        let texted = SnapshotChunk {
            text: Some("fn a() {}".into()),
            ..c
        };
        let new = encode_as(RECORDS_LAYOUT, &vec![texted.clone()]);
        assert_eq!(decode_records(&new), Some(vec![texted]));
        assert_eq!(decode_records(&[RECORDS_LAYOUT + 1]), None);
    }
}
