//! Retrieval for drafting: a remembered ticket's nearest past incidents and
//! knowledge chunks, in full. It reuses the vector stored when the ticket was
//! triaged, so drafting never queues on the model's threads.

use std::sync::Arc;

use super::model::{KnowledgeChunk, RememberedTicket, Retrieved, TriageError};
use super::service::{TriageService, blocking, neighbour_incidents, search_nearest};
use crate::store::{Collection, PayloadRecord};

impl TriageService {
    /// The nearest incidents and knowledge chunks of a ticket triaged with
    /// `ticket_id`; `NotFound` when no such ticket is remembered.
    pub async fn retrieve_for_ticket(
        &self,
        ticket_id: &str,
        incidents: usize,
        articles: usize,
    ) -> Result<Retrieved, TriageError> {
        crate::domain::validate_id(ticket_id)?;
        let store = Arc::clone(&self.store);
        let id = ticket_id.to_owned();
        let point = blocking(move || store.get(Collection::Tickets, &id))
            .await?
            .ok_or_else(|| {
                TriageError::NotFound(format!(
                    "ticket {ticket_id} is unknown: triage it with its id (and an agent token) first"
                ))
            })?;
        let ticket = RememberedTicket::from_payload(point.payload).unwrap_or_default();
        let text = self.ticket_text(&ticket.title, &ticket.description);
        let vector = point.vector;
        let store = Arc::clone(&self.store);
        let (incident_hits, article_hits) = blocking(move || {
            search_nearest(store.as_ref(), &vector, &text, incidents + 1, articles)
        })
        .await?;
        let mut nearest = neighbour_incidents(incident_hits, Some(ticket_id));
        nearest.truncate(incidents);
        let articles = article_hits
            .into_iter()
            .filter_map(|hit| Some((hit.score, KnowledgeChunk::from_payload(hit.payload)?)))
            .collect();
        Ok(Retrieved {
            ticket,
            incidents: nearest,
            articles,
        })
    }
}
