//! `POST /v1/incidents`, `GET /v1/incidents/{id}`, and persistence across restarts.

use serde_json::json;

use crate::helpers::{error_code, spawn_app, spawn_app_on};

fn printer_fire() -> serde_json::Value {
    json!({
        "id": "INC9990001",
        "title": "Smoke coming out of plotter in drawing office",
        "description": "The large-format plotter in the drawing office smells burnt and smokes when printing.",
        "resolution": "Unplugged the plotter, facilities replaced the power supply board.",
        "assignment_group": "Facilities Electrical",
        "labels": { "category": "facilities" }
    })
}

#[tokio::test]
async fn added_incident_is_seen_by_next_triage_and_survives_restart() {
    let app = spawn_app().await;
    let response = app.post_json("/v1/incidents", &printer_fire()).await;
    assert_eq!(response.status(), 201);

    let body: serde_json::Value = app
        .post_json(
            "/v1/triage",
            &json!({ "title": "Plotter smoking", "description": "burnt smell and smoke from the plotter in the drawing office" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["similar_incidents"][0]["id"], "INC9990001", "{body:#}");

    let dir = app.stop().await;
    let app = spawn_app_on(dir, |_| {}).await;
    let stored: serde_json::Value = app
        .get("/v1/incidents/INC9990001")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["labels"]["assignment_group"],
        "Facilities Electrical"
    );
    assert_eq!(stored["resolution"], printer_fire()["resolution"]);
    let sample: serde_json::Value = app
        .get("/v1/incidents/INC0010001")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sample["id"], "INC0010001");
}

#[tokio::test]
async fn updating_an_incident_replaces_it() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_json("/v1/incidents", &printer_fire())
            .await
            .status(),
        201
    );
    let mut changed = printer_fire();
    changed["assignment_group"] = json!("Facilities");
    assert_eq!(app.post_json("/v1/incidents", &changed).await.status(), 200);
    let stored: serde_json::Value = app
        .get("/v1/incidents/INC9990001")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["labels"]["assignment_group"], "Facilities");

    let body: serde_json::Value = app
        .post_json("/v1/triage", &json!({ "title": "Plotter smoking", "description": "smoke from plotter in drawing office" }))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = body["similar_incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.iter().filter(|id| **id == "INC9990001").count(),
        1,
        "{ids:?}"
    );
}

#[tokio::test]
async fn unknown_incident_is_404_and_bad_incident_is_422() {
    let app = spawn_app().await;
    let (code, _) = error_code(app.get("/v1/incidents/INC-missing").await, 404).await;
    assert_eq!(code, "not_found");
    let (_, body) = error_code(
        app.post_json("/v1/incidents", &json!({ "id": "bad id", "title": "x" }))
            .await,
        422,
    )
    .await;
    assert_eq!(body["error"]["field"], "id");
    let (_, body) = error_code(
        app.post_json("/v1/incidents", &json!({ "id": "INC1", "title": " " }))
            .await,
        422,
    )
    .await;
    assert_eq!(body["error"]["field"], "title");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
}

#[tokio::test]
async fn adding_incidents_needs_an_agent_token() {
    let app = spawn_app().await;
    let (code, _) = error_code(
        app.post_json_as(None, "/v1/incidents", &printer_fire())
            .await,
        401,
    )
    .await;
    assert_eq!(code, "unauthorized");
    let (code, _) = error_code(
        app.post_json_as(Some("not-a-token"), "/v1/incidents", &printer_fire())
            .await,
        401,
    )
    .await;
    assert_eq!(code, "unauthorized");
    let (code, _) = error_code(
        app.post_json_as(
            Some(crate::helpers::VIEWER_TOKEN),
            "/v1/incidents",
            &printer_fire(),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(code, "forbidden");
    assert_eq!(app.get("/v1/incidents/INC9990001").await.status(), 404);
}

/// Starts a server with `settings` that must stop by itself; its error, in full.
async fn startup_failure(settings: switchboard::configuration::Settings) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        switchboard::server::run(listener, settings, std::future::pending()),
    )
    .await
    .expect("server stops by itself");
    format!("{:#}", result.unwrap_err())
}

#[tokio::test]
async fn a_missing_model_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.model.dir = dir.path().join("no-model-here");
    let message = startup_failure(settings).await;
    assert!(message.contains("fetch-model"), "{message}");
}

#[tokio::test]
async fn a_data_directory_that_cannot_be_made_stops_the_server_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let data_dir = blocker.join("data");
    let message = startup_failure(crate::helpers::test_settings(&data_dir)).await;
    assert!(
        message.contains(&format!("data directory {}", data_dir.display())),
        "{message}"
    );
}
