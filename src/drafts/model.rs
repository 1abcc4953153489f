//! What the drafting service answers: drafts with their sentences, citations
//! and checks, agents' reviews of them, and its errors.

use serde::{Deserialize, Serialize};

use crate::triage::TriageError;

/// Failures of drafting.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// Retrieval (model or store) failed, or the ticket is unknown.
    #[error(transparent)]
    Triage(#[from] TriageError),
    /// The generator (local model or chat-completions server) failed.
    #[error("draft backend: {0}")]
    Backend(String),
    /// The generator did not finish within `drafts.timeout_s`.
    #[error("the draft backend did not answer within {0} s")]
    Timeout(u64),
    /// As many drafts as `drafts.max_concurrent` are being written.
    #[error("{0} drafts are already being written; retry shortly")]
    Busy(usize),
    /// The request broke a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The input field at fault.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The draft or ticket does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The draft was already reviewed.
    #[error("{0}")]
    Conflict(String),
    /// Drafts are turned off (`drafts.enabled = false`).
    #[error("drafts are turned off on this server")]
    Disabled,
    /// The state database failed.
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Whether a draft was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DraftStatus {
    /// A draft whose every sentence cites evidence that supports it.
    Drafted,
    /// No draft: the evidence was too weak or nothing it said survived the
    /// grounding checks; `reason` says which.
    NoDraft,
}

/// One sentence of a draft and the evidence it stands on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DraftSentence {
    /// The sentence, without its citation brackets.
    pub text: String,
    /// Evidence ids it cites (all among the retrieved evidence).
    pub citations: Vec<String>,
    /// Share of the sentence's content words found in its best cited passage (0..1).
    pub support: f32,
}

/// A piece of evidence the draft could cite.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceRef {
    /// Citation id: an incident id, or `kb:<article>#<chunk>`.
    pub id: String,
    /// `incident` or `knowledge`.
    pub kind: String,
    /// The incident's or article's title.
    pub title: String,
    /// Cosine similarity to the ticket.
    pub similarity: f32,
    /// Link or path of an article.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What the grounding filter did to the generator's text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroundingChecks {
    /// Sentences the generator wrote.
    pub sentences_written: usize,
    /// Sentences dropped: no cited passage (nor any other retrieved one) supports them.
    pub sentences_dropped: usize,
    /// Sentences kept that cited nothing valid, now citing the passage that supports them.
    pub sentences_recited: usize,
    /// Citations to ids that were not among the evidence, removed.
    pub invented_citations: Vec<String>,
}

/// An agent's verdict on a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Sent or followed as written.
    Accepted,
    /// Sent or followed after changes (the changed text comes with it).
    Edited,
    /// Not used.
    Rejected,
}

/// An agent's review of a draft: recorded as feedback on drafting.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DraftReview {
    /// The verdict.
    pub verdict: Verdict,
    /// The text the agent sent instead (scrubbed), for `edited`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Why, in the agent's words (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who reviewed it.
    pub reviewed_by: String,
    /// When, RFC 3339.
    pub reviewed_at: String,
}

/// A suggested resolution for a ticket, or the reason there is none.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Draft {
    /// The draft's id.
    pub id: String,
    /// The ticket it is for.
    pub ticket_id: String,
    /// Whether a draft was written.
    pub status: DraftStatus,
    /// Why there is no draft (`status = no_draft`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The draft as an agent reads it: one sentence per line, each ending
    /// with its citations in brackets. Empty without a draft.
    pub text: String,
    /// Its sentences with their citations and support.
    pub sentences: Vec<DraftSentence>,
    /// Every evidence id the draft cites.
    pub citations: Vec<String>,
    /// The evidence it was written from, best first.
    pub evidence: Vec<EvidenceRef>,
    /// `extractive`, `candle` or `openai`.
    pub backend: String,
    /// The model that wrote it (`none` for extractive).
    pub model: String,
    /// What the grounding filter removed.
    pub checks: GroundingChecks,
    /// Time spent, in milliseconds.
    pub latency_ms: f64,
    /// Who asked for it.
    pub created_by: String,
    /// When, RFC 3339.
    pub created_at: String,
    /// The agent's review, once given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<DraftReview>,
}

/// `POST /v1/tickets/{id}/draft/review`: an agent's verdict on the ticket's latest draft.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The draft reviewed; default the ticket's latest.
    #[serde(default)]
    pub draft_id: Option<String>,
    /// `accepted`, `edited` or `rejected`.
    pub verdict: Verdict,
    /// The text sent instead: required for `edited`, refused otherwise.
    #[serde(default)]
    pub text: Option<String>,
    /// Why (optional, up to 2,000 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Longest edited text an agent may record.
pub const MAX_REVIEW_TEXT: usize = 20_000;
/// Longest reason an agent may give.
pub const MAX_REVIEW_REASON: usize = 2_000;

impl ReviewRequest {
    /// Checks the verdict and text go together and sizes are sane.
    pub fn validate(&self) -> Result<(), DraftError> {
        let invalid = |field, message: &str| DraftError::Invalid {
            field,
            message: message.to_owned(),
        };
        match (&self.verdict, &self.text) {
            (Verdict::Edited, None) => {
                return Err(invalid("text", "an edited draft needs its text"));
            }
            (Verdict::Edited, Some(text)) if text.trim().is_empty() => {
                return Err(invalid("text", "must not be empty"));
            }
            (Verdict::Accepted | Verdict::Rejected, Some(_)) => {
                return Err(invalid("text", "only an edited draft carries text"));
            }
            _ => {}
        }
        if self
            .text
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_REVIEW_TEXT)
        {
            return Err(invalid("text", "longer than 20000 characters"));
        }
        if self
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REVIEW_REASON)
        {
            return Err(invalid("reason", "longer than 2000 characters"));
        }
        if let Some(id) = &self.draft_id
            && uuid::Uuid::parse_str(id).is_err()
        {
            return Err(invalid("draft_id", "not a draft id"));
        }
        Ok(())
    }
}

/// One event of a streamed draft (`text/event-stream`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum DraftEvent {
    /// The evidence retrieved, before generation starts.
    Evidence(Vec<EvidenceRef>),
    /// A sentence that passed the grounding checks, as soon as it is complete.
    Sentence(DraftSentence),
    /// The final draft (authoritative: as stored).
    Draft(Box<Draft>),
}
