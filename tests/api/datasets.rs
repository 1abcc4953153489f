//! Tests on the real ticket sets beside the repository (`../shared/datasets`,
//! present in CI): `make test-datasets` runs them with
//! `SWITCHBOARD_TEST_DATASETS` set and fails if it is not.

use serde_json::Value;

use crate::helpers::{
    ADMIN_TOKEN, VIEWER_TOKEN, assert_succeeded, spawn_app_on, switchboard_command,
};

fn dataset(name: &str) -> std::path::PathBuf {
    let dir = std::env::var("SWITCHBOARD_TEST_DATASETS")
        .expect("SWITCHBOARD_TEST_DATASETS (make test-datasets sets it to ../shared/datasets)");
    let path = std::path::Path::new(&dir).join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

#[tokio::test]
#[ignore = "needs ../shared/datasets: run make test-datasets"]
async fn the_server_reports_the_recurring_problems_of_the_gl8500_dev_split() {
    let data = tempfile::tempdir().unwrap();
    let out = switchboard_command()
        .env("SWITCHBOARD_DATA_DIR", data.path())
        .args(["ingest", "incidents", "--no-retrain"])
        .arg(dataset("gl8500_dev.csv"))
        .output()
        .unwrap();
    assert_succeeded(&out);
    let app = spawn_app_on(data, |_| {}).await;
    let made = app
        .post_json_as(
            Some(ADMIN_TOKEN),
            "/v1/admin/problems",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(made.status(), 200);
    let report: Value = app
        .get_as(VIEWER_TOKEN, "/v1/problems")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["incidents"], 1396);
    let problems = report["problems"].as_array().unwrap();
    assert!(problems.len() >= 10, "{report:#}");
    // The largest recurring cluster: one scheduler's jobs failing again and
    // again, routed to the batch-operations groups; no articles are stored.
    let top = &problems[0];
    assert!(
        top["terms"]
            .as_array()
            .unwrap()
            .contains(&Value::from("job_scheduler")),
        "{top:#}"
    );
    assert_eq!(top["groups"][0]["label"], "GRP_8");
    assert_eq!(top["knowledge_gap"], true);
    assert!(
        problems
            .iter()
            .any(|p| p["representatives"][0]["title"] == "windows account locked"),
        "account lockouts recur"
    );
}
