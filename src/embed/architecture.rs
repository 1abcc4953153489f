//! The encoder families [`super::encoder::PackedEncoder`] runs, and what sets
//! them apart: where their tensors are, where positions start, whether tokens
//! have types, and MPNet's attention bias by relative position.
//!
//! BERT (all-MiniLM-L6-v2) and MPNet (all-mpnet-base-v2) share the block: fused
//! QKV, output projection, residual + layer norm, GELU feed-forward, residual +
//! layer norm. MPNet adds no token types, numbers positions from
//! `pad_token_id + 1` (as RoBERTa does) and adds to every attention score a
//! learned bias for the bucketed distance between query and key, one table
//! shared by all layers (`encoder.relative_attention_bias`).

use serde::Deserialize;

/// The parts of a Hugging Face `config.json` the encoder needs.
#[derive(Debug, Deserialize)]
pub struct EncoderConfig {
    /// `bert` or `mpnet`; a config without one is taken for BERT.
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Width of every token vector.
    pub hidden_size: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_hidden_layers: usize,
    /// Rows of the position table.
    pub max_position_embeddings: usize,
    /// Epsilon of every layer norm.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Activation of the feed-forward layer; only the exact `gelu` is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Id of the padding token; MPNet's positions start right after it.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Buckets of MPNet's relative-position bias.
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
}

fn default_model_type() -> String {
    "bert".into()
}

fn default_eps() -> f64 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

fn default_buckets() -> usize {
    32
}

/// An encoder family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// BERT: absolute positions from 0, token types.
    Bert,
    /// MPNet: positions after the padding id, no token types, relative bias.
    MpNet {
        /// First position id (`pad_token_id + 1`).
        first_position: usize,
        /// Buckets of the relative-position bias.
        buckets: usize,
    },
}

/// Tensor names of one block, without the model prefix.
pub struct BlockNames {
    /// Query, key and value projections, fused into one at load.
    pub qkv: [String; 3],
    /// Projection of the attention's output.
    pub attention_out: String,
    /// Layer norm after the attention's residual.
    pub attention_norm: String,
    /// Feed-forward up projection.
    pub up: String,
    /// Feed-forward down projection.
    pub down: String,
    /// Layer norm after the feed-forward residual.
    pub output_norm: String,
}

/// Distance beyond which MPNet's buckets stop telling distances apart.
const MAX_DISTANCE: f32 = 128.0;

impl Architecture {
    /// The family `config` describes, or why it cannot be run.
    pub fn of(config: &EncoderConfig) -> Result<Self, String> {
        match config.model_type.as_str() {
            "bert" => Ok(Self::Bert),
            "mpnet" if config.relative_attention_num_buckets >= 4 => Ok(Self::MpNet {
                first_position: config.pad_token_id + 1,
                buckets: config.relative_attention_num_buckets,
            }),
            "mpnet" => Err("relative_attention_num_buckets must be at least 4".into()),
            other => Err(format!(
                "model type {other:?} is not supported (\"bert\" or \"mpnet\")"
            )),
        }
    }

    /// The prefix a checkpoint saved from a task model puts before every name.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::MpNet { .. } => "mpnet",
        }
    }

    /// Whether the model adds a token-type embedding.
    pub fn token_types(self) -> bool {
        matches!(self, Self::Bert)
    }

    /// Position id of a sequence's first token.
    pub fn first_position(self) -> usize {
        match self {
            Self::Bert => 0,
            Self::MpNet { first_position, .. } => first_position,
        }
    }

    /// The tensor names of block `i`.
    pub fn block(self, i: usize) -> BlockNames {
        let at = |name: &str| format!("encoder.layer.{i}.{name}");
        match self {
            Self::Bert => BlockNames {
                qkv: [
                    at("attention.self.query"),
                    at("attention.self.key"),
                    at("attention.self.value"),
                ],
                attention_out: at("attention.output.dense"),
                attention_norm: at("attention.output.LayerNorm"),
                up: at("intermediate.dense"),
                down: at("output.dense"),
                output_norm: at("output.LayerNorm"),
            },
            Self::MpNet { .. } => BlockNames {
                qkv: [
                    at("attention.attn.q"),
                    at("attention.attn.k"),
                    at("attention.attn.v"),
                ],
                attention_out: at("attention.attn.o"),
                attention_norm: at("attention.LayerNorm"),
                up: at("intermediate.dense"),
                down: at("output.dense"),
                output_norm: at("output.LayerNorm"),
            },
        }
    }

    /// MPNet's bias table laid out per head by distance: `heads` rows of
    /// `2 * longest - 1` values, distance `d = key - query` at `longest - 1 + d`.
    /// `weights` is `encoder.relative_attention_bias.weight`, `[buckets, heads]`.
    /// `None` for BERT.
    pub fn bias_by_distance(
        self,
        weights: &[f32],
        heads: usize,
        longest: usize,
    ) -> Option<Vec<f32>> {
        let Self::MpNet { buckets, .. } = self else {
            return None;
        };
        let width = 2 * longest - 1;
        let mut table = vec![0f32; heads * width];
        for (index, distance) in (-(longest as i64 - 1)..longest as i64).enumerate() {
            let bucket = relative_position_bucket(distance, buckets);
            for head in 0..heads {
                table[head * width + index] = weights[bucket * heads + head];
            }
        }
        Some(table)
    }
}

/// The bucket of key-minus-query `distance`, as transformers' MPNet computes it
/// (in single precision, like torch): half the buckets for keys before the
/// query, half for keys after; within each half, exact distances up to a
/// quarter of the buckets, then logarithmic steps up to [`MAX_DISTANCE`].
pub fn relative_position_bucket(distance: i64, buckets: usize) -> usize {
    let half = (buckets / 2) as i64;
    let n = -distance;
    let mut bucket = if n < 0 { half } else { 0 };
    let n = n.abs();
    let exact = half / 2;
    bucket += if n < exact {
        n
    } else {
        let steps = ((n as f32 / exact as f32).ln() / (MAX_DISTANCE / exact as f32).ln()
            * (half - exact) as f32) as i64;
        (exact + steps).min(half - 1)
    };
    bucket as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the bucket changes over distances -600..=600, as transformers 5.23's
    /// `MPNetEncoder.relative_position_bucket` (torch 2.15, CPU) computes it.
    const TORCH_CHANGES: [(i64, usize); 31] = [
        (-600, 15),
        (-90, 14),
        (-63, 13),
        (-45, 12),
        (-31, 11),
        (-22, 10),
        (-15, 9),
        (-11, 8),
        (-7, 7),
        (-6, 6),
        (-5, 5),
        (-4, 4),
        (-3, 3),
        (-2, 2),
        (-1, 1),
        (0, 0),
        (1, 17),
        (2, 18),
        (3, 19),
        (4, 20),
        (5, 21),
        (6, 22),
        (7, 23),
        (8, 24),
        (12, 25),
        (16, 26),
        (23, 27),
        (32, 28),
        (46, 29),
        (64, 30),
        (91, 31),
    ];

    #[test]
    fn buckets_match_transformers_at_every_distance() {
        for distance in -600i64..=600 {
            let expected = TORCH_CHANGES
                .iter()
                .rev()
                .find(|(from, _)| *from <= distance)
                .map(|(_, bucket)| *bucket)
                .unwrap();
            assert_eq!(
                relative_position_bucket(distance, 32),
                expected,
                "distance {distance}"
            );
        }
    }

    #[test]
    fn a_config_of_another_family_is_refused_by_name() {
        let config = |model_type: &str| -> EncoderConfig {
            serde_json::from_value(serde_json::json!({
                "model_type": model_type,
                "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16,
                "num_hidden_layers": 1, "max_position_embeddings": 16,
            }))
            .unwrap()
        };
        assert_eq!(Architecture::of(&config("bert")), Ok(Architecture::Bert));
        assert!(matches!(
            Architecture::of(&config("mpnet")),
            Ok(Architecture::MpNet {
                first_position: 1,
                buckets: 32
            })
        ));
        let refused = Architecture::of(&config("roberta")).unwrap_err();
        assert!(
            refused.contains("\"roberta\" is not supported"),
            "{refused}"
        );
    }

    #[test]
    fn the_bias_table_puts_each_distance_of_each_head_in_place() {
        let heads = 2;
        // weights[bucket][head] = bucket * 10 + head.
        let weights: Vec<f32> = (0..32 * heads)
            .map(|i| ((i / heads) * 10 + i % heads) as f32)
            .collect();
        let arch = Architecture::MpNet {
            first_position: 2,
            buckets: 32,
        };
        let table = arch.bias_by_distance(&weights, heads, 5).unwrap();
        let width = 9;
        for head in 0..heads {
            for distance in -4i64..=4 {
                let bucket = relative_position_bucket(distance, 32);
                assert_eq!(
                    table[head * width + (4 + distance) as usize],
                    (bucket * 10 + head) as f32
                );
            }
        }
        assert!(
            Architecture::Bert
                .bias_by_distance(&weights, heads, 5)
                .is_none()
        );
    }
}
