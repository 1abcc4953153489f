//! ServiceNow: a business rule's REST message (bearer token) in; the Table
//! API out: the incident read, fields and work note in one PATCH.

use serde_json::{Value, json};

use super::{
    FakeSystem, VPN, deliver, deliver_and_finish, import, incident, serve, spawn_with,
    spawn_with_ca, wait_learned,
};

const HOOK: &str = "servicenow-hook-token-0123456789";
const NETWORK_GROUP: &str = "287ebd7da9fe198100f92cc8d1d2154e";
const SYS_ID: &str = "9d385017c611228701d22104cc95c371";

fn connector(base: &str) -> Value {
    json!({
        "name": "sn", "kind": "servicenow", "base_url": base,
        "credentials_secret": "SN_CREDENTIALS", "auth_scheme": "basic",
        "inbound": { "bearer_secret": "SN_HOOK" },
        "service_user": "switchboard.integration",
        "fields": {
            "assignment_group": { "mode": "apply", "map": { "Network Operations": NETWORK_GROUP } },
            "category": { "mode": "note" },
        },
    })
}

fn incident_json(state: &str, group: &str, close_notes: &str) -> Value {
    json!({ "result": {
        "sys_id": SYS_ID, "number": "INC0010023", "short_description": VPN.0, "description": VPN.1,
        "state": state, "assignment_group": group, "assigned_to": "", "category": "network",
        "priority": "3", "close_notes": close_notes, "sys_updated_by": "beth.anglin", "sys_mod_count": "4",
    }})
}

/// The business rule's message: `sys_id`, `sys_mod_count`, `sys_updated_by`.
fn event(mod_count: &str, by: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "sys_id": SYS_ID, "number": "INC0010023", "sys_mod_count": mod_count, "sys_updated_by": by })).unwrap()
}

fn bearer() -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {HOOK}"))]
}

/// The whole flow against `system`, trusting `ca_file` when it speaks HTTPS.
async fn servicenow_incidents_get_group_and_work_note_in_one_patch_and_teach_when_resolved_on(
    system: FakeSystem,
    ca_file: Option<std::path::PathBuf>,
) {
    let path = format!("/api/now/table/incident/{SYS_ID}");
    system.answer("GET", &path, vec![(200, incident_json("1", "", ""))]);
    system.answer(
        "GET",
        "/api/now/table/sys_journal_field",
        vec![(200, json!({ "result": [] }))],
    );
    system.answer(
        "PATCH",
        &path,
        vec![(200, incident_json("2", NETWORK_GROUP, ""))],
    );
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_ca(
        ca_file,
        connector(&system.base),
        &[
            ("SN_CREDENTIALS", "switchboard.integration:s3cret"),
            ("SN_HOOK", HOOK),
        ],
        &dir,
    )
    .await;

    assert_eq!(
        deliver(&app, "sn", &event("0", "beth.anglin"), &[])
            .await
            .status(),
        401,
        "no token"
    );
    let job = deliver_and_finish(&app, "sn", &event("0", "beth.anglin"), &bearer()).await;

    let writes = system.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let patch = &writes[0];
    assert_eq!(
        (patch.method.as_str(), patch.uri.as_str()),
        ("PATCH", path.as_str())
    );
    assert_eq!(
        patch.header("authorization"),
        Some("Basic c3dpdGNoYm9hcmQuaW50ZWdyYXRpb246czNjcmV0")
    );
    assert_eq!(patch.body["assignment_group"], NETWORK_GROUP);
    assert!(
        patch.body.get("category").is_none(),
        "category is note-only"
    );
    let note = patch.body["work_notes"].as_str().unwrap();
    assert!(
        note.contains("assignment_group: Network Operations"),
        "{note}"
    );
    assert!(
        note.contains(&format!("switchboard-job: {}", job["id"].as_str().unwrap())),
        "{note}"
    );
    let lookup = system
        .sent()
        .into_iter()
        .find(|s| s.uri.starts_with("/api/now/table/sys_journal_field"))
        .unwrap();
    assert!(
        lookup.uri.contains("element%3Dwork_notes"),
        "{}",
        lookup.uri
    );

    // The integration user's own update comes back: ignored.
    let own: Value = deliver(
        &app,
        "sn",
        &event("1", "switchboard.integration"),
        &bearer(),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(own["status"], "ignored");

    // Resolved in ServiceNow: the close notes become the resolution.
    system.answer(
        "GET",
        &path,
        vec![(
            200,
            incident_json("6", NETWORK_GROUP, "Reset the user's VPN profile"),
        )],
    );
    deliver_and_finish(&app, "sn", &event("5", "beth.anglin"), &bearer()).await;
    let learned = wait_learned(&app, &format!("sn:{SYS_ID}")).await;
    assert_eq!(learned["resolution"], "Reset the user's VPN profile");
    assert_eq!(learned["labels"]["assignment_group"], "Network Operations");
    assert_eq!(system.writes().len(), 1, "learning writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_incidents_get_group_and_work_note_in_one_patch_and_teach_when_resolved() {
    servicenow_incidents_get_group_and_work_note_in_one_patch_and_teach_when_resolved_on(
        FakeSystem::start().await,
        None,
    )
    .await;
}

// The same over HTTPS, the system's certificate signed by the desk's own CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_incidents_get_group_and_work_note_in_one_patch_and_teach_when_resolved_over_https()
 {
    let ca = crate::tls::TestCa::new();
    servicenow_incidents_get_group_and_work_note_in_one_patch_and_teach_when_resolved_on(
        FakeSystem::start_https(&ca).await,
        Some(ca.ca_file()),
    )
    .await;
}

// Multi-threaded: the stand-in system answers while the import runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_history_import_reads_resolved_incidents_since_a_date() {
    let system = FakeSystem::start().await;
    let mut rows = Vec::new();
    for (n, (title, group)) in [
        ("Wifi on floor 4 keeps dropping", NETWORK_GROUP),
        ("Laptop screen flickers", "other-group"),
    ]
    .iter()
    .enumerate()
    {
        rows.push(json!({ "sys_id": format!("sys{n}"), "short_description": title, "description": format!("{title} since Monday"),
            "state": "7", "assignment_group": group, "close_notes": format!("fixed {n}") }));
    }
    system.answer(
        "GET",
        "/api/now/table/incident?",
        vec![(200, json!({ "result": rows }))],
    );
    let toml = format!(
        "[[connectors]]\nname = \"sn\"\nkind = \"servicenow\"\nbase_url = \"{}\"\ncredentials_secret = \"SN\"\nauth_scheme = \"basic\"\n\
         inbound = {{ bearer_secret = \"SN\" }}\n[connectors.fields.assignment_group]\nmap = {{ \"Network Operations\" = \"{NETWORK_GROUP}\" }}\n",
        system.base
    );
    let (said, store) = import(&toml, &[("SN", "u:p")], "sn", Some("2026-01-31"));
    assert!(said.contains("imported 2 resolved tickets"), "{said}");
    let list = &system.sent()[0];
    assert!(list.uri.contains("stateIN6%2C7"), "{}", list.uri);
    assert!(
        list.uri
            .contains("resolved_at%3E%3D2026-01-31%2000%3A00%3A00"),
        "{}",
        list.uri
    );
    let app = serve(store).await;
    let wifi = incident(&app, "sn:sys0").await.unwrap();
    assert_eq!(wifi["labels"]["assignment_group"], "Network Operations");
    assert_eq!(wifi["resolution"], "fixed 0");
    let laptop = incident(&app, "sn:sys1").await.unwrap();
    assert!(
        laptop["labels"].get("assignment_group").is_none(),
        "an unmapped group is no label"
    );
}

// History import is a command-line tool: it trusts `[tls] ca_file` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_history_import_over_https_trusts_the_ca_file() {
    let ca = crate::tls::TestCa::new();
    let system = FakeSystem::start_https(&ca).await;
    let row = json!({ "sys_id": "sys9", "short_description": "Wifi on floor 4 keeps dropping",
        "description": "since Monday", "state": "7", "assignment_group": NETWORK_GROUP, "close_notes": "fixed" });
    system.answer(
        "GET",
        "/api/now/table/incident?",
        vec![(200, json!({ "result": [row] }))],
    );
    let toml = format!(
        "[tls]\nca_file = \"{}\"\n[[connectors]]\nname = \"sn\"\nkind = \"servicenow\"\nbase_url = \"{}\"\n\
         credentials_secret = \"SN\"\nauth_scheme = \"basic\"\ninbound = {{ bearer_secret = \"SN\" }}\n",
        ca.ca_file().display(),
        system.base
    );
    let (said, _store) = import(&toml, &[("SN", "u:p")], "sn", None);
    assert!(said.contains("imported 1 resolved ticket"), "{said}");
    assert!(system.base.starts_with("https://"));
}

// The history goes into a deployment that is running and answering: the
// command line asks the server, which imports in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_history_import_runs_in_the_running_server_while_it_triages() {
    let system = FakeSystem::start().await;
    let rows: Vec<Value> = (0..3)
        .map(|n| json!({ "sys_id": format!("live{n}"), "short_description": format!("Wifi drops on floor {n}"),
            "description": "The wifi keeps dropping", "state": "7", "assignment_group": NETWORK_GROUP,
            "close_notes": format!("replaced access point {n}") }))
        .collect();
    system.answer(
        "GET",
        "/api/now/table/incident?",
        vec![(200, json!({ "result": rows }))],
    );
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(
        connector(&system.base),
        &[("SN_CREDENTIALS", "u:p"), ("SN_HOOK", HOOK)],
        &dir,
    )
    .await;
    // Triage traffic all along.
    let traffic = {
        let (client, address) = (app.client.clone(), app.address.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for n in 0..20 {
                let answer = client
                    .post(format!("{address}/v1/triage"))
                    .bearer_auth(crate::helpers::AGENT_TOKEN)
                    .json(&json!({ "title": format!("VPN drops {n}"), "description": VPN.1 }))
                    .send()
                    .await
                    .unwrap();
                answers.push(answer.status().as_u16());
            }
            answers
        })
    };
    let import = crate::helpers::switchboard_command()
        .env("SWITCHBOARD_TOKEN", crate::helpers::ADMIN_TOKEN)
        .args(["connector", "import", "sn", "--server", &app.address])
        .output()
        .unwrap();
    crate::helpers::assert_succeeded(&import);
    let said = String::from_utf8_lossy(&import.stdout);
    assert!(said.contains("imported 3 resolved tickets"), "{said}");
    assert!(traffic.await.unwrap().iter().all(|s| *s == 200));
    for n in 0..3 {
        let stored = incident(&app, &format!("sn:live{n}")).await.unwrap();
        assert_eq!(stored["labels"]["assignment_group"], "Network Operations");
    }
    // A second import while none runs starts again; the progress is readable.
    let progress: Value = app
        .get_as(
            crate::helpers::ADMIN_TOKEN,
            "/v1/admin/connectors/sn/import",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(progress["state"], "done", "{progress:#}");
    assert_eq!(progress["report"]["imported"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_history_keeps_no_personal_data() {
    use crate::privacy::{PII, pii_under, ticket_text};
    let system = FakeSystem::start().await;
    let rows = vec![
        json!({ "sys_id": "pii0", "short_description": format!("Card declined for {}", PII[0]),
        "description": ticket_text(), "state": "7", "assignment_group": NETWORK_GROUP,
        "close_notes": format!("Called back on {} and mailed {}", PII[1], PII[0]) }),
    ];
    system.answer(
        "GET",
        "/api/now/table/incident?",
        vec![(200, json!({ "result": rows }))],
    );
    let toml = format!(
        "[[connectors]]\nname = \"sn\"\nkind = \"servicenow\"\nbase_url = \"{}\"\ncredentials_secret = \"SN\"\nauth_scheme = \"basic\"\n\
         inbound = {{ bearer_secret = \"SN\" }}\n[connectors.fields.assignment_group]\nmap = {{ \"Network Operations\" = \"{NETWORK_GROUP}\" }}\n",
        system.base
    );
    let (said, store) = import(&toml, &[("SN", "u:p")], "sn", None);
    assert!(said.contains("imported 1 resolved tickets"), "{said}");
    let leaks = pii_under(store.path());
    assert!(leaks.is_empty(), "{leaks:#?}");
    // And the imported incident can be forgotten by the address it mentioned.
    let app = serve(store).await;
    let forgotten = app.forgotten(&json!({ "email": PII[0] })).await;
    assert_eq!(forgotten["tickets"], json!(["sn:pii0"]), "{forgotten:#}");
}

// A business rule's message that never arrived (Switchboard down, a proxy
// refusing it): the catch-up lists what changed and queues it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_incidents_changed_without_an_event_are_caught_up_once() {
    let system = FakeSystem::start().await;
    let path = format!("/api/now/table/incident/{SYS_ID}");
    system.answer(
        "GET",
        "/api/now/table/incident?sysparm_query=ORDERBYDESC",
        vec![(
            200,
            json!({ "result": [{ "sys_updated_on": "2026-12-01 10:00:00" }] }),
        )],
    );
    let mut changed = incident_json("1", "", "")["result"].clone();
    changed["sys_updated_on"] = json!("2026-12-01 10:05:00");
    system.answer(
        "GET",
        "/api/now/table/incident?sysparm_query=sys_updated_on",
        vec![(200, json!({ "result": [changed] }))],
    );
    system.answer("GET", &path, vec![(200, incident_json("1", "", ""))]);
    system.answer(
        "GET",
        "/api/now/table/sys_journal_field",
        vec![(200, json!({ "result": [] }))],
    );
    system.answer(
        "PATCH",
        &path,
        vec![(200, incident_json("2", NETWORK_GROUP, ""))],
    );
    let (app, clock, _dir) = super::spawn_catching_up(
        connector(&system.base),
        &[("SN_CREDENTIALS", "u:p"), ("SN_HOOK", HOOK)],
    )
    .await;

    // Three catch-ups list the change: one job, one write.
    let list = "/api/now/table/incident?sysparm_query=";
    let jobs = super::catch_up(&app, &system, &clock, "sn", ("GET", list), 3).await;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(system.writes().len(), 1, "written once");
    assert_eq!(system.writes()[0].body["assignment_group"], NETWORK_GROUP);
    // The event arriving late is the same change: a duplicate too.
    let late: Value = deliver(&app, "sn", &event("4", "beth.anglin"), &bearer())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(late["status"], "duplicate", "{late:#}");
}
