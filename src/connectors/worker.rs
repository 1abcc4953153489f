//! [`ConnectorWorkers`]: run the queued jobs. Each job fetches its ticket,
//! ignores Switchboard's own writes, learns from a closed ticket or sends an
//! open one through the triage desk and writes back what its fields'
//! policies allow, with the job id as the idempotency key. Failed attempts
//! are retried with back-off on the service's clock; jobs that keep failing
//! end `dead`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::outbox::{JobState, TakenJob, backoff};
use super::service::{ConnectorService, Registered, count, final_labels};
use super::settings::ConnectorSettings;
use super::writeback::plan_update;
use super::{ConnectorError, ExternalTicket, write_back};
use crate::auth::{Caller, Role};
use crate::desk::{Arrived, Source, TriageDesk};
use crate::domain::{Incident, LabelFeedback, NewTicket};
use crate::metrics::{ConnectorName, global};
use crate::triage::{TriageError, TriageService};

/// Workers running jobs at once.
const WORKERS: usize = 2;
/// Longest a worker waits before looking for due jobs again (jobs queued by
/// another replica are seen within this).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long shutdown waits for the jobs in hand before abandoning them (they
/// are queued again at the next start, under the same idempotency key).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);

/// The running job workers and pollers of one [`ConnectorService`].
pub struct ConnectorWorkers {
    service: Arc<ConnectorService>,
    /// Awaited at shutdown.
    handles: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What one worker needs: the connectors and the desk tickets go through.
struct Worker {
    service: Arc<ConnectorService>,
    desk: Arc<TriageDesk>,
}

impl ConnectorWorkers {
    /// Queues again the jobs a stopped process left running, then starts the
    /// workers, the pollers of connectors without events and the catch-up
    /// of connectors with them.
    pub async fn start(
        service: Arc<ConnectorService>,
        desk: Arc<TriageDesk>,
    ) -> Result<Self, sqlx::Error> {
        let recovered = service.outbox.recover().await?;
        if recovered > 0 {
            tracing::warn!(
                jobs = recovered,
                "connector jobs a stopped process left running are queued again"
            );
        }
        let mut handles = Vec::new();
        for _ in 0..WORKERS {
            let worker = Worker {
                service: Arc::clone(&service),
                desk: Arc::clone(&desk),
            };
            handles.push(tokio::spawn(async move { worker.work().await }));
        }
        for (name, registered) in &service.connectors {
            let settings = &registered.settings;
            // A system without events is polled; one with events is caught up
            // on (at start, then every `reconcile_interval_s`) where it can
            // list its changes.
            let every = if settings.poll_interval_s > 0 {
                settings.poll_interval_s
            } else if registered.connector.lists_changes() {
                settings.reconcile_interval_s
            } else {
                if settings.reconcile_interval_s > 0 {
                    tracing::info!(connector = %name, "this connector cannot list its changes (its kind, or no service_user to tell its own writes by): events missed while Switchboard is down are not caught up");
                }
                0
            };
            if every > 0 {
                let polling = Arc::clone(&service);
                let name = name.clone();
                handles.push(tokio::spawn(async move {
                    polling.poll(name, Duration::from_secs(every)).await
                }));
            }
        }
        Ok(Self {
            service,
            handles: parking_lot::Mutex::new(handles),
        })
    }

    /// Stops the workers: each finishes the job in hand (for up to 15 s; an
    /// abandoned one is queued again at the next start) and returns.
    pub async fn shutdown(&self) {
        self.service.closing.store(true, Ordering::SeqCst);
        self.service.wake.notify_waiters();
        let handles = std::mem::take(&mut *self.handles.lock());
        for handle in handles {
            let abort = handle.abort_handle();
            if tokio::time::timeout(SHUTDOWN_WAIT, handle).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Worker {
    async fn work(self) {
        let outbox = &self.service.outbox;
        loop {
            let woken = self.service.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.service.closing.load(Ordering::SeqCst) {
                return;
            }
            match outbox.take().await {
                Ok(Some(job)) => {
                    self.run(job).await;
                    continue;
                }
                Ok(None) => {}
                Err(err) => tracing::error!(error = %err, "cannot take a connector job"),
            }
            let clock = outbox.clock();
            // A job due later wakes this worker on the clock (a test's clock
            // when it moves); new jobs wake it at once; other replicas' jobs
            // are seen within IDLE_POLL of real time.
            let due = match outbox.next_due().await {
                Ok(Some(due)) => Some(Duration::from_millis(
                    u64::try_from(due - clock.now_ms()).unwrap_or(0),
                )),
                _ => None,
            };
            let due = async {
                match due {
                    Some(wait) => clock.sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut woken => {}
                () = due => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }

    /// One attempt at a job; its outcome recorded in the outbox.
    async fn run(&self, job: TakenJob) {
        let outbox = &self.service.outbox;
        let Some(registered) = self.service.connectors.get(&job.connector) else {
            let _ = outbox
                .fail(&job.id, "the connector is no longer configured", None)
                .await;
            return;
        };
        // No answer is retried like a transient failure. A job embeds in the
        // model queue's reserved lane: API callers cannot crowd it out.
        let attempt = crate::embed::in_reserved_lane(self.attempt(registered, &job)).await;
        let outcome = match attempt {
            Err(ConnectorError::Unreachable(message)) => Err(ConnectorError::Transient {
                message,
                retry_after: None,
            }),
            other => other,
        };
        let name = job.connector.as_str();
        let recorded = match outcome {
            Ok(result) => {
                count(name, "done");
                outbox
                    .finish(&job.id, &result)
                    .await
                    .map(|()| JobState::Done)
            }
            Err(ConnectorError::Busy {
                message,
                retry_after,
            }) => {
                count(name, "postponed");
                tracing::info!(connector = name, job = %job.id, reason = %message, retry_in_ms = retry_after.as_millis() as u64, "Switchboard is busy; the job waits without losing an attempt");
                outbox.postpone(&job.id, &message, retry_after).await
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
                outbox.fail(&job.id, &message, Some(delay)).await
            }
            Err(err) => {
                count(name, "dead");
                tracing::error!(connector = name, job = %job.id, attempts = job.attempts, error = %err, "connector job is dead");
                outbox.fail(&job.id, &err.to_string(), None).await
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
        let clock = self.service.outbox.clock();
        let received_at = payload["received_at"]
            .as_i64()
            .unwrap_or_else(|| clock.now_ms());
        let settings = &registered.settings;
        let ticket = registered.connector.fetch(&event).await?;
        if settings.service_user.is_some() && ticket.actor == settings.service_user {
            return Ok(serde_json::json!({ "ignored": "the last change is Switchboard's own" }));
        }
        let caller = Caller {
            name: format!("connector:{}", settings.name),
            role: Role::Agent,
        };
        let ticket_id = format!("{}:{}", settings.name, ticket.id);
        if ticket.resolved {
            let learned = learn_from_closure(
                self.desk.triage_service(),
                settings,
                &ticket,
                &ticket_id,
                &caller,
            )
            .await?;
            self.desk.process_resolved(&ticket_id).await;
            return Ok(learned);
        }
        let received = NewTicket {
            id: Some(ticket_id),
            title: ticket.title.clone(),
            description: ticket.description.clone(),
            ..NewTicket::default()
        };
        let source = Source {
            name: format!("connector:{}", settings.name),
            caller: Some(&caller),
        };
        let arrived = self
            .desk
            .process_arrival(received, &source)
            .await
            .map_err(triage_error)?;
        let draft = self.draft_for_note(settings, &arrived, &caller).await;
        let outbox = &self.service.outbox;
        let first_triage = outbox
            .first_triage(&settings.name, &ticket.id)
            .await
            .map_err(database_error)?;
        let (update, outcomes) = plan_update(
            settings,
            &ticket,
            &arrived.triage,
            draft
                .as_ref()
                .filter(|d| d.status == crate::drafts::DraftStatus::Drafted),
            &self.service.template,
            &job.id,
            first_triage,
        )
        .map_err(|e| ConnectorError::Permanent(format!("the note template failed: {e}")))?;
        crate::infra::crash::point("connector.before_write_back");
        write_back(registered.connector.as_ref(), &ticket, &update, &job.id).await?;
        crate::infra::crash::point("connector.after_write_back");
        // A crash before this is a first triage again: its write-back is
        // recognised by the job's marker and not repeated.
        outbox
            .mark_written(&settings.name, &ticket.id)
            .await
            .map_err(database_error)?;
        global()
            .connector_latency
            .get_or_create(&ConnectorName {
                connector: settings.name.clone(),
            })
            .observe((clock.now_ms() - received_at).max(0) as f64 / 1000.0);
        tracing::info!(connector = %settings.name, ticket = %ticket.id, job = %job.id, written = ?update.fields, review = update.review, "written back");
        // After the write-back: the ticketing system has its answer.
        if let Some(draft) = draft
            && let Err(err) = self.desk.process_keep_draft(draft).await
        {
            tracing::warn!(connector = %settings.name, ticket = %ticket.id, error = %err, "cannot store the note's draft");
        }
        self.desk
            .process_record(&arrived, &caller, update.fields.clone(), update.review)
            .await;
        Ok(
            serde_json::json!({ "fields": outcomes, "written": update.fields, "review": update.review }),
        )
    }

    /// The draft for a connector's note: only with `draft_in_note` and only
    /// for a remembered ticket, from the retrieval the ticket's triage made
    /// (only a written one goes into the note; each is stored after the
    /// write-back). A failing backend leaves the draft out of the note
    /// (logged), never the write-back.
    async fn draft_for_note(
        &self,
        settings: &ConnectorSettings,
        arrived: &Arrived,
        caller: &Caller,
    ) -> Option<crate::drafts::Draft> {
        if !settings.draft_in_note {
            return None;
        }
        match self.desk.process_draft(arrived, caller).await {
            Ok(draft) => draft,
            Err(err) => {
                tracing::warn!(connector = %settings.name, ticket = ?arrived.triage.ticket_id, error = %err, "no draft for the note");
                None
            }
        }
    }
}
/// The state database failing under a job: tried again later.
fn database_error(err: sqlx::Error) -> ConnectorError {
    ConnectorError::Transient {
        message: format!("state database: {err}"),
        retry_after: None,
    }
}

/// How long a job waits while Switchboard's model queue is full or loading.
const BUSY_WAIT: Duration = Duration::from_secs(2);

/// A triage failure as a connector job sees it: a full model queue and
/// loading are Switchboard being busy (no attempt lost), a failed model is
/// tried again later, the rest stays.
fn triage_error(err: TriageError) -> ConnectorError {
    use crate::embed::EmbedError;
    match err {
        TriageError::Embed(EmbedError::Overloaded | EmbedError::Unavailable) => {
            ConnectorError::Busy {
                message: err.to_string(),
                retry_after: BUSY_WAIT,
            }
        }
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
