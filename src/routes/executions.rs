//! `/v1/executions`: request, approve, reject, cancel and read runbook executions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, ApiQuery, AppState, Authenticated};
use crate::auth::Role;
use crate::automation::{Execution, ExecutionRequest, ExecutionState};
use crate::infra::audit::AuditEntry;

/// Body of approve / reject / cancel.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why.
    #[serde(default)]
    pub comment: String,
}

impl DecisionBody {
    /// An empty body or `null` means no comment; anything else must be
    /// `{ "comment": "..." }`.
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        serde_json::from_slice::<Option<Self>>(body)
            .map(Option::unwrap_or_default)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_body",
                    format!("expected {{ \"comment\": \"...\" }}: {e}"),
                )
            })
    }
}

/// `?state=` filter of the list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only executions in this state.
    #[param(value_type = Option<ExecutionState>)]
    pub state: Option<String>,
}

/// Requests an execution: 201 when created, 200 when the idempotency key matched.
#[utoipa::path(post, path = "/v1/executions", tag = "executions", request_body = ExecutionRequest, security(("bearer" = [])), responses((status = 201, description = "Created (pending approval, or approved and started)", body = Execution), (status = 200, description = "An execution with this idempotency key exists", body = Execution), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 422, description = "Refused: unknown runbook, invalid parameter or target; audited", body = ErrorBody)))]
pub async fn create_execution(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(request): ApiJson<ExecutionRequest>,
) -> Result<(StatusCode, Json<Execution>), ApiError> {
    let automation = state.automation()?;
    let caller = caller.0;
    if caller.role < Role::Agent {
        let message = "requesting an execution needs the agent role or higher".to_owned();
        return Err(automation
            .forbidden(&caller, &request.runbook, "request", message)
            .await
            .into());
    }
    let (execution, created) = automation.request(request, &caller).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(execution)))
}

/// Approves a pending execution.
#[utoipa::path(post, path = "/v1/executions/{id}/approve", tag = "executions", params(("id" = String, Path, description = "Execution id")), request_body(content = Option<DecisionBody>, description = "Optional comment"), security(("bearer" = [])), responses((status = 200, body = Execution), (status = 404, body = ErrorBody), (status = 409, description = "Self-approval, second decision, expired or not pending", body = ErrorBody), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody)))]
pub async fn approve_execution(
    state: State<AppState>,
    caller: Authenticated,
    id: Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Execution>, ApiError> {
    decide(state, caller, id, &body, true).await
}

/// Rejects a pending execution.
#[utoipa::path(post, path = "/v1/executions/{id}/reject", tag = "executions", params(("id" = String, Path, description = "Execution id")), request_body(content = Option<DecisionBody>, description = "Optional comment"), security(("bearer" = [])), responses((status = 200, body = Execution), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody)))]
pub async fn reject_execution(
    state: State<AppState>,
    caller: Authenticated,
    id: Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Execution>, ApiError> {
    decide(state, caller, id, &body, false).await
}

/// One approver's decision. The role is checked by the service against the
/// runbook's approver role, so a refused attempt is audited with the caller's name.
async fn decide(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
    body: &[u8],
    approve: bool,
) -> Result<Json<Execution>, ApiError> {
    let comment = DecisionBody::parse(body)?.comment;
    let execution = state
        .automation()?
        .decide(&id, &caller.0, approve, &comment)
        .await?;
    Ok(Json(execution))
}

/// Withdraws an execution that has not started.
#[utoipa::path(post, path = "/v1/executions/{id}/cancel", tag = "executions", params(("id" = String, Path, description = "Execution id")), security(("bearer" = [])), responses((status = 200, body = Execution), (status = 404, body = ErrorBody), (status = 409, description = "Already started or finished", body = ErrorBody), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody)))]
pub async fn cancel_execution(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Execution>, ApiError> {
    let caller = caller.require(Role::Agent)?;
    Ok(Json(state.automation()?.cancel(&id, &caller).await?))
}

/// One execution: state, decisions, step results (output capped, secrets redacted).
#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions", params(("id" = String, Path, description = "Execution id")), security(("bearer" = [])), responses((status = 200, body = Execution), (status = 404, body = ErrorBody), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody)))]
pub async fn get_execution(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Execution>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(state.automation()?.get(&id).await?))
}

/// The audit entries of one execution.
#[utoipa::path(get, path = "/v1/executions/{id}/audit", tag = "executions", params(("id" = String, Path, description = "Execution id")), security(("bearer" = [])), responses((status = 200, description = "Hash-chained audit entries about this execution", body = Vec<AuditEntry>), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody)))]
pub async fn execution_audit(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(state.automation()?.history(&id).await?))
}

/// Executions, newest first, optionally filtered by `?state=`.
#[utoipa::path(get, path = "/v1/executions", tag = "executions", params(ListQuery), security(("bearer" = [])), responses((status = 200, description = "Newest first, at most 500", body = Vec<Execution>), (status = 400, description = "Unknown state or malformed query (`invalid_query`)", body = ErrorBody), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody)))]
pub async fn list_executions(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Execution>>, ApiError> {
    caller.require(Role::Viewer)?;
    let filter = match query.state.as_deref() {
        None => None,
        Some(name) => Some(ExecutionState::parse(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("unknown state {name:?}"),
            )
        })?),
    };
    Ok(Json(state.automation()?.list(filter).await?))
}
