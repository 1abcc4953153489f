//! [`TriageService`]: the one place that turns tickets into vectors, vectors into
//! neighbours and neighbours into suggestions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::TriageSettings;
use super::feedback::FeedbackLog;
use super::model::{
    HeadSummary, KnowledgeChunk, KnowledgeHit, Retrieved, ServiceStats, SimilarIncident, Triage,
    TriageError,
};
use super::voting::{FieldSuggestion, HeadVote, Neighbour, Route, VoteSettings, suggest_labels};
use crate::auth::Caller;
use crate::classify::ClassifierHead;
use crate::domain::text::model_text;
use crate::domain::{Incident, NewTicket};
use crate::embed::Embedder;
use crate::prompts::Prompts;
use crate::store::{Collection, Hit, PayloadRecord, Query, StoreError, VectorStore};

/// Characters of a knowledge chunk shown as its snippet.
const SNIPPET_CHARS: usize = 280;

/// Embeds, retrieves and suggests; cheap to share behind an `Arc`.
pub struct TriageService {
    pub(super) embedder: Embedder,
    pub(super) store: Arc<dyn VectorStore>,
    pub(super) prompts: Prompts,
    pub(super) settings: TriageSettings,
    /// The head in use and its version in the state database (0: none saved).
    pub(super) head: parking_lot::RwLock<Option<(i64, Arc<ClassifierHead>)>>,
    /// One retrain at a time in this process (the state database's lock
    /// covers other replicas).
    pub(super) retraining: tokio::sync::Mutex<()>,
    /// Feedback and classifier heads shared with other replicas; without it
    /// (evaluation, unit tests) both stay in memory.
    pub(super) learning: Option<super::state::LearningState>,
    pub(super) feedback: Arc<parking_lot::Mutex<FeedbackLog>>,
    pub(super) runbooks: Vec<(crate::runbook::RunbookSpec, Vec<f32>)>,
    /// Striped by ticket id: held from the check of who remembered a ticket to
    /// the write that replaces it, so two callers cannot both pass the check.
    pub(super) remembering: Box<[tokio::sync::Mutex<()>]>,
    /// Replaces personal and secret data before text is embedded or stored.
    pub(super) scrubber: crate::domain::Scrubber,
    /// The configuration items runbooks may act on (targets resolve here).
    pub(super) inventory: crate::inventory::Inventory,
    /// Finds those items in a ticket's text.
    pub(super) cis: crate::inventory::CiFinder,
    /// Knowledge chunks retrieved per ticket beyond those shown, so a draft
    /// written from the same retrieval has its evidence (`drafts.max_evidence`).
    pub(super) evidence_articles: usize,
}

/// One ticket triaged, with what triage found on the way: the embedding and
/// the retrieval, in full, for the steps after it (storms, drafts).
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The answer.
    pub triage: Triage,
    /// The ticket's embedding.
    pub vector: Vec<f32>,
    /// Its nearest incidents (itself left out) and knowledge chunks, in full.
    pub retrieved: Retrieved,
}

/// Triage requests being answered in this process: background work (local
/// draft generation) waits while any is, so it never competes with one.
static TRIAGE_IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// True while a triage request is being answered in this process.
pub fn triage_in_flight() -> bool {
    TRIAGE_IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed) > 0
}

/// Counts one triage request in flight until dropped.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        TRIAGE_IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        TRIAGE_IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Stripes of [`TriageService`]'s remembering locks.
pub(super) const REMEMBER_STRIPES: usize = 64;
/// Payload key of a stored incident: how many of its feedback entries (in the
/// feedback log) it reflects. A crash between logging feedback and storing the
/// incident leaves it behind the log; the next start replays what it lacks.
pub(super) const FEEDBACK_SEEN: &str = "_feedback_entries";

pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, TriageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| TriageError::Task(e.to_string()))?
        .map_err(TriageError::from)
}

impl TriageService {
    /// What a caller without a token may have from triage.
    pub fn anonymous(&self) -> super::AnonymousTriage {
        self.settings.anonymous
    }

    /// Assembles the service from its parts.
    pub fn new(
        embedder: Embedder,
        store: Arc<dyn VectorStore>,
        prompts: Prompts,
        settings: TriageSettings,
    ) -> Self {
        Self {
            embedder,
            store,
            prompts,
            settings,
            head: parking_lot::RwLock::new(None),
            learning: None,
            retraining: tokio::sync::Mutex::new(()),
            feedback: Arc::new(parking_lot::Mutex::new(FeedbackLog::in_memory())),
            runbooks: Vec::new(),
            remembering: (0..REMEMBER_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            scrubber: crate::domain::Scrubber::default(),
            inventory: crate::inventory::Inventory::default(),
            cis: crate::inventory::CiFinder::default(),
            evidence_articles: 0,
        }
    }

    /// Retrieves at least `articles` knowledge chunks per ticket (a draft's
    /// evidence) while still showing `triage.knowledge_articles`.
    pub fn with_evidence_articles(mut self, articles: usize) -> Self {
        self.evidence_articles = articles;
        self
    }

    /// Scrubs personal and secret data with `scrubber` (the default scrubs
    /// the built-in kinds).
    pub fn with_scrubber(mut self, scrubber: crate::domain::Scrubber) -> Self {
        self.scrubber = scrubber;
        self
    }

    /// The ticket with personal and secret data replaced by placeholders:
    /// what is embedded, stored, logged and written into notes.
    pub fn scrub_ticket(&self, ticket: &NewTicket) -> NewTicket {
        NewTicket {
            title: self.scrubber.scrub(&ticket.title),
            description: self.scrubber.scrub(&ticket.description),
            caller: ticket.caller.as_deref().map(|c| self.pseudonymise(c)),
            service: ticket.service.as_deref().map(|s| self.scrubber.scrub(s)),
            ..ticket.clone()
        }
    }

    /// Free text (an agent's edited draft, a reason) with personal and
    /// secret data replaced by placeholders.
    pub fn scrub_text(&self, text: &str) -> String {
        self.scrubber.scrub(text)
    }

    /// The incident with personal and secret data replaced by placeholders.
    pub fn scrub_incident(&self, incident: &Incident) -> Incident {
        Incident {
            title: self.scrubber.scrub(&incident.title),
            description: self.scrubber.scrub(&incident.description),
            resolution: incident
                .resolution
                .as_deref()
                .map(|r| self.scrubber.scrub(r)),
            ..incident.clone()
        }
    }

    /// Runbooks triage may propose, each with the embedding of its title and description.
    pub fn with_runbooks(mut self, runbooks: Vec<(crate::runbook::RunbookSpec, Vec<f32>)>) -> Self {
        self.runbooks = runbooks;
        self
    }

    /// Runbooks fitting a ticket with model text `text`, embedding `vector` and `labels`.
    fn matching_runbooks(
        &self,
        text: &str,
        vector: &[f32],
        labels: &BTreeMap<String, String>,
    ) -> Vec<crate::runbook::RunbookMatch> {
        let ticket = crate::runbook::TicketView { text, labels };
        let mut found: Vec<_> = self
            .runbooks
            .iter()
            .filter_map(|(spec, description)| {
                let similarity = vector.iter().zip(description).map(|(a, b)| a * b).sum();
                crate::runbook::match_runbook(spec, similarity, &ticket)
            })
            .collect();
        found.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        found
    }

    /// The store behind the service.
    pub fn store(&self) -> &Arc<dyn VectorStore> {
        &self.store
    }

    /// The embedder behind the service.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// The model input for an incident, scrubbed of personal and secret
    /// data (incidents arrive unscrubbed from files and the API; a triaged
    /// ticket is scrubbed once, at the start of triage).
    pub fn incident_text(&self, incident: &Incident) -> String {
        let incident = self.scrub_incident(incident);
        self.ticket_text(&incident.title, &incident.description)
    }

    /// Model input for a ticket, from the ticket template: give it scrubbed
    /// text ([`Self::scrub_ticket`], [`Self::incident_text`]).
    pub fn ticket_text(&self, title: &str, description: &str) -> String {
        model_text(&self.prompts, title, description, self.settings.clean_text)
    }

    /// Triage one ticket for `caller` (`None`: anonymous), scrubbing it first:
    /// for evaluation and benchmarks. A ticket that arrives at the desk goes
    /// through `crate::desk::TriageDesk`, which scrubs once and calls
    /// [`Self::assess`]. A ticket with an `id` is remembered for feedback when
    /// the caller may (see [`Triage::remembered`]).
    pub async fn triage(
        &self,
        ticket: &NewTicket,
        caller: Option<&Caller>,
    ) -> Result<Triage, TriageError> {
        ticket.validate()?;
        let scrubbed = self.scrub_ticket(ticket);
        Ok(self.assess(&scrubbed, caller).await?.triage)
    }

    /// Triage one ticket that is already scrubbed ([`Self::scrub_ticket`]):
    /// embed, retrieve, suggest and remember it. The answer carries the
    /// retrieval itself, so what follows (storms, drafts) reuses it instead
    /// of searching again.
    pub async fn assess(
        &self,
        ticket: &NewTicket,
        caller: Option<&Caller>,
    ) -> Result<Assessment, TriageError> {
        let started = Instant::now();
        let _in_flight = InFlight::enter();
        ticket.validate()?;
        let text = self.ticket_text(&ticket.title, &ticket.description);
        let store = Arc::clone(&self.store);
        let incident_limit = self
            .settings
            .neighbours
            .max(self.settings.similar_incidents)
            + 1;
        let kb_limit = self.settings.knowledge_articles.max(self.evidence_articles);
        let search = move |vector: Vec<f32>, text: &str| {
            let (incidents, articles) =
                search_nearest(store.as_ref(), &vector, text, incident_limit, kb_limit)?;
            Ok::<_, TriageError>((vector, incidents, articles))
        };
        let (vector, incidents, articles) = if self.store.is_remote() {
            // A network search must not hold a model thread while it waits:
            // embed, then search on a blocking thread of its own.
            let vector = self.embedder.embed_one(text.clone()).await?;
            let search_text = text.clone();
            tokio::task::spawn_blocking(move || search(vector, &search_text))
                .await
                .map_err(|e| TriageError::Task(e.to_string()))??
        } else {
            // An embedded search runs on the model's threads right after the
            // forward pass (see `Embedder::embed_then`), in parallel with the
            // rest of the batch's searches. It can wait for a store write to
            // finish, which is safe: no store write uses the model's threads
            // (Qdrant builds its indexes in pools of its own).
            let search_text = text.clone();
            self.embedder
                .embed_one_then(text.clone(), move |vector| search(vector, &search_text))
                .await??
        };

        let incidents = neighbour_incidents(incidents, ticket.id.as_deref());
        let mut suggestions = self.suggest(&text, &vector, &incidents);
        let configuration_items = self.mentioned_items(ticket);
        Self::add_owner_evidence(&mut suggestions, &configuration_items);
        let remembered = match &ticket.id {
            Some(id) => {
                self.remember_ticket(id, ticket, vector.clone(), &suggestions, caller)
                    .await?
            }
            None => false,
        };
        let route = suggestions
            .iter()
            .map(|(field, s)| (field.clone(), s.route))
            .collect();
        for (field, suggestion) in &suggestions {
            crate::metrics::global()
                .suggestions
                .get_or_create(&crate::metrics::SuggestionLabels {
                    field: field.clone(),
                    decision: suggestion.route.as_str().to_owned(),
                })
                .inc();
        }
        let similar_incidents = incidents
            .iter()
            .take(self.settings.similar_incidents)
            .map(|(similarity, incident)| SimilarIncident {
                id: incident.id.clone(),
                similarity: *similarity,
                title: incident.title.clone(),
                resolution: incident.resolution.clone(),
                labels: incident.labels.clone(),
            })
            .collect();
        // Each passage is read once: shown (the first few), and kept in full
        // for a draft written from this retrieval.
        let articles: Vec<(Hit, Option<KnowledgeChunk>)> = articles
            .into_iter()
            .map(|mut hit| {
                let chunk = KnowledgeChunk::from_payload(std::mem::take(&mut hit.payload));
                (hit, chunk)
            })
            .collect();
        let knowledge_articles = articles
            .iter()
            .take(self.settings.knowledge_articles)
            .map(|(hit, chunk)| knowledge_hit(hit, chunk.as_ref()))
            .collect();
        let chunks = articles
            .into_iter()
            .filter_map(|(hit, chunk)| Some((hit.score, chunk?)))
            .collect();
        let labels: BTreeMap<String, String> = suggestions
            .iter()
            .map(|(field, s)| (field.clone(), s.label.clone()))
            .collect();
        let mut runbooks = self.matching_runbooks(&text, &vector, &labels);
        self.fill_targets(&mut runbooks, &configuration_items);
        let triage = Triage {
            runbooks,
            ticket_id: ticket.id.clone(),
            priority: self.settings.priority.derive(&suggestions),
            suggestions,
            route,
            similar_incidents,
            knowledge_articles,
            remembered,
            storm: None,
            duplicate_of: None,
            configuration_items,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        let retrieved = Retrieved {
            ticket: super::model::RememberedTicket {
                title: ticket.title.clone(),
                description: ticket.description.clone(),
                suggested: labels,
                remembered_by: caller.map(|c| c.name.clone()).unwrap_or_default(),
            },
            incidents,
            articles: chunks,
        };
        Ok(Assessment {
            triage,
            vector,
            retrieved,
        })
    }

    /// Each (ticket, field)'s last label set by agents' feedback.
    pub fn final_feedback_labels(&self) -> std::collections::HashMap<(String, String), String> {
        self.feedback.lock().final_labels()
    }

    /// Store sizes, the classifier head and the feedback counts.
    pub async fn stats(&self) -> Result<ServiceStats, TriageError> {
        let store = Arc::clone(&self.store);
        let (incidents, knowledge_chunks, triaged_tickets) = blocking(move || {
            Ok((
                store.count(Collection::Incidents)?,
                store.count(Collection::Knowledge)?,
                store.count(Collection::Tickets)?,
            ))
        })
        .await?;
        self.refresh_feedback().await?;
        let version = self.head_version();
        let classifier = self.head().map(|head| HeadSummary {
            version,
            trained_on: head.trained_on(),
            fields: head.fields().map(str::to_owned).collect(),
            terms: head.vocabulary_size(),
        });
        Ok(ServiceStats {
            incidents,
            knowledge_chunks,
            triaged_tickets,
            classifier,
            feedback: self.feedback.lock().stats(),
        })
    }

    /// Suggestions for a ticket's model text and embedding from already-retrieved
    /// neighbours (best first): the first `neighbours` of them vote, blended with
    /// the classifier head when one is trained.
    pub fn suggest(
        &self,
        text: &str,
        vector: &[f32],
        incidents: &[(f32, Incident)],
    ) -> BTreeMap<String, FieldSuggestion> {
        // A stored near-duplicate is the same problem seen before (often an
        // agent's correction): only such duplicates vote, and the head, which
        // may predate the correction, stays out.
        let duplicates = incidents
            .iter()
            .take_while(|(similarity, _)| *similarity >= self.settings.duplicate_similarity)
            .count();
        let voting = if duplicates > 0 {
            &incidents[..duplicates.min(self.settings.neighbours)]
        } else {
            &incidents[..incidents.len().min(self.settings.neighbours)]
        };
        let voters: Vec<Neighbour<'_>> = voting
            .iter()
            .map(|(similarity, incident)| Neighbour {
                id: &incident.id,
                similarity: *similarity,
                labels: &incident.labels,
            })
            .collect();
        let trained = self.head();
        let floor = trained.as_ref().and_then(|head| head.neighbour_floor());
        let head = trained.filter(|_| self.settings.classifier.enabled && duplicates == 0);
        let features = head.as_ref().map(|h| h.features(text, vector));
        let vote = head
            .as_deref()
            .zip(features.as_ref())
            .map(|(head, features)| HeadVote {
                head,
                features,
                weight: self.settings.classifier.weight,
            });
        let mut suggestions = suggest_labels(
            &voters,
            VoteSettings {
                sharpness: self.settings.vote_sharpness,
            },
            vote,
            |field, label| self.settings.threshold_for(field, label),
        );
        let nearest = incidents
            .iter()
            .map(|(similarity, _)| *similarity)
            .reduce(f32::max);
        if let Some(reason) =
            super::abstention::abstention(text, nearest, floor, self.settings.min_content_words)
        {
            for suggestion in suggestions.values_mut() {
                suggestion.route = Route::Suggest;
                suggestion.abstained = Some(reason);
            }
        }
        suggestions
    }

    /// Suggestions for a ticket already embedded (used by evaluation).
    pub async fn suggest_for_vector(
        &self,
        text: &str,
        vector: Vec<f32>,
        exclude_id: Option<&str>,
    ) -> Result<BTreeMap<String, FieldSuggestion>, TriageError> {
        let neighbours = self
            .nearest_incidents(
                vector.clone(),
                Some(text),
                self.settings.neighbours,
                exclude_id,
            )
            .await?;
        Ok(self.suggest(text, &vector, &neighbours))
    }

    /// Up to `limit` stored incidents that best match `vector` and, when given,
    /// the ticket's model input `text` (hybrid retrieval), most similar first, with
    /// their similarity; `exclude_id` (the ticket itself) is left out.
    pub async fn nearest_incidents(
        &self,
        vector: Vec<f32>,
        text: Option<&str>,
        limit: usize,
        exclude_id: Option<&str>,
    ) -> Result<Vec<(f32, Incident)>, TriageError> {
        let store = Arc::clone(&self.store);
        let text = text.map(str::to_owned);
        let hits = blocking(move || {
            let query = Query {
                vector: &vector,
                text: text.as_deref(),
            };
            store.search(Collection::Incidents, query, limit + 1)
        })
        .await?;
        let mut neighbours = neighbour_incidents(hits, exclude_id);
        neighbours.truncate(limit);
        Ok(neighbours)
    }
}

/// Up to `incidents` stored incidents and `articles` knowledge chunks (none
/// for 0) nearest to `vector` and the model text `text` (hybrid when
/// configured): the one search of triage and of a draft on request.
pub(super) fn search_nearest(
    store: &dyn VectorStore,
    vector: &[f32],
    text: &str,
    incidents: usize,
    articles: usize,
) -> Result<(Vec<Hit>, Vec<Hit>), StoreError> {
    let query = Query::hybrid(vector, text);
    let incident_hits = store.search(Collection::Incidents, query, incidents)?;
    let article_hits = if articles == 0 {
        Vec::new()
    } else {
        store.search(Collection::Knowledge, query, articles)?
    };
    Ok((incident_hits, article_hits))
}

/// Hits as incidents, dropping the ticket itself and payloads that are not incidents.
pub(super) fn neighbour_incidents(
    hits: Vec<Hit>,
    exclude_id: Option<&str>,
) -> Vec<(f32, Incident)> {
    hits.into_iter()
        .filter(|hit| Some(hit.id.as_str()) != exclude_id)
        .filter_map(|hit| Some((hit.score, Incident::from_payload(hit.payload)?)))
        .collect()
}

/// A knowledge hit as triage shows it: the chunk's place and the start of
/// its text (a payload that is no chunk shows as its id alone).
fn knowledge_hit(hit: &Hit, chunk: Option<&KnowledgeChunk>) -> KnowledgeHit {
    let chunk = chunk.cloned().unwrap_or_else(|| KnowledgeChunk {
        id: hit.id.clone(),
        article_id: String::new(),
        title: String::new(),
        heading: String::new(),
        url: String::new(),
        tags: Vec::new(),
        text: String::new(),
    });
    let text = chunk.text;
    let mut snippet: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().count() > SNIPPET_CHARS {
        snippet.push('…');
    }
    KnowledgeHit {
        article_id: chunk.article_id,
        title: chunk.title,
        heading: chunk.heading,
        url: chunk.url,
        snippet,
        similarity: hit.score,
        id: hit.id.clone(),
    }
}
