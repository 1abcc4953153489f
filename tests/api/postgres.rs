//! The same execution flow on PostgreSQL: `scripts/test-postgres.sh` starts a
//! throw-away cluster and runs this with `SWITCHBOARD_TEST_DATABASE_URL`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    AGENT_TOKEN, APPROVER_TOKEN, APPROVER2_TOKEN, VIEWER_TOKEN, repo, spawn_app_on,
};

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn approvals_runs_and_the_audit_chain_work_on_postgres() {
    let url = std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
        .expect("SWITCHBOARD_TEST_DATABASE_URL (scripts/test-postgres.sh sets it)");
    let runbooks = tempfile::tempdir().unwrap();
    std::fs::write(
        runbooks.path().join("say.yaml"),
        "id: say\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: medium\n\
         approval: { mode: manual, approvers: 2 }\n\
         parameters: [ { name: message, type: string, required: true } ]\n\
         steps: [ { name: say, run: [echo, \"{message}\"] } ]\n",
    )
    .unwrap();
    std::fs::copy(
        repo().join("runbooks/inventory.yaml"),
        runbooks.path().join("inventory.yaml"),
    )
    .unwrap();
    let dir = runbooks.path().to_path_buf();
    let database = url.clone();
    let app = spawn_app_on(tempfile::tempdir().unwrap(), move |s| {
        s.runbooks.dir = dir.clone();
        s.runbooks.inventory = dir.join("inventory.yaml");
        s.database_url = Some(database);
    })
    .await;
    let key = format!("pg-{}", std::process::id());
    let body = json!({ "runbook": "say", "params": { "message": "from postgres" }, "idempotency_key": key });
    let created: Value = app
        .post_json_as(Some(AGENT_TOKEN), "/v1/executions", &body)
        .await
        .json()
        .await
        .unwrap();
    let again = app
        .post_json_as(Some(AGENT_TOKEN), "/v1/executions", &body)
        .await;
    assert_eq!(again.status(), 200);
    let id = created["id"].as_str().unwrap();
    for token in [APPROVER_TOKEN, APPROVER2_TOKEN] {
        let r = app
            .post_json_as(
                Some(token),
                &format!("/v1/executions/{id}/approve"),
                &json!({}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let started = Instant::now();
    let done = loop {
        let body: Value = app
            .get_as(VIEWER_TOKEN, &format!("/v1/executions/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if body["state"] == "succeeded" || body["state"] == "failed" {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{body:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["steps"][0]["stdout"], "from postgres\n");
    let pool = switchboard::automation::connect(&url).await.unwrap();
    let report = switchboard::automation::AuditLog::new(pool)
        .verify()
        .await
        .unwrap();
    assert!(report.broken.is_none() && report.entries >= 5, "{report:?}");
}
