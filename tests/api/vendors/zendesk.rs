//! Zendesk: event-subscription webhooks signed over timestamp + body; one
//! safe ticket update with the group, custom field, review tag and a private
//! comment; history from the incremental cursor export.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{
    FakeSystem, VPN, connector_cli, deliver, deliver_and_finish, import, incident, serve,
    spawn_with, spawn_with_ca, wait_learned,
};

const SECRET: &str = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
const NETWORK_GROUP: &str = "360001234567";

fn connector(base: &str) -> Value {
    json!({
        "name": "zd", "kind": "zendesk", "base_url": base,
        "credentials_secret": "ZD_CREDENTIALS", "auth_scheme": "basic",
        "inbound": { "hmac_secret": "ZD_HOOK" },
        "service_user": "391234567890",
        "review_tag": "switchboard_review",
        "fields": {
            "assignment_group": { "mode": "apply", "target": "group_id", "map": { "Network Operations": NETWORK_GROUP } },
            "category": { "mode": "apply", "only_if_empty": false, "target": "custom_field_360012345678", "map": { "network": "network_issue" } },
        },
    })
}

fn ticket(status: &str, group: Value) -> Value {
    json!({ "ticket": {
        "id": 42, "subject": VPN.0, "description": VPN.1, "status": status, "priority": "normal",
        "type": "incident", "group_id": group, "assignee_id": null, "updated_at": "2026-11-30T10:00:00Z",
        "custom_fields": [{ "id": 360012345678u64, "value": null }],
    }})
}

/// An event subscription's delivery: `zen:event-type:ticket.*`, the ticket in `detail`.
fn event(kind: &str, actor: &str, updated_at: &str, comment: Option<&str>) -> Vec<u8> {
    let mut event = json!({
        "account_id": 10001, "id": format!("evt-{updated_at}"), "time": updated_at,
        "type": kind, "subject": "zen:ticket:42", "zendesk_event_version": "2022-11-06",
        "detail": { "id": "42", "actor_id": actor, "subject": VPN.0, "status": "NEW", "updated_at": updated_at },
        "event": {},
    });
    if let Some(body) = comment {
        event["event"] = json!({ "comment": { "id": "9", "body": body, "is_public": false } });
    }
    serde_json::to_vec(&event).unwrap()
}

/// base64(HMAC-SHA256(timestamp + body)) and its RFC 3339 timestamp, as Zendesk signs.
fn signed_at(body: &[u8], timestamp: &str) -> Vec<(&'static str, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(body);
    vec![
        (
            "x-zendesk-webhook-signature",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
        ),
        (
            "x-zendesk-webhook-signature-timestamp",
            timestamp.to_owned(),
        ),
    ]
}

fn signed(body: &[u8]) -> Vec<(&'static str, String)> {
    signed_at(
        body,
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Ticket 42 as new with its opening comment, and its update taken.
fn answer_ticket_42(system: &FakeSystem) {
    system.answer(
        "GET",
        "/api/v2/tickets/42/comments",
        vec![(
            200,
            json!({ "comments": [{ "id": 1, "body": VPN.1, "public": true }] }),
        )],
    );
    system.answer(
        "GET",
        "/api/v2/tickets/42",
        vec![(200, ticket("new", Value::Null))],
    );
    system.answer(
        "PUT",
        "/api/v2/tickets/42",
        vec![(200, ticket("open", json!(360001234567u64)))],
    );
}

/// The whole flow against `system`, trusting `ca_file` when it speaks HTTPS.
async fn zendesk_tickets_get_group_and_private_comment_in_one_safe_update_on(
    system: FakeSystem,
    ca_file: Option<std::path::PathBuf>,
) {
    answer_ticket_42(&system);
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_ca(
        ca_file,
        connector(&system.base),
        &[
            ("ZD_CREDENTIALS", "bot@example.com/token:abc"),
            ("ZD_HOOK", SECRET),
        ],
        &dir,
    )
    .await;

    let body = event(
        "zen:event-type:ticket.created",
        "1234",
        "2026-11-30T10:00:00Z",
        None,
    );
    let stale = signed_at(&body, "2020-01-01T00:00:00Z");
    assert_eq!(
        deliver(&app, "zd", &body, &stale).await.status(),
        401,
        "a stale timestamp"
    );
    let job = deliver_and_finish(&app, "zd", &body, &signed(&body)).await;

    let writes = system.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let update = &writes[0].body["ticket"];
    assert_eq!(
        (writes[0].method.as_str(), writes[0].uri.as_str()),
        ("PUT", "/api/v2/tickets/42")
    );
    assert_eq!(
        update["group_id"],
        json!(360001234567u64),
        "ids are numbers"
    );
    assert_eq!(
        update["custom_fields"],
        json!([{ "id": 360012345678u64, "value": "network_issue" }])
    );
    assert_eq!(update["comment"]["public"], false);
    assert!(
        update["comment"]["body"]
            .as_str()
            .unwrap()
            .contains(&format!("switchboard-job: {}", job["id"].as_str().unwrap()))
    );
    assert_eq!(update["safe_update"], true);
    assert_eq!(update["updated_stamp"], "2026-11-30T10:00:00Z");

    // Our private comment comes back as a comment event: ignored.
    let own = event(
        "zen:event-type:ticket.comment_added",
        "391234567890",
        "2026-11-30T10:00:05Z",
        Some(update["comment"]["body"].as_str().unwrap()),
    );
    let answer: Value = deliver(&app, "zd", &own, &signed(&own))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "ignored");

    // Solved: the last public reply is the resolution.
    let mut solved = ticket("solved", json!(360001234567u64));
    solved["ticket"]["updated_at"] = json!("2026-11-30T12:00:00Z");
    system.answer("GET", "/api/v2/tickets/42", vec![(200, solved)]);
    system.answer(
        "GET",
        "/api/v2/tickets/42/comments",
        vec![(
            200,
            json!({ "comments": [
        { "id": 1, "body": VPN.1, "public": true },
        { "id": 2, "body": update["comment"]["body"], "public": false },
        { "id": 3, "body": "Your VPN profile was reset; please reconnect.", "public": true },
    ] }),
        )],
    );
    let body = event(
        "zen:event-type:ticket.status_changed",
        "1234",
        "2026-11-30T12:00:00Z",
        None,
    );
    deliver_and_finish(&app, "zd", &body, &signed(&body)).await;
    let learned = wait_learned(&app, "zd:42").await;
    assert_eq!(
        learned["resolution"],
        "Your VPN profile was reset; please reconnect."
    );
    assert_eq!(learned["labels"]["assignment_group"], "Network Operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_tickets_get_group_and_private_comment_in_one_safe_update() {
    zendesk_tickets_get_group_and_private_comment_in_one_safe_update_on(
        FakeSystem::start().await,
        None,
    )
    .await;
}

// The same over HTTPS, the system's certificate signed by the desk's own CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_tickets_get_group_and_private_comment_in_one_safe_update_over_https() {
    let ca = crate::tls::TestCa::new();
    zendesk_tickets_get_group_and_private_comment_in_one_safe_update_on(
        FakeSystem::start_https(&ca).await,
        Some(ca.ca_file()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_a_ticket_changed_meanwhile_is_read_again_and_written_once() {
    let system = FakeSystem::start().await;
    system.answer(
        "GET",
        "/api/v2/tickets/42/comments",
        vec![(200, json!({ "comments": [] }))],
    );
    system.answer(
        "GET",
        "/api/v2/tickets/42",
        vec![(200, ticket("new", Value::Null))],
    );
    // Zendesk's answer to a safe update of a ticket changed since it was read.
    system.answer(
        "PUT",
        "/api/v2/tickets/42",
        vec![
            (409, json!({ "error": "UpdateConflict" })),
            (200, json!({})),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(
        connector(&system.base),
        &[
            ("ZD_CREDENTIALS", "bot@example.com/token:abc"),
            ("ZD_HOOK", SECRET),
        ],
        &dir,
    )
    .await;
    let body = event(
        "zen:event-type:ticket.created",
        "1234",
        "2026-11-30T10:00:00Z",
        None,
    );
    let job = deliver_and_finish(&app, "zd", &body, &signed(&body)).await;
    assert_eq!(job["attempts"], 2, "{job:#}");
    assert_eq!(system.writes().len(), 2);
}

// Multi-threaded: the stand-in system answers while the import runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_history_import_follows_the_incremental_cursor() {
    let system = FakeSystem::start().await;
    let solved = |id: u64, subject: &str, group: u64| json!({ "id": id, "subject": subject, "description": format!("{subject} since Monday"), "status": "solved", "group_id": group });
    system.answer("GET", "/api/v2/incremental/tickets/cursor?start_time=", vec![(200, json!({
        "tickets": [solved(1, "Wifi on floor 4 keeps dropping", 360001234567), { "id": 2, "subject": "Still open", "status": "open" }],
        "after_cursor": "MTU3NjYxMzUzOS4wfHw0Njd8", "end_of_stream": false,
    }))]);
    system.answer("GET", "/api/v2/incremental/tickets/cursor?cursor=", vec![(200, json!({
        "tickets": [solved(3, "Laptop screen flickers", 99)], "after_cursor": null, "end_of_stream": true,
    }))]);
    for id in [1, 3] {
        system.answer("GET", &format!("/api/v2/tickets/{id}/comments"), vec![(200, json!({ "comments": [
            { "body": "the request", "public": true }, { "body": format!("fixed {id}"), "public": true },
        ] }))]);
    }
    let toml = format!(
        "[[connectors]]\nname = \"zd\"\nkind = \"zendesk\"\nbase_url = \"{}\"\ncredentials_secret = \"Z\"\nauth_scheme = \"basic\"\n\
         inbound = {{ hmac_secret = \"Z\" }}\n[connectors.fields.assignment_group]\ntarget = \"group_id\"\n\
         map = {{ \"Network Operations\" = \"{NETWORK_GROUP}\" }}\n",
        system.base
    );
    let (said, store) = import(
        &toml,
        &[("Z", "bot@example.com/token:abc")],
        "zd",
        Some("2026-01-31"),
    );
    assert!(
        said.contains("imported 2 resolved tickets") && said.contains("in 2 pages"),
        "{said}"
    );
    let sent = system.sent();
    assert_eq!(
        sent[0].uri,
        "/api/v2/incremental/tickets/cursor?start_time=1769817600"
    );
    assert!(
        sent.iter()
            .any(|s| s.uri == "/api/v2/incremental/tickets/cursor?cursor=MTU3NjYxMzUzOS4wfHw0Njd8")
    );
    let app = serve(store).await;
    let wifi = incident(&app, "zd:1").await.unwrap();
    assert_eq!(wifi["labels"]["assignment_group"], "Network Operations");
    assert_eq!(wifi["resolution"], "fixed 1");
    assert!(
        incident(&app, "zd:2").await.is_none(),
        "open tickets are not history"
    );
}

// Multi-threaded: the stand-in system answers while the check runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_check_finds_the_credentials_good_and_a_mapped_group_missing() {
    let system = FakeSystem::start().await;
    system.answer(
        "GET",
        "/api/v2/users/me",
        vec![(
            200,
            json!({ "user": { "id": 391234567890u64, "name": "Switchboard", "role": "agent" } }),
        )],
    );
    system.answer(
        "GET",
        &format!("/api/v2/groups/{NETWORK_GROUP}"),
        vec![(200, json!({ "group": { "id": 360001234567u64 } }))],
    );
    system.answer(
        "GET",
        "/api/v2/groups/999",
        vec![(404, json!({ "error": "RecordNotFound" }))],
    );
    let toml = |groups: &str| {
        format!(
            "[[connectors]]\nname = \"zd\"\nkind = \"zendesk\"\nbase_url = \"{}\"\ncredentials_secret = \"Z\"\nauth_scheme = \"basic\"\n\
         service_user = \"391234567890\"\ninbound = {{ hmac_secret = \"Z\" }}\n[connectors.fields.assignment_group]\nmode = \"apply\"\ntarget = \"group_id\"\n\
         map = {{ {groups} }}\n",
            system.base
        )
    };
    let (out, _) = connector_cli(
        &toml(&format!("\"Network Operations\" = \"{NETWORK_GROUP}\"")),
        &[("Z", "bot@example.com/token:abc")],
        &["check", "zd"],
    );
    crate::helpers::assert_succeeded(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("signed in as Switchboard"), "{said}");
    assert!(said.contains("connector zd looks right"), "{said}");

    let (out, _) = connector_cli(
        &toml(&format!(
            "\"Network Operations\" = \"{NETWORK_GROUP}\", \"Desktop Support\" = \"999\""
        )),
        &[("Z", "bot@example.com/token:abc")],
        &["check", "zd"],
    );
    assert!(!out.status.success(), "a missing group is a problem");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("PROBLEM") && said.contains("\"999\" does not exist"),
        "{said}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("token:abc"),
        "no credentials in the output"
    );
}

/// Runs `connector check` of a zendesk connector at `base`, which must fail;
/// returns what it printed.
fn failed_check(base: &str) -> String {
    let toml = format!(
        "[[connectors]]\nname = \"zd\"\nkind = \"zendesk\"\nbase_url = \"{base}\"\ncredentials_secret = \"Z\"\n\
         auth_scheme = \"basic\"\nservice_user = \"391234567890\"\ninbound = {{ hmac_secret = \"Z\" }}\n"
    );
    let (out, _) = connector_cli(
        &toml,
        &[("Z", "bot@example.com/token:abc")],
        &["check", "zd"],
    );
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// `connector check` names the real cause of a failed first call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_check_says_what_failed_not_always_the_credentials() {
    // Nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let said = failed_check(&format!("http://127.0.0.1:{closed}"));
    assert!(said.contains("cannot reach"), "{said}");
    assert!(!said.contains("credentials"), "{said}");

    // An HTTPS system whose CA this desk does not trust.
    let ca = crate::tls::TestCa::new();
    let system = FakeSystem::start_https(&ca).await;
    let said = failed_check(&system.base);
    assert!(said.contains("cannot reach"), "{said}");
    assert!(said.contains("TLS to localhost"), "{said}");

    // Refused credentials are said as such.
    let system = FakeSystem::start().await;
    system.answer(
        "GET",
        "/api/v2/users/me",
        vec![(401, json!({ "error": "Couldn't authenticate you" }))],
    );
    let said = failed_check(&system.base);
    assert!(said.contains("credentials refused"), "{said}");
}

/// A page of the incremental export.
fn export(tickets: Vec<Value>, cursor: &str) -> Value {
    json!({ "tickets": tickets, "after_cursor": cursor, "end_of_stream": true })
}

/// The newest comment, as `?sort_order=desc&per_page=1` answers.
fn newest_comment(author: &str, created_at: &str, body: &str) -> Value {
    json!({ "comments": [{ "id": 9, "author_id": author, "created_at": created_at, "body": body, "public": false }] })
}

// An event subscription's delivery that never came: the catch-up reads the
// incremental export from its cursor and queues what changed, once (the
// same change listed twice is one job); Switchboard's own update afterwards
// (its note the newest comment) starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_tickets_changed_without_an_event_are_caught_up_once() {
    let system = FakeSystem::start().await;
    let at = |time: &str| {
        let mut t = ticket("new", Value::Null)["ticket"].clone();
        t["updated_at"] = json!(time);
        t
    };
    system.answer(
        "GET",
        "/api/v2/incremental/tickets/cursor",
        vec![
            // The first look: where the stream is.
            (200, export(vec![], "c1")),
            (200, export(vec![at("2026-11-30T10:05:00Z")], "c2")),
            (200, export(vec![at("2026-11-30T10:05:00Z")], "c2")),
            (200, export(vec![at("2026-11-30T10:05:02Z")], "c3")),
        ],
    );
    system.answer(
        "GET",
        "/api/v2/tickets/42/comments?sort_order=desc",
        vec![
            (200, newest_comment("1234", "2026-11-30T10:05:00Z", VPN.1)),
            (200, newest_comment("1234", "2026-11-30T10:05:00Z", VPN.1)),
            (
                200,
                newest_comment(
                    "391234567890",
                    "2026-11-30T10:05:02Z",
                    "Suggested group: Network Operations\nswitchboard-job: zd-42-x",
                ),
            ),
        ],
    );
    answer_ticket_42(&system);
    let (app, clock, _dir) = super::spawn_catching_up(
        connector(&system.base),
        &[
            ("ZD_CREDENTIALS", "bot@example.com/token:abc"),
            ("ZD_HOOK", SECRET),
        ],
    )
    .await;

    let list = "/api/v2/incremental/tickets/cursor";
    let jobs = super::catch_up(&app, &system, &clock, "zd", ("GET", list), 3).await;
    let writes = system.writes();
    assert_eq!(writes.len(), 1, "written once: {writes:#?}");
    assert_eq!(writes[0].body["ticket"]["group_id"], json!(360001234567u64));
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let asked: Vec<String> = system
        .sent()
        .into_iter()
        .filter(|s| s.uri.starts_with(list))
        .map(|s| s.uri)
        .collect();
    assert!(asked[0].contains("start_time="), "{asked:?}");
    assert!(asked[1].ends_with("cursor=c1"), "{asked:?}");
}
