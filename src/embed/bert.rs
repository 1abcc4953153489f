//! BERT forward pass, mean pooling and L2 normalisation, as sentence-transformers does it.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use super::EmbedError;

/// A sentence-embedding model loaded from a Hugging Face directory.
pub struct BertModelEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dimension: usize,
    max_tokens: usize,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

fn load_error(path: &Path, reason: impl ToString) -> EmbedError {
    EmbedError::Load {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn inference(err: impl ToString) -> EmbedError {
    EmbedError::Inference(err.to_string())
}

impl BertModelEmbedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`; the
    /// truncation length comes from `sentence_bert_config.json` when present.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let config_path = dir.join("config.json");
        let raw = std::fs::read_to_string(&config_path).map_err(|e| load_error(&config_path, e))?;
        let config: Config = serde_json::from_str(&raw).map_err(|e| load_error(&config_path, e))?;

        let sbert_path = dir.join("sentence_bert_config.json");
        let max_tokens = match std::fs::read_to_string(&sbert_path) {
            Ok(raw) => {
                serde_json::from_str::<SentenceBertConfig>(&raw)
                    .map_err(|e| load_error(&sbert_path, e))?
                    .max_seq_length
            }
            Err(_) => None,
        }
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings);

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| load_error(&tokenizer_path, e))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| load_error(&tokenizer_path, e))?;
        tokenizer.with_padding(None);

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| load_error(&weights_path, e))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| load_error(&weights_path, e))?;
        let model = BertModel::load(vb, &config).map_err(|e| load_error(&weights_path, e))?;
        Ok(Self {
            model,
            tokenizer,
            device,
            dimension: config.hidden_size,
            max_tokens,
        })
    }

    /// Length of every vector this model produces.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Longest input in tokens; longer texts are truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Number of tokens each text becomes after truncation (special tokens included).
    pub fn count_tokens(&self, texts: &[String]) -> Result<Vec<usize>, EmbedError> {
        Ok(self.tokenize(texts)?.iter().map(|e| e.len()).collect())
    }

    fn tokenize(&self, texts: &[String]) -> Result<Vec<Encoding>, EmbedError> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        self.tokenizer.encode_batch(inputs, true).map_err(inference)
    }

    /// Embeds `texts` in forward passes of at most `max_batch` texts. Texts are
    /// sorted by length first so a pass pads as little as possible; results come
    /// back in input order.
    pub fn embed(&self, texts: &[String], max_batch: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));
        let mut out = vec![Vec::new(); encodings.len()];
        for chunk in order.chunks(max_batch.max(1)) {
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            let vectors = self.forward(&batch)?;
            for (&i, vector) in chunk.iter().zip(vectors) {
                out[i] = vector;
            }
        }
        Ok(out)
    }

    fn forward(&self, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let seq_len = batch.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let rows = batch.len();
        let mut ids = Vec::with_capacity(rows * seq_len);
        let mut types = Vec::with_capacity(rows * seq_len);
        let mut mask = Vec::with_capacity(rows * seq_len);
        for encoding in batch {
            let pad = seq_len - encoding.len();
            ids.extend(
                encoding
                    .get_ids()
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, pad)),
            );
            types.extend(
                encoding
                    .get_type_ids()
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, pad)),
            );
            mask.extend(
                encoding
                    .get_attention_mask()
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, pad)),
            );
        }
        let shape = (rows, seq_len);
        let ids = Tensor::from_vec(ids, shape, &self.device).map_err(inference)?;
        let types = Tensor::from_vec(types, shape, &self.device).map_err(inference)?;
        let mask = Tensor::from_vec(mask, shape, &self.device).map_err(inference)?;

        let hidden = self
            .model
            .forward(&ids, &types, Some(&mask))
            .map_err(inference)?;
        let mask = mask.to_dtype(DType::F32).map_err(inference)?;
        let summed = hidden
            .broadcast_mul(&mask.unsqueeze(2).map_err(inference)?)
            .and_then(|t| t.sum(1))
            .map_err(inference)?;
        let counts = mask
            .sum_keepdim(1)
            .and_then(|t| t.clamp(1e-9f32, f32::MAX))
            .map_err(inference)?;
        let mean = summed.broadcast_div(&counts).map_err(inference)?;
        let norms = mean
            .sqr()
            .and_then(|t| t.sum_keepdim(1))
            .and_then(|t| t.sqrt())
            .and_then(|t| t.clamp(1e-12f32, f32::MAX))
            .map_err(inference)?;
        mean.broadcast_div(&norms)
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(inference)
    }
}
