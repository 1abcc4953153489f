//! `POST /v1/incidents` and `GET /v1/incidents/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiError, ApiJson, AppState, Authenticated};
use crate::auth::Role;
use crate::domain::{Incident, IncidentInput};

/// Adds or replaces one resolved incident; the next triage sees it.
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
    service.store_incidents(vec![incident.clone()]).await?;
    tracing::info!(caller = %caller.name, incident = %incident.id, replaced = existed, "incident stored");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(incident)))
}

/// One stored incident.
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
