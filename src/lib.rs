//! Switchboard: self-hosted AI triage for IT service desks.
//!
//! A ticket arrives over HTTP, is embedded by a local transformer model, its
//! nearest past incidents and knowledge articles are retrieved from an embedded
//! vector store, and the neighbours' labels, blended with a classifier head
//! trained in process, become suggestions with confidence, evidence and a
//! routing decision. Agents' corrections are stored at once and feed the next
//! retrain.
//!
//! Layout, from the outside in:
//!
//! - [`cli`]: the `switchboard` commands (`serve`, `ingest`, `retrain`, `eval`, `bench`, `token`).
//! - [`startup`]: builds the service and router; `run(listener, settings, shutdown)`.
//! - [`routes`]: thin axum handlers and the single error-to-status table.
//! - [`triage`]: the service layer: retrieval, similarity-weighted voting blended
//!   with the head, feedback log and stats, ITIL priority. No HTTP types.
//! - [`classify`]: the classifier head (TF-IDF + embedding softmax regression).
//! - [`ingest`]: CSV / JSONL incidents and Markdown articles into the store.
//! - [`eval`]: the evaluation harness: metrics, calibrated thresholds, reports.
//! - [`embed`]: a packed (padding-free) BERT encoder on candle tensors and fused kernels,
//!   on its own thread behind a bounded batching queue.
//!   The only module that imports candle or tokenizers.
//! - [`store`]: the `VectorStore` trait and its embedded Qdrant Edge backend.
//!   The only module that imports Qdrant.
//! - [`domain`]: tickets and incidents and their validation rules.
//! - [`prompts`]: the templates that turn records into model input.
//! - [`configuration`], [`telemetry`], [`metrics`]: settings, logging and the
//!   Prometheus registry behind `GET /metrics`.

pub mod auth;
pub mod automation;
pub mod classify;
pub mod cli;
pub mod configuration;
pub mod domain;
pub mod embed;
pub mod eval;
pub mod ingest;
pub mod metrics;
pub mod prompts;
pub mod routes;
pub mod runbook;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod triage;
