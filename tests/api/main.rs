//! Integration tests: the real server on a free port, the real model, a real
//! embedded store in a temporary directory.

mod batching;
mod errors;
mod eval;
mod executions;
mod feedback;
mod helpers;
mod incidents;
mod ingest;
mod metrics;
mod openapi;
mod parity;
mod postgres;
mod runbooks;
mod store;
mod triage;
