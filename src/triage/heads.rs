//! The classifier head's life: trained from the stored incidents, saved as a
//! new version in the state database, swapped in by every replica when it is
//! announced (PostgreSQL LISTEN/NOTIFY) or when a replica next looks.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::TriageService;
use super::model::{RetrainReport, TriageError};
use super::service::blocking;
use super::state::{HEADS_CHANNEL, LearningState};
use crate::classify::{ClassifierHead, HeadError, TrainingExample};
use crate::domain::Incident;
use crate::store::{Collection, PayloadRecord};

impl TriageService {
    /// Keeps feedback and classifier heads in `learning` (the state database):
    /// imports the feedback log and head file an earlier version left in
    /// `data_dir` (once), then reads the feedback and the newest head.
    pub async fn with_learning_state(
        mut self,
        learning: LearningState,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        learning
            .import_feedback_file(&data_dir.join("feedback.jsonl"))
            .await?;
        learning
            .import_head_file(&data_dir.join("classifier").join("head.bin"))
            .await?;
        self.learning = Some(learning);
        self.date_undated_points().await?;
        self.refresh_feedback().await?;
        self.refresh_head().await?;
        Ok(self)
    }

    /// Whether a classifier head is trained at all (`triage.classifier.enabled`).
    pub fn learns_a_head(&self) -> bool {
        self.settings.classifier.enabled
    }

    /// The classifier head in use, if one is trained.
    pub fn head(&self) -> Option<Arc<ClassifierHead>> {
        self.head.read().as_ref().map(|(_, head)| Arc::clone(head))
    }

    /// The version of the head in use (0 when none, or not saved).
    pub fn head_version(&self) -> i64 {
        self.head.read().as_ref().map_or(0, |(version, _)| *version)
    }

    /// Reads feedback other replicas (or this one) added since the last read.
    pub(super) async fn refresh_feedback(&self) -> Result<(), TriageError> {
        if let Some(learning) = &self.learning {
            let after = self.feedback.lock().last_seq();
            let rows = learning.feedback_after(after).await?;
            if !rows.is_empty() {
                self.feedback.lock().extend_loaded(rows);
            }
        }
        Ok(())
    }

    /// Swaps in the newest saved head if it is newer than the one in use;
    /// true if it swapped.
    pub async fn refresh_head(&self) -> Result<bool, TriageError> {
        let Some(learning) = &self.learning else {
            return Ok(false);
        };
        if !self.settings.classifier.enabled {
            return Ok(false);
        }
        let newest = learning.head_version().await?.unwrap_or(0);
        if newest <= self.head_version() {
            return Ok(false);
        }
        let Some(stored) = learning.latest_head().await? else {
            return Ok(false);
        };
        let version = stored.version;
        let head = tokio::task::spawn_blocking(move || {
            ClassifierHead::from_bytes(&stored.bytes, &format!("classifier head version {version}"))
        })
        .await
        .map_err(|e| TriageError::Task(e.to_string()))??;
        let mut current = self.head.write();
        // Another refresh may have swapped in something newer meanwhile.
        if current.as_ref().is_some_and(|(v, _)| *v >= version) {
            return Ok(false);
        }
        tracing::info!(
            version,
            incidents = head.trained_on(),
            terms = head.vocabulary_size(),
            "classifier head swapped in"
        );
        *current = Some((version, Arc::new(head)));
        Ok(true)
    }

    /// Keeps the head current while the service lives: on PostgreSQL it
    /// listens for saved heads on `database_url`; every `interval` it also
    /// looks, which covers a lost notification (or SQLite, where another
    /// process can only be the CLI).
    pub fn spawn_head_watch(self: &Arc<Self>, database_url: String, interval: Duration) {
        let Some(learning) = &self.learning else {
            return;
        };
        let shared = learning.is_shared();
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut listener = None;
            loop {
                if shared && listener.is_none() {
                    listener = listen(&database_url).await;
                }
                let notified = async {
                    match listener.as_mut() {
                        Some(l) => l.recv().await.map(|_| ()),
                        None => std::future::pending().await,
                    }
                };
                let lost = tokio::select! {
                    got = notified => got.is_err(),
                    () = tokio::time::sleep(interval) => false,
                };
                if lost {
                    tracing::warn!("lost the head notifications; listening again");
                    listener = None;
                }
                if !refresh(&service).await {
                    return;
                }
            }
        });
    }

    /// Trains a new classifier head from every stored incident, saves it as
    /// the next version and swaps it in; triage keeps using the old head
    /// until then. One retrain at a time across replicas: a second one gets
    /// [`TriageError::Busy`].
    pub async fn retrain(&self) -> Result<RetrainReport, TriageError> {
        const BUSY: &str = "a retrain is already running";
        let Ok(_guard) = self.retraining.try_lock() else {
            return Err(TriageError::Busy(BUSY));
        };
        let _lock = match &self.learning {
            Some(learning) => Some(learning.try_retrain_lock().await?.ok_or(TriageError::Busy(
                "a retrain is already running on another replica",
            ))?),
            None => None,
        };
        let started = Instant::now();
        let store = Arc::clone(&self.store);
        let points = blocking(move || store.all(Collection::Incidents)).await?;
        let examples: Vec<TrainingExample> = points
            .into_iter()
            .filter_map(|point| {
                let incident = Incident::from_payload(point.payload)?;
                Some(TrainingExample {
                    // Scrubbed again: a store written before scrubbing
                    // existed still holds raw text.
                    text: self.incident_text(&incident),
                    vector: point.vector,
                    labels: incident.labels,
                })
            })
            .collect();
        let options = self.settings.classifier.clone();
        let save = self.learning.is_some();
        let (head, bytes) = tokio::task::spawn_blocking(move || {
            let head = ClassifierHead::train(&examples, &options)?;
            let bytes = save.then(|| head.to_bytes());
            Ok::<_, HeadError>((head, bytes))
        })
        .await
        .map_err(|e| TriageError::Task(e.to_string()))??;
        let version = match (&self.learning, bytes) {
            (Some(learning), Some(bytes)) => learning.save_head(bytes, head.trained_on()).await?,
            _ => self.head_version() + 1,
        };
        let report = RetrainReport {
            incidents: head.trained_on(),
            fields: head.fields().map(str::to_owned).collect(),
            terms: head.vocabulary_size(),
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
            version,
        };
        *self.head.write() = Some((version, Arc::new(head)));
        tracing::info!(version, incidents = report.incidents, fields = ?report.fields, took_ms = report.took_ms, "classifier head retrained");
        Ok(report)
    }
}

/// A listener on the heads channel, or `None` (logged) when it cannot connect.
async fn listen(database_url: &str) -> Option<sqlx::postgres::PgListener> {
    let connected = async {
        let mut listener = sqlx::postgres::PgListener::connect(database_url).await?;
        listener.listen(HEADS_CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match connected.await {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for new classifier heads; looking periodically");
            None
        }
    }
}

/// Refreshes the head of the service behind `service`; false once it is gone.
async fn refresh(service: &Weak<TriageService>) -> bool {
    let Some(service) = service.upgrade() else {
        return false;
    };
    if let Err(err) = service.refresh_head().await {
        tracing::warn!(error = %err, "cannot read the newest classifier head");
    }
    true
}
