//! The `helpdesk` connector against a real django-helpdesk (PyPI, SQLite, its
//! development server on a free port; `scripts/helpdesk.sh`): tickets created
//! through the helpdesk's API reach Switchboard by its webhook, the queue is
//! written back (configured as `docs/connectors.md` shows), priority and
//! assignee too, each read back, and an internal note added, and a person's
//! later move of the queue stands; a vague ticket
//! gets only the note;
//! Switchboard's own note does not trigger another triage; closing a ticket in
//! the helpdesk stores it as an incident that routes the next similar ticket.
//! Run by `scripts/test-helpdesk.sh` (`make test-helpdesk`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::connectors::{
    ConnectorKind, ConnectorSettings, FieldPolicy, InboundSettings, WriteMode,
};

use crate::helpers::{TestApp, VIEWER_TOKEN, repo, sample_copy, spawn_app_on};

const HOOK_TOKEN: &str = "helpdesk-hook-token-0123456789";

/// A running django-helpdesk and what `bootstrap.py` made in it.
struct Helpdesk {
    process: Child,
    base: String,
    info: Value,
    _data: tempfile::TempDir,
}

impl Drop for Helpdesk {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn script(args: &[&str]) -> Command {
    let mut command = Command::new(repo().join("scripts/helpdesk.sh"));
    command.args(args);
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Helpdesk {
    /// Migrates a fresh helpdesk and makes its users, tokens and queues.
    fn prepare() -> (tempfile::TempDir, Value) {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_str().unwrap().to_owned();
        let out = script(&["prepare", &dir]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info =
            serde_json::from_slice(&std::fs::read(data.path().join("helpdesk.json")).unwrap())
                .unwrap();
        (data, info)
    }

    /// Serves the prepared helpdesk on `port`, its webhooks to `hook`.
    async fn serve(data: tempfile::TempDir, info: Value, port: u16, hook: &str) -> Self {
        let dir = data.path().to_str().unwrap().to_owned();
        let process = script(&["serve", &dir, &port.to_string(), hook])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let helpdesk = Self {
            process,
            base: format!("http://127.0.0.1:{port}"),
            info,
            _data: data,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("{}/api/tickets/", helpdesk.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the helpdesk never listened"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        helpdesk
    }

    fn token(&self, user: &str) -> String {
        self.info["users"][user]["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn queue(&self, title: &str) -> i64 {
        self.info["queues"][title].as_i64().unwrap()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Token {}", self.token(user)));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Creates a ticket as the agent in the Service Desk queue, priority 5
    /// (very low), unassigned; returns its id.
    async fn open(&self, title: &str, description: &str) -> i64 {
        let ticket = self
            .call(
                reqwest::Method::POST,
                "/api/tickets/",
                "agent",
                Some(json!({
                    "queue": self.queue("Service Desk"), "title": title, "description": description,
                    "submitter_email": "user@example.com", "priority": 5,
                })),
            )
            .await;
        ticket["id"].as_i64().unwrap()
    }

    async fn ticket(&self, id: i64) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("/api/tickets/{id}/"),
            "agent",
            None,
        )
        .await
    }
}

/// The helpdesk connector's settings as `docs/connectors.md` shows them:
/// `assignment_group` mapped onto the helpdesk's queues, priority and
/// assignee onto its values, each applied when routed automatically;
/// catching up on missed events every `reconcile_interval_s`.
fn connector_reconciling(
    base: &str,
    helpdesk: &Value,
    reconcile_interval_s: u64,
) -> ConnectorSettings {
    let queue = |title: &str| helpdesk["queues"][title].as_i64().unwrap().to_string();
    let user = |name: &str| helpdesk["users"][name]["id"].as_i64().unwrap().to_string();
    ConnectorSettings {
        name: "desk".into(),
        kind: ConnectorKind::Helpdesk,
        base_url: base.into(),
        credentials_secret: Some("HELPDESK_TOKEN".into()),
        auth_scheme: switchboard::connectors::AuthScheme::Token,
        inbound: InboundSettings {
            query_token_secret: Some("HELPDESK_HOOK".into()),
            ..InboundSettings::default()
        },
        service_user: None,
        max_attempts: 5,
        retry_max_s: 300,
        poll_interval_s: 0,
        reconcile_interval_s,
        timeout_s: 10,
        fields: [
            (
                "assignment_group".to_owned(),
                // As docs/connectors.md configures it: `only_if_empty` left
                // at its default (a new ticket's queue is routed, a
                // person's later move stands).
                FieldPolicy {
                    mode: WriteMode::Apply,
                    only_if_empty: None,
                    target: Some("queue".into()),
                    map: [
                        ("Network Operations".to_owned(), queue("Network")),
                        ("Desktop Support".to_owned(), queue("Desktop Support")),
                    ]
                    .into(),
                },
            ),
            (
                "priority".to_owned(),
                FieldPolicy {
                    mode: WriteMode::Apply,
                    only_if_empty: None,
                    target: Some("priority".into()),
                    map: [
                        ("1 - Critical".to_owned(), "1".to_owned()),
                        ("2 - High".to_owned(), "2".to_owned()),
                        ("3 - Moderate".to_owned(), "3".to_owned()),
                        ("4 - Low".to_owned(), "4".to_owned()),
                    ]
                    .into(),
                },
            ),
            (
                "assignee".to_owned(),
                FieldPolicy {
                    mode: WriteMode::Apply,
                    only_if_empty: None,
                    target: Some("assigned_to".into()),
                    map: [
                        ("Fatima Ali".to_owned(), user("fatima")),
                        ("Daniel Roth".to_owned(), user("daniel")),
                    ]
                    .into(),
                },
            ),
        ]
        .into(),
        review_tag: None,
        draft_in_note: false,
        ca_file: None,
        generic: None,
    }
}

/// Waits (up to 60 s) until `check` holds for the ticket and returns it.
async fn wait_ticket(
    helpdesk: &Helpdesk,
    id: i64,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let ticket = helpdesk.ticket(id).await;
        if check(&ticket) {
            return ticket;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: {ticket:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn notes(ticket: &Value) -> Vec<Value> {
    ticket["followup_set"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["comment"]
                .as_str()
                .unwrap_or_default()
                .contains("switchboard-job:")
        })
        .cloned()
        .collect()
}

async fn jobs(app: &TestApp) -> Vec<Value> {
    app.get_as(VIEWER_TOKEN, "/v1/connectors/desk/jobs")
        .await
        .json()
        .await
        .unwrap()
}

/// A prepared helpdesk and Switchboard (connector `desk`, catching up every
/// `reconcile_interval_s`) wired to each other by webhook; `tweak` adjusts
/// Switchboard's settings. The secrets' folder must outlive both.
struct Wired {
    helpdesk: Helpdesk,
    app: TestApp,
    /// What a restarted Switchboard needs to be configured the same way.
    secrets_file: std::path::PathBuf,
    settings: ConnectorSettings,
    _secrets: tempfile::TempDir,
}

async fn wired(
    reconcile_interval_s: u64,
    tweak: impl FnOnce(&mut switchboard::configuration::Settings) + Send + 'static,
) -> Wired {
    let (data, info) = Helpdesk::prepare();
    let port = free_port();
    let secrets = tempfile::tempdir().unwrap();
    let secrets_file = secrets.path().join("secrets.yaml");
    crate::helpers::write_private(
        &secrets_file,
        format!(
            "HELPDESK_TOKEN: {}\nHELPDESK_HOOK: {HOOK_TOKEN}\n",
            info["users"]["switchboard"]["token"].as_str().unwrap()
        ),
    )
    .unwrap();
    let settings = connector_reconciling(
        &format!("http://127.0.0.1:{port}"),
        &info,
        reconcile_interval_s,
    );
    let (file, connector) = (secrets_file.clone(), settings.clone());
    let app = spawn_app_on(sample_copy(), move |s| {
        s.runbooks.secrets_file = Some(file);
        s.connectors = vec![connector];
        tweak(s);
    })
    .await;
    let hook = format!("{}/v1/hooks/desk?token={HOOK_TOKEN}", app.address);
    let helpdesk = Helpdesk::serve(data, info, port, &hook).await;
    Wired {
        helpdesk,
        app,
        secrets_file,
        settings,
        _secrets: secrets,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs django-helpdesk: run scripts/test-helpdesk.sh"]
async fn helpdesk_tickets_are_routed_noted_and_learned_from_when_closed() {
    let Wired { helpdesk, app, .. } = wired(300, |s| {
        // Priority and assignee are applied whatever their confidence here.
        for field in ["assignee", "priority"] {
            s.triage.field_thresholds.insert(field.into(), 0.0);
        }
    })
    .await;
    let switchboard_user = helpdesk.info["users"]["switchboard"]["id"]
        .as_i64()
        .unwrap();

    // A clear ticket: routed to the Network queue, with an internal note.
    let vpn = helpdesk
        .open(
            "VPN connection drops every few minutes",
            "The GlobalProtect VPN disconnects every 5-10 minutes while working from home.",
        )
        .await;
    let routed = wait_ticket(&helpdesk, vpn, "routed and noted", |t| !notes(t).is_empty()).await;
    assert_eq!(routed["queue"], helpdesk.queue("Network"), "{routed:#}");
    let note = &notes(&routed)[0];
    assert_eq!(note["public"], false, "an internal note");
    assert_eq!(note["user"], switchboard_user);
    let comment = note["comment"].as_str().unwrap();
    assert!(
        comment.contains("assignment_group: Network Operations"),
        "{comment}"
    );
    assert!(comment.contains("priority: 3 - Moderate"), "{comment}");
    assert_eq!(routed["priority"], 3, "3 - Moderate, mapped: {routed:#}");
    let assignees = [
        ("Fatima Ali", helpdesk.info["users"]["fatima"]["id"].clone()),
        (
            "Daniel Roth",
            helpdesk.info["users"]["daniel"]["id"].clone(),
        ),
    ];
    let (assignee, _) = assignees
        .iter()
        .find(|(_, id)| routed["assigned_to"] == *id)
        .unwrap_or_else(|| panic!("assigned to a mapped person: {routed:#}"));
    assert!(
        comment.contains(&format!("assignee: {assignee}")),
        "{comment}"
    );

    // A vague ticket: only the note, the queue stays.
    let vague = helpdesk
        .open(
            "Question",
            "Hello, can someone call me back about my thing?",
        )
        .await;
    let noted = wait_ticket(&helpdesk, vague, "noted", |t| !notes(t).is_empty()).await;
    let comment = notes(&noted)[0]["comment"].as_str().unwrap().to_owned();
    assert_eq!(noted["queue"], helpdesk.queue("Service Desk"), "{comment}");
    assert!(
        comment.contains("suggested for review") || comment.contains("no value for this label"),
        "{comment}"
    );

    // Switchboard's own notes came back as follow-up webhooks and were ignored.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let all = jobs(&app).await;
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(all.iter().all(|j| j["state"] == "done"), "{all:#?}");

    // Closing the ticket in the helpdesk teaches Switchboard.
    helpdesk
        .call(
            reqwest::Method::POST,
            "/api/followups/",
            "agent",
            Some(json!({ "ticket": vpn, "comment": "Reinstalled the VPN profile", "public": true, "new_status": 4 })),
        )
        .await;
    let started = Instant::now();
    let incident = loop {
        let response = app.get(&format!("/v1/incidents/desk:{vpn}")).await;
        if response.status() == 200 {
            let incident: Value = response.json().await.unwrap();
            if incident["resolution"].is_string() {
                break incident;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the closed ticket was never learned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(incident["labels"]["assignment_group"], "Network Operations");
    assert_eq!(incident["resolution"], "Reinstalled the VPN profile");
    let next: Value = app
        .post_json(
            "/v1/triage",
            &json!({ "title": "VPN connection drops every few minutes", "description": "The GlobalProtect VPN disconnects every 5-10 minutes while working from home." }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["similar_incidents"][0]["id"], format!("desk:{vpn}"));
    assert_eq!(
        next["suggestions"]["assignment_group"]["label"],
        "Network Operations"
    );

    // A person moves a routed ticket, then comments on it: the comment is
    // triaged again (a second note) but the person's queue stands.
    let moved = helpdesk
        .open(
            "VPN disconnects all the time",
            "GlobalProtect VPN keeps disconnecting from home since this morning.",
        )
        .await;
    let routed = wait_ticket(&helpdesk, moved, "routed", |t| !notes(t).is_empty()).await;
    assert_eq!(routed["queue"], helpdesk.queue("Network"), "{routed:#}");
    helpdesk
        .call(
            reqwest::Method::PATCH,
            &format!("/api/tickets/{moved}/"),
            "agent",
            Some(json!({ "queue": helpdesk.queue("Desktop Support") })),
        )
        .await;
    helpdesk
        .call(
            reqwest::Method::POST,
            "/api/followups/",
            "agent",
            Some(json!({ "ticket": moved, "comment": "Still dropping after the reboot", "public": true })),
        )
        .await;
    let kept = wait_ticket(&helpdesk, moved, "noted again", |t| notes(t).len() == 2).await;
    assert_eq!(kept["queue"], helpdesk.queue("Desktop Support"), "{kept:#}");
    let comment = notes(&kept)[1]["comment"].as_str().unwrap().to_owned();
    assert!(comment.contains("already set"), "{comment}");
}

/// A local endpoint answering every webhook with 202 (the helpdesk fails a
/// ticket's creation when its webhook cannot connect).
async fn webhook_sink() -> String {
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::ACCEPTED });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs django-helpdesk: run scripts/test-helpdesk.sh"]
async fn helpdesk_history_import_stores_resolved_tickets_with_their_final_labels() {
    let (data, info) = Helpdesk::prepare();
    let port = free_port();
    let helpdesk = Helpdesk::serve(data, info, port, &webhook_sink().await).await;
    // Two resolved tickets (one moved to Network first), one still open.
    let mut resolved = Vec::new();
    for (title, queue, resolution) in [
        (
            "Wifi on floor 4 keeps dropping",
            "Network",
            "Replaced the access point on floor 4",
        ),
        (
            "Laptop screen flickers",
            "Desktop Support",
            "Replaced the display cable",
        ),
    ] {
        let id = helpdesk.open(title, &format!("{title} since Monday")).await;
        helpdesk
            .call(
                reqwest::Method::PATCH,
                &format!("/api/tickets/{id}/"),
                "agent",
                Some(json!({ "queue": helpdesk.queue(queue) })),
            )
            .await;
        helpdesk
            .call(
                reqwest::Method::POST,
                "/api/followups/",
                "agent",
                Some(
                    json!({ "ticket": id, "comment": resolution, "public": true, "new_status": 3 }),
                ),
            )
            .await;
        resolved.push((id, queue, resolution));
    }
    let open = helpdesk.open("Printer jam", "The printer jams").await;

    let store = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::write_private(
        dir.path().join("secrets.yaml"),
        format!(
            "HELPDESK_TOKEN: {}\nHELPDESK_HOOK: {HOOK_TOKEN}\n",
            helpdesk.token("switchboard")
        ),
    )
    .unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[runbooks]\nsecrets_file = {:?}\n\
             [[connectors]]\nname = \"desk\"\nkind = \"helpdesk\"\nbase_url = \"{}\"\n\
             credentials_secret = \"HELPDESK_TOKEN\"\nauth_scheme = \"token\"\n\
             inbound = {{ query_token_secret = \"HELPDESK_HOOK\" }}\n\
             [connectors.fields.assignment_group]\ntarget = \"queue\"\n\
             map = {{ \"Network Operations\" = \"{}\", \"Desktop Support\" = \"{}\" }}\n",
            store.path(),
            dir.path().join("secrets.yaml"),
            helpdesk.base,
            helpdesk.queue("Network"),
            helpdesk.queue("Desktop Support"),
        ),
    )
    .unwrap();
    // Nothing was resolved after 2099-01-01.
    let out = crate::helpers::switchboard_command()
        .arg("--config")
        .arg(&config)
        .args(["connector", "import", "desk", "--since", "2099-01-01"])
        .output()
        .unwrap();
    crate::helpers::assert_succeeded(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("imported 0 resolved tickets"), "{said}");
    let out = crate::helpers::switchboard_command()
        .arg("--config")
        .arg(&config)
        .args(["connector", "import", "desk"])
        .output()
        .unwrap();
    crate::helpers::assert_succeeded(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("imported 2 resolved tickets"), "{said}");
    assert!(said.contains("classifier head retrained"), "{said}");

    let app = spawn_app_on(store, |_| {}).await;
    for (id, queue, resolution) in resolved {
        let incident: Value = app
            .get(&format!("/v1/incidents/desk:{id}"))
            .await
            .json()
            .await
            .unwrap();
        let label = if queue == "Network" {
            "Network Operations"
        } else {
            "Desktop Support"
        };
        assert_eq!(
            incident["labels"]["assignment_group"], label,
            "{incident:#}"
        );
        assert_eq!(incident["resolution"], resolution);
    }
    assert_eq!(
        app.get(&format!("/v1/incidents/desk:{open}"))
            .await
            .status(),
        404,
        "open tickets are not history"
    );
}

impl Helpdesk {
    /// Creates a ticket as [`Helpdesk::open`] does, whatever the helpdesk
    /// answers (it answers 500 when its webhook cannot be delivered, though
    /// the ticket is stored); returns its id, found by its title.
    async fn open_while_unreachable(&self, title: &str, description: &str) -> i64 {
        let _ = reqwest::Client::new()
            .post(format!("{}/api/tickets/", self.base))
            .header("Authorization", format!("Token {}", self.token("agent")))
            .json(&json!({
                "queue": self.queue("Service Desk"), "title": title, "description": description,
                "submitter_email": "user@example.com", "priority": 3,
            }))
            .send()
            .await
            .unwrap();
        let listed = self
            .call(
                reqwest::Method::GET,
                "/api/tickets/?page_size=100",
                "agent",
                None,
            )
            .await;
        listed["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["title"] == title)
            .and_then(|t| t["id"].as_i64())
            .unwrap_or_else(|| panic!("{title:?} was not stored: {listed:#}"))
    }
}

/// Catch-ups of connector `desk` finished so far, from `/metrics`.
async fn catch_ups(app: &TestApp) -> f64 {
    app.metric("switchboard_connector_events_total{connector=\"desk\",outcome=\"polled\"}")
        .await
}

/// Waits until `more` catch-ups have finished after this call: any change
/// they were to find is then queued (and its job written, or still pending).
async fn wait_catch_ups(app: &TestApp, more: u32) {
    let target = catch_ups(app).await + f64::from(more);
    let started = std::time::Instant::now();
    while catch_ups(app).await < target {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no catch-up ran"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Whatever they queued is written back before the test reads the desk.
    let started = std::time::Instant::now();
    loop {
        let all = jobs(app).await;
        let pending = all
            .iter()
            .any(|j| !matches!(j["state"].as_str(), Some("done" | "dead")));
        if !pending {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "jobs still pending: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs django-helpdesk: run scripts/test-helpdesk.sh"]
async fn tickets_opened_while_switchboard_is_down_are_routed_once_when_it_is_back() {
    // Catching up every second.
    let Wired {
        helpdesk,
        app,
        secrets_file,
        settings,
        _secrets,
    } = wired(1, |_| {}).await;
    let vpn = (
        "VPN connection drops every few minutes",
        "The GlobalProtect VPN disconnects every 5-10 minutes while working from home.",
    );

    // While up: the webhook brings the ticket, and the catch-ups that follow
    // find it already queued.
    let up = helpdesk.open(vpn.0, vpn.1).await;
    wait_ticket(&helpdesk, up, "routed", |t| !notes(t).is_empty()).await;
    wait_catch_ups(&app, 2).await;
    assert_eq!(notes(&helpdesk.ticket(up).await).len(), 1, "written once");

    // Down: two tickets are opened and a person comments on the first one.
    let data = app.stop().await;
    let missed = [
        helpdesk
            .open_while_unreachable("VPN keeps dropping at home", vpn.1)
            .await,
        helpdesk
            .open_while_unreachable("GlobalProtect disconnects", vpn.1)
            .await,
    ];
    // (The helpdesk answers 500 here too: its webhook fails after the
    // follow-up is stored.)
    let _ = reqwest::Client::new()
        .post(format!("{}/api/followups/", helpdesk.base))
        .header(
            "Authorization",
            format!("Token {}", helpdesk.token("agent")),
        )
        .json(&json!({ "ticket": up, "comment": "It dropped again", "public": true }))
        .send()
        .await
        .unwrap();

    // Back: the catch-up at start queues what no event brought.
    let app = spawn_app_on(data, move |s| {
        s.runbooks.secrets_file = Some(secrets_file);
        s.connectors = vec![settings];
    })
    .await;
    for id in missed {
        let routed = wait_ticket(&helpdesk, id, "caught up", |t| !notes(t).is_empty()).await;
        assert_eq!(routed["queue"], helpdesk.queue("Network"), "{routed:#}");
    }
    wait_ticket(&helpdesk, up, "the comment caught up", |t| {
        notes(t).len() == 2
    })
    .await;
    wait_catch_ups(&app, 2).await;
    for id in missed {
        assert_eq!(
            notes(&helpdesk.ticket(id).await).len(),
            1,
            "ticket {id} written once"
        );
    }
    assert_eq!(notes(&helpdesk.ticket(up).await).len(), 2);
    let all = jobs(&app).await;
    assert!(all.iter().all(|j| j["state"] == "done"), "{all:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs django-helpdesk: run scripts/test-helpdesk.sh"]
async fn personal_data_in_a_helpdesk_ticket_reaches_no_file_of_switchboard_and_no_note() {
    use crate::privacy::{PII, pii_under, ticket_text};
    let Wired { helpdesk, app, .. } = wired(300, |_| {}).await;

    let id = helpdesk
        .open(&format!("VPN locked for {}", PII[0]), &ticket_text())
        .await;
    let noted = wait_ticket(&helpdesk, id, "noted", |t| !notes(t).is_empty()).await;
    let note = notes(&noted)[0]["comment"].as_str().unwrap().to_owned();

    let mut leaks = pii_under(app.data_dir.path());
    for secret in PII {
        if note.contains(secret) {
            leaks.push(format!("{secret}: in the note"));
        }
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
}
