//! The console's scripts, styles and icon, compiled into the binary from
//! `ui/`. Served with their content type, `nosniff` and a short cache life
//! (the file names are not versioned, so a new binary's assets are picked
//! up within minutes).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (path under `/ui/assets/`, content type, body).
pub(super) const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    ),
    (
        "lib.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/lib.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/charts.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/login.js"),
    ),
    (
        "views/triage.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/views/triage.js"),
    ),
    (
        "views/review.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/views/review.js"),
    ),
    (
        "views/approvals.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/views/approvals.js"),
    ),
    (
        "views/storms.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/views/storms.js"),
    ),
    (
        "views/changes.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/views/changes.js"),
    ),
    (
        "views/problems.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/views/problems.js"),
    ),
    (
        "views/insights.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/views/insights.js"),
    ),
    (
        "views/runbooks.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/views/runbooks.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../ui/icon.svg"),
    ),
];

/// `GET /ui/assets/{file}`.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
