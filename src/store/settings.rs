//! `[store]`: the backend, HNSW index and search width, hybrid retrieval, the journal.

use serde::{Deserialize, Serialize};

/// How the vector store searches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// HNSW beam width of each search: larger is more accurate and slower.
    pub search_ef: usize,
    /// Links per node of the HNSW graph; a change applies at `switchboard reindex`.
    pub hnsw_m: usize,
    /// Beam width while the HNSW graph is built; a change applies at `switchboard reindex`.
    pub hnsw_ef_construct: usize,
    /// Keep int8 copies of the vectors for search (the best candidates are re-scored
    /// with the full vectors); a change applies at `switchboard reindex`.
    pub int8_search: bool,
    /// Fuse the embedding's neighbours with BM25 matches on the ticket's text
    /// (hybrid retrieval). Off by default: it finds better neighbours but, blended
    /// with the classifier head, routes no better and costs ~12% throughput.
    pub hybrid: bool,
    /// Size of the store's write journal, in MiB, at which the shards are flushed
    /// and the journal emptied (a checkpoint holds writes for the flush).
    pub journal_checkpoint_mib: u64,
    /// `edge` (embedded Qdrant Edge under the data directory, the default) or
    /// `qdrant` (a Qdrant server or cluster, `[store.qdrant]`).
    pub backend: crate::store::Backend,
    /// The Qdrant server backend's connection and collection layout.
    pub qdrant: crate::store::QdrantSettings,
}

impl StoreSettings {
    /// The index build parameters these settings ask for.
    pub fn index(&self) -> crate::store::IndexParams {
        crate::store::IndexParams {
            m: self.hnsw_m,
            ef_construct: self.hnsw_ef_construct,
            int8: self.int8_search,
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        let index = crate::store::IndexParams::default();
        Self {
            search_ef: crate::store::DEFAULT_SEARCH_EF,
            hnsw_m: index.m,
            hnsw_ef_construct: index.ef_construct,
            int8_search: index.int8,
            hybrid: false,
            journal_checkpoint_mib: crate::store::DEFAULT_CHECKPOINT_BYTES >> 20,
            backend: crate::store::Backend::Edge,
            qdrant: crate::store::QdrantSettings::default(),
        }
    }
}
