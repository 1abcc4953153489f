//! [`ConnectorService`]: the configured connectors and their outbox. It
//! accepts deliveries (verify, parse, de-duplicate, queue durably) and
//! administers jobs; running them is `worker.rs`'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::generic::GenericConnector;
use super::helpdesk::HelpdeskConnector;
use super::inbound::{Delivery, InboundError, verify};
use super::jira::JiraConnector;
use super::outbox::{Job, JobState, Outbox};
use super::rt::RtConnector;
use super::servicenow::ServiceNowConnector;
use super::settings::{ConnectorKind, ConnectorSettings};
use super::writeback::NoteTemplate;
use super::zammad::ZammadConnector;
use super::zendesk::ZendeskConnector;
use super::{Connector, ExternalTicket};
use crate::domain::Scrubber;
use crate::infra::audit::AuditLog;
use crate::infra::clock::SharedClock;
use crate::infra::secrets::Secrets;
use crate::metrics::{ConnectorLabels, global};

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
    pub(super) template: NoteTemplate,
    /// Scrubs a ticket's text before its job is stored.
    scrubber: Scrubber,
    /// Indexes the addresses a ticket mentioned (keyed hashes), for erasure.
    subjects: crate::infra::subjects::SubjectIndex,
    pub(super) wake: tokio::sync::Notify,
    /// Set at shutdown: workers and pollers finish what is in hand and stop.
    pub(super) closing: std::sync::atomic::AtomicBool,
    /// History imports run by this server, by connector.
    pub(super) imports: parking_lot::Mutex<BTreeMap<String, super::import_state::ImportProgress>>,
}

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
    /// The connectors in `settings`, their jobs in `pool` (due on `clock`),
    /// refusals audited into `audit`.
    pub fn new(
        settings: &[ConnectorSettings],
        secrets: Secrets,
        pool: sqlx::AnyPool,
        audit: Arc<AuditLog>,
        template: NoteTemplate,
        clock: SharedClock,
        scrubber: Scrubber,
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
            subjects: crate::infra::subjects::SubjectIndex::new(pool.clone(), audit.key()),
            outbox: Outbox::new(pool, clock),
            audit,
            template,
            scrubber,
            wake: tokio::sync::Notify::new(),
            closing: std::sync::atomic::AtomicBool::new(false),
            imports: parking_lot::Mutex::new(BTreeMap::new()),
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
        if let Err(err) = verify(
            inbound,
            &self.secrets,
            delivery,
            self.outbox.clock().now_ms() / 1000,
        ) {
            count(name, "refused");
            self.audit
                .refused(
                    &format!("connector:{name}"),
                    "connector.delivery_refused",
                    name,
                    serde_json::json!({ "reason": err.to_string() }),
                )
                .await;
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
        // Every address anywhere in what was received (a requester's field
        // the connector does not parse included) is indexed for erasure.
        let addresses = Scrubber::email_addresses(&String::from_utf8_lossy(&delivery.body));
        Ok(self
            .queue(name, registered, &ticket, fallback, addresses)
            .await?)
    }

    /// Durably queues a job for `ticket` unless it is Switchboard's own write
    /// or the same change was queued before. The same change of a ticket is
    /// one job however often, and under however many delivery ids, it
    /// arrives; a ticket without a revision is keyed by `fallback_key`.
    /// `addresses` (found in what was received beyond `ticket`) and those in
    /// `ticket` are indexed for erasure before the job is stored.
    pub(super) async fn queue(
        &self,
        name: &str,
        registered: &Registered,
        ticket: &ExternalTicket,
        fallback_key: String,
        mut addresses: Vec<String>,
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
        // Nothing of the ticket's text is stored before it is scrubbed; the
        // addresses in it are indexed (keyed hashes) for erasure first.
        for text in [&ticket.title, &ticket.description]
            .into_iter()
            .chain(ticket.resolution.as_ref())
            .chain(ticket.fields.values())
        {
            addresses.extend(Scrubber::email_addresses(text));
        }
        addresses.sort();
        addresses.dedup();
        self.subjects
            .record(
                &format!("{name}:{}", ticket.id),
                &addresses,
                self.outbox.clock().now_ms(),
            )
            .await?;
        let kept = ExternalTicket {
            title: self.scrubber.scrub(&ticket.title),
            description: self.scrubber.scrub(&ticket.description),
            resolution: ticket.resolution.as_deref().map(|r| self.scrubber.scrub(r)),
            ..ticket.clone()
        };
        let payload =
            serde_json::json!({ "ticket": kept, "received_at": self.outbox.clock().now_ms() })
                .to_string();
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
