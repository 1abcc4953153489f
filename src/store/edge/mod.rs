//! The embedded Qdrant Edge backend: one on-disk shard per collection under the
//! data directory. `index` makes and indexes shards, `search` queries them,
//! `write` journals, applies and checkpoints writes.

mod index;
mod replace;
mod search;
mod write;

pub use index::IndexParams;
pub use search::DEFAULT_SEARCH_EF;

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use parking_lot::RwLock;
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::{
    EdgeShard, PointId, Record, ScrollRequest, VectorInternal, VectorStructInternal,
    WithPayloadInterface, WithVector,
};
use serde_json::{Map, Value};

use super::journal::{Journal, JournalEntry};
use super::{Collection, Hit, Query, StoreError, StoredPoint, VectorStore};
use index::open_shard;
use write::field_path;

/// Points read per page when scrolling a whole collection.
const SCROLL_PAGE: usize = 1024;
/// Name of the sparse vector that holds a point's BM25 term weights (its dense
/// vector is the unnamed default).
const LEXICAL: &str = "bm25";
/// Average ticket length in tokens for BM25's length normalisation: tickets in the
/// evaluation sets have 23-27 words at the median and 40-42 on average, before the
/// tokenizer drops stop words.
const BM25_AVERAGE_TOKENS: f64 = 32.0;

/// Journal size at which the shards are flushed and the journal emptied: replay
/// after a crash stays short (~25k incidents' worth) and a checkpoint, which
/// holds every write for the flush, comes rarely.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 64 * 1024 * 1024;

/// Qdrant Edge shards on local disk, one per [`Collection`].
pub struct EdgeStore {
    shards: HashMap<Collection, RwLock<EdgeShard>>,
    /// Collections whose shard has the BM25 index (stores made before it do not).
    lexical: HashMap<Collection, bool>,
    bm25: EdgeBm25,
    hybrid: bool,
    dimension: usize,
    search_ef: usize,
    /// Every write is journaled (and synced) before it reaches a shard.
    journal: Journal,
    checkpoint_bytes: u64,
    /// Held while a checkpoint runs.
    checkpointing: parking_lot::Mutex<()>,
    /// Where `encoder.json` (which encoder wrote the vectors) is kept.
    data_dir: std::path::PathBuf,
    _lock: File,
}

fn backend(err: impl ToString) -> StoreError {
    StoreError::Backend(err.to_string())
}

fn open_error(path: &Path, reason: impl ToString) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl EdgeStore {
    /// Opens (or creates) the store under `data_dir` for vectors of `dimension`, with
    /// the default [`IndexParams`]. Takes an exclusive lock so two processes never
    /// write the same files.
    pub fn open(data_dir: &Path, dimension: usize) -> Result<Self, StoreError> {
        Self::open_with_index(data_dir, dimension, IndexParams::default())
    }

    /// Like [`Self::open`], building indexes with `index`. A store indexed with other
    /// parameters keeps its current index until the next [`VectorStore::flush`]
    /// (`switchboard reindex`, or the end of an ingest), which rebuilds it.
    pub fn open_with_index(
        data_dir: &Path,
        dimension: usize,
        index: IndexParams,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| open_error(data_dir, e))?;
        let lock_path = data_dir.join(".lock");
        let lock = File::create(&lock_path).map_err(|e| open_error(&lock_path, e))?;
        lock.try_lock().map_err(|_| {
            open_error(
                data_dir,
                "the data directory is in use by another switchboard process",
            )
        })?;
        // A replacement store (`switchboard reembed`) sealed before a crash is
        // moved in before anything is read.
        if Self::finish_replacement(data_dir)? {
            tracing::warn!(store = %data_dir.display(), "finished moving in a re-embedded store");
        }
        let mut shards = HashMap::new();
        let mut lexical = HashMap::new();
        for collection in Collection::ALL {
            let path = data_dir.join(collection.name());
            let shard = open_shard(&path, dimension, index)?;
            let indexed = shard.config().sparse_vectors.contains_key(LEXICAL);
            lexical.insert(collection, indexed);
            shards.insert(collection, RwLock::new(shard));
        }
        let bm25 = bm25()?;
        let (journal, replay) = Journal::open(&data_dir.join(JOURNAL_FILE))?;
        let store = Self {
            shards,
            lexical,
            bm25,
            hybrid: false,
            dimension,
            search_ef: DEFAULT_SEARCH_EF,
            journal,
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
            checkpointing: parking_lot::Mutex::new(()),
            data_dir: data_dir.to_path_buf(),
            _lock: lock,
        };
        if !replay.is_empty() {
            let writes = replay.len();
            for entry in replay {
                store.apply(entry).map_err(|e| {
                    open_error(data_dir, format!("replaying the store journal: {e}"))
                })?;
            }
            store.checkpoint()?;
            tracing::info!(
                store = %data_dir.display(),
                writes,
                "replayed writes the last process acknowledged but had not flushed"
            );
        }
        Ok(store)
    }

    /// Sets the journal size at which the shards are flushed and the journal emptied.
    pub fn with_checkpoint_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_bytes = bytes.max(1);
        self
    }

    /// Sets the HNSW beam width of searches: larger is more accurate and slower.
    pub fn with_search_ef(mut self, ef: usize) -> Self {
        self.search_ef = ef.max(1);
        self
    }

    /// With `true`, a query's text is matched against the text index and fused with
    /// the embedding's neighbours; otherwise (the default) searches use the embedding
    /// only. Points are indexed lexically either way, so switching needs no re-ingest.
    pub fn with_hybrid(mut self, hybrid: bool) -> Self {
        self.hybrid = hybrid;
        if hybrid {
            for collection in Collection::ALL.into_iter().filter(|c| !self.lexical[c]) {
                tracing::warn!(
                    collection = collection.name(),
                    "this store predates lexical search: it searches by embedding only; \
                     ingest into a new data directory for hybrid retrieval"
                );
            }
        }
        self
    }

    fn shard(&self, collection: Collection) -> &RwLock<EdgeShard> {
        &self.shards[&collection]
    }
}

/// The BM25 term weighting both backends use, so they rank text alike.
pub(super) fn bm25() -> Result<EdgeBm25, StoreError> {
    let config: EdgeBm25Config =
        serde_json::from_value(serde_json::json!({ "avg_len": BM25_AVERAGE_TOKENS }))
            .map_err(backend)?;
    EdgeBm25::new(config).map_err(backend)
}

fn point_id(collection: Collection, id: &str) -> PointId {
    PointId::Uuid(super::point_uuid(collection, id))
}

fn payload_map(payload: Option<qdrant_edge::Payload>) -> Map<String, Value> {
    payload
        .map(|p| p.0.into_iter().collect())
        .unwrap_or_default()
}

/// The embedding among a point's vectors.
fn dense_vector(vectors: VectorStructInternal) -> Option<Vec<f32>> {
    match vectors {
        VectorStructInternal::Single(v) => Some(v),
        VectorStructInternal::Named(mut named) => match named.remove("")? {
            VectorInternal::Dense(v) => Some(v),
            _ => None,
        },
        VectorStructInternal::MultiDense(_) => None,
    }
}

/// A record read back as a [`StoredPoint`]; `None` without a dense vector or an id.
fn stored_point(record: Record) -> Option<StoredPoint> {
    StoredPoint::read_back(dense_vector(record.vector?)?, payload_map(record.payload))
}

/// The file under the data directory naming the encoder that wrote the store.
const ENCODER_FILE: &str = "encoder.json";
/// The write-ahead journal under the data directory.
const JOURNAL_FILE: &str = "store.journal";

impl EdgeStore {
    /// The encoder record of the store under `data_dir` ([`VectorStore::encoder`]),
    /// read without opening the store.
    pub fn recorded_encoder(data_dir: &Path) -> Result<Option<String>, StoreError> {
        let path = data_dir.join(ENCODER_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(open_error(&path, e)),
        }
    }
}

impl VectorStore for EdgeStore {
    fn encoder(&self) -> Result<Option<String>, StoreError> {
        Self::recorded_encoder(&self.data_dir)
    }

    fn record_encoder(&self, encoder: &str) -> Result<(), StoreError> {
        // Written aside, synced, renamed over, and the rename synced: a crash
        // leaves the old record or the new one, never half of one.
        let path = self.data_dir.join(ENCODER_FILE);
        let mut file =
            tempfile::NamedTempFile::new_in(&self.data_dir).map_err(|e| open_error(&path, e))?;
        std::io::Write::write_all(&mut file, encoder.as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| open_error(&path, e))?;
        file.persist(&path)
            .map_err(|e| open_error(&path, e.error))?;
        File::open(&self.data_dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| open_error(&self.data_dir, e))
    }

    fn upsert(&self, collection: Collection, points: Vec<StoredPoint>) -> Result<(), StoreError> {
        if points.is_empty() {
            return Ok(());
        }
        if let Some(point) = points.iter().find(|p| p.vector.len() != self.dimension) {
            return Err(StoreError::Dimension {
                expected: self.dimension,
                got: point.vector.len(),
            });
        }
        self.write(JournalEntry::Upsert {
            collection,
            points: points.into(),
        })
    }

    fn delete_where(
        &self,
        collection: Collection,
        field: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        // Checked before journaling, so a journaled write always applies.
        field_path(field)?;
        self.write(JournalEntry::DeleteWhere {
            collection,
            field: field.into(),
            value: value.into(),
        })
    }

    fn search_exact(
        &self,
        collection: Collection,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        self.nearest(collection, Query::dense(vector), limit, true)
    }

    fn search(
        &self,
        collection: Collection,
        query: Query<'_>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        self.nearest(collection, query, limit, false)
    }

    fn get(&self, collection: Collection, id: &str) -> Result<Option<StoredPoint>, StoreError> {
        let records = self
            .shard(collection)
            .read()
            .retrieve(
                &[point_id(collection, id)],
                None,
                Some(WithVector::Bool(true)),
            )
            .map_err(backend)?;
        Ok(records.into_iter().next().and_then(stored_point))
    }

    fn all(&self, collection: Collection) -> Result<Vec<StoredPoint>, StoreError> {
        let shard = self.shard(collection).read();
        let mut out = Vec::new();
        let mut offset = None;
        loop {
            let request = ScrollRequest {
                offset,
                limit: Some(SCROLL_PAGE),
                filter: None,
                with_payload: Some(WithPayloadInterface::Bool(true)),
                with_vector: WithVector::Bool(true),
                order_by: None,
            };
            let (records, next) = shard.scroll(request).map_err(backend)?;
            out.extend(records.into_iter().filter_map(stored_point));
            match next {
                Some(next) => offset = Some(next),
                None => return Ok(out),
            }
        }
    }

    fn count(&self, collection: Collection) -> Result<usize, StoreError> {
        self.shard(collection)
            .read()
            .count(qdrant_edge::CountRequest {
                filter: None,
                exact: true,
            })
            .map_err(backend)
    }

    fn flush(&self) -> Result<(), StoreError> {
        for collection in Collection::ALL {
            self.shard(collection).write().optimize().map_err(backend)?;
        }
        self.checkpoint()
    }
}

#[cfg(test)]
mod tests {
    use qdrant_edge::{Distance, EdgeConfig, EdgeVectorParams};

    use super::*;

    fn point(id: &str, vector: [f32; 4], text: &str) -> StoredPoint {
        StoredPoint {
            id: id.to_owned(),
            vector: vector.to_vec(),
            text: Some(text.to_owned()),
            payload: Map::new(),
        }
    }

    #[test]
    fn a_store_made_before_the_text_index_still_stores_and_searches_by_embedding() {
        let dir = tempfile::tempdir().unwrap();
        // The incidents shard as earlier versions made it: the embedding only.
        let old = dir.path().join(Collection::Incidents.name());
        std::fs::create_dir_all(&old).unwrap();
        let config = EdgeConfig::builder()
            .vector("", EdgeVectorParams::builder(4, Distance::Cosine).build())
            .build();
        drop(EdgeShard::new(&old, config).unwrap());

        let store = EdgeStore::open(dir.path(), 4).unwrap().with_hybrid(true);
        assert!(!store.lexical[&Collection::Incidents]);
        assert!(store.lexical[&Collection::Knowledge]);
        for collection in [Collection::Incidents, Collection::Knowledge] {
            store
                .upsert(
                    collection,
                    vec![
                        point("A", [1.0, 0.0, 0.0, 0.0], "listener refuses ORA-12154"),
                        point("B", [0.0, 1.0, 0.0, 0.0], "printer out of paper"),
                    ],
                )
                .unwrap();
        }
        let query = Query::hybrid(&[0.0, 1.0, 0.0, 0.0], "ORA-12154 again");
        let best = |collection| store.search(collection, query, 1).unwrap().remove(0);
        // Without a text index only the embedding counts ...
        let old_best = best(Collection::Incidents);
        assert_eq!(old_best.id, "B");
        assert!((old_best.score - 1.0).abs() < 1e-5);
        // ... where a new shard fuses in the rare term: A is second by embedding and
        // first by text, which beats B's first place by embedding alone.
        let new_best = best(Collection::Knowledge);
        assert_eq!(new_best.id, "A");
        assert!(new_best.score.abs() < 1e-5, "the hit carries its cosine");
    }
}
