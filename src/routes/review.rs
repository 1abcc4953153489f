//! `/v1/review` and `/v1/insights`: the console's review queue and the
//! numbers a lead reads to decide whether to trust auto-routing.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::ErrorBody;
use super::{ApiError, ApiQuery, AppState, Authenticated};
use crate::auth::Role;
use crate::review::{Insights, ReviewFilter, ReviewItem};

fn database(e: sqlx::Error) -> ApiError {
    ApiError::internal(format!("reading the review queue: {e}"))
}

/// Recently triaged tickets (API tickets with an id, connector tickets),
/// newest first, filtered by route, field, confidence, connector.
#[utoipa::path(get, path = "/v1/review", tag = "review", params(ReviewFilter), security(("bearer" = [])), responses((status = 200, body = [ReviewItem]), (status = 401, body = ErrorBody)))]
pub async fn list_review(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(filter): ApiQuery<ReviewFilter>,
) -> Result<Json<Vec<ReviewItem>>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(state.review()?.list(&filter).await.map_err(database)?))
}

/// One ticket's latest triage, to reopen it in the triage desk.
#[utoipa::path(get, path = "/v1/review/{id}", tag = "review", params(("id" = String, Path, description = "Ticket id")), security(("bearer" = [])), responses((status = 200, body = ReviewItem), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn get_review(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ReviewItem>, ApiError> {
    let caller = caller.require(Role::Viewer)?;
    // The text before scrubbing (kept only under privacy.keep_original) is
    // for agents and above; reading it is logged, without the text.
    let with_original = caller.role >= Role::Agent;
    let found = state
        .review()?
        .get(&id, with_original)
        .await
        .map_err(database)?;
    if found.as_ref().is_some_and(|f| f.original.is_some()) {
        tracing::info!(caller = %caller.name, ticket = %id, "original ticket text read");
    }
    found.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no triaged ticket {id:?}"),
        )
    })
}

/// Auto-routing coverage and precision per field, corrections and ping-pong,
/// volume per group, and the last eval report.
#[utoipa::path(get, path = "/v1/insights", tag = "review", security(("bearer" = [])), responses((status = 200, body = Insights), (status = 401, body = ErrorBody)))]
pub async fn insights(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Insights>, ApiError> {
    caller.require(Role::Viewer)?;
    let service = state.service()?;
    let finals = service.final_feedback_labels();
    let feedback = service.stats().await?.feedback;
    let insights = crate::review::insights(state.review()?, &finals, feedback, &state.eval_dir())
        .await
        .map_err(database)?;
    Ok(Json(insights))
}
