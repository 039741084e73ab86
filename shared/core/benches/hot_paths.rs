//! The engine's hot paths, each on real code (this repository's own sources): chunking,
//! tokenising, embedding with the built-in model, nearest-vector search and lexical (BM25)
//! search. `cargo bench -p scry-core`; the whole-tree figures come from `bench/scale.sh`.

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scry_core::{Embedder, Filter, Index, StaticModel, chunk, lang, tokens, walk};

/// The repository's Rust, Python and TypeScript sources, read once.
fn sources() -> Vec<(String, walk::FileText)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let report = walk::walk(&root, &walk::Excludes::default(), &Default::default());
    report
        .files
        .iter()
        .filter(|f| {
            ["shared/", "lsp/src/", "server/src/", "extensions/"]
                .iter()
                .any(|dir| f.rel_path.starts_with(dir))
        })
        .filter_map(|f| Some((f.rel_path.clone(), walk::read(f).ok()?)))
        .collect()
}

fn chunk_texts(files: &[(String, walk::FileText)]) -> Vec<String> {
    files
        .iter()
        .flat_map(|(_, f)| chunk::chunk(&f.text, f.language))
        .map(|c| c.text)
        .collect()
}

fn bytes(files: &[(String, walk::FileText)]) -> u64 {
    files.iter().map(|(_, f)| f.text.len() as u64).sum()
}

fn chunking(c: &mut Criterion) {
    let files = sources();
    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Bytes(bytes(&files)));
    group.bench_function("tree-sitter chunks of the repo", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|(_, f)| chunk::chunk(&f.text, f.language).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

fn tokenising(c: &mut Criterion) {
    let files = sources();
    let chunks: Vec<(String, &'static lang::Language, chunk::Chunk)> = files
        .iter()
        .flat_map(|(path, f)| {
            chunk::chunk(&f.text, f.language)
                .into_iter()
                .map(move |c| (path.clone(), f.language, c))
        })
        .collect();
    let mut group = c.benchmark_group("tokens");
    group.throughput(Throughput::Elements(chunks.len() as u64));
    group.bench_function("BM25 terms of every chunk", |b| {
        b.iter(|| {
            chunks
                .iter()
                .map(|(path, _, c)| {
                    tokens::term_freqs(path, c.symbol.as_deref(), c.scope.as_deref(), &c.text).len()
                })
                .sum::<usize>()
        })
    });
    group.bench_function(
        "similar-code fingerprints and MinHash of every chunk",
        |b| {
            b.iter(|| {
                chunks
                    .iter()
                    .map(|(_, language, c)| {
                        let print = tokens::fingerprint(&c.text, language.keywords);
                        (
                            tokens::minhash(&print.shape),
                            tokens::minhash(&print.vocabulary),
                        )
                    })
                    .filter(|(shape, vocabulary)| shape.is_some() && vocabulary.is_some())
                    .count()
            })
        },
    );
    group.finish();
}

fn embedding(c: &mut Criterion) {
    let files = sources();
    let texts = chunk_texts(&files);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let model = StaticModel::builtin().expect("built-in model");
    let mut group = c.benchmark_group("embed");
    group.throughput(Throughput::Elements(refs.len() as u64));
    group.bench_function("built-in model, every chunk", |b| {
        b.iter(|| model.embed_documents(&refs).expect("embeds").len())
    });
    group.finish();
}

/// A workspace of this repository's sources, indexed with the built-in model into a
/// temporary directory.
struct Indexed {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    root: PathBuf,
    db: PathBuf,
}

fn indexed() -> Indexed {
    let ws = tempfile::tempdir().expect("temp dir");
    let db = tempfile::tempdir().expect("temp dir");
    for (path, f) in sources() {
        let target = ws.path().join(path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, &f.text).expect("write");
    }
    let root = ws.path().to_path_buf();
    let db_path = db.path().join("index.redb");
    let model = StaticModel::builtin().expect("built-in model");
    Index::open(&root, &db_path)
        .expect("index")
        .update(Some(model), &mut |_| {})
        .expect("update");
    Indexed {
        _dirs: (ws, db),
        root,
        db: db_path,
    }
}

const QUERIES: [&str; 6] = [
    "retry a failed request with back-off",
    "parse the configuration file",
    "split an identifier at case changes",
    "rate limit per organisation",
    "PostingRun",
    "open the index and rebuild a stale schema",
];

fn searching(c: &mut Criterion) {
    let ws = indexed();
    let index = Index::open(&ws.root, &ws.db).expect("index");
    let model: &dyn Embedder = StaticModel::builtin().expect("built-in model");
    let lexical = index.searcher(None).expect("searcher");
    let hybrid = index
        .searcher(Some(std::sync::Arc::new(model)))
        .expect("searcher");
    let all = Filter::default();
    let mut group = c.benchmark_group("search");
    group.throughput(Throughput::Elements(QUERIES.len() as u64));
    let every_query = |searcher: &scry_core::Searcher| {
        QUERIES
            .iter()
            .map(|q| searcher.search(q, 10, &all).expect("search").len())
            .sum::<usize>()
    };
    group.bench_function("BM25 only (no model)", |b| b.iter(|| every_query(&lexical)));
    group.bench_function("hybrid (BM25 + vectors + ranking)", |b| {
        b.iter(|| every_query(&hybrid))
    });
    group.finish();
}

fn nearest_vectors(c: &mut Criterion) {
    let files = sources();
    let model = StaticModel::builtin().expect("built-in model");
    let texts = chunk_texts(&files);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // Enough points for an inverted file: the repository's chunks, each also slightly shifted.
    let base = model.embed_documents(&refs).expect("embeds");
    let points: Vec<Vec<f32>> = (0..8)
        .flat_map(|round| {
            base.iter().enumerate().map(move |(i, v)| {
                let mut v = v.clone();
                let at = (i + round) % v.len();
                v[at] += 0.05 * round as f32;
                v
            })
        })
        .collect();
    let queries: Vec<Vec<f32>> = QUERIES
        .iter()
        .map(|q| model.embed_query(q).expect("embeds"))
        .collect();
    let mut group = c.benchmark_group("ann");
    group.sample_size(10);
    group.bench_function(
        format!("build an inverted file of {} vectors", points.len()),
        |b| b.iter(|| scry_core::bench::VectorIndex::build(&points)),
    );
    let index = scry_core::bench::VectorIndex::build(&points);
    group.sample_size(50);
    group.throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function(format!("candidates from {} vectors", points.len()), |b| {
        b.iter(|| queries.iter().map(|q| index.candidates(q)).sum::<usize>())
    });
    group.finish();
}

criterion_group!(
    benches,
    chunking,
    tokenising,
    embedding,
    searching,
    nearest_vectors
);
criterion_main!(benches);
