//! The application: every service built once, in one place, from
//! [`Settings`], and handed out complete. `switchboard serve` builds an
//! [`App`] and serves it (the server is ready once the app is built); each
//! command-line tool calls only the builders in [`parts`] it needs; tests
//! build the app with a [`TestClock`](crate::infra::clock::TestClock) they
//! move.
//!
//! Order of construction (each service takes the ones before it):
//! state database → triage (model + store; loads in parallel with the next
//! two) → automation (audit chain, runs) → connectors (inbound, outbox) →
//! storms → drafts → review queue and console sessions → the triage desk →
//! the connectors' workers → privacy (retention, erasure) and its retention task.

pub mod parts;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::session::SessionStore;
use crate::automation::AutomationService;
use crate::configuration::Settings;
use crate::connectors::{ConnectorService, ConnectorWorkers};
use crate::desk::TriageDesk;
use crate::drafts::DraftService;
use crate::infra::clock::SharedClock;
use crate::privacy::PrivacyService;
use crate::review::ReviewQueue;
use crate::storms::StormService;
use crate::triage::TriageService;

/// Every service of a running Switchboard, built and started.
pub struct App {
    /// The state database (SQLite or PostgreSQL).
    pub pool: sqlx::AnyPool,
    /// Embedding, retrieval, suggestions, feedback and retraining.
    pub triage: Arc<TriageService>,
    /// "A ticket arrives", for the API and the connectors alike.
    pub desk: Arc<TriageDesk>,
    /// Runbook executions, approvals and runs, with the audit chain.
    pub automation: Arc<AutomationService>,
    /// The configured connectors: deliveries in, jobs.
    pub connectors: Arc<ConnectorService>,
    /// The connectors' job workers and pollers (stopped at shutdown).
    pub connector_workers: ConnectorWorkers,
    /// Suggested resolutions.
    pub drafts: Arc<DraftService>,
    /// Storm and duplicate detection (`None` when `storms.enabled` is off).
    pub storms: Option<Arc<StormService>>,
    /// The latest triage of every remembered ticket.
    pub review: ReviewQueue,
    /// Console sign-in sessions.
    pub sessions: SessionStore,
    /// Retention and erasure of ticket text.
    pub privacy: Arc<PrivacyService>,
    /// The last problem report, shared by every replica.
    pub problems: crate::problems::report::LastReport,
    /// The retention task (aborted at shutdown).
    retention: tokio::task::JoinHandle<()>,
}

impl App {
    /// Builds and starts every service `settings` describes, with time read
    /// from `clock`. Fails with the first service that cannot start.
    pub async fn build(settings: &Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let pool = parts::state_database(settings).await?;
        // The model and store load (seconds) while automation starts.
        let loading = {
            let settings = settings.clone();
            let pool = pool.clone();
            let clock = Arc::clone(&clock);
            tokio::spawn(async move { parts::triage_service(&settings, pool, clock).await })
        };
        let automation = parts::automation(settings, pool.clone(), Arc::clone(&clock)).await?;
        let connectors = parts::connectors(settings, &automation, Arc::clone(&clock))?;
        let triage = Arc::new(
            loading
                .await
                .map_err(|e| anyhow::anyhow!("the model loader failed: {e}"))??,
        );
        triage.spawn_head_watch(
            parts::database_url(settings),
            Duration::from_secs(settings.replicas.head_poll_s.max(1)),
        );
        let storms = if settings.storms.enabled {
            Some(
                StormService::start(pool.clone(), &settings.storms)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open the storms: {e}"))?,
            )
        } else {
            None
        };
        let drafts = parts::drafts(settings, Arc::clone(&triage), pool.clone()).await?;
        let review = ReviewQueue::new(pool.clone(), Arc::clone(&clock));
        let desk = Arc::new(TriageDesk::new(
            Arc::clone(&triage),
            review.clone(),
            storms.clone(),
            Arc::clone(&drafts),
            &settings.privacy,
        ));
        let connector_workers = ConnectorWorkers::start(Arc::clone(&connectors), Arc::clone(&desk))
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the connectors: {e}"))?;
        let sessions = SessionStore::new(pool.clone(), Arc::clone(&clock));
        let privacy = Arc::new(PrivacyService::new(
            pool.clone(),
            Arc::clone(&triage),
            storms.clone(),
            review.clone(),
            automation.audit_log(),
            Arc::clone(&clock),
            &settings.privacy,
        ));
        let retention = Arc::clone(&privacy).spawn_retention();
        Ok(Self {
            problems: crate::problems::report::LastReport::new(pool.clone(), &settings.data_dir),
            privacy,
            retention,
            sessions,
            pool,
            triage,
            desk,
            automation,
            connectors,
            connector_workers,
            drafts,
            storms,
            review,
        })
    }

    /// Stops what runs in the background: connector jobs in hand finish (or
    /// are queued again next start), running executions get `grace` to end
    /// before they are stopped.
    pub async fn shutdown(&self, grace: Duration) {
        self.retention.abort();
        self.connector_workers.shutdown().await;
        self.automation.shutdown(grace).await;
    }
}
