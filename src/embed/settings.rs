//! `[model]`: the encoder directory and its batching queue.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the model lives and how the embedding worker batches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Directory with `config.json`, `tokenizer.json` and `model.safetensors`.
    pub dir: PathBuf,
    /// Most texts run through the model in one forward pass.
    pub max_batch: usize,
    /// Most tokens in one forward pass: a batch with more is run as several passes,
    /// which keeps the activations in cache (packed passes have no padding to share).
    pub max_pass_tokens: usize,
    /// How long the worker waits for more requests to join a batch, in milliseconds.
    pub max_wait_ms: u64,
    /// The worker also stops waiting once no request has joined for this long, in
    /// microseconds (0: only `max_wait_ms` ends the wait). Requests that come back
    /// together (clients answered by the same batch) arrive well within it, so the
    /// batch starts as soon as they are in instead of idling out `max_wait_ms`.
    pub gather_quiet_us: u64,
    /// Requests allowed to wait for the model; beyond this the service answers 503.
    pub queue_capacity: usize,
    /// A request that waited this long for the model is answered 503 instead of run,
    /// in milliseconds: bounded latency under overload, instant recovery after it.
    pub max_queue_wait_ms: u64,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("models/all-MiniLM-L6-v2"),
            max_batch: 32,
            max_pass_tokens: 512,
            max_wait_ms: 2,
            gather_quiet_us: 300,
            queue_capacity: 64,
            max_queue_wait_ms: 500,
        }
    }
}
