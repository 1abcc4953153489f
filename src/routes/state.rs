//! [`AppState`]: what every handler shares. Tokens and console settings are
//! known from the start; the services arrive together, as one built
//! [`App`], once loading has finished (503 `not_ready` until then).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use super::ApiError;
use crate::app::App;
use crate::auth::TokenEntry;
use crate::auth::session::ConsoleSettings;
use crate::auth::session::SessionStore;
use crate::automation::AutomationService;
use crate::connectors::ConnectorService;
use crate::desk::TriageDesk;
use crate::review::ReviewQueue;
use crate::triage::TriageService;

/// Shared state of every handler.
#[derive(Clone, Default)]
pub struct AppState {
    /// The built app: set once, when every service is up. Readiness is this
    /// one slot being filled, not a property of each service.
    ready: Arc<OnceLock<Arc<App>>>,
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
            ready: Arc::default(),
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

    /// Marks the app built; `/readyz` turns ready (a second call is ignored).
    pub fn set_ready(&self, app: Arc<App>) {
        let _ = self.ready.set(app);
    }

    /// The built app, if loading has finished.
    pub fn ready(&self) -> Option<&Arc<App>> {
        self.ready.get()
    }

    /// The built app, or 503 while it is still loading.
    pub fn app(&self) -> Result<&Arc<App>, ApiError> {
        self.ready.get().ok_or_else(ApiError::not_ready)
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

    /// The configured API tokens.
    pub fn tokens(&self) -> &[TokenEntry] {
        &self.tokens
    }

    /// Console sessions, or 503 while loading.
    pub fn sessions(&self) -> Result<&SessionStore, ApiError> {
        Ok(&self.app()?.sessions)
    }

    /// Storm detection (`None` when it is off), or 503 while loading.
    pub fn storms(&self) -> Result<Option<&Arc<crate::storms::StormService>>, ApiError> {
        Ok(self.app()?.storms.as_ref())
    }

    /// The review queue, or 503 while loading.
    pub fn review(&self) -> Result<&ReviewQueue, ApiError> {
        Ok(&self.app()?.review)
    }

    /// Drafting, or 503 while loading.
    pub fn drafts(&self) -> Result<&Arc<crate::drafts::DraftService>, ApiError> {
        Ok(&self.app()?.drafts)
    }

    /// The connectors, or 503 while loading.
    pub fn connectors(&self) -> Result<&Arc<ConnectorService>, ApiError> {
        Ok(&self.app()?.connectors)
    }

    /// Runbook automation, or 503 while loading.
    pub fn automation(&self) -> Result<&Arc<AutomationService>, ApiError> {
        Ok(&self.app()?.automation)
    }

    /// The triage service, or 503 while loading.
    pub fn service(&self) -> Result<&Arc<TriageService>, ApiError> {
        Ok(&self.app()?.triage)
    }

    /// The triage desk, or 503 while loading.
    pub fn desk(&self) -> Result<&Arc<TriageDesk>, ApiError> {
        Ok(&self.app()?.desk)
    }
}
