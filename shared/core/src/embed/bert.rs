//! A BERT-family sentence transformer (all-MiniLM-L6-v2 and its kin) run on the CPU by candle.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use super::{Embedder, normalize};
use crate::error::{Error, Result};

/// Tokens per chunk: enough for a typical function; longer text is truncated.
const MAX_TOKENS: usize = 256;
const BATCH: usize = 16;

/// A model directory with `config.json`, `tokenizer.json` and `model.safetensors`.
pub struct BertEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
    id: String,
}

impl BertEmbedder {
    pub fn load(dir: &Path) -> Result<Self> {
        let fail = |message: String| Error::Model {
            dir: dir.to_path_buf(),
            message,
        };
        if !dir.is_dir() {
            return Err(fail("not a directory; expected one holding config.json, tokenizer.json and model.safetensors".into()));
        }
        let file = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(fail(format!(
                    "{name} is missing; a BERT-family model directory holds config.json, tokenizer.json and model.safetensors"
                )))
            }
        };
        let (config_path, tokenizer_path, weights_path) = (
            file("config.json")?,
            file("tokenizer.json")?,
            file("model.safetensors")?,
        );
        let config_text =
            std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| fail(format!("config.json is not a BERT config: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        // The shipped tokenizers often pad every input to a fixed length; `forward` pads to
        // the batch's longest row instead.
        tokenizer.with_padding(None);
        let max_tokens = MAX_TOKENS.min(config.max_position_embeddings);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        let weights = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
        let digest = blake3::hash(&weights);
        let device = Device::Cpu;
        let vb = VarBuilder::from_slice_safetensors(&weights, DType::F32, &device)
            .map_err(|e| fail(format!("model.safetensors: {e}")))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| fail(format!("model.safetensors does not match config.json: {e}")))?;
        let name = dir
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy().into_owned());
        let id = format!("bert:{name}@{}", &digest.to_hex()[..16]);
        Ok(BertEmbedder {
            model,
            tokenizer,
            device,
            dim: config.hidden_size,
            id,
        })
    }

    /// The tokenizer's vocabulary: token → id.
    pub fn vocabulary(&self) -> std::collections::HashMap<String, u32> {
        self.tokenizer.get_vocab(false)
    }

    /// Embeds sequences of token ids, each without `[CLS]`/`[SEP]` (added here): how a static
    /// model is distilled from this one, token by token.
    pub fn embed_token_ids(&self, rows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let special = |name: &str| {
            self.tokenizer
                .token_to_id(name)
                .ok_or_else(|| Error::Embed(format!("the tokenizer has no {name} token")))
        };
        let (cls, sep) = (special("[CLS]")?, special("[SEP]")?);
        let framed: Vec<Vec<u32>> = rows
            .iter()
            .map(|r| {
                std::iter::once(cls)
                    .chain(r.iter().copied())
                    .chain([sep])
                    .collect()
            })
            .collect();
        self.forward(&framed)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Embed(e.to_string()))?;
        let rows: Vec<Vec<u32>> = encodings.iter().map(|e| e.get_ids().to_vec()).collect();
        self.forward(&rows)
    }

    /// Mean-pooled, normalised outputs for rows of ids (padded here to the longest row).
    fn forward(&self, rows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let err = |e: &dyn std::fmt::Display| Error::Embed(e.to_string());
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * cols);
        let mut mask = Vec::with_capacity(rows.len() * cols);
        for row in rows {
            ids.extend(
                row.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, cols - row.len())),
            );
            mask.extend((0..cols).map(|i| u32::from(i < row.len())));
        }
        let tensor = |data: Vec<u32>| {
            Tensor::from_vec(data, (rows.len(), cols), &self.device).map_err(|e| err(&e))
        };
        let type_ids = tensor(vec![0; rows.len() * cols])?;
        let (ids, mask) = (tensor(ids)?, tensor(mask)?);
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
            // Mean over real tokens only.
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?;
            summed.broadcast_div(&counts)?.to_vec2::<f32>()
        };
        let mut vectors = run().map_err(|e| err(&e))?;
        vectors.iter_mut().for_each(|v| normalize(v));
        Ok(vectors)
    }
}

impl Embedder for BertEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        // Batches of similar length waste little on padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            for (&i, v) in batch.iter().zip(self.embed_batch(&batch_texts)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
