//! `/v1/problems`: the last problem report (recurring clusters of incidents),
//! and `/v1/admin/problems` to make a new one on the server's store.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::ErrorBody;
use super::{ApiError, AppState, Authenticated};
use crate::auth::Role;
use crate::problems::{ProblemOptions, ProblemReport, find_problems};

/// The last problem report (made by `switchboard problems` or
/// `POST /v1/admin/problems`).
#[utoipa::path(get, path = "/v1/problems", tag = "problems", security(("bearer" = [])), responses((status = 200, body = ProblemReport), (status = 404, description = "No report has been made yet", body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn last_problems(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<ProblemReport>, ApiError> {
    caller.require(Role::Viewer)?;
    let found = state.app()?.problems.load().await?;
    found.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no problem report yet: run `switchboard problems` or POST /v1/admin/problems",
        )
    })
}

/// Clusters the stored incidents now and keeps the report as the last one.
/// One at a time; triage keeps answering meanwhile (the work runs on the
/// blocking pool and rayon's threads).
#[utoipa::path(post, path = "/v1/admin/problems", tag = "problems", request_body(content = Option<ProblemOptions>, description = "Options; defaults when absent"), security(("bearer" = [])), responses((status = 200, body = ProblemReport), (status = 409, description = "A report is being made", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn make_problems(
    State(state): State<AppState>,
    caller: Authenticated,
    body: axum::body::Bytes,
) -> Result<Json<ProblemReport>, ApiError> {
    let caller = caller.require(Role::Admin)?;
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        ProblemOptions::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("expected problem options: {e}"),
            )
        })?
    };
    let Ok(_running) = state.problems_running().try_lock() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "busy",
            "a problem report is being made",
        ));
    };
    tracing::info!(caller = %caller.name, "problem report requested");
    let store = std::sync::Arc::clone(state.service()?.store());
    let found = tokio::task::spawn_blocking(move || find_problems(store.as_ref(), &options))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    state.app()?.problems.save(&found).await?;
    Ok(Json(found))
}
