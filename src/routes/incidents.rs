//! `POST /v1/incidents` and `GET /v1/incidents/{id}`.

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
    let service = state.service()?;
    let existed = service.incident(&incident.id).await?.is_some();
    // Stored scrubbed (the addresses it mentions indexed for erasure first),
    // and answered as stored.
    service.store_incidents(vec![incident.clone()]).await?;
    let incident = service.scrub_incident(&incident);
    tracing::info!(caller = %caller.name, incident = %incident.id, replaced = existed, "incident stored");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(incident)))
}

/// One stored incident.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "incidents", params(("id" = String, Path, description = "Incident id")), responses((status = 200, body = Incident), (status = 404, body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn get_incident(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    state
        .service()?
        .incident(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no incident with id {id:?}")))
}
