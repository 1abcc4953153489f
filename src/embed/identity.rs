//! [`EncoderIdentity`]: which encoder made a vector. Vectors of two encoders
//! (or of one encoder before and after fine-tuning) cannot be compared, so the
//! store records the identity of the encoder that wrote it and the service
//! refuses to start with another one.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::EmbedError;
use super::architecture::EncoderConfig;

/// An encoder's name, the width of its vectors and the checksum of its weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderIdentity {
    /// The model directory's name (`all-MiniLM-L6-v2`).
    pub name: String,
    /// Length of its vectors.
    pub dimension: usize,
    /// sha256 of `model.safetensors`, hex: two encoders are the same when it is.
    pub weights_sha256: String,
}

impl EncoderIdentity {
    /// The identity of the model whose directory is `dir` and weights `weights`.
    pub fn of(dir: &Path, dimension: usize, weights: &[u8]) -> Self {
        Self {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string()),
            dimension,
            weights_sha256: hex::encode(Sha256::digest(weights)),
        }
    }

    /// Reads the identity of the model in `dir` without loading it: the
    /// dimension from `config.json`, the checksum from the weights.
    pub fn read(dir: &Path) -> Result<Self, EmbedError> {
        let fail = |path: &Path, reason: String| EmbedError::Load {
            path: path.display().to_string(),
            reason,
        };
        let config_path = dir.join("config.json");
        let raw =
            std::fs::read_to_string(&config_path).map_err(|e| fail(&config_path, e.to_string()))?;
        let config: EncoderConfig =
            serde_json::from_str(&raw).map_err(|e| fail(&config_path, e.to_string()))?;
        let weights_path = dir.join("model.safetensors");
        let weights =
            std::fs::read(&weights_path).map_err(|e| fail(&weights_path, e.to_string()))?;
        Ok(Self::of(dir, config.hidden_size, &weights))
    }

    /// The record a store keeps of the encoder that wrote it.
    pub fn to_record(&self) -> String {
        serde_json::to_string(self).expect("an encoder identity serialises")
    }

    /// An encoder record read back from a store.
    pub fn from_record(record: &str) -> Result<Self, String> {
        serde_json::from_str(record)
            .map_err(|e| format!("the store's encoder record is unreadable: {e}"))
    }

    /// Whether vectors of `self` and `other` can be compared.
    pub fn same_encoder(&self, other: &Self) -> bool {
        self.weights_sha256 == other.weights_sha256 && self.dimension == other.dimension
    }

    /// A short description for messages: name, width and checksum prefix.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}-d, weights sha256 {})",
            self.name,
            self.dimension,
            &self.weights_sha256[..self.weights_sha256.len().min(12)]
        )
    }
}
