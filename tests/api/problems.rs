//! Problem candidates: `switchboard problems --report DIR` on a copy of the
//! sample store (real model, real store), the same report served by
//! `GET /v1/problems`, and a report made by the running server on request.

use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, AGENT_TOKEN, VIEWER_TOKEN, assert_succeeded, error_code, sample_copy, spawn_app,
    spawn_app_on, switchboard_command,
};

/// The problem whose most central incidents have `title`.
fn problem_titled<'a>(report: &'a Value, title: &str) -> &'a Value {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["representatives"][0]["title"] == title)
        .unwrap_or_else(|| panic!("no problem titled {title:?}"))
}

#[tokio::test]
async fn the_cli_reports_recurring_clusters_and_the_server_serves_the_report() {
    let data = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard_command()
        .env("SWITCHBOARD_DATA_DIR", data.path())
        .args(["problems", "--report"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_succeeded(&out);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("recurring clusters"), "{printed}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("problems.json")).unwrap()).unwrap();
    assert_eq!(report["incidents"], 320);
    assert!(
        report["problems"].as_array().unwrap().len() >= 10,
        "{report:#}"
    );
    // The 14 "connection pool exhausted" incidents of the sample share one fix,
    // one group, and a knowledge article covers them.
    let pool = problem_titled(&report, "Database connection pool exhausted");
    assert_eq!(pool["size"], 14);
    assert_eq!(pool["resolutions"][0]["count"], 14);
    assert!(
        pool["resolutions"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Leaking connections")
    );
    assert_eq!(
        pool["groups"],
        json!([{ "label": "Database Administration", "count": 14 }])
    );
    assert_eq!(pool["knowledge_gap"], false);
    assert_eq!(
        pool["knowledge"]["title"],
        "Database connection and replication problems"
    );
    // Less than 60 days of sample data: no trend is claimed.
    assert_eq!(pool["trend"]["direction"], "unknown");
    // No article covers expiring certificates: a knowledge gap.
    let certificates = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["terms"]
                .as_array()
                .unwrap()
                .contains(&json!("certificate"))
        })
        .expect("the certificate incidents recur");
    assert_eq!(certificates["knowledge_gap"], true, "{certificates:#}");

    let html = std::fs::read_to_string(dir.path().join("problems.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Database connection pool exhausted"));

    let app = spawn_app_on(data, |_| {}).await;
    let served: Value = app
        .get_as(VIEWER_TOKEN, "/v1/problems")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(served, report);
    let (code, _) = error_code(app.get_anonymously("/v1/problems").await, 401).await;
    assert_eq!(code, "unauthorized");
}

#[tokio::test]
async fn the_server_makes_a_report_for_an_admin_only() {
    let app = spawn_app().await;
    let (code, _) = error_code(app.get_as(VIEWER_TOKEN, "/v1/problems").await, 404).await;
    assert_eq!(code, "not_found");
    let (code, _) = error_code(
        app.post_json_as(Some(AGENT_TOKEN), "/v1/admin/problems", &json!({}))
            .await,
        403,
    )
    .await;
    assert_eq!(code, "forbidden");
    let (code, _) = error_code(
        app.post_json_as(
            Some(ADMIN_TOKEN),
            "/v1/admin/problems",
            &json!({ "similarity": 2.0 }),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(code, "invalid_body");

    let made = app
        .post_json_as(
            Some(ADMIN_TOKEN),
            "/v1/admin/problems",
            &json!({ "min_size": 10 }),
        )
        .await;
    assert_eq!(made.status(), 200);
    let made: Value = made.json().await.unwrap();
    assert_eq!(made["options"]["min_size"], 10);
    assert!(
        made["problems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["size"].as_u64().unwrap() >= 10)
    );
    let served: Value = app
        .get_as(VIEWER_TOKEN, "/v1/problems")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(served, made);
}

#[tokio::test]
async fn since_leaves_out_older_incidents_and_those_without_a_date() {
    let data = sample_copy();
    let written = tempfile::tempdir().unwrap();
    let out = switchboard_command()
        .env("SWITCHBOARD_DATA_DIR", data.path())
        .args(["problems", "--since", "2026-09-20", "--report"])
        .arg(written.path())
        .output()
        .unwrap();
    assert_succeeded(&out);
    let report: Value =
        serde_json::from_slice(&std::fs::read(written.path().join("problems.json")).unwrap())
            .unwrap();
    let considered = report["incidents"].as_u64().unwrap();
    assert!(considered > 0 && considered < 320, "{considered}");
    let since = report["options"]["since"].as_i64().unwrap();
    for problem in report["problems"].as_array().unwrap() {
        assert!(problem["first_seen"].as_i64().unwrap() >= since);
    }
}
