//! Jira Service Management: signed `jira:issue_*` webhooks in; the issue
//! read, its fields set and an internal service-desk comment added; history
//! from `search/jql` pages by `nextPageToken`, documents read as text.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{
    FakeSystem, VPN, deliver, deliver_and_finish, import, incident, serve, spawn_with,
    spawn_with_ca, wait_learned,
};

const SECRET: &str = "jira-webhook-secret-0123456789";

fn connector(base: &str) -> Value {
    json!({
        "name": "jsm", "kind": "jira", "base_url": base,
        "credentials_secret": "JIRA_CREDENTIALS", "auth_scheme": "basic",
        "inbound": { "hmac_secret": "JIRA_HOOK" },
        "service_user": "5b10ac8d82e05b22cc7d4ef5",
        "review_tag": "switchboard-review",
        "fields": {
            "assignment_group": { "mode": "apply", "only_if_empty": false, "target": "customfield_10050",
                "map": { "Network Operations": "Network", "Desktop Support": "Desktop" } },
            "priority": { "mode": "note" },
        },
    })
}

fn issue(key: &str, summary: &str, description: &str, category: &str, comments: Value) -> Value {
    json!({ "id": "10042", "key": key, "fields": {
        "summary": summary, "description": description,
        "status": { "name": "Waiting for support", "statusCategory": { "key": category } },
        "priority": { "name": "Medium" }, "customfield_10050": null, "resolution": null,
        "updated": "2026-11-30T10:00:00.000+0000",
        "comment": { "comments": comments },
    }})
}

fn event(kind: &str, key: &str, account: &str, comment: Option<&str>) -> Vec<u8> {
    let mut event = json!({
        "timestamp": 1796054400000u64, "webhookEvent": kind,
        "user": { "accountId": account, "displayName": "Ana" },
        "issue": { "id": "10042", "key": key, "fields": { "summary": VPN.0, "updated": "2026-11-30T10:00:00.000+0000" } },
    });
    if let Some(body) = comment {
        event["comment"] = json!({ "id": "100", "body": body });
    }
    serde_json::to_vec(&event).unwrap()
}

/// `X-Hub-Signature: sha256=<hex HMAC of the body>`, as Jira signs.
fn signed(body: &[u8]) -> Vec<(&'static str, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    vec![
        (
            "x-hub-signature",
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        ),
        ("x-atlassian-webhook-identifier", "wh-1".to_owned()),
    ]
}

/// The whole flow against `system`, trusting `ca_file` when it speaks HTTPS.
async fn jira_issues_get_their_field_and_an_internal_comment_and_teach_when_done_on(
    system: FakeSystem,
    ca_file: Option<std::path::PathBuf>,
) {
    system.answer(
        "GET",
        "/rest/api/2/issue/SD-7",
        vec![(200, issue("SD-7", VPN.0, VPN.1, "new", json!([])))],
    );
    system.answer("PUT", "/rest/api/2/issue/SD-7", vec![(204, Value::Null)]);
    system.answer(
        "POST",
        "/rest/servicedeskapi/request/SD-7/comment",
        vec![(201, json!({ "id": "1" }))],
    );
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_ca(
        ca_file,
        connector(&system.base),
        &[
            ("JIRA_CREDENTIALS", "bot@example.com:api-token"),
            ("JIRA_HOOK", SECRET),
        ],
        &dir,
    )
    .await;

    let body = event("jira:issue_created", "SD-7", "557058:ana", None);
    let mut forged = signed(&body);
    forged[0].1 = format!("sha256={}", "0".repeat(64));
    assert_eq!(deliver(&app, "jsm", &body, &forged).await.status(), 401);
    let job = deliver_and_finish(&app, "jsm", &body, &signed(&body)).await;

    let writes = system.writes();
    assert_eq!(writes.len(), 2, "{writes:#?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].uri.as_str()),
        ("PUT", "/rest/api/2/issue/SD-7")
    );
    assert_eq!(
        writes[0].body["fields"]["customfield_10050"],
        json!({ "value": "Network" })
    );
    assert!(
        writes[0].body["fields"].get("priority").is_none(),
        "priority is note-only"
    );
    assert_eq!(writes[1].uri, "/rest/servicedeskapi/request/SD-7/comment");
    assert_eq!(writes[1].body["public"], false);
    let note = writes[1].body["body"].as_str().unwrap();
    assert!(
        note.contains(&format!("switchboard-job: {}", job["id"].as_str().unwrap())),
        "{note}"
    );
    assert!(
        writes[0]
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );

    // Our own comment comes back as `comment_created`: ignored.
    let own = event("comment_created", "SD-7", "557058:ana", Some(note));
    let answer: Value = deliver(&app, "jsm", &own, &signed(&own))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "ignored");

    // Done in Jira: the agent's last comment is the resolution.
    let comments = json!([{ "id": "1", "body": note }, { "id": "2", "body": "Re-issued the VPN certificate" }]);
    let mut done = issue("SD-7", VPN.0, VPN.1, "done", comments);
    done["fields"]["customfield_10050"] = json!({ "value": "Network", "id": "10020" });
    system.answer("GET", "/rest/api/2/issue/SD-7", vec![(200, done)]);
    let resolved = event("jira:issue_updated", "SD-7", "557058:ana", None);
    let mut resolved_json: Value = serde_json::from_slice(&resolved).unwrap();
    resolved_json["issue"]["fields"]["updated"] = json!("2026-11-30T11:00:00.000+0000");
    let resolved = serde_json::to_vec(&resolved_json).unwrap();
    deliver_and_finish(&app, "jsm", &resolved, &signed(&resolved)).await;
    let learned = wait_learned(&app, "jsm:SD-7").await;
    assert_eq!(learned["resolution"], "Re-issued the VPN certificate");
    assert_eq!(learned["labels"]["assignment_group"], "Network Operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_issues_get_their_field_and_an_internal_comment_and_teach_when_done() {
    jira_issues_get_their_field_and_an_internal_comment_and_teach_when_done_on(
        FakeSystem::start().await,
        None,
    )
    .await;
}

// The same over HTTPS, the system's certificate signed by the desk's own CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_issues_get_their_field_and_an_internal_comment_and_teach_when_done_over_https() {
    let ca = crate::tls::TestCa::new();
    jira_issues_get_their_field_and_an_internal_comment_and_teach_when_done_on(
        FakeSystem::start_https(&ca).await,
        Some(ca.ca_file()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_suggested_fields_add_the_review_label_and_change_nothing() {
    let system = FakeSystem::start().await;
    system.answer(
        "GET",
        "/rest/api/2/issue/SD-8",
        vec![(
            200,
            issue(
                "SD-8",
                "Question",
                "Hello, can someone call me back about my thing?",
                "new",
                json!([]),
            ),
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let mut settings = connector(&system.base);
    // Routed `auto` only above a threshold nothing vague reaches.
    settings["fields"]["assignment_group"]["mode"] = json!("suggest");
    let app = spawn_with(
        settings,
        &[
            ("JIRA_CREDENTIALS", "bot@example.com:api-token"),
            ("JIRA_HOOK", SECRET),
        ],
        &dir,
    )
    .await;
    let body = event("jira:issue_created", "SD-8", "557058:ana", None);
    deliver_and_finish(&app, "jsm", &body, &signed(&body)).await;
    let writes = system.writes();
    assert_eq!(
        writes[0].body["update"]["labels"],
        json!([{ "add": "switchboard-review" }])
    );
    assert_eq!(writes[0].body["fields"], json!({}));
    assert_eq!(writes[1].uri, "/rest/servicedeskapi/request/SD-8/comment");
}

// Multi-threaded: the stand-in system answers while the import runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_history_import_follows_next_page_tokens_and_reads_documents() {
    let system = FakeSystem::start().await;
    let adf = |text: &str| json!({ "type": "doc", "version": 1, "content": [{ "type": "paragraph", "content": [{ "type": "text", "text": text }] }] });
    let done = |key: &str, summary: &str, value: &str, fix: &str| {
        json!({ "key": key, "fields": {
            "summary": summary, "description": adf(&format!("{summary} since Monday")),
            "status": { "statusCategory": { "key": "done" } }, "customfield_10050": { "value": value },
            "comment": { "comments": [{ "body": adf(fix) }] },
        }})
    };
    system.answer("POST", "/rest/api/3/search/jql", vec![
        (200, json!({ "issues": [done("SD-1", "Wifi on floor 4 keeps dropping", "Network", "Replaced the access point")], "nextPageToken": "page-2", "isLast": false })),
        (200, json!({ "issues": [done("SD-2", "Laptop screen flickers", "Desktop", "Replaced the display cable")], "isLast": true })),
    ]);
    let toml = format!(
        "[[connectors]]\nname = \"jsm\"\nkind = \"jira\"\nbase_url = \"{}\"\ncredentials_secret = \"J\"\nauth_scheme = \"basic\"\n\
         inbound = {{ hmac_secret = \"J\" }}\n[connectors.fields.assignment_group]\ntarget = \"customfield_10050\"\n\
         map = {{ \"Network Operations\" = \"Network\", \"Desktop Support\" = \"Desktop\" }}\n",
        system.base
    );
    let (said, store) = import(
        &toml,
        &[("J", "bot@example.com:token")],
        "jsm",
        Some("2026-01-31"),
    );
    assert!(
        said.contains("imported 2 resolved tickets") && said.contains("in 2 pages"),
        "{said}"
    );
    let searches = system.sent();
    assert!(
        searches[0].body["jql"]
            .as_str()
            .unwrap()
            .contains("resolved >= \"2026-01-31 00:00\""),
        "{:?}",
        searches[0].body
    );
    assert!(searches[0].body.get("nextPageToken").is_none());
    assert_eq!(searches[1].body["nextPageToken"], "page-2");
    let app = serve(store).await;
    let wifi = incident(&app, "jsm:SD-1").await.unwrap();
    assert_eq!(
        wifi["description"],
        "Wifi on floor 4 keeps dropping since Monday"
    );
    assert_eq!(wifi["resolution"], "Replaced the access point");
    assert_eq!(
        incident(&app, "jsm:SD-2").await.unwrap()["labels"]["assignment_group"],
        "Desktop Support"
    );
}

/// A search page of `issues`.
fn search_page(issues: Vec<Value>) -> Value {
    json!({ "issues": issues, "isLast": true })
}

/// Issue SD-7 updated at `updated` by `history_author` (a changelog entry
/// then), with `comments`.
fn changed(updated: &str, history_author: &str, comments: Value) -> Value {
    let mut issue = issue("SD-7", VPN.0, VPN.1, "new", comments);
    issue["fields"]["updated"] = json!(updated);
    issue["changelog"] = json!({ "histories": [
        { "id": "1", "created": updated, "author": { "accountId": history_author }, "items": [] }
    ]});
    issue
}

// A webhook that never came: the catch-up searches what was updated since
// its cursor (a relative JQL time, whatever the user's time zone) and
// queues each change once; Switchboard's own comment afterwards starts
// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_issues_changed_without_a_webhook_are_caught_up_once() {
    let system = FakeSystem::start().await;
    let mut history = issue("SD-1", VPN.0, VPN.1, "new", json!([]));
    history["fields"]["updated"] = json!("2026-11-30T10:00:00.000+0000");
    let change = changed("2026-11-30T11:05:00.000+0100", "agent-ana", json!([]));
    let own_comment = json!([{
        "id": "200", "created": "2026-11-30T11:05:02.000+0100",
        "author": { "accountId": "5b10ac8d82e05b22cc7d4ef5" },
        "body": "Suggested group: Network Operations\nswitchboard-job: jsm-SD-7-x",
    }]);
    let own = changed(
        "2026-11-30T11:05:02.000+0100",
        "5b10ac8d82e05b22cc7d4ef5",
        own_comment,
    );
    system.answer(
        "POST",
        "/rest/api/3/search/jql",
        vec![
            // The first look: the newest change.
            (200, search_page(vec![history.clone()])),
            (200, search_page(vec![change.clone()])),
            (200, search_page(vec![change])),
            (200, search_page(vec![own])),
        ],
    );
    system.answer(
        "GET",
        "/rest/api/2/issue/SD-7",
        vec![(200, issue("SD-7", VPN.0, VPN.1, "new", json!([])))],
    );
    system.answer("PUT", "/rest/api/2/issue/SD-7", vec![(204, json!(null))]);
    system.answer(
        "POST",
        "/rest/servicedeskapi/request/SD-7/comment",
        vec![(201, json!({ "id": "200" }))],
    );
    let (app, clock, _dir) = super::spawn_catching_up(
        connector(&system.base),
        &[
            ("JIRA_CREDENTIALS", "bot@example.com:t"),
            ("JIRA_HOOK", SECRET),
        ],
    )
    .await;

    // The first look and three catch-ups; Jira's search is a POST.
    let search = ("POST", "/rest/api/3/search/jql");
    let jobs = super::catch_up(&app, &system, &clock, "jsm", search, 3).await;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(jobs[0]["ticket_id"], "SD-7");
    let writes = system.writes();
    assert_eq!(
        writes.len(),
        2,
        "one field update and one comment: {writes:#?}"
    );
    assert_eq!(
        writes[0].body["fields"]["customfield_10050"],
        json!({ "value": "Network" })
    );
    let asked: Vec<_> = system
        .sent()
        .into_iter()
        .filter(|s| s.uri == search.1)
        .collect();
    assert_eq!(asked[0].body["jql"], "ORDER BY updated DESC");
    let jql = asked[1].body["jql"].as_str().unwrap();
    assert!(
        jql.starts_with("updated >= \"-") && jql.ends_with("m\" ORDER BY updated ASC"),
        "{jql}"
    );
}
