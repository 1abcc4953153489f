//! Bulk loading: incidents from CSV or JSONL, knowledge articles from Markdown.
//!
//! Bad rows are reported with their line number and skipped (or fatal with
//! `strict`); rows are stored in batches as they are read, so a failure late in
//! a file never loses what was stored before it. Where they are stored is an
//! [`IncidentSink`]: the triage service here, or a running server's
//! `POST /v1/incidents/batch` (`switchboard ingest incidents --server`).

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
    /// The server storing the incidents refused or could not be reached.
    #[error("{0}")]
    Server(String),
}

/// Where ingested incidents are stored.
#[async_trait::async_trait]
pub trait IncidentSink: Send + Sync {
    /// Stores a batch: validated, scrubbed, embedded, inserted or replaced
    /// by id; durable once it returns.
    async fn store(&self, incidents: Vec<crate::domain::Incident>) -> Result<(), IngestError>;
    /// Builds indexes after a bulk load.
    async fn flush(&self) -> Result<(), IngestError>;
}

#[async_trait::async_trait]
impl IncidentSink for crate::triage::TriageService {
    async fn store(&self, incidents: Vec<crate::domain::Incident>) -> Result<(), IngestError> {
        Ok(self.store_incidents(incidents).await?)
    }

    async fn flush(&self) -> Result<(), IngestError> {
        Ok(crate::triage::TriageService::flush(self).await?)
    }
}
