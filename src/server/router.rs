//! The route table: every endpoint, the console's routes, and the layers
//! every request passes (request id, error logging, panics as 500s, body
//! limits and deadlines, metrics).

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::configuration::Settings;
use crate::routes::middleware::{self, BodyRules};
use crate::routes::{self, AppState};

/// Limits on how requests arrive.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest body in bytes (413 beyond).
    pub body_limit: usize,
    /// Longest wait for each piece of a body (400 beyond).
    pub body_read_timeout: Duration,
    /// Longest time for a whole body (408 beyond).
    pub body_deadline: Duration,
    /// Most bodies read at once (503 beyond).
    pub max_concurrent_bodies: usize,
}

impl RequestLimits {
    /// The limits the settings ask for.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            body_limit: settings.server.body_limit_bytes,
            body_read_timeout: Duration::from_secs(settings.server.request_read_timeout_s),
            body_deadline: Duration::from_secs(settings.server.request_deadline_s),
            max_concurrent_bodies: settings.server.max_concurrent_bodies.max(1),
        }
    }
}

/// The HTTP routes over `state`, with the request limits, request ids, error
/// logging and panic handling around them.
pub fn router(state: AppState, limits: RequestLimits) -> Router {
    let v1 = Router::new()
        .route("/triage", post(routes::triage))
        .route("/incidents", post(routes::put_incident))
        .route("/incidents/batch", post(routes::put_incidents))
        .route("/incidents/{id}", get(routes::get_incident))
        .route("/tickets/{id}/feedback", post(routes::post_feedback))
        .route(
            "/tickets/{id}/draft",
            post(routes::post_draft).get(routes::get_draft),
        )
        .route("/tickets/{id}/draft/review", post(routes::review_draft))
        .route("/drafts/stats", get(routes::draft_stats))
        .route("/stats", get(routes::stats))
        .route("/admin/retrain", post(routes::retrain))
        .route("/admin/forget", post(routes::forget))
        .route(
            "/admin/connectors/{name}/import",
            post(routes::start_import).get(routes::import_progress),
        )
        .route("/admin/retention", post(routes::retention))
        .route(
            "/executions",
            post(routes::create_execution).get(routes::list_executions),
        )
        .route("/executions/{id}", get(routes::get_execution))
        .route("/executions/{id}/approve", post(routes::approve_execution))
        .route("/executions/{id}/reject", post(routes::reject_execution))
        .route("/executions/{id}/cancel", post(routes::cancel_execution))
        .route("/executions/{id}/audit", get(routes::execution_audit))
        .route("/hooks/{connector}", post(routes::receive_event))
        .route("/connectors/{name}/jobs", get(routes::list_jobs))
        .route("/review", get(routes::list_review))
        .route("/review/{id}", get(routes::get_review))
        .route("/insights", get(routes::insights))
        .route("/runbooks", get(routes::list_runbooks))
        .route("/runbooks/{id}/plan", post(routes::plan_runbook))
        .route("/audit/verify", get(routes::verify_audit))
        .route("/changes", get(routes::list_changes))
        .route("/problems", get(routes::last_problems))
        .route("/admin/problems", post(routes::make_problems))
        .route("/storms", get(routes::list_storms))
        .route("/storms/{id}", get(routes::get_storm))
        .route(
            "/connectors/{name}/jobs/{id}/requeue",
            post(routes::requeue_job),
        );
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .nest("/v1", v1)
        .merge(crate::ui::router())
        .fallback(routes::error::not_found)
        .method_not_allowed_fallback(routes::error::method_not_allowed)
        .layer(axum::middleware::from_fn(routes::record_metrics))
        .layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            BodyRules {
                deadline: limits.body_deadline,
                limit: limits.body_limit,
                reading: std::sync::Arc::new(tokio::sync::Semaphore::new(
                    limits.max_concurrent_bodies,
                )),
            },
            middleware::read_body,
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
            let id = request
                .extensions()
                .get::<middleware::RequestId>()
                .map_or("", |id| id.0.as_str());
            let uri = middleware::loggable_uri(request.uri());
            tracing::info_span!("request", method = %request.method(), uri = %uri, request_id = %id)
        })
        // A 5xx is logged once, with its cause, by the request-id middleware;
        // 503s while loading or under load are not failures of the service.
        .on_failure(()))
        .layer(axum::middleware::from_fn(middleware::request_id))
        .with_state(state)
}
