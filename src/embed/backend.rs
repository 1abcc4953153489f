//! [`Backend`]: what the model thread needs from a model, in the shape of
//! text-embeddings-inference's backend trait: its dimension, its longest
//! input, and a batch of texts in, unit vectors out. A [`super::SentenceEncoder`] is one;
//! [`HashingBackend`] is a deterministic stand-in for tests of the services
//! above the model.

use super::EmbedError;

/// A text-embedding model the worker thread can run.
pub trait Backend: Send + 'static {
    /// Length of every vector it produces.
    fn dimension(&self) -> usize;
    /// Which encoder this is, recorded by the store its vectors go to.
    fn identity(&self) -> super::EncoderIdentity;
    /// Longest input in tokens; longer texts are truncated.
    fn max_tokens(&self) -> usize;
    /// One unit-length vector per text, in order; at most `max_batch` texts
    /// go through the model together.
    fn embed(&self, texts: &[String], max_batch: usize) -> Result<Vec<Vec<f32>>, EmbedError>;
}

impl Backend for super::SentenceEncoder {
    fn dimension(&self) -> usize {
        super::SentenceEncoder::dimension(self)
    }

    fn max_tokens(&self) -> usize {
        super::SentenceEncoder::max_tokens(self)
    }

    fn identity(&self) -> super::EncoderIdentity {
        super::SentenceEncoder::identity(self).clone()
    }

    fn embed(&self, texts: &[String], max_batch: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        super::SentenceEncoder::embed(self, texts, max_batch)
    }
}

/// A deterministic, model-free embedding for tests: each lower-cased word is
/// hashed into one of `dimension` buckets (feature hashing), and the counts
/// normalised. Texts sharing words are similar; nothing is learned. Not for
/// production: it knows no synonyms and no word order.
#[derive(Debug, Clone)]
pub struct HashingBackend {
    dimension: usize,
}

impl HashingBackend {
    /// A backend producing vectors of `dimension` (at least 2).
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension: dimension.max(2),
        }
    }
}

/// FNV-1a: stable across runs and platforms, unlike the std hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Backend for HashingBackend {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn identity(&self) -> super::EncoderIdentity {
        super::EncoderIdentity {
            name: "hashing".into(),
            dimension: self.dimension,
            weights_sha256: format!("hashing-{}", self.dimension),
        }
    }

    fn max_tokens(&self) -> usize {
        512
    }

    fn embed(&self, texts: &[String], _max_batch: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|text| {
                let mut vector = vec![0.0f32; self.dimension];
                for word in text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let hash = fnv1a(word.to_lowercase().as_bytes());
                    vector[(hash % self.dimension as u64) as usize] += 1.0;
                }
                let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm == 0.0 {
                    // An empty text still gets a unit vector.
                    vector[0] = 1.0;
                } else {
                    vector.iter_mut().for_each(|x| *x /= norm);
                }
                vector
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hashing_backend_is_deterministic_unit_length_and_word_based() {
        let backend = HashingBackend::new(64);
        let texts = [
            "VPN drops every few minutes".to_owned(),
            "the vpn DROPS every few minutes".to_owned(),
            "printer jammed on floor 2".to_owned(),
        ];
        let a = backend.embed(&texts, 8).unwrap();
        assert_eq!(a, backend.embed(&texts, 8).unwrap());
        for v in &a {
            assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!(dot(&a[0], &a[1]) > dot(&a[0], &a[2]));
    }
}
