//! Change control inside the automation service: the freeze gate a request
//! and a run pass, the scheduler that starts deferred changes when their
//! window opens, and the change records of `GET /v1/changes`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::model::{AutomationError, Execution, ExecutionState};
use super::model::{Change, ChangeList};
use super::repository::SERVICE_ACTOR;
use super::service::AutomationService;
use crate::changes::gate::rfc3339;
use crate::changes::{ChangeType, Gate};
use crate::runbook::RunbookSpec;

/// Most change records one `GET /v1/changes` returns.
const MAX_CHANGES: i64 = 1000;

impl AutomationService {
    /// Checks an approved execution just before it runs: a deferred one not
    /// yet due goes back to `scheduled`; a non-emergency one that a freeze
    /// now covers is deferred (if its runbook allows) or cancelled. True if
    /// it may run now.
    pub(super) async fn admit(
        &self,
        execution: &Execution,
        spec: &RunbookSpec,
    ) -> Result<bool, AutomationError> {
        let now = self.repository.clock.now_ms();
        let id = &execution.id;
        if let Some(at) = execution.scheduled_for.filter(|at| *at > now) {
            let detail = serde_json::json!({ "scheduled_for": rfc3339(at), "reason": "approved; waits for its change window" });
            self.repository
                .reschedule(
                    id,
                    ExecutionState::Approved,
                    ExecutionState::Scheduled,
                    at,
                    detail,
                )
                .await?;
            return Ok(false);
        }
        if execution.dry_run || execution.change_type == ChangeType::Emergency {
            return Ok(true);
        }
        match self.changes.gate(spec, execution.target.as_deref(), now) {
            Gate::Open => Ok(true),
            Gate::Deferred { freeze, until } => {
                let detail = serde_json::json!({ "freeze": freeze.name, "scheduled_for": rfc3339(until), "reason": "a change freeze began before it ran" });
                self.repository
                    .reschedule(
                        id,
                        ExecutionState::Approved,
                        ExecutionState::Scheduled,
                        until,
                        detail,
                    )
                    .await?;
                Ok(false)
            }
            Gate::Refused { freeze, message } => {
                let detail = serde_json::json!({ "freeze": freeze.name, "reason": format!("a change freeze began before it ran: {message}") });
                self.repository
                    .transition(
                        id,
                        ExecutionState::Approved,
                        ExecutionState::Cancelled,
                        SERVICE_ACTOR,
                        detail,
                    )
                    .await?;
                Ok(false)
            }
        }
    }

    /// Starts every scheduled change whose time has come. Moving it to
    /// `approved` is a compare-and-set, so two processes never both start one.
    pub(super) async fn start_due(self: &Arc<Self>) -> Result<usize, AutomationError> {
        let mut started = 0;
        for id in self.repository.due(self.repository.clock.now_ms()).await? {
            if self.active.is_closing() {
                break;
            }
            let moved = self
                .repository
                .transition(
                    &id,
                    ExecutionState::Scheduled,
                    ExecutionState::Approved,
                    SERVICE_ACTOR,
                    serde_json::json!({ "reason": "its change window opened" }),
                )
                .await?;
            if moved {
                Arc::clone(self).spawn_run(id);
                started += 1;
            }
        }
        Ok(started)
    }

    /// Looks for due scheduled changes every `interval` until the service is
    /// dropped or shuts down. Holds only a weak reference, so it never keeps
    /// the service alive.
    pub(super) fn spawn_scheduler(self: &Arc<Self>, interval: Duration) {
        let service: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let Some(service) = service.upgrade() else {
                    break;
                };
                if service.active.is_closing() {
                    break;
                }
                if let Err(err) = service.start_due().await {
                    tracing::warn!(error = %err, "cannot start scheduled changes; retrying");
                }
            }
        });
    }

    /// Change records and windows of `[from, to)` (Unix milliseconds).
    pub async fn changes(&self, from: i64, to: i64) -> Result<ChangeList, AutomationError> {
        let ids = self.repository.ids_between(from, to, MAX_CHANGES).await?;
        let mut changes = Vec::with_capacity(ids.len());
        for id in ids {
            let execution = self.get(&id).await?;
            changes.push(self.change_record(execution));
        }
        Ok(ChangeList {
            from,
            to,
            changes,
            windows: self.changes.windows_between(from, to),
        })
    }

    fn change_record(&self, execution: Execution) -> Change {
        let spec = self.catalog.get(&execution.runbook);
        let during_freeze = (execution.change_type == ChangeType::Emergency)
            .then(|| {
                self.changes
                    .freeze_now(execution.target.as_deref(), execution.created_at)
            })
            .flatten()
            .map(|f| f.name);
        Change {
            change_type: execution.change_type,
            runbook: execution.runbook,
            title: spec.map(|s| s.title.clone()).unwrap_or_default(),
            risk: spec.map(|s| s.risk),
            target: execution.target,
            state: execution.state,
            requested_by: execution.requested_by,
            justification: execution.justification,
            approved_by: execution
                .decisions
                .into_iter()
                .filter(|d| d.decision == "approved")
                .map(|d| d.approver)
                .collect(),
            during_freeze,
            created_at: execution.created_at,
            scheduled_for: execution.scheduled_for,
            started_at: execution.started_at,
            finished_at: execution.finished_at,
            id: execution.id,
        }
    }
}
