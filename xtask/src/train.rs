//! Trains the distilled word vectors so that a summary and the code it documents sum to
//! nearby directions: a contrastive loss (InfoNCE, both directions, the other pairs of a batch
//! as negatives) over the pairs, sparse Adam on the rows a batch touches, early stopping on
//! held-out pairs. The model is a sum of rows, so the gradients are written out by hand.

use std::path::Path;

use anyhow::Result;
use rayon::prelude::*;
use scry_core::StaticModel;
use scry_core::embed::Vocab;

use crate::{distill, pairs};

/// One pair in this many is held out to choose the epoch.
const HOLD_OUT: u64 = 40;
const VALIDATION_MAX: usize = 3000;

struct Example {
    query: Vec<u32>,
    code: Vec<u32>,
}

/// Training settings; the defaults are the recipe's (`xtask/build-model.sh`).
#[derive(clap::Args)]
pub struct Settings {
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 0.002)]
    pub lr: f32,
    /// Pairs per step: the other pairs of a batch are each pair's negatives.
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    #[arg(long, default_value_t = 0.05)]
    pub temperature: f32,
    /// Give queries their own vectors.
    #[arg(long)]
    pub asymmetric: bool,
    /// Neighbouring pairs (same file or package) kept together in a batch, as hard negatives
    /// for each other; 1 shuffles pairs one by one.
    #[arg(long, default_value_t = 64)]
    pub neighbours: usize,
}

pub fn run(work: &Path, out: &Path, settings: &Settings) -> Result<()> {
    let &Settings {
        epochs,
        lr,
        batch: batch_size,
        temperature,
        asymmetric,
        neighbours,
    } = settings;
    let (words, mut init, dim) = distill::read_vectors(work)?;
    std::fs::write(
        work.join("distilled.bin"),
        StaticModel::to_bytes(&words, &[&init], dim),
    )?;
    let vocab = Vocab::new(&words);
    // Asymmetric: queries get their own table (rows after the documents'), both starting from
    // the distilled vectors.
    let query_offset = if asymmetric {
        init.extend_from_within(..);
        words.len() as u32
    } else {
        0
    };
    let examples: Vec<(u64, Example)> = pairs::load(work)?
        .par_iter()
        .map(|p| {
            let mut query = Vec::new();
            let mut code = Vec::new();
            vocab.tokenize(&p.doc, &mut query);
            query.iter_mut().for_each(|id| *id += query_offset);
            vocab.tokenize(&p.code, &mut code);
            let key = stable_hash(&p.doc);
            (key, Example { query, code })
        })
        .filter(|(_, e)| !e.query.is_empty() && !e.code.is_empty())
        .collect();
    let (held, train): (Vec<_>, Vec<_>) =
        examples.into_iter().partition(|(k, _)| k % HOLD_OUT == 0);
    let validation: Vec<Example> = held
        .into_iter()
        .take(VALIDATION_MAX)
        .map(|(_, e)| e)
        .collect();
    eprintln!(
        "{} training pairs, {} held out",
        train.len(),
        validation.len()
    );

    let mut params = init.clone();
    let mut adam = Adam::new(params.len(), lr);
    let (mrr, r1) = evaluate(&params, dim, &validation);
    eprintln!("distilled: held-out MRR {mrr:.3} R@1 {r1:.3}");
    let mut best = (mrr, params.clone());
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for epoch in 1..=epochs {
        // Pairs arrive in corpus order: neighbours come from one file or package. Shuffling runs
        // of them, not single pairs, gives each batch hard negatives (code that is alike).
        let mut runs: Vec<&[(u64, Example)]> = train.chunks(neighbours.max(1)).collect();
        shuffle(&mut runs, &mut seed);
        let order: Vec<&(u64, Example)> = runs.into_iter().flatten().collect();
        let mut loss_sum = 0.0;
        let mut steps = 0;
        for batch in order.chunks(batch_size).filter(|b| b.len() == batch_size) {
            let batch: Vec<&Example> = batch.iter().map(|(_, e)| e).collect();
            loss_sum += step(&mut params, dim, &batch, temperature, &mut adam);
            steps += 1;
        }
        let (mrr, r1) = evaluate(&params, dim, &validation);
        eprintln!(
            "epoch {epoch}: loss {:.3}, held-out MRR {mrr:.3} R@1 {r1:.3}",
            loss_sum / steps.max(1) as f32
        );
        if mrr > best.0 {
            best = (mrr, params.clone());
        }
    }
    eprintln!("kept held-out MRR {:.3}", best.0);
    let tables: Vec<&[f32]> = best.1.chunks(words.len() * dim).collect();
    std::fs::write(out, StaticModel::to_bytes(&words, &tables, dim))?;
    Ok(())
}

/// FNV-1a: stable across runs and platforms, so the same pairs are held out every time.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn shuffle<T>(items: &mut [T], seed: &mut u64) {
    for i in (1..items.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        items.swap(i, (*seed % (i as u64 + 1)) as usize);
    }
}

/// Sum of rows, then its norm and the normalised vector.
fn encode(params: &[f32], dim: usize, ids: &[u32]) -> (Vec<f32>, f32) {
    let mut sum = vec![0f32; dim];
    for &id in ids {
        let row = &params[id as usize * dim..(id as usize + 1) * dim];
        sum.iter_mut().zip(row).for_each(|(s, x)| *s += x);
    }
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    sum.iter_mut().for_each(|x| *x /= norm);
    (sum, norm)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One contrastive step; returns the loss.
fn step(
    params: &mut [f32],
    dim: usize,
    batch: &[&Example],
    temperature: f32,
    adam: &mut Adam,
) -> f32 {
    let n = batch.len();
    let queries: Vec<(Vec<f32>, f32)> = batch
        .par_iter()
        .map(|e| encode(params, dim, &e.query))
        .collect();
    let codes: Vec<(Vec<f32>, f32)> = batch
        .par_iter()
        .map(|e| encode(params, dim, &e.code))
        .collect();
    let scores: Vec<Vec<f32>> = queries
        .par_iter()
        .map(|(q, _)| codes.iter().map(|(c, _)| dot(q, c) / temperature).collect())
        .collect();
    // d loss / d score, averaged over both directions (query→code rows, code→query columns).
    let mut grad = vec![vec![0f32; n]; n];
    let mut loss = 0.0;
    let share = 1.0 / (2 * n) as f32;
    for i in 0..n {
        let (l, g) = cross_entropy(&scores[i], i);
        loss += l;
        grad[i].iter_mut().zip(g).for_each(|(a, g)| *a += g * share);
    }
    for j in 0..n {
        let column: Vec<f32> = (0..n).map(|i| scores[i][j]).collect();
        let (l, g) = cross_entropy(&column, j);
        loss += l;
        grad.iter_mut()
            .zip(g)
            .for_each(|(row, g)| row[j] += g * share);
    }
    // Through the scores to the normalised vectors (each pulled towards the other side's
    // vectors, weighted by its gradients), then through the normalisation to the sums.
    let back =
        |own: &(Vec<f32>, f32), weight: &dyn Fn(usize) -> f32, others: &[(Vec<f32>, f32)]| {
            let mut dv = vec![0f32; dim];
            for (k, (other, _)) in others.iter().enumerate() {
                let g = weight(k) / temperature;
                dv.iter_mut().zip(other).for_each(|(d, o)| *d += g * o);
            }
            let (v, norm) = own;
            let along = dot(&dv, v);
            dv.iter()
                .zip(v)
                .map(|(d, x)| (d - along * x) / norm)
                .collect::<Vec<f32>>()
        };
    let dq: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|i| back(&queries[i], &|j| grad[i][j], &codes))
        .collect();
    let dc: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|j| back(&codes[j], &|i| grad[i][j], &queries))
        .collect();
    for (e, (gq, gc)) in batch.iter().zip(dq.iter().zip(&dc)) {
        for &id in &e.query {
            adam.accumulate(id, gq, dim);
        }
        for &id in &e.code {
            adam.accumulate(id, gc, dim);
        }
    }
    adam.apply(params, dim);
    loss / (2 * n) as f32
}

/// Cross-entropy of choosing `own` among `logits`: the loss and d loss / d logit.
fn cross_entropy(logits: &[f32], own: usize) -> (f32, Vec<f32>) {
    let max = logits.iter().fold(f32::MIN, |m, &x| m.max(x));
    let z: f32 = logits.iter().map(|x| (x - max).exp()).sum();
    let grads = logits
        .iter()
        .enumerate()
        .map(|(k, x)| (x - max).exp() / z - f32::from(u8::from(k == own)))
        .collect();
    (-(logits[own] - max - z.ln()), grads)
}

/// Adam on the rows a step touched (the others keep their moments untouched: lazy Adam).
struct Adam {
    lr: f32,
    t: i32,
    m: Vec<f32>,
    v: Vec<f32>,
    grad: Vec<f32>,
    touched: Vec<u32>,
    is_touched: Vec<bool>,
}

impl Adam {
    fn new(len: usize, lr: f32) -> Self {
        Adam {
            lr,
            t: 0,
            m: vec![0.0; len],
            v: vec![0.0; len],
            grad: vec![0.0; len],
            touched: Vec::new(),
            is_touched: Vec::new(),
        }
    }

    fn accumulate(&mut self, id: u32, g: &[f32], dim: usize) {
        let row = id as usize;
        if self.is_touched.len() <= row {
            self.is_touched.resize(self.grad.len() / dim, false);
        }
        if !self.is_touched[row] {
            self.is_touched[row] = true;
            self.touched.push(id);
        }
        self.grad[row * dim..(row + 1) * dim]
            .iter_mut()
            .zip(g)
            .for_each(|(a, b)| *a += b);
    }

    fn apply(&mut self, params: &mut [f32], dim: usize) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        for &id in &self.touched {
            let span = id as usize * dim..(id as usize + 1) * dim;
            for k in span {
                let g = self.grad[k];
                self.m[k] = B1 * self.m[k] + (1.0 - B1) * g;
                self.v[k] = B2 * self.v[k] + (1.0 - B2) * g * g;
                params[k] -= self.lr * (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + 1e-8);
                self.grad[k] = 0.0;
            }
            self.is_touched[id as usize] = false;
        }
        self.touched.clear();
    }
}

/// Mean reciprocal rank and recall@1 of each held-out summary's code among all held-out codes.
fn evaluate(params: &[f32], dim: usize, examples: &[Example]) -> (f64, f64) {
    let codes: Vec<Vec<f32>> = examples
        .par_iter()
        .map(|e| encode(params, dim, &e.code).0)
        .collect();
    let ranks: Vec<usize> = examples
        .par_iter()
        .enumerate()
        .map(|(i, e)| {
            let q = encode(params, dim, &e.query).0;
            let own = dot(&q, &codes[i]);
            codes.iter().filter(|c| dot(&q, c) > own).count() + 1
        })
        .collect();
    let n = ranks.len().max(1) as f64;
    let mrr = ranks.iter().map(|&r| 1.0 / r as f64).sum::<f64>() / n;
    let r1 = ranks.iter().filter(|&&r| r == 1).count() as f64 / n;
    (mrr, r1)
}
