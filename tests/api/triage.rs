//! `POST /v1/triage` on the sample data.

use serde_json::{Value, json};

use crate::helpers::{spawn_app, work_root};

async fn triage(app: &crate::helpers::TestApp, title: &str, description: &str) -> Value {
    let response = app
        .post_json(
            "/v1/triage",
            &json!({ "title": title, "description": description }),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn triage_returns_full_shape_with_sensible_suggestions() {
    let app = spawn_app().await;
    let body = triage(
        &app,
        "VPN keeps disconnecting",
        "Working from home, the GlobalProtect VPN drops every few minutes and I have to reconnect.",
    )
    .await;

    let group = &body["suggestions"]["assignment_group"];
    assert_eq!(group["label"], "Network Operations", "{body:#}");
    let confidence = group["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence));
    assert!(group["alternatives"].as_array().unwrap().len() <= 3);
    let evidence = group["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty());
    assert!(
        evidence
            .iter()
            .all(|e| e["id"].as_str().unwrap().starts_with("INC"))
    );
    assert!(
        evidence
            .iter()
            .all(|e| e["similarity"].as_f64().unwrap() > 0.3)
    );
    assert_eq!(body["suggestions"]["category"]["label"], "network");
    for field in ["assignee", "priority"] {
        assert!(
            body["suggestions"][field]["label"].is_string(),
            "{field} missing"
        );
    }
    let route = body["route"]["assignment_group"].as_str().unwrap();
    assert!(route == "auto" || route == "suggest");
    assert_eq!(route, group["route"]);

    let similar = body["similar_incidents"].as_array().unwrap();
    assert_eq!(similar.len(), 5);
    assert!(similar[0]["resolution"].as_str().unwrap().len() > 10);
    let sims: Vec<f64> = similar
        .iter()
        .map(|s| s["similarity"].as_f64().unwrap())
        .collect();
    assert!(
        sims.windows(2).all(|w| w[0] >= w[1]),
        "sorted best first: {sims:?}"
    );

    let articles = body["knowledge_articles"].as_array().unwrap();
    assert!(!articles.is_empty());
    assert_eq!(
        articles[0]["article_id"], "vpn-troubleshooting",
        "{articles:#?}"
    );
    assert!(articles[0]["snippet"].as_str().unwrap().len() > 20);
    assert!(body["took_ms"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn different_tickets_route_to_different_groups() {
    let app = spawn_app().await;
    let cases = [
        (
            "Filesystem almost full",
            "Alert: /var on app-prd-02 is at 96%",
            "Server Operations",
        ),
        (
            "Cannot log in to SAP",
            "SAP says my user is locked",
            "ERP Support",
        ),
        (
            "Printer not printing",
            "Paper stuck in tray 2 of the floor printer",
            "Desktop Support",
        ),
        (
            "Forgot my password",
            "I need my Windows password reset, I am locked out",
            "Identity & Access",
        ),
    ];
    for (title, description, group) in cases {
        let body = triage(&app, title, description).await;
        assert_eq!(
            body["suggestions"]["assignment_group"]["label"], group,
            "{title}: {body:#}"
        );
    }
}

#[tokio::test]
async fn auto_route_follows_configured_threshold() {
    let app = spawn_app().await;
    let dir = app.stop().await;
    // Threshold 0: everything routes automatically; threshold 1 for one field: never auto.
    let app = crate::helpers::spawn_app_on(dir, |s| {
        s.triage.auto_route_threshold = 0.0;
        s.triage.field_thresholds.insert("assignee".into(), 1.0);
    })
    .await;
    let body = triage(
        &app,
        "Outlook not syncing",
        "No new mail in Outlook since this morning",
    )
    .await;
    assert_eq!(body["route"]["assignment_group"], "auto");
    assert_eq!(body["route"]["assignee"], "suggest");
}

#[tokio::test]
async fn an_empty_store_answers_with_no_suggestions() {
    let app = crate::helpers::spawn_app_on(tempfile::tempdir().unwrap(), |_| {}).await;
    let body = triage(&app, "VPN down", "cannot connect").await;
    assert_eq!(body["suggestions"], serde_json::json!({}));
    assert_eq!(body["similar_incidents"], serde_json::json!([]));
    assert_eq!(body["knowledge_articles"], serde_json::json!([]));
}

#[tokio::test]
async fn triage_proposes_fitting_runbooks_with_parameters_from_the_text() {
    let app = spawn_app().await;
    let cache = work_root().join("cache").display().to_string();
    let body = triage(
        &app,
        "Disk full on batch server",
        &format!("No space left on device: {cache} grew overnight and the nightly job fails."),
    )
    .await;
    assert_eq!(
        body["suggestions"]["category"]["label"], "server",
        "{body:#}"
    );
    let runbooks = body["runbooks"].as_array().unwrap();
    let clean = runbooks
        .iter()
        .find(|r| r["id"] == "clean-old-files")
        .unwrap_or_else(|| panic!("{runbooks:#?}"));
    assert_eq!(clean["params"]["directory"], cache.as_str());
    assert_eq!(clean["approval"], "auto");
    let reasons: Vec<&str> = clean["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("no space left")),
        "{reasons:?}"
    );

    let printer = triage(
        &app,
        "Printer jammed",
        "The printer on floor 2 shows a paper jam.",
    )
    .await;
    assert!(
        printer["runbooks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != "clean-old-files"),
        "{printer:#}"
    );
}

/// Tickets that name no problem, and tickets about nothing an IT desk handles.
const VAGUE: &[(&str, &str)] = &[
    (
        "can someone have a look at the thing we talked about last week?",
        "",
    ),
    ("Help", "urgent, please call me back asap"),
    ("not working", "still not working, thanks"),
    ("Hi team", "Any update on this? Regards"),
];
const UNFAMILIAR: &[(&str, &str)] = &[
    (
        "Banana bread",
        "Recipe for banana bread with walnuts, cinnamon and brown sugar.",
    ),
    (
        "Football tonight",
        "Who scored twice for the home side in the derby yesterday evening?",
    ),
    (
        "Holiday in Lisbon",
        "Which tram goes from the castle down to the riverside cafes?",
    ),
];

#[tokio::test]
async fn vague_and_unfamiliar_tickets_are_never_routed_automatically() {
    // A threshold every suggestion reaches: only abstention keeps these back.
    let app = crate::helpers::spawn_app_on(crate::helpers::sample_copy(), |s| {
        s.triage.auto_route_threshold = 0.0;
    })
    .await;
    for (reason, tickets) in [("vague", VAGUE), ("unfamiliar", UNFAMILIAR)] {
        for (title, description) in tickets {
            let body = triage(&app, title, description).await;
            let suggestions = body["suggestions"].as_object().unwrap();
            assert!(!suggestions.is_empty(), "{body:#}");
            for (field, suggestion) in suggestions {
                assert_eq!(
                    suggestion["route"], "suggest",
                    "{title}: {field}: {suggestion:#}"
                );
                assert_eq!(suggestion["abstained"], reason, "{title}: {field}");
            }
        }
    }
    // A ticket that says what is wrong still routes at that threshold.
    let clear = triage(
        &app,
        "VPN keeps disconnecting",
        "Working from home, the GlobalProtect VPN drops every few minutes.",
    )
    .await;
    let group = &clear["suggestions"]["assignment_group"];
    assert_eq!(group["route"], "auto", "{group:#}");
    assert!(group.get("abstained").is_none(), "{group:#}");
}
