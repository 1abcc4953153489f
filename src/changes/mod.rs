//! Change control for runbook executions. Every execution is also a change
//! record in the ITIL sense:
//!
//! - `standard`: a pre-approved (`approval.mode: auto`) runbook, or a dry run;
//! - `normal`: a runbook that needs approval;
//! - `emergency`: declared by the requester with a justification; it needs an
//!   approver with the emergency role (`[changes] emergency_role`) and is the
//!   only kind that may start during a freeze.
//!
//! [`calendar`] holds the freeze and maintenance windows; the automation
//! service asks it when a change is requested and again when it is about to
//! run.

pub mod calendar;
pub mod gate;

use serde::{Deserialize, Serialize};

pub use calendar::{ChangeCalendar, WindowKind, WindowOccurrence, WindowSettings};
pub use gate::{ChangeGate, Gate};

use crate::auth::Role;

/// `[changes]`: who approves emergencies, the windows, how often deferred
/// changes are looked at.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeSettings {
    /// Least role that may approve an emergency change.
    pub emergency_role: Role,
    /// Freeze and maintenance windows (`[[changes.windows]]`).
    pub windows: Vec<WindowSettings>,
    /// How often scheduled changes whose window has opened are started, in seconds.
    pub scheduler_interval_s: u64,
}

impl Default for ChangeSettings {
    fn default() -> Self {
        Self {
            emergency_role: Role::ChangeManager,
            windows: Vec::new(),
            scheduler_interval_s: 15,
        }
    }
}

/// The ITIL change type of an execution.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    /// Pre-approved, low-risk (an `auto` runbook, or a dry run).
    Standard,
    /// Approved by the runbook's approvers before it runs.
    Normal,
    /// Declared urgent, approved by the emergency role; may override a freeze.
    Emergency,
}

impl ChangeType {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Normal => "normal",
            Self::Emergency => "emergency",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }
}
