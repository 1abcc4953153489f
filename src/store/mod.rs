//! Vector storage behind a small trait, so triage code never sees a Qdrant type.
//!
//! [`EdgeStore`] (embedded Qdrant Edge, on disk under the data directory) is the
//! default backend; [`QdrantServerStore`] keeps the same contract on a Qdrant
//! server or cluster (`store.backend = "qdrant"`).
//!
//! Every write is durable when it returns: [`EdgeStore`] journals it (synced,
//! with concurrent writers sharing a sync) before applying it, and replays the
//! journal when it opens, since Qdrant Edge itself does not replay its log.
//!
//! Payloads are typed records ([`PayloadRecord`]): incidents, knowledge
//! passages and remembered tickets are serialised in one place.
//!
//! Retrieval can be hybrid: a [`Query`] carries the ticket's embedding and its
//! text, and a backend asked to (`store.hybrid`) fuses the dense neighbours with
//! BM25 matches on the text, so identifiers the model does not know (error codes,
//! host names, form names) still find the incidents that share them.

mod edge;
mod journal;
mod record;
mod server;
pub mod settings;
pub use settings::StoreSettings;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use edge::{DEFAULT_CHECKPOINT_BYTES, DEFAULT_SEARCH_EF, EdgeStore, IndexParams};
pub use record::PayloadRecord;
pub use server::{Backend, QdrantServerStore, QdrantSettings};

/// The collections Switchboard keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    /// Past incidents with their labels and resolutions.
    Incidents,
    /// Knowledge article chunks.
    Knowledge,
    /// Tickets triaged with an id, kept so agents' feedback can refer to them.
    Tickets,
}

impl Collection {
    /// Every collection, for opening and reporting.
    pub const ALL: [Collection; 3] = [
        Collection::Incidents,
        Collection::Knowledge,
        Collection::Tickets,
    ];

    /// Directory and log name of the collection.
    pub fn name(self) -> &'static str {
        match self {
            Collection::Incidents => "incidents",
            Collection::Knowledge => "knowledge",
            Collection::Tickets => "tickets",
        }
    }
}

/// Namespace for deriving stable point ids from caller-facing ids; both
/// backends derive them alike, so a store moved between them keeps its ids.
const POINT_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5b0a_4d1e_77c2_4f0e_9d3a_1c6e_2b8f_4a10);
/// Payload key that keeps the caller-facing id next to the derived point id.
const ID_KEY: &str = "id";

/// The point id a backend stores `id` of `collection` under.
fn point_uuid(collection: Collection, id: &str) -> uuid::Uuid {
    let key = format!("{}:{id}", collection.name());
    uuid::Uuid::new_v5(&POINT_ID_NAMESPACE, key.as_bytes())
}

/// A record to store: its caller-facing id, its vector and its JSON payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPoint {
    /// Caller-facing id (e.g. `INC0012345`); storing the same id again replaces it.
    pub id: String,
    /// Unit-length embedding.
    pub vector: Vec<f32>,
    /// Text for the lexical (BM25) index; `None` leaves the point to dense search.
    /// The store indexes it but does not keep it: points read back carry `None`.
    pub text: Option<String>,
    /// Fields returned with search hits.
    pub payload: Map<String, Value>,
}

/// What to search for: an embedding and, for hybrid retrieval, the text it came from.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// Unit-length embedding of the query.
    pub vector: &'a [f32],
    /// Text matched against the lexical index; `None` searches by the embedding only.
    pub text: Option<&'a str>,
}

impl<'a> Query<'a> {
    /// A search by embedding only.
    pub fn dense(vector: &'a [f32]) -> Self {
        Self { vector, text: None }
    }

    /// A search by embedding and text, fused.
    pub fn hybrid(vector: &'a [f32], text: &'a str) -> Self {
        Self {
            vector,
            text: Some(text),
        }
    }
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Caller-facing id of the stored record.
    pub id: String,
    /// Cosine similarity to the query's embedding, also for a hit its text found.
    pub score: f32,
    /// The stored payload.
    pub payload: Map<String, Value>,
}

impl StoredPoint {
    /// A point read back from a backend: its id is the payload's [`ID_KEY`];
    /// `None` without one. The lexical text is not kept, so it comes back `None`.
    fn read_back(vector: Vec<f32>, payload: Map<String, Value>) -> Option<Self> {
        let id = payload.get(ID_KEY).and_then(Value::as_str)?.to_owned();
        Some(Self {
            id,
            vector,
            text: None,
            payload,
        })
    }
}

/// Failures of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be used (missing, locked, unreadable).
    #[error("cannot open store at {path}: {reason}")]
    Open {
        /// Directory that failed.
        path: String,
        /// Why.
        reason: String,
    },
    /// A vector of the wrong length was given.
    #[error("vector has {got} dimensions, the store expects {expected}")]
    Dimension {
        /// Dimension the store was created with.
        expected: usize,
        /// Dimension given.
        got: usize,
    },
    /// The backend failed an operation.
    #[error("store operation failed: {0}")]
    Backend(String),
}

/// What triage, ingest and the API need from a vector store.
pub trait VectorStore: Send + Sync {
    /// Inserts or replaces points by id; durable (survives kill -9 and power loss)
    /// once it returns `Ok`.
    fn upsert(&self, collection: Collection, points: Vec<StoredPoint>) -> Result<(), StoreError>;
    /// Removes every point whose payload field `field` equals `value`; durable once
    /// it returns `Ok`.
    fn delete_where(
        &self,
        collection: Collection,
        field: &str,
        value: &str,
    ) -> Result<(), StoreError>;
    /// The `limit` points that best match `query`, most similar first: the nearest
    /// by embedding, or with a text the best of dense and lexical matches fused.
    fn search(
        &self,
        collection: Collection,
        query: Query<'_>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError>;
    /// The `limit` points nearest to `vector` by brute force, ignoring every
    /// index: the reference `switchboard bench recall` measures search against.
    fn search_exact(
        &self,
        collection: Collection,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError>;
    /// The point stored under `id` (vector and payload), if any.
    fn get(&self, collection: Collection, id: &str) -> Result<Option<StoredPoint>, StoreError>;
    /// Every point of the collection with its vector and payload, for retraining.
    fn all(&self, collection: Collection) -> Result<Vec<StoredPoint>, StoreError>;
    /// Number of points stored.
    fn count(&self, collection: Collection) -> Result<usize, StoreError>;
    /// Makes everything written so far durable and builds search indexes.
    fn flush(&self) -> Result<(), StoreError>;
    /// Whether the store can serve now: always for an embedded store; for a
    /// server, whether it answers (readiness probes ask this).
    fn check_ready(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// True when a call waits on the network (a server backend): callers keep
    /// such calls off the model's threads, which an in-process search may use.
    fn is_remote(&self) -> bool {
        false
    }
    /// The encoder its vectors come from, as [`Self::record_encoder`] wrote it
    /// (opaque to the store); `None` when none is recorded: a new store, or one
    /// written before encoders were recorded.
    fn encoder(&self) -> Result<Option<String>, StoreError>;
    /// Records which encoder writes its vectors; durable once it returns `Ok`.
    fn record_encoder(&self, encoder: &str) -> Result<(), StoreError>;
}
