//! The same execution flow on PostgreSQL: `scripts/test-postgres.sh` starts a
//! throw-away cluster and runs this with `SWITCHBOARD_TEST_DATABASE_URL`.

use serde_json::{Value, json};

use crate::approvals::{
    approve, one_approver_twenty_times_at_once_is_one_decision, two_approver_runbooks,
    two_approvers_at_once_always_start_the_run, wait_final,
};
use crate::helpers::{AGENT_TOKEN, APPROVER_TOKEN, APPROVER2_TOKEN, TestApp, spawn_app_on};

/// A database of its own on the test cluster (tests run in parallel, and each
/// server keeps its own audit key), and its URL.
pub async fn fresh_database() -> String {
    let url = std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
        .expect("SWITCHBOARD_TEST_DATABASE_URL (scripts/test-postgres.sh sets it)");
    let name = format!("sb_{}", uuid::Uuid::new_v4().simple());
    let pool = switchboard::infra::db::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    let (server, _) = url.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

/// A server on a fresh PostgreSQL database with the two-approver runbook.
async fn spawn_on_postgres() -> (TestApp, String, tempfile::TempDir) {
    let url = fresh_database().await;
    let runbooks = two_approver_runbooks();
    let dir = runbooks.path().to_path_buf();
    let database = url.clone();
    let app = spawn_app_on(tempfile::tempdir().unwrap(), move |s| {
        s.runbooks.dir = dir.clone();
        s.runbooks.inventory = dir.join("inventory.yaml");
        s.database_url = Some(database);
    })
    .await;
    (app, url, runbooks)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn two_approvers_at_once_start_the_run_on_postgres() {
    let (app, _, _runbooks) = spawn_on_postgres().await;
    two_approvers_at_once_always_start_the_run(&app).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn a_repeated_approval_at_once_is_one_decision_on_postgres() {
    let (app, url, _runbooks) = spawn_on_postgres().await;
    one_approver_twenty_times_at_once_is_one_decision(&app).await;
    let report = crate::helpers::audit_log(app.data_dir.path(), Some(&url))
        .await
        .verify()
        .await
        .unwrap();
    assert!(report.broken.is_none(), "{report:?}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn approvals_runs_and_the_audit_chain_work_on_postgres() {
    let (app, url, _runbooks) = spawn_on_postgres().await;
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
        assert_eq!(approve(&app, token, id).await.status(), 200);
    }
    let done = wait_final(&app, id).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["steps"][0]["stdout"], "from postgres\n");
    let report = crate::helpers::audit_log(app.data_dir.path(), Some(&url))
        .await
        .verify()
        .await
        .unwrap();
    assert!(report.broken.is_none() && report.entries >= 5, "{report:?}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn connector_events_are_queued_once_and_written_back_on_postgres() {
    use crate::connectors::{deliver, event, recording_server, spawn_with_desk, wait_job};
    let url = fresh_database().await;
    let (base, recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, move |s| s.database_url = Some(url)).await;
    let body = event(
        "61",
        "VPN keeps disconnecting",
        "The VPN drops every few minutes",
        "new",
    );
    let first: Value = deliver(&app, &body, None, "pg-61")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["status"], "queued");
    let again: Value = deliver(&app, &body, None, "pg-61-again")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "duplicate");
    wait_job(&app, first["job"].as_str().unwrap(), "done").await;
    assert_eq!(recorder.lock().unwrap().applied().len(), 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn console_sessions_the_review_queue_and_storms_work_on_postgres() {
    let url = fresh_database().await;
    let app = spawn_app_on(crate::helpers::sample_copy(), move |s| {
        s.database_url = Some(url);
    })
    .await;
    let signed = crate::console::sign_in(&app, AGENT_TOKEN).await;
    for n in 0..5 {
        let ticket = serde_json::json!({
            "id": format!("PG-MAIL-{n}"),
            "title": "Outlook cannot connect to the mail server",
            "description": format!("Outlook cannot connect to the Exchange mail server, mails stay in the outbox. Floor {n} affected."),
            "opened_at": format!("2026-11-30T09:0{n}:00Z"),
        });
        let answer = app
            .client
            .post(format!("{}/v1/triage", app.address))
            .header("cookie", &signed.cookie)
            .header("x-csrf-token", &signed.csrf)
            .json(&ticket)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let viewer = crate::helpers::VIEWER_TOKEN;
    let queue: serde_json::Value = app.get_as(viewer, "/v1/review").await.json().await.unwrap();
    assert_eq!(queue.as_array().unwrap().len(), 5);
    let storms: serde_json::Value = app.get_as(viewer, "/v1/storms").await.json().await.unwrap();
    assert_eq!(storms.as_array().unwrap().len(), 1, "{storms:#}");
    let id = storms[0]["id"].as_str().unwrap();
    let storm: serde_json::Value = app
        .get_as(viewer, &format!("/v1/storms/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(storm["members"].as_array().unwrap().len(), 5);
    let insights = app.get_as(viewer, "/v1/insights").await;
    assert_eq!(insights.status(), 200);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn emergency_changes_override_a_freeze_on_postgres() {
    crate::changes::emergency_overrides_a_freeze(Some(fresh_database().await)).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn deferred_changes_run_when_their_window_opens_on_postgres() {
    crate::changes::deferred_changes_wait_for_their_window(Some(fresh_database().await)).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn the_state_database_over_tls_is_verified_against_the_desks_ca_on_postgres() {
    let url = fresh_database().await;
    let ca = std::env::var("SWITCHBOARD_TEST_DATABASE_CA")
        .expect("SWITCHBOARD_TEST_DATABASE_CA (scripts/test-postgres.sh sets it)");
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    let pool = switchboard::infra::db::connect(&verified)
        .await
        .expect("verified against the desk's CA");
    let (encrypted,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(encrypted, "the connection is TLS");
    pool.close().await;

    // A CA that did not sign the server's certificate: refused, not downgraded.
    let other = crate::tls::TestCa::new();
    let wrong = format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        other.ca_file().display()
    );
    let refused = switchboard::infra::db::connect(&wrong).await.unwrap_err();
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "{refused}"
    );
}
