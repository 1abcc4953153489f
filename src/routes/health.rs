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

/// How long readiness waits for the state database.
const DATABASE_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: the model and store are loaded, a store server answers, and
/// the state database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Model and store loaded; a Qdrant server backend and the state database answer"), (status = 503, description = "Still loading, or the store server or state database does not answer (with Retry-After)", body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = std::sync::Arc::clone(state.service()?.store());
    let checked = tokio::task::spawn_blocking(move || store.check_ready())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if let Err(err) = checked {
        tracing::warn!(error = %err, "not ready: the vector store does not answer");
        return Err(ApiError::unavailable(err));
    }
    let pool = state.app()?.pool.clone();
    let answered =
        tokio::time::timeout(DATABASE_CHECK, sqlx::query("SELECT 1").execute(&pool)).await;
    match answered {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "not ready: the state database does not answer");
            return Err(ApiError::unavailable(err));
        }
        Err(_) => {
            tracing::warn!("not ready: the state database did not answer within 2 s");
            return Err(ApiError::unavailable("the state database does not answer"));
        }
    }
    Ok(Json(json!({ "status": "ready" })))
}
