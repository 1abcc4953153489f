//! How long ticket text stays in the store: each remembered ticket and
//! incident is dated in `stored_points` when stored, and retention removes
//! the points past their days (the points first, durably, then their dates
//! in the retention's transaction: a crash between leaves dates that the
//! next run removes again, deleting points already gone).

use std::sync::Arc;

use sqlx::AnyConnection;

use super::model::TriageError;
use super::service::{TriageService, blocking};
use super::state::LearningState;
use crate::store::Collection;

/// Most points one retention run removes per collection; the next run
/// (an hour later by default) goes on from there.
const EXPIRE_BATCH: i64 = 10_000;

impl LearningState {
    /// Dates `ids` of `collection` as stored at `at`, replacing older dates
    /// (`replace`) or keeping them, in one transaction.
    pub async fn date_points(
        &self,
        collection: Collection,
        ids: &[String],
        at: i64,
        replace: bool,
    ) -> Result<(), sqlx::Error> {
        let on_conflict = if replace {
            "DO UPDATE SET stored_at = excluded.stored_at"
        } else {
            "DO NOTHING"
        };
        let statement = format!(
            "INSERT INTO stored_points (collection, id, stored_at) VALUES ($1, $2, $3) \
             ON CONFLICT (collection, id) {on_conflict}"
        );
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query(&statement)
                .bind(collection.name())
                .bind(id.clone())
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Up to `limit` ids of `collection` last stored before `before`, oldest first.
    pub async fn stored_before(
        &self,
        collection: Collection,
        before: i64,
        limit: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM stored_points WHERE collection = $1 AND stored_at < $2 \
             ORDER BY stored_at LIMIT $3",
        )
        .bind(collection.name())
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Removes the dates of `ids` in `collection` inside the caller's
    /// transaction (retention, after their points went).
    pub async fn undate_in(
        conn: &mut AnyConnection,
        collection: Collection,
        ids: &[String],
    ) -> Result<u64, sqlx::Error> {
        let mut removed = 0;
        for id in ids {
            removed += sqlx::query("DELETE FROM stored_points WHERE collection = $1 AND id = $2")
                .bind(collection.name())
                .bind(id.clone())
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }

    /// Removes every date of `ticket_id` inside the caller's transaction (erasure).
    pub async fn forget_dates_in(
        conn: &mut AnyConnection,
        ticket_id: &str,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM stored_points WHERE id = $1")
            .bind(ticket_id.to_owned())
            .execute(conn)
            .await?;
        Ok(done.rows_affected())
    }
}

impl TriageService {
    /// Dates `ids` of `collection` as stored now, before the points are
    /// written (a point is never left without a date; a date without its
    /// point costs retention one needless delete). Without a state
    /// database (evaluation, unit tests) nothing is dated.
    pub(super) async fn date_stored(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<(), TriageError> {
        if let Some(learning) = &self.learning {
            learning
                .date_points(collection, ids, learning.clock.now_ms(), true)
                .await?;
        }
        Ok(())
    }

    /// Once per state database: dates every remembered ticket and incident
    /// stored before points were dated (by an earlier version) as stored
    /// now, so they too leave at the end of their retention instead of
    /// never. Reads each collection whole, as a retrain does; repeating it
    /// (two replicas starting at once) changes nothing.
    pub(super) async fn date_undated_points(&self) -> Result<(), TriageError> {
        const DONE: &str = "stored_points_dated";
        let Some(learning) = &self.learning else {
            return Ok(());
        };
        let done: Option<(String,)> =
            sqlx::query_as("SELECT value FROM state_meta WHERE name = $1")
                .bind(DONE)
                .fetch_optional(&learning.pool)
                .await?;
        if done.is_some() {
            return Ok(());
        }
        let now = learning.clock.now_ms();
        for collection in [Collection::Tickets, Collection::Incidents] {
            let store = Arc::clone(&self.store);
            let ids: Vec<String> = blocking(move || store.all(collection))
                .await?
                .into_iter()
                .map(|point| point.id)
                .collect();
            learning.date_points(collection, &ids, now, false).await?;
            if !ids.is_empty() {
                tracing::info!(
                    collection = collection.name(),
                    points = ids.len(),
                    "dated points stored before retention knew them"
                );
            }
        }
        sqlx::query(
            "INSERT INTO state_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(DONE)
        .bind(now.to_string())
        .execute(&learning.pool)
        .await?;
        Ok(())
    }

    /// Retention, the store's part: removes up to 10,000 points (`EXPIRE_BATCH`)
    /// of `collection` last stored before `before` (durably) and returns
    /// their ids, whose dates the caller removes in its transaction.
    pub async fn expire_stored(
        &self,
        collection: Collection,
        before: i64,
    ) -> Result<Vec<String>, TriageError> {
        let Some(learning) = &self.learning else {
            return Ok(Vec::new());
        };
        let ids = learning
            .stored_before(collection, before, EXPIRE_BATCH)
            .await?;
        if ids.is_empty() {
            return Ok(ids);
        }
        let store = Arc::clone(&self.store);
        let expired = ids.clone();
        // Flushed, so the journal that still holds the points' old payloads
        // is emptied too.
        blocking(move || {
            for id in &expired {
                store.delete_where(collection, "id", id)?;
            }
            store.flush()
        })
        .await?;
        Ok(ids)
    }
}
