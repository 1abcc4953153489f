//! HTTP handlers: thin wrappers that parse, call one service method and
//! answer JSON. Errors become statuses in one table (`error`); the state
//! every handler shares is the built app (`state`).

mod auth;
mod changes;
mod drafts;
pub(crate) mod error;
mod executions;
mod extract;
mod feedback;
mod health;
mod hooks;
mod imports;
mod incidents;
mod metrics;
pub mod middleware;
mod openapi;
mod privacy;
mod problems;
mod request_id;
mod review;
mod runbooks;
mod state;
mod storms;
mod triage;

pub use auth::{Authenticated, MaybeAuthenticated};
pub use changes::list_changes;
pub use drafts::{draft_stats, get_draft, post_draft, review_draft};
pub use error::ApiError;
pub use executions::{
    approve_execution, cancel_execution, create_execution, execution_audit, get_execution,
    list_executions, reject_execution,
};
pub use extract::{ApiJson, ApiQuery};
pub use feedback::{post_feedback, retrain, stats};
pub use health::{healthz, readyz};
pub use hooks::{list_jobs, receive_event, requeue_job};
pub use imports::{ImportRequest, import_progress, start_import};
pub use incidents::{
    BatchReceipt, IncidentBatch, MAX_BATCH, get_incident, put_incident, put_incidents,
};
pub use metrics::{metrics, record as record_metrics};
pub use openapi::{ApiDoc, openapi};
pub use privacy::{forget, retention};
pub use problems::{last_problems, make_problems};
pub use review::{get_review, insights, list_review};
pub use runbooks::{list_runbooks, plan_runbook, verify_audit};
pub use storms::{get_storm, list_storms};
pub use triage::triage;

pub use state::AppState;
