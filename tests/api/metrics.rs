//! `GET /metrics`: Prometheus text with the request, batching, suggestion and
//! execution metrics after real traffic.

use serde_json::json;

use crate::helpers::spawn_app;

/// The value of the first sample whose line starts with `prefix`.
/// The value of the first sample line of `body` starting with `prefix`.
pub fn sample(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn metrics_cover_requests_batches_suggestions_and_executions() {
    let app = spawn_app().await;
    let triage = app
        .post_json(
            "/v1/triage",
            &json!({ "title": "VPN drops", "description": "The VPN disconnects every few minutes." }),
        )
        .await;
    assert_eq!(triage.status(), 200);
    assert_eq!(app.get("/v1/no-such-route").await.status(), 404);
    let dir = crate::helpers::work_root()
        .join("metrics")
        .display()
        .to_string();
    std::fs::create_dir_all(&dir).unwrap();
    let log = format!("{dir}/app.log");
    std::fs::write(&log, "line\n").unwrap();
    let requested = app
        .post_json(
            "/v1/executions",
            &json!({ "runbook": "rotate-log", "params": { "log_file": log } }),
        )
        .await;
    assert_eq!(requested.status(), 201);

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let body = response.text().await.unwrap();
    let triage_count = sample(
        &body,
        "switchboard_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/triage\",status=\"200\"}",
    );
    assert!(triage_count >= Some(1.0), "{body}");
    assert!(
        sample(
            &body,
            "switchboard_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ) >= Some(1.0),
        "{body}"
    );
    assert!(
        body.contains("route=\"/v1/executions\""),
        "route templates, not raw paths: {body}"
    );
    assert!(sample(&body, "switchboard_embed_batch_size_count") >= Some(1.0));
    assert!(sample(&body, "switchboard_embeddings_total") >= Some(1.0));
    assert!(sample(&body, "switchboard_embed_queue_depth") >= Some(0.0));
    assert!(body.contains("switchboard_embed_overloaded_total"));
    let suggested = body
        .lines()
        .filter(|l| l.starts_with("switchboard_suggestions_total{field=\"assignment_group\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    assert!(suggested >= 1.0, "{body}");
    assert_eq!(
        sample(&body, "switchboard_executions{state=\"pending_approval\"}"),
        Some(1.0),
        "{body}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
