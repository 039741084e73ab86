//! Nearest vectors: int8 rows in memory (a quarter of `f32`, the same values the index
//! stores), an exact scan, and for large indexes an inverted file (IVF): k-means centroids
//! whose lists of chunk ids narrow a search to a few percent of the rows, scored exactly.

use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::embed::{dot, normalize, quantize};

/// The vectors of a snapshot's chunks, one row per chunk position (zeros where a chunk has
/// none), as int8 codes with one scale per row: what the index stores, so scores are those
/// of the stored vectors.
pub(crate) struct Vectors {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

impl Vectors {
    /// `n` rows of zeros, to be filled by [`Vectors::set`].
    pub fn zeros(dim: usize, n: usize) -> Self {
        Vectors {
            dim,
            codes: vec![0; n * dim],
            scales: vec![0.0; n],
        }
    }

    /// Sets row `pos` to stored codes (left zero when they have another length).
    pub fn set(&mut self, pos: usize, scale: f32, codes: &[i8]) {
        if codes.len() == self.dim {
            self.codes[pos * self.dim..(pos + 1) * self.dim].copy_from_slice(codes);
            self.scales[pos] = scale;
        }
    }

    /// Cosine of row `pos` with `query` (both unit vectors).
    pub fn dot(&self, pos: usize, query: &[f32]) -> f32 {
        dot_codes(&self.codes[pos * self.dim..(pos + 1) * self.dim], query) * self.scales[pos]
    }

    /// Cosines of rows `positions` (ascending) with `query`, on every core. Rows an inverted
    /// file picks lie scattered over the table, and a search waited on memory for each in
    /// turn: each is now fetched a few rows ahead of its turn, so the waits overlap.
    pub fn dot_rows(&self, positions: &[u32], query: &[f32]) -> Vec<(u32, f32)> {
        const AHEAD: usize = 8;
        positions
            .par_chunks(2048)
            .flat_map_iter(|part| {
                part.iter().enumerate().map(move |(i, &p)| {
                    if let Some(&next) = part.get(i + AHEAD) {
                        self.prefetch(next as usize);
                    }
                    (p, self.dot(p as usize, query))
                })
            })
            .collect()
    }

    fn prefetch(&self, pos: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let row = &self.codes[pos * self.dim..(pos + 1) * self.dim];
            for line in row.chunks(64) {
                // SAFETY: a prefetch is a hint that never faults; the address is in the row.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr()) };
            }
        }
    }

    /// Appends a row; a missing vector (or one of another size) is a row of zeros.
    pub fn push(&mut self, vector: Option<&[f32]>) {
        match vector {
            Some(v) if v.len() == self.dim => {
                let (scale, codes) = quantize(v);
                self.codes.extend_from_slice(&codes);
                self.scales.push(scale);
            }
            _ => {
                self.codes.extend(std::iter::repeat_n(0, self.dim));
                self.scales.push(0.0);
            }
        }
    }

    /// Removes row `pos`, moving the last row into its place (as `Vec::swap_remove`).
    pub fn swap_remove(&mut self, pos: usize) {
        let last = self.scales.len() - 1;
        if pos != last {
            let (head, tail) = self.codes.split_at_mut(last * self.dim);
            head[pos * self.dim..(pos + 1) * self.dim].copy_from_slice(tail);
        }
        self.codes.truncate(last * self.dim);
        self.scales.swap_remove(pos);
    }

    /// The median similarity of `query` to the vectors, from a fixed sample of at most 1024.
    pub fn median_similarity(&self, query: &[f32]) -> f32 {
        let rows = self.scales.len();
        let step = rows.div_ceil(1024).max(1);
        let mut sample: Vec<f32> = (0..rows)
            .step_by(step)
            .map(|p| self.dot(p, query))
            .collect();
        if sample.is_empty() {
            return 0.0;
        }
        let mid = sample.len() / 2;
        *sample.select_nth_unstable_by(mid, f32::total_cmp).1
    }

    /// Cosine similarity of `query` with every row.
    pub fn scan(&self, query: &[f32]) -> Vec<f32> {
        self.codes
            .par_chunks_exact(self.dim)
            .with_min_len(4096)
            .zip(self.scales.par_iter())
            .map(|(row, &scale)| dot_codes(row, query) * scale)
            .collect()
    }
}

/// `codes · query`: what every vector search spends its time on. Compiled for the baseline
/// x86-64 (SSE2), widening int8 to float takes several instructions a lane; with AVX2 the same
/// loop takes one, so it is compiled twice and the CPU picks (same arithmetic, same result).
fn dot_codes(codes: &[i8], query: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been seen to support AVX2.
        return unsafe { dot_codes_avx2(codes, query) };
    }
    dot_codes_lanes(codes, query)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_codes_avx2(codes: &[i8], query: &[f32]) -> f32 {
    dot_codes_lanes(codes, query)
}

/// Eight lanes at a time, so the compiler vectorises it.
#[inline(always)]
fn dot_codes_lanes(codes: &[i8], query: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (c8, q8) = (codes.chunks_exact(8), query.chunks_exact(8));
    let tail: f32 = c8
        .remainder()
        .iter()
        .zip(q8.remainder())
        .map(|(&c, q)| c as f32 * q)
        .sum();
    for (c, q) in c8.zip(q8) {
        for i in 0..8 {
            lanes[i] += c[i] as f32 * q[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Rows the k-means that picks the centroids learns from.
const TRAINING_SAMPLE: usize = 32_768;
const KMEANS_ROUNDS: usize = 8;
/// Lists a search reads: with about `√n` lists, this is a few percent of the rows (at a
/// million chunks, 2%: reading rows scattered over the table is what a search waits on).
const PROBED_LISTS: usize = 24;

/// An inverted file over chunk vectors: centroids, and the ids of the chunks nearest to each.
/// Chunks stored after it was built (ids above `max_id`) are scanned exactly; removed ones are
/// skipped when a list names them, until the next build drops them.
#[derive(Serialize, Deserialize)]
pub(crate) struct Ann {
    pub model_id: String,
    pub max_id: u64,
    pub len: usize,
    dim: usize,
    /// `lists.len()` unit vectors of `dim`, one after the other.
    centroids: Vec<f32>,
    lists: Vec<Vec<u64>>,
}

impl Ann {
    /// Clusters `points` (chunk id, int8 codes of a unit vector) into about `√n` lists.
    pub fn build(model_id: &str, dim: usize, points: &[(u64, Vec<i8>)]) -> Self {
        let max_id = points.iter().map(|(id, _)| *id).max().unwrap_or(0);
        let n_lists = (points.len() as f64).sqrt().round().max(1.0) as usize;
        let step = points.len().div_ceil(TRAINING_SAMPLE).max(1);
        let sample: Vec<&[i8]> = points.iter().step_by(step).map(|(_, c)| &c[..]).collect();
        // Spread the first centroids over the sample; Lloyd rounds then move them.
        let mut centroids: Vec<f32> = (0..n_lists)
            .flat_map(|i| sample[i * sample.len() / n_lists].iter().map(|&c| c as f32))
            .collect();
        centroids.chunks_exact_mut(dim).for_each(normalize);
        for _ in 0..KMEANS_ROUNDS {
            let assigned = nearest_centroids(&centroids, dim, &sample);
            let mut sums = vec![0f32; n_lists * dim];
            let mut counts = vec![0usize; n_lists];
            for (codes, &list) in sample.iter().zip(&assigned) {
                counts[list] += 1;
                let sum = &mut sums[list * dim..(list + 1) * dim];
                sum.iter_mut()
                    .zip(*codes)
                    .for_each(|(s, &c)| *s += c as f32);
            }
            for (list, sum) in sums.chunks_exact_mut(dim).enumerate() {
                // An empty list keeps its centroid.
                if counts[list] > 0 {
                    normalize(sum);
                    centroids[list * dim..(list + 1) * dim].copy_from_slice(sum);
                }
            }
        }
        let rows: Vec<&[i8]> = points.iter().map(|(_, c)| &c[..]).collect();
        let assigned = nearest_centroids(&centroids, dim, &rows);
        let mut lists = vec![Vec::new(); n_lists];
        for ((id, _), list) in points.iter().zip(assigned) {
            lists[list].push(*id);
        }
        Ann {
            model_id: model_id.to_string(),
            max_id,
            len: points.len(),
            dim,
            centroids,
            lists,
        }
    }

    /// Chunk ids in the lists nearest to `query`: the candidates to score exactly.
    pub fn candidates(&self, query: &[f32]) -> impl Iterator<Item = u64> + '_ {
        let mut order: Vec<(usize, f32)> = self
            .centroids
            .chunks_exact(self.dim)
            .map(|c| dot(c, query))
            .enumerate()
            .collect();
        let probed = PROBED_LISTS.min(order.len());
        if probed < order.len() {
            order.select_nth_unstable_by(probed, |a, b| b.1.total_cmp(&a.1));
        }
        order
            .into_iter()
            .take(probed)
            .flat_map(|(list, _)| self.lists[list].iter().copied())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("vector indexes always serialise")
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

/// Rows multiplied by the centroids at once: a block of rows and the centroids stay in cache
/// while a matrix product scores every pair (one row at a time streamed every centroid from
/// memory per row, and made the build a third of a cold index of the kernel).
const BLOCK_ROWS: usize = 4096;

/// The nearest centroid (greatest dot product) of each row of codes: the codes' scale is
/// positive, so it leaves the order alone.
fn nearest_centroids(centroids: &[f32], dim: usize, rows: &[&[i8]]) -> Vec<usize> {
    let n_lists = centroids.len() / dim;
    let nearest = || -> candle_core::Result<Vec<usize>> {
        let device = Device::Cpu;
        let by_column = Tensor::from_slice(centroids, (n_lists, dim), &device)?
            .t()?
            .contiguous()?;
        let mut out = Vec::with_capacity(rows.len());
        let mut block = Vec::with_capacity(BLOCK_ROWS * dim);
        for part in rows.chunks(BLOCK_ROWS) {
            block.clear();
            for row in part {
                // A row of another length (never stored for one model) counts as zeros.
                match row.len() == dim {
                    true => block.extend(row.iter().map(|&c| c as f32)),
                    false => block.extend(std::iter::repeat_n(0.0, dim)),
                }
            }
            let scores =
                Tensor::from_slice(&block, (part.len(), dim), &device)?.matmul(&by_column)?;
            out.extend(
                scores
                    .argmax(1)?
                    .to_vec1::<u32>()?
                    .into_iter()
                    .map(|i| i as usize),
            );
        }
        Ok(out)
    };
    // Only shapes can fail here, and they are this function's own.
    nearest().expect("the rows and centroids have the vectors' dimension")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unit vectors in clusters, as embeddings of code are: `n` points around `n / 50` centres.
    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2001) as f32 / 1000.0 - 1.0
        };
        let centres: Vec<Vec<f32>> = (0..n / 50 + 1)
            .map(|_| (0..dim).map(|_| next()).collect())
            .collect();
        (0..n)
            .map(|i| {
                let mut v: Vec<f32> = centres[i % centres.len()]
                    .iter()
                    .map(|c| c + 0.6 * next())
                    .collect();
                normalize(&mut v);
                v
            })
            .collect()
    }

    #[test]
    fn int8_rows_score_like_the_vectors() {
        let points = clustered(300, 64, 1);
        let mut vectors = Vectors::zeros(64, 0);
        points.iter().for_each(|p| vectors.push(Some(p)));
        vectors.push(None);
        let query = &points[7];
        for (pos, p) in points.iter().enumerate() {
            assert!((vectors.dot(pos, query) - dot(p, query)).abs() < 0.01);
        }
        assert_eq!(vectors.dot(300, query), 0.0);
        let scan = vectors.scan(query);
        assert_eq!(scan.len(), 301);
        assert!((scan[7] - 1.0).abs() < 0.01);
        vectors.swap_remove(7);
        assert!(
            (vectors.dot(7, query)).abs() < 0.01,
            "the empty row moved in"
        );
        assert_eq!(vectors.scan(query).len(), 300);
    }

    #[test]
    fn ivf_finds_what_the_exact_scan_finds() {
        let dim = 32;
        // Queries from the same clusters as the points, but not among them.
        let mut points = clustered(20_100, dim, 2);
        let queries = points.split_off(20_000);
        let codes: Vec<(u64, Vec<i8>)> = points
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 + 1, quantize(v).1))
            .collect();
        let ann = Ann::build("m", dim, &codes);
        let ann = Ann::from_bytes(&ann.to_bytes()).unwrap();
        assert_eq!((ann.max_id, ann.len), (20_000, 20_000));
        let (mut found, mut read) = (0, 0);
        for query in &queries {
            let best = (0..points.len())
                .max_by(|&a, &b| dot(&points[a], query).total_cmp(&dot(&points[b], query)))
                .unwrap();
            let candidates: Vec<u64> = ann.candidates(query).collect();
            read += candidates.len();
            found += usize::from(candidates.contains(&(best as u64 + 1)));
        }
        assert!(found >= 95, "recall of the true nearest: {found}/100");
        let share = read as f64 / (queries.len() * points.len()) as f64;
        assert!(share < 0.5, "read {:.0}% of the rows", share * 100.0);
    }
}
