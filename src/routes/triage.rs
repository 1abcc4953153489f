//! `POST /v1/triage`.

use axum::Json;
use axum::extract::State;

use super::{ApiError, ApiJson, AppState};
use crate::domain::NewTicket;
use crate::triage::Triage;

/// Suggests labels, similar incidents and articles for a ticket.
pub async fn triage(
    State(state): State<AppState>,
    ApiJson(ticket): ApiJson<NewTicket>,
) -> Result<Json<Triage>, ApiError> {
    Ok(Json(state.service()?.triage(&ticket).await?))
}
