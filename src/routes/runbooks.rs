//! `/v1/runbooks`: the catalog, a plan preview that validates parameters by
//! the same rules as a request, and the audit chain's verification.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, Authenticated};
use crate::auth::Role;
use crate::automation::AutomationError;
use crate::infra::audit::ChainReport;
use crate::runbook::{Plan, RunbookSpec};

/// Every runbook: parameters, targets, risk, approval policy, steps.
#[utoipa::path(get, path = "/v1/runbooks", tag = "executions", security(("bearer" = [])), responses((status = 200, description = "The runbooks as declared", body = [Object]), (status = 401, body = ErrorBody)))]
pub async fn list_runbooks(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Vec<RunbookSpec>>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(
        state.automation()?.catalog().runbooks().cloned().collect(),
    ))
}

/// What a plan preview found: the plan, or the parameter that breaks a rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanPreview {
    /// Whether a request with these parameters would be accepted.
    pub valid: bool,
    /// The plan it would run (values substituted), when valid.
    #[schema(value_type = Option<Object>)]
    pub plan: Option<Plan>,
    /// The offending field (`params.NAME`), when not.
    pub field: Option<String>,
    /// Why, in words, when not.
    pub message: Option<String>,
}

/// Checks parameters by the same rules as a request and shows the plan they
/// would run. A rule broken is a normal answer here (200 with `valid:
/// false`), since checking is what was asked; nothing is created.
#[utoipa::path(post, path = "/v1/runbooks/{id}/plan", tag = "executions", params(("id" = String, Path, description = "Runbook id")), request_body(content = Object, description = "Parameter name -> value (string or number); `target` names the inventory item"), security(("bearer" = [])), responses((status = 200, description = "The plan, or the rule a parameter breaks", body = PlanPreview), (status = 404, description = "No such runbook", body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn plan_runbook(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
    ApiJson(params): ApiJson<BTreeMap<String, serde_json::Value>>,
) -> Result<Json<PlanPreview>, ApiError> {
    caller.require(Role::Viewer)?;
    let preview = match state.automation()?.preview(&id, &params) {
        Ok(plan) => PlanPreview {
            valid: true,
            plan: Some(plan),
            field: None,
            message: None,
        },
        Err(AutomationError::Refused { field, message }) => PlanPreview {
            valid: false,
            plan: None,
            field: Some(field),
            message: Some(message),
        },
        Err(other) => return Err(other.into()),
    };
    Ok(Json(preview))
}

/// Checks the whole audit chain (MACs, order, anchor), as `switchboard audit verify` does.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "executions", security(("bearer" = [])), responses((status = 200, description = "`broken` is null when the chain verifies", body = Object), (status = 401, body = ErrorBody)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<ChainReport>, ApiError> {
    caller.require(Role::Viewer)?;
    let report = state
        .automation()?
        .audit()
        .verify()
        .await
        .map_err(|e| ApiError::internal(format!("verifying the audit chain: {e}")))?;
    Ok(Json(report))
}
