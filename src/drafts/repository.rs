//! Drafts and their reviews in the state database (`drafts` table).

use sqlx::AnyPool;

use super::model::{Draft, DraftError, DraftReview, Verdict};

/// The `drafts` table.
#[derive(Clone)]
pub struct DraftRepository {
    pool: AnyPool,
}

/// How drafts fared, for leads deciding whether to trust them.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct DraftStats {
    /// Drafts written.
    pub drafted: i64,
    /// Requests answered with no draft (weak evidence, nothing grounded).
    pub no_draft: i64,
    /// Drafts agents sent as written.
    pub accepted: i64,
    /// Drafts agents changed before sending.
    pub edited: i64,
    /// Drafts agents did not use.
    pub rejected: i64,
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Accepted => "accepted",
        Verdict::Edited => "edited",
        Verdict::Rejected => "rejected",
    }
}

fn decode(body: &str, review: Option<String>) -> Result<Draft, DraftError> {
    let mut draft: Draft =
        serde_json::from_str(body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    draft.review = review.and_then(|r| serde_json::from_str(&r).ok());
    Ok(draft)
}

impl DraftRepository {
    /// The table in `pool` (migrated by the automation service's start).
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Deletes drafts written before `before` (Unix ms), with their reviews
    /// (retention); returns how many.
    pub async fn purge_before_in(
        conn: &mut sqlx::AnyConnection,
        before: i64,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM drafts WHERE created_at < $1")
            .bind(before)
            .execute(conn)
            .await?
            .rows_affected())
    }

    /// Deletes every draft for `ticket_id` (erasure).
    pub async fn forget_in(
        conn: &mut sqlx::AnyConnection,
        ticket_id: &str,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM drafts WHERE ticket_id = $1")
            .bind(ticket_id.to_owned())
            .execute(conn)
            .await?
            .rows_affected())
    }

    /// Stores a draft (with its ticket) before it is answered.
    pub async fn insert(&self, draft: &Draft, created_at: i64) -> Result<(), DraftError> {
        let body = serde_json::to_string(draft).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let status = match draft.status {
            super::DraftStatus::Drafted => "drafted",
            super::DraftStatus::NoDraft => "no_draft",
        };
        sqlx::query(
            "INSERT INTO drafts (id, ticket_id, created_at, created_by, backend, status, body) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&draft.id)
        .bind(&draft.ticket_id)
        .bind(created_at)
        .bind(&draft.created_by)
        .bind(&draft.backend)
        .bind(status)
        .bind(body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The ticket's latest draft, or the one named.
    pub async fn find(
        &self,
        ticket_id: &str,
        draft_id: Option<&str>,
    ) -> Result<Option<Draft>, DraftError> {
        let row: Option<(String, Option<String>)> = match draft_id {
            Some(id) => {
                sqlx::query_as("SELECT body, review FROM drafts WHERE ticket_id = $1 AND id = $2")
                    .bind(ticket_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT body, review FROM drafts WHERE ticket_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
                )
                .bind(ticket_id)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        row.map(|(body, review)| decode(&body, review)).transpose()
    }

    /// Records a review on a draft that has none; `false` when it already had one.
    pub async fn review(&self, draft_id: &str, review: &DraftReview) -> Result<bool, DraftError> {
        let json = serde_json::to_string(review).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let done = sqlx::query(
            "UPDATE drafts SET verdict = $1, review = $2 WHERE id = $3 AND verdict IS NULL",
        )
        .bind(verdict_name(review.verdict))
        .bind(json)
        .bind(draft_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Counts of drafts and of agents' verdicts.
    pub async fn stats(&self) -> Result<DraftStats, DraftError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT status, COALESCE(verdict, ''), COUNT(*) FROM drafts GROUP BY status, COALESCE(verdict, '')",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut stats = DraftStats::default();
        for (status, verdict, count) in rows {
            match status.as_str() {
                "drafted" => stats.drafted += count,
                _ => stats.no_draft += count,
            }
            match verdict.as_str() {
                "accepted" => stats.accepted += count,
                "edited" => stats.edited += count,
                "rejected" => stats.rejected += count,
                _ => {}
            }
        }
        Ok(stats)
    }
}
