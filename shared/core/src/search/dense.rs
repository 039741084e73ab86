//! Nearest vectors: 4-bit codes in memory (an eighth of `f32`, half of the int8 vectors the
//! index stores) that pick candidates, an exact scan, and for large indexes an inverted file
//! (IVF): k-means centroids whose lists of chunk ids narrow a search to a few percent of the
//! rows. The searcher re-scores the candidates it keeps with the stored vectors.

use candle_core::{Device, Storage, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::embed::{dot, normalize, quantize};

/// The vectors of a snapshot's chunks, one row per chunk position (none where a chunk has
/// none), as 4-bit codes: at a million chunks, 128 bytes a row of 256 dimensions instead of
/// 256. Each dimension is quantised around its mean with a step of its own, learnt from the
/// rows (embeddings share a common direction and their dimensions spread unequally: one
/// step per row lost a quarter of the true nearest ten). Byte `j` of a row holds dimension
/// `j` in its low half and `j + dim / 2` (rounded up) in its high half, so both halves meet
/// the query in order.
pub(crate) struct Vectors {
    dim: usize,
    /// Bytes per row.
    half: usize,
    nibbles: Vec<u8>,
    present: Vec<bool>,
    mean: Vec<f32>,
    step: Vec<f32>,
    /// Rows set before the statistics were learnt, as `f32`s: see [`Vectors::set`].
    pending: Vec<(usize, Vec<f32>)>,
    learnt: bool,
}

/// A query laid out for [`Vectors`]: each half of a row's bytes meets the query times the
/// steps of its dimensions (the high half padded with zeros when `dim` is odd); `offset` is
/// what the means and the codes' origin add.
pub(crate) struct Lanes {
    low: Vec<f32>,
    high: Vec<f32>,
    offset: f32,
}

/// A dimension's step, in units of its standard deviation: 0.335 is the step of the
/// 16-level uniform quantiser with the least error for Gaussian values (Max, 1960), which
/// the components of an embedding roughly are; the largest few are clipped.
const STEP_PER_SD: f32 = 0.3352;
/// Code `n` (0..=15) stands for `mean + (n - MIDDLE) × step`: the middle of its step.
const MIDDLE: f32 = 7.5;
/// Rows the statistics are learnt from: a searcher's load reads rows in hash order, so the
/// first ones are a fair sample.
const SAMPLE: usize = 16_384;
/// Fewer rows than this learn nothing: the statistics stay those of unit vectors spread
/// evenly (mean 0, deviation `1/√dim`), as they do for rows added to an empty searcher.
const LEAST_SAMPLE: usize = 64;

impl Vectors {
    /// `n` rows without vectors, to be filled by [`Vectors::set`] and [`Vectors::finish`].
    pub fn zeros(dim: usize, n: usize) -> Self {
        let half = dim.div_ceil(2);
        let even = 1.0 / (dim.max(1) as f32).sqrt();
        let mut nibbles = Vec::with_capacity(super::with_room(n) * half);
        nibbles.resize(n * half, 0);
        let mut present = Vec::with_capacity(super::with_room(n));
        present.resize(n, false);
        Vectors {
            dim,
            half,
            nibbles,
            present,
            mean: vec![0.0; dim],
            step: vec![STEP_PER_SD * even; dim],
            pending: Vec::new(),
            learnt: false,
        }
    }

    /// `n` rows without vectors, whose statistics are known (those of stored rows).
    pub fn with_stats(dim: usize, n: usize, mean: Vec<f32>, step: Vec<f32>) -> Self {
        Vectors {
            mean,
            step,
            learnt: true,
            ..Vectors::zeros(dim, n)
        }
    }

    /// The statistics the rows are quantised with: means and steps.
    pub fn stats(&self) -> (&[f32], &[f32]) {
        (&self.mean, &self.step)
    }

    /// Row `pos` as stored, when it has a vector.
    pub fn row(&self, pos: usize) -> Option<&[u8]> {
        self.present[pos].then(|| &self.nibbles[pos * self.half..(pos + 1) * self.half])
    }

    /// Sets row `pos` to 4-bit codes quantised with these statistics.
    pub fn set_codes(&mut self, pos: usize, row: &[u8]) {
        self.nibbles[pos * self.half..(pos + 1) * self.half].copy_from_slice(row);
        self.present[pos] = true;
    }

    /// Sets row `pos` to a stored vector, once the statistics are known.
    pub fn set_vector(&mut self, pos: usize, vector: &[f32]) {
        if self.learnt && vector.len() == self.dim {
            self.write(pos, vector);
        }
    }

    /// Sets row `pos` to stored int8 codes (left empty when they have another length). The
    /// first rows wait until they are enough to learn the statistics from.
    pub fn set(&mut self, pos: usize, scale: f32, codes: &[i8]) {
        if codes.len() != self.dim {
            return;
        }
        let row: Vec<f32> = codes.iter().map(|&c| f32::from(c) * scale).collect();
        if self.learnt {
            self.write(pos, &row);
            return;
        }
        self.pending.push((pos, row));
        if self.pending.len() == SAMPLE {
            self.finish();
        }
    }

    /// Learns the statistics from the rows set so far (when they are enough) and writes
    /// them: call after the last [`Vectors::set`].
    pub fn finish(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if pending.len() >= LEAST_SAMPLE {
            let n = pending.len() as f32;
            for d in 0..self.dim {
                let mean = pending.iter().map(|(_, r)| r[d]).sum::<f32>() / n;
                let var = pending
                    .iter()
                    .map(|(_, r)| (r[d] - mean).powi(2))
                    .sum::<f32>()
                    / n;
                self.mean[d] = mean;
                self.step[d] = STEP_PER_SD * var.sqrt().max(1e-6);
            }
            self.learnt = true;
        }
        for (pos, row) in pending {
            self.write(pos, &row);
        }
    }

    /// Plain casts (no `floor`, a call per value on baseline x86-64): a load does this for
    /// every row.
    fn write(&mut self, pos: usize, row: &[f32]) {
        // Truncating a non-negative value floors it: codes count steps up from -8.
        let code = |d: usize| {
            row.get(d).map_or(0, |&x| {
                ((x - self.mean[d]) / self.step[d] + 8.0).clamp(0.0, 15.0) as u8
            })
        };
        let half = self.half;
        for j in 0..half {
            self.nibbles[pos * half + j] = code(j) | code(j + half) << 4;
        }
        self.present[pos] = true;
    }

    /// Appends a row; a missing vector (or one of another size) leaves it empty.
    pub fn push(&mut self, vector: Option<&[f32]>) {
        let pos = self.present.len();
        self.nibbles.resize(self.nibbles.len() + self.half, 0);
        self.present.push(false);
        if let Some(v) = vector.filter(|v| v.len() == self.dim) {
            // Through int8 codes: the values the index stores for the same vector.
            let (scale, codes) = quantize(v);
            let row: Vec<f32> = codes.iter().map(|&c| f32::from(c) * scale).collect();
            self.write(pos, &row);
        }
    }

    #[cfg(test)]
    pub(crate) fn rows_address(&self) -> usize {
        self.nibbles.as_ptr() as usize
    }

    /// Removes row `pos`, moving the last row into its place (as `Vec::swap_remove`).
    pub fn swap_remove(&mut self, pos: usize) {
        let last = self.present.len() - 1;
        if pos != last {
            let (head, tail) = self.nibbles.split_at_mut(last * self.half);
            head[pos * self.half..(pos + 1) * self.half].copy_from_slice(tail);
        }
        self.nibbles.truncate(last * self.half);
        self.present.swap_remove(pos);
    }

    /// `query` (a unit vector) laid out for the rows.
    pub fn lanes(&self, query: &[f32]) -> Lanes {
        let scaled: Vec<f32> = query.iter().zip(&self.step).map(|(q, s)| q * s).collect();
        let (low, high) = scaled.split_at(self.half.min(scaled.len()));
        let mut high = high.to_vec();
        high.resize(self.half, 0.0);
        Lanes {
            low: low.to_vec(),
            high,
            offset: dot(query, &self.mean) - MIDDLE * scaled.iter().sum::<f32>(),
        }
    }

    /// About the cosine of row `pos` with the query: within a few hundredths, enough to
    /// pick candidates, not to rank them.
    pub fn approx(&self, pos: usize, query: &Lanes) -> f32 {
        if !self.present[pos] {
            return 0.0;
        }
        let row = &self.nibbles[pos * self.half..(pos + 1) * self.half];
        dot_nibbles(row, query) + query.offset
    }

    /// [`Vectors::approx`] of rows `positions` (ascending), on every core. Rows an inverted
    /// file picks lie scattered over the table, and a search waited on memory for each in
    /// turn: each is now fetched a few rows ahead of its turn, so the waits overlap.
    pub fn approx_rows(&self, positions: &[u32], query: &Lanes) -> Vec<(u32, f32)> {
        const AHEAD: usize = 8;
        positions
            .par_chunks(2048)
            .flat_map_iter(|part| {
                part.iter().enumerate().map(move |(i, &p)| {
                    if let Some(&next) = part.get(i + AHEAD) {
                        self.prefetch(next as usize);
                    }
                    (p, self.approx(p as usize, query))
                })
            })
            .collect()
    }

    fn prefetch(&self, pos: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let row = &self.nibbles[pos * self.half..(pos + 1) * self.half];
            for line in row.chunks(64) {
                // SAFETY: a prefetch is a hint that never faults; the address is in the row.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
            }
        }
    }

    /// The median similarity of the query to the vectors, from a fixed sample of at most
    /// 1024 (approximate, like each of them: a median of many errs far less).
    pub fn median_similarity(&self, query: &Lanes) -> f32 {
        let rows = self.present.len();
        let step = rows.div_ceil(1024).max(1);
        let mut sample: Vec<f32> = (0..rows)
            .step_by(step)
            .map(|p| self.approx(p, query))
            .collect();
        if sample.is_empty() {
            return 0.0;
        }
        let mid = sample.len() / 2;
        *sample.select_nth_unstable_by(mid, f32::total_cmp).1
    }

    /// [`Vectors::approx`] of every row.
    pub fn scan(&self, query: &Lanes) -> Vec<f32> {
        self.nibbles
            .par_chunks_exact(self.half)
            .with_min_len(4096)
            .zip(self.present.par_iter())
            .map(|(row, &present)| match present {
                true => dot_nibbles(row, query) + query.offset,
                false => 0.0,
            })
            .collect()
    }
}

/// `codes · query` over a row's 4-bit codes: what every vector search spends its time on.
/// Compiled for the baseline x86-64 (SSE2), widening small integers to float takes several
/// instructions a lane; with AVX2 the same loop takes one, so it is compiled twice and the CPU
/// picks (same arithmetic, same result).
fn dot_nibbles(row: &[u8], query: &Lanes) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been seen to support AVX2.
        return unsafe { dot_nibbles_avx2(row, query) };
    }
    dot_nibbles_lanes(row, query)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_nibbles_avx2(row: &[u8], query: &Lanes) -> f32 {
    dot_nibbles_lanes(row, query)
}

/// Eight bytes at a time, so the compiler vectorises it.
#[inline(always)]
fn dot_nibbles_lanes(row: &[u8], query: &Lanes) -> f32 {
    let mut lanes = [0f32; 8];
    let low = |b: u8| f32::from(b & 0x0f);
    let high = |b: u8| f32::from(b >> 4);
    let (r8, l8, h8) = (
        row.chunks_exact(8),
        query.low.chunks_exact(8),
        query.high.chunks_exact(8),
    );
    let tail: f32 = r8
        .remainder()
        .iter()
        .zip(l8.remainder().iter().zip(h8.remainder()))
        .map(|(&b, (l, h))| low(b) * l + high(b) * h)
        .sum();
    for (r, (l, h)) in r8.zip(l8.zip(h8)) {
        for i in 0..8 {
            lanes[i] += low(r[i]) * l[i] + high(r[i]) * h[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Rows the k-means that picks the centroids learns from.
const TRAINING_SAMPLE: usize = 32_768;
const KMEANS_ROUNDS: usize = 8;
/// Lists a search reads: with about `√n` lists, this is a few percent of the rows (reading
/// rows scattered over the table is what a search waits on).
const PROBED_LISTS: usize = 24;

/// An inverted file over chunk vectors: centroids, and the ids of the chunks nearest to each.
/// Chunks stored after it was built (ids above `max_id`) are scanned exactly; removed ones are
/// skipped when a list names them, until the next build drops them.
#[derive(Serialize, Deserialize)]
pub(crate) struct Ivf {
    pub model_id: String,
    pub max_id: u64,
    pub len: usize,
    dim: usize,
    /// `lists.len()` unit vectors of `dim`, one after the other.
    centroids: Vec<f32>,
    lists: Vec<Vec<u64>>,
}

impl Ivf {
    /// Clusters `points` (chunk id, int8 codes of a unit vector) into about `√n` lists.
    pub fn build(model_id: &str, dim: usize, points: &[(u64, Vec<i8>)]) -> Self {
        let max_id = points.iter().map(|(id, _)| *id).max().unwrap_or(0);
        let n_lists = (points.len() as f64).sqrt().round().max(1.0) as usize;
        let step = points.len().div_ceil(TRAINING_SAMPLE).max(1);
        let sample: Vec<&[i8]> = points.iter().step_by(step).map(|(_, c)| &c[..]).collect();
        let centroids = kmeans(&sample, dim, n_lists);
        let rows: Vec<&[i8]> = points.iter().map(|(_, c)| &c[..]).collect();
        let assigned = assign(&centroids, dim, &rows);
        let mut lists = vec![Vec::new(); n_lists];
        for ((id, _), list) in points.iter().zip(assigned) {
            lists[list].push(*id);
        }
        Ivf {
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

/// `k` unit centres of `sample` (codes or floats of unit vectors): spread over the sample
/// first, then moved by Lloyd rounds.
fn kmeans<T: Copy + Into<f32> + Sync>(sample: &[&[T]], dim: usize, k: usize) -> Vec<f32> {
    let mut centres: Vec<f32> = (0..k)
        .flat_map(|i| sample[i * sample.len() / k].iter().map(|&c| c.into()))
        .collect();
    centres.chunks_exact_mut(dim).for_each(normalize);
    for _ in 0..KMEANS_ROUNDS {
        let assigned = assign(&centres, dim, sample);
        let mut sums = vec![0f32; k * dim];
        let mut counts = vec![0usize; k];
        for (row, &centre) in sample.iter().zip(&assigned) {
            counts[centre] += 1;
            let sum = &mut sums[centre * dim..(centre + 1) * dim];
            sum.iter_mut().zip(*row).for_each(|(s, &c)| *s += c.into());
        }
        for (centre, sum) in sums.chunks_exact_mut(dim).enumerate() {
            // An empty cluster keeps its centre.
            if counts[centre] > 0 {
                normalize(sum);
                centres[centre * dim..(centre + 1) * dim].copy_from_slice(sum);
            }
        }
    }
    centres
}

/// Groups of centroids in which a row's list is looked for.
const GROUPS_SEARCHED: usize = 4;

/// Each row's list: its nearest centroid among the members of the `GROUPS_SEARCHED` groups
/// (k-means of the centroids, about `√lists` of them) whose centres are nearest to it. That is
/// a sixth of the products of scoring every centroid (at a million rows, the product was
/// most of the build, the k-means rounds' included); a row whose nearest centroid sits in a
/// farther group joins a list that is nearly as near (bench/HISTORY.md, the kernel).
fn assign<T: Copy + Into<f32> + Sync>(centroids: &[f32], dim: usize, rows: &[&[T]]) -> Vec<usize> {
    let n_lists = centroids.len() / dim;
    let n_groups = (n_lists as f64).sqrt().round() as usize;
    if n_groups <= 2 * GROUPS_SEARCHED {
        return nearest_centroids(centroids, dim, rows);
    }
    let as_rows: Vec<&[f32]> = centroids.chunks_exact(dim).collect();
    let centres = kmeans(&as_rows, dim, n_groups);
    let mut members = vec![Vec::new(); n_groups];
    for (list, group) in nearest_centroids(&centres, dim, &as_rows)
        .into_iter()
        .enumerate()
    {
        members[group].push(list);
    }
    // Groups left empty drop out, so every group a row searches has lists.
    let (centres, members): (Vec<&[f32]>, Vec<Vec<usize>>) = centres
        .chunks_exact(dim)
        .zip(members)
        .filter(|(_, lists)| !lists.is_empty())
        .unzip();
    let n_groups = members.len();
    let centres = by_column(&centres.concat(), n_groups, dim);
    let members: Vec<(Tensor, Vec<usize>)> = members
        .into_iter()
        .map(|lists| {
            let matrix: Vec<f32> = lists.iter().flat_map(|&l| as_rows[l]).copied().collect();
            (by_column(&matrix, lists.len(), dim), lists)
        })
        .collect();
    let blocks: Vec<Vec<usize>> = rows
        .par_chunks(BLOCK_ROWS)
        .map(|part| {
            let block = as_block(part, dim);
            let by_group = product(&block, part.len(), dim, &centres, |scores| {
                rows_by_group(scores, n_groups)
            });
            let mut best = vec![(f32::NEG_INFINITY, 0); part.len()];
            for ((columns, lists), at) in members.iter().zip(by_group) {
                if at.is_empty() {
                    continue;
                }
                let sub: Vec<f32> = at
                    .iter()
                    .flat_map(|&r| &block[r * dim..(r + 1) * dim])
                    .copied()
                    .collect();
                product(&sub, at.len(), dim, columns, |scores| {
                    for (&r, scores) in at.iter().zip(scores.chunks_exact(lists.len())) {
                        let i = argmax(scores);
                        if scores[i] > best[r].0 {
                            best[r] = (scores[i], lists[i]);
                        }
                    }
                });
            }
            best.into_iter().map(|(_, list)| list).collect()
        })
        .collect();
    blocks.concat()
}

/// For each of `n` groups, the rows that search it (by their scores against the groups'
/// centres, `n` a row): each row searches its `GROUPS_SEARCHED` best.
fn rows_by_group(scores: &[f32], n: usize) -> Vec<Vec<usize>> {
    let searched = GROUPS_SEARCHED.min(n);
    let mut at = vec![Vec::new(); n];
    let mut order = Vec::with_capacity(n);
    for (r, row) in scores.chunks_exact(n).enumerate() {
        order.clear();
        order.extend(0..n);
        order.select_nth_unstable_by(searched - 1, |&a, &b| row[b].total_cmp(&row[a]));
        for &group in &order[..searched] {
            at[group].push(r);
        }
    }
    at
}

/// Rows of codes as one block of `f32`s; a row of another length (never stored for one
/// model) counts as zeros.
fn as_block<T: Copy + Into<f32>>(rows: &[&[T]], dim: usize) -> Vec<f32> {
    let mut block = Vec::with_capacity(rows.len() * dim);
    for row in rows {
        match row.len() == dim {
            true => block.extend(row.iter().map(|&c| c.into())),
            false => block.extend(std::iter::repeat_n(0.0, dim)),
        }
    }
    block
}

/// `n` rows of `dim` floats as the right-hand side of a product: `dim` × `n`.
fn by_column(matrix: &[f32], n: usize, dim: usize) -> Tensor {
    let tensor = || {
        Tensor::from_slice(matrix, (n, dim), &Device::Cpu)?
            .t()?
            .contiguous()
    };
    // Only shapes can fail here, and they are the callers' own.
    tensor().expect("rows have the vectors' dimension")
}

/// `n` rows of `dim` times `by_column` (`dim` × columns), and what `read` makes of the scores
/// (each row's, one after another), read where the product left them rather than copied out.
fn product<R>(
    rows: &[f32],
    n: usize,
    dim: usize,
    by_column: &Tensor,
    read: impl FnOnce(&[f32]) -> R,
) -> R {
    let scores = || -> candle_core::Result<R> {
        let scores = Tensor::from_slice(rows, (n, dim), &Device::Cpu)?.matmul(by_column)?;
        let (storage, layout) = scores.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            unreachable!("the tensors live on the CPU");
        };
        let all = &cpu.as_slice::<f32>()?[layout.start_offset()..];
        Ok(read(&all[..n * by_column.dim(1)?]))
    };
    // Only shapes can fail here, and they are the callers' own.
    scores().expect("rows and columns have the vectors' dimension")
}

/// Rows multiplied by the centroids at once: a block of rows and the centroids stay in cache
/// while a matrix product scores every pair (one row at a time streamed every centroid from
/// memory per row, and made the build a third of a cold index of the kernel).
const BLOCK_ROWS: usize = 4096;

/// The nearest centroid (greatest dot product) of each row of codes: the codes' scale is
/// positive, so it leaves the order alone.
fn nearest_centroids<T: Copy + Into<f32> + Sync>(
    centroids: &[f32],
    dim: usize,
    rows: &[&[T]],
) -> Vec<usize> {
    let n_lists = centroids.len() / dim;
    let by_column = by_column(centroids, n_lists, dim);
    let mut out = Vec::with_capacity(rows.len());
    for part in rows.chunks(BLOCK_ROWS) {
        let block = as_block(part, dim);
        // Tensor::argmax reads the scores on one thread, a fifth of the build's time.
        product(&block, part.len(), dim, &by_column, |scores| {
            out.par_extend(scores.par_chunks_exact(n_lists).map(argmax))
        });
    }
    out
}

/// The index of the greatest score (the first of equals): a maximum over lanes the compiler
/// vectorises, then its position.
fn argmax(scores: &[f32]) -> usize {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut rest = scores.chunks_exact(16);
    for chunk in &mut rest {
        for (lane, &s) in lanes.iter_mut().zip(chunk) {
            if s > *lane {
                *lane = s;
            }
        }
    }
    let best = rest
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    scores.iter().position(|&s| s == best).unwrap_or(0)
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

    /// Scores from the 4-bit rows, against the true cosines of `points` with `query`: the
    /// largest error, and how many of the true nearest ten the approximate best twenty hold.
    fn errors(vectors: &Vectors, points: &[Vec<f32>], query: &[f32]) -> (f32, usize) {
        let lanes = vectors.lanes(query);
        let worst = (0..points.len())
            .map(|p| (vectors.approx(p, &lanes) - dot(&points[p], query)).abs())
            .fold(0.0, f32::max);
        let ranked = |score: &dyn Fn(usize) -> f32, k: usize| {
            let mut order: Vec<usize> = (0..points.len()).collect();
            order.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
            order.truncate(k);
            order
        };
        let truth = ranked(&|p| dot(&points[p], query), 10);
        let approx = ranked(&|p| vectors.approx(p, &lanes), 20);
        (worst, truth.iter().filter(|p| approx.contains(p)).count())
    }

    #[test]
    fn rows_added_after_loading_do_not_move_the_table() {
        let mut vectors = Vectors::zeros(64, 16_000);
        let at = vectors.rows_address();
        let v = clustered(1, 64, 3).remove(0);
        for _ in 0..1_000 {
            vectors.push(Some(&v));
        }
        assert_eq!(vectors.rows_address(), at, "an edit would copy every row");
    }

    #[test]
    fn argmax_finds_the_first_greatest_score_in_any_lane() {
        assert_eq!(argmax(&[0.5]), 0);
        let mut scores: Vec<f32> = (0..37).map(|i| (i % 5) as f32 * -0.1).collect();
        for best in [0, 15, 16, 31, 36] {
            let mut s = scores.clone();
            s[best] = 0.9;
            assert_eq!(argmax(&s), best);
        }
        scores[20] = 0.9;
        scores[33] = 0.9;
        assert_eq!(argmax(&scores), 20, "the first of equals");
    }

    #[test]
    fn four_bit_rows_pick_the_nearest_vectors() {
        let points = clustered(2_000, 64, 1);
        let mut vectors = Vectors::zeros(64, points.len() + 1);
        for (pos, p) in points.iter().enumerate() {
            let (scale, codes) = quantize(p);
            vectors.set(pos, scale, &codes);
        }
        vectors.finish();
        for query in [&points[7], &points[1234]] {
            let (worst, found) = errors(&vectors, &points, query);
            assert!(worst < 0.08, "largest error {worst}");
            assert_eq!(found, 10, "the best 20 by the codes hold the nearest 10");
        }
        let lanes = vectors.lanes(&points[7]);
        assert_eq!(vectors.approx(2_000, &lanes), 0.0, "a row without a vector");
        let scan = vectors.scan(&lanes);
        assert_eq!(scan.len(), 2_001);
        assert_eq!(scan[7], vectors.approx(7, &lanes));
        vectors.swap_remove(7);
        assert_eq!(vectors.approx(7, &lanes), 0.0, "the empty row moved in");
        assert_eq!(vectors.scan(&lanes).len(), 2_000);
    }

    #[test]
    fn rows_added_without_statistics_still_score() {
        // A searcher that started empty learnt nothing: rows pushed later use the even
        // statistics of unit vectors.
        let points = clustered(500, 64, 3);
        let mut vectors = Vectors::zeros(64, 0);
        vectors.finish();
        points.iter().for_each(|p| vectors.push(Some(p)));
        vectors.push(None);
        let (worst, found) = errors(&vectors, &points, &points[42]);
        assert!(worst < 0.15, "largest error {worst}");
        assert!(
            found >= 8,
            "the best 20 by the codes hold {found} of the nearest 10"
        );
        assert_eq!(vectors.approx(500, &vectors.lanes(&points[42])), 0.0);
    }

    #[test]
    fn lists_found_through_groups_are_the_nearest_or_nearly() {
        let dim = 32;
        let points = clustered(20_000, dim, 4);
        let rows: Vec<&[f32]> = points.iter().map(|p| &p[..]).collect();
        let centroids = kmeans(&rows, dim, 400);
        let exact = nearest_centroids(&centroids, dim, &rows);
        let grouped = assign(&centroids, dim, &rows);
        let centroid = |list: usize| &centroids[list * dim..(list + 1) * dim];
        let same = exact.iter().zip(&grouped).filter(|(a, b)| a == b).count();
        assert!(
            same >= 19_000,
            "{same} of 20,000 rows found their nearest list"
        );
        let lost: f32 = rows
            .iter()
            .zip(exact.iter().zip(&grouped))
            .map(|(row, (&e, &g))| dot(row, centroid(e)) - dot(row, centroid(g)))
            .sum();
        assert!(
            lost / 20_000.0 < 0.02,
            "rows lost {} of similarity to their list on average (~0.86 is the nearest's)",
            lost / 20_000.0
        );
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
        let ivf = Ivf::build("m", dim, &codes);
        let ivf = Ivf::from_bytes(&ivf.to_bytes()).unwrap();
        assert_eq!((ivf.max_id, ivf.len), (20_000, 20_000));
        let (mut found, mut read) = (0, 0);
        for query in &queries {
            let best = (0..points.len())
                .max_by(|&a, &b| dot(&points[a], query).total_cmp(&dot(&points[b], query)))
                .unwrap();
            let candidates: Vec<u64> = ivf.candidates(query).collect();
            read += candidates.len();
            found += usize::from(candidates.contains(&(best as u64 + 1)));
        }
        assert!(found >= 95, "recall of the true nearest: {found}/100");
        let share = read as f64 / (queries.len() * points.len()) as f64;
        assert!(share < 0.5, "read {:.0}% of the rows", share * 100.0);
    }
}
