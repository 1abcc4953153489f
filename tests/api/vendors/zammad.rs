//! Zammad: a trigger's webhook (default payload, `X-Hub-Signature` HMAC-SHA1,
//! `X-Zammad-Delivery`) in; one ticket update with the group and an internal
//! note article out, `Authorization: Token token=...`; history from the
//! ticket list, closed tickets only.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use super::{
    FakeSystem, VPN, deliver, deliver_and_finish, import, incident, serve, spawn_with_ca,
    wait_learned,
};

const SECRET: &str = "zammad-signature-token-0123456789";

fn connector(base: &str) -> Value {
    json!({
        "name": "zm", "kind": "zammad", "base_url": base,
        "credentials_secret": "ZM_TOKEN", "auth_scheme": "token",
        "inbound": { "hmac_secret": "ZM_HOOK" },
        "service_user": "switchboard@example.com",
        "fields": {
            "assignment_group": { "mode": "apply", "only_if_empty": false, "target": "group", "map": { "Network Operations": "Network" } },
        },
    })
}

fn ticket(state: &str, group: &str, updated_at: &str) -> Value {
    json!({ "id": 7, "number": "31007", "title": VPN.0, "group": group, "priority": "2 normal",
        "state": state, "owner": "-", "customer": "nicole.braun@zammad.org", "updated_at": updated_at })
}

fn articles(extra: &[(&str, bool)]) -> Value {
    let mut list = vec![
        json!({ "id": 1, "body": format!("<div>{}</div>", VPN.1), "content_type": "text/html", "internal": false }),
    ];
    for (n, (body, internal)) in extra.iter().enumerate() {
        list.push(json!({ "id": n + 2, "body": body, "content_type": "text/plain", "internal": internal }));
    }
    Value::Array(list)
}

/// The default payload: the ticket (with `updated_by` as the user) and the article.
fn event(updated_by: &str, updated_at: &str, article: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ticket": { "id": 7, "number": "31007", "title": VPN.0, "group": { "name": "Users" }, "state": "new",
            "updated_at": updated_at, "updated_by": { "login": updated_by, "firstname": "Nicole" } },
        "article": { "id": 1, "body": article, "content_type": "text/plain", "internal": false },
    }))
    .unwrap()
}

fn signed(body: &[u8], delivery: &str) -> Vec<(&'static str, String)> {
    let mut mac = Hmac::<Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    vec![
        (
            "x-hub-signature",
            format!("sha1={}", hex::encode(mac.finalize().into_bytes())),
        ),
        ("x-zammad-delivery", delivery.to_owned()),
        ("x-zammad-trigger", "switchboard".to_owned()),
    ]
}

/// The whole flow against `system`, trusting `ca_file` when it speaks HTTPS.
async fn zammad_tickets_get_group_and_internal_note_and_teach_when_closed_on(
    system: FakeSystem,
    ca_file: Option<std::path::PathBuf>,
) {
    system.answer(
        "GET",
        "/api/v1/tickets/7",
        vec![(200, ticket("new", "Users", "2026-11-30T10:00:00.000Z"))],
    );
    system.answer(
        "GET",
        "/api/v1/ticket_articles/by_ticket/7",
        vec![(200, articles(&[]))],
    );
    system.answer(
        "PUT",
        "/api/v1/tickets/7",
        vec![(200, ticket("open", "Network", "2026-11-30T10:00:02.000Z"))],
    );
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_ca(
        ca_file,
        connector(&system.base),
        &[("ZM_TOKEN", "f1a2b3c4d5"), ("ZM_HOOK", SECRET)],
        &dir,
    )
    .await;

    let body = event("nicole.braun@zammad.org", "2026-11-30T10:00:00.000Z", VPN.1);
    let mut sha256 = signed(&body, "d-1");
    sha256[0].1 = sha256[0].1.replace("sha1=", "sha256=");
    assert_eq!(
        deliver(&app, "zm", &body, &sha256).await.status(),
        401,
        "SHA-1 is what Zammad signs with"
    );
    let job = deliver_and_finish(&app, "zm", &body, &signed(&body, "d-1")).await;
    let again: Value = deliver(&app, "zm", &body, &signed(&body, "d-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["status"], "duplicate",
        "Zammad's retry of the same delivery"
    );

    let writes = system.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let put = &writes[0];
    assert_eq!(
        (put.method.as_str(), put.uri.as_str()),
        ("PUT", "/api/v1/tickets/7")
    );
    assert_eq!(put.header("authorization"), Some("Token token=f1a2b3c4d5"));
    assert_eq!(put.body["group"], "Network");
    assert_eq!(put.body["article"]["internal"], true);
    assert_eq!(put.body["article"]["type"], "note");
    let note = put.body["article"]["body"].as_str().unwrap().to_owned();
    assert!(
        note.contains(&format!("switchboard-job: {}", job["id"].as_str().unwrap())),
        "{note}"
    );

    // The trigger fires for our own update too: ignored.
    let own = event("switchboard@example.com", "2026-11-30T10:00:02.000Z", &note);
    let answer: Value = deliver(&app, "zm", &own, &signed(&own, "d-2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "ignored");

    // Closed: the agent's reply is the resolution.
    system.answer(
        "GET",
        "/api/v1/tickets/7",
        vec![(200, ticket("closed", "Network", "2026-11-30T12:00:00.000Z"))],
    );
    system.answer(
        "GET",
        "/api/v1/ticket_articles/by_ticket/7",
        vec![(
            200,
            articles(&[(&note, true), ("Re-created the VPN profile.", false)]),
        )],
    );
    let closed = event(
        "agent@example.com",
        "2026-11-30T12:00:00.000Z",
        "Re-created the VPN profile.",
    );
    deliver_and_finish(&app, "zm", &closed, &signed(&closed, "d-3")).await;
    let learned = wait_learned(&app, "zm:7").await;
    assert_eq!(learned["resolution"], "Re-created the VPN profile.");
    assert_eq!(
        learned["description"], VPN.1,
        "the HTML article read as text"
    );
    assert_eq!(learned["labels"]["assignment_group"], "Network Operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zammad_tickets_get_group_and_internal_note_and_teach_when_closed() {
    zammad_tickets_get_group_and_internal_note_and_teach_when_closed_on(
        FakeSystem::start().await,
        None,
    )
    .await;
}

// The same over HTTPS, the system's certificate signed by the desk's own CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zammad_tickets_get_group_and_internal_note_and_teach_when_closed_over_https() {
    let ca = crate::tls::TestCa::new();
    zammad_tickets_get_group_and_internal_note_and_teach_when_closed_on(
        FakeSystem::start_https(&ca).await,
        Some(ca.ca_file()),
    )
    .await;
}

// Multi-threaded: the stand-in system answers while the import runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zammad_history_import_reads_closed_tickets_page_by_page() {
    let system = FakeSystem::start().await;
    let mut page = vec![
        json!({ "id": 1, "title": "Wifi on floor 4 keeps dropping", "group": "Network", "state": "closed", "close_at": "2026-03-01T10:00:00Z" }),
    ];
    page.push(json!({ "id": 2, "title": "Printer jam", "group": "Users", "state": "open" }));
    page.push(json!({ "id": 3, "title": "Old VPN ticket", "group": "Network", "state": "closed", "close_at": "2025-03-01T10:00:00Z" }));
    system.answer("GET", "/api/v1/tickets?", vec![(200, Value::Array(page))]);
    system.answer(
        "GET",
        "/api/v1/ticket_articles/by_ticket/1",
        vec![(
            200,
            json!([
                { "body": "Wifi drops every hour", "content_type": "text/plain" },
                { "body": "Replaced the access point", "content_type": "text/plain" },
            ]),
        )],
    );
    let toml = format!(
        "[[connectors]]\nname = \"zm\"\nkind = \"zammad\"\nbase_url = \"{}\"\ncredentials_secret = \"Z\"\nauth_scheme = \"token\"\n\
         inbound = {{ hmac_secret = \"Z\" }}\n[connectors.fields.assignment_group]\ntarget = \"group\"\n\
         map = {{ \"Network Operations\" = \"Network\" }}\n",
        system.base
    );
    let (said, store) = import(&toml, &[("Z", "token")], "zm", Some("2026-01-31"));
    assert!(said.contains("imported 1 resolved tickets"), "{said}");
    assert_eq!(
        system.sent()[0].uri,
        "/api/v1/tickets?expand=true&page=1&per_page=100"
    );
    let app = serve(store).await;
    let wifi = incident(&app, "zm:1").await.unwrap();
    assert_eq!(wifi["description"], "Wifi drops every hour");
    assert_eq!(wifi["resolution"], "Replaced the access point");
    assert_eq!(wifi["labels"]["assignment_group"], "Network Operations");
    assert!(
        incident(&app, "zm:3").await.is_none(),
        "closed before --since"
    );
}

// A trigger's webhook that never arrived: the catch-up lists the ticket
// list newest first and queues what changed after its cursor, once; its
// own update afterwards is recognised by its user and starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zammad_tickets_changed_without_a_webhook_are_caught_up_once() {
    let system = FakeSystem::start().await;
    let mut changed = ticket("new", "Users", "2026-11-30T10:05:00.000Z");
    changed["updated_by"] = json!("nicole.braun@zammad.org");
    let mut before = ticket("new", "Users", "2026-11-30T10:00:00.000Z");
    before["id"] = json!(6);
    let mut own = ticket("open", "Network", "2026-11-30T10:05:02.000Z");
    own["updated_by"] = json!("switchboard@example.com");
    system.answer(
        "GET",
        "/api/v1/tickets?expand=true&sort_by=updated_at",
        vec![
            // The first look: where things are.
            (200, json!([before.clone()])),
            // Then a change after it, and later Switchboard's own update.
            (200, json!([changed.clone(), before.clone()])),
            (200, json!([changed.clone(), before.clone()])),
            (200, json!([own, changed, before])),
        ],
    );
    system.answer(
        "GET",
        "/api/v1/tickets/7",
        vec![(200, ticket("new", "Users", "2026-11-30T10:05:00.000Z"))],
    );
    system.answer(
        "GET",
        "/api/v1/ticket_articles/by_ticket/",
        vec![(200, articles(&[]))],
    );
    system.answer(
        "PUT",
        "/api/v1/tickets/7",
        vec![(200, ticket("open", "Network", "2026-11-30T10:05:02.000Z"))],
    );
    let (app, clock, _dir) = super::spawn_catching_up(
        connector(&system.base),
        &[("ZM_TOKEN", "t"), ("ZM_HOOK", SECRET)],
    )
    .await;

    // Three catch-ups after the first look: the change, then Switchboard's
    // own update.
    let list = "/api/v1/tickets?expand=true&sort_by=updated_at";
    super::catch_up(&app, &system, &clock, "zm", ("GET", list), 3).await;
    let writes = system.writes();
    assert_eq!(writes.len(), 1, "written once: {writes:#?}");
    assert_eq!(writes[0].body["group"], "Network");
    // Ticket 6, seen at the first look, was history: no job.
    let jobs = super::jobs(&app, "zm").await;
    assert!(jobs.iter().all(|j| j["ticket_id"] == "7"), "{jobs:#?}");
}
