//! Text embeddings: a transformer encoder over packed batches, on its own thread.
//!
//! Layout: [`Backend`] is what the model thread runs (a [`SentenceEncoder`], or
//! the deterministic [`HashingBackend`] in tests); `sentence` tokenises and
//! groups texts into passes, `encoder` runs one packed pass (candle matmuls +
//! the fused `kernels`) for either family `architecture` knows (BERT, MPNet),
//! `weights` reads the safetensors into `layers`, `worker` owns the model thread.
//!
//! This is the only module that touches candle or tokenizers. The rest of the
//! crate sees [`Embedder`], a cheap cloneable handle that sends texts to the
//! model thread and gets normalised vectors back.

mod architecture;
mod backend;
mod encoder;
mod gemm;
mod identity;
mod kernels;
mod layers;
mod sentence;
pub mod settings;
mod weights;
mod worker;
pub use settings::ModelSettings;

pub use backend::{Backend, HashingBackend};
pub use identity::EncoderIdentity;
pub use sentence::SentenceEncoder;
pub use worker::{Embedder, WorkerOptions, in_reserved_lane};

/// What can go wrong when turning text into vectors.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model directory is missing a file or holds something unreadable.
    #[error("cannot load model from {path}: {reason}")]
    Load {
        /// The file or directory that failed.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// Tokenisation or the forward pass failed.
    #[error("embedding failed: {0}")]
    Inference(String),
    /// The request queue is full; the caller should retry later.
    #[error("embedding queue is full")]
    Overloaded,
    /// The model thread has stopped.
    #[error("embedding worker is not running")]
    Unavailable,
}
