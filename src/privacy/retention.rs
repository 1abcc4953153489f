//! Retention: every table that holds ticket text keeps it for its configured
//! number of days (`[privacy] *_retention_days`), then deletes it. Run by a
//! background task on the service's clock and by `switchboard retention run`.

use std::sync::Arc;
use std::time::Duration;

use super::PrivacyService;
use crate::connectors::JobTable;
use crate::domain::KeepOriginal;
use crate::drafts::DraftRepository;
use crate::review::ReviewQueue;
use crate::store::Collection;
use crate::storms::StormService;
use crate::triage::{LearningState, TriageError};

/// Why a retention run stopped; the next run picks up where it did.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The store could not delete points past their retention.
    #[error(transparent)]
    Store(#[from] TriageError),
    /// The state database failed.
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Rows deleted by one retention run, per place.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct RetentionReport {
    /// Finished connector jobs (their payloads hold the scrubbed ticket).
    pub jobs: u64,
    /// Review-queue records.
    pub review_records: u64,
    /// Kept originals cleared from records that stay.
    pub originals: u64,
    /// Drafts with their reviews.
    pub drafts: u64,
    /// Storms with their members.
    pub storms: u64,
    /// Remembered tickets (store points, with their scrubbed text).
    #[serde(default)]
    pub tickets: u64,
    /// Stored incidents (store points, with their scrubbed text).
    #[serde(default)]
    pub incidents: u64,
}

impl RetentionReport {
    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.jobs
            + self.review_records
            + self.originals
            + self.drafts
            + self.storms
            + self.tickets
            + self.incidents
    }
}

const DAY_MS: i64 = 86_400_000;

impl PrivacyService {
    /// Deletes what is past its retention: the store's points first
    /// (durable), then every row in one transaction; then (on SQLite)
    /// checkpoints the write-ahead log so the deleted text leaves the disk
    /// too.
    pub async fn process_retention(&self) -> Result<RetentionReport, RetentionError> {
        let now = self.clock.now_ms();
        let days = |d: u32| now - i64::from(d) * DAY_MS;
        let settings = &self.settings;
        let originals_before = match settings.keep_original {
            KeepOriginal::Review => days(settings.original_retention_days),
            KeepOriginal::None => i64::MAX,
        };
        let tickets = self
            .triage
            .expire_stored(Collection::Tickets, days(settings.ticket_retention_days))
            .await?;
        let incidents = self
            .triage
            .expire_stored(
                Collection::Incidents,
                days(settings.incident_retention_days),
            )
            .await?;
        crate::infra::crash::point("retention.after_store");
        let mut tx = self.pool.begin().await?;
        let report = RetentionReport {
            jobs: JobTable::purge_finished_in(&mut tx, days(settings.job_retention_days)).await?,
            review_records: ReviewQueue::purge_before_in(
                &mut tx,
                days(settings.review_retention_days),
            )
            .await?,
            originals: ReviewQueue::clear_originals_before_in(&mut tx, originals_before).await?,
            drafts: DraftRepository::purge_before_in(&mut tx, days(settings.draft_retention_days))
                .await?,
            storms: StormService::purge_before_in(&mut tx, days(settings.storm_retention_days))
                .await?,
            tickets: LearningState::undate_in(&mut tx, Collection::Tickets, &tickets).await?,
            incidents: LearningState::undate_in(&mut tx, Collection::Incidents, &incidents).await?,
        };
        tx.commit().await?;
        if report.total() > 0 {
            tracing::info!(
                jobs = report.jobs,
                review_records = report.review_records,
                originals = report.originals,
                drafts = report.drafts,
                storms = report.storms,
                tickets = report.tickets,
                incidents = report.incidents,
                "ticket text past its retention deleted"
            );
            crate::infra::db::checkpoint(&self.pool).await?;
        }
        Ok(report)
    }

    /// Runs the retention now and every `privacy.retention_interval_s` of
    /// the service's clock until the returned task is aborted (at shutdown).
    pub fn spawn_retention(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        let every = Duration::from_secs(self.settings.retention_interval_s.max(1));
        tokio::spawn(async move {
            loop {
                if let Err(err) = self.process_retention().await {
                    tracing::warn!(error = %err, "retention run failed; trying again at the next");
                }
                self.clock.sleep(every).await;
            }
        })
    }
}
