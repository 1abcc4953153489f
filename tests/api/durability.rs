//! A 2xx means durable: what a real server process acknowledged survives
//! `kill -9`, and a crash at each step of a write (armed crash points, not
//! sleeps) loses nothing that was acknowledged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::infra::crash::CRASH_AT_ENV;

use crate::helpers::{AGENT_TOKEN, sample_copy};
use crate::server_process::{ServerProcess, write_config};

fn incident(id: &str) -> Value {
    json!({
        "id": id,
        "title": format!("Disk full on app-{id}"),
        "description": "Monitoring: /var is 97% full",
        "resolution": "Rotated logs",
        "labels": { "assignment_group": "Linux Ops" },
    })
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> Option<reqwest::Response> {
    client
        .post(format!("{base}{path}"))
        .bearer_auth(AGENT_TOKEN)
        .json(body)
        .send()
        .await
        .ok()
}

/// Asserts every id in `acked` is stored with its own title.
async fn assert_all_stored(base: &str, acked: &[String]) {
    let client = reqwest::Client::new();
    for id in acked {
        let response = client
            .get(format!("{base}/v1/incidents/{id}"))
            .bearer_auth(crate::helpers::VIEWER_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged incident {id} was lost"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["title"], format!("Disk full on app-{id}"));
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let data = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), data.path(), None, "");
    let server = ServerProcess::start_ready(&config, &[]).await;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    // A ticket remembered at triage, then turned into an incident by feedback.
    for id in ["TKT-DUR-1", "TKT-DUR-2"] {
        let triaged: Value = post(&client, &base, "/v1/triage", &json!({ "id": id, "title": "VPN drops", "description": "The VPN client disconnects every few minutes" }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(triaged["remembered"], true);
    }
    let feedback = json!({ "field": "assignment_group", "label": "Network", "agent": "ana" });
    let answer = post(&client, &base, "/v1/tickets/TKT-DUR-1/feedback", &feedback)
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // Four writers stream incidents; the server is killed while they write.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, base, acked) = (client.clone(), base.clone(), Arc::clone(&acked));
            tokio::spawn(async move {
                for n in 0.. {
                    let id = format!("DUR-{w}-{n}");
                    match post(&client, &base, "/v1/incidents", &incident(&id)).await {
                        Some(r) if r.status().is_success() => acked.lock().unwrap().push(id),
                        _ => break,
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acked.lock().unwrap().len() < 60 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "writes too slow"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill9();
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let server = ServerProcess::start_ready(&config, &[]).await;
    assert_all_stored(&server.base, &acked).await;
    let from_feedback: Value = client
        .get(format!("{}/v1/incidents/TKT-DUR-1", server.base))
        .bearer_auth(crate::helpers::VIEWER_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(from_feedback["labels"]["assignment_group"], "Network");
    let remembered = post(
        &client,
        &server.base,
        "/v1/tickets/TKT-DUR-2/feedback",
        &feedback,
    )
    .await
    .unwrap();
    assert_eq!(remembered.status(), 200, "the remembered ticket was lost");
}

/// Writes incidents one at a time until the server dies; returns the ids it
/// acknowledged.
async fn write_until_crash(server: &mut ServerProcess) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut acked = Vec::new();
    for n in 0..2000 {
        let id = format!("CRASH-{n}");
        match post(&client, &server.base, "/v1/incidents", &incident(&id)).await {
            Some(r) if r.status().is_success() => acked.push(id),
            Some(r) => panic!("unexpected answer {}", r.status()),
            None => break,
        }
    }
    assert!(
        server.wait_exit(Duration::from_secs(10)),
        "the crash point was never reached"
    );
    acked
}

#[tokio::test]
async fn a_crash_at_each_step_of_a_store_write_loses_nothing_acknowledged() {
    // The fifth write crashes after its journal record is written, after it is
    // applied to the shard, after the record is synced; with a 1 MiB journal,
    // the first checkpoint crashes after the shards are flushed but before the
    // journal is emptied.
    for (point, extra) in [
        ("store.journaled@5", ""),
        ("store.applied@5", ""),
        ("store.synced@5", ""),
        (
            "store.checkpoint_flushed@1",
            "[store]\njournal_checkpoint_mib = 1\n",
        ),
    ] {
        let data = sample_copy();
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), data.path(), None, extra);
        let mut server = ServerProcess::start_ready(&config, &[(CRASH_AT_ENV, point)]).await;
        let acked = write_until_crash(&mut server).await;
        assert!(!acked.is_empty(), "{point}");
        if point.starts_with("store.") && point.ends_with("@5") {
            assert_eq!(acked.len(), 4, "{point}");
        }
        let server = ServerProcess::start_ready(&config, &[]).await;
        assert_all_stored(&server.base, &acked).await;
    }
}

#[tokio::test]
async fn feedback_logged_before_a_crash_reaches_the_store_at_restart() {
    let data = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), data.path(), None, "");
    let client = reqwest::Client::new();
    let ticket = json!({ "title": "Laptop does not boot", "description": "Black screen after the BIOS logo" });
    let feedback =
        |field: &str, label: &str| json!({ "field": field, "label": label, "agent": "ana" });

    // The second feedback on T-1 dies between the log and the store; the first
    // feedback on T-2 too (so T-2 never became an incident).
    let mut server =
        ServerProcess::start_ready(&config, &[(CRASH_AT_ENV, "feedback.logged@2")]).await;
    for id in ["T-1", "T-2"] {
        let mut body = ticket.clone();
        body["id"] = json!(id);
        post(&client, &server.base, "/v1/triage", &body)
            .await
            .unwrap();
    }
    let first = post(
        &client,
        &server.base,
        "/v1/tickets/T-1/feedback",
        &feedback("assignment_group", "Desktop Support"),
    )
    .await
    .unwrap();
    assert_eq!(first.status(), 200);
    assert!(
        post(
            &client,
            &server.base,
            "/v1/tickets/T-1/feedback",
            &feedback("category", "hardware")
        )
        .await
        .is_none()
    );
    assert!(server.wait_exit(Duration::from_secs(10)));
    let mut server =
        ServerProcess::start_ready(&config, &[(CRASH_AT_ENV, "feedback.logged@1")]).await;
    assert!(
        post(
            &client,
            &server.base,
            "/v1/tickets/T-2/feedback",
            &feedback("category", "hardware")
        )
        .await
        .is_none()
    );
    assert!(server.wait_exit(Duration::from_secs(10)));

    let server = ServerProcess::start_ready(&config, &[]).await;
    let get = |id: &str| {
        let url = format!("{}/v1/incidents/{id}", server.base);
        let client = client.clone();
        async move {
            client
                .get(url)
                .bearer_auth(crate::helpers::VIEWER_TOKEN)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let t1 = get("T-1").await;
    assert_eq!(t1["labels"]["assignment_group"], "Desktop Support", "{t1}");
    assert_eq!(t1["labels"]["category"], "hardware", "{t1}");
    let t2 = get("T-2").await;
    assert_eq!(t2["labels"]["category"], "hardware", "{t2}");
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.contains("replaying feedback")),
        "the repair is logged"
    );
}

/// Requests `say` (two approvers) on a real server; returns its id.
async fn request_say(client: &reqwest::Client, base: &str) -> String {
    let created: Value = post(
        client,
        base,
        "/v1/executions",
        &json!({ "runbook": "say", "params": { "message": "hi" } }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

async fn approve_as(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> Option<reqwest::Response> {
    client
        .post(format!("{base}/v1/executions/{id}/approve"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .ok()
}

#[tokio::test]
async fn a_crash_inside_a_decision_records_all_of_it_or_none() {
    use crate::helpers::{APPROVER_TOKEN, APPROVER2_TOKEN};
    let runbooks = crate::approvals::two_approver_runbooks();
    let data = tempfile::tempdir().unwrap();
    let config = write_config(
        data.path(),
        &data.path().join("store"),
        Some(runbooks.path()),
        "",
    );
    let client = reqwest::Client::new();
    // The second approval dies after its decision, audit entries and the move
    // to `approved` were written, before the transaction commits.
    let mut server = ServerProcess::start_ready(
        &config,
        &[(CRASH_AT_ENV, "automation.decision_before_commit@2")],
    )
    .await;
    let id = request_say(&client, &server.base).await;
    let first = approve_as(&client, &server.base, APPROVER_TOKEN, &id)
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert!(
        approve_as(&client, &server.base, APPROVER2_TOKEN, &id)
            .await
            .is_none()
    );
    assert!(server.wait_exit(Duration::from_secs(10)));

    let server = ServerProcess::start_ready(&config, &[]).await;
    let body: Value = client
        .get(format!("{}/v1/executions/{id}", server.base))
        .bearer_auth(AGENT_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["state"], "pending_approval", "{body:#}");
    assert_eq!(
        body["decisions"].as_array().unwrap().len(),
        1,
        "none of the second decision"
    );
    // The approver tries again, and the run starts.
    let again = approve_as(&client, &server.base, APPROVER2_TOKEN, &id)
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let verify = crate::helpers::switchboard_command()
        .arg("--config")
        .arg(&config)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    crate::helpers::assert_succeeded(&verify);
}

#[tokio::test]
async fn an_audit_entry_committed_but_not_anchored_is_anchored_at_restart() {
    let runbooks = crate::approvals::two_approver_runbooks();
    let data = tempfile::tempdir().unwrap();
    let config = write_config(
        data.path(),
        &data.path().join("store"),
        Some(runbooks.path()),
        "",
    );
    let client = reqwest::Client::new();
    // The request commits, then the process dies before anchoring its entry.
    let mut server =
        ServerProcess::start_ready(&config, &[(CRASH_AT_ENV, "audit.before_anchor@1")]).await;
    assert!(
        post(
            &client,
            &server.base,
            "/v1/executions",
            &json!({ "runbook": "say", "params": { "message": "hi" } })
        )
        .await
        .is_none()
    );
    assert!(server.wait_exit(Duration::from_secs(10)));
    let anchor = data.path().join("store/audit.anchor");
    assert!(!anchor.exists() || std::fs::read_to_string(&anchor).unwrap().is_empty());

    let server = ServerProcess::start_ready(&config, &[]).await;
    let verify = crate::helpers::switchboard_command()
        .arg("--config")
        .arg(&config)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    crate::helpers::assert_succeeded(&verify);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(said.contains("anchor at entry 1"), "{said}");
    drop(server);
}
