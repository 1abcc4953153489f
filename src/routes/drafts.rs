//! `/v1/tickets/{id}/draft`: suggested resolutions, whole or streamed, and
//! agents' reviews of them.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, Authenticated};
use crate::auth::Role;
use crate::drafts::{Draft, DraftEvent, DraftStats, ReviewRequest};

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// Writes a suggested resolution for a ticket triaged with its id: every
/// sentence cites the retrieved incidents or articles that support it, or
/// there is no draft and `reason` says why. With `Accept: text/event-stream`
/// the answer streams: `evidence`, then each grounded `sentence`, then the
/// stored `draft` (or an `error`).
#[utoipa::path(post, path = "/v1/tickets/{id}/draft", tag = "drafts", params(("id" = String, Path, description = "Ticket id given to /v1/triage")), security(("bearer" = [])), responses((status = 200, description = "The draft (or `status: no_draft` with the reason), stored with the ticket; as server-sent events with `Accept: text/event-stream`", body = Draft), (status = 404, description = "The ticket was not triaged with its id", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 502, description = "The draft backend failed", body = ErrorBody), (status = 503, description = "Loading, or as many drafts as `drafts.max_concurrent` are being written (with Retry-After)", body = ErrorBody), (status = 504, description = "The draft backend took longer than `drafts.timeout_s`", body = ErrorBody)))]
pub async fn post_draft(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller.require(Role::Agent)?;
    let drafts = state.drafts()?.clone();
    if !wants_stream(&headers) {
        let draft = drafts.process_draft(&id, &caller.name, None).await?;
        return Ok(Json(draft).into_response());
    }
    let (events, mut received) = mpsc::unbounded_channel::<DraftEvent>();
    let (out, stream) = mpsc::channel::<Result<Event, Infallible>>(16);
    let name = caller.name.clone();
    // The draft is written (and stored) even if the client goes away.
    tokio::spawn(async move {
        let work =
            tokio::spawn(async move { drafts.process_draft(&id, &name, Some(events)).await });
        while let Some(event) = received.recv().await {
            let (kind, data) = match &event {
                DraftEvent::Evidence(e) => ("evidence", serde_json::to_string(e)),
                DraftEvent::Sentence(s) => ("sentence", serde_json::to_string(s)),
                DraftEvent::Draft(d) => ("draft", serde_json::to_string(d)),
            };
            let Ok(data) = data else { continue };
            let _ = out.send(Ok(Event::default().event(kind).data(data))).await;
        }
        if let Ok(Err(err)) = work.await {
            tracing::warn!(error = %err, "streamed draft failed");
            let api: ApiError = err.into();
            let body = serde_json::json!({"error": {"code": api.code(), "message": api.message()}});
            let _ = out
                .send(Ok(Event::default().event("error").data(body.to_string())))
                .await;
        }
    });
    let stream = futures_util::stream::unfold(stream, |mut stream| async move {
        stream.recv().await.map(|event| (event, stream))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The ticket's latest draft with its review, if any.
#[utoipa::path(get, path = "/v1/tickets/{id}/draft", tag = "drafts", params(("id" = String, Path, description = "Ticket id")), security(("bearer" = [])), responses((status = 200, body = Draft), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn get_draft(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Draft>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(state.drafts()?.process_latest(&id).await?))
}

/// Records an agent's verdict on a draft (accepted, edited with the text
/// sent, rejected): once per draft, kept as feedback on drafting.
#[utoipa::path(post, path = "/v1/tickets/{id}/draft/review", tag = "drafts", params(("id" = String, Path, description = "Ticket id")), request_body = ReviewRequest, security(("bearer" = [])), responses((status = 200, description = "Recorded", body = Draft), (status = 404, body = ErrorBody), (status = 409, description = "Already reviewed, or there was no draft", body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn review_draft(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ReviewRequest>,
) -> Result<Json<Draft>, ApiError> {
    let caller = caller.require(Role::Agent)?;
    Ok(Json(
        state
            .drafts()?
            .process_review(&id, request, &caller.name)
            .await?,
    ))
}

/// Drafts written, refused, and agents' verdicts.
#[utoipa::path(get, path = "/v1/drafts/stats", tag = "drafts", security(("bearer" = [])), responses((status = 200, body = DraftStats), (status = 401, body = ErrorBody)))]
pub async fn draft_stats(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<DraftStats>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(state.drafts()?.process_stats().await?))
}
