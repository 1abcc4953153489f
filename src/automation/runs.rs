//! Runs in progress: concurrency slots as RAII permits, and the registry that
//! lets a cancel reach a running execution and a shutdown drain them all.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::runbook::{ConcurrencySpec, StopReason, StopSignal};

/// Concurrency limits: one semaphore per runbook and one per runbook + target.
#[derive(Default)]
pub(super) struct RunSlots {
    /// Semaphores by key; the lock is held only to find or create one.
    semaphores: parking_lot::Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A held slot: both permits are returned when it drops, however the run ends.
pub(super) struct RunPermit {
    _runbook: OwnedSemaphorePermit,
    _target: OwnedSemaphorePermit,
}

impl RunSlots {
    fn semaphore(&self, key: String, permits: u32) -> Arc<Semaphore> {
        let mut semaphores = self.semaphores.lock();
        Arc::clone(
            semaphores
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(permits.max(1) as usize))),
        )
    }

    /// Waits for a slot of `runbook` (at most `limits.global` at once) on
    /// `target` (at most `limits.per_target`), in arrival order.
    pub async fn acquire(
        &self,
        runbook: &str,
        target: &str,
        limits: &ConcurrencySpec,
    ) -> RunPermit {
        // Always the runbook's semaphore first, then the target's: no two runs
        // wait for each other's.
        let global = self.semaphore(format!("runbook\u{0}{runbook}"), limits.global);
        let local = self.semaphore(
            format!("target\u{0}{runbook}\u{0}{target}"),
            limits.per_target,
        );
        let runbook = global
            .acquire_owned()
            .await
            .expect("semaphores are never closed");
        let target = local
            .acquire_owned()
            .await
            .expect("semaphores are never closed");
        RunPermit {
            _runbook: runbook,
            _target: target,
        }
    }
}

/// Executions being run by this process, each with the sender that stops it.
#[derive(Default)]
pub(super) struct ActiveRuns {
    runs: parking_lot::Mutex<HashMap<String, tokio::sync::watch::Sender<Option<StopReason>>>>,
    /// Set at shutdown: no new run starts.
    closing: AtomicBool,
    /// Woken whenever a run ends.
    ended: Notify,
}

/// Registration of one run; unregisters it (and wakes waiters) when dropped.
pub(super) struct ActiveRun {
    runs: Arc<ActiveRuns>,
    id: String,
    /// What stops this run.
    pub stop: StopSignal,
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        self.runs.runs.lock().remove(&self.id);
        self.runs.ended.notify_waiters();
    }
}

impl ActiveRuns {
    /// Registers a run of `id`; `None` when shutting down or already running.
    pub fn register(self: &Arc<Self>, id: &str) -> Option<ActiveRun> {
        if self.closing.load(Ordering::SeqCst) {
            return None;
        }
        let mut runs = self.runs.lock();
        if runs.contains_key(id) {
            return None;
        }
        let (sender, stop) = StopSignal::channel();
        runs.insert(id.to_owned(), sender);
        Some(ActiveRun {
            runs: Arc::clone(self),
            id: id.to_owned(),
            stop,
        })
    }

    /// Tells the run of `id` to stop; false if it is not running here.
    pub fn stop(&self, id: &str, reason: StopReason) -> bool {
        match self.runs.lock().get(id) {
            Some(sender) => {
                sender.send_replace(Some(reason));
                true
            }
            None => false,
        }
    }

    /// True once shutdown began: nothing new starts.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// True while `id` runs in this process.
    pub fn is_running(&self, id: &str) -> bool {
        self.runs.lock().contains_key(id)
    }

    /// Waits up to `timeout` for the run of `id` to end; true if it did.
    pub async fn wait_ended(&self, id: &str, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let ended = self.ended.notified();
                tokio::pin!(ended);
                ended.as_mut().enable();
                if !self.is_running(id) {
                    return;
                }
                ended.await;
            }
        })
        .await
        .is_ok()
    }

    /// Stops every run here with `reason`; returns how many.
    pub fn stop_all(&self, reason: StopReason) -> usize {
        let runs = self.runs.lock();
        for sender in runs.values() {
            sender.send_replace(Some(reason));
        }
        runs.len()
    }

    /// Stops new runs, waits up to `grace` for the running ones to finish, then
    /// stops the rest (their executions end `interrupted`) and waits for them.
    /// Returns how many had to be stopped.
    pub async fn drain(&self, grace: Duration) -> usize {
        self.closing.store(true, Ordering::SeqCst);
        if self.wait_all(grace).await {
            return 0;
        }
        let stopped = {
            let runs = self.runs.lock();
            for sender in runs.values() {
                sender.send_replace(Some(StopReason::Shutdown));
            }
            runs.len()
        };
        tracing::warn!(
            runs = stopped,
            "shutdown grace period over: stopping running executions"
        );
        if !self.wait_all(Duration::from_secs(30)).await {
            tracing::error!("running executions did not stop within 30 s of shutdown");
        }
        stopped
    }

    async fn wait_all(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let ended = self.ended.notified();
                tokio::pin!(ended);
                ended.as_mut().enable();
                if self.runs.lock().is_empty() {
                    return;
                }
                ended.await;
            }
        })
        .await
        .is_ok()
    }
}
