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
//! - [`routes`]: thin axum handlers, the single error-to-status table, and the
//!   middleware every request passes (request id, body deadline, panics as 500s).
//! - [`triage`]: the service layer: retrieval, similarity-weighted voting blended
//!   with the head, remembering tickets and learning from feedback (replayed into
//!   the store after a crash), stats, ITIL priority. Feedback and versioned
//!   classifier heads live in the state database, shared by replicas. No HTTP types.
//! - [`classify`]: the classifier head (TF-IDF + embedding softmax regression).
//! - [`ingest`]: CSV / JSONL incidents and Markdown articles into the store.
//! - [`eval`]: the evaluation harness: metrics, calibrated thresholds, reports.
//! - [`embed`]: a packed (padding-free) BERT encoder on candle tensors and fused kernels,
//!   on its own thread behind a bounded batching queue.
//!   The only module that imports candle or tokenizers.
//! - [`drafts`]: suggested resolutions from the retrieved evidence (extractive,
//!   a local model, or a chat-completions server), every sentence citing the
//!   evidence that supports it: grounding is checked, not hoped for.
//! - [`generate`]: a GGUF instruct model run by candle-transformers on a thread
//!   of its own; with [`embed`], the only module that imports candle.
//! - [`store`]: the `VectorStore` trait and its embedded Qdrant Edge backend, with
//!   a write-ahead journal so every acknowledged write survives a crash.
//!   The only module that imports Qdrant.
//! - [`runbook`]: runbook format, validation and plans, and the step runner:
//!   argv-only processes, every process a step starts killed when it ends,
//!   secrets redacted as output streams.
//! - [`connectors`]: ticketing systems: verified events in, a durable outbox of
//!   jobs, triage and write-back by policy, learning from closed tickets.
//! - [`automation`]: executions, approvals and runs with state (SQLite or
//!   PostgreSQL): each state change in one transaction with its entry in the
//!   keyed, anchored audit chain.
//! - [`inventory`]: the registry of configuration items (owner group, service,
//!   environment, tags) and the finder of the items a ticket mentions.
//! - [`changes`]: every execution as an ITIL change (standard, normal,
//!   emergency) and the freeze and maintenance windows that gate it.
//! - [`storms`]: outages (bursts of similar tickets) and duplicates, found in a
//!   sliding window as tickets are triaged; restart-safe in the state database.
//! - [`problems`]: problem candidates: recurring clusters of stored incidents
//!   (DBSCAN over the store's neighbours) with trend, recurring resolutions,
//!   groups and knowledge coverage, as JSON and an HTML report.
//! - [`review`]: the review queue (latest triage of every ticket with an id) and
//!   the insights a lead reads: auto-routing coverage and precision, volume.
//! - [`ui`]: the web console: sign-in sessions with CSRF tokens, page shells
//!   with a strict CSP, the embedded scripts that draw each view from the API.
//! - [`domain`]: tickets and incidents, their validation rules, and the scrubber
//!   that keeps personal and secret data out of everything stored or logged.
//! - [`prompts`]: the templates that turn records into model input.
//! - [`configuration`], [`telemetry`], [`metrics`]: settings, logging and the
//!   Prometheus registry behind `GET /metrics`.
//! - [`replica`]: this process's id among replicas sharing a PostgreSQL database.
//! - [`crash`]: named crash points that tests arm to kill the process at an exact step.

pub mod auth;
pub mod automation;
pub mod changes;
pub mod classify;
pub mod cli;
pub mod configuration;
pub mod connectors;
pub mod crash;
pub mod domain;
pub mod drafts;
pub mod embed;
pub mod eval;
pub mod generate;
pub mod ingest;
pub mod inventory;
pub mod metrics;
pub mod problems;
pub mod prompts;
pub mod replica;
pub mod review;
pub mod routes;
pub mod runbook;
pub mod startup;
pub mod store;
pub mod storms;
pub mod telemetry;
pub mod triage;
pub mod ui;
