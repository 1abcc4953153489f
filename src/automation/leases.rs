//! Runs across replicas sharing one state database.
//!
//! - A run starts by a claim: under its runbook's row in `run_locks`, the
//!   running executions of the runbook (and of its target) are counted in the
//!   database against the runbook's limits, and the execution moves to
//!   `running` owned by this replica with a lease, with its audit entry, in
//!   one transaction. Limits therefore hold across replicas.
//! - The owner renews its leases every third of the lease. Any replica that
//!   sees a running execution whose lease has expired, and that it does not
//!   run itself, records it `interrupted` (a compare-and-set on the lease, so
//!   a lease renewed meanwhile is left alone). An owner that cannot renew for
//!   a whole lease stops its own runs: it no longer holds them.
//! - A cancel of a run owned by another replica is written to the row; the
//!   owner passes it to the run when it next renews.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::model::{AutomationError, ExecutionState};
use super::repository::{ExecutionRepository, SERVICE_ACTOR, id_column, set_state};
use super::service::AutomationService;
use crate::runbook::{ConcurrencySpec, StopReason};

/// The outcome of a claim.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// The execution is running, owned by this replica.
    Started,
    /// A concurrency limit is reached; try again later.
    Full,
    /// The execution is no longer approved (cancelled meanwhile).
    Gone,
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl ExecutionRepository {
    /// Claims approved execution `id` of `runbook` on `target` for `owner`
    /// until `lease_until`, if the limits allow (see the module comment).
    pub async fn claim_run(
        &self,
        id: &str,
        runbook: &str,
        target: Option<&str>,
        limits: &ConcurrencySpec,
        owner: &str,
        lease_until: i64,
    ) -> Result<Claim, AutomationError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO run_locks (runbook, locked_at) VALUES ($1, $2) ON CONFLICT (runbook) DO NOTHING",
        )
        .bind(runbook.to_owned())
        .bind(self.clock.now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE run_locks SET locked_at = $1 WHERE runbook = $2")
            .bind(self.clock.now_ms())
            .bind(runbook.to_owned())
            .execute(&mut *tx)
            .await?;
        let (total, on_target): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN target = $3 OR (target IS NULL AND $3 IS NULL) \
             THEN 1 ELSE 0 END), 0) AS on_target FROM executions WHERE state = $1 AND runbook = $2",
        )
        .bind(ExecutionState::Running.as_str())
        .bind(runbook.to_owned())
        .bind(target.map(str::to_owned))
        .fetch_one(&mut *tx)
        .await?;
        if total >= i64::from(limits.global.max(1))
            || on_target >= i64::from(limits.per_target.max(1))
        {
            return Ok(Claim::Full);
        }
        if !set_state(
            &mut tx,
            id,
            ExecutionState::Approved,
            ExecutionState::Running,
            self.clock.now_ms(),
        )
        .await?
        {
            return Ok(Claim::Gone);
        }
        sqlx::query(
            "UPDATE executions SET owner = $1, lease_until = $2, cancel_requested_at = NULL WHERE id = $3",
        )
        .bind(owner.to_owned())
        .bind(lease_until)
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await?;
        self.commit_transition(
            tx,
            id,
            ExecutionState::Approved,
            ExecutionState::Running,
            SERVICE_ACTOR,
            serde_json::json!({ "replica": owner }),
        )
        .await?;
        Ok(Claim::Started)
    }

    /// Extends the leases of `owner`'s running executions to `until`.
    pub async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64, AutomationError> {
        Ok(
            sqlx::query("UPDATE executions SET lease_until = $1 WHERE owner = $2 AND state = $3")
                .bind(until)
                .bind(owner.to_owned())
                .bind(ExecutionState::Running.as_str())
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Running executions whose lease ended before `now` (or that never had one).
    pub async fn expired_runs(&self, now: i64) -> Result<Vec<String>, AutomationError> {
        self.ids_at(
            "SELECT id FROM executions WHERE state = $1 AND (lease_until IS NULL OR lease_until < $2)",
            ExecutionState::Running,
            now,
        )
        .await
    }

    /// Records `id` `interrupted` if it still runs under a lease that ended
    /// before `now`, with its audit entry; true if it did.
    pub async fn interrupt_expired(
        &self,
        id: &str,
        now: i64,
        detail: serde_json::Value,
    ) -> Result<bool, AutomationError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE executions SET state = $1, updated_at = $2, finished_at = $2 \
             WHERE id = $3 AND state = $4 AND (lease_until IS NULL OR lease_until < $2)",
        )
        .bind(ExecutionState::Interrupted.as_str())
        .bind(now)
        .bind(id.to_owned())
        .bind(ExecutionState::Running.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Ok(false);
        }
        self.commit_transition(
            tx,
            id,
            ExecutionState::Running,
            ExecutionState::Interrupted,
            SERVICE_ACTOR,
            detail,
        )
        .await?;
        Ok(true)
    }

    /// Asks the owner of running execution `id` to stop it; false if it is
    /// not running.
    pub async fn request_cancel(&self, id: &str) -> Result<bool, AutomationError> {
        Ok(sqlx::query(
            "UPDATE executions SET cancel_requested_at = $1 WHERE id = $2 AND state = $3",
        )
        .bind(self.clock.now_ms())
        .bind(id.to_owned())
        .bind(ExecutionState::Running.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// `owner`'s running executions that someone asked to cancel.
    pub async fn cancels_for(&self, owner: &str) -> Result<Vec<String>, AutomationError> {
        let rows = sqlx::query_as(
            "SELECT id FROM executions WHERE owner = $1 AND state = $2 AND cancel_requested_at IS NOT NULL",
        )
        .bind(owner.to_owned())
        .bind(ExecutionState::Running.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(id_column(rows))
    }
}

impl AutomationService {
    /// When this replica's leases end if renewed now.
    pub(super) fn lease_until(&self) -> i64 {
        self.repository.clock.now_ms() + ms(self.leases.lease)
    }

    /// Claims `id` for this replica, waiting while a limit is reached; false
    /// if it was cancelled (or the service began to stop) before it could start.
    pub(super) async fn claim(
        &self,
        id: &str,
        runbook: &str,
        target: Option<&str>,
        limits: &ConcurrencySpec,
        stop: &mut crate::runbook::StopSignal,
    ) -> Result<bool, AutomationError> {
        loop {
            match self
                .repository
                .claim_run(
                    id,
                    runbook,
                    target,
                    limits,
                    &self.leases.owner,
                    self.lease_until(),
                )
                .await?
            {
                Claim::Started => return Ok(true),
                Claim::Gone => return Ok(false),
                Claim::Full => {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = stop.stopped() => return Ok(false),
                    }
                }
            }
        }
    }

    /// Interrupts executions whose lease has expired and that do not run
    /// here; returns how many.
    pub(super) async fn reap_expired(&self) -> Result<usize, AutomationError> {
        let now = self.repository.clock.now_ms();
        let mut reaped = 0;
        for id in self.repository.expired_runs(now).await? {
            if self.active.is_running(&id) {
                continue; // ours and alive: the renewal is late, not lost
            }
            // Its steps may have outlived their replica on this host.
            let killed = crate::runbook::kill_leftovers(&id);
            let detail = serde_json::json!({
                "reason": "the replica running it stopped renewing its lease; it is not re-run",
                "reaped_by": self.leases.owner,
                "killed_process_groups": killed,
            });
            if self.repository.interrupt_expired(&id, now, detail).await? {
                tracing::warn!(execution = %id, "run lease expired: recorded interrupted");
                reaped += 1;
            }
        }
        Ok(reaped)
    }

    /// Renews this replica's leases, passes on cancels, and reaps expired
    /// leases, every third of the lease while the service lives.
    pub(super) fn spawn_lease_keeper(self: &Arc<Self>) {
        let service = Arc::downgrade(self);
        let lease = self.leases.lease;
        tokio::spawn(async move {
            let mut renewed = Instant::now();
            loop {
                let wait = match service.upgrade() {
                    Some(service) => service.repository.clock.sleep(lease / 3),
                    None => return,
                };
                wait.await;
                let Some(service) = service.upgrade() else {
                    return;
                };
                match service
                    .repository
                    .renew_leases(&service.leases.owner, service.lease_until())
                    .await
                {
                    Ok(_) => renewed = Instant::now(),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot renew run leases");
                        if renewed.elapsed() >= lease {
                            let stopped = service.active.stop_all(StopReason::Shutdown);
                            if stopped > 0 {
                                tracing::error!(
                                    runs = stopped,
                                    "run leases lost: stopping this replica's runs"
                                );
                            }
                        }
                        continue;
                    }
                }
                match service.repository.cancels_for(&service.leases.owner).await {
                    Ok(ids) => {
                        for id in ids {
                            service.active.stop(&id, StopReason::Cancelled);
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot read cancel requests"),
                }
                if let Err(err) = service.reap_expired().await {
                    tracing::warn!(error = %err, "cannot look for expired run leases");
                }
            }
        });
    }
}
