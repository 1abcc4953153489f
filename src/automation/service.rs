//! [`AutomationService`]: requests, approvals, cancels and runs of runbook
//! executions, one `process_*`-style method per operation; every state change
//! goes through the [`ExecutionRepository`] in one transaction with its audit
//! entry.
//!
//! States: `pending_approval -> approved -> running -> succeeded | failed |
//! timed_out | rolled_back | cancelled`, or `rejected`, `expired`, `cancelled`,
//! and `interrupted` for a run the service did not live (or wait) to finish
//! (never re-run).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::admission::{self, Admitted};
use super::model::{AutomationError, Execution, ExecutionRequest, ExecutionState, RunLeases};
use super::repository::{ExecutionRepository, NewExecution, SERVICE_ACTOR};
use super::runs::{ActiveRun, ActiveRuns, RunSlots};
use crate::auth::{Caller, Role};
use crate::changes::{ChangeCalendar, ChangeGate, ChangeSettings, Gate};
use crate::infra::audit::{AuditEntry, AuditLog, AuditRecord};
use crate::infra::clock::SharedClock;
use crate::infra::secrets::Secrets;
use crate::runbook::{
    Catalog, Inventory, StepResult, StopReason, parse_duration, run_checks, run_plan,
};

/// How long a cancel waits for a running step to be killed.
const CANCEL_WAIT: Duration = Duration::from_secs(30);

/// Requests, approvals, runs and audit of runbook executions.
pub struct AutomationService {
    pub(super) repository: Arc<ExecutionRepository>,
    audit: Arc<AuditLog>,
    pub(super) catalog: Catalog,
    pub(super) inventory: Inventory,
    secrets: Secrets,
    slots: RunSlots,
    pub(super) active: Arc<ActiveRuns>,
    /// Freeze and maintenance windows.
    pub(super) changes: ChangeGate,
    /// Least role that approves an emergency change.
    emergency_role: Role,
    /// This replica's id and run leases.
    pub(super) leases: RunLeases,
    /// `[tls] ca_file`, for `http` steps that name no CA of their own.
    default_ca_file: Option<String>,
    /// Switchboard's own files: no step may reach them.
    protected: Vec<std::path::PathBuf>,
}

/// What the automation service is made of, built by `crate::app::parts`.
pub struct AutomationParts {
    /// The state database.
    pub pool: sqlx::AnyPool,
    /// The audit chain every state change is written into.
    pub audit: AuditLog,
    /// The runbooks that may run.
    pub catalog: Catalog,
    /// The configuration items they may act on.
    pub inventory: Inventory,
    /// Secrets steps may ask for.
    pub secrets: Secrets,
    /// This replica's id and run leases.
    pub leases: RunLeases,
    /// What state changes are stamped with and expiries decided by.
    pub clock: SharedClock,
    /// `[tls] ca_file`: trusted by `http` steps that name no CA of their own.
    pub default_ca_file: Option<String>,
    /// Switchboard's own files (data directory, audit key, anchor), links
    /// resolved: no step argument made from a path parameter may lie inside.
    pub protected_paths: Vec<std::path::PathBuf>,
}

impl AutomationService {
    /// Connects the pieces; anchors audit entries a stopped process left
    /// unanchored; marks executions left `running` by a previous process as
    /// `interrupted` (killing what their steps left behind): all of them on
    /// a database of its own, those whose lease expired on a shared one (the
    /// rest belong to live replicas); starts the approved ones, the lease
    /// keeper and the scheduler of deferred changes.
    pub async fn start(
        parts: AutomationParts,
        changes: &ChangeSettings,
    ) -> Result<Arc<Self>, AutomationError> {
        let AutomationParts {
            pool,
            audit,
            catalog,
            inventory,
            secrets,
            leases,
            clock,
            default_ca_file,
            protected_paths,
        } = parts;
        let calendar =
            ChangeCalendar::new(&changes.windows).map_err(|message| AutomationError::Refused {
                field: "changes.windows".into(),
                message,
            })?;
        crate::runbook::become_subreaper();
        let audit = Arc::new(audit);
        audit
            .check_key()
            .await
            .map_err(|e| AutomationError::Corrupt(e.to_string()))?;
        audit
            .reconcile_anchor()
            .await
            .map_err(|e| AutomationError::Corrupt(e.to_string()))?;
        let service = Arc::new(Self {
            repository: Arc::new(ExecutionRepository::new(pool, Arc::clone(&audit), clock)),
            audit,
            catalog,
            changes: ChangeGate::new(calendar, inventory.clone()),
            inventory,
            secrets,
            slots: RunSlots::default(),
            active: Arc::default(),
            emergency_role: changes.emergency_role,
            leases,
            default_ca_file,
            protected: protected_paths,
        });
        let left_running = if service.leases.shared {
            Vec::new() // the lease keeper reaps them once their leases expire
        } else {
            service
                .repository
                .ids(Some(ExecutionState::Running), i64::MAX)
                .await?
        };
        if service.leases.shared {
            service.reap_expired().await?;
        }
        for id in left_running {
            // Its step processes outlived the old service: stop them, then say so.
            let killed = crate::runbook::kill_leftovers(&id);
            service
                .repository
                .transition(
                    &id,
                    ExecutionState::Running,
                    ExecutionState::Interrupted,
                    SERVICE_ACTOR,
                    serde_json::json!({
                        "reason": "the process stopped while the execution ran; it is not re-run",
                        "killed_process_groups": killed,
                    }),
                )
                .await?;
        }
        for id in service
            .repository
            .ids(Some(ExecutionState::Approved), i64::MAX)
            .await?
        {
            Arc::clone(&service).spawn_run(id);
        }
        service.spawn_lease_keeper();
        service.spawn_scheduler(Duration::from_secs(changes.scheduler_interval_s.max(1)));
        Ok(service)
    }

    /// The runbooks available.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The plan a request for `runbook` with `params` would run, by the same
    /// validation as [`Self::request`]; nothing is stored or audited (a
    /// preview changes nothing). The console validates its form with it.
    pub fn preview(
        &self,
        runbook: &str,
        params: &BTreeMap<String, serde_json::Value>,
    ) -> Result<crate::runbook::Plan, AutomationError> {
        let spec = self
            .catalog
            .get(runbook)
            .ok_or_else(|| AutomationError::NotFound(format!("no runbook {runbook:?}")))?;
        admission::plan_params(spec, params, &self.inventory, &self.protected).map_err(|refusal| {
            AutomationError::Refused {
                field: refusal.field,
                message: refusal.message,
            }
        })
    }

    /// The audit trail.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The audit trail, shared (connectors audit refused deliveries into it).
    pub fn audit_log(&self) -> Arc<AuditLog> {
        Arc::clone(&self.audit)
    }

    /// The state database.
    pub fn pool(&self) -> sqlx::AnyPool {
        self.repository.pool()
    }

    /// Records a refused request in the audit trail (a failure to is logged:
    /// the refusal stands either way).
    async fn audit_refusal(&self, caller: &Caller, runbook: &str, detail: serde_json::Value) {
        if let Err(err) = self
            .audit
            .append(AuditRecord {
                actor: &caller.name,
                action: "execution.refused",
                subject: runbook,
                detail,
                ..AuditRecord::default()
            })
            .await
        {
            tracing::error!(error = %err, "cannot audit a refused request");
        }
    }

    async fn refuse(
        &self,
        caller: &Caller,
        runbook: &str,
        field: String,
        message: String,
    ) -> AutomationError {
        let detail = serde_json::json!({ "field": field, "reason": message });
        self.audit_refusal(caller, runbook, detail).await;
        AutomationError::Refused { field, message }
    }

    /// Audits a request refused by a change freeze and returns the error.
    async fn refuse_frozen(
        &self,
        caller: &Caller,
        runbook: &str,
        freeze: crate::changes::WindowOccurrence,
        message: String,
    ) -> AutomationError {
        let detail = serde_json::json!({ "field": "change", "freeze": freeze.name, "until": freeze.end, "reason": message });
        self.audit_refusal(caller, runbook, detail).await;
        AutomationError::Frozen {
            window: freeze.name,
            until: freeze.end,
            message,
        }
    }

    /// Audits a caller whose role is too small for `action` on `subject`, and
    /// returns the error to answer with.
    pub async fn forbidden(
        &self,
        caller: &Caller,
        subject: &str,
        action: &str,
        message: String,
    ) -> AutomationError {
        if let Err(err) = self
            .audit
            .append(AuditRecord {
                actor: &caller.name,
                action: &format!("execution.{action}_refused"),
                subject,
                detail: serde_json::json!({ "reason": message }),
                ..AuditRecord::default()
            })
            .await
        {
            tracing::error!(error = %err, "cannot audit a refused request");
        }
        AutomationError::Forbidden(message)
    }

    /// Validates and records a request; pre-approved (and dry-run) requests start at once.
    /// Returns the execution and whether it was created now (false: idempotent replay).
    pub async fn request(
        self: &Arc<Self>,
        request: ExecutionRequest,
        caller: &Caller,
    ) -> Result<(Execution, bool), AutomationError> {
        if let Err(refusal) = admission::check_key(&request) {
            return Err(self
                .refuse(caller, &request.runbook, refusal.field, refusal.message)
                .await);
        }
        if let Some(key) = &request.idempotency_key
            && let Some(found) = self.replay(key, &request.runbook).await?
        {
            return Ok((found, false));
        }
        let Admitted {
            spec,
            mut planned,
            justification,
            change_type,
            auto,
        } = match admission::admit(&request, &self.catalog, &self.inventory, &self.protected) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                return Err(self
                    .refuse(caller, &request.runbook, refusal.field, refusal.message)
                    .await);
            }
        };
        planned.trust_default_ca(self.default_ca_file.as_deref());
        let now = self.repository.clock.now_ms();
        let emergency = request.emergency;
        // Dry runs change nothing and emergencies may override a freeze: only
        // the rest pass the freeze gate.
        let mut scheduled_for = None;
        let mut freeze_name = None;
        if emergency {
            freeze_name = self
                .changes
                .freeze_now(planned.target.as_deref(), now)
                .map(|f| f.name);
        } else if !request.dry_run {
            match self.changes.gate(spec, planned.target.as_deref(), now) {
                Gate::Open => {}
                Gate::Deferred { freeze, until } => {
                    scheduled_for = Some(until);
                    freeze_name = Some(freeze.name);
                }
                Gate::Refused { freeze, message } => {
                    return Err(self.refuse_frozen(caller, &spec.id, freeze, message).await);
                }
            }
        }
        let (state, needed, expires_at) = if auto {
            let state = if scheduled_for.is_some() {
                ExecutionState::Scheduled
            } else {
                ExecutionState::Approved
            };
            (state, 0, None)
        } else {
            let window = parse_duration(&spec.approval.expires_after).unwrap_or_default();
            let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
            (
                ExecutionState::PendingApproval,
                i64::from(spec.approval.approvers.max(1)),
                Some(now.saturating_add(window)),
            )
        };
        let approver_role = if emergency {
            self.emergency_role
        } else {
            spec.approval.role
        };
        let new = NewExecution {
            id: uuid::Uuid::new_v4().to_string(),
            runbook: spec.id.clone(),
            version: i64::from(spec.version),
            ticket_id: request.ticket_id.clone(),
            plan_json: serde_json::to_string(&planned)
                .map_err(|e| AutomationError::Corrupt(e.to_string()))?,
            target: planned.target.clone(),
            state,
            dry_run: request.dry_run,
            requested_by: caller.name.clone(),
            idempotency_key: request.idempotency_key.clone(),
            approvals_needed: needed,
            approver_role: serde_json::to_value(approver_role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "approver".into()),
            created_at: now,
            expires_at,
            change_type,
            justification: justification.clone(),
            scheduled_for,
        };
        let detail = serde_json::json!({
            "runbook": spec.id, "version": spec.version, "ticket_id": request.ticket_id,
            "params": planned.params, "target": planned.target, "dry_run": request.dry_run,
            "approval": if auto { "auto" } else { "manual" },
            "change_type": change_type.as_str(), "justification": justification,
            "freeze": freeze_name, "scheduled_for": scheduled_for,
        });
        if !self.repository.insert(&new, detail).await? {
            // A concurrent request with the same idempotency key won the race.
            let key = new.idempotency_key.as_deref().unwrap_or_default();
            return match self.replay(key, &request.runbook).await? {
                Some(found) => Ok((found, false)),
                None => Err(AutomationError::Conflict(format!(
                    "idempotency key {key:?} is in use"
                ))),
            };
        }
        if state == ExecutionState::Approved {
            Arc::clone(self).spawn_run(new.id.clone());
        }
        Ok((self.get(&new.id).await?, true))
    }

    /// The execution an idempotency key already names, if the runbook matches.
    async fn replay(&self, key: &str, runbook: &str) -> Result<Option<Execution>, AutomationError> {
        let Some((id, stored)) = self.repository.find_by_key(key).await? else {
            return Ok(None);
        };
        if stored != runbook {
            return Err(AutomationError::Conflict(format!(
                "idempotency key {key:?} was used for runbook {stored:?}"
            )));
        }
        Ok(Some(self.get(&id).await?))
    }

    /// Records an approval (or rejection) by `caller`; enough approvals start the run.
    pub async fn decide(
        self: &Arc<Self>,
        id: &str,
        caller: &Caller,
        approve: bool,
        comment: &str,
    ) -> Result<Execution, AutomationError> {
        if comment.chars().count() > 2000 || comment.chars().any(|c| c.is_control() && c != '\n') {
            return Err(AutomationError::Refused {
                field: "comment".into(),
                message: "comment must be at most 2000 characters without control characters"
                    .into(),
            });
        }
        if self.repository.decide(id, caller, approve, comment).await? {
            Arc::clone(self).spawn_run(id.to_owned());
        }
        self.get(id).await
    }

    /// Withdraws a request, or stops a running execution (its step processes
    /// are killed; no further step or rollback runs). The requester or an admin.
    pub async fn cancel(&self, id: &str, caller: &Caller) -> Result<Execution, AutomationError> {
        let execution = self.get(id).await?;
        if caller.name != execution.requested_by && caller.role < Role::Admin {
            return Err(AutomationError::Forbidden(
                "only the requester or an admin can cancel".into(),
            ));
        }
        let from = execution.state;
        if matches!(
            from,
            ExecutionState::PendingApproval | ExecutionState::Scheduled | ExecutionState::Approved
        ) && self
            .repository
            .transition(
                id,
                from,
                ExecutionState::Cancelled,
                &caller.name,
                serde_json::json!({}),
            )
            .await?
        {
            // An approved run may be waiting for a slot: let it go.
            self.active.stop(id, StopReason::Cancelled);
            return self.get(id).await;
        }
        let current = self.get(id).await?;
        if current.state == ExecutionState::Running {
            self.repository
                .audit_note(
                    &caller.name,
                    "execution.cancel_requested",
                    id,
                    current.state,
                    "stop the running execution",
                )
                .await;
            if self.active.stop(id, StopReason::Cancelled) {
                self.active.wait_ended(id, CANCEL_WAIT).await;
                return self.get(id).await;
            }
            // Another replica runs it: its lease keeper passes the cancel on.
            if self.repository.request_cancel(id).await? {
                let asked = std::time::Instant::now();
                while asked.elapsed() < CANCEL_WAIT {
                    let now = self.get(id).await?;
                    if now.state != ExecutionState::Running {
                        return Ok(now);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                return Err(AutomationError::Conflict(
                    "another replica runs the execution and has not stopped it yet; it will when it next renews its lease".into(),
                ));
            }
            return self.get(id).await;
        }
        Err(AutomationError::Conflict(format!(
            "the execution is {}, it can no longer be cancelled",
            current.state.as_str()
        )))
    }

    /// Starts running `id` in the background, unless it already runs here or the
    /// service is shutting down (it stays `approved` and runs at the next start).
    pub(super) fn spawn_run(self: Arc<Self>, id: String) {
        let Some(active) = self.active.register(&id) else {
            return;
        };
        tokio::spawn(async move {
            if let Err(err) = Arc::clone(&self).run(&id, active).await {
                tracing::error!(execution = %id, error = %err, "execution failed to run");
            }
        });
    }

    async fn run(self: Arc<Self>, id: &str, mut active: ActiveRun) -> Result<(), AutomationError> {
        let execution = self.repository.load(id).await?;
        let Some(spec) = self.catalog.get(&execution.runbook) else {
            self.repository
                .transition(
                    id,
                    ExecutionState::Approved,
                    ExecutionState::Failed,
                    SERVICE_ACTOR,
                    serde_json::json!({ "reason": format!("runbook {:?} is no longer in the catalog", execution.runbook) }),
                )
                .await?;
            return Ok(());
        };
        if !self.admit(&execution, spec).await? {
            return Ok(()); // deferred or cancelled by a freeze (recorded)
        }
        let target = execution.target.clone().unwrap_or_default();
        // This process's slots first (local order), then the claim that
        // counts every replica's runs in the database.
        let _permit = tokio::select! {
            permit = self.slots.acquire(&execution.runbook, &target, &spec.concurrency) => permit,
            // Cancelled (already recorded) or shutting down (stays approved).
            _ = active.stop.stopped() => return Ok(()),
        };
        if !self
            .claim(
                id,
                &execution.runbook,
                execution.target.as_deref(),
                &spec.concurrency,
                &mut active.stop,
            )
            .await?
        {
            return Ok(()); // cancelled meanwhile, or shutting down
        }
        crate::infra::crash::point("automation.running");
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<StepResult>();
        let repository = Arc::clone(&self.repository);
        let execution_id = id.to_owned();
        let writer = tokio::spawn(async move {
            let mut seq = 0i64;
            while let Some(result) = receiver.recv().await {
                seq += 1;
                if let Err(err) = repository.record_step(&execution_id, seq, &result).await {
                    tracing::error!(execution = %execution_id, error = %err, "cannot record a step result");
                }
            }
        });
        let record = |result: &StepResult| {
            let _ = sender.send(result.clone());
        };
        let (status, results) = if execution.dry_run {
            run_checks(&execution.plan, &self.secrets, id, &mut active.stop, record).await
        } else {
            run_plan(&execution.plan, &self.secrets, id, &mut active.stop, record).await
        };
        drop(sender);
        let _ = writer.await;
        let summary: Vec<serde_json::Value> = results
            .iter()
            .map(|r| serde_json::json!({ "phase": r.phase, "name": r.name, "status": r.status, "exit_code": r.exit_code, "killed_processes": r.killed_processes }))
            .collect();
        self.repository
            .transition(
                id,
                ExecutionState::Running,
                status.into(),
                SERVICE_ACTOR,
                serde_json::json!({ "steps": summary }),
            )
            .await?;
        Ok(())
    }

    /// Lets running executions finish for up to `grace`, then stops the rest
    /// (recorded `interrupted`); approved ones not yet started stay approved.
    pub async fn shutdown(&self, grace: Duration) {
        let stopped = self.active.drain(grace).await;
        tracing::info!(stopped, "runbook executions drained");
    }

    /// Expires `execution` if its approval window has passed; true if it did.
    async fn expire_if_due(&self, execution: &Execution) -> Result<bool, AutomationError> {
        match execution.expires_at {
            Some(at)
                if execution.state == ExecutionState::PendingApproval
                    && self.repository.clock.now_ms() > at =>
            {
                self.repository
                    .transition(
                        &execution.id,
                        ExecutionState::PendingApproval,
                        ExecutionState::Expired,
                        SERVICE_ACTOR,
                        serde_json::json!({ "expired_at": at }),
                    )
                    .await
            }
            _ => Ok(false),
        }
    }

    /// One execution with its decisions and step results; expires it first if due.
    pub async fn get(&self, id: &str) -> Result<Execution, AutomationError> {
        let execution = self.repository.load(id).await?;
        if self.expire_if_due(&execution).await? {
            return self.repository.load(id).await;
        }
        Ok(execution)
    }

    /// Executions, newest first, optionally in one state (at most 500).
    pub async fn list(
        &self,
        state: Option<ExecutionState>,
    ) -> Result<Vec<Execution>, AutomationError> {
        let ids = self.repository.ids(state, 500).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.get(&id).await?);
        }
        Ok(out)
    }

    /// How many executions are in each state (states with none are left out).
    pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, AutomationError> {
        self.repository.count_by_state().await
    }

    /// The audit entries about one execution.
    pub async fn history(&self, id: &str) -> Result<Vec<AuditEntry>, AutomationError> {
        self.repository.history(id).await
    }
}
