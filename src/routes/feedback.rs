//! `POST /v1/tickets/{id}/feedback`, `GET /v1/stats` and `POST /v1/admin/retrain`.

use axum::Json;
use axum::extract::{Path, State};

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, Authenticated};
use crate::auth::Role;
use crate::domain::LabelFeedback;
use crate::triage::{FeedbackReceipt, RetrainReport, ServiceStats};

/// Records an agent's correction; the ticket votes with its new label at once.
#[utoipa::path(post, path = "/v1/tickets/{id}/feedback", tag = "feedback", params(("id" = String, Path, description = "Ticket id given to /v1/triage", min_length = 1, max_length = 128, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+$")), request_body = LabelFeedback, security(("bearer" = [])), responses((status = 200, description = "Recorded; the ticket votes with its new label at once", body = FeedbackReceipt), (status = 404, body = ErrorBody), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 422, description = "Invalid input; `field` names the culprit", body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn post_feedback(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
    ApiJson(feedback): ApiJson<LabelFeedback>,
) -> Result<Json<FeedbackReceipt>, ApiError> {
    let caller = caller.require(Role::Agent)?;
    let receipt = state
        .service()?
        .feedback(&id, feedback, &caller.name)
        .await?;
    Ok(Json(receipt))
}

/// Store sizes, the classifier head, feedback, reassignments and ping-pong.
#[utoipa::path(get, path = "/v1/stats", tag = "feedback", security(("bearer" = [])), responses((status = 200, body = ServiceStats), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    _caller: Authenticated,
) -> Result<Json<ServiceStats>, ApiError> {
    Ok(Json(state.service()?.stats().await?))
}

/// Retrains the classifier head from everything stored; triage keeps answering
/// with the old head until the new one is swapped in.
#[utoipa::path(post, path = "/v1/admin/retrain", tag = "feedback", security(("bearer" = [])), responses((status = 200, description = "The new classifier head is serving", body = RetrainReport), (status = 409, description = "A retrain is already running", body = ErrorBody), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn retrain(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<RetrainReport>, ApiError> {
    let caller = caller.require(Role::Admin)?;
    tracing::info!(caller = %caller.name, "retrain requested");
    Ok(Json(state.service()?.retrain().await?))
}
