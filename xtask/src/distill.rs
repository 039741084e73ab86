//! model2vec's distillation: the teacher embeds every word of the vocabulary on its own, PCA
//! keeps the main directions, and each vector is scaled by a smooth inverse frequency weight
//! (frequent words say little), which a sum of vectors then honours.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use nalgebra::{DMatrix, SymmetricEigen};
use scry_core::BertEmbedder;
use scry_core::embed::Vocab;

/// SIF weight a / (a + p(word)), as model2vec uses.
const SIF: f64 = 1e-4;
const BATCH: usize = 256;

pub fn run(work: &Path, teacher: &Path, extra_words: usize, dim: usize) -> Result<()> {
    let counts = read_counts(&work.join("words.tsv"))?;
    let teacher = BertEmbedder::load(teacher)?;
    let mut base: Vec<(String, u32)> = teacher
        .vocabulary()
        .into_iter()
        .filter(|(t, _)| !(t.starts_with('[') && t.ends_with(']')))
        .collect();
    base.sort_by_key(|(_, id)| *id);
    let known: std::collections::HashSet<&str> = base.iter().map(|(t, _)| t.as_str()).collect();
    let extras: Vec<String> = counts
        .iter()
        .filter(|(w, n)| {
            *n >= 5
                && (2..=30).contains(&w.len())
                && w.chars().any(char::is_alphabetic)
                && !known.contains(w.as_str())
        })
        .take(extra_words)
        .map(|(w, _)| w.clone())
        .collect();
    eprintln!(
        "vocabulary: {} teacher tokens + {} corpus words",
        base.len(),
        extras.len()
    );

    let started = Instant::now();
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(base.len() + extras.len());
    for batch in base.chunks(BATCH) {
        let rows: Vec<Vec<u32>> = batch.iter().map(|(_, id)| vec![*id]).collect();
        vectors.extend(teacher.embed_token_ids(&rows)?);
        progress(vectors.len(), base.len() + extras.len(), started);
    }
    for batch in extras.chunks(BATCH) {
        let texts: Vec<&str> = batch.iter().map(String::as_str).collect();
        vectors.extend(scry_core::Embedder::embed_documents(&teacher, &texts)?);
        progress(vectors.len(), base.len() + extras.len(), started);
    }
    eprintln!();
    let words: Vec<String> = base.into_iter().map(|(t, _)| t).chain(extras).collect();

    let projected = pca(&vectors, dim)?;
    let weights = sif_weights(&words, &counts);
    let mut flat = Vec::with_capacity(words.len() * dim);
    for (row, w) in projected.iter().zip(&weights) {
        flat.extend(row.iter().map(|x| x * w));
    }
    write_vectors(work, &words, &flat, dim)
}

fn progress(done: usize, total: usize, started: Instant) {
    eprint!(
        "\rteacher: {done}/{total} words ({:.0}/s)",
        done as f64 / started.elapsed().as_secs_f64()
    );
}

fn read_counts(path: &Path) -> Result<Vec<(String, u64)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    text.lines()
        .map(|l| {
            let (w, n) = l
                .rsplit_once('\t')
                .context("words.tsv: expected word<TAB>count")?;
            Ok((w.to_string(), n.parse()?))
        })
        .collect()
}

/// Projects onto the `dim` directions of largest variance (after centring).
fn pca(vectors: &[Vec<f32>], dim: usize) -> Result<Vec<Vec<f32>>> {
    let d = vectors[0].len();
    ensure!(dim <= d, "cannot reduce {d} dimensions to {dim}");
    let n = vectors.len() as f64;
    let mut mean = vec![0f64; d];
    for v in vectors {
        for (m, x) in mean.iter_mut().zip(v) {
            *m += *x as f64 / n;
        }
    }
    let mut cov = DMatrix::<f64>::zeros(d, d);
    for v in vectors {
        let c: Vec<f64> = v.iter().zip(&mean).map(|(x, m)| *x as f64 - m).collect();
        for i in 0..d {
            for j in i..d {
                cov[(i, j)] += c[i] * c[j] / n;
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            cov[(i, j)] = cov[(j, i)];
        }
    }
    let eigen = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let kept: f64 = order[..dim].iter().map(|&i| eigen.eigenvalues[i]).sum();
    let total: f64 = eigen.eigenvalues.iter().sum();
    eprintln!(
        "PCA: {dim} of {d} dimensions keep {:.1}% of the variance",
        100.0 * kept / total
    );
    Ok(vectors
        .iter()
        .map(|v| {
            order[..dim]
                .iter()
                .map(|&k| {
                    let axis = eigen.eigenvectors.column(k);
                    v.iter()
                        .enumerate()
                        .map(|(i, x)| (*x as f64 - mean[i]) * axis[i])
                        .sum::<f64>() as f32
                })
                .collect()
        })
        .collect())
}

/// Frequencies of the vocabulary's own tokens: each corpus word counted through the pieces it
/// is cut into.
fn sif_weights(words: &[String], counts: &[(String, u64)]) -> Vec<f32> {
    let vocab = Vocab::new(words);
    let mut freq: HashMap<u32, u64> = HashMap::new();
    let mut ids = Vec::new();
    for (w, n) in counts {
        ids.clear();
        vocab.tokenize(w, &mut ids);
        for id in &ids {
            *freq.entry(*id).or_default() += n;
        }
    }
    let total: u64 = freq.values().sum();
    (0..words.len() as u32)
        .map(|id| {
            let p = freq.get(&id).copied().unwrap_or(0) as f64 / total.max(1) as f64;
            (SIF / (SIF + p)) as f32
        })
        .collect()
}

pub fn write_vectors(work: &Path, words: &[String], flat: &[f32], dim: usize) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(work.join("distilled.words"))?);
    for w in words {
        writeln!(out, "{w}")?;
    }
    out.flush()?;
    let bytes: Vec<u8> = std::iter::once(dim as u32)
        .flat_map(u32::to_le_bytes)
        .chain(flat.iter().flat_map(|x| x.to_le_bytes()))
        .collect();
    std::fs::write(work.join("distilled.f32"), bytes)?;
    Ok(())
}

pub fn read_vectors(work: &Path) -> Result<(Vec<String>, Vec<f32>, usize)> {
    let words: Vec<String> = std::fs::read_to_string(work.join("distilled.words"))
        .context("distilled.words (run `xtask distill` first)")?
        .lines()
        .map(str::to_string)
        .collect();
    let bytes = std::fs::read(work.join("distilled.f32")).context("distilled.f32")?;
    let dim = u32::from_le_bytes(bytes[..4].try_into()?) as usize;
    let flat: Vec<f32> = bytes[4..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    ensure!(
        flat.len() == words.len() * dim,
        "distilled vectors do not match the words"
    );
    Ok((words, flat, dim))
}
