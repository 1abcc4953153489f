//! `POST /v1/triage`.

use axum::Json;
use axum::extract::State;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, MaybeAuthenticated};
use crate::domain::NewTicket;
use crate::triage::Triage;

/// Suggests labels, similar incidents and articles for a ticket. Needs no
/// token; a ticket with an `id` is remembered for feedback only for an agent
/// token (or with `triage.remember_anonymous`).
#[utoipa::path(post, path = "/v1/triage", tag = "triage", request_body = NewTicket, security((), ("bearer" = [])), responses((status = 200, description = "Suggestions with confidence, evidence and route decisions, similar incidents, articles and runbooks; `remembered` says whether the ticket was stored for feedback", body = Triage), (status = 401, description = "A bearer token was sent but is unknown", body = ErrorBody), (status = 422, description = "Invalid input; `field` names the culprit", body = ErrorBody), (status = 503, description = "Still loading, or the embedding queue is full (with Retry-After)", body = ErrorBody)))]
pub async fn triage(
    State(state): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(ticket): ApiJson<NewTicket>,
) -> Result<Json<Triage>, ApiError> {
    let service = state.service()?;
    // The review queue keeps the text as triage sees it: scrubbed (and the
    // original only where the privacy policy says).
    let scrubbed = service.scrub_ticket(&ticket);
    let (original, original_retention_ms) = service.kept_original(&ticket, &scrubbed);
    let ticket = scrubbed;
    let triaged = service.triage(&ticket, caller.as_ref()).await?;
    // A remembered ticket joins the console's review queue.
    if let (true, Some(caller), Ok(review)) = (triaged.remembered, &caller, state.review()) {
        let record = crate::review::TriageRecord {
            source: "api".to_owned(),
            title: &ticket.title,
            description: &ticket.description,
            triage: &triaged,
            applied: Default::default(),
            review: false,
            triaged_by: &caller.name,
            original,
            original_retention_ms,
        };
        if let Err(e) = review.record(record).await {
            tracing::warn!(error = %e, "cannot add the ticket to the review queue");
        }
    }
    Ok(Json(triaged))
}
