//! How a collection's shard is made and indexed: the HNSW graph's parameters,
//! int8 copies, and the BM25 text index of new shards.

use std::path::PathBuf;

use qdrant_edge::{
    Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams, EdgeVectorParams,
    HnswIndexConfig as HnswConfig, Modifier, QuantizationConfig, ScalarQuantizationConfig,
    ScalarType,
};

use super::{LEXICAL, open_error};
use crate::store::StoreError;

/// How the search index of a collection is built.
///
/// Denser graphs (larger `m`) built with a wider beam (`ef_construct`) find more of
/// the true neighbours at the same search width, at the cost of a slower build and a
/// larger index; int8 copies of the vectors make each distance cheaper. Measured on
/// 100k real-text incidents with gl8500 dev tickets as queries (`switchboard bench
/// recall`), recall@10 against exact search: m 16 / ef_construct 100 reached 0.975 at
/// `search_ef` 64 and 0.990 only at 256; m 32 / ef_construct 256 reached 0.987 at 64
/// and 0.994 at 128, and with int8 copies (re-scored) the same 0.987 / 0.994;
/// ef_construct 512 reached 0.993 already at 80, which saves ~0.15 ms of CPU per triage
/// request against 128 (the search is ~10% of a request's CPU under load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexParams {
    /// Links per node in the graph.
    pub m: usize,
    /// Beam width while the graph is built.
    pub ef_construct: usize,
    /// Keep int8 copies of the vectors in RAM, search with them and re-score the best
    /// candidates with the full vectors.
    pub int8: bool,
}

impl Default for IndexParams {
    fn default() -> Self {
        Self {
            m: 32,
            ef_construct: 512,
            int8: true,
        }
    }
}

impl IndexParams {
    /// The parameters a shard configuration holds.
    pub(super) fn of(config: &EdgeConfig) -> Self {
        Self {
            m: config.hnsw_config.m,
            ef_construct: config.hnsw_config.ef_construct,
            int8: config.quantization_config.is_some(),
        }
    }

    /// `config` with these parameters.
    pub(super) fn apply(self, mut config: EdgeConfig) -> EdgeConfig {
        config.hnsw_config = HnswConfig {
            m: self.m,
            ef_construct: self.ef_construct,
            ..config.hnsw_config
        };
        config.quantization_config = self.int8.then(|| {
            QuantizationConfig::from(ScalarQuantizationConfig {
                r#type: ScalarType::Int8,
                quantile: None,
                always_ram: Some(true),
            })
        });
        config
    }
}

pub(super) fn open_shard(
    path: &PathBuf,
    dimension: usize,
    index: IndexParams,
) -> Result<EdgeShard, StoreError> {
    let Some(stored) = EdgeConfig::load(path) else {
        let config = EdgeConfig::builder()
            .vector(
                "",
                EdgeVectorParams::builder(dimension, Distance::Cosine).build(),
            )
            .sparse_vector(
                LEXICAL,
                // Qdrant weighs each query term by its inverse document frequency
                // over the collection, kept current as points come and go.
                EdgeSparseVectorParams::builder()
                    .modifier(Modifier::Idf)
                    .build(),
            )
            .build();
        std::fs::create_dir_all(path).map_err(|e| open_error(path, e))?;
        return EdgeShard::new(path, index.apply(config)).map_err(|e| open_error(path, e));
    };
    let stored = stored.map_err(|e| open_error(path, e))?;
    let size = stored.vectors.get("").map(|v| v.size);
    if size != Some(dimension) {
        return Err(open_error(
            path,
            format!(
                "store holds vectors of size {size:?} but the model makes {dimension}; \
                 re-embed it with this model (`switchboard reembed`) or use a new data directory"
            ),
        ));
    }
    let current = IndexParams::of(&stored);
    if current != index {
        tracing::warn!(
            store = %path.display(),
            stored = ?current,
            configured = ?index,
            "index parameters changed: the index is rebuilt at the next `switchboard reindex` or ingest"
        );
    }
    EdgeShard::load(path, Some(index.apply(stored))).map_err(|e| open_error(path, e))
}

/// Width of the dense vectors of the shard at `path`; `None` when there is none.
pub(super) fn stored_dimension(path: &std::path::Path) -> Result<Option<usize>, StoreError> {
    match EdgeConfig::load(path) {
        None => Ok(None),
        Some(config) => Ok(config
            .map_err(|e| open_error(path, e))?
            .vectors
            .get("")
            .map(|v| v.size)),
    }
}
