//! Nearest vectors: an exact scan, and an HNSW graph (instant-distance) over compact int8 codes
//! for large indexes, with exact re-scoring of what the graph proposes.

use instant_distance::{Builder, HnswMap, Point, Search};
use serde::{Deserialize, Serialize};

use crate::embed::dot;

/// The vectors of a snapshot's chunks, one row per chunk position (zeros where a chunk has
/// none).
pub(crate) struct Vectors {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Vectors {
    pub fn row(&self, pos: usize) -> &[f32] {
        &self.data[pos * self.dim..(pos + 1) * self.dim]
    }

    /// Appends a row; a missing vector (or one of another size) is a row of zeros.
    pub fn push(&mut self, vector: Option<&[f32]>) {
        match vector {
            Some(v) if v.len() == self.dim => self.data.extend_from_slice(v),
            _ => self.data.extend(std::iter::repeat_n(0.0, self.dim)),
        }
    }

    /// Removes row `pos`, moving the last row into its place (as `Vec::swap_remove`).
    pub fn swap_remove(&mut self, pos: usize) {
        let last = self.data.len() / self.dim - 1;
        if pos != last {
            let (head, tail) = self.data.split_at_mut(last * self.dim);
            head[pos * self.dim..(pos + 1) * self.dim].copy_from_slice(tail);
        }
        self.data.truncate(last * self.dim);
    }

    /// The median similarity of `query` to the vectors, from a fixed sample of at most 1024.
    pub fn median_similarity(&self, query: &[f32]) -> f32 {
        let rows = self.data.len() / self.dim.max(1);
        let step = rows.div_ceil(1024).max(1);
        let mut sample: Vec<f32> = (0..rows)
            .step_by(step)
            .map(|p| dot(self.row(p), query))
            .collect();
        if sample.is_empty() {
            return 0.0;
        }
        let mid = sample.len() / 2;
        *sample.select_nth_unstable_by(mid, f32::total_cmp).1
    }

    /// Cosine similarity of `query` with every row.
    pub fn scan(&self, query: &[f32]) -> Vec<f32> {
        self.data
            .chunks_exact(self.dim)
            .map(|row| dot(row, query))
            .collect()
    }
}

/// A unit vector as int8 codes: a quarter of the size, distances within ~1% of f32.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Code(Vec<i8>);

impl Code {
    pub fn new(v: &[f32]) -> Self {
        Code(
            v.iter()
                .map(|x| (x * 127.0).round().clamp(-127.0, 127.0) as i8)
                .collect(),
        )
    }
}

impl Point for Code {
    fn distance(&self, other: &Self) -> f32 {
        let dot: i32 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(&a, &b)| a as i32 * b as i32)
            .sum();
        1.0 - dot as f32 / (127.0 * 127.0)
    }
}

/// An HNSW graph over chunk vectors, valued by chunk id. Chunks stored after it was built
/// (ids above `max_id`) are scanned exactly; removed ones are skipped when met.
#[derive(Serialize, Deserialize)]
pub(crate) struct Ann {
    pub model_id: String,
    pub max_id: u64,
    pub len: usize,
    map: HnswMap<Code, u64>,
}

impl Ann {
    pub fn build(model_id: &str, points: Vec<(u64, Code)>) -> Self {
        let max_id = points.iter().map(|(id, _)| *id).max().unwrap_or(0);
        let len = points.len();
        let (ids, codes): (Vec<u64>, Vec<Code>) = points.into_iter().unzip();
        let map = Builder::default()
            .ef_construction(100)
            .ef_search(128)
            .seed(7)
            .build(codes, ids);
        Ann {
            model_id: model_id.to_string(),
            max_id,
            len,
            map,
        }
    }

    /// Chunk ids of up to `k` approximate nearest neighbours.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<u64> {
        let mut search = Search::default();
        self.map
            .search(&Code::new(query), &mut search)
            .take(k)
            .map(|item| *item.value)
            .collect()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("graphs always serialise")
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::normalize;

    fn random_unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        normalize(&mut v);
        v
    }

    #[test]
    fn ann_finds_what_the_exact_scan_finds() {
        let dim = 32;
        let vectors: Vec<Vec<f32>> = (0..2000).map(|i| random_unit(i, dim)).collect();
        let ann = Ann::build(
            "m",
            vectors
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u64 + 1, Code::new(v)))
                .collect(),
        );
        let ann = Ann::from_bytes(&ann.to_bytes()).unwrap();
        assert_eq!(ann.max_id, 2000);
        let mut found = 0;
        for q in 0..50 {
            let query = random_unit(10_000 + q, dim);
            let best = (0..vectors.len())
                .max_by(|&a, &b| dot(&vectors[a], &query).total_cmp(&dot(&vectors[b], &query)))
                .unwrap();
            found += usize::from(ann.search(&query, 10).contains(&(best as u64 + 1)));
        }
        assert!(found >= 45, "recall@10 of the true nearest: {found}/50");
    }
}
