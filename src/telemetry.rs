//! Logging setup: human-readable lines on a terminal, JSON otherwise; level from `RUST_LOG`.
//!
//! The default filter quiets Qdrant Edge's start-up chatter (WAL opened, feature
//! flags it expects a Qdrant server to set) so operators see what matters.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Log filter used when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,qdrant_edge=warn,qdrant_edge::common=error";

/// Installs the global tracing subscriber; call once at start-up.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}
