//! HTTP handlers: thin wrappers that parse, call the triage service and answer JSON.

mod auth;
mod changes;
mod drafts;
pub(crate) mod error;
mod executions;
mod extract;
mod feedback;
mod health;
mod hooks;
mod incidents;
mod metrics;
pub mod middleware;
mod openapi;
mod problems;
mod review;
mod runbooks;
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
pub use incidents::{get_incident, put_incident};
pub use metrics::{metrics, record as record_metrics};
pub use openapi::{ApiDoc, openapi};
pub use problems::{last_problems, make_problems};
pub use review::{get_review, insights, list_review};
pub use runbooks::{list_runbooks, plan_runbook, verify_audit};
pub use storms::{get_storm, list_storms};
pub use triage::triage;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::auth::TokenEntry;
use crate::automation::AutomationService;
use crate::configuration::ConsoleSettings;
use crate::connectors::ConnectorService;
use crate::review::ReviewQueue;
use crate::triage::TriageService;
use crate::ui::SessionStore;

/// Shared state of every handler: the services, set once loading has finished.
#[derive(Clone, Default)]
pub struct AppState {
    service: Arc<OnceLock<Arc<TriageService>>>,
    automation: Arc<OnceLock<Arc<AutomationService>>>,
    connectors: Arc<OnceLock<Arc<ConnectorService>>>,
    /// Set with automation: both live in the state database.
    sessions: Arc<OnceLock<SessionStore>>,
    review: Arc<OnceLock<ReviewQueue>>,
    storms: Arc<OnceLock<Arc<crate::storms::StormService>>>,
    drafts: Arc<OnceLock<Arc<crate::drafts::DraftService>>>,
    tokens: Arc<Vec<TokenEntry>>,
    console: Arc<ConsoleSettings>,
    data_dir: Arc<PathBuf>,
    /// Held while a problem report is being made: one at a time.
    problems_running: Arc<tokio::sync::Mutex<()>>,
}

impl AppState {
    /// State that authenticates callers against `tokens`.
    pub fn new(tokens: Vec<TokenEntry>) -> Self {
        Self {
            service: Arc::default(),
            automation: Arc::default(),
            connectors: Arc::default(),
            sessions: Arc::default(),
            review: Arc::default(),
            storms: Arc::default(),
            drafts: Arc::default(),
            tokens: Arc::new(tokens),
            console: Arc::default(),
            data_dir: Arc::new(PathBuf::from("data")),
            problems_running: Arc::default(),
        }
    }

    /// The console's settings, and the data directory (where the last eval
    /// and problem reports are read from).
    pub fn with_console(mut self, console: ConsoleSettings, data_dir: PathBuf) -> Self {
        self.console = Arc::new(console);
        self.data_dir = Arc::new(data_dir);
        self
    }

    /// The data directory (the last problem report lives under it).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The lock held while a problem report is made.
    pub fn problems_running(&self) -> &tokio::sync::Mutex<()> {
        &self.problems_running
    }

    /// The console's settings.
    pub fn console(&self) -> &ConsoleSettings {
        &self.console
    }

    /// Where `switchboard eval --report` output is read from for Insights.
    pub fn eval_dir(&self) -> PathBuf {
        self.data_dir.join("eval")
    }

    /// Console sessions, or 503 while the state database is still opening.
    pub fn sessions(&self) -> Result<&SessionStore, ApiError> {
        self.sessions.get().ok_or_else(ApiError::not_ready)
    }

    /// Turns on the storm endpoints.
    pub fn set_storms(&self, storms: Arc<crate::storms::StormService>) {
        let _ = self.storms.set(storms);
    }

    /// Storm detection, or 503 while loading (or 404-like when disabled: the
    /// handler says so).
    pub fn storms(&self) -> Option<&Arc<crate::storms::StormService>> {
        self.storms.get()
    }

    /// The review queue, or 503 while the state database is still opening.
    pub fn review(&self) -> Result<&ReviewQueue, ApiError> {
        self.review.get().ok_or_else(ApiError::not_ready)
    }

    /// The configured API tokens.
    pub fn tokens(&self) -> &[TokenEntry] {
        &self.tokens
    }

    /// Turns on the draft endpoints.
    pub fn set_drafts(&self, drafts: Arc<crate::drafts::DraftService>) {
        let _ = self.drafts.set(drafts);
    }

    /// Drafting, or 503 while loading.
    pub fn drafts(&self) -> Result<&Arc<crate::drafts::DraftService>, ApiError> {
        self.drafts.get().ok_or_else(ApiError::not_ready)
    }

    /// Marks the service loaded; `/readyz` turns ready.
    pub fn set_ready(&self, service: Arc<TriageService>) {
        let _ = self.service.set(service);
    }

    /// Marks runbook automation available.
    pub fn set_automation(&self, automation: Arc<AutomationService>) {
        let _ = self.sessions.set(SessionStore::new(automation.pool()));
        let _ = self.review.set(ReviewQueue::new(automation.pool()));
        let _ = self.automation.set(automation);
    }

    /// Marks the connectors available (events are accepted from then on).
    pub fn set_connectors(&self, connectors: Arc<ConnectorService>) {
        let _ = self.connectors.set(connectors);
    }

    /// The connectors, or 503 while they are still loading.
    pub fn connectors(&self) -> Result<&Arc<ConnectorService>, ApiError> {
        self.connectors.get().ok_or_else(ApiError::not_ready)
    }

    /// Runbook automation, or 503 while it is still loading.
    pub fn automation(&self) -> Result<&Arc<AutomationService>, ApiError> {
        self.automation.get().ok_or_else(ApiError::not_ready)
    }

    /// The service, or 503 while the model and store are still loading.
    pub fn service(&self) -> Result<&Arc<TriageService>, ApiError> {
        self.service.get().ok_or_else(ApiError::not_ready)
    }
}
