//! [`ConnectorService`]: accepts deliveries (verify, parse, de-duplicate,
//! queue durably), and runs the queued jobs: fetch the ticket, ignore
//! Switchboard's own writes, learn from a closed ticket or triage an open one
//! and write back what its fields' policies allow, with the job id as the
//! idempotency key. Failed attempts are retried with back-off; jobs that keep
//! failing end `dead`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::generic::GenericConnector;
use super::helpdesk::HelpdeskConnector;
use super::inbound::{Delivery, InboundError, verify};
use super::jira::JiraConnector;
use super::outbox::{Job, JobState, Outbox, TakenJob, backoff};
use super::rt::RtConnector;
use super::servicenow::ServiceNowConnector;
use super::settings::{ConnectorKind, ConnectorSettings};
use super::writeback::{NoteTemplate, plan_update};
use super::zammad::ZammadConnector;
use super::zendesk::ZendeskConnector;
use super::{Connector, ConnectorError, ExternalTicket};
use crate::auth::{Caller, Role};
use crate::automation::{AuditLog, AuditRecord, now_ms};
use crate::domain::{Incident, LabelFeedback, NewTicket};
use crate::metrics::{ConnectorLabels, ConnectorName, global};
use crate::runbook::Secrets;
use crate::triage::{TriageError, TriageService};

/// Workers running jobs at once.
const WORKERS: usize = 2;
/// Longest a worker sleeps before looking for due jobs again.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Accepted {
    /// Queued as a new job.
    Queued {
        /// The job.
        job: String,
    },
    /// The same delivery (or the same change of the ticket) was queued before.
    Duplicate {
        /// The job it was queued as.
        job: String,
    },
    /// Caused by Switchboard's own write: nothing to do.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// Why a delivery was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// No connector of that name.
    #[error("no connector {0:?}")]
    Unknown(String),
    /// Signature, token or timestamp wrong (audited).
    #[error(transparent)]
    Refused(#[from] InboundError),
    /// The body is not an event this connector understands.
    #[error("{0}")]
    Malformed(String),
    /// The job could not be stored.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

pub(super) struct Registered {
    pub settings: ConnectorSettings,
    pub connector: Arc<dyn Connector>,
}

/// The configured connectors, their outbox and their workers.
pub struct ConnectorService {
    pub(super) connectors: BTreeMap<String, Registered>,
    secrets: Secrets,
    pub(super) outbox: Outbox,
    audit: Arc<AuditLog>,
    template: NoteTemplate,
    /// Each triaged ticket goes into the console's review queue.
    review: crate::review::ReviewQueue,
    /// Set once the model and store are loaded; workers start then.
    triage: OnceLock<Arc<TriageService>>,
    /// Set with drafting, for connectors with `draft_in_note`.
    drafts: OnceLock<Arc<crate::drafts::DraftService>>,
    pub(super) wake: tokio::sync::Notify,
    /// Set at shutdown: workers finish the job in hand and stop.
    pub(super) closing: std::sync::atomic::AtomicBool,
    /// The running workers, awaited at shutdown.
    pub(super) workers: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// How long shutdown waits for the jobs in hand before abandoning them (they
/// are queued again at the next start, under the same idempotency key).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);

fn connector_for(
    settings: &ConnectorSettings,
    secrets: &Secrets,
) -> Result<Arc<dyn Connector>, String> {
    match settings.kind {
        ConnectorKind::Generic => Ok(Arc::new(GenericConnector::new(settings, secrets)?)),
        ConnectorKind::Helpdesk => Ok(Arc::new(HelpdeskConnector::new(settings, secrets)?)),
        ConnectorKind::Rt => Ok(Arc::new(RtConnector::new(settings, secrets)?)),
        ConnectorKind::Servicenow => Ok(Arc::new(ServiceNowConnector::new(settings, secrets)?)),
        ConnectorKind::Jira => Ok(Arc::new(JiraConnector::new(settings, secrets)?)),
        ConnectorKind::Zendesk => Ok(Arc::new(ZendeskConnector::new(settings, secrets)?)),
        ConnectorKind::Zammad => Ok(Arc::new(ZammadConnector::new(settings, secrets)?)),
    }
}

pub(super) fn count(connector: &str, outcome: &str) {
    global()
        .connector_events
        .get_or_create(&ConnectorLabels {
            connector: connector.to_owned(),
            outcome: outcome.to_owned(),
        })
        .inc();
}

impl ConnectorService {
    /// The connectors in `settings`, their jobs in `pool`, refusals audited into `audit`.
    pub fn new(
        settings: &[ConnectorSettings],
        secrets: Secrets,
        pool: sqlx::AnyPool,
        audit: Arc<AuditLog>,
        template: NoteTemplate,
    ) -> Result<Arc<Self>, String> {
        let mut connectors = BTreeMap::new();
        for entry in settings {
            entry.validate()?;
            let mut entry = entry.clone();
            entry.inbound = entry.kind.with_defaults(&entry.inbound);
            let connector = connector_for(&entry, &secrets)?;
            if connectors
                .insert(
                    entry.name.clone(),
                    Registered {
                        settings: entry.clone(),
                        connector,
                    },
                )
                .is_some()
            {
                return Err(format!(
                    "connectors: the name {:?} is used twice",
                    entry.name
                ));
            }
        }
        Ok(Arc::new(Self {
            connectors,
            secrets,
            review: crate::review::ReviewQueue::new(pool.clone()),
            outbox: Outbox::new(pool),
            audit,
            template,
            triage: OnceLock::new(),
            drafts: OnceLock::new(),
            wake: tokio::sync::Notify::new(),
            closing: std::sync::atomic::AtomicBool::new(false),
            workers: parking_lot::Mutex::new(Vec::new()),
        }))
    }

    /// True when a connector of that name is configured.
    pub fn has(&self, name: &str) -> bool {
        self.connectors.contains_key(name)
    }

    /// Verifies, parses and durably queues a delivery for connector `name`.
    pub async fn accept(&self, name: &str, delivery: &Delivery) -> Result<Accepted, AcceptError> {
        let registered = self
            .connectors
            .get(name)
            .ok_or_else(|| AcceptError::Unknown(name.to_owned()))?;
        let inbound = &registered.settings.inbound;
        if let Err(err) = verify(inbound, &self.secrets, delivery, now_ms() / 1000) {
            count(name, "refused");
            let record = AuditRecord {
                actor: "anonymous",
                action: "connector.delivery_refused",
                subject: name,
                detail: serde_json::json!({ "reason": err.to_string() }),
                ..AuditRecord::default()
            };
            if let Err(e) = self.audit.append(record).await {
                tracing::error!(connector = name, error = %e, "cannot audit a refused delivery");
            }
            tracing::warn!(connector = name, reason = %err, "delivery refused");
            return Err(err.into());
        }
        let ticket = registered
            .connector
            .parse_event(&delivery.body)
            .map_err(|e| {
                count(name, "malformed");
                AcceptError::Malformed(e.to_string())
            })?;
        let fallback = inbound
            .delivery_header
            .as_deref()
            .and_then(|h| delivery.headers.get(&h.to_ascii_lowercase()))
            .map(|id| format!("delivery:{id}"))
            .unwrap_or_else(|| format!("body:{}", hex::encode(Sha256::digest(&delivery.body))));
        Ok(self.queue(name, registered, &ticket, fallback).await?)
    }

    /// Durably queues a job for `ticket` unless it is Switchboard's own write
    /// or the same change was queued before. The same change of a ticket is
    /// one job however often, and under however many delivery ids, it
    /// arrives; a ticket without a revision is keyed by `fallback_key`.
    pub(super) async fn queue(
        &self,
        name: &str,
        registered: &Registered,
        ticket: &ExternalTicket,
        fallback_key: String,
    ) -> Result<Accepted, sqlx::Error> {
        let own_user = registered
            .settings
            .service_user
            .as_ref()
            .is_some_and(|own| ticket.actor.as_deref() == Some(own.as_str()));
        if ticket.own_write || own_user {
            count(name, "ignored");
            return Ok(Accepted::Ignored {
                reason: "caused by Switchboard's own write".to_owned(),
            });
        }
        let dedupe_key = ticket
            .revision
            .as_ref()
            .map_or(fallback_key, |rev| format!("ticket:{}:{rev}", ticket.id));
        let payload = serde_json::json!({ "ticket": ticket, "received_at": now_ms() }).to_string();
        let (job, new) = self
            .outbox
            .enqueue(name, &dedupe_key, &ticket.id, &payload)
            .await?;
        if new {
            count(name, "queued");
            tracing::info!(connector = name, ticket = %ticket.id, job = %job, "event queued");
            self.wake.notify_waiters();
            Ok(Accepted::Queued { job })
        } else {
            count(name, "duplicate");
            Ok(Accepted::Duplicate { job })
        }
    }

    /// Lets connectors with `draft_in_note` put drafts into their notes.
    pub fn set_drafts(&self, drafts: Arc<crate::drafts::DraftService>) {
        let _ = self.drafts.set(drafts);
    }

    /// The draft for a connector's note: only with `draft_in_note`, only for
    /// a remembered ticket, and only a written one. A failing backend leaves
    /// the draft out of the note (logged), never the write-back.
    async fn draft_for_note(
        &self,
        settings: &ConnectorSettings,
        triaged: &crate::triage::Triage,
        caller: &Caller,
    ) -> Option<crate::drafts::Draft> {
        if !settings.draft_in_note || !triaged.remembered {
            return None;
        }
        let drafts = self.drafts.get()?;
        let ticket_id = triaged.ticket_id.as_deref()?;
        match drafts.process_draft(ticket_id, &caller.name, None).await {
            Ok(draft) if draft.status == crate::drafts::DraftStatus::Drafted => Some(draft),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(connector = %settings.name, ticket = %ticket_id, error = %err, "no draft for the note");
                None
            }
        }
    }

    /// Hands the loaded triage service over and starts the workers and the
    /// pollers of connectors without events (once).
    /// Jobs a stopped process left running are queued again first.
    pub async fn start(self: &Arc<Self>, triage: Arc<TriageService>) -> Result<(), sqlx::Error> {
        if self.triage.set(triage).is_err() {
            return Ok(());
        }
        let recovered = self.outbox.recover().await?;
        if recovered > 0 {
            tracing::warn!(
                jobs = recovered,
                "connector jobs a stopped process left running are queued again"
            );
        }
        let mut workers = self.workers.lock();
        for _ in 0..WORKERS {
            let service = Arc::clone(self);
            workers.push(tokio::spawn(async move { service.work().await }));
        }
        for (name, registered) in &self.connectors {
            if registered.settings.poll_interval_s > 0 {
                let service = Arc::clone(self);
                let every = Duration::from_secs(registered.settings.poll_interval_s);
                let name = name.clone();
                workers.push(tokio::spawn(async move { service.poll(name, every).await }));
            }
        }
        Ok(())
    }

    /// Stops the workers: each finishes the job in hand (for up to 15 s; an
    /// abandoned one is queued again at the next start) and returns.
    pub async fn shutdown(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_waiters();
        let workers = std::mem::take(&mut *self.workers.lock());
        for worker in workers {
            let abort = worker.abort_handle();
            if tokio::time::timeout(SHUTDOWN_WAIT, worker).await.is_err() {
                abort.abort();
            }
        }
    }

    async fn work(self: Arc<Self>) {
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.closing.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            match self.outbox.take().await {
                Ok(Some(job)) => {
                    self.run(job).await;
                    continue;
                }
                Ok(None) => {}
                Err(err) => tracing::error!(error = %err, "cannot take a connector job"),
            }
            let wait = match self.outbox.next_due().await {
                Ok(Some(due)) => {
                    Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0)).min(IDLE_POLL)
                }
                _ => IDLE_POLL,
            };
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One attempt at a job; its outcome recorded in the outbox.
    async fn run(&self, job: TakenJob) {
        let Some(registered) = self.connectors.get(&job.connector) else {
            let _ = self
                .outbox
                .fail(&job.id, "the connector is no longer configured", None)
                .await;
            return;
        };
        let outcome = self.attempt(registered, &job).await;
        let name = job.connector.as_str();
        let recorded = match outcome {
            Ok(result) => {
                count(name, "done");
                self.outbox
                    .finish(&job.id, &result)
                    .await
                    .map(|()| JobState::Done)
            }
            Err(ConnectorError::Transient {
                message,
                retry_after,
            }) if job.attempts < i64::from(registered.settings.max_attempts) => {
                count(name, "retry");
                let delay = retry_after.unwrap_or_else(|| {
                    backoff(
                        job.attempts,
                        Duration::from_secs(registered.settings.retry_max_s),
                    )
                });
                tracing::warn!(connector = name, job = %job.id, attempts = job.attempts, error = %message, retry_in_ms = delay.as_millis() as u64, "connector job failed; will retry");
                self.outbox.fail(&job.id, &message, Some(delay)).await
            }
            Err(err) => {
                count(name, "dead");
                tracing::error!(connector = name, job = %job.id, attempts = job.attempts, error = %err, "connector job is dead");
                self.outbox.fail(&job.id, &err.to_string(), None).await
            }
        };
        if let Err(err) = recorded {
            tracing::error!(job = %job.id, error = %err, "cannot record a connector job's outcome");
        }
    }

    async fn attempt(
        &self,
        registered: &Registered,
        job: &TakenJob,
    ) -> Result<serde_json::Value, ConnectorError> {
        let payload: serde_json::Value = serde_json::from_str(&job.payload)
            .map_err(|e| ConnectorError::Permanent(format!("stored job is corrupt: {e}")))?;
        let event: ExternalTicket = serde_json::from_value(payload["ticket"].clone())
            .map_err(|e| ConnectorError::Permanent(format!("stored job is corrupt: {e}")))?;
        let received_at = payload["received_at"].as_i64().unwrap_or_else(now_ms);
        let settings = &registered.settings;
        let ticket = registered.connector.fetch(&event).await?;
        if settings.service_user.is_some() && ticket.actor == settings.service_user {
            return Ok(serde_json::json!({ "ignored": "the last change is Switchboard's own" }));
        }
        let triage = self.triage.get().ok_or_else(|| ConnectorError::Transient {
            message: "the model is still loading".into(),
            retry_after: None,
        })?;
        let caller = Caller {
            name: format!("connector:{}", settings.name),
            role: Role::Agent,
        };
        let ticket_id = format!("{}:{}", settings.name, ticket.id);
        if ticket.resolved {
            return learn_from_closure(triage, settings, &ticket, &ticket_id, &caller).await;
        }
        let received = NewTicket {
            id: Some(ticket_id),
            title: ticket.title.clone(),
            description: ticket.description.clone(),
            ..NewTicket::default()
        };
        let new = triage.scrub_ticket(&received);
        let (original, original_retention_ms) = triage.kept_original(&received, &new);
        drop(received);
        let triaged = triage
            .triage(&new, Some(&caller))
            .await
            .map_err(triage_error)?;
        let draft = self.draft_for_note(settings, &triaged, &caller).await;
        let (update, outcomes) = plan_update(
            settings,
            &ticket,
            &triaged,
            draft.as_ref(),
            &self.template,
            &job.id,
        )
        .map_err(|e| ConnectorError::Permanent(format!("the note template failed: {e}")))?;
        crate::crash::point("connector.before_write_back");
        registered
            .connector
            .write_back(&ticket, &update, &job.id)
            .await?;
        crate::crash::point("connector.after_write_back");
        global()
            .connector_latency
            .get_or_create(&ConnectorName {
                connector: settings.name.clone(),
            })
            .observe((now_ms() - received_at).max(0) as f64 / 1000.0);
        tracing::info!(connector = %settings.name, ticket = %ticket.id, job = %job.id, written = ?update.fields, review = update.review, "written back");
        let record = crate::review::TriageRecord {
            source: format!("connector:{}", settings.name),
            title: &new.title,
            description: &new.description,
            triage: &triaged,
            applied: update.fields.clone(),
            review: update.review,
            triaged_by: &caller.name,
            original,
            original_retention_ms,
        };
        if let Err(e) = self.review.record(record).await {
            tracing::warn!(connector = %settings.name, ticket = %ticket.id, error = %e, "cannot add the ticket to the review queue");
        }
        Ok(
            serde_json::json!({ "fields": outcomes, "written": update.fields, "review": update.review }),
        )
    }

    /// A connector's jobs, newest first (at most 500).
    pub async fn jobs(&self, name: &str, state: Option<JobState>) -> Result<Vec<Job>, sqlx::Error> {
        self.outbox.list(name, state).await
    }

    /// Queues a dead job again; false if there is no such dead job.
    pub async fn requeue(&self, name: &str, id: &str) -> Result<bool, sqlx::Error> {
        let requeued = self.outbox.requeue(name, id).await?;
        if requeued {
            self.wake.notify_waiters();
        }
        Ok(requeued)
    }

    /// Jobs per connector and state, into the metrics (at scrape time).
    pub async fn refresh_metrics(&self) -> Result<(), sqlx::Error> {
        let jobs = &global().connector_jobs;
        jobs.clear();
        for (connector, state, n) in self.outbox.counts().await? {
            jobs.get_or_create(&crate::metrics::ConnectorJobLabels { connector, state })
                .set(n);
        }
        Ok(())
    }
}

/// A triage failure as a connector job sees it: load and loading pass, the rest stays.
fn triage_error(err: TriageError) -> ConnectorError {
    match err {
        TriageError::Embed(_) => ConnectorError::Transient {
            message: err.to_string(),
            retry_after: None,
        },
        other => ConnectorError::Permanent(other.to_string()),
    }
}

/// A resolved ticket becomes a stored incident with its final labels and
/// resolution; where it was triaged before, each final label is also feedback
/// (a change when it differs from the suggestion), so reassignments made in the
/// ticketing system count in the statistics.
async fn learn_from_closure(
    triage: &TriageService,
    settings: &ConnectorSettings,
    ticket: &ExternalTicket,
    ticket_id: &str,
    caller: &Caller,
) -> Result<serde_json::Value, ConnectorError> {
    let labels = final_labels(settings, ticket);
    let mut corrected = Vec::new();
    for (field, label) in &labels {
        let feedback = LabelFeedback {
            field: field.clone(),
            label: label.clone(),
            agent: caller.name.clone(),
        };
        match triage.feedback(ticket_id, feedback, &caller.name).await {
            Ok(receipt) if receipt.changed => corrected.push(field.clone()),
            Ok(_) | Err(TriageError::NotFound(_)) => {}
            Err(err) => return Err(triage_error(err)),
        }
    }
    let incident = Incident {
        id: ticket_id.to_owned(),
        title: ticket.title.clone(),
        description: ticket.description.clone(),
        resolution: ticket.resolution.clone(),
        labels: labels.clone(),
        ..Incident::default()
    }
    .without_blank_labels();
    triage
        .store_incidents(vec![incident])
        .await
        .map_err(triage_error)?;
    tracing::info!(connector = %settings.name, ticket = %ticket.id, ?corrected, "closed ticket stored as an incident");
    Ok(serde_json::json!({ "learned": labels, "corrected": corrected }))
}

/// The labels a ticket ended with: each configured field's value in the
/// system, mapped back to its label (values the map does not know are left out).
pub(super) fn final_labels(
    settings: &ConnectorSettings,
    ticket: &ExternalTicket,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for (field, policy) in &settings.fields {
        let target = policy.target.as_deref().unwrap_or(field);
        let Some(value) = ticket.fields.get(target).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let label = if policy.map.is_empty() {
            Some(value.clone())
        } else {
            policy
                .map
                .iter()
                .find(|(_, v)| *v == value)
                .map(|(label, _)| label.clone())
        };
        if let Some(label) = label {
            labels.insert(field.clone(), label);
        }
    }
    labels
}
