//! `POST /v1/tickets/{id}/feedback`, `GET /v1/stats` and `POST /v1/admin/retrain`.

use axum::Json;
use axum::extract::{Path, State};

use super::{ApiError, ApiJson, AppState, Authenticated};
use crate::auth::Role;
use crate::domain::LabelFeedback;
use crate::triage::{FeedbackReceipt, RetrainReport, ServiceStats};

/// Records an agent's correction; the ticket votes with its new label at once.
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
pub async fn stats(State(state): State<AppState>) -> Result<Json<ServiceStats>, ApiError> {
    Ok(Json(state.service()?.stats().await?))
}

/// Retrains the classifier head from everything stored; triage keeps answering
/// with the old head until the new one is swapped in.
pub async fn retrain(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<RetrainReport>, ApiError> {
    let caller = caller.require(Role::Admin)?;
    tracing::info!(caller = %caller.name, "retrain requested");
    Ok(Json(state.service()?.retrain().await?))
}
