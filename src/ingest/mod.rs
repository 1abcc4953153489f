//! Bulk loading: incidents from CSV or JSONL, knowledge articles from Markdown.
//!
//! Bad rows are reported with their line number and skipped (or fatal with
//! `strict`); rows are stored in batches as they are read, so a failure late in
//! a file never loses what was stored before it.

mod incidents;
mod knowledge;
mod progress;

pub use incidents::{
    ColumnMapping, IncidentReader, IngestOptions, IngestReport, RowError, ingest_incidents,
};
pub use knowledge::{Article, ingest_knowledge, parse_article};
pub use progress::Progress;

/// Failures that stop an ingest.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input cannot be opened or read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file or directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The header lacks a column the mapping needs.
    #[error("{0}")]
    Mapping(String),
    /// A bad row under `--strict`.
    #[error("{0}")]
    BadRow(RowError),
    /// Embedding or storing failed.
    #[error(transparent)]
    Triage(#[from] crate::triage::TriageError),
}
