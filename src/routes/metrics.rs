//! `GET /metrics`: Prometheus text exposition, and the middleware that times requests.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, Authenticated};
use crate::metrics::{RequestLabels, StateLabels, global};

/// Renders every metric; execution counts are read from the state database
/// first. Any token (a viewer's is enough: Prometheus sends it with
/// `authorization: { credentials_file: ... }`): the counts by connector,
/// runbook and state say more about a desk than an outsider should know.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])), responses((status = 200, description = "Prometheus / OpenMetrics text", content_type = "application/openmetrics-text"), (status = 401, description = "No or unknown bearer token", body = super::error::ErrorBody)))]
pub async fn metrics(State(state): State<AppState>, _caller: Authenticated) -> impl IntoResponse {
    if let Ok(automation) = state.automation() {
        match automation.count_by_state().await {
            Ok(counts) => {
                let executions = &global().executions;
                executions.clear();
                for (state, count) in counts {
                    executions.get_or_create(&StateLabels { state }).set(count);
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot count executions for /metrics"),
        }
    }
    if let Ok(connectors) = state.connectors()
        && let Err(err) = connectors.refresh_metrics().await
    {
        tracing::warn!(error = %err, "cannot count connector jobs for /metrics");
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        global().render(),
    )
}

/// Records the latency of every request under its route template and status.
pub async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    global()
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}
