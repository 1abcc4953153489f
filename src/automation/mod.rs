//! Runbook automation with state: requests, approvals, runs, and the keyed,
//! anchored audit chain, kept in SQLite (or PostgreSQL) through sqlx.
//! The stateless parts (format, checks, process runner) live in [`crate::runbook`].
//!
//! - `model`: execution states, requests, what the API shows, errors.
//! - `repository`: every SQL statement; each state change in one transaction
//!   with its audit entry, decisions under the execution's row lock.
//! - `admission`: a request checked and planned, without state (refusals
//!   are audited by the service).
//! - `service`: [`AutomationService`], one method per operation.
//! - `runs`: concurrency slots (RAII permits) and the registry of running
//!   executions that cancel and shutdown stop.
//! - `leases`: runs across replicas: claims that count every replica's runs
//!   against the limits, leases renewed by the owner, expired ones
//!   interrupted, cancels passed to the owner.
//! - `changes`: the scheduler of deferred changes, change records (the freeze
//!   gate itself is [`crate::changes::ChangeGate`]).
//!
//! The audit chain it writes every change into lives in [`crate::infra::audit`].

mod admission;
mod changes;
mod leases;
mod model;
mod repository;
mod runs;
mod service;

pub use model::{
    AutomationError, Change, ChangeList, Decision, Execution, ExecutionRequest, ExecutionState,
    RunLeases,
};
pub use service::{AutomationParts, AutomationService};
