//! `POST /v1/incidents`, `POST /v1/incidents/batch` and `GET /v1/incidents/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, Authenticated};
use crate::auth::Role;
use crate::domain::{Incident, IncidentInput};

/// Adds or replaces one resolved incident; the next triage sees it.
#[utoipa::path(post, path = "/v1/incidents", tag = "incidents", request_body = IncidentInput, security(("bearer" = [])), responses((status = 201, description = "Stored", body = Incident), (status = 200, description = "Replaced an incident with the same id", body = Incident), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 422, description = "Invalid input; `field` names the culprit", body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn put_incident(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(input): ApiJson<IncidentInput>,
) -> Result<(StatusCode, Json<Incident>), ApiError> {
    let caller = caller.require(Role::Agent)?;
    let incident = Incident::from(input);
    incident.validate()?;
    // Stored scrubbed (the addresses it mentions indexed for erasure first),
    // and answered as stored.
    let (existed, incident) = state.app()?.desk.process_incident(incident).await?;
    tracing::info!(caller = %caller.name, incident = %incident.id, replaced = existed, "incident stored");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(incident)))
}

/// Most incidents one batch may carry.
pub const MAX_BATCH: usize = 500;

/// Incidents stored together: a history loaded into a running server
/// (`switchboard ingest incidents --server`).
#[derive(Debug, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentBatch {
    /// 1 to 500 incidents; one id given twice keeps the last.
    pub incidents: Vec<Incident>,
}

/// What a batch stored.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BatchReceipt {
    /// Incidents stored (inserted or replaced).
    pub stored: usize,
}

/// Stores up to 500 incidents at once (insert or replace by id), scrubbed
/// like one; durable when answered. Triage goes on being answered meanwhile.
#[utoipa::path(post, path = "/v1/incidents/batch", tag = "incidents", request_body = IncidentBatch, security(("bearer" = [])), responses((status = 200, description = "Stored", body = BatchReceipt), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 413, description = "Body over the server's limit", body = ErrorBody), (status = 422, description = "Invalid input, or not 1 to 500 incidents", body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn put_incidents(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(batch): ApiJson<IncidentBatch>,
) -> Result<Json<BatchReceipt>, ApiError> {
    let caller = caller.require(Role::Agent)?;
    let count = batch.incidents.len();
    if count == 0 || count > MAX_BATCH {
        return Err(crate::domain::ValidationError::new(
            Some("incidents"),
            format!("a batch holds 1 to {MAX_BATCH} incidents, not {count}"),
        )
        .into());
    }
    let mut latest = std::collections::BTreeMap::new();
    for incident in batch.incidents {
        incident.validate()?;
        latest.insert(incident.id.clone(), incident);
    }
    state
        .service()?
        .store_incidents(latest.into_values().collect())
        .await?;
    tracing::info!(caller = %caller.name, incidents = count, "incident batch stored");
    Ok(Json(BatchReceipt { stored: count }))
}

/// One stored incident, for any token (the viewer's at least): incident
/// ids are predictable, and scrubbing leaves names and hosts.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "incidents", params(("id" = String, Path, description = "Incident id")), security(("bearer" = [])), responses((status = 200, body = Incident), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn get_incident(
    State(state): State<AppState>,
    _caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    state
        .service()?
        .incident(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no incident with id {id:?}")))
}
