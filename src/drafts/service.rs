//! [`DraftService`]: one `process_*` per operation: write a draft for a
//! remembered ticket (whole or streamed), read the latest, record an agent's
//! review. No HTTP types.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};

use super::DraftSettings;
use super::evidence::{Evidence, gather};
use super::generator::Generator;
use super::grounding::{self, EvidenceIndex, Grounded};
use super::model::{
    Draft, DraftError, DraftEvent, DraftReview, DraftStatus, GroundingChecks, ReviewRequest,
};
use super::prompt::DraftPrompts;
use super::repository::{DraftRepository, DraftStats};
use crate::triage::{Retrieved, TriageService};

/// Writes, stores and reviews drafts; cheap to share behind an `Arc`.
pub struct DraftService {
    triage: Arc<TriageService>,
    /// `None`: the extractive baseline.
    generator: Option<Arc<dyn Generator>>,
    prompts: DraftPrompts,
    settings: DraftSettings,
    repository: DraftRepository,
    /// Drafts being written at once (`drafts.max_concurrent`): one more is
    /// refused as busy rather than queued behind a slow generator.
    writing: Arc<Semaphore>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl DraftService {
    /// Assembles the service; `generator` `None` means extractive drafts.
    pub fn new(
        triage: Arc<TriageService>,
        settings: DraftSettings,
        prompts: DraftPrompts,
        generator: Option<Arc<dyn Generator>>,
        pool: sqlx::AnyPool,
    ) -> Self {
        Self {
            triage,
            generator,
            prompts,
            writing: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            settings,
            repository: DraftRepository::new(pool),
        }
    }

    /// `extractive`, `candle` or `openai`.
    pub fn backend(&self) -> &'static str {
        self.generator
            .as_ref()
            .map_or("extractive", |g| g.backend())
    }

    /// The generator's model (`none` for extractive).
    pub fn model(&self) -> String {
        self.generator
            .as_ref()
            .map_or_else(|| "none".to_owned(), |g| g.model())
    }

    /// Writes a draft for the remembered ticket `ticket_id` for `caller`, stores
    /// it (also when there is no draft, with the reason) and returns it. With
    /// `events`, the evidence and each grounded sentence are sent as they come,
    /// and the stored draft last.
    pub async fn process_draft(
        &self,
        ticket_id: &str,
        caller: &str,
        events: Option<mpsc::UnboundedSender<DraftEvent>>,
    ) -> Result<Draft, DraftError> {
        let result = async {
            self.check_enabled()?;
            let retrieved = self
                .triage
                .retrieve_for_ticket(
                    ticket_id,
                    self.settings.max_evidence,
                    self.settings.max_evidence,
                )
                .await?;
            let draft = self
                .write_draft(ticket_id, &retrieved, caller, events.as_ref())
                .await?;
            self.keep(draft, events.as_ref()).await
        }
        .await;
        self.record(&result);
        result
    }

    /// Writes a draft for the ticket `ticket_id` from the retrieval triage has
    /// just made for it (no second search), without storing it: the desk puts
    /// it into a connector's note and stores it with [`Self::process_keep`]
    /// once the write-back is done.
    pub async fn process_draft_from(
        &self,
        ticket_id: &str,
        retrieved: &Retrieved,
        caller: &str,
    ) -> Result<Draft, DraftError> {
        let result = async {
            self.check_enabled()?;
            // The same evidence a draft on request sees: the nearest
            // `max_evidence` incidents and passages.
            let most = self.settings.max_evidence;
            let retrieved = Retrieved {
                ticket: retrieved.ticket.clone(),
                incidents: retrieved.incidents.iter().take(most).cloned().collect(),
                articles: retrieved.articles.iter().take(most).cloned().collect(),
            };
            self.write_draft(ticket_id, &retrieved, caller, None).await
        }
        .await;
        self.record(&result);
        result
    }

    /// Stores a draft written by [`Self::process_draft_from`].
    pub async fn process_keep(&self, draft: Draft) -> Result<Draft, DraftError> {
        self.keep(draft, None).await
    }

    fn check_enabled(&self) -> Result<(), DraftError> {
        if self.settings.enabled {
            Ok(())
        } else {
            Err(DraftError::Disabled)
        }
    }

    /// Stores `draft` (a 2xx means it is durable), then sends it as the last event.
    async fn keep(
        &self,
        draft: Draft,
        events: Option<&mpsc::UnboundedSender<DraftEvent>>,
    ) -> Result<Draft, DraftError> {
        let created_at = chrono::DateTime::parse_from_rfc3339(&draft.created_at).map_or_else(
            |_| crate::infra::clock::now_ms(),
            |at| at.timestamp_millis(),
        );
        self.repository.insert(&draft, created_at).await?;
        if let Some(events) = events {
            let _ = events.send(DraftEvent::Draft(Box::new(draft.clone())));
        }
        Ok(draft)
    }

    /// Counts a draft's outcome (and its time and what grounding removed)
    /// for `GET /metrics`; refusals of the request itself are not counted.
    fn record(&self, result: &Result<Draft, DraftError>) {
        let metrics = crate::metrics::global();
        let backend = self.backend().to_owned();
        let outcome = match result {
            Ok(draft) => {
                let label = crate::metrics::DraftBackendLabel {
                    backend: backend.clone(),
                };
                metrics
                    .draft_duration
                    .get_or_create(&label)
                    .observe(draft.latency_ms / 1000.0);
                metrics
                    .draft_sentences_dropped
                    .get_or_create(&label)
                    .inc_by(draft.checks.sentences_dropped as u64);
                metrics
                    .draft_invented_citations
                    .get_or_create(&label)
                    .inc_by(draft.checks.invented_citations.len() as u64);
                match draft.status {
                    DraftStatus::Drafted => "drafted",
                    DraftStatus::NoDraft => "no_draft",
                }
            }
            Err(DraftError::Timeout(_)) => "timeout",
            Err(DraftError::Backend(_) | DraftError::Database(_)) => "failed",
            Err(_) => return,
        };
        metrics
            .drafts
            .get_or_create(&crate::metrics::DraftLabels {
                backend,
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Writes (and grounds) a draft from `retrieved`; stores nothing.
    async fn write_draft(
        &self,
        ticket_id: &str,
        retrieved: &Retrieved,
        caller: &str,
        events: Option<&mpsc::UnboundedSender<DraftEvent>>,
    ) -> Result<Draft, DraftError> {
        let _writing = Arc::clone(&self.writing)
            .try_acquire_owned()
            .map_err(|_| DraftError::Busy(self.settings.max_concurrent))?;
        let started = Instant::now();
        let created_at = crate::infra::clock::now_ms();
        let mut draft = Draft {
            id: uuid::Uuid::new_v4().to_string(),
            ticket_id: ticket_id.to_owned(),
            status: DraftStatus::NoDraft,
            reason: None,
            text: String::new(),
            sentences: Vec::new(),
            citations: Vec::new(),
            evidence: Vec::new(),
            backend: self.backend().to_owned(),
            model: self.model(),
            checks: GroundingChecks::default(),
            latency_ms: 0.0,
            created_by: caller.to_owned(),
            created_at: rfc3339(created_at),
            review: None,
        };
        match gather(
            retrieved,
            self.settings.min_similarity,
            self.settings.max_evidence,
        ) {
            Err(reason) => draft.reason = Some(reason),
            Ok(evidence) => {
                draft.evidence = evidence.iter().map(Evidence::to_ref).collect();
                if let Some(events) = events {
                    let _ = events.send(DraftEvent::Evidence(draft.evidence.clone()));
                }
                let ticket = &retrieved.ticket;
                let text = match &self.generator {
                    None => super::extractive::compose(
                        &format!("{}\n{}", ticket.title, ticket.description),
                        &evidence,
                        self.settings.max_sentences,
                    ),
                    Some(generator) => {
                        self.generate(
                            generator.as_ref(),
                            &ticket.title,
                            &ticket.description,
                            &evidence,
                            events,
                        )
                        .await?
                    }
                };
                tracing::debug!(ticket_id, raw = %text, "draft as written, before grounding");
                let (sentences, checks) = grounding::ground(
                    &text,
                    &evidence,
                    self.settings.min_support,
                    self.settings.max_sentences,
                );
                if sentences.is_empty() {
                    draft.reason = Some(if checks.sentences_written == 0 {
                        "the backend wrote nothing from this evidence".to_owned()
                    } else {
                        format!(
                            "none of the {} sentences written is supported by the evidence",
                            checks.sentences_written
                        )
                    });
                } else {
                    if let (None, Some(events)) = (&self.generator, events) {
                        // Extractive drafts are whole at once.
                        for sentence in &sentences {
                            let _ = events.send(DraftEvent::Sentence(sentence.clone()));
                        }
                    }
                    draft.status = DraftStatus::Drafted;
                    draft.text = grounding::render(&sentences);
                    for sentence in &sentences {
                        for id in &sentence.citations {
                            if !draft.citations.contains(id) {
                                draft.citations.push(id.clone());
                            }
                        }
                    }
                    draft.sentences = sentences;
                }
                draft.checks = checks;
            }
        }
        draft.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let metric = match draft.status {
            DraftStatus::Drafted => "drafted",
            DraftStatus::NoDraft => "no_draft",
        };
        tracing::info!(ticket_id, backend = %draft.backend, outcome = metric, latency_ms = draft.latency_ms, "draft");
        Ok(draft)
    }

    /// Runs the generator within `drafts.timeout_s`, sending each sentence
    /// that passes grounding as soon as the next one has begun.
    async fn generate(
        &self,
        generator: &dyn Generator,
        title: &str,
        description: &str,
        evidence: &[Evidence],
        events: Option<&mpsc::UnboundedSender<DraftEvent>>,
    ) -> Result<String, DraftError> {
        let prompt = self
            .prompts
            .render(title, description, evidence, self.settings.max_sentences);
        let (deltas, mut received) = mpsc::unbounded_channel::<String>();
        let deltas = events.is_some().then_some(deltas);
        let forward = async {
            let Some(events) = events else { return };
            let index = EvidenceIndex::new(evidence);
            let mut text = String::new();
            let mut seen = 0;
            let mut sent: Vec<String> = Vec::new();
            let mut invented = Vec::new();
            while let Some(delta) = received.recv().await {
                text.push_str(&delta);
                let sentences = grounding::split_sentences(&text);
                // The last sentence may still grow (or get its citation).
                let complete = sentences.len().saturating_sub(1);
                for raw in sentences.iter().take(complete).skip(seen) {
                    let grounded = grounding::ground_sentence(
                        raw,
                        &index,
                        self.settings.min_support,
                        &mut invented,
                    );
                    if let Grounded::Kept { sentence, .. } = grounded
                        && sent.len() < self.settings.max_sentences
                        && !sent
                            .iter()
                            .any(|s| grounding::same_claim(s, &sentence.text))
                    {
                        sent.push(sentence.text.clone());
                        let _ = events.send(DraftEvent::Sentence(sentence));
                    }
                }
                seen = seen.max(complete);
            }
        };
        let timeout = Duration::from_secs(self.settings.timeout_s.max(1));
        let work = async {
            let (text, ()) = tokio::join!(
                generator.generate(&prompt, self.settings.max_tokens, deltas),
                forward
            );
            text
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| DraftError::Timeout(self.settings.timeout_s))?
    }

    /// The ticket's latest draft (or the one named).
    pub async fn process_latest(&self, ticket_id: &str) -> Result<Draft, DraftError> {
        crate::domain::validate_id(ticket_id).map_err(crate::triage::TriageError::from)?;
        self.repository
            .find(ticket_id, None)
            .await?
            .ok_or_else(|| DraftError::NotFound(format!("ticket {ticket_id} has no draft")))
    }

    /// Records an agent's verdict on a draft (once per draft): the feedback
    /// that tells whether drafts help. Edited text is scrubbed like tickets.
    pub async fn process_review(
        &self,
        ticket_id: &str,
        request: ReviewRequest,
        caller: &str,
    ) -> Result<Draft, DraftError> {
        crate::domain::validate_id(ticket_id).map_err(crate::triage::TriageError::from)?;
        request.validate()?;
        let mut draft = self
            .repository
            .find(ticket_id, request.draft_id.as_deref())
            .await?
            .ok_or_else(|| DraftError::NotFound(format!("ticket {ticket_id} has no such draft")))?;
        if draft.status == DraftStatus::NoDraft {
            return Err(DraftError::Conflict(
                "there was no draft to review".to_owned(),
            ));
        }
        let review = DraftReview {
            verdict: request.verdict,
            text: request.text.as_deref().map(|t| self.triage.scrub_text(t)),
            reason: request.reason.as_deref().map(|t| self.triage.scrub_text(t)),
            reviewed_by: caller.to_owned(),
            reviewed_at: rfc3339(crate::infra::clock::now_ms()),
        };
        if !self.repository.review(&draft.id, &review).await? {
            return Err(DraftError::Conflict(format!(
                "draft {} was already reviewed",
                draft.id
            )));
        }
        tracing::info!(ticket_id, draft_id = %draft.id, verdict = ?review.verdict, "draft reviewed");
        draft.review = Some(review);
        Ok(draft)
    }

    /// How drafts fared.
    pub async fn process_stats(&self) -> Result<DraftStats, DraftError> {
        self.repository.stats().await
    }
}
