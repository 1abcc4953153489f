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

/// Readiness: the model and store are loaded, and a store server answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Model and store loaded; a Qdrant server backend answers"), (status = 503, description = "Still loading, or the store server does not answer (with Retry-After)", body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = std::sync::Arc::clone(state.service()?.store());
    let checked = tokio::task::spawn_blocking(move || store.check_ready())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if let Err(err) = checked {
        tracing::warn!(error = %err, "not ready: the vector store does not answer");
        return Err(ApiError::unavailable(err));
    }
    Ok(Json(json!({ "status": "ready" })))
}
