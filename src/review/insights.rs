//! What a service desk lead needs to decide whether to trust auto-routing:
//! per field, how much was routed automatically and how often agents kept
//! it; corrections and ping-pong between labels; volume per group per day;
//! and the last `switchboard eval` report (precision-coverage curve,
//! reliability diagram).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use super::{ReviewItem, ReviewQueue};
use crate::triage::FeedbackStats;

/// Days of volume shown.
const VOLUME_DAYS: i64 = 14;
/// The field whose labels volume is counted by.
const VOLUME_FIELD: &str = "assignment_group";

/// Auto-routing of one field over the review queue, checked against what
/// agents finally set.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldRouting {
    /// Tickets triaged with a suggestion for this field.
    pub triaged: u64,
    /// Of those, routed automatically.
    pub auto: u64,
    /// `auto / triaged`.
    pub coverage: f64,
    /// Auto-routed tickets an agent later confirmed or corrected.
    pub auto_reviewed: u64,
    /// Of those, the ones whose final label is the suggested one.
    pub auto_kept: u64,
    /// `auto_kept / auto_reviewed`; `None` before any review.
    pub precision: Option<f64>,
    /// Suggestions an agent corrected (any route).
    pub corrected: u64,
}

/// Tickets triaged on one day for one label.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct VolumePoint {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The suggested `assignment_group`.
    pub label: String,
    /// Tickets.
    pub count: u64,
}

/// Everything the Insights view draws.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Insights {
    /// Field -> auto-routing coverage and precision.
    pub fields: BTreeMap<String, FieldRouting>,
    /// Corrections, reassignments and ping-pong from agents' feedback.
    pub feedback: FeedbackStats,
    /// Tickets per day and suggested group, last 14 days.
    pub volume: Vec<VolumePoint>,
    /// The last `switchboard eval` report (`DATA_DIR/eval/report.json`), if any.
    #[schema(value_type = Option<Object>)]
    pub eval: Option<serde_json::Value>,
    /// When that report was written (Unix seconds).
    pub eval_written_at: Option<u64>,
}

/// Builds the insights from the review queue, the feedback and the eval
/// report in `eval_dir`.
pub async fn insights(
    queue: &ReviewQueue,
    final_labels: &HashMap<(String, String), String>,
    feedback: FeedbackStats,
    eval_dir: &Path,
) -> Result<Insights, sqlx::Error> {
    let now = crate::infra::clock::now_ms();
    let items = queue.since(now - VOLUME_DAYS * 86_400_000).await?;
    let (eval, eval_written_at) = read_eval(eval_dir);
    Ok(Insights {
        fields: routing(&items, final_labels),
        feedback,
        volume: volume(&items),
        eval,
        eval_written_at,
    })
}

fn routing(
    items: &[ReviewItem],
    final_labels: &HashMap<(String, String), String>,
) -> BTreeMap<String, FieldRouting> {
    let mut fields: BTreeMap<String, FieldRouting> = BTreeMap::new();
    for item in items {
        for (field, suggestion) in &item.suggestions {
            let routing = fields.entry(field.clone()).or_default();
            routing.triaged += 1;
            let settled = final_labels.get(&(item.ticket_id.clone(), field.clone()));
            if settled.is_some_and(|label| label != &suggestion.label) {
                routing.corrected += 1;
            }
            if suggestion.route == "auto" {
                routing.auto += 1;
                if let Some(label) = settled {
                    routing.auto_reviewed += 1;
                    routing.auto_kept += u64::from(label == &suggestion.label);
                }
            }
        }
    }
    for routing in fields.values_mut() {
        routing.coverage = routing.auto as f64 / routing.triaged.max(1) as f64;
        routing.precision = (routing.auto_reviewed > 0)
            .then(|| routing.auto_kept as f64 / routing.auto_reviewed as f64);
    }
    fields
}

fn volume(items: &[ReviewItem]) -> Vec<VolumePoint> {
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for item in items {
        let Some(suggestion) = item.suggestions.get(VOLUME_FIELD) else {
            continue;
        };
        let day = chrono::DateTime::from_timestamp_millis(item.triaged_at)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        *counts.entry((day, suggestion.label.clone())).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((day, label), count)| VolumePoint { day, label, count })
        .collect()
}

/// The report and its modification time; a missing or unreadable report is
/// `None` (an unreadable one is logged).
fn read_eval(dir: &Path) -> (Option<serde_json::Value>, Option<u64>) {
    let path = dir.join("report.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return (None, None);
    };
    let written = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    match serde_json::from_str(&text) {
        Ok(report) => (Some(report), written),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the eval report is not JSON");
            (None, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::LoggedSuggestion;

    fn item(id: &str, label: &str, route: &str) -> ReviewItem {
        ReviewItem {
            ticket_id: id.into(),
            source: "api".into(),
            title: String::new(),
            description: String::new(),
            suggestions: BTreeMap::from([(
                "assignment_group".to_owned(),
                LoggedSuggestion {
                    label: label.into(),
                    confidence: 0.9,
                    route: route.into(),
                    threshold: 0.8,
                },
            )]),
            applied: BTreeMap::new(),
            original: None,
            needs_review: route != "auto",
            triaged_by: "agent".into(),
            triaged_at: 1_764_547_200_000,
        }
    }

    #[test]
    fn precision_counts_only_auto_routed_tickets_an_agent_reviewed() {
        let items = [
            item("a", "Network", "auto"),
            item("b", "Network", "auto"),
            item("c", "Network", "auto"),
            item("d", "Desktop", "suggest"),
        ];
        let key = |t: &str| (t.to_owned(), "assignment_group".to_owned());
        let finals = HashMap::from([
            (key("a"), "Network".to_owned()),
            (key("b"), "Desktop".to_owned()),
            (key("d"), "Network".to_owned()),
        ]);
        let routing = &routing(&items, &finals)["assignment_group"];
        assert_eq!((routing.triaged, routing.auto), (4, 3));
        assert_eq!((routing.auto_reviewed, routing.auto_kept), (2, 1));
        assert_eq!(routing.precision, Some(0.5));
        assert_eq!(routing.corrected, 2);
        assert!((routing.coverage - 0.75).abs() < 1e-9);
    }

    #[test]
    fn volume_is_counted_per_day_and_group() {
        let items = [
            item("a", "Network", "auto"),
            item("b", "Network", "auto"),
            item("c", "Desktop", "suggest"),
        ];
        let volume = volume(&items);
        assert_eq!(volume.len(), 2);
        assert_eq!(volume[1].label, "Network");
        assert_eq!(volume[1].count, 2);
        assert_eq!(volume[1].day, "2025-12-01");
    }
}
