//! The data model of runbook automation: an execution's states, what a request
//! carries, what the API shows, and the errors of the layer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::changes::{ChangeType, WindowOccurrence};
use crate::runbook::{Plan, RunStatus, StepResult};

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionState {
    /// Waiting for approvers.
    PendingApproval,
    /// Approved (or pre-approved), waiting for its change window to open
    /// (`scheduled_for`).
    Scheduled,
    /// Approved (or pre-approved); about to run.
    Approved,
    /// Steps are running.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A check or step failed.
    Failed,
    /// A step was killed at its timeout.
    TimedOut,
    /// A step failed and the rollback succeeded.
    RolledBack,
    /// An approver said no.
    Rejected,
    /// Nobody approved in time.
    Expired,
    /// Withdrawn before it ran, or stopped while it ran.
    Cancelled,
    /// The service stopped (crash, or shutdown past its grace period) while it
    /// ran; it is never re-run by itself.
    Interrupted,
}

impl ExecutionState {
    /// The name used in the database, the API and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingApproval => "pending_approval",
            Self::Scheduled => "scheduled",
            Self::Approved => "approved",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::RolledBack => "rolled_back",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }

    /// Parses a stored or requested state name.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }
}

impl From<RunStatus> for ExecutionState {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Succeeded => Self::Succeeded,
            RunStatus::Failed => Self::Failed,
            RunStatus::TimedOut => Self::TimedOut,
            RunStatus::RolledBack => Self::RolledBack,
            RunStatus::Cancelled => Self::Cancelled,
            RunStatus::Interrupted => Self::Interrupted,
        }
    }
}

/// `POST /v1/executions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRequest {
    /// Runbook id.
    #[schema(min_length = 1)]
    pub runbook: String,
    /// Parameter values (strings or numbers); `target` names the inventory item.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// The ticket this fixes.
    #[serde(default)]
    pub ticket_id: Option<String>,
    /// Repeating a request with the same key returns the same execution.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Run only the check steps.
    #[serde(default)]
    pub dry_run: bool,
    /// An emergency change: approved by the emergency role, allowed during a
    /// freeze; needs a `justification`.
    #[serde(default)]
    pub emergency: bool,
    /// Why an emergency change cannot wait (1-2000 characters).
    #[serde(default)]
    pub justification: Option<String>,
}

/// One approver's decision.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema, sqlx::FromRow)]
pub struct Decision {
    /// Token name of the approver.
    pub approver: String,
    /// `approved` or `rejected`.
    pub decision: String,
    /// Their comment.
    pub comment: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// An execution as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Execution {
    /// Id.
    pub id: String,
    /// Runbook id and version.
    pub runbook: String,
    /// Version of the runbook when requested.
    pub runbook_version: i64,
    /// Ticket it belongs to.
    pub ticket_id: Option<String>,
    /// Inventory item acted on.
    pub target: Option<String>,
    /// Current state.
    pub state: ExecutionState,
    /// Only check steps.
    pub dry_run: bool,
    /// The change type: `standard`, `normal` or `emergency`.
    pub change_type: crate::changes::ChangeType,
    /// Why an emergency could not wait.
    pub justification: Option<String>,
    /// When a change deferred by a freeze may start (Unix milliseconds).
    pub scheduled_for: Option<i64>,
    /// Token name of the requester.
    pub requested_by: String,
    /// Approvals still needed.
    pub approvals_needed: i64,
    /// Approvals and rejections so far.
    pub decisions: Vec<Decision>,
    /// The validated plan (parameters substituted).
    pub plan: Plan,
    /// Step results so far.
    pub steps: Vec<StepResult>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When a pending request expires.
    pub expires_at: Option<i64>,
    /// When it started running.
    pub started_at: Option<i64>,
    /// When it finished.
    pub finished_at: Option<i64>,
}

/// Failures of the automation layer.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// The request or a parameter is invalid (refused and audited).
    #[error("{message}")]
    Refused {
        /// The offending field, e.g. `params.directory`.
        field: String,
        /// Why.
        message: String,
    },
    /// No such execution or runbook.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (role, own request).
    #[error("{0}")]
    Forbidden(String),
    /// The execution is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// A change freeze covers the target (refused and audited).
    #[error("{message}")]
    Frozen {
        /// The freeze's name.
        window: String,
        /// When it ends (Unix milliseconds).
        until: i64,
        /// Why, for people.
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl ExecutionState {
    /// True for states an execution never leaves.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            Self::PendingApproval | Self::Scheduled | Self::Approved | Self::Running
        )
    }
}

/// Who runs executions here and for how long a lease lasts.
#[derive(Debug, Clone)]
pub struct RunLeases {
    /// This replica's id ([`crate::infra::replica::id`]).
    pub owner: String,
    /// How long a lease lasts without renewal.
    pub lease: std::time::Duration,
    /// Whether other replicas may share the database (PostgreSQL): then
    /// executions left running are interrupted only once their lease expires.
    pub shared: bool,
}

/// A change record, as `GET /v1/changes` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    /// The execution's id.
    pub id: String,
    /// `standard`, `normal` or `emergency`.
    pub change_type: ChangeType,
    /// Runbook id.
    pub runbook: String,
    /// Runbook title (empty if it left the catalog).
    pub title: String,
    /// Runbook risk, if it is still in the catalog.
    pub risk: Option<crate::runbook::Risk>,
    /// Configuration item changed.
    pub target: Option<String>,
    /// The execution's state.
    pub state: ExecutionState,
    /// Who asked for it.
    pub requested_by: String,
    /// Why an emergency could not wait.
    pub justification: Option<String>,
    /// Who approved it.
    pub approved_by: Vec<String>,
    /// The freeze it was requested during (emergencies only).
    pub during_freeze: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When a deferred change may start.
    pub scheduled_for: Option<i64>,
    /// When it started running.
    pub started_at: Option<i64>,
    /// When it finished.
    pub finished_at: Option<i64>,
}

/// `GET /v1/changes`: the change records and the windows of a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeList {
    /// Start of the period, Unix milliseconds.
    pub from: i64,
    /// End of the period, Unix milliseconds.
    pub to: i64,
    /// Changes requested, scheduled, started or finished in the period, newest first.
    pub changes: Vec<Change>,
    /// Freeze and maintenance windows overlapping the period.
    pub windows: Vec<WindowOccurrence>,
}
