//! [`AutomationService`]: requests, approvals, runs and their audit trail.
//!
//! States: `pending_approval -> approved -> running -> succeeded | failed |
//! timed_out | rolled_back`, or `rejected`, `expired`, `cancelled`, and
//! `interrupted` for a run the process did not live to finish (never re-run).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

use super::audit::{AuditEntry, AuditLog, AuditRecord};
use super::db::now_ms;
use crate::auth::{Caller, Role};
use crate::runbook::{
    ApprovalMode, Catalog, Inventory, Plan, PlanError, RunStatus, Secrets, StepResult,
    parse_duration, plan, run_checks, run_plan,
};

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionState {
    /// Waiting for approvers.
    PendingApproval,
    /// Approved (or pre-approved); about to run.
    Approved,
    /// Steps are running.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A check or step failed.
    Failed,
    /// A step was killed at its timeout.
    TimedOut,
    /// A step failed and the rollback succeeded.
    RolledBack,
    /// An approver said no.
    Rejected,
    /// Nobody approved in time.
    Expired,
    /// Withdrawn before it ran.
    Cancelled,
    /// The process stopped while it ran; it is never re-run by itself.
    Interrupted,
}

impl ExecutionState {
    /// The name used in the database, the API and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::RolledBack => "rolled_back",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }

    /// Parses a stored or requested state name.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }
}

impl From<RunStatus> for ExecutionState {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Succeeded => Self::Succeeded,
            RunStatus::Failed => Self::Failed,
            RunStatus::TimedOut => Self::TimedOut,
            RunStatus::RolledBack => Self::RolledBack,
        }
    }
}

/// `POST /v1/executions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRequest {
    /// Runbook id.
    #[schema(min_length = 1)]
    pub runbook: String,
    /// Parameter values (strings or numbers); `target` names the inventory item.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// The ticket this fixes.
    #[serde(default)]
    pub ticket_id: Option<String>,
    /// Repeating a request with the same key returns the same execution.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Run only the check steps.
    #[serde(default)]
    pub dry_run: bool,
}

/// One approver's decision.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Decision {
    /// Token name of the approver.
    pub approver: String,
    /// `approved` or `rejected`.
    pub decision: String,
    /// Their comment.
    pub comment: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// An execution as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Execution {
    /// Id.
    pub id: String,
    /// Runbook id and version.
    pub runbook: String,
    /// Version of the runbook when requested.
    pub runbook_version: i64,
    /// Ticket it belongs to.
    pub ticket_id: Option<String>,
    /// Inventory item acted on.
    pub target: Option<String>,
    /// Current state.
    pub state: ExecutionState,
    /// Only check steps.
    pub dry_run: bool,
    /// Token name of the requester.
    pub requested_by: String,
    /// Approvals still needed.
    pub approvals_needed: i64,
    /// Approvals and rejections so far.
    pub decisions: Vec<Decision>,
    /// The validated plan (parameters substituted).
    pub plan: Plan,
    /// Step results so far.
    pub steps: Vec<StepResult>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When a pending request expires.
    pub expires_at: Option<i64>,
    /// When it started running.
    pub started_at: Option<i64>,
    /// When it finished.
    pub finished_at: Option<i64>,
}

/// Failures of the automation layer.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// The request or a parameter is invalid (refused and audited).
    #[error("{message}")]
    Refused {
        /// The offending field, e.g. `params.directory`.
        field: String,
        /// Why.
        message: String,
    },
    /// No such execution or runbook.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (role, own request).
    #[error("{0}")]
    Forbidden(String),
    /// The execution is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Limits of running executions, by runbook and by runbook + target.
#[derive(Default)]
struct Running {
    per_runbook: HashMap<String, u32>,
    per_target: HashMap<(String, String), u32>,
}

/// Requests, approvals, runs and audit of runbook executions.
pub struct AutomationService {
    pool: AnyPool,
    audit: AuditLog,
    catalog: Catalog,
    inventory: Inventory,
    secrets: Secrets,
    running: parking_lot::Mutex<Running>,
}

const SERVICE_ACTOR: &str = "switchboard";

fn value_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl AutomationService {
    /// Connects the pieces and marks executions left `running` by a previous
    /// process as `interrupted` (audited), and overdue requests as `expired`.
    pub async fn start(
        pool: AnyPool,
        catalog: Catalog,
        inventory: Inventory,
        secrets: Secrets,
    ) -> Result<Arc<Self>, AutomationError> {
        let service = Arc::new(Self {
            audit: AuditLog::new(pool.clone()),
            pool,
            catalog,
            inventory,
            secrets,
            running: parking_lot::Mutex::new(Running::default()),
        });
        let stranded = sqlx::query("SELECT id FROM executions WHERE state = $1")
            .bind(ExecutionState::Running.as_str())
            .fetch_all(&service.pool)
            .await?;
        for row in stranded {
            let id: String = row.try_get("id")?;
            // Its step processes outlived the old service: stop them, then say so.
            let killed = crate::runbook::kill_leftovers(&id);
            service
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
        let approved = sqlx::query("SELECT id FROM executions WHERE state = $1")
            .bind(ExecutionState::Approved.as_str())
            .fetch_all(&service.pool)
            .await?;
        for row in approved {
            let id: String = row.try_get("id")?;
            Arc::clone(&service).spawn_run(id);
        }
        Ok(service)
    }

    /// The runbooks available.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The audit trail.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    async fn refuse(
        &self,
        caller: &Caller,
        runbook: &str,
        field: String,
        message: String,
    ) -> AutomationError {
        let detail = serde_json::json!({ "field": field, "reason": message });
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
        AutomationError::Refused { field, message }
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
        if let Some(key) = &request.idempotency_key {
            if key.is_empty() || key.len() > 128 || key.chars().any(char::is_control) {
                return Err(self
                    .refuse(
                        caller,
                        &request.runbook,
                        "idempotency_key".into(),
                        "must be 1-128 printable characters".into(),
                    )
                    .await);
            }
            let existing =
                sqlx::query("SELECT id, runbook FROM executions WHERE idempotency_key = $1")
                    .bind(key.clone())
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(row) = existing {
                let runbook: String = row.try_get("runbook")?;
                if runbook != request.runbook {
                    return Err(AutomationError::Conflict(format!(
                        "idempotency key {key:?} was used for runbook {runbook:?}"
                    )));
                }
                let id: String = row.try_get("id")?;
                return Ok((self.get(&id).await?, false));
            }
        }
        if let Some(ticket) = &request.ticket_id
            && crate::domain::validate_id(ticket).is_err()
        {
            return Err(self
                .refuse(
                    caller,
                    &request.runbook,
                    "ticket_id".into(),
                    "must be 1-128 characters without whitespace".into(),
                )
                .await);
        }
        let Some(spec) = self.catalog.get(&request.runbook) else {
            return Err(self
                .refuse(
                    caller,
                    &request.runbook,
                    "runbook".into(),
                    format!("no runbook {:?}", request.runbook),
                )
                .await);
        };
        let mut given = BTreeMap::new();
        for (name, value) in &request.params {
            let Some(text) = value_text(value) else {
                return Err(self
                    .refuse(
                        caller,
                        &spec.id,
                        format!("params.{name}"),
                        format!("parameter {name}: must be a string or a number"),
                    )
                    .await);
            };
            given.insert(name.clone(), text);
        }
        let planned = match plan(spec, &given, &self.inventory) {
            Ok(planned) => planned,
            Err(err) => {
                let field = match &err {
                    PlanError::Parameter(p) => format!("params.{}", p.parameter),
                    PlanError::Target(_) | PlanError::MissingTarget => "params.target".to_owned(),
                };
                return Err(self.refuse(caller, &spec.id, field, err.to_string()).await);
            }
        };
        let now = now_ms();
        let auto = spec.approval.mode == ApprovalMode::Auto || request.dry_run;
        let (state, needed, expires_at) = if auto {
            (ExecutionState::Approved, 0, None)
        } else {
            let window = parse_duration(&spec.approval.expires_after).unwrap_or_default();
            let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
            (
                ExecutionState::PendingApproval,
                i64::from(spec.approval.approvers),
                Some(now.saturating_add(window)),
            )
        };
        let id = uuid::Uuid::new_v4().to_string();
        let plan_json =
            serde_json::to_string(&planned).map_err(|e| AutomationError::Corrupt(e.to_string()))?;
        let role = serde_json::to_value(spec.approval.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "approver".into());
        let inserted = sqlx::query(
            "INSERT INTO executions (id, runbook, runbook_version, ticket_id, plan, target, state, dry_run, \
             requested_by, idempotency_key, approvals_needed, approver_role, created_at, expires_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(id.clone())
        .bind(spec.id.clone())
        .bind(i64::from(spec.version))
        .bind(request.ticket_id.clone())
        .bind(plan_json)
        .bind(planned.target.clone())
        .bind(state.as_str())
        .bind(i64::from(request.dry_run))
        .bind(caller.name.clone())
        .bind(request.idempotency_key.clone())
        .bind(needed)
        .bind(role)
        .bind(now)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await;
        if let Err(err) = inserted {
            // A concurrent request with the same idempotency key won the race.
            if let (Some(key), sqlx::Error::Database(_)) = (&request.idempotency_key, &err) {
                let row = sqlx::query("SELECT id FROM executions WHERE idempotency_key = $1")
                    .bind(key.clone())
                    .fetch_optional(&self.pool)
                    .await?;
                if let Some(row) = row {
                    let id: String = row.try_get("id")?;
                    return Ok((self.get(&id).await?, false));
                }
            }
            return Err(err.into());
        }
        self.audit
            .append(AuditRecord {
                actor: &caller.name,
                action: "execution.requested",
                subject: &id,
                before: "",
                after: state.as_str(),
                detail: serde_json::json!({
                    "runbook": spec.id, "version": spec.version, "ticket_id": request.ticket_id,
                    "params": planned.params, "target": planned.target, "dry_run": request.dry_run,
                    "approval": if auto { "auto" } else { "manual" },
                }),
            })
            .await?;
        if state == ExecutionState::Approved {
            Arc::clone(self).spawn_run(id.clone());
        }
        Ok((self.get(&id).await?, true))
    }

    /// Moves `id` from `from` to `to` if it is still in `from`, and audits it.
    async fn transition(
        &self,
        id: &str,
        from: ExecutionState,
        to: ExecutionState,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<bool, AutomationError> {
        let now = now_ms();
        let started = (to == ExecutionState::Running).then_some(now);
        let finished = matches!(
            to,
            ExecutionState::Succeeded
                | ExecutionState::Failed
                | ExecutionState::TimedOut
                | ExecutionState::RolledBack
                | ExecutionState::Rejected
                | ExecutionState::Expired
                | ExecutionState::Cancelled
                | ExecutionState::Interrupted
        )
        .then_some(now);
        let changed = sqlx::query(
            "UPDATE executions SET state = $1, updated_at = $2, started_at = COALESCE($3, started_at), \
             finished_at = COALESCE($4, finished_at) WHERE id = $5 AND state = $6",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(started)
        .bind(finished)
        .bind(id.to_owned())
        .bind(from.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        if changed {
            self.audit
                .append(AuditRecord {
                    actor,
                    action: &format!("execution.{}", to.as_str()),
                    subject: id,
                    before: from.as_str(),
                    after: to.as_str(),
                    detail,
                })
                .await?;
        }
        Ok(changed)
    }

    /// Expires `execution` if its approval window has passed; true if it did.
    async fn expire_if_due(&self, execution: &Execution) -> Result<bool, AutomationError> {
        match execution.expires_at {
            Some(at) if execution.state == ExecutionState::PendingApproval && now_ms() > at => {
                self.transition(
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

    /// Records an approval (or rejection) by `caller`.
    pub async fn decide(
        self: &Arc<Self>,
        id: &str,
        caller: &Caller,
        approve: bool,
        comment: &str,
    ) -> Result<Execution, AutomationError> {
        let execution = self.get(id).await?;
        let action = if approve { "approve" } else { "reject" };
        let refuse_audited = |reason: String| async move {
            let _ = self
                .audit
                .append(AuditRecord {
                    actor: &caller.name,
                    action: &format!("execution.{action}_refused"),
                    subject: id,
                    before: execution.state.as_str(),
                    after: execution.state.as_str(),
                    detail: serde_json::json!({ "reason": reason }),
                })
                .await;
            reason
        };
        if comment.chars().count() > 2000 || comment.chars().any(|c| c.is_control() && c != '\n') {
            return Err(AutomationError::Refused {
                field: "comment".into(),
                message: "comment must be at most 2000 characters without control characters"
                    .into(),
            });
        }
        let needed_role = self.approver_role(id).await?;
        if caller.role < needed_role {
            let reason = refuse_audited(
                format!("this runbook needs the {needed_role:?} role to {action}").to_lowercase(),
            )
            .await;
            return Err(AutomationError::Forbidden(reason));
        }
        if caller.name == execution.requested_by {
            let reason =
                refuse_audited("the requester cannot approve or reject their own request".into())
                    .await;
            return Err(AutomationError::Forbidden(reason));
        }
        if self.expire_if_due(&execution).await? {
            let reason = refuse_audited("the approval window has expired".into()).await;
            return Err(AutomationError::Conflict(reason));
        }
        if execution.state != ExecutionState::PendingApproval {
            let reason = refuse_audited(format!(
                "the execution is {}, not pending approval",
                execution.state.as_str()
            ))
            .await;
            return Err(AutomationError::Conflict(reason));
        }
        if execution
            .decisions
            .iter()
            .any(|d| d.approver == caller.name)
        {
            let reason = refuse_audited(format!(
                "{} has already decided on this execution",
                caller.name
            ))
            .await;
            return Err(AutomationError::Conflict(reason));
        }
        let decision = if approve { "approved" } else { "rejected" };
        sqlx::query("INSERT INTO approvals (execution_id, approver, decision, comment, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.to_owned())
            .bind(caller.name.clone())
            .bind(decision)
            .bind(comment.to_owned())
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        self.audit
            .append(AuditRecord {
                actor: &caller.name,
                action: &format!("execution.{decision}_by"),
                subject: id,
                before: execution.state.as_str(),
                after: execution.state.as_str(),
                detail: serde_json::json!({ "comment": comment }),
            })
            .await?;
        if !approve {
            self.transition(
                id,
                ExecutionState::PendingApproval,
                ExecutionState::Rejected,
                &caller.name,
                serde_json::json!({ "comment": comment }),
            )
            .await?;
        } else {
            let approvals = execution
                .decisions
                .iter()
                .filter(|d| d.decision == "approved")
                .count()
                + 1;
            if i64::try_from(approvals).unwrap_or(i64::MAX) >= execution.approvals_needed
                && self
                    .transition(
                        id,
                        ExecutionState::PendingApproval,
                        ExecutionState::Approved,
                        &caller.name,
                        serde_json::json!({ "approvals": approvals }),
                    )
                    .await?
            {
                Arc::clone(self).spawn_run(id.to_owned());
            }
        }
        self.get(id).await
    }

    /// Withdraws a request that has not started.
    pub async fn cancel(&self, id: &str, caller: &Caller) -> Result<Execution, AutomationError> {
        let execution = self.get(id).await?;
        if caller.name != execution.requested_by && caller.role < Role::Admin {
            return Err(AutomationError::Forbidden(
                "only the requester or an admin can cancel".into(),
            ));
        }
        let from = execution.state;
        let cancellable = matches!(
            from,
            ExecutionState::PendingApproval | ExecutionState::Approved
        );
        if !cancellable
            || !self
                .transition(
                    id,
                    from,
                    ExecutionState::Cancelled,
                    &caller.name,
                    serde_json::json!({}),
                )
                .await?
        {
            return Err(AutomationError::Conflict(format!(
                "the execution is {}, it can no longer be cancelled",
                from.as_str()
            )));
        }
        self.get(id).await
    }

    async fn approver_role(&self, id: &str) -> Result<Role, AutomationError> {
        let row = sqlx::query("SELECT approver_role FROM executions WHERE id = $1")
            .bind(id.to_owned())
            .fetch_one(&self.pool)
            .await?;
        let role: String = row.try_get("approver_role")?;
        serde_json::from_value(serde_json::Value::String(role))
            .map_err(|e| AutomationError::Corrupt(e.to_string()))
    }

    fn spawn_run(self: Arc<Self>, id: String) {
        tokio::spawn(async move {
            if let Err(err) = self.run(&id).await {
                tracing::error!(execution = %id, error = %err, "execution failed to run");
            }
        });
    }

    /// Takes a concurrency slot for the execution's runbook and target, waiting for one.
    async fn acquire(&self, runbook: &str, target: &str) -> Result<(), AutomationError> {
        let spec = self
            .catalog
            .get(runbook)
            .ok_or_else(|| AutomationError::NotFound(format!("runbook {runbook:?} is gone")))?;
        loop {
            {
                let mut running = self.running.lock();
                let key = (runbook.to_owned(), target.to_owned());
                let global = running.per_runbook.get(runbook).copied().unwrap_or(0);
                let local = running.per_target.get(&key).copied().unwrap_or(0);
                if global < spec.concurrency.global && local < spec.concurrency.per_target {
                    *running.per_runbook.entry(runbook.to_owned()).or_default() += 1;
                    *running.per_target.entry(key).or_default() += 1;
                    return Ok(());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    fn release(&self, runbook: &str, target: &str) {
        let mut running = self.running.lock();
        if let Some(n) = running.per_runbook.get_mut(runbook) {
            *n = n.saturating_sub(1);
        }
        if let Some(n) = running
            .per_target
            .get_mut(&(runbook.to_owned(), target.to_owned()))
        {
            *n = n.saturating_sub(1);
        }
    }

    async fn run(&self, id: &str) -> Result<(), AutomationError> {
        let execution = self.get(id).await?;
        let target = execution.target.clone().unwrap_or_default();
        self.acquire(&execution.runbook, &target).await?;
        let outcome = self.run_slot(&execution).await;
        self.release(&execution.runbook, &target);
        outcome
    }

    async fn run_slot(&self, execution: &Execution) -> Result<(), AutomationError> {
        let id = execution.id.as_str();
        if !self
            .transition(
                id,
                ExecutionState::Approved,
                ExecutionState::Running,
                SERVICE_ACTOR,
                serde_json::json!({}),
            )
            .await?
        {
            return Ok(()); // cancelled meanwhile
        }
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<StepResult>();
        let pool = self.pool.clone();
        let execution_id = id.to_owned();
        let writer = tokio::spawn(async move {
            let mut seq = 0i64;
            while let Some(result) = receiver.recv().await {
                seq += 1;
                let json = serde_json::to_string(&result).unwrap_or_default();
                if let Err(err) = sqlx::query(
                    "INSERT INTO step_results (execution_id, seq, result) VALUES ($1, $2, $3)",
                )
                .bind(execution_id.clone())
                .bind(seq)
                .bind(json)
                .execute(&pool)
                .await
                {
                    tracing::error!(execution = %execution_id, error = %err, "cannot record a step result");
                }
            }
        });
        let record = |result: &StepResult| {
            let _ = sender.send(result.clone());
        };
        let (status, results) = if execution.dry_run {
            run_checks(&execution.plan, &self.secrets, id, record).await
        } else {
            run_plan(&execution.plan, &self.secrets, id, record).await
        };
        drop(sender);
        let _ = writer.await;
        let summary: Vec<serde_json::Value> = results
            .iter()
            .map(|r| serde_json::json!({ "phase": r.phase, "name": r.name, "status": r.status, "exit_code": r.exit_code }))
            .collect();
        self.transition(
            id,
            ExecutionState::Running,
            status.into(),
            SERVICE_ACTOR,
            serde_json::json!({ "steps": summary }),
        )
        .await?;
        Ok(())
    }

    /// One execution with its decisions and step results; expires it first if due.
    pub async fn get(&self, id: &str) -> Result<Execution, AutomationError> {
        let execution = self.load(id).await?;
        if self.expire_if_due(&execution).await? {
            return self.load(id).await;
        }
        Ok(execution)
    }

    async fn load(&self, id: &str) -> Result<Execution, AutomationError> {
        let row = sqlx::query("SELECT * FROM executions WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AutomationError::NotFound(format!("no execution {id:?}")))?;
        let corrupt = |e: &dyn std::fmt::Display| AutomationError::Corrupt(e.to_string());
        let state: String = row.try_get("state")?;
        let plan_json: String = row.try_get("plan")?;
        let decisions = sqlx::query("SELECT approver, decision, comment, at FROM approvals WHERE execution_id = $1 ORDER BY at")
            .bind(id.to_owned())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Decision {
                    approver: r.try_get("approver")?,
                    decision: r.try_get("decision")?,
                    comment: r.try_get("comment")?,
                    at: r.try_get("at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let steps =
            sqlx::query("SELECT result FROM step_results WHERE execution_id = $1 ORDER BY seq")
                .bind(id.to_owned())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    let json: String = r.try_get("result")?;
                    serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))
                })
                .collect::<Result<Vec<StepResult>, sqlx::Error>>()?;
        let approved = i64::try_from(
            decisions
                .iter()
                .filter(|d| d.decision == "approved")
                .count(),
        )
        .unwrap_or(0);
        let needed: i64 = row.try_get("approvals_needed")?;
        Ok(Execution {
            id: row.try_get("id")?,
            runbook: row.try_get("runbook")?,
            runbook_version: row.try_get("runbook_version")?,
            ticket_id: row.try_get("ticket_id")?,
            target: row.try_get("target")?,
            state: ExecutionState::parse(&state).ok_or_else(|| corrupt(&state))?,
            dry_run: row.try_get::<i64, _>("dry_run")? != 0,
            requested_by: row.try_get("requested_by")?,
            approvals_needed: (needed - approved).max(0),
            decisions,
            plan: serde_json::from_str(&plan_json).map_err(|e| corrupt(&e))?,
            steps,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
        })
    }

    /// Executions, newest first, optionally in one state (at most 500).
    pub async fn list(
        &self,
        state: Option<ExecutionState>,
    ) -> Result<Vec<Execution>, AutomationError> {
        let rows =
            match state {
                Some(state) => sqlx::query(
                    "SELECT id FROM executions WHERE state = $1 ORDER BY created_at DESC LIMIT 500",
                )
                .bind(state.as_str())
                .fetch_all(&self.pool)
                .await?,
                None => {
                    sqlx::query("SELECT id FROM executions ORDER BY created_at DESC LIMIT 500")
                        .fetch_all(&self.pool)
                        .await?
                }
            };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            out.push(self.get(&id).await?);
        }
        Ok(out)
    }

    /// How many executions are in each state (states with none are left out).
    pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, AutomationError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM executions GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
            .collect()
    }

    /// The audit entries about one execution.
    pub async fn history(&self, id: &str) -> Result<Vec<AuditEntry>, AutomationError> {
        Ok(self.audit.for_subject(id).await?)
    }
}
