//! What every way of running a step shares: how a step ended, how much of
//! its output is kept, and the signal that stops a run early. Below the
//! runner (`executor.rs`) and the two kinds of step (`process.rs`, `http.rs`).

use serde::{Deserialize, Serialize};

/// Bytes of stdout and of stderr kept per step (after redaction).
pub const OUTPUT_LIMIT_BYTES: usize = 64 * 1024;

/// How one step ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Exit status 0 (or an expected HTTP status).
    Succeeded,
    /// Non-zero exit, signal, or the program could not start.
    Failed,
    /// Killed at its timeout.
    TimedOut,
    /// Killed because the run was cancelled or the service shut down.
    Cancelled,
}

/// Why a run was asked to stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An agent or admin cancelled it.
    Cancelled,
    /// The service is shutting down and its grace period is over.
    Shutdown,
}

/// Tells a running plan to stop; the sending half is kept by whoever may stop it.
#[derive(Debug, Clone)]
pub struct StopSignal(tokio::sync::watch::Receiver<Option<StopReason>>);

impl StopSignal {
    /// A signal and the sender that fires it.
    pub fn channel() -> (tokio::sync::watch::Sender<Option<StopReason>>, Self) {
        let (sender, receiver) = tokio::sync::watch::channel(None);
        (sender, Self(receiver))
    }

    /// A signal that never fires.
    pub fn never() -> Self {
        Self::channel().1
    }

    /// Why the run was stopped, if it was.
    pub fn reason(&self) -> Option<StopReason> {
        *self.0.borrow()
    }

    /// Resolves when the run is told to stop (never, once the sender is gone
    /// without stopping it). Cancel-safe.
    pub async fn stopped(&mut self) -> StopReason {
        loop {
            if let Some(reason) = *self.0.borrow_and_update() {
                return reason;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
