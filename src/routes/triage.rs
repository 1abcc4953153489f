//! `POST /v1/triage`.

use axum::Json;
use axum::extract::State;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, MaybeAuthenticated};
use crate::domain::NewTicket;
use crate::triage::Triage;

/// Suggests labels, similar incidents and articles for a ticket. Needs no
/// token; a ticket with an `id` is remembered for feedback only for an agent
/// token (or with `triage.remember_anonymous`).
#[utoipa::path(post, path = "/v1/triage", tag = "triage", request_body = NewTicket, security((), ("bearer" = [])), responses((status = 200, description = "Suggestions with confidence, evidence and route decisions, similar incidents, articles and runbooks; `remembered` says whether the ticket was stored for feedback", body = Triage), (status = 401, description = "No token while `triage.anonymous` is `off` (the default), or an unknown one", body = ErrorBody), (status = 422, description = "Invalid input; `field` names the culprit", body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn triage(
    State(state): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(ticket): ApiJson<NewTicket>,
) -> Result<Json<Triage>, ApiError> {
    let triaged = state
        .desk()?
        .process_api_ticket(ticket, caller.as_ref())
        .await?;
    Ok(Json(triaged))
}
