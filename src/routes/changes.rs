//! `/v1/changes`: every runbook execution as a change record, with the freeze
//! and maintenance windows of the same period (the console's change calendar).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::error::ErrorBody;
use super::{ApiError, ApiQuery, AppState, Authenticated};
use crate::auth::Role;
use crate::automation::ChangeList;

/// Longest period one request may ask for.
const MAX_PERIOD_DAYS: i64 = 366;

/// `?from=&to=`: the period, RFC 3339; default the last 7 and next 30 days.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    /// Start (RFC 3339), default 7 days ago.
    pub from: Option<String>,
    /// End (RFC 3339, exclusive), default 30 days ahead.
    pub to: Option<String>,
}

fn instant(name: &str, text: Option<&str>, default: i64) -> Result<i64, ApiError> {
    let Some(text) = text else {
        return Ok(default);
    };
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("{name} must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"),
            )
        })
}

/// Change records (standard, normal, emergency) requested, scheduled, run or
/// finished in the period, and the windows that overlap it.
#[utoipa::path(get, path = "/v1/changes", tag = "executions", params(ChangeQuery), security(("bearer" = [])), responses((status = 200, body = ChangeList), (status = 400, description = "Malformed or too long a period (`invalid_query`)", body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_changes(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(query): ApiQuery<ChangeQuery>,
) -> Result<Json<ChangeList>, ApiError> {
    caller.require(Role::Viewer)?;
    let now = crate::infra::clock::now_ms();
    let day = 86_400_000;
    let from = instant("from", query.from.as_deref(), now - 7 * day)?;
    let to = instant("to", query.to.as_deref(), now + 30 * day)?;
    if to <= from || to - from > MAX_PERIOD_DAYS * day {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("to must come after from, at most {MAX_PERIOD_DAYS} days later"),
        ));
    }
    Ok(Json(state.automation()?.changes(from, to).await?))
}
