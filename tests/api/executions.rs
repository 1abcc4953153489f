//! Runbook executions over HTTP: requests, approvals, refusals, audit, secrets,
//! and a real process kill in the middle of a run.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use switchboard::configuration::Settings;

use crate::helpers::{
    ADMIN_TOKEN, AGENT_TOKEN, APPROVER_TOKEN, APPROVER2_TOKEN, TestApp, TestClock, VIEWER_TOKEN,
    assert_succeeded, error_code, repo, spawn_app_on, spawn_app_on_clock, switchboard_command,
    work_root,
};
use crate::server_process::{ServerProcess, write_config};

/// Runbooks written for these tests next to a copy of the shipped ones.
const TEST_RUNBOOKS: &[(&str, &str)] = &[
    (
        "say.yaml",
        r#"
id: say
version: 1
title: Echo a message after approval
description: test runbook
owner: tests
parameters:
  - { name: message, type: string, required: true, pattern: '[A-Za-z0-9 .-]{1,40}' }
  - { name: mode, type: enum, enum: [plain, loud], default: plain }
  - { name: count, type: integer, min: 1, max: 3, default: "1" }
risk: medium
approval: { mode: manual, approvers: 2, role: approver, expires_after: 4h }
steps:
  - { name: say, run: [echo, "{message}", "{mode}", "{count}"], timeout: 5s }
"#,
    ),
    (
        "quick-expiry.yaml",
        r#"
id: quick-expiry
version: 1
title: Expires fast
description: test runbook
owner: tests
risk: medium
approval: { mode: manual, approvers: 1, expires_after: 1s }
steps:
  - { name: t, run: ["true"] }
"#,
    ),
    (
        "use-secret.yaml",
        r#"
id: use-secret
version: 1
title: Prints a secret it should not
description: test runbook
owner: tests
risk: low
approval: { mode: auto }
steps:
  - { name: leak, run: [printenv, API_TOKEN], secrets: [API_TOKEN] }
"#,
    ),
    (
        "steal-key.yaml",
        r#"
id: steal-key
version: 1
title: Asks for the audit key
description: test runbook
owner: tests
risk: low
approval: { mode: auto }
steps:
  - { name: steal, run: [printenv, AUDIT_HMAC_KEY], secrets: [AUDIT_HMAC_KEY] }
"#,
    ),
    (
        "slow.yaml",
        r#"
id: slow
version: 1
title: Takes its time
description: test runbook
owner: tests
risk: medium
approval: { mode: manual, approvers: 1 }
targets: { required: true, kinds: [host], tags: [linux] }
steps:
  - { name: wait, run: [sleep, "30"], timeout: 60s }
"#,
    ),
];

/// One at a time, whatever the demand.
const SERIAL_RUNBOOK: (&str, &str) = (
    "serial.yaml",
    r#"
id: serial
version: 1
title: One at a time
description: test runbook
owner: tests
risk: low
approval: { mode: auto }
steps:
  - { name: wait, run: [sleep, "1"], timeout: 10s }
concurrency: { per_target: 1, global: 1 }
"#,
);

const SECRET_VALUE: &str = "tok-9f8e7d6c5b4a";

fn runbook_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("runbooks")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    for (name, text) in TEST_RUNBOOKS.iter().chain([&SERIAL_RUNBOOK]) {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    crate::helpers::write_private(
        dir.path().join("secrets.yaml"),
        format!("API_TOKEN: {SECRET_VALUE}\n"),
    )
    .unwrap();
    dir
}

fn use_runbooks(settings: &mut Settings, dir: &std::path::Path) {
    settings.runbooks.dir = dir.to_path_buf();
    settings.runbooks.inventory = dir.join("inventory.yaml");
    settings.runbooks.secrets_file = Some(dir.join("secrets.yaml"));
}

async fn spawn(runbooks: &tempfile::TempDir) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let dir = runbooks.path().to_path_buf();
    spawn_app_on(data, move |s| use_runbooks(s, &dir)).await
}

async fn request(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post_json_as(Some(token), "/v1/executions", &body).await
}

/// POSTs `body` to `/v1/executions/{id}/{action}` (approve, reject, cancel) with `token`.
async fn act(app: &TestApp, token: &str, id: &str, action: &str, body: Value) -> reqwest::Response {
    app.post_json_as(Some(token), &format!("/v1/executions/{id}/{action}"), &body)
        .await
}

/// GETs `path` as a viewer and parses the JSON body.
async fn get_json<T: serde::de::DeserializeOwned>(app: &TestApp, path: &str) -> T {
    app.get_as(VIEWER_TOKEN, path).await.json().await.unwrap()
}

/// Requests `body` as an agent, approves it as an approver (expecting 200)
/// and waits for the run to end: the request's answer and the final execution.
async fn run_approved(app: &TestApp, body: Value) -> (Value, Value) {
    let created: Value = request(app, AGENT_TOKEN, body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let approved = act(
        app,
        APPROVER_TOKEN,
        id,
        "approve",
        json!({ "comment": "go" }),
    )
    .await;
    assert_eq!(approved.status(), 200);
    let done = wait_final(app, id).await;
    (created, done)
}

async fn wait_final(app: &TestApp, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let body: Value = get_json(app, &format!("/v1/executions/{id}")).await;
        let state = body["state"].as_str().unwrap().to_owned();
        if !["approved", "running", "pending_approval"].contains(&state.as_str()) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "still {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn audit_verify(data_dir: &std::path::Path) -> std::process::Output {
    switchboard_command()
        .env("SWITCHBOARD_DATA_DIR", data_dir)
        .args(["audit", "verify"])
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_standard_change_runs_at_once_and_cleans_only_old_files() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let scratch = work_root().join("test-exec");
    std::fs::create_dir_all(&scratch).unwrap();
    let (old, new) = (scratch.join("old.tmp"), scratch.join("new.tmp"));
    std::fs::write(&old, "x").unwrap();
    std::fs::write(&new, "y").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(10 * 86_400))
        .unwrap();

    let response = request(
        &app,
        AGENT_TOKEN,
        json!({ "runbook": "clean-old-files", "params": { "directory": scratch, "days": 5 }, "ticket_id": "INC0099" }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let done = wait_final(&app, id).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert!(!old.exists() && new.exists());
    let phases: Vec<&str> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["check", "step"]);
    assert!(
        done["steps"][1]["stdout"]
            .as_str()
            .unwrap()
            .contains("old.tmp")
    );

    let audit: Vec<Value> = get_json(&app, &format!("/v1/executions/{id}/audit")).await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "execution.requested",
            "execution.running",
            "execution.succeeded"
        ]
    );
    assert_eq!(audit[0]["actor"], "agent");
    let out = audit_verify(app.data_dir.path());
    assert_succeeded(&out);
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Requests the two-approver `say` runbook as the agent; returns its id.
async fn request_say(app: &TestApp, message: &str) -> String {
    let created: Value = request(
        app,
        AGENT_TOKEN,
        json!({ "runbook": "say", "params": { "message": message } }),
    )
    .await
    .json()
    .await
    .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn requesting_an_execution_needs_an_agent_token() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let body = json!({ "runbook": "say", "params": { "message": "hello there" } });
    let (code, _) = error_code(app.post_json_as(None, "/v1/executions", &body).await, 401).await;
    assert_eq!(code, "unauthorized");
    let (code, _) = error_code(request(&app, VIEWER_TOKEN, body).await, 403).await;
    assert_eq!(code, "forbidden");
}

#[tokio::test]
async fn the_same_idempotency_key_is_the_same_execution() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let body = json!({ "runbook": "say", "params": { "message": "hello there" }, "idempotency_key": "k-1" });
    let first = request(&app, AGENT_TOKEN, body.clone()).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["state"], "pending_approval");
    assert_eq!(first["approvals_needed"], 2);
    let again = request(&app, AGENT_TOKEN, body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<Value>().await.unwrap()["id"],
        first["id"],
        "same key, same execution"
    );
}

#[tokio::test]
async fn two_approvers_start_the_run_and_refusals_are_audited() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let id = request_say(&app, "hello there").await;
    let id = id.as_str();
    let approve = |token: &'static str| act(&app, token, id, "approve", json!({ "comment": "ok" }));

    let (code, _) = error_code(approve(VIEWER_TOKEN).await, 403).await;
    assert_eq!(code, "forbidden");
    let (code, _) = error_code(approve(AGENT_TOKEN).await, 403).await;
    assert_eq!(code, "forbidden");
    let (code, _) = error_code(
        act(&app, APPROVER_TOKEN, id, "approve", json!({ "comment": 5 })).await,
        422,
    )
    .await;
    assert_eq!(code, "invalid_body");
    assert_eq!(approve(APPROVER_TOKEN).await.status(), 200);
    let (code, body) = error_code(approve(APPROVER_TOKEN).await, 409).await;
    assert_eq!(code, "conflict");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already decided")
    );
    // `null` is the documented "no comment", like an empty body.
    let second = act(&app, APPROVER2_TOKEN, id, "approve", Value::Null).await;
    assert_eq!(second.status(), 200);
    let done = wait_final(&app, id).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["steps"][0]["stdout"], "hello there plain 1\n");
    assert_eq!(done["decisions"].as_array().unwrap().len(), 2);
    let (code, _) = error_code(approve(ADMIN_TOKEN).await, 409).await;
    assert_eq!(code, "conflict");

    let audit: Vec<Value> = get_json(&app, &format!("/v1/executions/{id}/audit")).await;
    let refused: Vec<&str> = audit
        .iter()
        .filter(|e| e["action"] == "execution.approve_refused")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        refused,
        ["viewer", "agent", "approver", "admin"],
        "{audit:#?}"
    );
    assert!(audit_verify(app.data_dir.path()).status.success());
}

#[tokio::test]
async fn an_approver_cannot_approve_their_own_request_but_another_can_reject_it() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let own: Value = request(
        &app,
        APPROVER_TOKEN,
        json!({ "runbook": "say", "params": { "message": "mine" } }),
    )
    .await
    .json()
    .await
    .unwrap();
    let own_id = own["id"].as_str().unwrap();
    let (_, body) = error_code(
        act(&app, APPROVER_TOKEN, own_id, "approve", json!({})).await,
        403,
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("own request")
    );
    let rejected: Value = act(
        &app,
        APPROVER2_TOKEN,
        own_id,
        "reject",
        json!({ "comment": "not today" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(rejected["state"], "rejected");
    let audit: Vec<Value> = get_json(&app, &format!("/v1/executions/{own_id}/audit")).await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "execution.approve_refused" && e["actor"] == "approver")
    );
}

#[tokio::test]
async fn the_requester_cancels_a_pending_execution() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let pending_id = request_say(&app, "bye").await;
    let cancelled: Value = act(&app, AGENT_TOKEN, &pending_id, "cancel", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["state"], "cancelled");
}

// The approval window passes on a test clock: expiry is tested, not waited for.
#[tokio::test]
async fn an_approval_after_the_window_is_refused_and_the_execution_expires() {
    let runbooks = runbook_dir();
    let clock = TestClock::now();
    let dir = runbooks.path().to_path_buf();
    let app = spawn_app_on_clock(tempfile::tempdir().unwrap(), clock.clone(), move |s| {
        use_runbooks(s, &dir)
    })
    .await;
    let quick: Value = request(&app, AGENT_TOKEN, json!({ "runbook": "quick-expiry" }))
        .await
        .json()
        .await
        .unwrap();
    let quick_id = quick["id"].as_str().unwrap();
    clock.advance(Duration::from_millis(999));
    let listed: Vec<Value> = get_json(&app, "/v1/executions?state=pending_approval").await;
    assert_eq!(listed.len(), 1, "still open within its one-second window");
    clock.advance(Duration::from_millis(2));
    let (_, body) = error_code(
        act(&app, APPROVER_TOKEN, quick_id, "approve", json!({})).await,
        409,
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let listed: Vec<Value> = get_json(&app, "/v1/executions?state=expired").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], quick["id"]);
}

#[tokio::test]
async fn shipped_runbooks_rotate_a_log_and_collect_diagnostics_for_real() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let scratch = work_root().join("test-rotate");
    std::fs::create_dir_all(&scratch).unwrap();
    let log = scratch.join("app.log");
    std::fs::write(&log, "line\n".repeat(1000)).unwrap();
    let (created, done) = run_approved(
        &app,
        json!({ "runbook": "rotate-log", "params": { "log_file": log } }),
    )
    .await;
    assert_eq!(created["state"], "pending_approval");
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        0,
        "live file truncated"
    );
    assert!(scratch.join("app.log.rotated.gz").exists());

    let label = format!("TKT{}", std::process::id());
    let out_dir = scratch.join("diag");
    let created: Value = request(
        &app,
        AGENT_TOKEN,
        json!({ "runbook": "collect-diagnostics", "params": { "label": label, "output_dir": out_dir } }),
    )
    .await
    .json()
    .await
    .unwrap();
    let done = wait_final(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let archive = out_dir.join(format!("{label}.tar.gz"));
    let listing = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("meminfo.txt") && listing.contains("loadavg.txt"),
        "{listing}"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

#[tokio::test]
async fn dangerous_parameters_are_refused_and_audited() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let cases = [
        (
            json!({ "runbook": "say", "params": { "message": "hi; reboot" } }),
            "params.message",
            "metacharacter",
        ),
        (
            json!({ "runbook": "say", "params": { "message": "$(id)" } }),
            "params.message",
            "metacharacter",
        ),
        (
            json!({ "runbook": "say", "params": { "message": "-rf" } }),
            "params.message",
            "starts with '-'",
        ),
        (
            json!({ "runbook": "say", "params": { "message": "hi", "extra": "1" } }),
            "params.extra",
            "not a parameter",
        ),
        (
            json!({ "runbook": "say", "params": { "message": "hi", "mode": "shout" } }),
            "params.mode",
            "one of",
        ),
        (
            json!({ "runbook": "say", "params": { "message": "hi", "count": 9 } }),
            "params.count",
            "at most 3",
        ),
        (
            json!({ "runbook": "say", "params": { "message": "x".repeat(41) } }),
            "params.message",
            "does not match",
        ),
        (
            json!({ "runbook": "clean-old-files", "params": { "directory": format!("{}/../../etc", work_root().display()) } }),
            "params.directory",
            "'..'",
        ),
        (
            json!({ "runbook": "clean-old-files", "params": { "directory": "/home" } }),
            "params.directory",
            "must be inside",
        ),
        (
            json!({ "runbook": "slow", "params": { "target": "mail-99" } }),
            "params.target",
            "not in the inventory",
        ),
        (
            json!({ "runbook": "slow", "params": { "target": "erp-db" } }),
            "params.target",
            "is a database",
        ),
        (json!({ "runbook": "nope" }), "runbook", "no runbook"),
    ];
    for (body, field, reason) in &cases {
        let (code, error) = error_code(request(&app, AGENT_TOKEN, body.clone()).await, 422).await;
        assert_eq!(code, "refused", "{body}");
        assert_eq!(error["error"]["field"], *field, "{body}: {error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(reason),
            "{body}: {error}"
        );
    }
    let viewer = json!({ "runbook": "say", "params": { "message": "hi" } });
    let (code, _) = error_code(request(&app, VIEWER_TOKEN, viewer).await, 403).await;
    assert_eq!(code, "forbidden");
    let anonymous = app
        .post_json_as(None, "/v1/executions", &json!({ "runbook": "say" }))
        .await;
    let (code, _) = error_code(anonymous, 401).await;
    assert_eq!(code, "unauthorized");
    let listed: Vec<Value> = get_json(&app, "/v1/executions").await;
    assert!(listed.is_empty(), "nothing refused was created");
    let log = crate::helpers::audit_log(app.data_dir.path(), None).await;
    let refused = log.for_subject("say").await.unwrap();
    let who: Vec<(&str, &str)> = refused
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(who.len(), 8, "{who:?}");
    assert!(
        who[..7]
            .iter()
            .all(|w| *w == ("agent", "execution.refused"))
    );
    assert_eq!(who[7], ("viewer", "execution.request_refused"));
    let anonymous = log.for_subject("/v1/executions").await.unwrap();
    assert_eq!(
        (anonymous[0].actor.as_str(), anonymous[0].action.as_str()),
        ("anonymous", "auth.refused")
    );
    assert!(log.verify().await.unwrap().broken.is_none());
}

/// The audit chain's key, in the same secrets file as the steps' secrets.
const AUDIT_KEY_VALUE: &str = "audit-key-no-step-may-read-0123456789";

#[tokio::test]
async fn no_runbook_step_gets_the_audit_key() {
    let runbooks = runbook_dir();
    // The chain's key kept beside the steps' secrets, as a desk may.
    let secrets = runbooks.path().join("secrets.yaml");
    let mut text = std::fs::read_to_string(&secrets).unwrap();
    text.push_str(&format!("AUDIT_HMAC_KEY: {AUDIT_KEY_VALUE}\n"));
    std::fs::write(&secrets, text).unwrap();
    let app = spawn(&runbooks).await;
    let created: Value = request(&app, AGENT_TOKEN, json!({ "runbook": "steal-key" }))
        .await
        .json()
        .await
        .unwrap();
    let done = wait_final(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "failed", "{done:#}");
    let stderr = done["steps"][0]["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("secret AUDIT_HMAC_KEY is not configured"),
        "{stderr}"
    );
    assert!(!done.to_string().contains(AUDIT_KEY_VALUE));
}

#[tokio::test]
async fn secrets_never_reach_responses_or_the_audit_trail() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let created: Value = request(&app, AGENT_TOKEN, json!({ "runbook": "use-secret" }))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let done = wait_final(&app, id).await;
    assert_eq!(done["state"], "succeeded");
    assert_eq!(done["steps"][0]["stdout"], "[REDACTED]\n");
    let audit = app
        .get_as(VIEWER_TOKEN, &format!("/v1/executions/{id}/audit"))
        .await
        .text()
        .await
        .unwrap();
    for text in [done.to_string(), audit] {
        assert!(!text.contains(SECRET_VALUE));
    }
}

/// Reads the port a `switchboard serve` child logged, then keeps draining its logs.
#[tokio::test]
async fn killing_the_process_mid_run_leaves_the_execution_interrupted() {
    let runbooks = runbook_dir();
    let data = tempfile::tempdir().unwrap();
    let config = write_config(
        data.path(),
        &data.path().join("store"),
        Some(runbooks.path()),
        "",
    );
    let client = reqwest::Client::new();
    let server = ServerProcess::start_ready(&config, &[]).await;
    let base = server.base.clone();
    let created: Value = client
        .post(format!("{base}/v1/executions"))
        .bearer_auth(AGENT_TOKEN)
        .json(&json!({ "runbook": "slow", "params": { "target": "web-01" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let approved = client
        .post(format!("{base}/v1/executions/{id}/approve"))
        .bearer_auth(APPROVER_TOKEN)
        .json(&json!({ "comment": "go" }))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);
    let execution = |base: String| {
        let (client, id) = (client.clone(), id.clone());
        async move {
            client
                .get(format!("{base}/v1/executions/{id}"))
                .bearer_auth(AGENT_TOKEN)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let started = Instant::now();
    while execution(base.clone()).await["state"] != "running" {
        assert!(started.elapsed() < Duration::from_secs(20), "never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // `running` is recorded before the step's process starts: wait for it,
    // so the kill lands mid-step (under load the gap is not negligible).
    while switchboard::runbook::leftover_process_groups(&id).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the step never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    let orphans = switchboard::runbook::leftover_process_groups(&id);
    assert_eq!(
        orphans.len(),
        1,
        "the step's sleep outlives the killed service"
    );

    let server = ServerProcess::start_ready(&config, &[]).await;
    let body = execution(server.base.clone()).await;
    assert_eq!(body["state"], "interrupted", "{body:#}");
    let audit: Vec<Value> = client
        .get(format!("{}/v1/executions/{id}/audit", server.base))
        .bearer_auth(AGENT_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let interrupted = audit.last().unwrap();
    assert_eq!(interrupted["action"], "execution.interrupted");
    assert!(
        interrupted["detail"]
            .as_str()
            .unwrap()
            .contains(&orphans[0].to_string())
    );
    assert_eq!(body["decisions"][0]["approver"], "approver");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = execution(server.base.clone()).await;
    assert_eq!(again["state"], "interrupted", "never re-run");
    server.kill9();
    let out = switchboard_command()
        .arg("--config")
        .arg(&config)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_succeeded(&out);
    assert!(
        switchboard::runbook::leftover_process_groups(&id).is_empty(),
        "the restarted service killed the interrupted run's processes"
    );
}

#[tokio::test]
async fn concurrency_limits_hold_back_a_second_run() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let created: Value = request(&app, AGENT_TOKEN, json!({ "runbook": "serial" }))
            .await
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut states = Vec::new();
    for id in &ids {
        let body: Value = get_json(&app, &format!("/v1/executions/{id}")).await;
        states.push(body["state"].as_str().unwrap().to_owned());
    }
    states.sort();
    assert_eq!(states, ["approved", "running"], "one runs, one waits");
    for id in &ids {
        assert_eq!(wait_final(&app, id).await["state"], "succeeded");
    }
}

/// Adds to `dir` a script that leaves a `setsid` child behind (holding the
/// output pipe, its pid in `pidfile`) and then either exits or hangs, and a
/// runbook running it with a 1-s timeout, one run at a time.
fn add_escaping_runbook(dir: &std::path::Path, id: &str, pidfile: &std::path::Path, then: &str) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join(format!("{id}.sh"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsetsid sleep 999 &\necho $! > {}\n{then}\n",
            pidfile.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join(format!("{id}.yaml")),
        format!(
            "id: {id}\nversion: 1\ntitle: Leaves a child behind\ndescription: test runbook\n\
             owner: tests\nrisk: low\napproval: {{ mode: auto }}\n\
             concurrency: {{ per_target: 1, global: 1 }}\n\
             steps:\n  - {{ name: escape, run: [{:?}], timeout: 1s }}\n",
            script.display().to_string()
        ),
    )
    .unwrap();
}

/// True once the process whose pid is in `pidfile` is gone (waits up to 5 s).
async fn process_gone(pidfile: &std::path::Path) -> bool {
    let pid = std::fs::read_to_string(pidfile).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    for _ in 0..250 {
        let alive = std::fs::read_to_string(&stat)
            .is_ok_and(|s| !s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z'));
        if !alive {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_step_whose_child_escapes_still_ends_at_its_timeout_and_frees_its_slot() {
    let runbooks = runbook_dir();
    let pids = tempfile::tempdir().unwrap();
    let first_pid = pids.path().join("first");
    add_escaping_runbook(runbooks.path(), "escape-hang", &first_pid, "sleep 30");
    let app = spawn(&runbooks).await;
    let started = Instant::now();
    let first: Value = request(&app, AGENT_TOKEN, json!({ "runbook": "escape-hang" }))
        .await
        .json()
        .await
        .unwrap();
    let second: Value = request(&app, AGENT_TOKEN, json!({ "runbook": "escape-hang" }))
        .await
        .json()
        .await
        .unwrap();
    let first = wait_final(&app, first["id"].as_str().unwrap()).await;
    assert_eq!(first["state"], "timed_out", "{first:#}");
    assert!(process_gone(&first_pid).await, "the escaped child survived");
    // The second run waited for the slot and got it once the first ended.
    let second = wait_final(&app, second["id"].as_str().unwrap()).await;
    assert_eq!(second["state"], "timed_out", "{second:#}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_child_left_behind_by_a_successful_step_is_killed_and_counted() {
    let runbooks = runbook_dir();
    let pids = tempfile::tempdir().unwrap();
    let pidfile = pids.path().join("left");
    add_escaping_runbook(runbooks.path(), "escape-exit", &pidfile, "exit 0");
    let app = spawn(&runbooks).await;
    let created: Value = request(&app, AGENT_TOKEN, json!({ "runbook": "escape-exit" }))
        .await
        .json()
        .await
        .unwrap();
    let done = wait_final(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["steps"][0]["killed_processes"], 1, "{done:#}");
    assert!(process_gone(&pidfile).await, "the child outlived its step");
}

/// A server over the test runbooks whose running executions get `grace`
/// seconds at shutdown.
async fn spawn_with_grace(runbooks: &tempfile::TempDir, grace: u64) -> TestApp {
    let dir = runbooks.path().to_path_buf();
    spawn_app_on(tempfile::tempdir().unwrap(), move |s| {
        use_runbooks(s, &dir);
        s.runbooks.shutdown_grace_s = grace;
    })
    .await
}

/// Waits until execution `id` runs.
async fn wait_running(app: &TestApp, id: &str) {
    let started = Instant::now();
    while get_json::<Value>(app, &format!("/v1/executions/{id}")).await["state"] != "running" {
        assert!(started.elapsed() < Duration::from_secs(10), "never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Requests `slow` (sleep 30, one approval) on web-01, approves it and waits
/// until it runs; returns its id.
async fn start_slow_run(app: &TestApp) -> String {
    let created: Value = request(
        app,
        AGENT_TOKEN,
        json!({ "runbook": "slow", "params": { "target": "web-01" } }),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        act(app, APPROVER_TOKEN, &id, "approve", json!({}))
            .await
            .status(),
        200
    );
    wait_running(app, &id).await;
    id
}

#[tokio::test]
async fn cancelling_a_running_execution_kills_its_step() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let id = start_slow_run(&app).await;
    let (code, _) = error_code(act(&app, VIEWER_TOKEN, &id, "cancel", json!({})).await, 403).await;
    assert_eq!(code, "forbidden");
    let started = Instant::now();
    let cancelled = act(&app, AGENT_TOKEN, &id, "cancel", json!({})).await;
    assert_eq!(cancelled.status(), 200);
    let body: Value = cancelled.json().await.unwrap();
    assert_eq!(body["state"], "cancelled", "{body:#}");
    assert_eq!(body["steps"][0]["status"], "cancelled", "{body:#}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(switchboard::runbook::leftover_process_groups(&id).is_empty());
    let audit: Vec<Value> = get_json(&app, &format!("/v1/executions/{id}/audit")).await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"execution.cancel_requested"),
        "{actions:?}"
    );
    assert_eq!(actions.last(), Some(&"execution.cancelled"), "{actions:?}");
}

#[tokio::test]
async fn shutdown_lets_a_run_finish_within_the_grace_period() {
    let runbooks = runbook_dir();
    let app = spawn_with_grace(&runbooks, 10).await;
    let created: Value = request(&app, AGENT_TOKEN, json!({ "runbook": "serial" }))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    wait_running(&app, &id).await;
    let data = app.stop().await;
    let log = crate::helpers::audit_log(data.path(), None).await;
    let history = log.for_subject(&id).await.unwrap();
    assert_eq!(
        history.last().unwrap().action,
        "execution.succeeded",
        "{history:#?}"
    );
}

#[tokio::test]
async fn shutdown_past_the_grace_period_interrupts_the_run_and_kills_its_step() {
    let runbooks = runbook_dir();
    let app = spawn_with_grace(&runbooks, 0).await;
    let id = start_slow_run(&app).await;
    let started = Instant::now();
    let data = app.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(switchboard::runbook::leftover_process_groups(&id).is_empty());
    let log = crate::helpers::audit_log(data.path(), None).await;
    let history = log.for_subject(&id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.action, "execution.interrupted", "{history:#?}");
    assert!(log.verify().await.unwrap().broken.is_none());
}

#[tokio::test]
async fn a_flood_of_refused_requests_adds_one_audit_entry_and_is_counted() {
    let runbooks = runbook_dir();
    let app = spawn(&runbooks).await;
    let log = crate::helpers::audit_log(app.data_dir.path(), None).await;
    let before = log.head().await.unwrap().map_or(0, |e| e.seq);
    let counted_before = refusals_counted(&app).await;
    let body = json!({ "runbook": "say" });
    let requests = (0..300).map(|_| app.post_json_as(Some("not-a-token"), "/v1/executions", &body));
    for answer in futures_util::future::join_all(requests).await {
        assert_eq!(answer.status(), 401);
    }
    let after = log.head().await.unwrap().map_or(0, |e| e.seq);
    assert_eq!(after - before, 1, "one sampled entry for 300 refusals");
    let entry = log.entry(after).await.unwrap().unwrap();
    assert_eq!(entry.action, "auth.refused");
    // Counted (the metrics are the process's: other tests refuse too).
    assert!(refusals_counted(&app).await - counted_before >= 300.0);
    // An approver is not kept waiting by any of it.
    let created: Value = request(
        &app,
        AGENT_TOKEN,
        json!({ "runbook": "say", "params": { "message": "hi" } }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(created["id"].is_string(), "{created}");
}

/// `switchboard_refusals_total{surface="executions"}` as `/metrics` has it now.
async fn refusals_counted(app: &crate::helpers::TestApp) -> f64 {
    app.metric("switchboard_refusals_total{surface=\"executions\"}")
        .await
}

#[tokio::test]
async fn no_runbook_reaches_switchboards_own_data_whatever_its_roots() {
    let data = tempfile::tempdir().unwrap();
    let runbooks = runbook_dir();
    // A root an administrator drew too wide: it holds the data directory.
    let root = data.path().canonicalize().unwrap();
    std::fs::write(
        runbooks.path().join("wide.yaml"),
        format!(
            "id: wide\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: low\n\
             approval: {{ mode: auto }}\n\
             parameters: [ {{ name: file, type: path, required: true, allowed_roots: [{root:?}] }} ]\n\
             steps: [ {{ name: empty, run: [truncate, --size=0, --, \"{{file}}\"] }} ]\n",
            root = root.display().to_string()
        ),
    )
    .unwrap();
    let dir = runbooks.path().to_path_buf();
    let app = spawn_app_on(data, move |s| use_runbooks(s, &dir)).await;
    let database = root.join("switchboard.db");
    assert!(database.exists());
    let body = json!({ "runbook": "wide", "params": { "file": database.display().to_string() } });
    let (code, error) = error_code(request(&app, AGENT_TOKEN, body).await, 422).await;
    assert_eq!(code, "refused");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Switchboard's own data"),
        "{error}"
    );
}

#[tokio::test]
async fn a_runbook_naming_the_audit_key_or_the_secrets_file_in_its_own_argv_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let runbooks = runbook_dir();
    let key = data.path().canonicalize().unwrap().join("audit.key");
    let secrets = runbooks.path().join("secrets.yaml");
    std::fs::write(
        runbooks.path().join("literal.yaml"),
        format!(
            "id: literal\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: low\n\
             approval: {{ mode: auto }}\n\
             parameters: [ {{ name: which, type: enum, enum: [key, secrets], required: true }} ]\n\
             steps:\n\
             \x20 - {{ name: read the key, run: [cp, --, {key:?}, /srv/out] }}\n\
             \x20 - {{ name: read the secrets, run: [curl, \"--data-binary=@x\", \"--output={secrets}\"] }}\n",
            key = key.display().to_string(),
            secrets = secrets.display()
        ),
    )
    .unwrap();
    let dir = runbooks.path().to_path_buf();
    let app = spawn_app_on(data, move |s| use_runbooks(s, &dir)).await;
    let body = json!({ "runbook": "literal", "params": { "which": "key" } });
    let (code, error) = error_code(request(&app, AGENT_TOKEN, body).await, 422).await;
    assert_eq!(code, "refused");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("audit.key") && message.contains("own data"),
        "{error}"
    );

    // The same with only the `--output=` form left.
    let text = std::fs::read_to_string(runbooks.path().join("literal.yaml")).unwrap();
    let only_secrets: String = text
        .lines()
        .filter(|l| !l.contains("read the key"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(runbooks.path().join("literal.yaml"), only_secrets).unwrap();
    let dir = runbooks.path().to_path_buf();
    let app = spawn_app_on(tempfile::tempdir().unwrap(), move |s| use_runbooks(s, &dir)).await;
    let body = json!({ "runbook": "literal", "params": { "which": "secrets" } });
    let (_, error) = error_code(request(&app, AGENT_TOKEN, body).await, 422).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("secrets.yaml"),
        "{error}"
    );
}

#[tokio::test]
async fn rotate_logs_rollback_puts_the_live_file_back_after_a_later_step_fails() {
    let runbooks = runbook_dir();
    // The shipped runbook, its steps and rollback as shipped, and one more
    // step that fails for real after the live file was truncated.
    let shipped = std::fs::read_to_string(repo().join("runbooks/rotate-log.yaml")).unwrap();
    let failing = shipped.replace("id: rotate-log", "id: rotate-log-then-fail").replace(
        "rollback:",
        "  - name: a later step that fails\n    run: [ls, --, \"{log_file}.missing\"]\n    timeout: 10s\nrollback:",
    );
    assert_ne!(failing, shipped);
    std::fs::write(runbooks.path().join("rotate-log-then-fail.yaml"), failing).unwrap();
    let app = spawn(&runbooks).await;
    let scratch = work_root().join("test-rollback");
    std::fs::create_dir_all(&scratch).unwrap();
    let log = scratch.join("app.log");
    let content = "line\n".repeat(1000);
    std::fs::write(&log, &content).unwrap();

    let (_, done) = run_approved(
        &app,
        json!({ "runbook": "rotate-log-then-fail", "params": { "log_file": log } }),
    )
    .await;

    assert_eq!(done["state"], "rolled_back", "{done:#}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        content,
        "live file restored"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
