//! The triage service: embed a ticket, find similar incidents and articles, and
//! turn the neighbours' labels into suggestions with confidence and evidence.
//!
//! Nothing here knows about HTTP. A ticket arriving at the desk reaches
//! [`TriageService::assess`] through `crate::desk`; evaluation and benchmarks
//! call [`TriageService::triage`] directly.

mod abstention;
mod aging;
mod cis;
mod evidence;
mod feedback;
mod heads;
mod learning;
mod model;
mod priority;
mod records;
mod service;
pub mod settings;
mod state;
mod subjects;
#[cfg(test)]
mod tests;
mod voting;
pub use settings::{AnonymousTriage, TriageSettings};

pub use abstention::{Abstention, content_words};
pub use cis::{CiOwner, OWNER_FIELD};
pub use feedback::{
    FeedbackEntry, FeedbackLog, FeedbackStats, FieldFeedback, PingPong, Reassignment,
};
pub use model::{
    FeedbackReceipt, HeadSummary, KnowledgeChunk, KnowledgeHit, RememberedTicket, RetrainReport,
    Retrieved, ServiceStats, SimilarIncident, Triage, TriageError,
};
pub use priority::{DerivedPriority, PrioritySettings};
pub use service::{Assessment, TriageService, triage_in_flight};
pub use state::{LearningState, RetrainLock, StoredHead};
pub use voting::{
    Alternative, Evidence, FieldSuggestion, HeadVote, Route, ScoreSources, VoteSettings,
    suggest_labels,
};
