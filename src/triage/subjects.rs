//! What triage keeps about whom, and how it lets go: the addresses each
//! stored ticket or incident mentioned (as keyed hashes, for erasure by
//! address), and a ticket's store points and feedback removed on erasure.

use std::sync::Arc;

use super::model::TriageError;
use super::service::{TriageService, blocking};
use crate::domain::Scrubber;
use crate::infra::subjects::SubjectIndex;
use crate::store::Collection;

impl TriageService {
    /// The index of who each ticket is about; `None` without a state
    /// database (evaluation, unit tests).
    pub fn subjects(&self) -> Option<&SubjectIndex> {
        self.learning.as_ref().map(|l| l.subjects())
    }

    /// Records the e-mail addresses `texts` (as received, before scrubbing)
    /// mention as `ticket_id`'s subjects; without a state database, nothing.
    pub async fn record_subjects(
        &self,
        ticket_id: &str,
        texts: &[&str],
    ) -> Result<(), TriageError> {
        let Some(subjects) = self.subjects() else {
            return Ok(());
        };
        let addresses: Vec<String> = texts
            .iter()
            .flat_map(|t| Scrubber::email_addresses(t))
            .collect();
        if addresses.is_empty() {
            return Ok(());
        }
        subjects
            .record(ticket_id, &addresses, crate::infra::clock::now_ms())
            .await?;
        Ok(())
    }

    /// `value` (a requester, a caller) when it holds nothing personal, else
    /// a pseudonym that keeps equality (`person:` and a keyed hash), so "the
    /// same caller" still matches without the address being stored.
    pub fn pseudonymise(&self, value: &str) -> String {
        if self.scrubber.scrub(value) == value {
            return value.to_owned();
        }
        match self.subjects() {
            Some(subjects) => subjects.pseudonym(value),
            None => self.scrubber.scrub(value),
        }
    }

    /// Erasure, the store's part: removes the remembered ticket and the
    /// incident stored under `ticket_id`, drops its feedback from memory (the
    /// rows go in the caller's transaction) and makes the removal durable.
    pub async fn forget_stored(&self, ticket_id: &str) -> Result<(), TriageError> {
        let store = Arc::clone(&self.store);
        let id = ticket_id.to_owned();
        blocking(move || {
            store.delete_where(Collection::Tickets, "id", &id)?;
            store.delete_where(Collection::Incidents, "id", &id)
        })
        .await?;
        self.feedback.lock().forget(ticket_id);
        Ok(())
    }
}
