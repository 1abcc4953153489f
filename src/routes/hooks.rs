//! `POST /v1/hooks/{connector}` (events from ticketing systems) and the jobs
//! they become: `GET /v1/connectors/{name}/jobs`, `POST .../jobs/{id}/requeue`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::error::ErrorBody;
use super::{ApiError, ApiQuery, AppState, Authenticated};
use crate::auth::Role;
use crate::connectors::{Accepted, Delivery, Job, JobState};

/// Takes an event from a ticketing system: verified by the connector's
/// signature or token, queued durably (202), or recognised as a redelivery or
/// as Switchboard's own write (200). The triage and write-back follow from the
/// queue.
#[utoipa::path(post, path = "/v1/hooks/{connector}", tag = "connectors", params(("connector" = String, Path, description = "Connector name")), request_body(content = serde_json::Value, description = "The ticketing system's event, as it sends it"), responses((status = 202, description = "Queued", body = Accepted), (status = 200, description = "A redelivery, or Switchboard's own change: nothing new queued", body = Accepted), (status = 401, description = "Missing or wrong signature or token, or a stale timestamp (audited)", body = ErrorBody), (status = 404, description = "No such connector", body = ErrorBody), (status = 422, description = "Not an event this connector understands (`invalid_event`)", body = ErrorBody), (status = 503, description = "Still loading", body = ErrorBody)))]
pub async fn receive_event(
    State(state): State<AppState>,
    Path(connector): Path<String>,
    ApiQuery(query): ApiQuery<std::collections::BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let delivery = Delivery {
        headers: headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body: body.to_vec(),
        query,
    };
    let accepted = state.connectors()?.accept(&connector, &delivery).await?;
    let status = match accepted {
        Accepted::Queued { .. } => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    Ok((status, Json(accepted)))
}

/// `?state=` filter of the job list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Only jobs in this state.
    #[param(value_type = Option<JobState>)]
    pub state: Option<String>,
}

fn job_state(name: &str) -> Result<JobState, ApiError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("unknown state {name:?}"),
        )
    })
}

/// A connector's jobs, newest first: state, attempts, next attempt, last error, result.
#[utoipa::path(get, path = "/v1/connectors/{name}/jobs", tag = "connectors", params(("name" = String, Path, description = "Connector name"), JobQuery), security(("bearer" = [])), responses((status = 200, description = "Newest first, at most 500", body = Vec<Job>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<JobQuery>,
) -> Result<Json<Vec<Job>>, ApiError> {
    caller.require(Role::Viewer)?;
    let connectors = state.connectors()?;
    if !connectors.has(&name) {
        return Err(ApiError::not_found(format!("no connector {name:?}")));
    }
    let filter = query.state.as_deref().map(job_state).transpose()?;
    Ok(Json(
        connectors
            .jobs(&name, filter)
            .await
            .map_err(ApiError::internal)?,
    ))
}

/// Queues a dead job again (admin).
#[utoipa::path(post, path = "/v1/connectors/{name}/jobs/{id}/requeue", tag = "connectors", params(("name" = String, Path, description = "Connector name"), ("id" = String, Path, description = "Job id")), security(("bearer" = [])), responses((status = 204, description = "Queued again"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "No dead job with that id", body = ErrorBody)))]
pub async fn requeue_job(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let caller = caller.require(Role::Admin)?;
    let requeued = state
        .connectors()?
        .requeue(&name, &id)
        .await
        .map_err(ApiError::internal)?;
    if !requeued {
        return Err(ApiError::not_found(format!(
            "no dead job {id:?} for connector {name:?}"
        )));
    }
    tracing::info!(caller = %caller.name, connector = %name, job = %id, "dead job requeued");
    Ok(StatusCode::NO_CONTENT)
}
