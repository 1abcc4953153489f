//! Runbook automation with state: requests, approvals, runs, and the keyed,
//! anchored audit chain, kept in SQLite (or PostgreSQL) through sqlx.
//! The stateless parts (format, checks, process runner) live in [`crate::runbook`].
//!
//! - `model`: execution states, requests, what the API shows, errors.
//! - `repository`: every SQL statement; each state change in one transaction
//!   with its audit entry, decisions under the execution's row lock.
//! - `service`: [`AutomationService`], one method per operation.
//! - `runs`: concurrency slots (RAII permits) and the registry of running
//!   executions that cancel and shutdown stop.
//! - `leases`: runs across replicas: claims that count every replica's runs
//!   against the limits, leases renewed by the owner, expired ones
//!   interrupted, cancels passed to the owner.
//! - `changes`: the freeze gate, the scheduler of deferred changes, change records.
//! - `audit`, `anchor`: the HMAC chain and its head kept outside the database.

mod anchor;
mod audit;
mod changes;
mod db;
mod leases;
mod model;
mod repository;
mod runs;
mod service;

pub use anchor::{AnchoredHead, AuditAnchor};
pub use audit::{AuditEntry, AuditError, AuditKey, AuditLog, AuditRecord, ChainReport, GENESIS};
pub use db::{connect, default_url, now_ms};
pub use leases::RunLeases;
pub use model::{AutomationError, Decision, Execution, ExecutionRequest, ExecutionState};
pub use service::AutomationService;
