//! The review queue: the latest triage of every ticket with an id, from the
//! API or a connector, with what was suggested per field, what was written
//! back automatically and what waits for a person. Kept in the state database
//! (`triage_log`) so it survives restarts and is shared by every process on
//! that database. It is a view for people: failing to record one triage is
//! logged, never a failed triage.

mod insights;

pub use insights::{FieldRouting, Insights, VolumePoint, insights};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use crate::infra::clock::SharedClock;
use crate::triage::Triage;

/// Longest description kept for reopening a ticket from the queue, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 20_000;

/// What was suggested for one field of a logged triage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LoggedSuggestion {
    /// The suggested value.
    pub label: String,
    /// Its confidence.
    pub confidence: f32,
    /// `auto` or `suggest`.
    pub route: String,
    /// The threshold that applied.
    pub threshold: f32,
}

/// One ticket in the review queue.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReviewItem {
    /// The ticket's id (`connector:id` for connector tickets).
    pub ticket_id: String,
    /// `api` or `connector:<name>`.
    pub source: String,
    /// Its title.
    pub title: String,
    /// Its text (cut at 20 KB).
    pub description: String,
    /// Field -> what was suggested.
    pub suggestions: BTreeMap<String, LoggedSuggestion>,
    /// Field -> value written into the ticketing system automatically.
    pub applied: BTreeMap<String, String>,
    /// Whether it waits for a person (a field below its threshold, or the
    /// connector flagged it for review).
    pub needs_review: bool,
    /// Token name (or `connector:<name>`) that triaged it.
    pub triaged_by: String,
    /// Unix milliseconds.
    pub triaged_at: i64,
    /// The text before scrubbing, when the policy kept it: only in
    /// `GET /v1/review/{id}`, only for agents and above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<OriginalText>,
}

/// Filters of the review queue; all optional.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewFilter {
    /// Only tickets where `field` (or any field) was routed so: `auto` or `suggest`.
    pub route: Option<String>,
    /// The field `route` and the confidence bounds look at.
    pub field: Option<String>,
    /// Only confidences at least this.
    pub min_confidence: Option<f32>,
    /// Only confidences at most this.
    pub max_confidence: Option<f32>,
    /// Only tickets from this connector (`api` for the API).
    pub connector: Option<String>,
    /// Only tickets waiting for a person (`true`) or handled (`false`).
    pub needs_review: Option<bool>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<usize>,
}

impl ReviewFilter {
    fn source(&self) -> Option<String> {
        self.connector.as_ref().map(|c| {
            if c == "api" {
                c.clone()
            } else {
                format!("connector:{c}")
            }
        })
    }

    fn keeps(&self, item: &ReviewItem) -> bool {
        let fields: Vec<&LoggedSuggestion> = match &self.field {
            Some(field) => item.suggestions.get(field).into_iter().collect(),
            None => item.suggestions.values().collect(),
        };
        let matches = |s: &&LoggedSuggestion| {
            self.route.as_ref().is_none_or(|r| &s.route == r)
                && self.min_confidence.is_none_or(|m| s.confidence >= m)
                && self.max_confidence.is_none_or(|m| s.confidence <= m)
        };
        let filtered = self.route.is_some()
            || self.field.is_some()
            || self.min_confidence.is_some()
            || self.max_confidence.is_some();
        (!filtered || fields.iter().any(matches))
            && self.needs_review.is_none_or(|n| n == item.needs_review)
    }
}

/// A triage to log.
pub struct TriageRecord<'a> {
    /// Where it came from: `api` or `connector:<name>`.
    pub source: String,
    /// The ticket as triaged.
    pub title: &'a str,
    /// Its text.
    pub description: &'a str,
    /// The result.
    pub triage: &'a Triage,
    /// Fields written back automatically.
    pub applied: BTreeMap<String, String>,
    /// The connector flagged it for review.
    pub review: bool,
    /// Who triaged it.
    pub triaged_by: &'a str,
    /// The text before scrubbing, when the privacy policy keeps it here.
    pub original: Option<OriginalText>,
    /// How long kept originals stay (ms); older ones, and all of them when
    /// the policy keeps none, are cleared as this record is written.
    pub original_retention_ms: i64,
}

/// A ticket's text before scrubbing, kept in the review queue only when
/// `privacy.keep_original = "review"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct OriginalText {
    /// The title as received.
    pub title: String,
    /// The text as received.
    pub description: String,
}

/// The review queue over the state database.
#[derive(Clone)]
pub struct ReviewQueue {
    pool: AnyPool,
    /// Stamps records and decides when kept originals expire.
    clock: SharedClock,
}

impl ReviewQueue {
    /// The queue in `pool`'s `triage_log` table, its retention on `clock`.
    pub fn new(pool: AnyPool, clock: SharedClock) -> Self {
        Self { pool, clock }
    }

    /// Records (or replaces) the latest triage of a ticket with an id; a
    /// ticket without one is not logged.
    pub async fn record(&self, record: TriageRecord<'_>) -> Result<(), sqlx::Error> {
        let Some(id) = &record.triage.ticket_id else {
            return Ok(());
        };
        let suggestions: BTreeMap<String, LoggedSuggestion> = record
            .triage
            .suggestions
            .iter()
            .map(|(field, s)| {
                (
                    field.clone(),
                    LoggedSuggestion {
                        label: s.label.clone(),
                        confidence: s.confidence,
                        route: s.route.as_str().to_owned(),
                        threshold: s.threshold,
                    },
                )
            })
            .collect();
        let waits = suggestions
            .iter()
            .any(|(field, s)| s.route != "auto" && !record.applied.contains_key(field));
        let mut description = record.description.to_owned();
        if description.len() > MAX_DESCRIPTION_BYTES {
            let mut cut = MAX_DESCRIPTION_BYTES;
            while !description.is_char_boundary(cut) {
                cut -= 1;
            }
            description.truncate(cut);
        }
        let original = record.original.as_ref().map(to_json);
        // One statement: a concurrent triage of the same ticket replaces it.
        sqlx::query(
            "INSERT INTO triage_log (ticket_id, source, title, description, suggestions, applied, review, triaged_by, triaged_at, original) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (ticket_id) DO UPDATE SET source = excluded.source, title = excluded.title, \
             description = excluded.description, suggestions = excluded.suggestions, applied = excluded.applied, \
             review = excluded.review, triaged_by = excluded.triaged_by, triaged_at = excluded.triaged_at, \
             original = excluded.original",
        )
        .bind(id)
        .bind(&record.source)
        .bind(record.title)
        .bind(description)
        .bind(to_json(&suggestions))
        .bind(to_json(&record.applied))
        .bind(i64::from(record.review || waits))
        .bind(record.triaged_by)
        .bind(self.clock.now_ms())
        .bind(original)
        .execute(&self.pool)
        .await?;
        // Kept originals past their retention (all of them once the policy
        // keeps none) are cleared.
        let mut conn = self.pool.acquire().await?;
        let before = self.clock.now_ms() - record.original_retention_ms;
        Self::clear_originals_before_in(&mut conn, before)
            .await
            .map(drop)
    }

    /// Deletes the records last triaged before `before` (Unix ms), kept
    /// originals with them (retention); returns how many.
    pub async fn purge_before_in(
        conn: &mut sqlx::AnyConnection,
        before: i64,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM triage_log WHERE triaged_at < $1")
            .bind(before)
            .execute(conn)
            .await?
            .rows_affected())
    }

    /// Clears the kept originals of records triaged before `before` (Unix
    /// ms; `i64::MAX` clears all); returns how many.
    pub async fn clear_originals_before_in(
        conn: &mut sqlx::AnyConnection,
        before: i64,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE triage_log SET original = NULL WHERE original IS NOT NULL AND triaged_at < $1",
        )
        .bind(before)
        .execute(conn)
        .await?
        .rows_affected())
    }

    /// Deletes `ticket_id`'s record with its kept original (erasure).
    pub async fn forget_in(
        conn: &mut sqlx::AnyConnection,
        ticket_id: &str,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM triage_log WHERE ticket_id = $1")
            .bind(ticket_id.to_owned())
            .execute(conn)
            .await?
            .rows_affected())
    }

    /// The tickets whose kept original (the text as received) mentions
    /// `address`: found by erasure even where the index missed them.
    pub async fn with_original_mentioning(
        &self,
        address: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT ticket_id, original FROM triage_log WHERE original IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        let address = address.trim().to_lowercase();
        Ok(rows
            .into_iter()
            .filter(|(_, original)| original.to_lowercase().contains(&address))
            .map(|(id, _)| id)
            .collect())
    }

    /// The most recently triaged tickets matching `filter`, newest first.
    pub async fn list(&self, filter: &ReviewFilter) -> Result<Vec<ReviewItem>, sqlx::Error> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 500);
        // JSON fields are filtered here, over the newest 5000 rows.
        let rows: Vec<ItemRow> = match filter.source() {
            Some(source) => {
                sqlx::query_as(&format!(
                    "{SELECT} WHERE source = $1 ORDER BY triaged_at DESC LIMIT 5000"
                ))
                .bind(source)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(&format!("{SELECT} ORDER BY triaged_at DESC LIMIT 5000"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows
            .into_iter()
            .filter_map(ItemRow::item)
            .filter(|i| filter.keeps(i))
            .take(limit)
            .collect())
    }

    /// One ticket's latest triage, with its kept original when `with_original`.
    pub async fn get(
        &self,
        ticket_id: &str,
        with_original: bool,
    ) -> Result<Option<ReviewItem>, sqlx::Error> {
        let row: Option<ItemRow> = sqlx::query_as(&format!(
            "{COLUMNS}, original FROM triage_log WHERE ticket_id = $1"
        ))
        .bind(ticket_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        let kept = row.original.take().filter(|_| with_original);
        Ok(row.item().map(|mut found| {
            found.original = kept.and_then(|json| serde_json::from_str(&json).ok());
            found
        }))
    }

    /// Every logged triage since `since` (Unix ms), oldest first.
    pub(crate) async fn since(&self, since: i64) -> Result<Vec<ReviewItem>, sqlx::Error> {
        let rows: Vec<ItemRow> = sqlx::query_as(&format!(
            "{SELECT} WHERE triaged_at >= $1 ORDER BY triaged_at LIMIT 100000"
        ))
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().filter_map(ItemRow::item).collect())
    }
}

/// The columns of an item; callers add `FROM triage_log ...` (and `original` when they may).
const COLUMNS: &str = "SELECT ticket_id, source, title, description, suggestions, applied, review, triaged_by, triaged_at";
const SELECT: &str = "SELECT ticket_id, source, title, description, suggestions, applied, review, triaged_by, triaged_at FROM triage_log";

/// A row of `triage_log` as stored (maps as JSON text; `original` only
/// where the query selects it).
#[derive(sqlx::FromRow)]
struct ItemRow {
    ticket_id: String,
    source: String,
    title: String,
    description: String,
    suggestions: String,
    applied: String,
    review: i64,
    triaged_by: String,
    triaged_at: i64,
    #[sqlx(default)]
    original: Option<String>,
}

impl ItemRow {
    /// The row as an item; a row whose JSON does not parse is skipped (and logged).
    fn item(self) -> Option<ReviewItem> {
        let maps = serde_json::from_str(&self.suggestions)
            .and_then(|suggestions| Ok((suggestions, serde_json::from_str(&self.applied)?)));
        let (suggestions, applied) = maps
            .map_err(|e| tracing::warn!(error = %e, "skipping an unreadable review queue row"))
            .ok()?;
        Some(ReviewItem {
            ticket_id: self.ticket_id,
            source: self.source,
            title: self.title,
            description: self.description,
            suggestions,
            applied,
            needs_review: self.review != 0,
            triaged_by: self.triaged_by,
            triaged_at: self.triaged_at,
            original: None,
        })
    }
}

/// A map as stored JSON (maps of strings and numbers always serialise).
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}
