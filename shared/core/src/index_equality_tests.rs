//! The incremental index always equals a fresh one: random sequences of creates, edits,
//! renames, deletes and ignore-rule changes, each followed (or not) by the update a watcher
//! would ask for, end in an index whose files, chunks and vectors are those a fresh index of
//! the same tree holds. `PROPTEST_CASES` sets the number of sequences.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::Index;
use crate::embed::{Embedder, StaticModel};

const FILES: &[&str] = &[
    "a.py",
    "b.rs",
    "src/c.js",
    "src/d.go",
    "docs/e.md",
    "src/deep/f.py",
];

const TEXTS: &[&str] = &[
    "def retry_upload(path):\n    return send(path)\n",
    "def retry_upload(path):\n    return send(path, tries=3)\n",
    "class Cache:\n    def get(self, key):\n        return self.items[key]\n",
    "fn parse_config(text: &str) -> Config {\n    toml::from_str(text).unwrap()\n}\n",
    "function render(page) {\n  return `<h1>${page.title}</h1>`;\n}\n",
    "func Walk(root string) error {\n\treturn filepath.Walk(root, visit)\n}\n",
    "# Notes\n\nHow uploads are retried.\n",
    "",
    "def broken(:\n",
];

const IGNORES: &[&str] = &["", "src/\n", "*.md\n", "deep/\n", "*.py\n!a.py\n"];

#[derive(Clone, Debug)]
enum Op {
    Write(usize, usize),
    Append(usize, usize),
    Delete(usize),
    Rename(usize, usize),
    Ignore(usize),
    /// The update a watcher's burst brings: at the paths touched since the last one.
    Update,
}

fn op() -> impl Strategy<Value = Op> {
    let file = 0..FILES.len();
    let text = 0..TEXTS.len();
    prop_oneof![
        4 => (file.clone(), text.clone()).prop_map(|(f, t)| Op::Write(f, t)),
        2 => (file.clone(), text).prop_map(|(f, t)| Op::Append(f, t)),
        2 => file.clone().prop_map(Op::Delete),
        2 => (file.clone(), file).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (0..IGNORES.len()).prop_map(Op::Ignore),
        3 => Just(Op::Update),
    ]
}

/// What an index holds, without ids or times: per file its content hash and chunks, and how
/// many chunks lack a vector of `model` (vectors of replaced text may stay until a sweep: they
/// are a cache, not content).
type Snapshot = (
    BTreeMap<String, ([u8; 16], Vec<(u32, u32, String, Option<String>, [u8; 16])>)>,
    usize,
);

fn snapshot(index: &Index, model: Option<&dyn Embedder>) -> Snapshot {
    let reader = index.store.read().unwrap();
    let mut files: BTreeMap<_, _> = reader
        .files()
        .unwrap()
        .into_iter()
        .map(|(path, record)| (path, (record.hash, Vec::new())))
        .collect();
    reader
        .for_each_chunk(|_, c| {
            let entry = files.get_mut(c.path).expect("a chunk of a stored file");
            entry.1.push((
                c.start_line,
                c.end_line,
                c.kind.as_str().to_string(),
                c.symbol.map(str::to_string),
                c.content_hash,
            ));
            Ok(())
        })
        .unwrap();
    for (_, chunks) in files.values_mut() {
        chunks.sort();
    }
    let missing = match model {
        None => 0,
        Some(model) => {
            let tag = crate::store::model_tag(model.model_id());
            let vectors = reader.embedding_table().unwrap();
            files
                .values()
                .flat_map(|(_, chunks)| chunks)
                .filter(|c| vectors.get(&tag, &c.4).unwrap().is_none())
                .count()
        }
    };
    (files, missing)
}

fn apply(root: &Path, op: &Op, touched: &mut BTreeSet<PathBuf>, walk_needed: &mut bool) {
    let path = |i: usize| root.join(FILES[i]);
    match *op {
        Op::Write(f, t) | Op::Append(f, t) => {
            let target = path(f);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let mut text = match op {
                Op::Append(..) => std::fs::read_to_string(&target).unwrap_or_default(),
                _ => String::new(),
            };
            text.push_str(TEXTS[t]);
            std::fs::write(&target, text).unwrap();
            touched.insert(target);
        }
        Op::Delete(f) => {
            if std::fs::remove_file(path(f)).is_ok() {
                touched.insert(path(f));
            }
        }
        Op::Rename(a, b) => {
            let (from, to) = (path(a), path(b));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            if from != to && std::fs::rename(&from, &to).is_ok() {
                touched.insert(from);
                touched.insert(to);
            }
        }
        Op::Ignore(i) => {
            std::fs::write(root.join(".gitignore"), IGNORES[i]).unwrap();
            *walk_needed = true;
        }
        Op::Update => {}
    }
}

fn update(
    index: &mut Index,
    embedder: Option<&dyn Embedder>,
    touched: &mut BTreeSet<PathBuf>,
    walk_needed: &mut bool,
) {
    // As the live index does: the watcher's paths, or a whole walk after ignore rules changed.
    if std::mem::take(walk_needed) {
        index.update(embedder, &mut |_| {}).unwrap();
    } else {
        let paths: Vec<PathBuf> = touched.iter().cloned().collect();
        index.update_paths(&paths, embedder, &mut |_| {}).unwrap();
    }
    touched.clear();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn incremental_updates_end_where_a_fresh_index_starts(
        ops in proptest::collection::vec(op(), 1..30),
        with_model in any::<bool>(),
    ) {
        let workspace = tempfile::tempdir().unwrap();
        let dbs = tempfile::tempdir().unwrap();
        let root = workspace.path().canonicalize().unwrap();
        let model = StaticModel::builtin().unwrap();
        let embedder: Option<&dyn Embedder> = with_model.then_some(model as &dyn Embedder);
        let mut index = Index::open(&root, &dbs.path().join("live.redb")).unwrap();
        index.update(embedder, &mut |_| {}).unwrap();

        let (mut touched, mut walk_needed) = (BTreeSet::new(), false);
        for op in &ops {
            apply(&root, op, &mut touched, &mut walk_needed);
            if matches!(op, Op::Update) {
                update(&mut index, embedder, &mut touched, &mut walk_needed);
            }
        }
        update(&mut index, embedder, &mut touched, &mut walk_needed);

        let mut fresh = Index::open(&root, &dbs.path().join("fresh.redb")).unwrap();
        fresh.update(embedder, &mut |_| {}).unwrap();
        let (live, fresh) = (snapshot(&index, embedder), snapshot(&fresh, embedder));
        prop_assert_eq!(live.1, 0, "chunks without a vector after {:?}", ops);
        prop_assert_eq!(live, fresh, "after {:?}", ops);
        prop_assert!(index.check().unwrap().is_empty());
    }
}
