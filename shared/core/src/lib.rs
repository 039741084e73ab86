//! Scry's engine: semantic and lexical code search over a local, incremental index.
//!
//! Data flows one way: [`walk`] finds files, [`chunk`] cuts them into definitions,
//! [`embed`] turns chunks into vectors, the store keeps them in one redb file per workspace,
//! and [`Searcher`] answers queries from a consistent snapshot. [`Index`] runs the pipeline.
//!
//! ```no_run
//! use scry_core::{Filter, Index, default_db_path};
//! # fn main() -> scry_core::Result<()> {
//! let root = std::path::Path::new(".");
//! let mut index = Index::open(root, &default_db_path(&root.canonicalize().unwrap()))?;
//! index.update(None, &mut |_| {})?;
//! for hit in index.searcher(None)?.search("retry failed uploads", 10, &Filter::default())? {
//!     println!("{}:{} {:?}", hit.path, hit.start_line, hit.symbol);
//! }
//! # Ok(()) }
//! ```

pub mod alloc;
pub mod chunk;
pub mod config;
mod damage;
pub mod disk_wait;
pub mod embed;
mod error;
mod index;
pub mod lang;
pub mod live;
pub mod mirror;
pub mod model;
mod records;
pub mod repo;
mod search;
pub mod snapshot;
mod store;
pub mod tokens;
pub mod walk;

pub use embed::{BertEmbedder, Embedder, StaticModel};
pub use error::{Error, Result};
pub use index::{
    Index, LastUpdate, Progress, REUSE_MIN_FILES, Reuse, Status, UpdateStats, default_db_path,
    index_home,
};
pub use lang::ChunkKind;
pub use search::{Buffer, Changes, Filter, Hit, Searcher, Span};

/// Internals opened for the benchmarks in `benches/`; not part of the API.
#[doc(hidden)]
pub mod bench {
    use crate::search::dense::Ivf;

    /// The inverted file over int8 codes that large indexes search.
    pub struct VectorIndex(Ivf);

    impl VectorIndex {
        /// Ids are 1-based insertion order.
        pub fn build(points: &[Vec<f32>]) -> Self {
            let dim = points.first().map_or(0, Vec::len);
            let codes: Vec<(u64, Vec<i8>)> = (1..)
                .zip(points.iter().map(|v| crate::embed::quantize(v).1))
                .collect();
            VectorIndex(Ivf::build("bench", dim, &codes))
        }

        /// How many candidates a search for `query` reads.
        pub fn candidates(&self, query: &[f32]) -> usize {
            self.0.candidates(query).count()
        }
    }
}
