//! The triage desk: "a ticket arrives", written once. Whoever delivers the
//! ticket (the API, a connector's job, the console through the API), it
//! takes the same path:
//!
//! 1. **scrub** personal and secret data, once, before anything is kept
//!    (the addresses it mentioned are indexed as keyed hashes, for erasure);
//! 2. keep the text as received only where the privacy policy says (the
//!    review queue, with its retention);
//! 3. **triage** it once (embed, retrieve, suggest, remember);
//! 4. **detect** storms and duplicates among remembered tickets;
//! 5. **record** it in the review queue, with what was written back;
//! 6. **draft** a fix from the same retrieval, after the answer (never a
//!    second search).
//!
//! The callers only parse their input and map the result: no HTTP types here.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::auth::Caller;
use crate::domain::{KeepOriginal, NewTicket, PrivacySettings};
use crate::drafts::{Draft, DraftError, DraftService};
use crate::review::{OriginalText, ReviewQueue, TriageRecord};
use crate::storms::{Observation, Observed, StormService};
use crate::triage::{AnonymousTriage, Retrieved, Triage, TriageError, TriageService};

/// The one use case every ticket goes through; cheap to share behind an `Arc`.
pub struct TriageDesk {
    triage: Arc<TriageService>,
    review: ReviewQueue,
    /// `None` when storm detection is off (`storms.enabled = false`).
    storms: Option<Arc<StormService>>,
    drafts: Arc<DraftService>,
    /// Where the text before scrubbing may stay.
    keep_original: KeepOriginal,
    /// How long it stays there (ms).
    original_retention_ms: i64,
}

/// Who delivered a ticket, and how it is named in the review queue.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// `api` or `connector:<name>`.
    pub name: String,
    /// The caller (`None`: anonymous).
    pub caller: Option<&'a Caller>,
}

/// A ticket through the desk: scrubbed, triaged, placed among storms, with
/// the retrieval its draft is written from.
#[derive(Debug)]
pub struct Arrived {
    /// The ticket as triaged (scrubbed): what is stored, logged and written back.
    pub ticket: NewTicket,
    /// The answer.
    pub triage: Triage,
    retrieved: Retrieved,
    original: Option<OriginalText>,
    source: String,
}

impl TriageDesk {
    /// The desk over the services it coordinates; `privacy` says where the
    /// text before scrubbing may stay.
    pub fn new(
        triage: Arc<TriageService>,
        review: ReviewQueue,
        storms: Option<Arc<StormService>>,
        drafts: Arc<DraftService>,
        privacy: &PrivacySettings,
    ) -> Self {
        Self {
            triage,
            review,
            storms,
            drafts,
            keep_original: privacy.keep_original,
            original_retention_ms: i64::from(privacy.original_retention_days) * 86_400_000,
        }
    }

    /// The triage service behind the desk (stats, feedback, the store).
    pub fn triage_service(&self) -> &Arc<TriageService> {
        &self.triage
    }

    /// A ticket arrives from `source`: scrubbed once, its original kept only
    /// by policy, triaged once, and (when remembered) placed among storms and
    /// duplicates. Nothing is recorded in the review queue yet: see
    /// [`Self::process_record`].
    pub async fn process_arrival(
        &self,
        received: NewTicket,
        source: &Source<'_>,
    ) -> Result<Arrived, TriageError> {
        if let Some(id) = &received.id {
            let caller = received.caller.as_deref().unwrap_or("");
            self.triage
                .record_subjects(id, &[&received.title, &received.description, caller])
                .await?;
        }
        let ticket = self.triage.scrub_ticket(&received);
        let original = self.kept_original(&received, &ticket);
        drop(received);
        let assessment = self.triage.assess(&ticket, source.caller).await?;
        let mut triage = assessment.triage;
        if let (Some(id), true) = (&ticket.id, triage.remembered) {
            let observation = self
                .observe_storms(id, &ticket, assessment.vector, &triage)
                .await;
            triage.storm = observation.storm;
            triage.duplicate_of = observation.duplicate_of;
        }
        Ok(Arrived {
            ticket,
            triage,
            retrieved: assessment.retrieved,
            original,
            source: source.name.clone(),
        })
    }

    /// A ticket sent to `POST /v1/triage`: arrives, and joins the review
    /// queue when it was remembered for a caller.
    pub async fn process_api_ticket(
        &self,
        received: NewTicket,
        caller: Option<&Caller>,
    ) -> Result<Triage, TriageError> {
        let anonymous = self.triage.anonymous();
        if caller.is_none() && anonymous == AnonymousTriage::Off {
            return Err(TriageError::TokenRequired);
        }
        let source = Source {
            name: "api".to_owned(),
            caller,
        };
        let arrived = self.process_arrival(received, &source).await?;
        if let (true, Some(caller)) = (arrived.triage.remembered, caller) {
            self.process_record(&arrived, caller, BTreeMap::new(), false)
                .await;
        }
        Ok(match (caller, anonymous) {
            (None, AnonymousTriage::SuggestOnly) => arrived.triage.suggestions_only(),
            _ => arrived.triage,
        })
    }

    /// A resolved incident arrives (`POST /v1/incidents`, a connector's
    /// closed ticket): stored (scrubbed, insert or replace by id), and a
    /// ticket of the same id is closed for duplicate linking. Returns
    /// whether it replaced one, and the incident as stored.
    pub async fn process_incident(
        &self,
        incident: crate::domain::Incident,
    ) -> Result<(bool, crate::domain::Incident), TriageError> {
        let existed = self.triage.incident(&incident.id).await?.is_some();
        self.triage.store_incidents(vec![incident.clone()]).await?;
        self.process_resolved(&incident.id).await;
        Ok((existed, self.triage.scrub_incident(&incident)))
    }

    /// Ticket `ticket_id` was resolved or closed: a new ticket no longer
    /// links to it as a duplicate. A failure is logged; the incident is stored.
    pub async fn process_resolved(&self, ticket_id: &str) {
        if let Some(storms) = &self.storms
            && let Err(e) = storms.process_closed(ticket_id).await
        {
            tracing::warn!(ticket = %ticket_id, error = %e, "cannot mark the ticket closed for duplicates");
        }
    }

    /// Records a triaged ticket in the review queue with the fields written
    /// back (`applied`) and whether the connector asked for a review. A
    /// failure is logged, never a failed triage: the ticket itself is stored.
    pub async fn process_record(
        &self,
        arrived: &Arrived,
        caller: &Caller,
        applied: BTreeMap<String, String>,
        review: bool,
    ) {
        let record = TriageRecord {
            source: arrived.source.clone(),
            title: &arrived.ticket.title,
            description: &arrived.ticket.description,
            triage: &arrived.triage,
            applied,
            review,
            triaged_by: &caller.name,
            original: arrived.original.clone(),
            original_retention_ms: self.retention_ms(),
        };
        if let Err(e) = self.review.record(record).await {
            tracing::warn!(source = %arrived.source, error = %e, "cannot add the ticket to the review queue");
        }
    }

    /// A draft for a remembered ticket from the retrieval its triage made (no
    /// second search), not yet stored: a connector writes it into its note,
    /// then keeps it with [`Self::process_keep_draft`].
    pub async fn process_draft(
        &self,
        arrived: &Arrived,
        caller: &Caller,
    ) -> Result<Option<Draft>, DraftError> {
        let Some(ticket_id) = arrived.triage.ticket_id.as_deref() else {
            return Ok(None);
        };
        if !arrived.triage.remembered {
            return Ok(None);
        }
        self.drafts
            .process_draft_from(ticket_id, &arrived.retrieved, &caller.name)
            .await
            .map(Some)
    }

    /// Stores a draft written by [`Self::process_draft`].
    pub async fn process_keep_draft(&self, draft: Draft) -> Result<Draft, DraftError> {
        self.drafts.process_keep(draft).await
    }

    /// What the review queue may keep of `received` (a ticket before
    /// scrubbing; `scrubbed` after): the text when the policy keeps it and
    /// scrubbing changed something.
    fn kept_original(&self, received: &NewTicket, scrubbed: &NewTicket) -> Option<OriginalText> {
        let changed =
            received.title != scrubbed.title || received.description != scrubbed.description;
        (self.keep_original == KeepOriginal::Review && changed).then(|| OriginalText {
            title: received.title.clone(),
            description: received.description.clone(),
        })
    }

    /// How long kept originals stay (0: the policy keeps none, so every one
    /// left is cleared as the next record is written).
    fn retention_ms(&self) -> i64 {
        match self.keep_original {
            KeepOriginal::Review => self.original_retention_ms,
            KeepOriginal::None => 0,
        }
    }

    /// Places a remembered ticket in the storm window; a failure to store a
    /// storm is logged, never a failed triage (the ticket itself is stored).
    async fn observe_storms(
        &self,
        id: &str,
        ticket: &NewTicket,
        vector: Vec<f32>,
        triage: &Triage,
    ) -> Observation {
        let Some(storms) = &self.storms else {
            return Observation::default();
        };
        let at = ticket
            .opened_at_ms()
            .ok()
            .flatten()
            .unwrap_or_else(crate::infra::clock::now_ms);
        let observed = Observed {
            id: id.to_owned(),
            title: ticket.title.clone(),
            at,
            vector,
            caller: ticket.caller.clone().filter(|c| !c.trim().is_empty()),
            service: ticket.service.clone().filter(|s| !s.trim().is_empty()),
            terms: crate::storms::ticket_terms(&ticket.title, &ticket.description),
            cis: triage
                .configuration_items
                .iter()
                .map(|c| c.name.clone())
                .collect(),
            closed: false,
            background: 0.0,
        };
        // The topic's share of the desk's history (its background rate):
        // measured only when the ticket could make a storm (one more search).
        let background = async |vector: Vec<f32>| match self
            .triage
            .history_share(&vector, storms.similarity())
            .await
        {
            Ok(share) => share,
            Err(e) => {
                tracing::warn!(ticket = %id, error = %e, "cannot measure the topic's background; assuming none");
                0.0
            }
        };
        match storms.observe(observed, background).await {
            Ok(observation) => observation,
            Err(e) => {
                tracing::error!(ticket = %id, error = %e, "cannot store a storm");
                Observation::default()
            }
        }
    }
}
