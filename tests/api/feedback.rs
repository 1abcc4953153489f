//! Learning from corrections: `POST /v1/tickets/{id}/feedback`, `GET /v1/stats`,
//! `POST /v1/admin/retrain` and `switchboard retrain`.

use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, AGENT_TOKEN, TestApp, VIEWER_TOKEN, assert_succeeded, error_code, spawn_app,
    switchboard_command,
};

const TITLE: &str = "VPN keeps disconnecting";
const DESCRIPTION: &str =
    "Working from home, the GlobalProtect VPN drops every few minutes and I have to reconnect.";

async fn triage(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/v1/triage", &body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn feedback(app: &TestApp, id: &str, label: &str, agent: &str) -> Value {
    let response = app
        .post_json(
            &format!("/v1/tickets/{id}/feedback"),
            &json!({ "field": "assignment_group", "label": label, "agent": agent }),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_corrected_ticket_reroutes_its_near_duplicate_without_a_restart() {
    let app = spawn_app().await;
    let first = triage(
        &app,
        json!({ "id": "TKT-9001", "title": TITLE, "description": DESCRIPTION }),
    )
    .await;
    let suggested = first["suggestions"]["assignment_group"]["label"].clone();
    assert_eq!(suggested, "Network Operations", "{first:#}");
    assert!(
        first["suggestions"]["assignment_group"]["sources"]["classifier"].is_number(),
        "the head takes part: {first:#}"
    );

    // The agent knows better: on this desk, GlobalProtect belongs to Security.
    let receipt = feedback(&app, "TKT-9001", "Security Operations", "ana.lopez").await;
    assert_eq!(receipt["changed"], true);
    assert_eq!(receipt["feedback"]["previous"], "Network Operations");
    assert_eq!(receipt["feedback"]["caller"], "agent");
    assert_eq!(
        receipt["incident"]["labels"],
        json!({ "assignment_group": "Security Operations" }),
        "only what the agent confirmed is stored"
    );

    let again = triage(
        &app,
        json!({ "title": TITLE, "description": format!("{DESCRIPTION} Thanks!") }),
    )
    .await;
    let group = &again["suggestions"]["assignment_group"];
    assert_eq!(group["label"], "Security Operations", "{again:#}");
    assert_eq!(group["evidence"][0]["id"], "TKT-9001");

    // A different VPN ticket still goes to the network team.
    let other = triage(
        &app,
        json!({ "title": "VPN client cannot connect", "description": "The VPN client says the gateway is unreachable from the office Wi-Fi." }),
    )
    .await;
    assert_eq!(
        other["suggestions"]["assignment_group"]["label"],
        "Network Operations"
    );
}

#[tokio::test]
async fn ping_pong_between_groups_shows_in_stats() {
    let app = spawn_app().await;
    let triaged = triage(
        &app,
        json!({ "id": "TKT-7", "title": "Outlook cannot open the shared mailbox", "description": "Outlook says I do not have permission to open the finance shared mailbox." }),
    )
    .await;
    let suggested = triaged["suggestions"]["assignment_group"]["label"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = if suggested == "Identity & Access" {
        "Messaging & Collaboration"
    } else {
        "Identity & Access"
    };
    let start = app.get("/v1/stats").await.json::<Value>().await.unwrap();
    assert_eq!(start["feedback"]["total"], 0);
    assert_eq!(start["triaged_tickets"], 1);
    assert!(start["incidents"].as_u64().unwrap() >= 320);
    assert!(start["classifier"]["trained_on"].as_u64().unwrap() >= 320);

    // suggested -> other -> suggested -> other, then a confirmation.
    feedback(&app, "TKT-7", other, "bo").await;
    feedback(&app, "TKT-7", &suggested, "cy").await;
    feedback(&app, "TKT-7", other, "bo").await;
    let confirm = feedback(&app, "TKT-7", other, "dee").await;
    assert_eq!(confirm["changed"], false);

    let stats: Value = app.get("/v1/stats").await.json().await.unwrap();
    let group = &stats["feedback"]["fields"]["assignment_group"];
    assert_eq!(stats["feedback"]["total"], 4);
    assert_eq!(group["changed"], 3);
    assert_eq!(group["confirmed"], 1);
    assert_eq!(
        group["reassignments"],
        json!([
            { "from": suggested, "to": other, "count": 2 },
            { "from": other, "to": suggested, "count": 1 }
        ]),
        "{stats:#}"
    );
    let mut pair = [suggested.clone(), other.to_owned()];
    pair.sort();
    assert_eq!(
        group["ping_pong"],
        json!([{ "between": pair, "bounces": 2, "tickets": 1 }]),
        "{stats:#}"
    );

    // The log is durable: a restart replays it.
    let data_dir = app.stop().await;
    let app = crate::helpers::spawn_app_on(data_dir, |_| {}).await;
    let after: Value = app.get("/v1/stats").await.json().await.unwrap();
    assert_eq!(after["feedback"], stats["feedback"]);
}

#[tokio::test]
async fn feedback_is_checked_and_needs_an_agent() {
    let app = spawn_app().await;
    let body =
        json!({ "field": "assignment_group", "label": "Network Operations", "agent": "ana" });
    let path = "/v1/tickets/INC0010315/feedback";
    let (code, _) = error_code(app.post_json_as(None, path, &body).await, 401).await;
    assert_eq!(code, "unauthorized");
    let (code, _) = error_code(app.post_json_as(Some(VIEWER_TOKEN), path, &body).await, 403).await;
    assert_eq!(code, "forbidden");
    let (code, _) = error_code(
        app.post_json("/v1/tickets/NO-SUCH-TICKET/feedback", &body)
            .await,
        404,
    )
    .await;
    assert_eq!(code, "not_found");
    for (bad, field) in [
        (
            json!({ "field": "assignment group", "label": "X", "agent": "ana" }),
            "field",
        ),
        (
            json!({ "field": "assignment_group", "label": " ", "agent": "ana" }),
            "label",
        ),
        (
            json!({ "field": "assignment_group", "label": "X", "agent": "" }),
            "agent",
        ),
    ] {
        let (code, body) = error_code(app.post_json(path, &bad).await, 422).await;
        assert_eq!(code, "validation_failed");
        assert_eq!(body["error"]["field"], field);
    }
    let (_, body) = error_code(
        app.post_json(path, &json!({ "field": "assignment_group", "label": "X" }))
            .await,
        422,
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("agent"));

    // A stored incident can be reassigned too; its other labels stay.
    let receipt = feedback(&app, "INC0010315", "Server Operations", "ana").await;
    assert_eq!(
        receipt["incident"]["labels"]["assignment_group"],
        "Server Operations"
    );
    assert!(receipt["incident"]["labels"]["category"].is_string());
}

#[tokio::test]
async fn retrain_swaps_in_a_head_that_explains_itself() {
    let app = spawn_app().await;
    let path = "/v1/admin/retrain";
    let (code, _) = error_code(
        app.post_json_as(Some(AGENT_TOKEN), path, &json!({})).await,
        403,
    )
    .await;
    assert_eq!(code, "forbidden");
    let response = app.post_json_as(Some(ADMIN_TOKEN), path, &json!({})).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert!(report["incidents"].as_u64().unwrap() >= 320);
    assert!(
        report["fields"]
            .as_array()
            .unwrap()
            .contains(&json!("assignment_group"))
    );

    let body = triage(&app, json!({ "title": "Printer jammed", "description": "The second floor printer shows a paper jam and will not print." })).await;
    let group = &body["suggestions"]["assignment_group"];
    let terms: Vec<&str> = group["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["term"].as_str().unwrap())
        .collect();
    assert!(
        terms
            .iter()
            .any(|t| t.contains("printer") || t.contains("jam")),
        "{group:#}"
    );
    let classifier = group["sources"]["classifier"].as_f64().unwrap();
    let neighbours = group["sources"]["neighbours"].as_f64().unwrap();
    let confidence = group["confidence"].as_f64().unwrap();
    let blend = 0.7 * classifier + 0.3 * neighbours;
    let agreement = classifier.max(neighbours);
    assert!(
        (confidence - blend).abs() < 1e-4 || (confidence - agreement).abs() < 1e-4,
        "confidence {confidence} is neither the blend {blend} nor, on agreement, {agreement}"
    );
}

#[test]
fn retrain_command_writes_the_head_and_refuses_a_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = switchboard_command()
        .env("SWITCHBOARD_DATA_DIR", &data)
        .args(["ingest", "incidents", "--no-retrain"])
        .arg(crate::helpers::repo().join("sample/incidents.csv"))
        .output()
        .unwrap();
    assert_succeeded(&ingest);

    let retrain = switchboard_command()
        .env("SWITCHBOARD_DATA_DIR", &data)
        .arg("retrain")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&retrain.stdout);
    assert_succeeded(&retrain);
    assert!(stdout.contains("retrained on 320 incidents"), "{stdout}");
    assert!(stdout.contains("version 1"), "{stdout}");

    let _lock = switchboard::store::EdgeStore::open(&data, 384).unwrap();
    let busy = switchboard_command()
        .env("SWITCHBOARD_DATA_DIR", &data)
        .arg("retrain")
        .output()
        .unwrap();
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("--server"));
}

#[tokio::test]
async fn retrain_command_with_server_asks_the_running_service_with_the_token_from_the_environment()
{
    let app = spawn_app().await;
    let retrain_via = |token: &'static str| {
        let address = app.address.clone();
        tokio::task::spawn_blocking(move || {
            switchboard_command()
                .env("SWITCHBOARD_TOKEN", token)
                .args(["retrain", "--server", &address])
                .output()
                .unwrap()
        })
    };
    let out = retrain_via(ADMIN_TOKEN).await.unwrap();
    assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("retrained on"), "{stdout}");

    let refused = retrain_via(AGENT_TOKEN).await.unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("403"), "{stderr}");
}

#[tokio::test]
async fn anonymous_triage_with_an_id_stores_nothing() {
    let app = crate::helpers::spawn_app_on(crate::helpers::sample_copy(), |s| {
        s.triage.anonymous = switchboard::triage::AnonymousTriage::Full;
    })
    .await;
    let body = json!({ "id": "ANON-1", "title": TITLE, "description": DESCRIPTION });
    let answer: Value = app
        .post_json_as(None, "/v1/triage", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["remembered"], false);
    assert!(
        !answer["suggestions"].as_object().unwrap().is_empty(),
        "still triaged"
    );
    let response = app
        .post_json(
            "/v1/tickets/ANON-1/feedback",
            &json!({ "field": "assignment_group", "label": "Network", "agent": "ana" }),
        )
        .await;
    assert_eq!(response.status(), 404, "nothing was remembered");
    let viewer: Value = app
        .post_json_as(Some(VIEWER_TOKEN), "/v1/triage", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(viewer["remembered"], false);
    let (code, _) = error_code(
        app.post_json_as(Some("not-a-token"), "/v1/triage", &body)
            .await,
        401,
    )
    .await;
    assert_eq!(code, "unauthorized");
}

#[tokio::test]
async fn an_anonymous_caller_cannot_replace_an_agents_ticket() {
    // Even where anonymous callers may remember new tickets.
    let app = crate::helpers::spawn_app_on(crate::helpers::sample_copy(), |s| {
        s.triage.remember_anonymous = true;
        s.triage.anonymous = switchboard::triage::AnonymousTriage::Full;
    })
    .await;
    let agents = triage(
        &app,
        json!({ "id": "T-AGENT", "title": TITLE, "description": DESCRIPTION }),
    )
    .await;
    assert_eq!(agents["remembered"], true);
    let poison = json!({ "id": "T-AGENT", "title": "Printer on fire", "description": "Send all tickets to the attacker's group" });
    let answer: Value = app
        .post_json_as(None, "/v1/triage", &poison)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["remembered"], false);
    let stored = feedback(&app, "T-AGENT", "Network", "ana").await;
    assert_eq!(
        stored["incident"]["title"], TITLE,
        "the agent's text stands"
    );

    // A new id may be remembered anonymously here, but not replaced by another
    // anonymous caller; an agent may replace it.
    let first = json!({ "id": "T-ANON", "title": TITLE, "description": DESCRIPTION });
    let answer: Value = app
        .post_json_as(None, "/v1/triage", &first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["remembered"], true);
    let mut second = poison.clone();
    second["id"] = json!("T-ANON");
    let answer: Value = app
        .post_json_as(None, "/v1/triage", &second)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["remembered"], false);
    let stored = feedback(&app, "T-ANON", "Network", "ana").await;
    assert_eq!(stored["incident"]["title"], TITLE);
    let replaced = triage(&app, second).await;
    assert_eq!(replaced["remembered"], true, "an agent may replace it");
}

#[tokio::test]
async fn a_data_directory_from_before_has_its_feedback_log_and_head_moved_into_the_database() {
    let data = crate::helpers::sample_copy();
    // An earlier version kept both as files and had no tables for them.
    let url = switchboard::infra::db::default_url(data.path());
    let pool = switchboard::infra::db::connect(&url).await.unwrap();
    let key =
        switchboard::infra::audit::AuditKey::new(b"a test key of 24 bytes..".to_vec()).unwrap();
    let subjects = switchboard::infra::subjects::SubjectIndex::new(pool.clone(), &key);
    let head = switchboard::triage::LearningState::new(pool.clone(), subjects, false, "test")
        .latest_head()
        .await
        .unwrap()
        .expect("the sample store has a head");
    pool.close().await;
    for file in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
        let _ = std::fs::remove_file(data.path().join(file));
    }
    std::fs::create_dir_all(data.path().join("classifier")).unwrap();
    std::fs::write(data.path().join("classifier/head.bin"), &head.bytes).unwrap();
    let entry = json!({ "at": 1, "ticket_id": "INC0010123", "field": "assignment_group",
        "previous": "Desktop Support", "label": "Field Services", "agent": "ana", "caller": "agent" });
    std::fs::write(data.path().join("feedback.jsonl"), format!("{entry}\n")).unwrap();

    let app = crate::helpers::spawn_app_on(data, |_| {}).await;
    let stats: Value = app
        .get_as(VIEWER_TOKEN, "/v1/stats")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["feedback"]["total"], 1, "{stats:#}");
    assert_eq!(stats["classifier"]["version"], 1, "{stats:#}");
    let dir = app.data_dir.path();
    assert!(!dir.join("feedback.jsonl").exists());
    assert!(dir.join("feedback.jsonl.imported").exists());
    assert!(dir.join("classifier/head.bin.imported").exists());
}
