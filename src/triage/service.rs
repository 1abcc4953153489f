//! [`TriageService`]: the one place that turns tickets into vectors, vectors into
//! neighbours and neighbours into suggestions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

use super::voting::{FieldSuggestion, Neighbour, VoteSettings, suggest_labels};
use crate::configuration::TriageSettings;
use crate::domain::text::clean_ticket_text;
use crate::domain::{Incident, NewTicket, ValidationError};
use crate::embed::{EmbedError, Embedder};
use crate::prompts::Prompts;
use crate::store::{Collection, Hit, StoreError, StoredPoint, VectorStore};

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
    /// A blocking task was cancelled or panicked.
    #[error("background task failed: {0}")]
    Task(String),
}

/// A past incident similar to the ticket.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct Triage {
    /// The ticket's id, when it had one.
    pub ticket_id: Option<String>,
    /// Label field -> suggestion.
    pub suggestions: BTreeMap<String, FieldSuggestion>,
    /// Label field -> `auto` or `suggest`, repeated from `suggestions` for quick routing.
    pub route: BTreeMap<String, super::Route>,
    /// The most similar past incidents.
    pub similar_incidents: Vec<SimilarIncident>,
    /// The most relevant knowledge article chunks.
    pub knowledge_articles: Vec<KnowledgeHit>,
    /// Time spent, in milliseconds.
    pub took_ms: f64,
}

const SNIPPET_CHARS: usize = 280;

/// Embeds, retrieves and suggests; cheap to share behind an `Arc`.
pub struct TriageService {
    embedder: Embedder,
    store: Arc<dyn VectorStore>,
    prompts: Prompts,
    settings: TriageSettings,
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
        }
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
        let vector = self
            .embedder
            .embed_one(self.ticket_text(&ticket.title, &ticket.description))
            .await?;
        let store = Arc::clone(&self.store);
        let incident_limit = self
            .settings
            .neighbours
            .max(self.settings.similar_incidents)
            + 1;
        let kb_limit = self.settings.knowledge_articles;
        let (incidents, articles) = blocking(move || {
            let incidents = store.search(Collection::Incidents, &vector, incident_limit)?;
            let articles = if kb_limit == 0 {
                Vec::new()
            } else {
                store.search(Collection::Knowledge, &vector, kb_limit)?
            };
            Ok((incidents, articles))
        })
        .await?;

        let incidents = neighbour_incidents(incidents, ticket.id.as_deref());
        let suggestions = self.suggest(&incidents);
        let route = suggestions
            .iter()
            .map(|(field, s)| (field.clone(), s.route))
            .collect();
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
        Ok(Triage {
            ticket_id: ticket.id.clone(),
            suggestions,
            route,
            similar_incidents,
            knowledge_articles,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Suggestions from already-retrieved neighbours (best first); the first
    /// `neighbours` of them vote.
    pub fn suggest(&self, incidents: &[(f32, Incident)]) -> BTreeMap<String, FieldSuggestion> {
        let voters: Vec<Neighbour<'_>> = incidents
            .iter()
            .take(self.settings.neighbours)
            .map(|(similarity, incident)| Neighbour {
                id: &incident.id,
                similarity: *similarity,
                labels: &incident.labels,
            })
            .collect();
        suggest_labels(
            &voters,
            VoteSettings {
                sharpness: self.settings.vote_sharpness,
            },
            |field, label| self.settings.threshold_for(field, label),
        )
    }

    /// Suggestions for a ticket already embedded (used by evaluation).
    pub async fn suggest_for_vector(
        &self,
        vector: Vec<f32>,
        exclude_id: Option<&str>,
    ) -> Result<BTreeMap<String, FieldSuggestion>, TriageError> {
        let store = Arc::clone(&self.store);
        let limit = self.settings.neighbours + 1;
        let hits = blocking(move || store.search(Collection::Incidents, &vector, limit)).await?;
        Ok(self.suggest(&neighbour_incidents(hits, exclude_id)))
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

    /// The stored incident with `id`, if any.
    pub async fn incident(&self, id: &str) -> Result<Option<Incident>, TriageError> {
        let store = Arc::clone(&self.store);
        let id = id.to_owned();
        let payload = blocking(move || store.get(Collection::Incidents, &id)).await?;
        Ok(payload.and_then(Incident::from_payload))
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
        let vectors = self
            .embedder
            .embed(records.iter().map(text).collect())
            .await?;
        Ok(records
            .iter()
            .zip(vectors)
            .map(|(record, vector)| StoredPoint {
                id: id(record).clone(),
                vector,
                payload: match serde_json::to_value(record) {
                    Ok(Value::Object(map)) => map,
                    _ => Map::new(),
                },
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
