//! The durable outbox: each accepted event is a row of `connector_jobs`, taken
//! by a worker, retried with exponential back-off and jitter (or the system's
//! `Retry-After`), and moved to `dead` after the connector's `max_attempts`.
//! A job a dead process left `running` is queued again at start; the job's id
//! is its idempotency key, so running it twice never writes twice.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use crate::infra::clock::{SharedClock, now_ms};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its next attempt.
    Queued,
    /// A worker has it.
    Running,
    /// Finished.
    Done,
    /// Failed `max_attempts` times or permanently; an admin can requeue it.
    Dead,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "done" => Some(Self::Done),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// One job as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    /// Id, also the idempotency key of its write-back.
    pub id: String,
    /// Connector name.
    pub connector: String,
    /// The ticket in the ticketing system.
    pub ticket_id: String,
    /// Where the job is.
    pub state: JobState,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due, Unix milliseconds.
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// What the job did (route per field, what was written), once done.
    pub result: Option<serde_json::Value>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// A job taken by a worker, with what it needs to run.
#[derive(sqlx::FromRow)]
pub(super) struct TakenJob {
    pub id: String,
    pub connector: String,
    pub payload: String,
    pub attempts: i64,
}

/// The `connector_jobs` table.
#[derive(Clone)]
pub struct Outbox {
    pool: AnyPool,
    /// Decides when jobs are due: the system clock, or a test's.
    clock: SharedClock,
}

/// A row of `connector_jobs` as stored (its state and result as text).
#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    connector: String,
    ticket_id: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    result: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<JobRow> for Job {
    type Error = sqlx::Error;

    fn try_from(row: JobRow) -> Result<Self, Self::Error> {
        Ok(Self {
            state: JobState::parse(&row.state)
                .ok_or_else(|| sqlx::Error::Decode(row.state.into()))?,
            result: row.result.and_then(|r| serde_json::from_str(&r).ok()),
            id: row.id,
            connector: row.connector,
            ticket_id: row.ticket_id,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const JOB_COLUMNS: &str = "id, connector, ticket_id, state, attempts, next_attempt_at, last_error, result, created_at, updated_at";

impl Outbox {
    /// The table in `pool`, its due times on `clock`.
    pub fn new(pool: AnyPool, clock: SharedClock) -> Self {
        Self { pool, clock }
    }

    /// The clock jobs are due by.
    pub(super) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub(super) fn pool(&self) -> AnyPool {
        self.pool.clone()
    }

    /// Queues a job unless `(connector, dedupe_key)` has one; returns the job's
    /// id and whether it is new. Durable when it returns.
    pub(super) async fn enqueue(
        &self,
        connector: &str,
        dedupe_key: &str,
        ticket_id: &str,
        payload: &str,
    ) -> Result<(String, bool), sqlx::Error> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now_ms();
        let inserted = sqlx::query(
            "INSERT INTO connector_jobs (id, connector, dedupe_key, kind, ticket_id, payload, state, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, 'event', $4, $5, 'queued', 0, $6, $6, $6) \
             ON CONFLICT (connector, dedupe_key) DO NOTHING",
        )
        .bind(id.clone())
        .bind(connector.to_owned())
        .bind(dedupe_key.to_owned())
        .bind(ticket_id.to_owned())
        .bind(payload.to_owned())
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok((id, true));
        }
        let (id,): (String,) = sqlx::query_as(
            "SELECT id FROM connector_jobs WHERE connector = $1 AND dedupe_key = $2",
        )
        .bind(connector.to_owned())
        .bind(dedupe_key.to_owned())
        .fetch_one(&self.pool)
        .await?;
        Ok((id, false))
    }

    /// Takes the next due job, if any: queued, due, oldest first. The take is
    /// a conditional update, so two workers never take the same job.
    pub(super) async fn take(&self) -> Result<Option<TakenJob>, sqlx::Error> {
        let now = self.clock.now_ms();
        let candidates: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM connector_jobs WHERE state = 'queued' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT 8",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for (id,) in candidates {
            let taken = sqlx::query(
                "UPDATE connector_jobs SET state = 'running', attempts = attempts + 1, updated_at = $1 \
                 WHERE id = $2 AND state = 'queued'",
            )
            .bind(now)
            .bind(id.clone())
            .execute(&self.pool)
            .await?
            .rows_affected();
            if taken == 1 {
                return sqlx::query_as(
                    "SELECT id, connector, payload, attempts FROM connector_jobs WHERE id = $1",
                )
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map(Some);
            }
        }
        Ok(None)
    }

    /// When the next queued job is due, Unix milliseconds.
    pub(super) async fn next_due(&self) -> Result<Option<i64>, sqlx::Error> {
        let (due,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(next_attempt_at) AS due FROM connector_jobs WHERE state = 'queued'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(due)
    }

    /// Marks a job done with what it did.
    pub(super) async fn finish(
        &self,
        id: &str,
        result: &serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE connector_jobs SET state = 'done', result = $1, last_error = NULL, updated_at = $2 WHERE id = $3")
            .bind(result.to_string())
            .bind(self.clock.now_ms())
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Queues a failed job again after `delay`, or moves it to `dead`.
    pub(super) async fn fail(
        &self,
        id: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<JobState, sqlx::Error> {
        let now = self.clock.now_ms();
        let (state, next) = match retry_in {
            Some(delay) => (
                JobState::Queued,
                now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
            ),
            None => (JobState::Dead, now),
        };
        sqlx::query("UPDATE connector_jobs SET state = $1, next_attempt_at = $2, last_error = $3, updated_at = $4 WHERE id = $5")
            .bind(state.as_str())
            .bind(next)
            .bind(error.chars().take(2000).collect::<String>())
            .bind(now)
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(state)
    }

    /// Puts a job back for `retry_in` without counting its attempt:
    /// Switchboard was busy, not the system or the ticket.
    pub(super) async fn postpone(
        &self,
        id: &str,
        reason: &str,
        retry_in: Duration,
    ) -> Result<JobState, sqlx::Error> {
        let now = self.clock.now_ms();
        sqlx::query(
            "UPDATE connector_jobs SET state = 'queued', attempts = attempts - 1, next_attempt_at = $1, \
             last_error = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(now.saturating_add(i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX)))
        .bind(reason.chars().take(2000).collect::<String>())
        .bind(now)
        .bind(id.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(JobState::Queued)
    }

    /// Queues jobs a stopped process left `running` (their attempt is counted).
    pub(super) async fn recover(&self) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE connector_jobs SET state = 'queued', updated_at = $1 WHERE state = 'running'",
        )
        .bind(self.clock.now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Queues a dead job again with a fresh count of attempts; false unless it was dead.
    pub async fn requeue(&self, connector: &str, id: &str) -> Result<bool, sqlx::Error> {
        let now = self.clock.now_ms();
        Ok(sqlx::query(
            "UPDATE connector_jobs SET state = 'queued', attempts = 0, next_attempt_at = $1, updated_at = $1 \
             WHERE id = $2 AND connector = $3 AND state = 'dead'",
        )
        .bind(now)
        .bind(id.to_owned())
        .bind(connector.to_owned())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// A connector's jobs, newest first, optionally in one state (at most 500).
    pub async fn list(
        &self,
        connector: &str,
        state: Option<JobState>,
    ) -> Result<Vec<Job>, sqlx::Error> {
        let rows: Vec<JobRow> = match state {
            Some(state) => {
                sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM connector_jobs WHERE connector = $1 AND state = $2 ORDER BY created_at DESC LIMIT 500"))
                    .bind(connector.to_owned())
                    .bind(state.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM connector_jobs WHERE connector = $1 ORDER BY created_at DESC LIMIT 500"))
                    .bind(connector.to_owned())
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.into_iter().map(Job::try_from).collect()
    }

    /// Deletes finished jobs (done or dead) last changed before `before`
    /// (Unix ms); returns how many. Their payloads hold ticket text.
    pub async fn purge_finished_in(
        conn: &mut sqlx::AnyConnection,
        before: i64,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM connector_jobs WHERE state IN ('done', 'dead') AND updated_at < $1",
        )
        .bind(before)
        .execute(conn)
        .await?
        .rows_affected())
    }

    /// True until Switchboard has written back to `connector`'s ticket
    /// `ticket_id` once (what lets a first triage replace a value).
    pub(super) async fn first_triage(
        &self,
        connector: &str,
        ticket_id: &str,
    ) -> Result<bool, sqlx::Error> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT first_written_at FROM connector_tickets WHERE connector = $1 AND ticket_id = $2",
        )
        .bind(connector.to_owned())
        .bind(ticket_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_none())
    }

    /// Records that `connector`'s ticket `ticket_id` has been written back to
    /// (the first time only).
    pub(super) async fn mark_written(
        &self,
        connector: &str,
        ticket_id: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO connector_tickets (connector, ticket_id, first_written_at) VALUES ($1, $2, $3) \
             ON CONFLICT (connector, ticket_id) DO NOTHING",
        )
        .bind(connector.to_owned())
        .bind(ticket_id.to_owned())
        .bind(self.clock.now_ms())
        .execute(&self.pool)
        .await
        .map(drop)
    }

    /// Deletes every job of the desk's ticket `ticket_id`
    /// (`<connector>:<the system's id>`), whatever its state (erasure).
    pub async fn forget_in(
        conn: &mut sqlx::AnyConnection,
        ticket_id: &str,
    ) -> Result<u64, sqlx::Error> {
        let Some((connector, external)) = ticket_id.split_once(':') else {
            return Ok(0);
        };
        sqlx::query("DELETE FROM connector_tickets WHERE connector = $1 AND ticket_id = $2")
            .bind(connector.to_owned())
            .bind(external.to_owned())
            .execute(&mut *conn)
            .await?;
        Ok(
            sqlx::query("DELETE FROM connector_jobs WHERE connector = $1 AND ticket_id = $2")
                .bind(connector.to_owned())
                .bind(external.to_owned())
                .execute(conn)
                .await?
                .rows_affected(),
        )
    }

    /// Jobs per connector and state, for the metrics.
    pub(super) async fn counts(&self) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT connector, state, COUNT(*) AS n FROM connector_jobs GROUP BY connector, state",
        )
        .fetch_all(&self.pool)
        .await
    }
}

/// Where each connector's history import has got to (`connector_cursors`).
pub(super) struct Cursors {
    pool: AnyPool,
}

impl Cursors {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// The saved cursor of `connector`'s `kind` of walk.
    pub async fn get(&self, connector: &str, kind: &str) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT cursor_value FROM connector_cursors WHERE connector = $1 AND kind = $2",
        )
        .bind(connector.to_owned())
        .bind(kind.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(value,)| value))
    }

    /// Saves a cursor (durable when it returns).
    pub async fn set(&self, connector: &str, kind: &str, value: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO connector_cursors (connector, kind, cursor_value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connector, kind) DO UPDATE SET cursor_value = $3, updated_at = $4",
        )
        .bind(connector.to_owned())
        .bind(kind.to_owned())
        .bind(value.to_owned())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a finished walk's cursor.
    pub async fn clear(&self, connector: &str, kind: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM connector_cursors WHERE connector = $1 AND kind = $2")
            .bind(connector.to_owned())
            .bind(kind.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Delay before attempt `attempts + 1`: 1 s doubled per attempt, at most
/// `max` (the connector's `retry_max_s`), with up to 25% random jitter so
/// retries of many jobs spread out.
pub(super) fn backoff(attempts: i64, max: Duration) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let base = Duration::from_secs(1)
        .saturating_mul(1 << exponent.min(9))
        .min(max);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    base + base.mul_f64(f64::from(jitter) / 4000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_with_jitter_up_to_five_minutes() {
        for (attempts, low) in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 300.0), (40, 300.0)] {
            let delay = backoff(attempts, Duration::from_secs(300)).as_secs_f64();
            assert!(
                delay >= low && delay <= low * 1.25 + 1e-9,
                "{attempts}: {delay}"
            );
        }
        let capped = backoff(10, Duration::from_secs(2)).as_secs_f64();
        assert!((2.0..=2.5).contains(&capped), "{capped}");
    }

    #[tokio::test]
    async fn a_redelivered_event_is_one_job_and_jobs_are_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::infra::db::connect(&crate::infra::db::default_url(dir.path()))
            .await
            .unwrap();
        let outbox = Outbox::new(pool, crate::infra::clock::SystemClock::shared());
        let (first, new) = outbox.enqueue("desk", "d-1", "7", "{}").await.unwrap();
        assert!(new);
        let (again, new) = outbox.enqueue("desk", "d-1", "7", "{}").await.unwrap();
        assert_eq!((again, new), (first.clone(), false));
        let taken = outbox.take().await.unwrap().unwrap();
        assert_eq!((taken.id.as_str(), taken.attempts), (first.as_str(), 1));
        assert!(outbox.take().await.unwrap().is_none(), "taken once");
        assert_eq!(
            outbox
                .fail(&first, "HTTP 503", Some(Duration::ZERO))
                .await
                .unwrap(),
            JobState::Queued
        );
        let retried = outbox.take().await.unwrap().unwrap();
        assert_eq!(retried.attempts, 2);
        assert_eq!(
            outbox.fail(&first, "HTTP 400", None).await.unwrap(),
            JobState::Dead
        );
        assert!(outbox.requeue("desk", &first).await.unwrap());
        let jobs = outbox.list("desk", None).await.unwrap();
        assert_eq!((jobs[0].state, jobs[0].attempts), (JobState::Queued, 0));
        assert_eq!(jobs[0].last_error.as_deref(), Some("HTTP 400"));
    }
}
