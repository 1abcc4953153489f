//! `/v1/storms`: bursts of similar tickets (outages) and their members.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::ErrorBody;
use super::{ApiError, AppState, Authenticated};
use crate::auth::Role;
use crate::storms::{Storm, StormService};

fn service(state: &AppState) -> Result<&std::sync::Arc<StormService>, ApiError> {
    state.storms()?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "storm detection is off (storms.enabled = false)",
        )
    })
}

fn database(e: sqlx::Error) -> ApiError {
    ApiError::internal(format!("reading storms: {e}"))
}

/// Storms, newest first: parent, size, shared terms and services, open or over.
#[utoipa::path(get, path = "/v1/storms", tag = "storms", security(("bearer" = [])), responses((status = 200, body = [Storm]), (status = 401, body = ErrorBody)))]
pub async fn list_storms(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Vec<Storm>>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(service(&state)?.list().await.map_err(database)?))
}

/// One storm with its members by time, each with its similarity to the storm.
#[utoipa::path(get, path = "/v1/storms/{id}", tag = "storms", params(("id" = String, Path, description = "Storm id")), security(("bearer" = [])), responses((status = 200, body = Storm), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn get_storm(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Storm>, ApiError> {
    caller.require(Role::Viewer)?;
    service(&state)?
        .get(&id)
        .await
        .map_err(database)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no storm {id:?}"),
            )
        })
}
