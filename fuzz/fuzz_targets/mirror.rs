//! A generation as a download decodes it, with any field values (a member who holds the
//! org's key can write them), kept in the org mirror and searched: the mirror stores it or
//! refuses it, and a search answers with places inside what it stored.
#![no_main]

use std::sync::Arc;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use scry_core::mirror::Mirror;
use scry_core::snapshot::{Snapshot, SnapshotChunk, SnapshotFile};
use scry_core::{ChunkKind, Embedder, Filter, StaticModel};

const KINDS: &[ChunkKind] = &[
    ChunkKind::Function,
    ChunkKind::Method,
    ChunkKind::Class,
    ChunkKind::Module,
    ChunkKind::Section,
    ChunkKind::Block,
];
const LANGUAGES: &[&str] = &["rust", "python", "markdown", "nonsense", ""];

fn text(u: &mut Unstructured) -> Result<String> {
    const WORDS: &[&str] = &["parse", "config", "fn", "load", "ünï", "\n", " ", "", "../"];
    if u.arbitrary()? {
        return u.arbitrary();
    }
    let n = u.int_in_range(0..=6)?;
    (0..n)
        .map(|_| u.choose(WORDS).map(|w| w.to_string()))
        .collect()
}

fn chunk(u: &mut Unstructured, dim: usize) -> Result<SnapshotChunk> {
    let vector = match u.int_in_range(0..=2)? {
        0 => None,
        1 => Some((
            u.arbitrary()?,
            (0..dim).map(|_| u.arbitrary()).collect::<Result<_>>()?,
        )),
        _ => Some((u.arbitrary()?, u.arbitrary()?)),
    };
    Ok(SnapshotChunk {
        start_line: u.arbitrary()?,
        end_line: u.arbitrary()?,
        start_byte: u.arbitrary()?,
        end_byte: u.arbitrary()?,
        symbol: u.arbitrary::<bool>()?.then(|| text(u)).transpose()?,
        kind: *u.choose(KINDS)?,
        scope: u.arbitrary::<bool>()?.then(|| text(u)).transpose()?,
        content_hash: u.arbitrary()?,
        vector,
        text: u.arbitrary::<bool>()?.then(|| text(u)).transpose()?,
    })
}

fn snapshot(u: &mut Unstructured, model: &str, dim: usize) -> Result<Snapshot> {
    let n_files = u.int_in_range(0..=4)?;
    let mut files = Vec::new();
    for _ in 0..n_files {
        let n_chunks = u.int_in_range(0..=5)?;
        files.push(SnapshotFile {
            path: text(u)?,
            language: u.choose(LANGUAGES)?.to_string(),
            hash: u.arbitrary()?,
            chunks: (0..n_chunks)
                .map(|_| chunk(u, dim))
                .collect::<Result<_>>()?,
        });
    }
    let model = match u.int_in_range(0..=2)? {
        0 => None,
        1 => Some(model.to_string()),
        _ => Some(text(u)?),
    };
    Ok(Snapshot { model, files })
}

#[derive(Debug)]
struct Case {
    snapshot: Snapshot,
    query: String,
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Case> {
        let model = StaticModel::builtin().expect("the built-in model");
        Ok(Case {
            snapshot: snapshot(u, model.model_id(), model.dim())?,
            query: text(u)?,
        })
    }
}

fuzz_target!(|case: Case| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut mirror = Mirror::open(dir.path()).expect("an empty mirror opens");
    if mirror.replace("repo", &case.snapshot).is_err() {
        return;
    }
    let model: Arc<dyn Embedder> = Arc::new(StaticModel::builtin().unwrap());
    let Ok(searcher) = mirror.searcher(Some(model)) else {
        return;
    };
    let filter = Filter::new(None, None).unwrap();
    let hits = searcher.search_files(&case.query, 10, &filter, &[]);
    for hit in hits.into_iter().flatten() {
        let path = hit
            .path
            .strip_prefix("repo/")
            .expect("a hit names its repository");
        assert!(
            case.snapshot.files.iter().any(|f| f.path == path),
            "{path} was not stored"
        );
    }
});
