//! [`LearningState`]: what triage learns, kept in the state database so that
//! replicas share it: agents' feedback (in sequence order) and the versions of
//! the classifier head, with a notification when a new head is saved and one
//! retrain at a time across replicas.
//!
//! Locks: feedback is appended under the `feedback` row of `state_locks`, so
//! sequence numbers commit in order and a reader that has seen N has seen all
//! before it. A retrain holds a PostgreSQL advisory lock in a transaction for
//! as long as it trains (released by the database if the replica dies); on
//! SQLite one process owns the database and the service's own mutex suffices.

use std::path::Path;

use sqlx::{AnyConnection, AnyPool};

use super::feedback::{FeedbackEntry, FeedbackLog};
use crate::infra::clock::now_ms;

/// The PostgreSQL channel a saved head is announced on (payload: its version).
pub const HEADS_CHANNEL: &str = "switchboard_heads";
/// Advisory lock key of the retrain ("SWBTRAIN").
const RETRAIN_LOCK: i64 = 0x5357_4254_5241_494e;
/// Head versions kept; older ones are deleted when a new one is saved.
const HEADS_KEPT: i64 = 3;
/// Name under which an imported feedback file is recorded.
const FEEDBACK_IMPORT: &str = "feedback.jsonl";
/// Name under which an imported head file is recorded.
const HEAD_IMPORT: &str = "classifier/head.bin";

/// The learning tables of one state database.
#[derive(Clone)]
pub struct LearningState {
    pub(super) pool: AnyPool,
    /// Who each stored ticket or incident is about (keyed hashes of the
    /// addresses it mentioned), for erasure by address.
    subjects: crate::infra::subjects::SubjectIndex,
    /// PostgreSQL: advisory locks and notifications are available.
    postgres: bool,
    /// Who saves heads (the replica id).
    replica: String,
    /// The service's clock: what stored points are dated by, so retention
    /// (on the same clock) ages them.
    pub(super) clock: crate::infra::clock::SharedClock,
}

/// Held while this replica retrains; dropping it lets another retrain.
pub struct RetrainLock {
    /// The transaction holding the advisory lock (PostgreSQL only).
    _held: Option<sqlx::Transaction<'static, sqlx::Any>>,
}

/// A saved head: its version and bytes.
#[derive(sqlx::FromRow)]
pub struct StoredHead {
    /// Increases by one with each save.
    pub version: i64,
    /// [`crate::classify::ClassifierHead::to_bytes`].
    pub bytes: Vec<u8>,
}

/// A row of `feedback` as stored.
#[derive(sqlx::FromRow)]
struct FeedbackRow {
    seq: i64,
    at: i64,
    ticket_id: String,
    field: String,
    previous: Option<String>,
    label: String,
    agent: String,
    caller: String,
}

impl FeedbackRow {
    /// Its sequence number and the entry.
    fn entry(self) -> (i64, FeedbackEntry) {
        (
            self.seq,
            FeedbackEntry {
                at: u64::try_from(self.at).unwrap_or(0),
                ticket_id: self.ticket_id,
                field: self.field,
                previous: self.previous,
                label: self.label,
                agent: self.agent,
                caller: self.caller,
            },
        )
    }
}

/// Takes the `feedback` lock row for the rest of the transaction.
async fn lock_feedback(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE state_locks SET locked_at = $1 WHERE name = 'feedback'")
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

async fn next_feedback_seq(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) AS seq FROM feedback")
        .fetch_one(conn)
        .await?;
    Ok(seq + 1)
}

async fn insert_feedback(
    conn: &mut AnyConnection,
    seq: i64,
    entry: &FeedbackEntry,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feedback (seq, at, ticket_id, field, previous, label, agent, caller) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(seq)
    .bind(i64::try_from(entry.at).unwrap_or(i64::MAX))
    .bind(entry.ticket_id.clone())
    .bind(entry.field.clone())
    .bind(entry.previous.clone())
    .bind(entry.label.clone())
    .bind(entry.agent.clone())
    .bind(entry.caller.clone())
    .execute(conn)
    .await?;
    Ok(())
}

async fn imported(conn: &mut AnyConnection, name: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT name FROM state_imports WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}

async fn record_import(
    conn: &mut AnyConnection,
    name: &str,
    items: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO state_imports (name, at, items) VALUES ($1, $2, $3)")
        .bind(name.to_owned())
        .bind(now_ms())
        .bind(i64::try_from(items).unwrap_or(i64::MAX))
        .execute(conn)
        .await?;
    Ok(())
}

impl LearningState {
    /// The learning tables in `pool` (migrated by [`crate::infra::db::connect`]),
    /// written by `replica`.
    pub fn new(
        pool: AnyPool,
        subjects: crate::infra::subjects::SubjectIndex,
        postgres: bool,
        replica: &str,
    ) -> Self {
        Self {
            pool,
            subjects,
            postgres,
            replica: replica.to_owned(),
            clock: crate::infra::clock::SystemClock::shared(),
        }
    }

    /// These tables with time read from `clock` (the service's).
    pub fn with_clock(mut self, clock: crate::infra::clock::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The index of who each ticket is about.
    pub fn subjects(&self) -> &crate::infra::subjects::SubjectIndex {
        &self.subjects
    }

    /// Deletes `ticket_id`'s feedback inside the caller's transaction (erasure).
    pub async fn forget_feedback_in(
        conn: &mut sqlx::AnyConnection,
        ticket_id: &str,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM feedback WHERE ticket_id = $1")
            .bind(ticket_id.to_owned())
            .execute(conn)
            .await?;
        Ok(done.rows_affected())
    }

    /// True on PostgreSQL, where other replicas may share the tables.
    pub fn is_shared(&self) -> bool {
        self.postgres
    }

    /// Appends `entry` durably. Its `previous` becomes the field's latest label
    /// in the table when there is one (another replica may have written it
    /// since this one looked), else stays the caller's fallback.
    pub async fn append_feedback(
        &self,
        mut entry: FeedbackEntry,
    ) -> Result<FeedbackEntry, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        lock_feedback(&mut tx).await?;
        let latest: Option<(String,)> = sqlx::query_as(
            "SELECT label FROM feedback WHERE ticket_id = $1 AND field = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(entry.ticket_id.clone())
        .bind(entry.field.clone())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((label,)) = latest {
            entry.previous = Some(label);
        }
        let seq = next_feedback_seq(&mut tx).await?;
        insert_feedback(&mut tx, seq, &entry).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Feedback entries after sequence `after`, in order.
    pub async fn feedback_after(
        &self,
        after: i64,
    ) -> Result<Vec<(i64, FeedbackEntry)>, sqlx::Error> {
        let rows: Vec<FeedbackRow> = sqlx::query_as(
            "SELECT seq, at, ticket_id, field, previous, label, agent, caller FROM feedback \
             WHERE seq > $1 ORDER BY seq",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(FeedbackRow::entry).collect())
    }

    /// Imports the feedback log file of an earlier version once (in one
    /// transaction, recorded so a crash before the rename cannot import it
    /// twice), then renames it `*.imported`. Returns the entries imported.
    pub async fn import_feedback_file(&self, path: &Path) -> anyhow::Result<usize> {
        if !path.exists() {
            return Ok(0);
        }
        let log = FeedbackLog::open(path)?;
        let mut tx = self.pool.begin().await?;
        lock_feedback(&mut tx).await?;
        let mut count = 0;
        if !imported(&mut tx, FEEDBACK_IMPORT).await? {
            let first = next_feedback_seq(&mut tx).await?;
            for (n, entry) in log.entries().iter().enumerate() {
                insert_feedback(&mut tx, first + n as i64, entry).await?;
            }
            count = log.entries().len();
            record_import(&mut tx, FEEDBACK_IMPORT, count).await?;
        }
        tx.commit().await?;
        crate::infra::crash::point("learning.feedback_imported");
        std::fs::rename(path, path.with_extension("jsonl.imported"))?;
        tracing::info!(entries = count, file = %path.display(), "feedback log imported into the state database");
        Ok(count)
    }

    /// The newest head's version, if any.
    pub async fn head_version(&self) -> Result<Option<i64>, sqlx::Error> {
        let (version,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) AS version FROM classifier_heads")
                .fetch_one(&self.pool)
                .await?;
        Ok(version)
    }

    /// The newest head, if any.
    pub async fn latest_head(&self) -> Result<Option<StoredHead>, sqlx::Error> {
        sqlx::query_as("SELECT version, bytes FROM classifier_heads ORDER BY version DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
    }

    /// Saves `bytes` as the next head version (keeping the newest few) and,
    /// on PostgreSQL, tells the other replicas once it commits.
    pub async fn save_head(&self, bytes: Vec<u8>, trained_on: usize) -> Result<i64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let version = self.insert_head(&mut tx, bytes, trained_on).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn insert_head(
        &self,
        conn: &mut AnyConnection,
        bytes: Vec<u8>,
        trained_on: usize,
    ) -> Result<i64, sqlx::Error> {
        let (newest,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(version), 0) AS version FROM classifier_heads")
                .fetch_one(&mut *conn)
                .await?;
        let version = newest + 1;
        sqlx::query(
            "INSERT INTO classifier_heads (version, created_at, trained_on, trained_by, bytes) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(version)
        .bind(now_ms())
        .bind(i64::try_from(trained_on).unwrap_or(i64::MAX))
        .bind(self.replica.clone())
        .bind(bytes)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM classifier_heads WHERE version <= $1")
            .bind(version - HEADS_KEPT)
            .execute(&mut *conn)
            .await?;
        if self.postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(HEADS_CHANNEL)
                .bind(version.to_string())
                .execute(&mut *conn)
                .await?;
        }
        Ok(version)
    }

    /// Imports the head file of an earlier version once, when the database
    /// has no head yet; then renames it `*.imported`. True if it imported.
    pub async fn import_head_file(&self, path: &Path) -> anyhow::Result<bool> {
        let Ok(bytes) = std::fs::read(path) else {
            return Ok(false);
        };
        // Refuse a file that is not a head before it reaches the database.
        crate::classify::ClassifierHead::from_bytes(&bytes, &path.display().to_string())?;
        let mut tx = self.pool.begin().await?;
        let mut done = false;
        if !imported(&mut tx, HEAD_IMPORT).await? {
            let none = sqlx::query("SELECT version FROM classifier_heads LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?
                .is_none();
            if none {
                self.insert_head(&mut tx, bytes, 0).await?;
                done = true;
            }
            record_import(&mut tx, HEAD_IMPORT, usize::from(done)).await?;
        }
        tx.commit().await?;
        std::fs::rename(path, path.with_extension("bin.imported"))?;
        tracing::info!(file = %path.display(), imported = done, "classifier head file moved into the state database");
        Ok(done)
    }

    /// Takes the retrain lock: `None` while another replica retrains.
    pub async fn try_retrain_lock(&self) -> Result<Option<RetrainLock>, sqlx::Error> {
        if !self.postgres {
            return Ok(Some(RetrainLock { _held: None }));
        }
        let mut tx = self.pool.begin().await?;
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1) AS locked")
            .bind(RETRAIN_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if locked {
            Ok(Some(RetrainLock { _held: Some(tx) }))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn state(dir: &Path) -> LearningState {
        let pool = crate::infra::db::connect(&crate::infra::db::default_url(dir))
            .await
            .unwrap();
        let key = crate::infra::audit::AuditKey::new(b"a test key of 24 bytes..".to_vec())
            .expect("long enough");
        let subjects = crate::infra::subjects::SubjectIndex::new(pool.clone(), &key);
        LearningState::new(pool, subjects, false, "test-replica")
    }

    fn entry(ticket: &str, label: &str, previous: Option<&str>) -> FeedbackEntry {
        FeedbackEntry {
            at: 1,
            ticket_id: ticket.to_owned(),
            field: "assignment_group".to_owned(),
            previous: previous.map(str::to_owned),
            label: label.to_owned(),
            agent: "ana".to_owned(),
            caller: "agent".to_owned(),
        }
    }

    #[tokio::test]
    async fn feedback_takes_the_latest_stored_label_as_previous_and_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path()).await;
        // A replica that has not seen the first entry still chains to it.
        state
            .append_feedback(entry("T-1", "Network", Some("Desk")))
            .await
            .unwrap();
        let second = state
            .append_feedback(entry("T-1", "Security", Some("Desk")))
            .await
            .unwrap();
        assert_eq!(second.previous.as_deref(), Some("Network"));
        let rows = state.feedback_after(0).await.unwrap();
        assert_eq!(rows.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(state.feedback_after(1).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_feedback_file_is_imported_once_even_if_the_rename_never_happened() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path()).await;
        let path = dir.path().join("feedback.jsonl");
        let mut log = FeedbackLog::open(&path).unwrap();
        log.append(entry("T-1", "Network", None)).unwrap();
        log.append(entry("T-2", "Desk", None)).unwrap();
        let copy = dir.path().join("copy.jsonl");
        std::fs::copy(&path, &copy).unwrap();
        assert_eq!(state.import_feedback_file(&path).await.unwrap(), 2);
        assert!(!path.exists());
        // As if the process died after the commit, before the rename.
        std::fs::rename(&copy, &path).unwrap();
        assert_eq!(state.import_feedback_file(&path).await.unwrap(), 0);
        assert_eq!(state.feedback_after(0).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn heads_get_increasing_versions_and_only_the_newest_three_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path()).await;
        assert_eq!(state.head_version().await.unwrap(), None);
        for n in 1..=5u8 {
            let version = state.save_head(vec![n; 10], usize::from(n)).await.unwrap();
            assert_eq!(version, i64::from(n));
        }
        let newest = state.latest_head().await.unwrap().unwrap();
        assert_eq!((newest.version, newest.bytes), (5, vec![5; 10]));
        let (heads,): (i64,) = sqlx::query_as("SELECT COUNT(*) AS n FROM classifier_heads")
            .fetch_one(&state.pool)
            .await
            .unwrap();
        assert_eq!(heads, 3);
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_head_is_not_imported() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path()).await;
        let path = dir.path().join("head.bin");
        std::fs::write(&path, b"not a head").unwrap();
        assert!(state.import_head_file(&path).await.is_err());
        assert_eq!(state.head_version().await.unwrap(), None);
        assert!(
            path.exists(),
            "the file is left for the operator to look at"
        );
    }
}
