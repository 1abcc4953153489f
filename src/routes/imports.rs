//! `POST /v1/admin/connectors/{name}/import` (a connector's history imported
//! by the running server, in the background) and `GET` of the same path (its
//! progress): admin only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, Authenticated};
use crate::auth::Role;
use crate::connectors::{ImportProgress, StartImportError};

/// What to import.
#[derive(Debug, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Only tickets resolved since (Unix seconds).
    #[serde(default)]
    pub since: Option<i64>,
}

/// Starts importing the connector's resolved tickets while the server goes
/// on answering; resumes from the page an interrupted import reached.
#[utoipa::path(post, path = "/v1/admin/connectors/{name}/import", tag = "connectors", params(("name" = String, Path, description = "Connector name")), request_body = ImportRequest, security(("bearer" = [])), responses((status = 202, description = "Started; poll GET for progress", body = ImportProgress), (status = 404, description = "No such connector", body = ErrorBody), (status = 409, description = "An import of this connector is running", body = ErrorBody), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 503, description = "Still loading", body = ErrorBody)))]
pub async fn start_import(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<(StatusCode, Json<ImportProgress>), ApiError> {
    let caller = caller.require(Role::Admin)?;
    let app = state.app()?;
    let started = app
        .connectors
        .process_start_import(&name, request.since, Arc::clone(&app.triage))
        .map_err(|err| match err {
            StartImportError::Unknown(_) => ApiError::not_found(err.to_string()),
            StartImportError::Running(_) => {
                ApiError::new(StatusCode::CONFLICT, "busy", err.to_string())
            }
        })?;
    tracing::info!(caller = %caller.name, connector = %name, "history import started");
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// The progress of the connector's last import run by this server.
#[utoipa::path(get, path = "/v1/admin/connectors/{name}/import", tag = "connectors", params(("name" = String, Path, description = "Connector name")), security(("bearer" = [])), responses((status = 200, description = "Running, done or failed", body = ImportProgress), (status = 404, description = "No import of it ran here", body = ErrorBody), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 503, description = "Still loading", body = ErrorBody)))]
pub async fn import_progress(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(name): Path<String>,
) -> Result<Json<ImportProgress>, ApiError> {
    caller.require(Role::Admin)?;
    state
        .app()?
        .connectors
        .import_progress(&name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no import of {name:?} ran on this server")))
}
