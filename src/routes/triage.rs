//! `POST /v1/triage`.

use axum::Json;
use axum::extract::State;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState};
use crate::domain::NewTicket;
use crate::triage::Triage;

/// Suggests labels, similar incidents and articles for a ticket.
#[utoipa::path(post, path = "/v1/triage", tag = "triage", request_body = NewTicket, responses((status = 200, description = "Suggestions with confidence, evidence and route decisions, similar incidents, articles and runbooks", body = Triage), (status = 422, description = "Invalid input; `field` names the culprit", body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn triage(
    State(state): State<AppState>,
    ApiJson(ticket): ApiJson<NewTicket>,
) -> Result<Json<Triage>, ApiError> {
    Ok(Json(state.service()?.triage(&ticket).await?))
}
