//! [`TriageService`]: the one place that turns tickets into vectors, vectors into
//! neighbours and neighbours into suggestions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

use super::feedback::{FeedbackEntry, FeedbackLog, FeedbackStats};
use super::voting::{FieldSuggestion, HeadVote, Neighbour, VoteSettings, suggest_labels};
use crate::classify::{ClassifierHead, HeadError, TrainingExample};
use crate::configuration::TriageSettings;
use crate::domain::text::clean_ticket_text;
use crate::domain::{Incident, LabelFeedback, NewTicket, ValidationError};
use crate::embed::{EmbedError, Embedder};
use crate::prompts::Prompts;
use crate::store::{Collection, Hit, Query, StoreError, StoredPoint, VectorStore};

/// Failures of triage and of storing incidents.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The input broke a rule.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The model failed or is overloaded.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The classifier head could not be trained, saved or loaded.
    #[error(transparent)]
    Classifier(#[from] HeadError),
    /// The ticket or incident named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The feedback log could not be read or written.
    #[error("feedback log: {0}")]
    FeedbackLog(#[from] std::io::Error),
    /// Another operation of the same kind is running.
    #[error("{0}")]
    Busy(&'static str),
    /// A blocking task was cancelled or panicked.
    #[error("background task failed: {0}")]
    Task(String),
}

/// A past incident similar to the ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SimilarIncident {
    /// Incident id.
    pub id: String,
    /// Cosine similarity to the ticket.
    pub similarity: f32,
    /// Its title.
    pub title: String,
    /// How it was resolved, if recorded.
    pub resolution: Option<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// A knowledge article chunk to store.
#[derive(Debug, Clone, Serialize)]
pub struct KnowledgeChunk {
    /// `article_id#n`.
    pub id: String,
    /// Id of the article the chunk belongs to.
    pub article_id: String,
    /// Article title.
    pub title: String,
    /// Heading of the section the chunk comes from.
    pub heading: String,
    /// Link or path to the article.
    pub url: String,
    /// Tags from front matter.
    pub tags: Vec<String>,
    /// The chunk's text.
    pub text: String,
}

/// A knowledge article chunk relevant to the ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KnowledgeHit {
    /// Chunk id.
    pub id: String,
    /// Article id.
    pub article_id: String,
    /// Article title.
    pub title: String,
    /// Section heading.
    pub heading: String,
    /// Link or path to the article.
    pub url: String,
    /// The start of the chunk's text.
    pub snippet: String,
    /// Cosine similarity to the ticket.
    pub similarity: f32,
}

/// Everything triage says about one ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Triage {
    /// The ticket's id, when it had one.
    pub ticket_id: Option<String>,
    /// Label field -> suggestion.
    pub suggestions: BTreeMap<String, FieldSuggestion>,
    /// Label field -> `auto` or `suggest`, repeated from `suggestions` for quick routing.
    pub route: BTreeMap<String, super::Route>,
    /// Runbooks that fit the ticket, with why and the parameters found in its text.
    pub runbooks: Vec<crate::runbook::RunbookMatch>,
    /// ITIL priority from the suggested impact and urgency, when both are suggested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<super::DerivedPriority>,
    /// The most similar past incidents.
    pub similar_incidents: Vec<SimilarIncident>,
    /// The most relevant knowledge article chunks.
    pub knowledge_articles: Vec<KnowledgeHit>,
    /// Time spent, in milliseconds.
    pub took_ms: f64,
}

const SNIPPET_CHARS: usize = 280;

/// What a retrain did.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RetrainReport {
    /// Incidents the new head learned from.
    pub incidents: usize,
    /// Label fields it predicts.
    pub fields: Vec<String>,
    /// Terms in its vocabulary.
    pub terms: usize,
    /// Time spent, in milliseconds.
    pub took_ms: f64,
}

/// What recording an agent's feedback did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedbackReceipt {
    /// The logged entry.
    pub feedback: FeedbackEntry,
    /// True when the label changed (a correction or reassignment).
    pub changed: bool,
    /// The incident as now stored, voting for the next similar ticket.
    pub incident: Incident,
}

/// The classifier head in use.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HeadSummary {
    /// Incidents it was trained on.
    pub trained_on: usize,
    /// Label fields it predicts.
    pub fields: Vec<String>,
    /// Terms in its vocabulary.
    pub terms: usize,
}

/// Counts for `GET /v1/stats`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceStats {
    /// Incidents stored.
    pub incidents: usize,
    /// Knowledge article chunks stored.
    pub knowledge_chunks: usize,
    /// Tickets triaged with an id.
    pub triaged_tickets: usize,
    /// The classifier head, when one is trained.
    pub classifier: Option<HeadSummary>,
    /// Agents' feedback, reassignments and ping-pong.
    pub feedback: FeedbackStats,
}

/// Embeds, retrieves and suggests; cheap to share behind an `Arc`.
pub struct TriageService {
    embedder: Embedder,
    store: Arc<dyn VectorStore>,
    prompts: Prompts,
    settings: TriageSettings,
    head: parking_lot::RwLock<Option<Arc<ClassifierHead>>>,
    head_file: Option<std::path::PathBuf>,
    retraining: tokio::sync::Mutex<()>,
    feedback: Arc<parking_lot::Mutex<FeedbackLog>>,
    runbooks: Vec<(crate::runbook::RunbookSpec, Vec<f32>)>,
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, TriageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| TriageError::Task(e.to_string()))?
        .map_err(TriageError::from)
}

impl TriageService {
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
            head_file: None,
            retraining: tokio::sync::Mutex::new(()),
            feedback: Arc::new(parking_lot::Mutex::new(FeedbackLog::in_memory())),
            runbooks: Vec::new(),
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

    /// Keeps agents' feedback in the append-only log at `path`, replaying it now.
    pub fn with_feedback_log(self, path: &std::path::Path) -> Result<Self, TriageError> {
        *self.feedback.lock() = FeedbackLog::open(path)?;
        Ok(self)
    }

    /// Keeps the classifier head in `path`: loads it now if it exists, and
    /// [`TriageService::retrain`] writes it there.
    pub fn with_head_file(mut self, path: std::path::PathBuf) -> Result<Self, TriageError> {
        if self.settings.classifier.enabled
            && let Some(head) = ClassifierHead::load(&path)?
        {
            tracing::info!(
                incidents = head.trained_on(),
                terms = head.vocabulary_size(),
                "classifier head loaded"
            );
            *self.head.get_mut() = Some(Arc::new(head));
        }
        self.head_file = Some(path);
        Ok(self)
    }

    /// The classifier head in use, if one is trained.
    pub fn head(&self) -> Option<Arc<ClassifierHead>> {
        self.head.read().clone()
    }

    /// Trains a new classifier head from every stored incident, saves it and
    /// swaps it in; triage keeps using the old head until then.
    pub async fn retrain(&self) -> Result<RetrainReport, TriageError> {
        let Ok(_guard) = self.retraining.try_lock() else {
            return Err(TriageError::Busy("a retrain is already running"));
        };
        let started = Instant::now();
        let store = Arc::clone(&self.store);
        let points = blocking(move || store.all(Collection::Incidents)).await?;
        let examples: Vec<TrainingExample> = points
            .into_iter()
            .filter_map(|point| {
                let incident = Incident::from_payload(point.payload)?;
                Some(TrainingExample {
                    text: self.ticket_text(&incident.title, &incident.description),
                    vector: point.vector,
                    labels: incident.labels,
                })
            })
            .collect();
        let options = self.settings.classifier.clone();
        let head_file = self.head_file.clone();
        let head = tokio::task::spawn_blocking(move || {
            let head = ClassifierHead::train(&examples, &options)?;
            if let Some(path) = head_file {
                head.save(&path)?;
            }
            Ok::<_, HeadError>(head)
        })
        .await
        .map_err(|e| TriageError::Task(e.to_string()))??;
        let report = RetrainReport {
            incidents: head.trained_on(),
            fields: head.fields().map(str::to_owned).collect(),
            terms: head.vocabulary_size(),
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        *self.head.write() = Some(Arc::new(head));
        tracing::info!(incidents = report.incidents, fields = ?report.fields, took_ms = report.took_ms, "classifier head retrained");
        Ok(report)
    }

    /// The store behind the service.
    pub fn store(&self) -> &Arc<dyn VectorStore> {
        &self.store
    }

    /// The embedder behind the service.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Model input for a ticket, from the ticket template.
    pub fn ticket_text(&self, title: &str, description: &str) -> String {
        if self.settings.clean_text {
            self.prompts
                .ticket(&clean_ticket_text(title), &clean_ticket_text(description))
        } else {
            self.prompts.ticket(title, description)
        }
    }

    /// Triage one ticket.
    pub async fn triage(&self, ticket: &NewTicket) -> Result<Triage, TriageError> {
        let started = Instant::now();
        ticket.validate()?;
        let text = self.ticket_text(&ticket.title, &ticket.description);
        let store = Arc::clone(&self.store);
        let incident_limit = self
            .settings
            .neighbours
            .max(self.settings.similar_incidents)
            + 1;
        let kb_limit = self.settings.knowledge_articles;
        // The search runs on the model's threads right after the forward pass (see
        // `Embedder::embed_then`), in parallel with the rest of the batch's searches.
        // It can wait for a store write to finish, which is safe: no store write uses
        // the model's threads (Qdrant builds its indexes in pools of its own).
        let search_text = text.clone();
        let (vector, incidents, articles) = self
            .embedder
            .embed_one_then(text.clone(), move |vector| {
                let query = Query::hybrid(&vector, &search_text);
                let incidents = store.search(Collection::Incidents, query, incident_limit)?;
                let articles = if kb_limit == 0 {
                    Vec::new()
                } else {
                    store.search(Collection::Knowledge, query, kb_limit)?
                };
                Ok::<_, TriageError>((vector, incidents, articles))
            })
            .await??;

        let incidents = neighbour_incidents(incidents, ticket.id.as_deref());
        let suggestions = self.suggest(&text, &vector, &incidents);
        if let Some(id) = &ticket.id {
            self.remember_ticket(id, ticket, vector.clone(), &suggestions)
                .await;
        }
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
            .into_iter()
            .take(self.settings.similar_incidents)
            .map(|(similarity, incident)| SimilarIncident {
                id: incident.id,
                similarity,
                title: incident.title,
                resolution: incident.resolution,
                labels: incident.labels,
            })
            .collect();
        let knowledge_articles = articles.into_iter().map(knowledge_hit).collect();
        let labels: BTreeMap<String, String> = suggestions
            .iter()
            .map(|(field, s)| (field.clone(), s.label.clone()))
            .collect();
        let runbooks = self.matching_runbooks(&text, &vector, &labels);
        Ok(Triage {
            runbooks,
            ticket_id: ticket.id.clone(),
            priority: self.settings.priority.derive(&suggestions),
            suggestions,
            route,
            similar_incidents,
            knowledge_articles,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Keeps a triaged ticket (text, embedding, suggestions) so feedback can refer
    /// to it later. A failure is logged, not returned: the triage answer stands.
    async fn remember_ticket(
        &self,
        id: &str,
        ticket: &NewTicket,
        vector: Vec<f32>,
        suggestions: &BTreeMap<String, FieldSuggestion>,
    ) {
        let suggested: Map<String, Value> = suggestions
            .iter()
            .map(|(field, s)| (field.clone(), Value::String(s.label.clone())))
            .collect();
        let mut payload = Map::new();
        payload.insert("title".into(), Value::String(ticket.title.clone()));
        payload.insert(
            "description".into(),
            Value::String(ticket.description.clone()),
        );
        payload.insert("suggested".into(), Value::Object(suggested));
        // Triaged tickets are looked up by id only, so they need no text index.
        let point = StoredPoint {
            id: id.to_owned(),
            vector,
            text: None,
            payload,
        };
        let store = Arc::clone(&self.store);
        if let Err(err) = blocking(move || store.upsert(Collection::Tickets, vec![point])).await {
            tracing::error!(ticket = id, error = %err, "cannot remember the triaged ticket");
        }
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
                let text = |key: &str| text_field(&point.payload, key);
                let suggested = point
                    .payload
                    .get("suggested")
                    .and_then(Value::as_object)
                    .and_then(|m| m.get(&feedback.field))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let mut incident = Incident {
                    id: ticket_id.to_owned(),
                    title: text("title"),
                    description: text("description"),
                    ..Incident::default()
                };
                if let Some(label) = suggested {
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
        let log = Arc::clone(&self.feedback);
        let field = feedback.field.clone();
        let caller = caller.to_owned();
        let (entry, labels) = tokio::task::spawn_blocking(move || {
            let mut log = log.lock();
            let mut agreed = log.labels_of(&base.id);
            let previous = agreed
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
                caller,
            };
            log.append(entry.clone())?;
            agreed.insert(field, entry.label.clone());
            Ok::<_, std::io::Error>((entry, (base, agreed)))
        })
        .await
        .map_err(|e| TriageError::Task(e.to_string()))??;
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
        let classifier = self.head().map(|head| HeadSummary {
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
        let head = self
            .head()
            .filter(|_| self.settings.classifier.enabled && duplicates == 0);
        let features = head.as_ref().map(|h| h.features(text, vector));
        let vote = head
            .as_deref()
            .zip(features.as_ref())
            .map(|(head, features)| HeadVote {
                head,
                features,
                weight: self.settings.classifier.weight,
            });
        suggest_labels(
            &voters,
            VoteSettings {
                sharpness: self.settings.vote_sharpness,
            },
            vote,
            |field, label| self.settings.threshold_for(field, label),
        )
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

    /// Validates, embeds and stores incidents (insert or replace by id).
    pub async fn store_incidents(&self, incidents: Vec<Incident>) -> Result<(), TriageError> {
        for incident in &incidents {
            incident.validate()?;
        }
        let points = self
            .embed_points(
                &incidents,
                |i| self.ticket_text(&i.title, &i.description),
                |i| &i.id,
            )
            .await?;
        let store = Arc::clone(&self.store);
        blocking(move || store.upsert(Collection::Incidents, points)).await
    }

    /// Validates and stores incidents whose embeddings are already known
    /// (`vectors[i]` belongs to `incidents[i]`).
    pub async fn store_embedded_incidents(
        &self,
        incidents: Vec<Incident>,
        vectors: Vec<Vec<f32>>,
    ) -> Result<(), TriageError> {
        for incident in &incidents {
            incident.validate()?;
        }
        let points = incidents
            .iter()
            .zip(vectors)
            .map(|(incident, vector)| StoredPoint {
                id: incident.id.clone(),
                vector,
                text: Some(self.ticket_text(&incident.title, &incident.description)),
                payload: payload_of(incident),
            })
            .collect();
        let store = Arc::clone(&self.store);
        blocking(move || store.upsert(Collection::Incidents, points)).await
    }

    /// Removes stored incidents by id (ids not stored are ignored); the
    /// classifier head forgets them at its next retrain.
    pub async fn delete_incidents(&self, ids: Vec<String>) -> Result<(), TriageError> {
        let store = Arc::clone(&self.store);
        blocking(move || {
            ids.iter()
                .try_for_each(|id| store.delete_where(Collection::Incidents, "id", id))
        })
        .await
    }

    /// The stored incident with `id`, if any.
    pub async fn incident(&self, id: &str) -> Result<Option<Incident>, TriageError> {
        let store = Arc::clone(&self.store);
        let id = id.to_owned();
        let point = blocking(move || store.get(Collection::Incidents, &id)).await?;
        Ok(point.and_then(|p| Incident::from_payload(p.payload)))
    }

    /// Replaces every stored chunk of `article_id` with `chunks`.
    pub async fn store_article(
        &self,
        article_id: &str,
        chunks: Vec<KnowledgeChunk>,
    ) -> Result<(), TriageError> {
        let points = self
            .embed_points(
                &chunks,
                |c| self.prompts.passage(&c.title, &c.text),
                |c| &c.id,
            )
            .await?;
        let store = Arc::clone(&self.store);
        let article_id = article_id.to_owned();
        blocking(move || {
            store.delete_where(Collection::Knowledge, "article_id", &article_id)?;
            store.upsert(Collection::Knowledge, points)
        })
        .await
    }

    /// Embeds `records` (text from `text`) into store points carrying the record as payload.
    async fn embed_points<T: Serialize>(
        &self,
        records: &[T],
        text: impl Fn(&T) -> String,
        id: impl Fn(&T) -> &String,
    ) -> Result<Vec<StoredPoint>, TriageError> {
        let texts: Vec<String> = records.iter().map(text).collect();
        let vectors = self.embedder.embed(texts.clone()).await?;
        Ok(records
            .iter()
            .zip(vectors)
            .zip(texts)
            .map(|((record, vector), text)| StoredPoint {
                id: id(record).clone(),
                vector,
                text: Some(text),
                payload: payload_of(record),
            })
            .collect())
    }

    /// Makes stored data durable and builds indexes; call after bulk loads.
    pub async fn flush(&self) -> Result<(), TriageError> {
        let store = Arc::clone(&self.store);
        blocking(move || store.flush()).await
    }
}

/// Hits as incidents, dropping the ticket itself and payloads that are not incidents.
fn neighbour_incidents(hits: Vec<Hit>, exclude_id: Option<&str>) -> Vec<(f32, Incident)> {
    hits.into_iter()
        .filter(|hit| Some(hit.id.as_str()) != exclude_id)
        .filter_map(|hit| Some((hit.score, Incident::from_payload(hit.payload)?)))
        .collect()
}

fn payload_of<T: Serialize>(record: &T) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn text_field(payload: &Map<String, Value>, key: &str) -> String {
    payload
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn knowledge_hit(hit: Hit) -> KnowledgeHit {
    let text = text_field(&hit.payload, "text");
    let mut snippet: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().count() > SNIPPET_CHARS {
        snippet.push('…');
    }
    KnowledgeHit {
        article_id: text_field(&hit.payload, "article_id"),
        title: text_field(&hit.payload, "title"),
        heading: text_field(&hit.payload, "heading"),
        url: text_field(&hit.payload, "url"),
        snippet,
        similarity: hit.score,
        id: hit.id,
    }
}
