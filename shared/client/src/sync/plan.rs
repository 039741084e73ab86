//! What a generation of an index becomes on the account: a tree of sealed objects. Chunk
//! records (lines, names, the vector) under file nodes (path, language, hash, the chunks in
//! order) under bucket nodes (files grouped by a keyed hash of their path, so an edit changes
//! one bucket) under a root (the model, the buckets). Every object's id is the org's keyed hash
//! of its plaintext, and a node's plaintext holds its children's ids: equal content has one
//! id, and a changed file changes only the ids on its way to the root.

use std::collections::{BTreeMap, HashSet};

use scry_api::ObjectKind;
use scry_core::snapshot::Snapshot;
use serde::{Deserialize, Serialize};

use crate::sealing::{ObjectId, OrgKey};

/// Bumped if an object's plaintext layout changes.
const LAYOUT: u8 = 1;
/// The model id a lexical-only index syncs under.
pub const NO_MODEL: &str = "none";

/// One object of the tree, before sealing.
#[derive(Clone, Debug)]
pub struct Planned {
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub children: Vec<ObjectId>,
    pub plaintext: Vec<u8>,
}

/// A generation to sync: its objects (children before parents, the root last), and what was
/// left out.
#[derive(Clone, Debug)]
pub struct Plan {
    pub model: String,
    pub root: ObjectId,
    pub objects: Vec<Planned>,
    /// Distinct chunk records.
    pub chunks: usize,
    /// Files included, in path order.
    pub files: Vec<String>,
    /// Files left out, with why.
    pub excluded: Vec<(String, &'static str)>,
}

/// A file node's plaintext: the file and its chunks in order.
#[derive(Serialize, Deserialize)]
pub(super) struct FileBody<'a> {
    pub path: &'a str,
    pub language: &'a str,
    pub hash: [u8; 16],
    pub chunks: Vec<ObjectId>,
}

/// A bucket node's plaintext: its files.
#[derive(Serialize, Deserialize)]
pub(super) struct BucketBody {
    pub files: Vec<ObjectId>,
}

/// The root's plaintext: the model (as the index names it) and the buckets.
#[derive(Serialize, Deserialize)]
pub(super) struct RootBody<'a> {
    pub model: &'a str,
    pub buckets: Vec<ObjectId>,
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
    let model = snapshot.model.as_deref().unwrap_or(NO_MODEL).to_string();
    let mut objects = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |objects: &mut Vec<Planned>,
                   kind: ObjectKind,
                   children: Vec<ObjectId>,
                   plaintext: Vec<u8>| {
        let id = key.object_id(&model, &plaintext);
        if seen.insert(id) {
            objects.push(Planned {
                id,
                kind,
                children,
                plaintext,
            });
        }
        id
    };
    let mut buckets: BTreeMap<u8, Vec<ObjectId>> = BTreeMap::new();
    let (mut files, mut excluded) = (Vec::new(), Vec::new());
    for file in &snapshot.files {
        if let Some(why) = secret_reason(&file.path) {
            excluded.push((file.path.clone(), why));
            continue;
        }
        let chunks: Vec<ObjectId> = file
            .chunks
            .iter()
            .map(|c| add(&mut objects, ObjectKind::Chunk, Vec::new(), encode(c)))
            .collect();
        let body = FileBody {
            path: &file.path,
            language: &file.language,
            hash: file.hash,
            chunks: chunks.clone(),
        };
        let mut children = chunks;
        children.sort_unstable();
        children.dedup();
        let id = add(&mut objects, ObjectKind::Node, children, encode(&body));
        buckets
            .entry(bucket_of(key, &file.path))
            .or_default()
            .push(id);
        files.push(file.path.clone());
    }
    let chunks = objects
        .iter()
        .filter(|o| o.kind == ObjectKind::Chunk)
        .count();
    let bucket_ids: Vec<ObjectId> = buckets
        .into_values()
        .map(|files| {
            let mut children = files.clone();
            children.sort_unstable();
            children.dedup();
            add(
                &mut objects,
                ObjectKind::Node,
                children,
                encode(&BucketBody { files }),
            )
        })
        .collect();
    let mut children = bucket_ids.clone();
    children.sort_unstable();
    children.dedup();
    let root_body = RootBody {
        model: &model,
        buckets: bucket_ids,
    };
    let root = add(&mut objects, ObjectKind::Node, children, encode(&root_body));
    Plan {
        model,
        root,
        objects,
        chunks,
        files,
        excluded,
    }
}

/// Which of 256 buckets a path falls in, by the org's keyed hash (bucket sizes tell nothing of
/// the paths).
fn bucket_of(key: &OrgKey, path: &str) -> u8 {
    key.object_id("bucket", path.as_bytes())[0]
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = vec![LAYOUT];
    bytes.extend(postcard::to_allocvec(value).expect("records always serialise"));
    bytes
}

/// An object's plaintext, read back (a download); `None` for another layout or bytes that do
/// not decode as `T`.
pub(super) fn decode<'a, T: Deserialize<'a>>(plaintext: &'a [u8]) -> Option<T> {
    let (&layout, rest) = plaintext.split_first()?;
    (layout == LAYOUT).then(|| postcard::from_bytes(rest).ok())?
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
        // The chunk, its file, its bucket, the root.
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
        assert_eq!(p.files, ["src/main.rs", "src/environment.rs"]);
        assert_eq!(p.excluded.len(), 5);
        assert_eq!(p.chunks, 2);
    }

    #[test]
    fn a_chunk_record_reads_back() {
        let f = file("a.rs", &[9]);
        let bytes = encode(&f.chunks[0]);
        assert_eq!(decode::<SnapshotChunk>(&bytes), Some(f.chunks[0].clone()));
        assert_eq!(decode::<SnapshotChunk>(&[LAYOUT + 1]), None);
    }
}
