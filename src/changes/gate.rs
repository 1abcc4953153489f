//! The freeze gate: whether a change to a target may start at a moment, by
//! the calendar's freeze and maintenance windows and the target's inventory
//! tags. No state: the automation service asks it at request and at run time.

use chrono::{DateTime, Utc};

use super::calendar::{ChangeCalendar, WindowOccurrence};
use crate::inventory::Inventory;
use crate::runbook::{FreezePolicy, RunbookSpec};

/// What the freeze gate says about a change at one moment.
#[derive(Debug, Clone)]
pub enum Gate {
    /// It may start now.
    Open,
    /// A freeze covers it; it is deferred to this moment (Unix milliseconds).
    Deferred {
        /// The freeze that covers it.
        freeze: WindowOccurrence,
        /// When its next window opens.
        until: i64,
    },
    /// A freeze covers it and the runbook does not defer (or no window opens).
    Refused {
        /// The freeze that covers it.
        freeze: WindowOccurrence,
        /// Why, for the requester.
        message: String,
    },
}

/// The calendar and the inventory whose tags select windows.
pub struct ChangeGate {
    calendar: ChangeCalendar,
    inventory: Inventory,
}

/// A Unix-milliseconds moment as a UTC date-time.
pub fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A Unix-milliseconds moment as RFC 3339 (seconds), for messages and details.
pub fn rfc3339(ms: i64) -> String {
    instant(ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl ChangeGate {
    /// The gate of `calendar`'s windows over `inventory`'s targets.
    pub fn new(calendar: ChangeCalendar, inventory: Inventory) -> Self {
        Self {
            calendar,
            inventory,
        }
    }

    /// The inventory tags of `target` (none without a target or for an
    /// unknown one): what freeze and maintenance windows select on.
    fn target_tags(&self, target: Option<&str>) -> Vec<String> {
        target
            .and_then(|name| self.inventory.items.iter().find(|i| i.name == name))
            .map(|item| item.tags.clone())
            .unwrap_or_default()
    }

    /// The freeze covering `target` at `now`, if any.
    pub fn freeze_now(&self, target: Option<&str>, now: i64) -> Option<WindowOccurrence> {
        self.calendar
            .freeze_at(&self.target_tags(target), instant(now))
    }

    /// Whether a non-emergency change by `spec` to `target` may start at `now`.
    pub fn gate(&self, spec: &RunbookSpec, target: Option<&str>, now: i64) -> Gate {
        let tags = self.target_tags(target);
        let Some(freeze) = self.calendar.freeze_at(&tags, instant(now)) else {
            return Gate::Open;
        };
        let covered = target.map_or_else(|| "every change".to_owned(), |t| format!("target {t:?}"));
        let message = format!(
            "change freeze {:?} covers {covered} until {}; request an emergency change, or wait",
            freeze.name,
            rfc3339(freeze.end)
        );
        if spec.freeze == FreezePolicy::Refuse {
            return Gate::Refused { freeze, message };
        }
        match self.calendar.next_open(&tags, instant(now)) {
            Some(at) => Gate::Deferred {
                freeze,
                until: at.timestamp_millis(),
            },
            None => Gate::Refused {
                freeze,
                message: format!("{message} (no change window opens after it)"),
            },
        }
    }

    /// The window occurrences of `[from, to)` (Unix milliseconds).
    pub fn windows_between(&self, from: i64, to: i64) -> Vec<WindowOccurrence> {
        self.calendar.between(instant(from), instant(to))
    }
}
