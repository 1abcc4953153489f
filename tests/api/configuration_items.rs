//! The inventory as a registry of configuration items, through the real
//! server and the shipped `runbooks/inventory.yaml`: triage names the items a
//! ticket mentions (by name, fully qualified name or IP address) with their
//! owner group, service and environment; the owner group stands next to the
//! suggested group; a runbook's target is filled from them; storms group by
//! them and duplicates link on them.

use serde_json::{Value, json};

use crate::helpers::{TestApp, VIEWER_TOKEN, spawn_app};

async fn triage(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/v1/triage", &body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn item_names(triaged: &Value) -> Vec<&str> {
    triaged["configuration_items"]
        .as_array()
        .map(|items| items.iter().map(|i| i["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn triage_names_the_items_a_ticket_mentions_with_their_owner() {
    let app = spawn_app().await;
    let triaged = triage(
        &app,
        json!({
            "title": "Service down on DB-PRD-02.corp.example",
            "description": "Monitoring reports the application service on 10.20.1.12 is not responding to health checks; db-prd-01 looks fine. web-012 is unrelated.",
        }),
    )
    .await;
    assert_eq!(
        item_names(&triaged),
        ["db-prd-02", "db-prd-01"],
        "{triaged:#}"
    );
    let first = &triaged["configuration_items"][0];
    assert_eq!(first["matched"], "DB-PRD-02.corp.example");
    assert_eq!(first["owner_group"], "Database Administration");
    assert_eq!(first["environment"], "production");
    assert_eq!(first["service"], "ERP");

    let group = &triaged["suggestions"]["assignment_group"];
    let owner = &group["ci_owner"];
    assert_eq!(owner["configuration_item"], "db-prd-02");
    assert_eq!(owner["owner_group"], "Database Administration");
    assert_eq!(
        owner["agrees"],
        group["label"] == "Database Administration",
        "{group:#}"
    );
}

#[tokio::test]
async fn a_ticket_without_a_known_item_names_none() {
    let app = spawn_app().await;
    let triaged = triage(
        &app,
        json!({ "title": "Printer jammed", "description": "The printer on floor 2 shows a paper jam." }),
    )
    .await;
    assert!(triaged.get("configuration_items").is_none(), "{triaged:#}");
    assert!(
        triaged["suggestions"]["assignment_group"]
            .get("ci_owner")
            .is_none()
    );
}

#[tokio::test]
async fn a_runbook_takes_its_target_from_the_mentioned_item() {
    let app = spawn_app().await;
    let triaged = triage(
        &app,
        json!({
            "title": "Service down on web-01",
            "description": "The nginx service on web-01 is not responding to health checks and needs a restart. app-01 is fine.",
        }),
    )
    .await;
    let restart = triaged["runbooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "restart-test-service")
        .unwrap_or_else(|| panic!("restart-test-service not proposed: {triaged:#}"));
    assert_eq!(restart["params"]["target"], "web-01");
    assert!(
        restart["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("target web-01")),
        "{restart:#}"
    );
}

#[tokio::test]
async fn storms_group_by_and_duplicates_link_on_configuration_items() {
    let app = spawn_app().await;
    let floors = ["first", "second", "third", "fourth", "fifth"];
    let mut last = Value::Null;
    for (n, floor) in floors.iter().enumerate() {
        last = triage(
            &app,
            json!({
                "id": format!("SHOP-{n}"),
                "title": "Web shop returns 502 errors",
                "description": format!("The web shop on web-01 returns 502 Bad Gateway for every page since 10:02, reported from the {floor} floor."),
                "caller": format!("caller-{n}"),
                "opened_at": format!("2026-11-30T10:{:02}:00Z", 2 + n),
            }),
        )
        .await;
    }
    let storm_id = last["storm"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no storm: {last:#}"));
    let storm: Value = app
        .get_as(VIEWER_TOKEN, &format!("/v1/storms/{storm_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(storm["configuration_items"], json!(["web-01"]), "{storm:#}");

    // Another caller's near-copy about the same item, an hour later, outside
    // the storm's window: a duplicate, linked by the item.
    let copy = triage(
        &app,
        json!({
            "id": "SHOP-COPY",
            "title": "Web shop returns 502 errors",
            "description": "The web shop on web-01 returns 502 Bad Gateway for every page since 10:02, reported from the fifth floor.",
            "caller": "someone-else",
            "opened_at": "2026-11-30T11:30:00Z",
        }),
    )
    .await;
    let duplicate = &copy["duplicate_of"];
    assert_eq!(
        duplicate["reason"], "same configuration item web-01",
        "{copy:#}"
    );
}
