//! Turning text into vectors. An [`Embedder`] is a model; its [`Embedder::model_id`] is
//! recorded beside every vector it makes, so vectors of two models never meet.

mod bert;
mod static_model;

pub use bert::BertEmbedder;
pub use static_model::{StaticModel, Vocab, for_each_word};

use crate::error::Result;

/// A text embedding model.
pub trait Embedder: Send + Sync {
    /// Names the model and its exact weights (a digest): two models with the same id must
    /// produce the same vectors.
    fn model_id(&self) -> &str;

    /// Length of the vectors, all of which are L2-normalised.
    fn dim(&self) -> usize;

    /// Thousands of texts a second: an index commits in large batches (not small ones that
    /// keep the work of an interrupted run), and a search may embed candidates' labels.
    fn is_fast(&self) -> bool {
        false
    }

    /// Embeds code chunks (documents).
    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Embeds a search query. Asymmetric models prefix queries; symmetric ones need not.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed_documents(&[text])?.remove(0))
    }
}

/// A reference embeds as what it refers to: the built-in model, a `&'static StaticModel`, is
/// shared as an `Arc<dyn Embedder>` without a copy.
impl<E: Embedder + ?Sized> Embedder for &E {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }

    fn dim(&self) -> usize {
        (**self).dim()
    }

    fn is_fast(&self) -> bool {
        (**self).is_fast()
    }

    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed_documents(texts)
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        (**self).embed_query(text)
    }
}

pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// A vector as int8 codes with one scale (its largest magnitude / 127), how vectors are stored
/// and shipped: a quarter of the size of `f32`s, cosines within ~0.002 of theirs.
pub(crate) fn quantize(v: &[f32]) -> (f32, Vec<i8>) {
    let scale = v.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0;
    let codes = v
        .iter()
        .map(|&x| {
            let code = if scale > 0.0 {
                (x / scale).round()
            } else {
                0.0
            };
            code.clamp(-127.0, 127.0) as i8
        })
        .collect();
    (scale, codes)
}

/// Eight running sums, so the compiler can keep them in one SIMD register: a plain sum must
/// add in order and cannot (the exact scan of every vector was half of a query's time).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
