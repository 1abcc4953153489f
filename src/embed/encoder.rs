//! A BERT or MPNet encoder over packed batches: the tokens of every text in a batch sit one
//! after another (no padding), described by their start offsets, as
//! text-embeddings-inference hands batches to its backends.
//!
//! The four dense layers of each block run as one matrix multiplication each over
//! all tokens of the batch (Q, K, V fused into one), against weights packed once at
//! load ([`super::gemm`]; candle's CPU matmul on CPUs without AVX2 + FMA, decided
//! once at load so each layer holds one copy of its weights). Everything between them (bias, residual, layer norm,
//! GELU, per-sequence attention, mean pooling) is done by the fused kernels in
//! [`super::kernels`], spread over the cores with rayon. Padding is never computed,
//! so a batch costs what its real tokens cost.

use std::path::Path;

use rayon::prelude::*;

use super::EmbedError;
use super::architecture::{Architecture, EncoderConfig};
use super::kernels;
use super::layers::{Activation, Dense, Norm, parallel_rows_with};
use super::weights::Weights;

struct Block {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    up: Dense,
    down: Dense,
    output_norm: Norm,
}

/// The encoder's weights, ready for packed forward passes.
pub struct PackedEncoder {
    word: Vec<f32>,
    position: Vec<f32>,
    /// Empty for a family without token types (MPNet).
    token_type: Vec<f32>,
    /// Position id of each text's first token.
    first_position: usize,
    /// MPNet's attention bias, `[heads][2 * max_positions - 1]` by distance.
    relative_bias: Option<Vec<f32>>,
    embedding_norm: Norm,
    blocks: Vec<Block>,
    hidden: usize,
    heads: usize,
    eps: f32,
    vocab: usize,
    types: usize,
    max_positions: usize,
    buffers: BufferPool,
}

/// Activation buffers kept from one forward pass to the next: allocating fresh
/// multi-megabyte buffers for every layer cost ~16% of batch-32 time in page faults,
/// zeroing and copies (perf).
#[derive(Default)]
struct BufferPool(parking_lot::Mutex<Vec<Vec<f32>>>);

/// Buffers the pool holds at most (a pass holds three at a time).
const POOLED_BUFFERS: usize = 8;

impl BufferPool {
    /// Takes the pooled buffers for one pass; they return when the guard drops.
    fn borrow(&self) -> Buffers<'_> {
        Buffers {
            free: std::mem::take(&mut *self.0.lock()),
            pool: self,
        }
    }
}

/// The buffers one forward pass works with.
struct Buffers<'a> {
    pool: &'a BufferPool,
    free: Vec<Vec<f32>>,
}

impl Buffers<'_> {
    /// A buffer of `len` floats with unspecified contents (every caller overwrites
    /// all of it): the first free buffer large enough, else the largest, grown.
    fn take(&mut self, len: usize) -> Vec<f32> {
        let fits = self.free.iter().position(|b| b.capacity() >= len);
        let largest = (0..self.free.len()).max_by_key(|&i| self.free[i].capacity());
        let mut buffer = fits
            .or(largest)
            .map(|i| self.free.swap_remove(i))
            .unwrap_or_default();
        buffer.resize(len, 0.0);
        buffer
    }

    fn give(&mut self, buffer: Vec<f32>) {
        self.free.push(buffer);
    }
}

impl Drop for Buffers<'_> {
    fn drop(&mut self) {
        let mut pool = self.pool.0.lock();
        pool.append(&mut self.free);
        pool.truncate(POOLED_BUFFERS);
    }
}

/// Token ids of several texts laid end to end.
pub struct PackedBatch<'a> {
    /// Token ids of all texts, concatenated.
    pub ids: &'a [u32],
    /// Token type ids, parallel to `ids`.
    pub type_ids: &'a [u32],
    /// Where each text starts in `ids`, plus a final entry equal to `ids.len()`.
    pub starts: &'a [usize],
}

fn inference(err: impl ToString) -> EmbedError {
    EmbedError::Inference(err.to_string())
}

impl PackedEncoder {
    /// Builds the encoder from the tensors of a `model.safetensors` file.
    pub fn load(weights: &[u8], config: &EncoderConfig, path: &Path) -> Result<Self, EmbedError> {
        let fail = |reason: String| EmbedError::Load {
            path: path.display().to_string(),
            reason,
        };
        if config.hidden_act != "gelu" {
            return Err(fail(format!(
                "activation {:?} is not supported (only \"gelu\")",
                config.hidden_act
            )));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(fail(
                "hidden_size must be a multiple of num_attention_heads".into(),
            ));
        }
        let architecture = Architecture::of(config).map_err(fail)?;
        let weights = Weights::read(weights, architecture.prefix(), path)?;
        let hidden = config.hidden_size;
        let blocks = (0..config.num_hidden_layers)
            .map(|i| {
                let names = architecture.block(i);
                let qkv: Vec<&str> = names.qkv.iter().map(String::as_str).collect();
                Ok(Block {
                    qkv: weights.dense_fused(&qkv, hidden, 3 * hidden)?,
                    attention_out: weights.dense_fused(&[&names.attention_out], hidden, hidden)?,
                    attention_norm: weights.norm(&names.attention_norm, hidden)?,
                    up: weights.dense_fused(&[&names.up], hidden, config.intermediate_size)?,
                    down: weights.dense_fused(&[&names.down], config.intermediate_size, hidden)?,
                    output_norm: weights.norm(&names.output_norm, hidden)?,
                })
            })
            .collect::<Result<Vec<_>, EmbedError>>()?;
        let word = weights.vector("embeddings.word_embeddings.weight")?;
        let position = weights.vector("embeddings.position_embeddings.weight")?;
        let token_type = if architecture.token_types() {
            weights.vector("embeddings.token_type_embeddings.weight")?
        } else {
            Vec::new()
        };
        if word.len() % hidden != 0
            || position.len() % hidden != 0
            || token_type.len() % hidden != 0
        {
            return Err(fail("embedding tables do not match hidden_size".into()));
        }
        let first_position = architecture.first_position();
        // Positions run from `first_position`, so the table holds that many fewer texts' worth.
        let max_positions = (position.len() / hidden)
            .min(config.max_position_embeddings)
            .saturating_sub(first_position);
        if max_positions == 0 {
            return Err(fail("the position table is empty".into()));
        }
        let heads = config.num_attention_heads;
        let relative_bias = match architecture {
            Architecture::Bert => None,
            Architecture::MpNet { buckets, .. } => {
                let table = weights.vector("encoder.relative_attention_bias.weight")?;
                if table.len() != buckets * heads {
                    return Err(fail(format!(
                        "relative_attention_bias holds {} values, expected {buckets} x {heads}",
                        table.len()
                    )));
                }
                architecture.bias_by_distance(&table, heads, max_positions)
            }
        };
        Ok(Self {
            vocab: word.len() / hidden,
            types: token_type.len() / hidden,
            max_positions,
            word,
            position,
            token_type,
            first_position,
            relative_bias,
            embedding_norm: weights.norm("embeddings.LayerNorm", hidden)?,
            blocks,
            hidden,
            heads,
            eps: config.layer_norm_eps as f32,
            buffers: BufferPool::default(),
        })
    }

    /// Longest text in tokens the position table covers.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Width of the vectors [`Self::forward`] returns.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Runs the encoder over `batch` and returns, per text, the mean of its token
    /// vectors scaled to unit length (sentence-transformers' mean pooling + normalise).
    pub fn forward(&self, batch: &PackedBatch<'_>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let tokens = batch.ids.len();
        let h = self.hidden;
        let sequences: Vec<(usize, usize)> =
            batch.starts.windows(2).map(|w| (w[0], w[1])).collect();
        if tokens == 0 || sequences.iter().any(|&(a, b)| b <= a) {
            return Err(inference("every text needs at least one token"));
        }
        // Every step below writes each token's row once, which is what lets it work
        // in reused buffers: the texts must cover the tokens exactly.
        if batch.starts.first() != Some(&0) || batch.starts.last() != Some(&tokens) {
            return Err(inference("text starts do not cover the batch's tokens"));
        }
        if sequences.iter().any(|&(a, b)| b - a > self.max_positions) {
            return Err(inference("a text is longer than the position table"));
        }

        let mut buffers = self.buffers.borrow();
        let mut x = buffers.take(tokens * h);
        self.embed_tokens(batch, &sequences, &mut x)?;
        for block in &self.blocks {
            // Attention: fused QKV projection, per (text, head) attention, output projection.
            let mut qkv = buffers.take(tokens * 3 * h);
            block.qkv.apply(&x, tokens, Activation::None, &mut qkv)?;
            let mut context = buffers.take(tokens * h);
            self.attention(&qkv, &sequences, &mut context);
            buffers.give(qkv);
            let mut attended = buffers.take(tokens * h);
            block
                .attention_out
                .apply(&context, tokens, Activation::None, &mut attended)?;
            buffers.give(context);
            self.add_and_norm(&mut attended, &x, &block.attention_norm);
            buffers.give(std::mem::replace(&mut x, attended));

            // Feed-forward: up projection + GELU, down projection + residual + norm.
            let mut activated = buffers.take(tokens * block.up.bias.len());
            block
                .up
                .apply(&x, tokens, Activation::Gelu, &mut activated)?;
            let mut output = buffers.take(tokens * h);
            block
                .down
                .apply(&activated, tokens, Activation::None, &mut output)?;
            buffers.give(activated);
            self.add_and_norm(&mut output, &x, &block.output_norm);
            buffers.give(std::mem::replace(&mut x, output));
        }
        let pooled = sequences
            .iter()
            .map(|&(start, end)| mean_pool_normalised(&x[start * h..end * h], h))
            .collect();
        buffers.give(x);
        Ok(pooled)
    }

    /// `rows = norm(rows + residual)`, the step that closes both halves of a block
    /// (the dense layer before it has added its bias).
    fn add_and_norm(&self, rows: &mut [f32], residual: &[f32], norm: &Norm) {
        parallel_rows_with(rows, residual, self.hidden, |rows, residual| {
            kernels::residual_layer_norm(rows, residual, &norm.gamma, &norm.beta, self.eps)
        });
    }

    /// Word + position + type embeddings of every token, layer normalised, into
    /// `x` (`[tokens, hidden]`).
    fn embed_tokens(
        &self,
        batch: &PackedBatch<'_>,
        sequences: &[(usize, usize)],
        x: &mut [f32],
    ) -> Result<(), EmbedError> {
        let h = self.hidden;
        for &(start, end) in sequences {
            for (index, t) in (start..end).enumerate() {
                let id = batch.ids[t] as usize;
                let kind = batch.type_ids.get(t).copied().unwrap_or(0) as usize;
                // A family without token types takes every token as type 0.
                if id >= self.vocab || (self.types > 0 && kind >= self.types) {
                    return Err(inference(format!(
                        "token id {id} / type {kind} out of range"
                    )));
                }
                let position = self.first_position + index;
                let row = &mut x[t * h..(t + 1) * h];
                let word = &self.word[id * h..(id + 1) * h];
                let pos = &self.position[position * h..(position + 1) * h];
                for ((v, w), p) in row.iter_mut().zip(word).zip(pos) {
                    *v = w + p;
                }
                if self.types > 0 {
                    let ty = &self.token_type[kind * h..(kind + 1) * h];
                    row.iter_mut().zip(ty).for_each(|(v, k)| *v += k);
                }
            }
        }
        kernels::layer_norm(
            x,
            &self.embedding_norm.gamma,
            &self.embedding_norm.beta,
            self.eps,
        );
        Ok(())
    }

    /// Attention of every head over every text into `context` (`[tokens, hidden]`).
    fn attention(&self, qkv: &[f32], sequences: &[(usize, usize)], context: &mut [f32]) {
        let h = self.hidden;
        let head_dim = h / self.heads;
        let jobs: Vec<(usize, usize)> = (0..sequences.len())
            .flat_map(|s| (0..self.heads).map(move |head| (s, head)))
            .collect();
        let parts: Vec<Vec<f32>> = jobs
            .par_iter()
            .map_init(Vec::new, |scratch, &(s, head)| {
                let (start, end) = sequences[s];
                let mut out = vec![0f32; (end - start) * head_dim];
                // Texts are at most `max_positions` long, so every distance is in the table.
                let width = 2 * self.max_positions - 1;
                let bias = self
                    .relative_bias
                    .as_ref()
                    .map(|table| kernels::RelativeBias {
                        by_distance: &table[head * width..][..width],
                        center: self.max_positions - 1,
                    });
                kernels::attention_head(
                    &qkv[start * 3 * h..end * 3 * h],
                    h,
                    head * head_dim,
                    head_dim,
                    bias,
                    &mut out,
                    scratch,
                );
                out
            })
            .collect();
        for (&(s, head), part) in jobs.iter().zip(&parts) {
            let start = sequences[s].0;
            for (i, row) in part.chunks_exact(head_dim).enumerate() {
                let at = (start + i) * h + head * head_dim;
                context[at..at + head_dim].copy_from_slice(row);
            }
        }
    }
}

fn mean_pool_normalised(rows: &[f32], width: usize) -> Vec<f32> {
    let count = (rows.len() / width).max(1) as f32;
    let mut mean = vec![0f32; width];
    for row in rows.chunks_exact(width) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    for m in &mut mean {
        *m /= count;
    }
    let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    for m in &mut mean {
        *m /= norm;
    }
    mean
}
