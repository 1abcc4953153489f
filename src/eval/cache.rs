//! An on-disk cache of embeddings keyed by the SHA-256 of the encoder's weights
//! checksum and the model text, so repeated evaluations of the same files skip
//! the model, and a cache file shared by two encoders of one width never hands
//! one encoder's vectors to the other. Only for `eval`.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::embed::{EmbedError, Embedder, EncoderIdentity};

/// Embeddings by text hash, loaded from and appended to one file.
pub struct EmbeddingCache {
    path: Option<PathBuf>,
    vectors: HashMap<[u8; 32], Vec<f32>>,
    fresh: Vec<[u8; 32]>,
    dimension: usize,
}

fn key(encoder: &EncoderIdentity, text: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(encoder.weights_sha256.as_bytes());
    hash.update([0]);
    hash.update(text.as_bytes());
    hash.finalize().into()
}

impl EmbeddingCache {
    /// A cache that keeps nothing between runs.
    pub fn in_memory() -> Self {
        Self {
            path: None,
            vectors: HashMap::new(),
            fresh: Vec::new(),
            dimension: 0,
        }
    }

    /// Loads `path` (a missing file is an empty cache) for vectors of `dimension`.
    pub fn open(path: &Path, dimension: usize) -> std::io::Result<Self> {
        let mut cache = Self {
            path: Some(path.to_path_buf()),
            dimension,
            ..Self::in_memory()
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cache),
            Err(e) => return Err(e),
        };
        let record = 32 + 4 * dimension;
        if bytes.len() % record != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} does not hold {dimension}-dimensional embeddings; delete it",
                    path.display()
                ),
            ));
        }
        for chunk in bytes.chunks_exact(record) {
            let mut k = [0u8; 32];
            k.copy_from_slice(&chunk[..32]);
            let vector = chunk[32..]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            cache.vectors.insert(k, vector);
        }
        Ok(cache)
    }

    /// Embeddings of `texts`, from the cache where present, else from the model.
    pub async fn embed(
        &mut self,
        embedder: &Embedder,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| key(embedder.identity(), t)).collect();
        let missing: Vec<usize> = (0..texts.len())
            .filter(|&i| !self.vectors.contains_key(&keys[i]))
            .collect();
        if !missing.is_empty() {
            let vectors = embedder
                .embed(missing.iter().map(|&i| texts[i].clone()).collect())
                .await?;
            for (&i, vector) in missing.iter().zip(vectors) {
                if self.vectors.insert(keys[i], vector).is_none() {
                    self.fresh.push(keys[i]);
                }
            }
        }
        Ok(keys.iter().map(|k| self.vectors[k].clone()).collect())
    }

    /// Appends the embeddings computed this run to the file.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let mut out = BufWriter::new(file);
        for k in self.fresh.drain(..) {
            let vector = &self.vectors[&k];
            if vector.len() != self.dimension {
                continue;
            }
            out.write_all(&k)?;
            for v in vector {
                out.write_all(&v.to_le_bytes())?;
            }
        }
        out.flush()
    }
}
