//! What the triage service answers: triage results, similar incidents and
//! knowledge hits, retrain and feedback receipts, statistics, and its errors.

use std::collections::BTreeMap;

use serde::Serialize;

use super::feedback::{FeedbackEntry, FeedbackStats};
use super::voting::FieldSuggestion;
use crate::classify::HeadError;
use crate::domain::{Incident, ValidationError};
use crate::embed::EmbedError;
use crate::store::StoreError;

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
    /// A caller without a token asked for what needs one (`triage.anonymous`).
    #[error("a bearer token is required")]
    TokenRequired,
    /// The feedback log could not be read or written.
    #[error("feedback log: {0}")]
    FeedbackLog(#[from] std::io::Error),
    /// The state database (feedback, classifier heads) failed.
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
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
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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

/// A chunk is stored as its point's payload.
impl crate::store::PayloadRecord for KnowledgeChunk {}

/// A ticket triaged with an id, kept so agents' feedback can refer to it.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct RememberedTicket {
    /// The ticket's title (scrubbed).
    pub title: String,
    /// Its description (scrubbed).
    pub description: String,
    /// What triage suggested for each field: the label a first correction
    /// replaces.
    #[serde(default)]
    pub suggested: BTreeMap<String, String>,
    /// Who sent it: only they (or an agent) may replace it.
    #[serde(default)]
    pub remembered_by: String,
}

/// A remembered ticket is stored as its point's payload.
impl crate::store::PayloadRecord for RememberedTicket {}

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
    /// True when the ticket (with its `id`) was stored so feedback can refer to
    /// it: that needs an agent token (or `triage.remember_anonymous`), and an
    /// anonymous caller never replaces a ticket already remembered.
    pub remembered: bool,
    /// The storm (burst of similar tickets: an outage) this ticket is in, if
    /// any: link it to the storm's parent instead of working it alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storm: Option<crate::storms::StormRef>,
    /// An earlier ticket of the same caller or service this one near-duplicates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<crate::storms::DuplicateRef>,
    /// Configuration items the ticket mentions (hosts, services, addresses
    /// in the inventory), with their owner group, service and environment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configuration_items: Vec<crate::inventory::CiMention>,
    /// Time spent, in milliseconds.
    pub took_ms: f64,
}

impl Triage {
    /// The answer without the desk's own text (`triage.anonymous =
    /// "suggest_only"`): labels, confidences, routes and priority stay; the
    /// similar incidents, knowledge passages, runbooks, storm, duplicate,
    /// configuration items and each suggestion's evidence and owner go.
    pub fn suggestions_only(mut self) -> Self {
        for suggestion in self.suggestions.values_mut() {
            suggestion.evidence.clear();
            suggestion.ci_owner = None;
        }
        self.runbooks.clear();
        self.similar_incidents.clear();
        self.knowledge_articles.clear();
        self.storm = None;
        self.duplicate_of = None;
        self.configuration_items.clear();
        self
    }
}

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
    /// Its version in the state database; every replica swaps to it.
    #[serde(default)]
    pub version: i64,
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
    /// Its version in the state database (replicas on one database agree).
    pub version: i64,
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

/// What retrieval found for one remembered ticket.
#[derive(Debug, Clone)]
pub struct Retrieved {
    /// The ticket as remembered (scrubbed).
    pub ticket: RememberedTicket,
    /// Its nearest past incidents (itself left out), with similarity, best first.
    pub incidents: Vec<(f32, Incident)>,
    /// Its nearest knowledge chunks, with similarity, best first.
    pub articles: Vec<(f32, KnowledgeChunk)>,
}
