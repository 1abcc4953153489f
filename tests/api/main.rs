//! Integration tests: the real server on a free port, the real model, a real
//! embedded store in a temporary directory.

mod approvals;
mod batching;
mod changes;
mod chat_server;
mod configuration_items;
mod connectors;
mod console;
mod datasets;
mod drafts;
mod durability;
mod errors;
mod eval;
mod executions;
mod feedback;
mod helpdesk;
mod helpers;
mod incidents;
mod ingest;
mod metrics;
mod openapi;
mod parity;
mod postgres;
mod privacy;
mod problems;
mod qdrant_cluster;
mod qdrant_process;
mod replicas;
mod rt;
mod runbooks;
mod server_process;
mod store;
mod store_contract;
mod storms;
mod triage;
mod vendors;
