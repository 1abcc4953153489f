//! [`ChangeCalendar`]: the freeze and maintenance windows of `[[changes.windows]]`,
//! compiled once, and the questions change control asks of them: is this
//! target frozen now, when does its next window open, which windows fall in
//! a range (the console's change calendar).
//!
//! A window is either a date range (`start`, `end`) or a recurring one (`cron`
//! giving its start, `duration` its length). Times are UTC. A window with
//! `tags` covers targets carrying any of them; one without covers every
//! execution, with or without a target.

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use croner::Cron;
use serde::{Deserialize, Serialize};

/// How many steps [`ChangeCalendar::next_open`] takes through overlapping
/// windows before it gives up (a calendar that never opens).
const MAX_HOPS: usize = 1000;

/// How many occurrences of one recurring window a calendar range lists.
const MAX_OCCURRENCES: usize = 500;

/// What a window means for changes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// No change but an emergency one may start.
    Freeze,
    /// Changes to the covered targets run only inside one of these (when any
    /// is configured for them); a deferred change waits for the next.
    Maintenance,
}

/// One `[[changes.windows]]` entry, as written in the settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WindowSettings {
    /// Shown in refusals, the audit trail and the calendar.
    pub name: String,
    /// `freeze` or `maintenance`.
    pub kind: WindowKind,
    /// Target tags it covers; empty: every execution.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Start of a date range: RFC 3339, or a date (its midnight, UTC).
    #[serde(default)]
    pub start: Option<String>,
    /// End of a date range: RFC 3339 (exclusive), or a date (that whole day included).
    #[serde(default)]
    pub end: Option<String>,
    /// Recurring start, a five-field cron expression in UTC (`0 22 * * SAT`).
    #[serde(default)]
    pub cron: Option<String>,
    /// Length of each recurring occurrence, e.g. `4h`, `2d`.
    #[serde(default)]
    pub duration: Option<String>,
}

/// When a window is open.
#[derive(Debug, Clone)]
enum Timing {
    Range {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    Recurring {
        cron: Box<Cron>,
        length: Duration,
    },
}

/// A compiled window.
#[derive(Debug, Clone)]
struct Window {
    name: String,
    kind: WindowKind,
    tags: Vec<String>,
    timing: Timing,
}

/// One opening of a window: what a refusal names and the calendar draws.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WindowOccurrence {
    /// The window's name.
    pub name: String,
    /// `freeze` or `maintenance`.
    pub kind: WindowKind,
    /// Target tags it covers (empty: all).
    pub tags: Vec<String>,
    /// Unix milliseconds.
    pub start: i64,
    /// Unix milliseconds, exclusive.
    pub end: i64,
}

/// Every freeze and maintenance window, ready to be asked.
#[derive(Debug, Clone, Default)]
pub struct ChangeCalendar {
    windows: Vec<Window>,
}

fn parse_instant(text: &str, end: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is neither RFC 3339 nor a date (YYYY-MM-DD)"))?;
    let day = if end {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

fn compile(settings: &WindowSettings) -> Result<Window, String> {
    let name = settings.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err("a window needs a name of 1-100 printable characters".into());
    }
    let context = |message: String| format!("window {name:?}: {message}");
    let timing = match (
        &settings.start,
        &settings.end,
        &settings.cron,
        &settings.duration,
    ) {
        (Some(start), Some(end), None, None) => {
            let start = parse_instant(start, false).map_err(context)?;
            let end = parse_instant(end, true).map_err(context)?;
            if end <= start {
                return Err(context("ends before it starts".into()));
            }
            Timing::Range { start, end }
        }
        (None, None, Some(cron), Some(duration)) => {
            let parsed =
                Cron::from_str(cron).map_err(|e| context(format!("cron {cron:?}: {e}")))?;
            let length = crate::runbook::parse_duration(duration).map_err(context)?;
            let length = Duration::from_std(length)
                .ok()
                .filter(|d| *d > Duration::zero() && *d <= Duration::days(366))
                .ok_or_else(|| context("duration must be between 1s and 366d".into()))?;
            Timing::Recurring {
                cron: Box::new(parsed),
                length,
            }
        }
        _ => {
            return Err(context(
                "give either start and end, or cron and duration".into(),
            ));
        }
    };
    Ok(Window {
        name: name.to_owned(),
        kind: settings.kind,
        tags: settings.tags.clone(),
        timing,
    })
}

impl Window {
    fn covers(&self, tags: &[String]) -> bool {
        self.tags.is_empty() || self.tags.iter().any(|t| tags.contains(t))
    }

    fn occurrence(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> WindowOccurrence {
        WindowOccurrence {
            name: self.name.clone(),
            kind: self.kind,
            tags: self.tags.clone(),
            start: start.timestamp_millis(),
            end: end.timestamp_millis(),
        }
    }

    /// The opening of this window that contains `at`, if any.
    fn open_at(&self, at: DateTime<Utc>) -> Option<WindowOccurrence> {
        match &self.timing {
            Timing::Range { start, end } => {
                (*start <= at && at < *end).then(|| self.occurrence(*start, *end))
            }
            Timing::Recurring { cron, length } => {
                let began = cron.find_previous_occurrence(&at, true).ok()?;
                (at < began + *length).then(|| self.occurrence(began, began + *length))
            }
        }
    }

    /// The first opening that starts at or after `at`.
    fn next_start(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.timing {
            Timing::Range { start, .. } => (*start >= at).then_some(*start),
            Timing::Recurring { cron, .. } => cron.find_next_occurrence(&at, true).ok(),
        }
    }

    /// Openings overlapping `[from, to)`.
    fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<WindowOccurrence> {
        match &self.timing {
            Timing::Range { start, end } => {
                if *start < to && *end > from {
                    vec![self.occurrence(*start, *end)]
                } else {
                    vec![]
                }
            }
            Timing::Recurring { cron, length } => {
                let mut out = Vec::new();
                let mut cursor = from - *length;
                while out.len() < MAX_OCCURRENCES {
                    let Ok(began) = cron.find_next_occurrence(&cursor, false) else {
                        break;
                    };
                    if began >= to {
                        break;
                    }
                    if began + *length > from {
                        out.push(self.occurrence(began, began + *length));
                    }
                    cursor = began;
                }
                out
            }
        }
    }
}

impl ChangeCalendar {
    /// Compiles the configured windows; the error names the bad one.
    pub fn new(windows: &[WindowSettings]) -> Result<Self, String> {
        let windows = windows.iter().map(compile).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { windows })
    }

    /// The freeze covering a target with `tags` at `at`, if any (the one that
    /// ends last, when several overlap).
    pub fn freeze_at(&self, tags: &[String], at: DateTime<Utc>) -> Option<WindowOccurrence> {
        self.windows
            .iter()
            .filter(|w| w.kind == WindowKind::Freeze && w.covers(tags))
            .filter_map(|w| w.open_at(at))
            .max_by_key(|o| o.end)
    }

    /// The earliest moment at or after `after` when a change to a target with
    /// `tags` may start: outside every freeze and, when maintenance windows
    /// cover the target, inside one. `None` when no such moment comes.
    pub fn next_open(&self, tags: &[String], after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let maintenance: Vec<&Window> = self
            .windows
            .iter()
            .filter(|w| w.kind == WindowKind::Maintenance && w.covers(tags))
            .collect();
        let mut at = after;
        for _ in 0..MAX_HOPS {
            if let Some(freeze) = self.freeze_at(tags, at) {
                at = DateTime::from_timestamp_millis(freeze.end)?;
                continue;
            }
            if maintenance.is_empty() || maintenance.iter().any(|w| w.open_at(at).is_some()) {
                return Some(at);
            }
            at = maintenance.iter().filter_map(|w| w.next_start(at)).min()?;
        }
        None
    }

    /// Every opening of every window overlapping `[from, to)`, by start.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<WindowOccurrence> {
        let mut out: Vec<WindowOccurrence> = self
            .windows
            .iter()
            .flat_map(|w| w.between(from, to))
            .collect();
        out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.name.cmp(&b.name)));
        out
    }

    /// True when no window is configured.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn window(toml_like: serde_json::Value) -> WindowSettings {
        serde_json::from_value(toml_like).unwrap()
    }

    fn calendar() -> ChangeCalendar {
        ChangeCalendar::new(&[
            window(serde_json::json!({
                "name": "year end", "kind": "freeze", "tags": ["prod"],
                "start": "2026-12-20", "end": "2027-01-03",
            })),
            window(serde_json::json!({
                "name": "saturday night", "kind": "maintenance", "tags": ["prod"],
                "cron": "0 22 * * SAT", "duration": "4h",
            })),
        ])
        .unwrap()
    }

    #[test]
    fn a_date_range_freezes_only_the_tagged_targets_and_includes_its_last_day() {
        let calendar = calendar();
        let prod = vec!["prod".to_owned()];
        let freeze = calendar
            .freeze_at(&prod, at("2027-01-03T23:59:00Z"))
            .unwrap();
        assert_eq!(freeze.name, "year end");
        assert!(
            calendar
                .freeze_at(&prod, at("2027-01-04T00:00:00Z"))
                .is_none()
        );
        assert!(
            calendar
                .freeze_at(&["test".to_owned()], at("2026-12-24T12:00:00Z"))
                .is_none()
        );
    }

    #[test]
    fn the_next_open_moment_is_the_first_maintenance_window_after_the_freeze() {
        let calendar = calendar();
        let prod = vec!["prod".to_owned()];
        // 2027-01-04 is a Monday: the next Saturday 22:00 is 2027-01-09.
        assert_eq!(
            calendar.next_open(&prod, at("2026-12-24T12:00:00Z")),
            Some(at("2027-01-09T22:00:00Z"))
        );
        // Inside a maintenance window outside the freeze: now.
        assert_eq!(
            calendar.next_open(&prod, at("2026-11-28T23:00:00Z")),
            Some(at("2026-11-28T23:00:00Z"))
        );
        // Untagged targets have no windows: now.
        let now = at("2026-12-24T12:00:00Z");
        assert_eq!(calendar.next_open(&[], now), Some(now));
    }

    #[test]
    fn a_recurring_freeze_is_open_for_its_duration_after_each_start() {
        let calendar = ChangeCalendar::new(&[window(serde_json::json!({
            "name": "month end", "kind": "freeze", "cron": "0 0 28 * *", "duration": "3d",
        }))])
        .unwrap();
        assert!(
            calendar
                .freeze_at(&[], at("2026-11-30T10:00:00Z"))
                .is_some()
        );
        assert!(
            calendar
                .freeze_at(&[], at("2026-12-01T00:00:00Z"))
                .is_none()
        );
        let listed = calendar.between(at("2026-11-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
        assert_eq!(listed.len(), 2);
        assert_eq!(
            listed[0].start,
            at("2026-11-28T00:00:00Z").timestamp_millis()
        );
    }

    #[test]
    fn bad_windows_are_refused_with_their_name() {
        for bad in [
            serde_json::json!({"name": "x", "kind": "freeze", "start": "2026-12-20"}),
            serde_json::json!({"name": "x", "kind": "freeze", "start": "2026-12-20", "end": "2026-12-01"}),
            serde_json::json!({"name": "x", "kind": "freeze", "cron": "61 * * * *", "duration": "1h"}),
            serde_json::json!({"name": "x", "kind": "freeze", "cron": "0 * * * *", "duration": "1y"}),
            serde_json::json!({"name": "", "kind": "freeze", "cron": "0 * * * *", "duration": "1h"}),
        ] {
            let err = ChangeCalendar::new(&[window(bad.clone())]).unwrap_err();
            assert!(
                err.contains("window") || err.contains("name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_calendar_that_never_opens_says_so() {
        let calendar = ChangeCalendar::new(&[window(serde_json::json!({
            "name": "always", "kind": "freeze", "cron": "* * * * *", "duration": "2m",
        }))])
        .unwrap();
        assert_eq!(calendar.next_open(&[], at("2026-12-01T00:00:00Z")), None);
    }
}
