//! The embedded Qdrant Edge backend: one on-disk shard per collection under the data directory.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::{
    Condition, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams, EdgeVectorParams,
    FieldCondition, Filter, Fusion, HnswIndexConfig as HnswConfig, JsonPath, Match, Modifier,
    NamedQuery, PointId, PointInsertOperations, PointOperations, PointStruct, Prefetch,
    QuantizationConfig, QuantizationSearchParams, QueryEnum, QueryRequest, Record,
    ScalarQuantizationConfig, ScalarType, ScoringQuery, ScrollRequest, SearchParams, SparseVector,
    UpdateOperation, Vector, VectorInternal, VectorStructInternal, Vectors, WithPayloadInterface,
    WithVector,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Collection, Hit, Query, StoreError, StoredPoint, VectorStore};

/// Namespace for deriving stable point ids from caller-facing ids.
const POINT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5b0a_4d1e_77c2_4f0e_9d3a_1c6e_2b8f_4a10);
/// Payload key that keeps the caller-facing id next to the derived point id.
const ID_KEY: &str = "id";
/// Points read per page when scrolling a whole collection.
const SCROLL_PAGE: usize = 1024;
/// Name of the sparse vector that holds a point's BM25 term weights (its dense
/// vector is the unnamed default).
const LEXICAL: &str = "bm25";
/// Candidates that dense and lexical search each bring to the fusion, at least: on
/// a held-out fifth of gl8500 train, 20 and 50 route alike (neighbours alone 0.7045
/// vs 0.7035) and 20 is cheaper (16-client triage over 100k incidents 382-384 vs 373
/// req/s).
const FUSION_CANDIDATES: usize = 20;
/// Rank offset of reciprocal rank fusion: a point's fused score is the sum over the
/// two rankings of `1 / (RRF_K + rank)`, so a smaller offset favours the top of each
/// ranking. On a held-out fifth of gl8500 train, 10 let the neighbours alone route
/// 0.7035 of tickets right against 0.6924 with the customary 60 (embedding only:
/// 0.6859).
const RRF_K: usize = 10;
/// Average ticket length in tokens for BM25's length normalisation: tickets in the
/// evaluation sets have 23-27 words at the median and 40-42 on average, before the
/// tokenizer drops stop words.
const BM25_AVERAGE_TOKENS: f64 = 32.0;

/// HNSW beam width of a search unless [`EdgeStore::with_search_ef`] sets another: with
/// the default [`IndexParams`], recall@10 against exact search is 0.993 on 100k
/// real-text incidents (0.991 at 64, 0.995 at 96; `switchboard bench recall`).
pub const DEFAULT_SEARCH_EF: usize = 80;

/// Candidates found with the int8 copies per result asked for, then re-scored with the
/// full vectors: at 2, recall is that of unquantised search (see [`IndexParams`]).
const RESCORE_OVERSAMPLING: f64 = 2.0;

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
    fn of(config: &EdgeConfig) -> Self {
        Self {
            m: config.hnsw_config.m,
            ef_construct: config.hnsw_config.ef_construct,
            int8: config.quantization_config.is_some(),
        }
    }

    /// `config` with these parameters.
    fn apply(self, mut config: EdgeConfig) -> EdgeConfig {
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

/// Qdrant Edge shards on local disk, one per [`Collection`].
pub struct EdgeStore {
    shards: HashMap<Collection, RwLock<EdgeShard>>,
    /// Collections whose shard has the BM25 index (stores made before it do not).
    lexical: HashMap<Collection, bool>,
    bm25: EdgeBm25,
    hybrid: bool,
    dimension: usize,
    search_ef: usize,
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
        let mut shards = HashMap::new();
        let mut lexical = HashMap::new();
        for collection in Collection::ALL {
            let path = data_dir.join(collection.name());
            let shard = open_shard(&path, dimension, index)?;
            let indexed = shard.config().sparse_vectors.contains_key(LEXICAL);
            lexical.insert(collection, indexed);
            shards.insert(collection, RwLock::new(shard));
        }
        let bm25_config: EdgeBm25Config =
            serde_json::from_value(serde_json::json!({ "avg_len": BM25_AVERAGE_TOKENS }))
                .map_err(backend)?;
        let bm25 = EdgeBm25::new(bm25_config).map_err(backend)?;
        Ok(Self {
            shards,
            lexical,
            bm25,
            hybrid: false,
            dimension,
            search_ef: DEFAULT_SEARCH_EF,
            _lock: lock,
        })
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

    /// The `limit` points nearest to `vector` by brute force, ignoring the HNSW index
    /// and the text index: the reference that `switchboard bench recall` measures
    /// indexed search against.
    pub fn search_exact(
        &self,
        collection: Collection,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        self.nearest(collection, Query::dense(vector), limit, true)
    }

    fn nearest(
        &self,
        collection: Collection,
        query: Query<'_>,
        limit: usize,
        exact: bool,
    ) -> Result<Vec<Hit>, StoreError> {
        let vector = query.vector;
        if vector.len() != self.dimension {
            return Err(StoreError::Dimension {
                expected: self.dimension,
                got: vector.len(),
            });
        }
        let dense = ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
            query: vector.to_vec().into(),
            using: None,
        }));
        let params = SearchParams {
            hnsw_ef: Some(self.search_ef),
            exact,
            // Exact search compares the full vectors only.
            quantization: Some(QuantizationSearchParams {
                ignore: exact,
                rescore: Some(true),
                oversampling: Some(RESCORE_OVERSAMPLING),
            }),
            ..Default::default()
        };
        let terms = query
            .text
            .filter(|_| self.hybrid && !exact && self.lexical[&collection])
            .map(|text| self.bm25.embed_query(text))
            .filter(|terms| !terms.is_empty());
        let fused = terms.is_some();
        let request = match terms {
            None => QueryRequest {
                prefetches: vec![],
                query: Some(dense),
                filter: None,
                score_threshold: None,
                limit,
                offset: 0,
                params: Some(params),
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(true),
            },
            Some(terms) => fused_request(dense, params, terms, limit),
        };
        let points = self
            .shard(collection)
            .read()
            .query(request)
            .map_err(backend)?;
        let mut hits: Vec<Hit> = points
            .into_iter()
            .map(|point| {
                // A fused score ranks but is no similarity: hits carry the cosine of
                // their own embedding (unit length in a cosine collection) instead.
                let score = if fused {
                    point
                        .vector
                        .and_then(dense_vector)
                        .map_or(0.0, |v| dot(vector, &v))
                } else {
                    point.score
                };
                let payload = payload_map(point.payload);
                let id = payload
                    .get(ID_KEY)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                Hit { id, score, payload }
            })
            .collect();
        if fused {
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        }
        Ok(hits)
    }

    /// The point as Qdrant stores it: the embedding, plus BM25 term weights of its
    /// text where the collection has the lexical index.
    fn point_vectors(
        &self,
        collection: Collection,
        vector: Vec<f32>,
        text: Option<&str>,
    ) -> Vectors {
        let terms = text
            .filter(|_| self.lexical[&collection])
            .map(|text| self.bm25.embed_document(text))
            .filter(|terms| !terms.is_empty());
        match terms {
            None => vector.into(),
            Some(terms) => HashMap::from([
                (String::new(), Vector::new_dense(vector)),
                (LEXICAL.to_owned(), Vector(VectorInternal::Sparse(terms))),
            ])
            .into(),
        }
    }

    fn shard(&self, collection: Collection) -> &RwLock<EdgeShard> {
        &self.shards[&collection]
    }
}

/// A query that fuses the `dense` and lexical (`terms`) rankings by reciprocal rank
/// and returns the winners with their embeddings, to re-score by cosine.
fn fused_request(
    dense: ScoringQuery,
    params: SearchParams,
    terms: SparseVector,
    limit: usize,
) -> QueryRequest {
    let candidates = limit.max(FUSION_CANDIDATES);
    let lexical = ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
        query: VectorInternal::Sparse(terms),
        using: Some(LEXICAL.to_owned()),
    }));
    let prefetch = |query, params| Prefetch {
        prefetches: vec![],
        query: Some(query),
        limit: candidates,
        params,
        filter: None,
        score_threshold: None,
    };
    QueryRequest {
        prefetches: vec![prefetch(dense, Some(params)), prefetch(lexical, None)],
        query: Some(ScoringQuery::Fusion(Fusion::Rrf {
            k: RRF_K,
            weights: None,
        })),
        filter: None,
        score_threshold: None,
        limit,
        offset: 0,
        params: None,
        with_vector: WithVector::Selector(vec![String::new()]),
        with_payload: WithPayloadInterface::Bool(true),
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn open_shard(
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
                 use a new data directory or re-ingest"
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

fn point_id(collection: Collection, id: &str) -> PointId {
    let key = format!("{}:{id}", collection.name());
    PointId::Uuid(Uuid::new_v5(&POINT_ID_NAMESPACE, key.as_bytes()))
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
    let vector = dense_vector(record.vector?)?;
    let payload = payload_map(record.payload);
    let id = payload.get(ID_KEY).and_then(Value::as_str)?.to_owned();
    Some(StoredPoint {
        id,
        vector,
        text: None,
        payload,
    })
}

impl VectorStore for EdgeStore {
    fn upsert(&self, collection: Collection, points: Vec<StoredPoint>) -> Result<(), StoreError> {
        if points.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(points.len());
        for point in points {
            if point.vector.len() != self.dimension {
                return Err(StoreError::Dimension {
                    expected: self.dimension,
                    got: point.vector.len(),
                });
            }
            let mut payload = point.payload;
            payload.insert(ID_KEY.into(), Value::String(point.id.clone()));
            let id = point_id(collection, &point.id);
            let vectors = self.point_vectors(collection, point.vector, point.text.as_deref());
            batch.push(PointStruct::new(id, vectors, Value::Object(payload)).into());
        }
        let operation = UpdateOperation::PointOperation(PointOperations::UpsertPoints(
            PointInsertOperations::PointsList(batch),
        ));
        self.shard(collection)
            .write()
            .update(operation)
            .map_err(backend)
    }

    fn delete_where(
        &self,
        collection: Collection,
        field: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let key = JsonPath::try_from(field).map_err(|_| backend(format!("bad field {field}")))?;
        let filter = Filter {
            should: None,
            min_should: None,
            must: Some(vec![Condition::Field(FieldCondition::new_match(
                key,
                Match::from(value.to_owned()),
            ))]),
            must_not: None,
        };
        let operation =
            UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter));
        self.shard(collection)
            .write()
            .update(operation)
            .map_err(backend)
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
            let shard = self.shard(collection).write();
            shard.optimize().map_err(backend)?;
            shard.flush();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
