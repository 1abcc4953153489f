//! The triage service: embed a ticket, find similar incidents and articles, and
//! turn the neighbours' labels into suggestions with confidence and evidence.
//!
//! Nothing here knows about HTTP; the API and the CLI both call [`TriageService`].

mod service;
mod voting;

pub use service::{
    KnowledgeChunk, KnowledgeHit, SimilarIncident, Triage, TriageError, TriageService,
};
pub use voting::{Alternative, Evidence, FieldSuggestion, Route, VoteSettings, suggest_labels};
