//! What a history import did, and where one run by a server stands: the
//! types its progress is kept and answered in (`GET
//! /v1/admin/connectors/{name}/import`).

/// What a history import did.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Resolved tickets stored as incidents.
    pub imported: usize,
    /// Tickets skipped (no text).
    pub skipped: usize,
    /// Pages read.
    pub pages: usize,
}

/// Where a history import run by the server stands (`GET
/// /v1/admin/connectors/{name}/import`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ImportProgress {
    /// `running`, `done` or `failed`.
    pub state: ImportState,
    /// Tickets read so far.
    pub done: usize,
    /// Tickets in all, when the system says.
    pub total: Option<u64>,
    /// The result, once done.
    pub report: Option<ImportReport>,
    /// The classifier head's version after the retrain that follows, if one ran.
    pub head_version: Option<i64>,
    /// Why it failed (run it again: it resumes from the page it reached).
    pub error: Option<String>,
}

/// The state of a server-run import.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Pages are being read and stored.
    Running,
    /// Every page is stored (and the head retrained).
    Done,
    /// Stopped by an error; the next import resumes where it stopped.
    Failed,
}

/// Why a server-run import was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartImportError {
    /// No connector of that name.
    #[error("no connector {0:?}")]
    Unknown(String),
    /// This connector's import is running already (in this process).
    #[error("an import of {0} is already running")]
    Running(String),
}
