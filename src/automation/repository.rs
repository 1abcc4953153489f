//! [`ExecutionRepository`]: every read and write of execution state, on SQLite
//! or PostgreSQL. Each state change commits in one transaction together with
//! its audit entry; a decision locks the execution's row first, so approvals
//! arriving at the same moment are counted one after the other.
//!
//! Locking: a transaction's first statement is a write to the row it decides
//! on (`UPDATE executions SET updated_at = updated_at ...`): a row lock on
//! PostgreSQL, the database's write lock on SQLite (taken up front, so a
//! transaction never has to upgrade a read lock and fail as busy). Audit
//! appends then lock the `audit_head` row; every transaction takes the two in
//! that order.

use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool};

use super::model::{AutomationError, Decision, Execution, ExecutionState};
use crate::auth::{Caller, Role};
use crate::infra::audit::{AuditEntry, AuditLog, AuditRecord};
use crate::infra::clock::SharedClock;
use crate::runbook::StepResult;

/// An execution to record.
pub(super) struct NewExecution {
    pub id: String,
    pub runbook: String,
    pub version: i64,
    pub ticket_id: Option<String>,
    pub plan_json: String,
    pub target: Option<String>,
    pub state: ExecutionState,
    pub dry_run: bool,
    pub requested_by: String,
    pub idempotency_key: Option<String>,
    pub approvals_needed: i64,
    pub approver_role: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub change_type: crate::changes::ChangeType,
    pub justification: Option<String>,
    pub scheduled_for: Option<i64>,
}

/// A row of `executions` as stored; [`ExecutionRepository::load`] turns it
/// into an [`Execution`] with its decisions and steps.
#[derive(sqlx::FromRow)]
struct ExecutionRow {
    id: String,
    runbook: String,
    runbook_version: i64,
    ticket_id: Option<String>,
    target: Option<String>,
    state: String,
    dry_run: i64,
    change_type: String,
    justification: Option<String>,
    scheduled_for: Option<i64>,
    requested_by: String,
    approvals_needed: i64,
    plan: String,
    created_at: i64,
    expires_at: Option<i64>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

/// Reads and writes execution state.
pub(super) struct ExecutionRepository {
    pub(super) pool: AnyPool,
    pub(super) audit: Arc<AuditLog>,
    /// What state changes are stamped with and expiries decided by.
    pub(super) clock: SharedClock,
}

/// The service's own name in the audit trail.
pub(super) const SERVICE_ACTOR: &str = "switchboard";

fn is_final(state: ExecutionState) -> bool {
    state.is_final()
}

/// Sets `id` from `from` to `to` inside a transaction; false if it was not in `from`.
pub(super) async fn set_state(
    conn: &mut AnyConnection,
    id: &str,
    from: ExecutionState,
    to: ExecutionState,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let started = (to == ExecutionState::Running).then_some(now);
    let finished = is_final(to).then_some(now);
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
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// A transition's audit entry.
fn transition_record<'a>(
    id: &'a str,
    from: ExecutionState,
    to: ExecutionState,
    actor: &'a str,
    action: &'a str,
    detail: serde_json::Value,
) -> AuditRecord<'a> {
    AuditRecord {
        actor,
        action,
        subject: id,
        before: from.as_str(),
        after: to.as_str(),
        detail,
    }
}

/// The ids of a `SELECT id` query's rows.
pub(super) fn id_column(rows: Vec<(String,)>) -> Vec<String> {
    rows.into_iter().map(|(id,)| id).collect()
}

fn unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.kind() == sqlx::error::ErrorKind::UniqueViolation
                // The Any driver does not always map SQLite's code.
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// Why a decision was refused: the error to answer with, audited.
struct Refusal {
    error: AutomationError,
    state: ExecutionState,
}

impl ExecutionRepository {
    /// The repository over `pool`, auditing into `audit`.
    pub fn new(pool: AnyPool, audit: Arc<AuditLog>, clock: SharedClock) -> Self {
        Self { pool, audit, clock }
    }

    /// The database.
    pub fn pool(&self) -> AnyPool {
        self.pool.clone()
    }

    /// The execution with idempotency key `key`, as (id, runbook).
    pub async fn find_by_key(&self, key: &str) -> Result<Option<(String, String)>, sqlx::Error> {
        sqlx::query_as("SELECT id, runbook FROM executions WHERE idempotency_key = $1")
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await
    }

    /// Records `new` with its `execution.requested` entry in one transaction;
    /// false if its idempotency key is taken (a concurrent request won).
    pub async fn insert(
        &self,
        new: &NewExecution,
        detail: serde_json::Value,
    ) -> Result<bool, AutomationError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO executions (id, runbook, runbook_version, ticket_id, plan, target, state, dry_run, \
             requested_by, idempotency_key, approvals_needed, approver_role, created_at, expires_at, updated_at, \
             change_type, justification, scheduled_for) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(new.id.clone())
        .bind(new.runbook.clone())
        .bind(new.version)
        .bind(new.ticket_id.clone())
        .bind(new.plan_json.clone())
        .bind(new.target.clone())
        .bind(new.state.as_str())
        .bind(i64::from(new.dry_run))
        .bind(new.requested_by.clone())
        .bind(new.idempotency_key.clone())
        .bind(new.approvals_needed)
        .bind(new.approver_role.clone())
        .bind(new.created_at)
        .bind(new.expires_at)
        .bind(new.created_at)
        .bind(new.change_type.as_str())
        .bind(new.justification.clone())
        .bind(new.scheduled_for)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(err) if new.idempotency_key.is_some() && unique_violation(&err) => {
                return Ok(false);
            }
            other => {
                other?;
            }
        }
        let entry = self
            .audit
            .append_in(
                &mut tx,
                AuditRecord {
                    actor: &new.requested_by,
                    action: "execution.requested",
                    subject: &new.id,
                    before: "",
                    after: new.state.as_str(),
                    detail,
                },
            )
            .await?;
        tx.commit().await?;
        self.audit.anchor_head(&entry);
        Ok(true)
    }

    /// Moves `id` from `from` to `to` if it is still in `from`, with its audit
    /// entry, in one transaction; true if it moved.
    pub async fn transition(
        &self,
        id: &str,
        from: ExecutionState,
        to: ExecutionState,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<bool, AutomationError> {
        self.move_state(id, from, to, actor, detail, None).await
    }

    /// [`Self::transition`] that also sets when the execution may start: a
    /// deferred change goes to `scheduled` this way.
    pub async fn reschedule(
        &self,
        id: &str,
        from: ExecutionState,
        to: ExecutionState,
        scheduled_for: i64,
        detail: serde_json::Value,
    ) -> Result<bool, AutomationError> {
        self.move_state(id, from, to, SERVICE_ACTOR, detail, Some(scheduled_for))
            .await
    }

    async fn move_state(
        &self,
        id: &str,
        from: ExecutionState,
        to: ExecutionState,
        actor: &str,
        detail: serde_json::Value,
        scheduled_for: Option<i64>,
    ) -> Result<bool, AutomationError> {
        let mut tx = self.pool.begin().await?;
        if !set_state(&mut tx, id, from, to, self.clock.now_ms()).await? {
            return Ok(false);
        }
        if let Some(at) = scheduled_for {
            sqlx::query("UPDATE executions SET scheduled_for = $1 WHERE id = $2")
                .bind(at)
                .bind(id.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        self.commit_transition(tx, id, from, to, actor, detail)
            .await?;
        Ok(true)
    }

    /// Ends `tx`, in which `id` moved from `from` to `to`: appends the
    /// transition's audit entry (action `execution.<to>`), commits, anchors.
    pub(super) async fn commit_transition(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        id: &str,
        from: ExecutionState,
        to: ExecutionState,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<(), AutomationError> {
        let action = format!("execution.{}", to.as_str());
        let entry = self
            .audit
            .append_in(
                &mut tx,
                transition_record(id, from, to, actor, &action, detail),
            )
            .await?;
        crate::infra::crash::point("automation.transition_before_commit");
        tx.commit().await?;
        self.audit.anchor_head(&entry);
        Ok(())
    }

    /// Ids from `sql`, a `SELECT id` binding execution state `state` as $1
    /// and the time `at` as $2.
    pub(super) async fn ids_at(
        &self,
        sql: &str,
        state: ExecutionState,
        at: i64,
    ) -> Result<Vec<String>, AutomationError> {
        let rows = sqlx::query_as(sql)
            .bind(state.as_str())
            .bind(at)
            .fetch_all(&self.pool)
            .await?;
        Ok(id_column(rows))
    }

    /// Ids of `scheduled` executions whose time has come (`scheduled_for <= now`).
    pub async fn due(&self, now: i64) -> Result<Vec<String>, AutomationError> {
        self.ids_at(
            "SELECT id FROM executions WHERE state = $1 AND scheduled_for <= $2 ORDER BY scheduled_for",
            ExecutionState::Scheduled,
            now,
        )
        .await
    }

    /// Ids of executions requested, scheduled, started or finished in
    /// `[from, to)`, newest first, at most `limit`.
    pub async fn ids_between(
        &self,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Vec<String>, AutomationError> {
        let rows = sqlx::query_as(
            "SELECT id FROM executions WHERE (created_at >= $1 AND created_at < $2) \
             OR (scheduled_for >= $1 AND scheduled_for < $2) OR (started_at >= $1 AND started_at < $2) \
             OR (finished_at >= $1 AND finished_at < $2) ORDER BY created_at DESC LIMIT $3",
        )
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(id_column(rows))
    }

    /// Records `caller`'s approval or rejection of `id` and, when it completes
    /// the approvals (or rejects), the state change, all in one transaction
    /// under the execution's row lock. Returns true when the execution became
    /// approved. A refusal is audited and returned as the error.
    pub async fn decide(
        &self,
        id: &str,
        caller: &Caller,
        approve: bool,
        comment: &str,
    ) -> Result<bool, AutomationError> {
        let action = if approve { "approve" } else { "reject" };
        match self.decide_locked(id, caller, approve, comment).await {
            Ok(outcome) => Ok(outcome),
            Err(Ok(refusal)) => {
                let reason = refusal.error.to_string();
                self.audit_note(
                    &caller.name,
                    &format!("execution.{action}_refused"),
                    id,
                    refusal.state,
                    &reason,
                )
                .await;
                Err(refusal.error)
            }
            Err(Err(err)) => Err(err),
        }
    }

    /// [`ExecutionRepository::decide`] up to the refusal audit.
    async fn decide_locked(
        &self,
        id: &str,
        caller: &Caller,
        approve: bool,
        comment: &str,
    ) -> Result<bool, Result<Refusal, AutomationError>> {
        let mut tx = self.pool.begin().await.map_err(|e| Err(e.into()))?;
        let db = |e: sqlx::Error| Err(AutomationError::from(e));
        let locked = sqlx::query("UPDATE executions SET updated_at = updated_at WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if locked == 0 {
            return Err(Err(AutomationError::NotFound(format!(
                "no execution {id:?}"
            ))));
        }
        let (state_name, expires_at, needed, role_name, requested_by): (
            String,
            Option<i64>,
            i64,
            String,
            String,
        ) = sqlx::query_as(
            "SELECT state, expires_at, approvals_needed, approver_role, requested_by FROM executions WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let state = ExecutionState::parse(&state_name)
            .ok_or_else(|| Err(AutomationError::Corrupt(state_name.clone())))?;
        let needed_role: Role = serde_json::from_value(serde_json::Value::String(role_name))
            .map_err(|e| Err(AutomationError::Corrupt(e.to_string())))?;
        let refuse = |error| Err(Ok(Refusal { error, state }));
        if caller.role < needed_role {
            let action = if approve { "approve" } else { "reject" };
            return refuse(AutomationError::Forbidden(
                format!("this runbook needs the {needed_role:?} role to {action}").to_lowercase(),
            ));
        }
        if caller.name == requested_by {
            return refuse(AutomationError::Forbidden(
                "the requester cannot approve or reject their own request".into(),
            ));
        }
        if state == ExecutionState::PendingApproval
            && let Some(at) = expires_at.filter(|at| self.clock.now_ms() > *at)
        {
            let expired = ExecutionState::Expired;
            set_state(&mut tx, id, state, expired, self.clock.now_ms())
                .await
                .map_err(db)?;
            let entry = self
                .audit
                .append_in(
                    &mut tx,
                    transition_record(
                        id,
                        state,
                        expired,
                        SERVICE_ACTOR,
                        "execution.expired",
                        serde_json::json!({ "expired_at": at }),
                    ),
                )
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            self.audit.anchor_head(&entry);
            return Err(Ok(Refusal {
                error: AutomationError::Conflict("the approval window has expired".into()),
                state: expired,
            }));
        }
        if state != ExecutionState::PendingApproval {
            return refuse(AutomationError::Conflict(format!(
                "the execution is {}, not pending approval",
                state.as_str()
            )));
        }
        let decisions: Vec<(String, String)> =
            sqlx::query_as("SELECT approver, decision FROM approvals WHERE execution_id = $1")
                .bind(id.to_owned())
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        let mut approvals = 0i64;
        for (approver, kind) in &decisions {
            if *approver == caller.name {
                return refuse(AutomationError::Conflict(format!(
                    "{} has already decided on this execution",
                    caller.name
                )));
            }
            approvals += i64::from(kind == "approved");
        }
        let decision = if approve { "approved" } else { "rejected" };
        sqlx::query("INSERT INTO approvals (execution_id, approver, decision, comment, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.to_owned())
            .bind(caller.name.clone())
            .bind(decision)
            .bind(comment.to_owned())
            .bind(self.clock.now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let mut head = self
            .audit
            .append_in(
                &mut tx,
                AuditRecord {
                    actor: &caller.name,
                    action: &format!("execution.{decision}_by"),
                    subject: id,
                    before: state.as_str(),
                    after: state.as_str(),
                    detail: serde_json::json!({ "comment": comment }),
                },
            )
            .await
            .map_err(db)?;
        let approvals = approvals + i64::from(approve);
        let next = if !approve {
            Some((
                ExecutionState::Rejected,
                serde_json::json!({ "comment": comment }),
            ))
        } else if approvals >= needed {
            Some((
                ExecutionState::Approved,
                serde_json::json!({ "approvals": approvals }),
            ))
        } else {
            None
        };
        if let Some((to, detail)) = &next {
            set_state(&mut tx, id, state, *to, self.clock.now_ms())
                .await
                .map_err(db)?;
            let action = format!("execution.{}", to.as_str());
            head = self
                .audit
                .append_in(
                    &mut tx,
                    transition_record(id, state, *to, &caller.name, &action, detail.clone()),
                )
                .await
                .map_err(db)?;
        }
        crate::infra::crash::point("automation.decision_before_commit");
        tx.commit().await.map_err(db)?;
        self.audit.anchor_head(&head);
        Ok(matches!(next, Some((ExecutionState::Approved, _))))
    }

    /// Audits a refused attempt (or another event that changes no state) in a
    /// transaction of its own; a failure is logged.
    pub async fn audit_note(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        state: ExecutionState,
        reason: &str,
    ) {
        let record = AuditRecord {
            actor,
            action,
            subject,
            before: state.as_str(),
            after: state.as_str(),
            detail: serde_json::json!({ "reason": reason }),
        };
        if let Err(err) = self.audit.append(record).await {
            tracing::error!(error = %err, "cannot audit a refused request");
        }
    }

    /// Stores step result number `seq` of `id`.
    pub async fn record_step(
        &self,
        id: &str,
        seq: i64,
        result: &StepResult,
    ) -> Result<(), AutomationError> {
        let json =
            serde_json::to_string(result).map_err(|e| AutomationError::Corrupt(e.to_string()))?;
        sqlx::query("INSERT INTO step_results (execution_id, seq, result) VALUES ($1, $2, $3)")
            .bind(id.to_owned())
            .bind(seq)
            .bind(json)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One execution with its decisions and step results.
    pub async fn load(&self, id: &str) -> Result<Execution, AutomationError> {
        let row: ExecutionRow = sqlx::query_as("SELECT * FROM executions WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AutomationError::NotFound(format!("no execution {id:?}")))?;
        let corrupt = |e: &dyn std::fmt::Display| AutomationError::Corrupt(e.to_string());
        let decisions: Vec<Decision> = sqlx::query_as(
            "SELECT approver, decision, comment, at FROM approvals WHERE execution_id = $1 ORDER BY at, approver",
        )
        .bind(id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        let steps = sqlx::query_as::<_, (String,)>(
            "SELECT result FROM step_results WHERE execution_id = $1 ORDER BY seq",
        )
        .bind(id.to_owned())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|(json,)| serde_json::from_str(json).map_err(|e| corrupt(&e)))
        .collect::<Result<Vec<StepResult>, _>>()?;
        let approved = i64::try_from(
            decisions
                .iter()
                .filter(|d| d.decision == "approved")
                .count(),
        )
        .unwrap_or(0);
        Ok(Execution {
            state: ExecutionState::parse(&row.state).ok_or_else(|| corrupt(&row.state))?,
            change_type: crate::changes::ChangeType::parse(&row.change_type)
                .ok_or_else(|| corrupt(&row.change_type))?,
            plan: serde_json::from_str(&row.plan).map_err(|e| corrupt(&e))?,
            approvals_needed: (row.approvals_needed - approved).max(0),
            dry_run: row.dry_run != 0,
            decisions,
            steps,
            id: row.id,
            runbook: row.runbook,
            runbook_version: row.runbook_version,
            ticket_id: row.ticket_id,
            target: row.target,
            justification: row.justification,
            scheduled_for: row.scheduled_for,
            requested_by: row.requested_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }

    /// Ids of executions, newest first, optionally in one state, at most `limit`.
    pub async fn ids(
        &self,
        state: Option<ExecutionState>,
        limit: i64,
    ) -> Result<Vec<String>, AutomationError> {
        let rows =
            match state {
                Some(state) => sqlx::query_as(
                    "SELECT id FROM executions WHERE state = $1 ORDER BY created_at DESC LIMIT $2",
                )
                .bind(state.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
                None => {
                    sqlx::query_as("SELECT id FROM executions ORDER BY created_at DESC LIMIT $1")
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                }
            };
        Ok(id_column(rows))
    }

    /// How many executions are in each state (states with none are left out).
    pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, AutomationError> {
        Ok(
            sqlx::query_as("SELECT state, COUNT(*) AS n FROM executions GROUP BY state")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The audit entries about one execution.
    pub async fn history(&self, id: &str) -> Result<Vec<AuditEntry>, AutomationError> {
        Ok(self.audit.for_subject(id).await?)
    }
}
