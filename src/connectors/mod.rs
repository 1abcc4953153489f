//! Ticketing-system connectors: events in, triage, write-back out, learning
//! from closure. Triage code never sees a vendor's JSON: each system's
//! [`Connector`] turns its events and tickets into [`ExternalTicket`]s and a
//! [`TicketUpdate`] into its own calls.
//!
//! - `settings`: `[[connectors]]` (credentials by secret name, inbound
//!   authentication, write-back policy and label mapping per field).
//! - `inbound`: signature and token checks of deliveries.
//! - `outbox`: the durable job table (state, attempts, back-off, dead jobs).
//! - `writeback`: policy, mapping and the internal note (`prompts/connector_note.md`).
//! - `service`: [`ConnectorService`]: accept an event, queue it, list and requeue jobs.
//! - `worker`: [`ConnectorWorkers`]: run jobs through the triage desk
//!   (`crate::desk`), write back, retry on the clock.
//! - `client`: what every connector's HTTP calls share.
//! - `generic`: the `generic` connector (JSON pointers in, one request out).
//! - `helpdesk`: django-helpdesk (its webhooks in, its REST API out).
//! - `rt`: Request Tracker 5 (polled transactions in, REST2 out).
//! - `servicenow`, `jira`, `zendesk`, `zammad`: those systems' webhooks in,
//!   their REST APIs out.
//! - `json`: reading vendors' JSON, and the job marker notes carry.
//! - `poll`: the poller of connectors without events.
//! - `import`: history import of resolved tickets, here or in a running
//!   server's background (`import_state`: its progress).
//! - `check`: `connector check` (credentials and mapping against the system).

mod check;
mod client;
mod generic;
mod helpdesk;
mod import;
mod import_state;
mod inbound;
mod jira;
mod json;
mod outbox;
mod poll;
mod rt;
mod service;
mod servicenow;
mod settings;
mod worker;
mod writeback;
mod zammad;
mod zendesk;

use std::collections::BTreeMap;
use std::time::Duration;

pub use check::{CheckFinding, CheckLevel};
pub use import_state::{ImportProgress, ImportReport, ImportState, StartImportError};
pub use inbound::{Delivery, InboundError};
pub use outbox::{Job, JobState, Outbox as JobTable};
pub use service::{AcceptError, Accepted, ConnectorService};
pub use settings::{
    AuthScheme, ConnectorKind, ConnectorSettings, FieldPolicy, GenericRequest, GenericSettings,
    InboundSettings, WriteMode,
};
pub use worker::ConnectorWorkers;
pub use writeback::{NoteTemplate, TicketUpdate};

/// A ticket as Switchboard needs it from any ticketing system.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExternalTicket {
    /// The system's id.
    pub id: String,
    /// Short description.
    pub title: String,
    /// Body text.
    pub description: String,
    /// A revision or update time: the same id and revision is the same change.
    pub revision: Option<String>,
    /// Who caused the event (to ignore Switchboard's own writes).
    pub actor: Option<String>,
    /// True when the event is Switchboard's own write coming back (recognised
    /// by the note's `switchboard-job:` marker).
    #[serde(default)]
    pub own_write: bool,
    /// True once the ticket is resolved or closed.
    pub resolved: bool,
    /// How it was resolved, when it is.
    pub resolution: Option<String>,
    /// The system's current field values, by the system's field name.
    pub fields: BTreeMap<String, String>,
}

/// What a connector can fail at.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The system could not be reached, timed out, or answered 5xx / 429: try
    /// again, after `retry_after` when the system said so.
    #[error("{message}")]
    Transient {
        /// What happened.
        message: String,
        /// The system's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Switchboard itself is busy (its model queue is full, or it is still
    /// loading): not the job's fault, so the attempt is given back and the
    /// job waits `retry_after`.
    #[error("{message}")]
    Busy {
        /// What was busy.
        message: String,
        /// How long to wait.
        retry_after: Duration,
    },
    /// The system refused the request (an HTTP status 4xx other than 429):
    /// retrying the same request will not help.
    #[error("{message}")]
    Rejected {
        /// The HTTP status it answered.
        status: u16,
        /// What was asked and the status, as shown in job errors.
        message: String,
    },
    /// The request or the system's answer cannot be used (a value the
    /// system has no field for, an answer that is not what its API
    /// documents): retrying will not help.
    #[error("{0}")]
    Permanent(String),
    /// No answer at all: the host or port could not be reached, its
    /// certificate was refused, the call timed out, or the URL is not one.
    /// Retried like [`ConnectorError::Transient`]; `connector check` says
    /// "cannot reach" rather than blaming the credentials.
    #[error("{0}")]
    Unreachable(String),
}

impl ConnectorError {
    /// The error for an HTTP answer that is not a success.
    pub fn from_status(
        status: reqwest::StatusCode,
        retry_after: Option<Duration>,
        what: &str,
    ) -> Self {
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Self::Transient {
                message: format!("{what}: HTTP {status}"),
                retry_after,
            }
        } else {
            Self::Rejected {
                status: status.as_u16(),
                message: format!("{what}: HTTP {status}"),
            }
        }
    }

    /// The error for a request that did not get an answer. A refused
    /// certificate names the host and what was wrong with it; it is retried
    /// like any unreachable system (a desk may be fixing its CA), then dead.
    pub fn from_request(err: &reqwest::Error, what: &str) -> Self {
        let cause = if err.is_timeout() {
            "timed out".to_owned()
        } else if let Some(tls) = crate::infra::tls::describe_failure(err) {
            tls
        } else {
            err.without_url_string()
        };
        Self::Unreachable(format!("{what}: {cause}"))
    }

    /// Whether the system refused Switchboard's credentials (401 or 403).
    pub fn is_refused_credentials(&self) -> bool {
        matches!(
            self,
            Self::Rejected {
                status: 401 | 403,
                ..
            }
        )
    }
}

/// The error text of a reqwest error without its URL (which may carry a token).
trait WithoutUrl {
    fn without_url_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_string(&self) -> String {
        let mut message = String::new();
        let mut source: Option<&(dyn std::error::Error + 'static)> =
            std::error::Error::source(self);
        while let Some(err) = source {
            message = err.to_string();
            source = err.source();
        }
        if message.is_empty() {
            "the request failed".to_owned()
        } else {
            message
        }
    }
}

/// Writes `update` back to `ticket` once per job, whatever the system: a
/// job whose marked note is on the ticket already has written everything
/// (the note goes last), so it writes nothing; otherwise the fields, then
/// the note with the job's marker line. `idempotency_key` is the job id.
pub async fn write_back(
    connector: &dyn Connector,
    ticket: &ExternalTicket,
    update: &TicketUpdate,
    idempotency_key: &str,
) -> Result<(), ConnectorError> {
    if connector.already_written(ticket, idempotency_key).await? {
        return Ok(());
    }
    let note = json::with_marker(&update.note, idempotency_key);
    connector
        .apply(ticket, update, &note, idempotency_key)
        .await
}

/// What every ticketing system implements.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// The ticket a verified delivery is about, as far as the event tells.
    fn parse_event(&self, body: &[u8]) -> Result<ExternalTicket, ConnectorError>;

    /// The ticket as the system has it now. `event` is what the delivery said
    /// (systems whose events carry the whole ticket return it as it is).
    async fn fetch(&self, event: &ExternalTicket) -> Result<ExternalTicket, ConnectorError>;

    /// Whether the job with `idempotency_key` has written to `ticket`
    /// already: its note, which goes last and carries the job's marker line
    /// (`json::has_marker`), is on the ticket. The default (never) is for
    /// systems that dedupe by the key themselves. The protocol around it is
    /// [`write_back`], the same for every connector.
    async fn already_written(
        &self,
        ticket: &ExternalTicket,
        idempotency_key: &str,
    ) -> Result<bool, ConnectorError> {
        let _ = (ticket, idempotency_key);
        Ok(false)
    }

    /// Applies `update`'s field changes, then adds `note` (the update's note
    /// with the job's marker line) as an internal note, last.
    /// `idempotency_key` is the job's, for systems that dedupe by it.
    async fn apply(
        &self,
        ticket: &ExternalTicket,
        update: &TicketUpdate,
        note: &str,
        idempotency_key: &str,
    ) -> Result<(), ConnectorError>;

    /// One page of resolved tickets for history import, from `cursor` (`None`:
    /// the first page), only those resolved or updated since `since` (Unix
    /// seconds) when given. Systems that cannot list tickets say so.
    async fn resolved_page(
        &self,
        cursor: Option<&str>,
        since: Option<i64>,
    ) -> Result<Page, ConnectorError> {
        let _ = (cursor, since);
        Err(ConnectorError::Permanent(
            "this connector cannot list resolved tickets: import its history from a CSV or JSON export with `switchboard ingest incidents`".into(),
        ))
    }

    /// A read-only call that proves the system is reachable and the
    /// credentials work; says who Switchboard is there (`connector check`).
    async fn whoami(&self) -> Result<String, ConnectorError> {
        Err(ConnectorError::Permanent(
            "this connector has no read call to check with".into(),
        ))
    }

    /// Whether `value` exists in the system as a value of `field` (a queue,
    /// group, user, priority...): `None` where the connector cannot tell.
    async fn value_exists(&self, field: &str, value: &str) -> Result<Option<bool>, ConnectorError> {
        let _ = (field, value);
        Ok(None)
    }

    /// Whether [`Connector::changes`] works: the system is polled (it sends
    /// no events) or its missed events can be caught up on.
    fn lists_changes(&self) -> bool {
        false
    }

    /// The tickets opened or changed after `cursor`, each with the revision
    /// (and actor) its event has or would have had, and the cursor to ask
    /// from next: for systems that send no events, and for catching up on
    /// the events a system that sends them could not deliver. `None`
    /// starts from now: history is `import`'s job. Asking twice from the
    /// same cursor gives the same tickets with the same revisions, so a poll
    /// interrupted before its cursor was saved queues nothing twice, and an
    /// event that did arrive is a duplicate of its catch-up.
    async fn changes(&self, cursor: Option<&str>) -> Result<Changes, ConnectorError> {
        let _ = cursor;
        Err(ConnectorError::Permanent(
            "this connector receives events; it is not polled".into(),
        ))
    }
}

/// What a poll found.
#[derive(Debug, Default)]
pub struct Changes {
    /// Tickets to queue a job for (id, revision, actor and `own_write` set).
    pub tickets: Vec<ExternalTicket>,
    /// Where the next poll starts.
    pub cursor: String,
    /// True when there is more after `cursor` already.
    pub more: bool,
}

/// A page of tickets and where the next one starts.
#[derive(Debug, Default)]
pub struct Page {
    /// The tickets.
    pub tickets: Vec<ExternalTicket>,
    /// The cursor of the next page; `None` after the last.
    pub next: Option<String>,
    /// How many tickets there are in all, when the system says.
    pub total: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A system that remembers the notes written to it.
    #[derive(Default)]
    struct Notes(parking_lot::Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl Connector for Notes {
        fn parse_event(&self, _: &[u8]) -> Result<ExternalTicket, ConnectorError> {
            unreachable!("not delivered to")
        }

        async fn fetch(&self, event: &ExternalTicket) -> Result<ExternalTicket, ConnectorError> {
            Ok(event.clone())
        }

        async fn already_written(
            &self,
            _: &ExternalTicket,
            key: &str,
        ) -> Result<bool, ConnectorError> {
            Ok(self.0.lock().iter().any(|n| json::has_marker(n, Some(key))))
        }

        async fn apply(
            &self,
            _: &ExternalTicket,
            _: &TicketUpdate,
            note: &str,
            _: &str,
        ) -> Result<(), ConnectorError> {
            self.0.lock().push(note.to_owned());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_job_writes_its_marked_note_once_however_often_it_runs() {
        let system = Notes::default();
        let ticket = ExternalTicket::default();
        let update = TicketUpdate {
            note: "Suggested: Network".into(),
            ..TicketUpdate::default()
        };
        for _ in 0..3 {
            write_back(&system, &ticket, &update, "job-1")
                .await
                .unwrap();
        }
        write_back(&system, &ticket, &update, "job-2")
            .await
            .unwrap();
        let notes = system.0.lock().clone();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(json::has_marker(&notes[0], Some("job-1")));
        assert!(json::has_marker(&notes[1], Some("job-2")));
    }
}
