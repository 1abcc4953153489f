//! Erasure: a ticket, or every ticket that mentioned an e-mail address, is
//! forgotten with everything derived from it: store points (the remembered
//! ticket, the incident it became), the review record with its kept
//! original, drafts, feedback, connector jobs, storm membership and window
//! rows, and the index entries that found it. One audit entry names the
//! request (the ticket id, or the address's keyed hash: never the address).
//!
//! Order, so a crash anywhere leaves a request that can simply be repeated:
//! the tickets are found, their store points deleted (durable), then every
//! row goes in one transaction with the audit entry. Until that commits the
//! index still finds them; after it, a repeat finds nothing left to remove.

use std::collections::BTreeSet;

use super::PrivacyService;
use crate::connectors::JobTable;
use crate::domain::Scrubber;
use crate::drafts::DraftRepository;
use crate::infra::audit::AuditRecord;
use crate::infra::subjects::SubjectIndex;
use crate::review::ReviewQueue;
use crate::storms::StormService;
use crate::triage::{LearningState, TriageError};

/// What to forget.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ForgetRequest {
    /// One ticket, by the id Switchboard knows it by (`helpdesk:42` for a
    /// connector's ticket, the id given to `POST /v1/triage` otherwise).
    Ticket(String),
    /// Every ticket that mentioned this e-mail address (requester, text).
    Email(String),
}

impl ForgetRequest {
    /// Checks the request's shape: a valid ticket id, or one e-mail address.
    pub fn validate(&self) -> Result<(), ForgetError> {
        match self {
            Self::Ticket(id) => {
                crate::domain::validate_id(id).map_err(|e| ForgetError::Invalid(e.message))
            }
            Self::Email(address) => {
                let found = Scrubber::email_addresses(address);
                if found.len() == 1 && found[0] == address.trim().to_lowercase() {
                    Ok(())
                } else {
                    Err(ForgetError::Invalid(
                        "email must be one e-mail address".to_owned(),
                    ))
                }
            }
        }
    }
}

/// What one erasure removed.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ForgetReport {
    /// The tickets forgotten (none: nothing was kept about it).
    pub tickets: Vec<String>,
    /// Review-queue records (with their kept originals).
    pub review_records: u64,
    /// Drafts.
    pub drafts: u64,
    /// Feedback entries.
    pub feedback: u64,
    /// Connector jobs.
    pub jobs: u64,
    /// Storm members and window rows.
    pub storm_rows: u64,
    /// Index entries.
    pub index_entries: u64,
    /// The audit entry that records the request.
    pub audit_seq: i64,
}

/// Why an erasure failed; repeating it is always safe.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The store could not delete the ticket's points.
    #[error(transparent)]
    Store(#[from] TriageError),
    /// The state database failed.
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
}

impl PrivacyService {
    /// Forgets what `request` names, on behalf of `actor`; idempotent.
    pub async fn process_forget(
        &self,
        request: &ForgetRequest,
        actor: &str,
    ) -> Result<ForgetReport, ForgetError> {
        request.validate()?;
        let subjects = self.triage.subjects().cloned();
        let (tickets, subject) = match request {
            ForgetRequest::Ticket(id) => (BTreeSet::from([id.clone()]), format!("ticket:{id}")),
            ForgetRequest::Email(address) => {
                let mut found: BTreeSet<String> = self
                    .review
                    .with_original_mentioning(address)
                    .await?
                    .into_iter()
                    .collect();
                let fingerprint = match &subjects {
                    Some(index) => {
                        found.extend(index.tickets_of(address).await?);
                        index.fingerprint(address)
                    }
                    None => "unindexed".to_owned(),
                };
                (
                    found,
                    format!("email:{}", &fingerprint[..fingerprint.len().min(16)]),
                )
            }
        };
        for ticket in &tickets {
            self.triage.forget_stored(ticket).await?;
        }
        crate::infra::crash::point("forget.after_store");
        let mut report = ForgetReport {
            tickets: tickets.iter().cloned().collect(),
            ..ForgetReport::default()
        };
        let mut tx = self.pool.begin().await?;
        for ticket in &tickets {
            report.review_records += ReviewQueue::forget_in(&mut tx, ticket).await?;
            report.drafts += DraftRepository::forget_in(&mut tx, ticket).await?;
            report.feedback += LearningState::forget_feedback_in(&mut tx, ticket).await?;
            report.jobs += JobTable::forget_in(&mut tx, ticket).await?;
            report.storm_rows += StormService::forget_in(&mut tx, ticket).await?;
            report.index_entries += SubjectIndex::forget_in(&mut tx, ticket).await?
                + LearningState::forget_dates_in(&mut tx, ticket).await?;
        }
        let detail = serde_json::json!({
            "tickets": tickets.len(),
            "review_records": report.review_records,
            "drafts": report.drafts,
            "feedback": report.feedback,
            "jobs": report.jobs,
            "storm_rows": report.storm_rows,
        });
        let entry = self
            .audit
            .append_in(
                &mut tx,
                AuditRecord {
                    actor,
                    action: "privacy.forget",
                    subject: &subject,
                    detail,
                    ..AuditRecord::default()
                },
            )
            .await?;
        tx.commit().await?;
        self.audit.anchor_head(&entry);
        report.audit_seq = entry.seq;
        if let Some(storms) = &self.storms {
            for ticket in &tickets {
                storms.forget_in_memory(ticket);
            }
        }
        // The deleted rows' old pages leave the write-ahead log, and the
        // store's journal (which still holds the points' old payloads) is
        // emptied by a checkpoint.
        crate::infra::db::checkpoint(&self.pool).await?;
        if !tickets.is_empty() {
            self.triage.flush().await?;
        }
        tracing::info!(subject = %subject, tickets = tickets.len(), audit = entry.seq, "forgotten on request");
        Ok(report)
    }
}
