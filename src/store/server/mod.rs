//! [`QdrantServerStore`]: the [`VectorStore`] contract on a Qdrant server or
//! cluster through `qdrant-client` (gRPC), for desks that outgrow one machine.
//!
//! Layout: one collection per [`Collection`] named `<prefix><name>`, with a
//! named dense vector `dense` (cosine) and a sparse vector `bm25` with the IDF
//! modifier (term weights computed here, as Qdrant Edge does, so both
//! backends rank alike); hybrid retrieval prefetches both and fuses them on
//! the server (reciprocal rank fusion). Writes wait until the server has
//! applied them (`wait`), with the configured write consistency, so `Ok`
//! means acknowledged by the cluster. Every operation is idempotent (points
//! are keyed by a hash of their id), so one that fails on a lost connection
//! is retried with back-off.
//!
//! The trait is synchronous (triage searches on the model's threads); calls
//! run on this store's own runtime, so no caller blocks an async worker.
//!
//! Here: settings, connecting and retrying; `collections`: creating and
//! checking the collections, the encoder record; `points`: the operations.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, Fusion, GetPointsBuilder,
    HnswConfigDiffBuilder, Modifier, NamedVectors, PointId, PointStruct, PrefetchQueryBuilder,
    Query as ServerQuery, QueryPointsBuilder, RetrievedPoint, ScoredPoint, ScrollPointsBuilder,
    SearchParamsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpsertPointsBuilder, VectorInput, VectorParamsBuilder, VectorsConfigBuilder, WriteOrdering,
    WriteOrderingType,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Collection, Hit, ID_KEY, Query, StoreError, StoredPoint, VectorStore};

mod collections;
mod points;

/// Name of the dense vector.
const DENSE: &str = "dense";
/// Name of the sparse (BM25) vector.
const LEXICAL: &str = "bm25";
/// Points per page when scrolling a whole collection.
const SCROLL_PAGE: u32 = 1024;
/// Candidates each of dense and lexical search bring to the fusion (as in
/// Qdrant Edge).
const FUSION_CANDIDATES: u64 = 20;
/// Payload fields that writes and deletes filter on: each gets a keyword index.
const INDEXED_FIELDS: &[&str] = &[ID_KEY, "article_id"];
/// Attempts of an operation that fails on the connection.
const ATTEMPTS: u32 = 4;
/// The incidents collection's metadata key naming the encoder that wrote the store.
const ENCODER_KEY: &str = "switchboard_encoder";

/// Which vector store backend to open.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Embedded Qdrant Edge under the data directory.
    #[default]
    Edge,
    /// A Qdrant server or cluster (`[store.qdrant]`).
    Qdrant,
}

/// `[store.qdrant]`: where the server is and how collections are laid out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QdrantSettings {
    /// gRPC URL of a node or of a load balancer in front of the cluster;
    /// several nodes' URLs separated by commas: a request that fails on one
    /// is retried on the next.
    pub url: String,
    /// Name of the runbook secret holding the API key (secrets file or
    /// `SWITCHBOARD_SECRET_<NAME>`); none: no key is sent.
    pub api_key_secret: Option<String>,
    /// Prefix of the collection names (several deployments on one cluster).
    pub collection_prefix: String,
    /// Shards per collection (when Switchboard creates it).
    pub shard_number: u32,
    /// Copies of each shard.
    pub replication_factor: u32,
    /// Copies that must apply a write before it is acknowledged.
    pub write_consistency_factor: u32,
    /// Keep vectors and payloads on disk (memory-mapped) rather than in RAM.
    pub on_disk: bool,
    /// Per-request timeout, in seconds.
    pub timeout_s: u64,
}

impl QdrantSettings {
    /// The configured URLs, in order.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.url.split(',').map(str::trim).filter(|u| !u.is_empty())
    }
}

impl Default for QdrantSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:6334".into(),
            api_key_secret: None,
            collection_prefix: "switchboard_".into(),
            shard_number: 1,
            replication_factor: 1,
            write_consistency_factor: 1,
            on_disk: false,
            timeout_s: 10,
        }
    }
}

fn backend(err: impl ToString) -> StoreError {
    StoreError::Backend(err.to_string())
}

/// The point id of a caller-facing id: the same derivation as Qdrant Edge's.
fn point_id(collection: Collection, id: &str) -> PointId {
    PointId::from(super::point_uuid(collection, id).to_string())
}

fn json_payload(payload: HashMap<String, qdrant_client::qdrant::Value>) -> Map<String, Value> {
    payload
        .into_iter()
        .map(|(k, v)| (k, v.into_json()))
        .collect()
}

fn dense_of(vectors: Option<qdrant_client::qdrant::VectorsOutput>) -> Option<Vec<f32>> {
    match vectors?.get_vector_by_name(DENSE)? {
        qdrant_client::qdrant::vector_output::Vector::Dense(dense) => Some(dense.data),
        _ => None,
    }
}

fn stored(point: RetrievedPoint) -> Option<StoredPoint> {
    StoredPoint::read_back(dense_of(point.vectors)?, json_payload(point.payload))
}

/// A Qdrant server (or cluster) holding the three collections.
pub struct QdrantServerStore {
    /// One client per configured URL.
    clients: Vec<Qdrant>,
    /// The client requests go to; moves on to the next when one fails.
    current: std::sync::atomic::AtomicUsize,
    /// Runs the client's futures; `None` once dropped (shut down in the background).
    runtime: Option<tokio::runtime::Runtime>,
    settings: QdrantSettings,
    bm25: qdrant_edge::bm25_embed::EdgeBm25,
    dimension: usize,
    /// The HNSW graph parameters of collections it creates (the embedded
    /// store's, so recall at a given `search_ef` matches).
    index: super::IndexParams,
    search_ef: usize,
    hybrid: bool,
}

impl QdrantServerStore {
    /// Connects to `settings.url` (with `api_key`), and creates any missing
    /// collection for vectors of `dimension` with the graph parameters of
    /// `index`, with keyword indexes on the payload fields deletes filter on
    /// (`id`, `article_id`).
    pub fn connect(
        settings: &QdrantSettings,
        api_key: Option<String>,
        dimension: usize,
        index: super::IndexParams,
    ) -> Result<Self, StoreError> {
        let store = Self::clients(settings, api_key, dimension, index)?;
        for collection in Collection::ALL {
            store.ensure_collection(collection)?;
        }
        Ok(store)
    }

    /// Connects to the collections of `settings` as they are, with the vector
    /// width their incidents collection has (for re-embedding them with another
    /// encoder); fails when there is none.
    pub fn connect_existing(
        settings: &QdrantSettings,
        api_key: Option<String>,
        index: super::IndexParams,
    ) -> Result<Self, StoreError> {
        let mut store = Self::clients(settings, api_key, 0, index)?;
        let name = store.name(Collection::Incidents);
        let dimension = store.dense_size(&name)?.ok_or_else(|| StoreError::Open {
            path: name.clone(),
            reason: "no incidents collection to re-embed".into(),
        })?;
        store.dimension = dimension as usize;
        for collection in Collection::ALL {
            store.ensure_collection(collection)?;
        }
        Ok(store)
    }

    /// The clients of every URL, without touching a collection.
    fn clients(
        settings: &QdrantSettings,
        api_key: Option<String>,
        dimension: usize,
        index: super::IndexParams,
    ) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("qdrant-client")
            .enable_all()
            .build()
            .map_err(backend)?;
        let mut clients = Vec::new();
        for url in settings.urls() {
            let _entered = runtime.enter();
            clients.push(
                Qdrant::from_url(url)
                    .api_key(api_key.clone())
                    .timeout(Duration::from_secs(settings.timeout_s.max(1)))
                    .skip_compatibility_check()
                    .build()
                    .map_err(|e| StoreError::Open {
                        path: url.to_owned(),
                        reason: e.to_string(),
                    })?,
            );
        }
        if clients.is_empty() {
            return Err(StoreError::Open {
                path: settings.url.clone(),
                reason: "store.qdrant.url names no server".into(),
            });
        }
        Ok(Self {
            clients,
            current: std::sync::atomic::AtomicUsize::new(0),
            runtime: Some(runtime),
            settings: settings.clone(),
            bm25: super::edge::bm25()?,
            dimension,
            index,
            search_ef: super::DEFAULT_SEARCH_EF,
            hybrid: false,
        })
    }

    /// Sets the HNSW beam width of searches.
    pub fn with_search_ef(mut self, ef: usize) -> Self {
        self.search_ef = ef.max(1);
        self
    }

    /// Fuses dense and BM25 matches when a query carries text.
    pub fn with_hybrid(mut self, hybrid: bool) -> Self {
        self.hybrid = hybrid;
        self
    }

    /// The client requests go to now.
    fn client(&self) -> &Qdrant {
        let n = self.current.load(std::sync::atomic::Ordering::Relaxed);
        &self.clients[n % self.clients.len()]
    }

    /// After a failure: the next URL, if there are several.
    fn next_client(&self) {
        if self.clients.len() > 1 {
            let n = self
                .current
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            let urls: Vec<&str> = self.settings.urls().collect();
            tracing::warn!(
                url = urls[n % urls.len()],
                "switching to the next Qdrant URL"
            );
        }
    }

    fn name(&self, collection: Collection) -> String {
        format!("{}{}", self.settings.collection_prefix, collection.name())
    }

    /// Runs the future `make()` returns to completion on this store's runtime,
    /// from any thread: a plain thread blocks on it; an async worker of a
    /// multi-threaded runtime hands its other tasks on meanwhile; a
    /// single-threaded runtime's thread waits for a helper thread.
    fn wait<T, F, Fut>(&self, make: F) -> T
    where
        T: Send,
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = T>,
    {
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| runtime.block_on(make()))
            }
            Ok(_) => std::thread::scope(|s| {
                s.spawn(|| runtime.block_on(make()))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            }),
            Err(_) => runtime.block_on(make()),
        }
    }

    /// Runs `make()`'s future to completion, retrying a failed attempt after
    /// 100, 200 and 400 ms: every operation here is idempotent.
    fn run<T, F, Fut>(&self, what: &str, make: F) -> Result<T, StoreError>
    where
        T: Send,
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = Result<T, qdrant_client::QdrantError>>,
    {
        // The client's error is large; only its text is kept.
        let attempt = || self.wait(|| async { make().await.map_err(|e| e.to_string()) });
        let mut delay = Duration::from_millis(100);
        // Every URL gets a try, with back-off once they have all been tried.
        let attempts = ATTEMPTS.max(self.clients.len() as u32 + 1);
        for n in 1..=attempts {
            match attempt() {
                Ok(value) => return Ok(value),
                Err(err) if n < attempts => {
                    tracing::warn!(operation = what, attempt = n, error = %err, "Qdrant server operation failed; retrying");
                    self.next_client();
                    if n as usize >= self.clients.len() {
                        std::thread::sleep(delay);
                        delay *= 2;
                    }
                }
                Err(err) => return Err(backend(format!("{what}: {err}"))),
            }
        }
        unreachable!("the last attempt returns")
    }
}

impl Drop for QdrantServerStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
