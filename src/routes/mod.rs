//! HTTP handlers: thin wrappers that parse, call the triage service and answer JSON.

mod auth;
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
mod triage;

pub use auth::{Authenticated, MaybeAuthenticated};
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
pub use triage::triage;

use std::sync::{Arc, OnceLock};

use crate::auth::TokenEntry;
use crate::automation::AutomationService;
use crate::connectors::ConnectorService;
use crate::triage::TriageService;

/// Shared state of every handler: the services, set once loading has finished.
#[derive(Clone, Default)]
pub struct AppState {
    service: Arc<OnceLock<Arc<TriageService>>>,
    automation: Arc<OnceLock<Arc<AutomationService>>>,
    connectors: Arc<OnceLock<Arc<ConnectorService>>>,
    tokens: Arc<Vec<TokenEntry>>,
}

impl AppState {
    /// State that authenticates callers against `tokens`.
    pub fn new(tokens: Vec<TokenEntry>) -> Self {
        Self {
            service: Arc::default(),
            automation: Arc::default(),
            connectors: Arc::default(),
            tokens: Arc::new(tokens),
        }
    }

    /// The configured API tokens.
    pub fn tokens(&self) -> &[TokenEntry] {
        &self.tokens
    }

    /// Marks the service loaded; `/readyz` turns ready.
    pub fn set_ready(&self, service: Arc<TriageService>) {
        let _ = self.service.set(service);
    }

    /// Marks runbook automation available.
    pub fn set_automation(&self, automation: Arc<AutomationService>) {
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
