//! Who may read what: every read of the desk's data needs a token (a
//! viewer's at least), and `POST /v1/triage` answers a caller without one
//! only as far as `triage.anonymous` allows.

use serde_json::{Value, json};
use switchboard::triage::AnonymousTriage;

use crate::helpers::{AGENT_TOKEN, TestApp, error_code, sample_copy, spawn_app, spawn_app_on};

/// A stored incident of the sample.
const INCIDENT: &str = "/v1/incidents/INC0010315";

fn vpn() -> Value {
    json!({ "title": "VPN connection drops every few minutes", "description": "GlobalProtect disconnects every 5-10 minutes from home." })
}

/// The VPN ticket's triage answer for `token` (none: anonymous).
async fn triage_as(app: &TestApp, token: Option<&str>) -> Value {
    let answer = app.post_json_as(token, "/v1/triage", &vpn()).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn with_anonymous(mode: AnonymousTriage) -> TestApp {
    spawn_app_on(sample_copy(), move |s| s.triage.anonymous = mode).await
}

#[tokio::test]
async fn an_incident_is_not_read_without_a_token() {
    let app = spawn_app().await;
    let (code, _) = error_code(app.get_anonymously(INCIDENT).await, 401).await;
    assert_eq!(code, "unauthorized");
    assert_eq!(app.get(INCIDENT).await.status(), 200, "a viewer reads it");
}

#[tokio::test]
async fn metrics_and_stats_are_not_read_without_a_token() {
    let app = spawn_app().await;
    for path in ["/metrics", "/v1/stats"] {
        let (code, _) = error_code(app.get_anonymously(path).await, 401).await;
        assert_eq!(code, "unauthorized", "{path}");
        assert_eq!(app.get(path).await.status(), 200, "{path} for a viewer");
    }
}

#[tokio::test]
async fn triage_without_a_token_is_refused_by_default() {
    let app = spawn_app().await;
    let (code, body) = error_code(app.post_json_as(None, "/v1/triage", &vpn()).await, 401).await;
    assert_eq!(code, "unauthorized");
    assert!(body.to_string().contains("triage.anonymous"), "{body}");
}

#[tokio::test]
async fn suggest_only_triage_gives_labels_but_no_incident_text() {
    let app = with_anonymous(AnonymousTriage::SuggestOnly).await;
    let answer = triage_as(&app, None).await;
    let group = &answer["suggestions"]["assignment_group"];
    assert!(group["label"].is_string(), "{answer:#}");
    assert!(group["confidence"].is_number(), "{answer:#}");
    assert_eq!(group["evidence"], json!([]), "{answer:#}");
    assert_eq!(answer["similar_incidents"], json!([]));
    assert_eq!(answer["knowledge_articles"], json!([]));
    assert_eq!(answer["runbooks"], json!([]));
    // An agent gets the evidence.
    let full = triage_as(&app, Some(AGENT_TOKEN)).await;
    assert!(!full["similar_incidents"].as_array().unwrap().is_empty());
    assert_eq!(
        full["suggestions"]["assignment_group"]["label"],
        group["label"]
    );
}

#[tokio::test]
async fn full_anonymous_triage_gives_the_whole_answer() {
    let app = with_anonymous(AnonymousTriage::Full).await;
    let answer = triage_as(&app, None).await;
    assert!(
        !answer["similar_incidents"].as_array().unwrap().is_empty(),
        "{answer:#}"
    );
}
