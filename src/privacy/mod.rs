//! Personal data after it is written: how long ticket text stays
//! (`retention.rs`) and how a person's tickets are forgotten on request
//! (`erasure.rs`). Scrubbing at the edge is the desk's and the connectors'
//! (`domain::Scrubber`), before anything is written; this module looks after
//! what is kept.
//!
//! [`PrivacyService`] is built once by the app; `switchboard retention run`,
//! `switchboard forget` and `POST /v1/admin/forget` call it, and a background
//! task runs the retention every `privacy.retention_interval_s`.

mod erasure;
mod retention;

use std::sync::Arc;

pub use erasure::{ForgetError, ForgetReport, ForgetRequest};
pub use retention::{RetentionError, RetentionReport};

use crate::domain::PrivacySettings;
use crate::infra::audit::AuditLog;
use crate::infra::clock::SharedClock;
use crate::review::ReviewQueue;
use crate::storms::StormService;
use crate::triage::TriageService;

/// Retention and erasure over every place ticket text is kept.
pub struct PrivacyService {
    pool: sqlx::AnyPool,
    triage: Arc<TriageService>,
    /// `None` when storm detection is off (its tables are still cleaned).
    storms: Option<Arc<StormService>>,
    review: ReviewQueue,
    audit: Arc<AuditLog>,
    clock: SharedClock,
    settings: PrivacySettings,
}

impl PrivacyService {
    /// The service over the state database `pool` and the services that
    /// keep ticket text in memory, in the store or in the review queue.
    pub fn new(
        pool: sqlx::AnyPool,
        triage: Arc<TriageService>,
        storms: Option<Arc<StormService>>,
        review: ReviewQueue,
        audit: Arc<AuditLog>,
        clock: SharedClock,
        settings: &PrivacySettings,
    ) -> Self {
        Self {
            review,
            pool,
            triage,
            storms,
            audit,
            clock,
            settings: settings.clone(),
        }
    }
}
