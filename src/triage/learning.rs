//! Learning from agents: remembering triaged tickets (for callers allowed to),
//! recording feedback and storing the ticket as an incident with the agreed
//! labels, and replaying feedback the store missed when the process died
//! between the two.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::TriageService;
use super::feedback::FeedbackEntry;
use super::model::{FeedbackReceipt, RememberedTicket, TriageError};
use super::service::{FEEDBACK_SEEN, REMEMBER_STRIPES, blocking};
use super::voting::FieldSuggestion;
use crate::auth::{Caller, Role};
use crate::domain::{Incident, LabelFeedback, NewTicket};
use crate::store::{Collection, PayloadRecord, StoredPoint};

impl TriageService {
    /// Keeps a triaged ticket (text, embedding, suggestions, who sent it) so
    /// feedback can refer to it, if `caller` may: agents always; others only
    /// with `triage.remember_anonymous`, and never over a ticket someone else
    /// remembered. Returns whether it was stored (durably).
    pub(super) async fn remember_ticket(
        &self,
        id: &str,
        ticket: &NewTicket,
        vector: Vec<f32>,
        suggestions: &BTreeMap<String, FieldSuggestion>,
        caller: Option<&Caller>,
    ) -> Result<bool, TriageError> {
        let agent = caller.is_some_and(|c| c.role >= Role::Agent);
        if !agent && !self.settings.remember_anonymous {
            return Ok(false);
        }
        let writer = caller.map_or("anonymous", |c| c.name.as_str()).to_owned();
        let stripe = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut hasher);
            (hasher.finish() % REMEMBER_STRIPES as u64) as usize
        };
        let _held = self.remembering[stripe].lock().await;
        if !agent {
            let store = Arc::clone(&self.store);
            let key = id.to_owned();
            let existing = blocking(move || store.get(Collection::Tickets, &key)).await?;
            let owner = existing
                .and_then(|p| RememberedTicket::from_payload(p.payload))
                .map(|t| t.remembered_by);
            let existing = owner.is_some();
            // Anonymous callers cannot be told apart: none replaces a ticket.
            if existing && (caller.is_none() || owner.as_deref() != Some(writer.as_str())) {
                return Ok(false);
            }
        }
        let remembered = RememberedTicket {
            title: ticket.title.clone(),
            description: ticket.description.clone(),
            suggested: suggestions
                .iter()
                .map(|(field, s)| (field.clone(), s.label.clone()))
                .collect(),
            remembered_by: writer,
        };
        // Triaged tickets are looked up by id only, so they need no text index.
        let point = StoredPoint {
            id: id.to_owned(),
            vector,
            text: None,
            payload: remembered.to_payload(),
        };
        self.date_stored(Collection::Tickets, &[id.to_owned()])
            .await?;
        let store = Arc::clone(&self.store);
        blocking(move || store.upsert(Collection::Tickets, vec![point])).await?;
        Ok(true)
    }

    /// Records an agent's label for a triaged ticket (or a stored incident) and
    /// stores the ticket as an incident with the labels agents gave it, so the
    /// next similar ticket is suggested from it at once.
    pub async fn feedback(
        &self,
        ticket_id: &str,
        feedback: LabelFeedback,
        caller: &str,
    ) -> Result<FeedbackReceipt, TriageError> {
        crate::domain::validate_id(ticket_id)?;
        feedback.validate()?;
        let store = Arc::clone(&self.store);
        let id = ticket_id.to_owned();
        let (ticket, incident) = blocking(move || {
            Ok((
                store.get(Collection::Tickets, &id)?,
                store.get(Collection::Incidents, &id)?,
            ))
        })
        .await?;
        let stored = incident
            .as_ref()
            .and_then(|p| Incident::from_payload(p.payload.clone()));
        let (vector, base, already_incident) = match (ticket, incident, stored) {
            (_, Some(point), Some(incident)) => (point.vector, incident, true),
            (Some(point), _, _) => {
                let remembered = RememberedTicket::from_payload(point.payload).unwrap_or_default();
                let mut incident = Incident {
                    id: ticket_id.to_owned(),
                    title: remembered.title,
                    description: remembered.description,
                    ..Incident::default()
                };
                if let Some(label) = remembered.suggested.get(&feedback.field).cloned() {
                    incident.labels.insert(feedback.field.clone(), label);
                }
                (point.vector, incident, false)
            }
            _ => {
                return Err(TriageError::NotFound(format!(
                    "no triaged ticket or stored incident with id {ticket_id:?}; triage it with its id first"
                )));
            }
        };
        self.refresh_feedback().await?;
        let field = feedback.field.clone();
        let previous = self
            .feedback
            .lock()
            .labels_of(&base.id)
            .get(&field)
            .or_else(|| base.labels.get(&field))
            .cloned();
        let entry = FeedbackEntry {
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            ticket_id: base.id.clone(),
            field: field.clone(),
            previous,
            label: feedback.label,
            agent: feedback.agent,
            caller: caller.to_owned(),
        };
        let entry = match &self.learning {
            Some(learning) => {
                let entry = learning.append_feedback(entry).await?;
                self.refresh_feedback().await?;
                entry
            }
            None => {
                self.feedback.lock().append(entry.clone())?;
                entry
            }
        };
        let agreed = self.feedback.lock().labels_of(&base.id);
        let labels = (base, agreed);
        crate::infra::crash::point("feedback.logged");
        // A stored incident keeps its other labels; a triaged ticket carries only
        // what agents said, never the unconfirmed suggestions.
        let (mut incident, agreed) = labels;
        if already_incident {
            incident.labels.extend(agreed);
        } else {
            incident.labels = agreed;
        }
        self.store_embedded_incidents(vec![incident.clone()], vec![vector])
            .await?;
        tracing::info!(ticket = %entry.ticket_id, field = %entry.field, changed = entry.is_change(), "feedback recorded");
        Ok(FeedbackReceipt {
            changed: entry.is_change(),
            feedback: entry,
            incident,
        })
    }

    /// `incident` as a store point, stamped with the feedback it reflects: every
    /// entry the log holds for it now (this write supersedes them or carries them).
    pub(super) fn incident_point(&self, incident: &Incident, vector: Vec<f32>) -> StoredPoint {
        let incident = &self.scrub_incident(incident);
        let mut payload = incident.to_payload();
        let seen = self.feedback.lock().count_for(&incident.id);
        payload.insert(FEEDBACK_SEEN.into(), Value::from(seen));
        StoredPoint {
            id: incident.id.clone(),
            vector,
            text: Some(self.ticket_text(&incident.title, &incident.description)),
            payload,
        }
    }

    /// Brings stored incidents up to the feedback log after a crash between a
    /// feedback entry's append and its incident's write: an incident behind its
    /// log entries gets their labels; a triaged ticket whose first feedback never
    /// became an incident becomes one. Returns how many incidents were repaired.
    pub fn reconcile_feedback(&self) -> Result<usize, TriageError> {
        let tickets = self.feedback.lock().ticket_counts();
        let mut repaired = Vec::new();
        for (id, count) in tickets {
            let (base, vector, seen) = match self.store.get(Collection::Incidents, &id)? {
                Some(point) => {
                    let seen = point
                        .payload
                        .get(FEEDBACK_SEEN)
                        .and_then(Value::as_u64)
                        .map_or(count, |n| n as usize);
                    let Some(incident) = Incident::from_payload(point.payload) else {
                        continue;
                    };
                    (incident, point.vector, seen)
                }
                None => match self.store.get(Collection::Tickets, &id)? {
                    Some(point) => {
                        let remembered =
                            RememberedTicket::from_payload(point.payload).unwrap_or_default();
                        let incident = Incident {
                            id: id.clone(),
                            title: remembered.title,
                            description: remembered.description,
                            ..Incident::default()
                        };
                        (incident, point.vector, 0)
                    }
                    None => continue,
                },
            };
            if seen >= count {
                continue;
            }
            let mut incident = base;
            incident
                .labels
                .extend(self.feedback.lock().labels_since(&id, seen));
            tracing::warn!(incident = %id, missing = count - seen, "replaying feedback the store had not recorded (the service stopped in between)");
            repaired.push(self.incident_point(&incident, vector));
        }
        let count = repaired.len();
        if count > 0 {
            self.store.upsert(Collection::Incidents, repaired)?;
        }
        Ok(count)
    }
}
