//! Executions as change records: a freeze refuses normal changes to the
//! targets it covers (audited), an emergency change overrides it with its own
//! approver role, a deferred change waits for its window (across a restart),
//! and `GET /v1/changes` lists changes with the windows.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use switchboard::changes::{WindowKind, WindowSettings};
use switchboard::configuration::Settings;

use crate::helpers::{
    AGENT_TOKEN, APPROVER_TOKEN, CHANGE_MANAGER_TOKEN, TestApp, TestClock, VIEWER_TOKEN,
    error_code, repo, spawn_app_on, spawn_app_on_clock,
};

const RUNBOOKS: &[(&str, &str)] = &[
    (
        "touch-host.yaml",
        r#"
id: touch-host
version: 1
title: Touch an inventory host
description: test runbook
owner: tests
risk: medium
approval: { mode: manual, approvers: 1 }
targets: { required: true, kinds: [host] }
steps:
  - { name: touch, run: [echo, touched], timeout: 5s }
"#,
    ),
    (
        "defer-auto.yaml",
        r#"
id: defer-auto
version: 1
title: Pre-approved, waits out a freeze
description: test runbook
owner: tests
risk: low
approval: { mode: auto }
freeze: defer
steps:
  - { name: run, run: [echo, ran], timeout: 5s }
"#,
    ),
    (
        "defer-manual.yaml",
        r#"
id: defer-manual
version: 1
title: Needs approval, waits out a freeze
description: test runbook
owner: tests
risk: medium
approval: { mode: manual, approvers: 1 }
freeze: defer
steps:
  - { name: run, run: [echo, ran], timeout: 5s }
"#,
    ),
];

fn runbook_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("runbooks/inventory.yaml"),
        dir.path().join("inventory.yaml"),
    )
    .unwrap();
    for (name, text) in RUNBOOKS {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn freeze(name: &str, tags: &[&str], from_now_s: i64, to_now_s: i64) -> WindowSettings {
    let now = Utc::now();
    WindowSettings {
        name: name.into(),
        kind: WindowKind::Freeze,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        start: Some(rfc3339(now + chrono::Duration::seconds(from_now_s))),
        end: Some(rfc3339(now + chrono::Duration::seconds(to_now_s))),
        cron: None,
        duration: None,
    }
}

fn configure(settings: &mut Settings, runbooks: &std::path::Path, windows: Vec<WindowSettings>) {
    settings.runbooks.dir = runbooks.to_path_buf();
    settings.runbooks.inventory = runbooks.join("inventory.yaml");
    settings.changes.windows = windows;
    settings.changes.scheduler_interval_s = 1;
}

async fn request(app: &TestApp, body: Value) -> reqwest::Response {
    app.post_json_as(Some(AGENT_TOKEN), "/v1/executions", &body)
        .await
}

async fn approve(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.post_json_as(
        Some(token),
        &format!("/v1/executions/{id}/approve"),
        &json!({ "comment": "go" }),
    )
    .await
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    app.get_as(VIEWER_TOKEN, path).await.json().await.unwrap()
}

async fn wait_state(app: &TestApp, id: &str, want: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let body = get_json(app, &format!("/v1/executions/{id}")).await;
        if body["state"] == want {
            return body;
        }
        assert!(
            started.elapsed() < within,
            "still {} after {within:?}: {body:#}",
            body["state"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An audit entry's detail (stored as JSON text).
fn detail(entry: &Value) -> Value {
    serde_json::from_str(entry["detail"].as_str().unwrap()).unwrap()
}

fn actions(audit: &[Value]) -> Vec<&str> {
    audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_normal_change_to_a_frozen_target_is_refused_and_audited() {
    let runbooks = runbook_dir();
    let dir = runbooks.path().to_path_buf();
    let app = spawn_app_on(tempfile::tempdir().unwrap(), move |s| {
        configure(s, &dir, vec![freeze("web freeze", &["web"], -3600, 86_400)]);
    })
    .await;

    let frozen = request(
        &app,
        json!({ "runbook": "touch-host", "params": { "target": "web-01" } }),
    )
    .await;
    let (code, body) = error_code(frozen, 409).await;
    assert_eq!(code, "change_freeze");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("web freeze") && message.contains("web-01"),
        "{message}"
    );

    // app-01 carries no `web` tag: the freeze does not cover it.
    let open = request(
        &app,
        json!({ "runbook": "touch-host", "params": { "target": "app-01" } }),
    )
    .await;
    assert_eq!(open.status(), 201);
    let open: Value = open.json().await.unwrap();
    assert_eq!(open["change_type"], "normal");

    let log = crate::helpers::audit_log(app.data_dir.path(), None).await;
    let refused: Vec<_> = log
        .for_subject("touch-host")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "execution.refused")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].actor, "agent");
    let detail: Value = serde_json::from_str(&refused[0].detail).unwrap();
    assert_eq!(detail["freeze"], "web freeze");
}

#[tokio::test]
async fn an_emergency_change_overrides_a_freeze_with_its_own_approver_role() {
    emergency_overrides_a_freeze(None).await;
}

/// An emergency change during a freeze, on SQLite or the PostgreSQL `database`.
pub async fn emergency_overrides_a_freeze(database: Option<String>) {
    let runbooks = runbook_dir();
    let dir = runbooks.path().to_path_buf();
    let app = spawn_app_on(tempfile::tempdir().unwrap(), move |s| {
        configure(s, &dir, vec![freeze("web freeze", &["web"], -3600, 86_400)]);
        s.database_url = database;
    })
    .await;
    let body =
        json!({ "runbook": "touch-host", "params": { "target": "web-01" }, "emergency": true });
    let (code, err) = error_code(request(&app, body.clone()).await, 422).await;
    assert_eq!(code, "refused");
    assert_eq!(err["error"]["field"], "justification");

    let mut body = body;
    body["justification"] = json!("checkout is down for every customer");
    let created = request(&app, body).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["change_type"], "emergency");
    assert_eq!(created["state"], "pending_approval");
    let id = created["id"].as_str().unwrap();

    // A plain approver may approve normal changes, not emergencies.
    let (code, _) = error_code(approve(&app, APPROVER_TOKEN, id).await, 403).await;
    assert_eq!(code, "forbidden");
    assert_eq!(approve(&app, CHANGE_MANAGER_TOKEN, id).await.status(), 200);
    let done = wait_state(&app, id, "succeeded", Duration::from_secs(30)).await;
    assert_eq!(done["justification"], "checkout is down for every customer");

    let audit: Vec<Value> = get_json(&app, &format!("/v1/executions/{id}/audit"))
        .await
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        actions(&audit),
        [
            "execution.requested",
            "execution.approve_refused",
            "execution.approved_by",
            "execution.approved",
            "execution.running",
            "execution.succeeded"
        ]
    );
    assert_eq!(detail(&audit[0])["change_type"], "emergency");
    assert_eq!(detail(&audit[0])["freeze"], "web freeze");
    assert_eq!(audit[2]["actor"], "change-manager");

    let listed = get_json(&app, "/v1/changes").await;
    let change = listed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap();
    assert_eq!(change["during_freeze"], "web freeze");
    assert_eq!(change["approved_by"], json!(["change-manager"]));
    assert_eq!(listed["windows"][0]["name"], "web freeze");
    assert_eq!(listed["windows"][0]["kind"], "freeze");
}

#[tokio::test]
async fn a_deferred_change_waits_for_its_window_and_runs_after_a_restart() {
    deferred_changes_wait_for_their_window(None).await;
}

/// Deferred changes across a restart, on SQLite or the PostgreSQL `database`.
pub async fn deferred_changes_wait_for_their_window(database: Option<String>) {
    let runbooks = runbook_dir();
    let window = freeze("short freeze", &[], -60, 12);
    let freeze_end = chrono::DateTime::parse_from_rfc3339(window.end.as_deref().unwrap())
        .unwrap()
        .timestamp_millis();
    let dir = runbooks.path().to_path_buf();
    let windows = vec![window];
    // The freeze ends on a test clock: the service is restarted after it
    // without anyone waiting for it.
    let clock = TestClock::now();
    let start = {
        let (dir, windows, clock) = (dir.clone(), windows.clone(), clock.clone());
        move |data| {
            let (dir, windows, database) = (dir.clone(), windows.clone(), database.clone());
            spawn_app_on_clock(data, clock.clone(), move |s| {
                configure(s, &dir, windows);
                s.database_url = database;
            })
        }
    };
    let app = start(tempfile::tempdir().unwrap()).await;

    let auto = request(&app, json!({ "runbook": "defer-auto" })).await;
    assert_eq!(auto.status(), 201);
    let auto: Value = auto.json().await.unwrap();
    assert_eq!(auto["state"], "scheduled");
    assert_eq!(auto["change_type"], "standard");
    assert_eq!(auto["scheduled_for"], freeze_end);
    let auto_id = auto["id"].as_str().unwrap().to_owned();

    // Approved during the freeze, a normal change is scheduled, not run.
    let manual: Value = request(&app, json!({ "runbook": "defer-manual" }))
        .await
        .json()
        .await
        .unwrap();
    let manual_id = manual["id"].as_str().unwrap().to_owned();
    assert_eq!(manual["state"], "pending_approval");
    assert_eq!(
        approve(&app, APPROVER_TOKEN, &manual_id).await.status(),
        200
    );
    wait_state(&app, &manual_id, "scheduled", Duration::from_secs(10)).await;

    // The service stops during the freeze and comes back after it.
    let data = app.stop().await;
    clock.set(freeze_end + 200);
    let app = start(data).await;
    for id in [&auto_id, &manual_id] {
        let done = wait_state(&app, id, "succeeded", Duration::from_secs(30)).await;
        assert!(
            done["started_at"].as_i64().unwrap() >= freeze_end,
            "{done:#}"
        );
        let audit: Vec<Value> = get_json(&app, &format!("/v1/executions/{id}/audit"))
            .await
            .as_array()
            .unwrap()
            .clone();
        let acted = actions(&audit);
        assert_eq!(
            &acted[acted.len() - 3..],
            [
                "execution.approved",
                "execution.running",
                "execution.succeeded"
            ]
        );
        assert_eq!(
            detail(&audit[audit.len() - 3])["reason"],
            "its change window opened"
        );
    }
}

#[tokio::test]
async fn a_scheduled_change_can_be_cancelled_before_its_window() {
    let runbooks = runbook_dir();
    let dir = runbooks.path().to_path_buf();
    let app = spawn_app_on(tempfile::tempdir().unwrap(), move |s| {
        configure(s, &dir, vec![freeze("long freeze", &[], -60, 86_400)]);
    })
    .await;
    let created: Value = request(&app, json!({ "runbook": "defer-auto" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["state"], "scheduled");
    let id = created["id"].as_str().unwrap();
    let cancelled = app
        .post_json_as(
            Some(AGENT_TOKEN),
            &format!("/v1/executions/{id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(
        cancelled.json::<Value>().await.unwrap()["state"],
        "cancelled"
    );
}

#[tokio::test]
async fn the_change_list_shows_recurring_windows_and_rejects_a_bad_period() {
    let runbooks = runbook_dir();
    let dir = runbooks.path().to_path_buf();
    let app = spawn_app_on(tempfile::tempdir().unwrap(), move |s| {
        let weekly = WindowSettings {
            name: "saturday night".into(),
            kind: WindowKind::Maintenance,
            tags: vec!["linux".into()],
            start: None,
            end: None,
            cron: Some("0 22 * * SAT".into()),
            duration: Some("4h".into()),
        };
        configure(s, &dir, vec![weekly]);
    })
    .await;
    let listed = get_json(
        &app,
        "/v1/changes?from=2027-01-01T00:00:00Z&to=2027-02-01T00:00:00Z",
    )
    .await;
    let starts: Vec<i64> = listed["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["start"].as_i64().unwrap())
        .collect();
    // Saturdays of January 2027: the 2nd, 9th, 16th, 23rd and 30th.
    assert_eq!(starts.len(), 5, "{listed:#}");
    assert_eq!(
        starts[0],
        chrono::DateTime::parse_from_rfc3339("2027-01-02T22:00:00Z")
            .unwrap()
            .timestamp_millis()
    );
    let bad = app.get_as(VIEWER_TOKEN, "/v1/changes?from=yesterday").await;
    let (code, _) = error_code(bad, 400).await;
    assert_eq!(code, "invalid_query");
}
