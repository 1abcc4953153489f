//! Runbook automation with state: requests, approvals, runs, and the
//! hash-chained audit trail, kept in SQLite (or PostgreSQL) through sqlx.
//! The stateless parts (format, checks, process runner) live in [`crate::runbook`].

mod audit;
mod db;
mod executions;

pub use audit::{AuditEntry, AuditLog, AuditRecord, ChainReport, GENESIS};
pub use db::{connect, default_url, now_ms};
pub use executions::{
    AutomationError, AutomationService, Decision, Execution, ExecutionRequest, ExecutionState,
};
