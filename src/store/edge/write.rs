//! The write path: every write journaled (and synced) before it reaches its
//! shard, replayed at open, and checkpoints that flush the shards and empty the
//! journal.

use std::collections::HashMap;

use qdrant_edge::{
    Condition, EdgeShard, FieldCondition, Filter, JsonPath, Match, PointInsertOperations,
    PointOperations, PointStruct, UpdateOperation, Vector, VectorInternal, Vectors,
};
use serde_json::Value;

use super::{EdgeStore, LEXICAL, backend, point_id};
use crate::store::ID_KEY;
use crate::store::journal::JournalEntry;
use crate::store::{Collection, StoreError};

impl EdgeStore {
    /// The point as Qdrant stores it: the embedding, plus BM25 term weights of its
    /// text where the collection has the lexical index.
    pub(super) fn point_vectors(
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

    /// Journals `entry`, applies it, and returns once the journal record is on
    /// disk. The shard's write lock is held from append to apply, so the journal
    /// holds each shard's writes in the order they were applied.
    pub(super) fn write(&self, entry: JournalEntry<'_>) -> Result<(), StoreError> {
        let collection = match &entry {
            JournalEntry::Upsert { collection, .. }
            | JournalEntry::DeleteWhere { collection, .. } => *collection,
        };
        let record = self.journal.encode(&entry)?;
        let seq = {
            let shard = self.shard(collection).write();
            let seq = self.journal.append(&record)?;
            crate::infra::crash::point("store.journaled");
            self.apply_to(&shard, entry)?;
            seq
        };
        crate::infra::crash::point("store.applied");
        self.journal.sync(seq)?;
        crate::infra::crash::point("store.synced");
        if self.journal.len() >= self.checkpoint_bytes && !self.checkpointing.is_locked() {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Applies a journaled write (replay: no journaling).
    pub(super) fn apply(&self, entry: JournalEntry<'_>) -> Result<(), StoreError> {
        let collection = match &entry {
            JournalEntry::Upsert { collection, .. }
            | JournalEntry::DeleteWhere { collection, .. } => *collection,
        };
        let shard = self.shard(collection).write();
        self.apply_to(&shard, entry)
    }

    fn apply_to(&self, shard: &EdgeShard, entry: JournalEntry<'_>) -> Result<(), StoreError> {
        let operation = match entry {
            JournalEntry::Upsert { collection, points } => {
                let batch = points
                    .into_owned()
                    .into_iter()
                    .map(|point| {
                        let mut payload = point.payload;
                        payload.insert(ID_KEY.into(), Value::String(point.id.clone()));
                        let id = point_id(collection, &point.id);
                        let vectors =
                            self.point_vectors(collection, point.vector, point.text.as_deref());
                        PointStruct::new(id, vectors, Value::Object(payload)).into()
                    })
                    .collect();
                UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                    PointInsertOperations::PointsList(batch),
                ))
            }
            JournalEntry::DeleteWhere { field, value, .. } => {
                let filter = Filter {
                    should: None,
                    min_should: None,
                    must: Some(vec![Condition::Field(FieldCondition::new_match(
                        field_path(&field)?,
                        Match::from(value.into_owned()),
                    ))]),
                    must_not: None,
                };
                UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter))
            }
        };
        shard.update(operation).map_err(backend)
    }

    /// Flushes every shard to disk and empties the journal, with all writes held
    /// (searches go on).
    pub(super) fn checkpoint(&self) -> Result<(), StoreError> {
        // One checkpoint at a time: Qdrant Edge panics on a flush that finds
        // another one under way.
        let _one = self.checkpointing.lock();
        // Every shard's read lock, in one fixed order: a write holds its shard's
        // write lock from journal append to apply, so none is half-way while the
        // journal is emptied; searches only read and carry on.
        let shards: Vec<_> = Collection::ALL
            .iter()
            .map(|c| self.shard(*c).read())
            .collect();
        for shard in &shards {
            // Qdrant Edge panics when a flush fails (its `flush` has no error
            // path): keep the process, report the error, keep the journal.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shard.flush())).map_err(
                |panic| {
                    let why = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    backend(format!("flushing a shard failed: {why}"))
                },
            )?;
        }
        crate::infra::crash::point("store.checkpoint_flushed");
        self.journal.reset()
    }
}

impl Drop for EdgeStore {
    fn drop(&mut self) {
        // With an empty journal every write is already in flushed segments; with
        // the data directory gone there is nothing to flush into.
        if self.journal.len() == 0 || !self.journal.exists() {
            return;
        }
        if let Err(err) = self.checkpoint() {
            tracing::warn!(error = %err, "store checkpoint at close failed; the journal is replayed at the next start");
        }
    }
}

pub(super) fn field_path(field: &str) -> Result<JsonPath, StoreError> {
    JsonPath::try_from(field).map_err(|_| backend(format!("bad field {field}")))
}
