//! Switchboard: self-hosted AI triage and runbook automation for IT service desks.
//!
//! A ticket arrives (over HTTP or from a ticketing system's connector), is
//! scrubbed of personal data, embedded by a local transformer model, its
//! nearest past incidents and knowledge passages are retrieved, and the
//! neighbours' labels, blended with a classifier head trained in process,
//! become suggestions with confidence, evidence and a routing decision.
//! Approved runbooks run as argv processes, every step audited.
//!
//! The layers, from the outside in; each imports only the layers below it.
//!
//! **Entry points**
//! - [`cli`]: the `switchboard` commands: `serve`, `ingest`, `eval`, `bench`,
//!   `reindex`, `token`, `retrain`, `runbook`, `audit`, `connector`,
//!   `problems`, `migrate-store`, `drafts`, `retention`, `forget`. Each builds only the services it
//!   needs through [`app::parts`].
//! - [`server`]: `serve`: the route table, the accept loop, readiness (503
//!   until the app is built) and the drain at shutdown.
//!
//! **HTTP**
//! - [`routes`]: thin handlers (parse, call one service method, map the
//!   result), the one error-to-status table, authentication extractors, the
//!   middleware every request passes, `/openapi.json`.
//! - [`ui`]: the web console: sign-in sessions with CSRF tokens, page shells
//!   with a strict CSP, the embedded scripts that draw each view from the API.
//!
//! **The application**
//! - [`app`]: every service built once, in order, from the settings, and
//!   returned complete as an [`app::App`]; no service is filled in later.
//! - [`configuration`]: the settings, composed from the section each module
//!   defines next to itself: defaults, then TOML, then `SWITCHBOARD_*`.
//!
//! **Use cases**
//! - [`desk`]: "a ticket arrives", written once for the API, the connectors
//!   and the console: scrub, triage, storms, review queue, a draft from the
//!   same retrieval.
//! - [`connectors`]: ticketing systems: verified events in, a durable outbox
//!   of jobs, workers that send tickets through the desk and write back by
//!   policy, learning from closed tickets, history import.
//! - [`automation`]: runbook executions, approvals and runs with state
//!   (SQLite or PostgreSQL), each state change in one transaction with its
//!   audit entry; run leases across replicas; deferred changes.
//! - [`privacy`]: what is kept of tickets after the desk: retention of every
//!   table with ticket text, erasure of a ticket or a person's tickets.
//! - [`eval`]: the evaluation harness: metrics, calibrated thresholds, reports.
//! - [`ingest`]: CSV / JSONL incidents and Markdown articles into the store.
//!
//! **Features**
//! - [`triage`]: embed, retrieve, suggest (similarity-weighted voting blended
//!   with the head), remember tickets, learn from feedback, stats, ITIL
//!   priority. Feedback and versioned heads live in the state database.
//! - [`drafts`]: suggested resolutions from the retrieved evidence
//!   (extractive, a local model, or a chat-completions server), every
//!   sentence citing the evidence that supports it.
//! - [`storms`]: outages (bursts of similar tickets) and duplicates in a
//!   sliding window, restart-safe in the state database.
//! - [`problems`]: recurring clusters of stored incidents (DBSCAN over the
//!   store's neighbours) with trend, resolutions and knowledge coverage.
//! - [`review`]: the review queue and the insights a lead reads.
//! - [`changes`]: executions as ITIL changes, the freeze and maintenance
//!   calendar and the gate it puts on a run.
//! - [`runbook`]: runbook format, validation, plans, and the step runner:
//!   argv-only processes, every process a step starts killed when it ends,
//!   secrets redacted as output streams.
//! - [`inventory`]: configuration items and the finder of those a ticket mentions.
//! - [`classify`]: the classifier head (TF-IDF + embedding softmax regression).
//!
//! **Engines** (the only modules that import candle or Qdrant)
//! - [`embed`]: a packed (padding-free) BERT or MPNet encoder on candle tensors and
//!   fused kernels, on its own thread behind a bounded batching queue.
//! - [`generate`]: a GGUF instruct model run by candle-transformers on a
//!   thread of its own.
//! - [`store`]: the `VectorStore` trait with its embedded Qdrant Edge backend
//!   (write-ahead journal: every acknowledged write survives a crash) and its
//!   Qdrant server backend (`store/server/`).
//!
//! **Ground floor**
//! - [`infra`]: the state database and migrations, the [`infra::clock::Clock`]
//!   seam, named secrets, the keyed and anchored audit chain, TLS for every
//!   client and the server, this process's replica id, crash points for tests.
//! - [`domain`]: tickets and incidents, their validation, and the scrubber that
//!   keeps personal and secret data out of everything stored or logged.
//! - [`auth`]: API tokens (stored hashed), roles, constant-time checks, and
//!   console sign-in sessions.
//! - [`prompts`], [`telemetry`], [`metrics`], [`vectors`]: model input templates, logging,
//!   the Prometheus registry behind `GET /metrics`, similarity of embeddings.

pub mod app;
pub mod auth;
pub mod automation;
pub mod changes;
pub mod classify;
pub mod cli;
pub mod configuration;
pub mod connectors;
pub mod desk;
pub mod domain;
pub mod drafts;
pub mod embed;
pub mod eval;
pub mod generate;
pub mod infra;
pub mod ingest;
pub mod inventory;
pub mod metrics;
pub mod privacy;
pub mod problems;
pub mod prompts;
pub mod review;
pub mod routes;
pub mod runbook;
pub mod server;
pub mod store;
pub mod storms;
pub mod telemetry;
pub mod triage;
pub mod ui;
pub mod vectors;
