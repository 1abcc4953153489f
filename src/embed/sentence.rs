//! A sentence-transformers model (BERT or MPNet): tokenising, grouping texts
//! into packed passes, mean pooling and L2 normalisation, as
//! sentence-transformers does it.

use std::path::Path;

use serde::Deserialize;
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use super::EmbedError;
use super::architecture::EncoderConfig;
use super::encoder::{PackedBatch, PackedEncoder};

/// A sentence-embedding model loaded from a Hugging Face directory.
pub struct SentenceEncoder {
    encoder: PackedEncoder,
    identity: super::EncoderIdentity,
    tokenizer: Tokenizer,
    max_tokens: usize,
    max_pass_tokens: usize,
}

/// Tokens per forward pass unless [`SentenceEncoder::with_max_pass_tokens`] says otherwise.
pub const DEFAULT_MAX_PASS_TOKENS: usize = 512;

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

impl SentenceEncoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`; the
    /// truncation length comes from `sentence_bert_config.json` when present.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let config_path = dir.join("config.json");
        let raw = std::fs::read_to_string(&config_path).map_err(|e| load_error(&config_path, e))?;
        let config: EncoderConfig =
            serde_json::from_str(&raw).map_err(|e| load_error(&config_path, e))?;

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| load_error(&weights_path, e))?;
        let encoder = PackedEncoder::load(&weights, &config, &weights_path)?;
        let identity = super::EncoderIdentity::of(dir, encoder.hidden(), &weights);

        let sbert_path = dir.join("sentence_bert_config.json");
        let max_tokens = match std::fs::read_to_string(&sbert_path) {
            Ok(raw) => {
                serde_json::from_str::<SentenceBertConfig>(&raw)
                    .map_err(|e| load_error(&sbert_path, e))?
                    .max_seq_length
            }
            Err(_) => None,
        }
        .unwrap_or(encoder.max_positions())
        .min(encoder.max_positions());

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
        Ok(Self {
            encoder,
            identity,
            tokenizer,
            max_tokens,
            max_pass_tokens: DEFAULT_MAX_PASS_TOKENS,
        })
    }

    /// Which encoder this is: name, width, checksum of the weights.
    pub fn identity(&self) -> &super::EncoderIdentity {
        &self.identity
    }

    /// Length of every vector this model produces.
    pub fn dimension(&self) -> usize {
        self.encoder.hidden()
    }

    /// Worker threads a forward pass uses (rayon's pool; `RAYON_NUM_THREADS` sets it).
    pub fn threads(&self) -> usize {
        rayon::current_num_threads()
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

    /// Sets the most tokens one forward pass may hold (at least one text always runs).
    pub fn with_max_pass_tokens(mut self, tokens: usize) -> Self {
        self.max_pass_tokens = tokens.max(1);
        self
    }

    /// Embeds `texts` in packed forward passes of at most `max_batch` texts and
    /// `max_pass_tokens` tokens. Texts are sorted by length first so passes hold texts
    /// of similar length; results come back in input order.
    ///
    /// The work runs inside the rayon pool, so the many short parallel steps of a
    /// pass are forked from a pool thread instead of each handing a job across from
    /// the calling thread and putting it to sleep until the job is done.
    pub fn embed(&self, texts: &[String], max_batch: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        rayon::scope(|_| self.embed_in_pool(texts, max_batch))
    }

    fn embed_in_pool(
        &self,
        texts: &[String],
        max_batch: usize,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));
        let mut out = vec![Vec::new(); encodings.len()];
        let mut pass: Vec<usize> = Vec::new();
        let mut pass_tokens = 0;
        for (n, &i) in order.iter().enumerate() {
            pass.push(i);
            pass_tokens += encodings[i].len();
            let next = order.get(n + 1).map(|&j| encodings[j].len());
            let full = pass.len() >= max_batch.max(1)
                || next.is_none_or(|len| pass_tokens + len > self.max_pass_tokens);
            if full {
                let batch: Vec<&Encoding> = pass.iter().map(|&i| &encodings[i]).collect();
                for (&i, vector) in pass.iter().zip(self.forward(&batch)?) {
                    out[i] = vector;
                }
                pass.clear();
                pass_tokens = 0;
            }
        }
        Ok(out)
    }

    fn forward(&self, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let tokens: usize = batch.iter().map(|e| e.len()).sum();
        let mut ids = Vec::with_capacity(tokens);
        let mut type_ids = Vec::with_capacity(tokens);
        let mut starts = Vec::with_capacity(batch.len() + 1);
        for encoding in batch {
            starts.push(ids.len());
            ids.extend_from_slice(encoding.get_ids());
            type_ids.extend_from_slice(encoding.get_type_ids());
        }
        starts.push(ids.len());
        self.encoder.forward(&PackedBatch {
            ids: &ids,
            type_ids: &type_ids,
            starts: &starts,
        })
    }
}
