//! `POST /v1/admin/forget` (erasure) and `POST /v1/admin/retention` (a
//! retention run now): admin only.

use axum::Json;
use axum::extract::State;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, Authenticated};
use crate::auth::Role;
use crate::privacy::{ForgetReport, ForgetRequest, RetentionReport};

/// Forgets a ticket, or every ticket that mentioned an e-mail address, with
/// everything derived from it; audited without the address; repeatable.
#[utoipa::path(post, path = "/v1/admin/forget", tag = "privacy", request_body = ForgetRequest, security(("bearer" = [])), responses((status = 200, description = "Forgotten (durably); `tickets` is empty when nothing was kept", body = ForgetReport), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 400, description = "Neither `ticket` nor `email`, or both", body = ErrorBody), (status = 422, description = "Not a ticket id, or not one e-mail address", body = ErrorBody), (status = 503, description = "Still loading", body = ErrorBody)))]
pub async fn forget(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(request): ApiJson<ForgetRequest>,
) -> Result<Json<ForgetReport>, ApiError> {
    let caller = caller.require(Role::Admin)?;
    let report = state
        .app()?
        .privacy
        .process_forget(&request, &caller.name)
        .await?;
    Ok(Json(report))
}

/// Deletes now what is past its retention (the background task does this
/// every `privacy.retention_interval_s`).
#[utoipa::path(post, path = "/v1/admin/retention", tag = "privacy", security(("bearer" = [])), responses((status = 200, description = "Rows deleted, per place", body = RetentionReport), (status = 401, description = "No or unknown bearer token", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 503, description = "Still loading", body = ErrorBody)))]
pub async fn retention(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<RetentionReport>, ApiError> {
    let caller = caller.require(Role::Admin)?;
    tracing::info!(caller = %caller.name, "retention run requested");
    let report = state
        .app()?
        .privacy
        .process_retention()
        .await
        .map_err(|err| match err {
            crate::privacy::RetentionError::Store(err) => err.into(),
            err => ApiError::internal(err),
        })?;
    Ok(Json(report))
}
