//! Approvals arriving at the same moment: counted in one transaction under the
//! execution's row lock, so two approvers always start the run and a repeated
//! approval is one decision and 409s. The scenarios run on SQLite here and on
//! PostgreSQL in `postgres.rs`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    AGENT_TOKEN, APPROVER_TOKEN, APPROVER2_TOKEN, TestApp, VIEWER_TOKEN, error_code, repo,
    spawn_app_on,
};

/// A runbook needing two approvers, in a directory with the shipped inventory.
pub fn two_approver_runbooks() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("say.yaml"),
        "id: say\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: medium\n\
         approval: { mode: manual, approvers: 2 }\n\
         parameters: [ { name: message, type: string, required: true } ]\n\
         steps: [ { name: say, run: [echo, \"{message}\"] } ]\n",
    )
    .unwrap();
    std::fs::copy(
        repo().join("runbooks/inventory.yaml"),
        dir.path().join("inventory.yaml"),
    )
    .unwrap();
    dir
}

async fn create(app: &TestApp) -> String {
    let created: Value = app
        .post_json_as(
            Some(AGENT_TOKEN),
            "/v1/executions",
            &json!({ "runbook": "say", "params": { "message": "hi" } }),
        )
        .await
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// `token` approves execution `id`.
pub async fn approve(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.post_json_as(
        Some(token),
        &format!("/v1/executions/{id}/approve"),
        &json!({}),
    )
    .await
}

/// Execution `id` as the API shows it.
pub async fn execution(app: &TestApp, id: &str) -> Value {
    app.get_as(VIEWER_TOKEN, &format!("/v1/executions/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

/// Waits (up to 20 s) until execution `id` is in a final state.
pub async fn wait_final(app: &TestApp, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let body = execution(app, id).await;
        if !["approved", "running", "pending_approval"].contains(&body["state"].as_str().unwrap()) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{body:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two approvers approve the same execution at the same moment, 20 times:
/// both decisions count and the run starts every time.
pub async fn two_approvers_at_once_always_start_the_run(app: &TestApp) {
    for trial in 0..20 {
        let id = create(app).await;
        let (first, second) = tokio::join!(
            approve(app, APPROVER_TOKEN, &id),
            approve(app, APPROVER2_TOKEN, &id)
        );
        assert_eq!(
            (first.status().as_u16(), second.status().as_u16()),
            (200, 200),
            "trial {trial}"
        );
        let done = wait_final(app, &id).await;
        assert_eq!(done["state"], "succeeded", "trial {trial}: {done:#}");
        assert_eq!(done["decisions"].as_array().unwrap().len(), 2);
    }
}

/// One approver approves the same execution 20 times at once: one decision is
/// recorded, the 19 others are 409 `conflict`.
pub async fn one_approver_twenty_times_at_once_is_one_decision(app: &TestApp) {
    let id = create(app).await;
    let mut approvals = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, url) = (
            app.client.clone(),
            format!("{}/v1/executions/{id}/approve", app.address),
        );
        approvals.spawn(async move {
            client
                .post(url)
                .bearer_auth(APPROVER_TOKEN)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
        });
    }
    let mut accepted = 0;
    while let Some(answer) = approvals.join_next().await {
        let answer = answer.unwrap();
        if answer.status() == 200 {
            accepted += 1;
        } else {
            let (code, _) = error_code(answer, 409).await;
            assert_eq!(code, "conflict");
        }
    }
    assert_eq!(accepted, 1);
    let body = execution(app, &id).await;
    assert_eq!(body["decisions"].as_array().unwrap().len(), 1);
    assert_eq!(body["state"], "pending_approval");
}

async fn spawn_sqlite() -> (TestApp, tempfile::TempDir) {
    let runbooks = two_approver_runbooks();
    let dir = runbooks.path().to_path_buf();
    let app = spawn_app_on(tempfile::tempdir().unwrap(), move |s| {
        s.runbooks.dir = dir.clone();
        s.runbooks.inventory = dir.join("inventory.yaml");
    })
    .await;
    (app, runbooks)
}

#[tokio::test]
async fn two_approvers_at_once_start_the_run_on_sqlite() {
    let (app, _runbooks) = spawn_sqlite().await;
    two_approvers_at_once_always_start_the_run(&app).await;
}

#[tokio::test]
async fn a_repeated_approval_at_once_is_one_decision_on_sqlite() {
    let (app, _runbooks) = spawn_sqlite().await;
    one_approver_twenty_times_at_once_is_one_decision(&app).await;
}
