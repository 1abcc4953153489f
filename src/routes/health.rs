//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::ErrorBody;
use super::{ApiError, AppState};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the model and store are loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Model and store loaded"), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.service()?;
    Ok(Json(json!({ "status": "ready" })))
}
