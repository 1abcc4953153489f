//! `POST /v1/incidents` and `GET /v1/incidents/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiError, ApiJson, AppState};
use crate::domain::Incident;

/// Adds or replaces one resolved incident; the next triage sees it.
pub async fn put_incident(
    State(state): State<AppState>,
    ApiJson(incident): ApiJson<Incident>,
) -> Result<(StatusCode, Json<Incident>), ApiError> {
    let incident = incident.without_blank_labels();
    let service = state.service()?;
    let existed = service.incident(&incident.id).await?.is_some();
    service.store_incidents(vec![incident.clone()]).await?;
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
