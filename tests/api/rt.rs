//! The `rt` connector against a real Request Tracker 5 (Debian's package,
//! SQLite, its standalone server on a free port; `scripts/rt.sh`): tickets
//! opened in RT are found by polling (authenticated by an RT auth token), the
//! queue, owner, priority and a custom field are set and read back, and an
//! internal comment added; Switchboard's own changes start no job; tickets opened while
//! Switchboard was stopped are triaged when it is back; resolving a ticket in
//! RT stores it as an incident; `connector import` reads RT's resolved
//! tickets. Run by `scripts/test-rt.sh` (`make test-rt`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::connectors::{
    ConnectorKind, ConnectorSettings, FieldPolicy, InboundSettings, WriteMode,
};

use crate::helpers::{TestApp, VIEWER_TOKEN, repo, sample_copy, spawn_app_on};

/// A running Request Tracker and its users' passwords.
struct Rt {
    process: Child,
    base: String,
    info: Value,
    _data: tempfile::TempDir,
}

impl Drop for Rt {
    fn drop(&mut self) {
        // rt-server forks workers into its process group.
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.process.id())])
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Rt {
    /// A fresh RT (database, users, queues) serving on a free port.
    async fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_str().unwrap().to_owned();
        let port = free_port().to_string();
        let script = repo().join("scripts/rt.sh");
        let out = Command::new(&script)
            .args(["prepare", &dir, &port])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info =
            serde_json::from_slice(&std::fs::read(data.path().join("rt.json")).unwrap()).unwrap();
        let process = Command::new(&script)
            .args(["serve", &dir, &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let rt = Self {
            process,
            base: format!("http://127.0.0.1:{port}"),
            info,
            _data: data,
        };
        let started = Instant::now();
        while reqwest::get(format!("{}/REST/2.0/", rt.base))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "RT never listened"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rt
    }

    fn password(&self, user: &str) -> String {
        self.info["users"][user].as_str().unwrap().to_owned()
    }

    /// A REST2 call as `agent`.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}/REST/2.0{path}", self.base))
            .basic_auth("agent", Some(self.password("agent")));
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

    /// Opens a ticket in General as `agent`; returns its id.
    async fn open(&self, subject: &str, content: &str) -> String {
        let body = json!({ "Queue": "General", "Subject": subject, "Content": content, "ContentType": "text/plain", "Requestor": "user@example.com" });
        let ticket = self
            .call(reqwest::Method::POST, "/ticket", Some(body))
            .await;
        ticket["id"].as_str().unwrap().to_owned()
    }

    /// Replies to the requester and resolves the ticket.
    async fn resolve(&self, id: &str, reply: &str) {
        let body = json!({ "Content": reply, "ContentType": "text/plain", "Status": "resolved" });
        self.call(
            reqwest::Method::POST,
            &format!("/ticket/{id}/correspond"),
            Some(body),
        )
        .await;
    }

    async fn queue_name(&self, ticket: &Value) -> String {
        let id = ticket["Queue"]["id"].as_str().unwrap();
        self.call(reqwest::Method::GET, &format!("/queue/{id}"), None)
            .await["Name"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The ticket's transactions with their attachments' text.
    async fn history(&self, id: &str) -> Vec<(String, String, String)> {
        let list = self
            .call(
                reqwest::Method::GET,
                &format!("/ticket/{id}/history?fields=Type,Creator&per_page=100"),
                None,
            )
            .await;
        let attachments = self
            .call(
                reqwest::Method::GET,
                &format!("/ticket/{id}/attachments?fields=Content,TransactionId&per_page=100"),
                None,
            )
            .await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let text = attachments["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["TransactionId"] == t["id"])
                    .filter_map(|a| a["Content"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n");
                (
                    t["Type"].as_str().unwrap().to_owned(),
                    t["Creator"]["id"].as_str().unwrap().to_owned(),
                    text,
                )
            })
            .collect()
    }

    /// Switchboard's notes on a ticket: (transaction type, author, text).
    async fn notes(&self, id: &str) -> Vec<(String, String, String)> {
        self.history(id)
            .await
            .into_iter()
            .filter(|(_, _, text)| text.contains("switchboard-job:"))
            .collect()
    }

    /// Waits (up to 60 s) for Switchboard's note on a ticket; returns the ticket.
    async fn wait_noted(&self, id: &str) -> Value {
        let started = Instant::now();
        while self.notes(id).await.is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "ticket {id} was never noted"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.call(reqwest::Method::GET, &format!("/ticket/{id}"), None)
            .await
    }
}

/// The `rt` connector: `assignment_group` mapped onto RT's queues and applied
/// when routed automatically, `category` into the custom field `Category`,
/// `priority` in the note only, polled every second.
fn connector(name: &str, base: &str) -> ConnectorSettings {
    ConnectorSettings {
        name: name.into(),
        kind: ConnectorKind::Rt,
        base_url: format!("{base}/REST/2.0"),
        credentials_secret: Some("RT_CREDENTIALS".into()),
        // An RT auth token (`Authorization: token ...`), as an RT admin
        // issues one to a service account.
        auth_scheme: switchboard::connectors::AuthScheme::Token,
        inbound: InboundSettings::default(),
        service_user: Some("switchboard".into()),
        max_attempts: 5,
        retry_max_s: 300,
        poll_interval_s: 1,
        reconcile_interval_s: 300,
        timeout_s: 10,
        fields: [
            (
                "assignment_group".to_owned(),
                FieldPolicy {
                    mode: WriteMode::Apply,
                    only_if_empty: Some(false),
                    target: Some("Queue".into()),
                    map: [
                        ("Network Operations".to_owned(), "Network".to_owned()),
                        ("Desktop Support".to_owned(), "Desktop Support".to_owned()),
                    ]
                    .into(),
                },
            ),
            (
                "category".to_owned(),
                FieldPolicy {
                    mode: WriteMode::Apply,
                    only_if_empty: Some(true),
                    target: Some("CF.Category".into()),
                    map: Default::default(),
                },
            ),
            (
                "assignee".to_owned(),
                FieldPolicy {
                    mode: WriteMode::Apply,
                    only_if_empty: None,
                    target: Some("Owner".into()),
                    map: [
                        ("Fatima Ali".to_owned(), "fatima".to_owned()),
                        ("Daniel Roth".to_owned(), "daniel".to_owned()),
                    ]
                    .into(),
                },
            ),
            (
                "priority".to_owned(),
                FieldPolicy {
                    mode: WriteMode::Apply,
                    only_if_empty: None,
                    target: Some("Priority".into()),
                    map: [
                        ("1 - Critical".to_owned(), "90".to_owned()),
                        ("2 - High".to_owned(), "70".to_owned()),
                        ("3 - Moderate".to_owned(), "50".to_owned()),
                        ("4 - Low".to_owned(), "20".to_owned()),
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

/// Switchboard on `data_dir` polling `rt` as connector `name` (a name per
/// test: the poll metric is process-wide).
async fn switchboard_for(
    name: &str,
    rt: &Rt,
    data_dir: tempfile::TempDir,
) -> (TestApp, tempfile::TempDir) {
    let secrets = tempfile::tempdir().unwrap();
    let secrets_file = secrets.path().join("secrets.yaml");
    crate::helpers::write_private(
        &secrets_file,
        format!(
            "RT_CREDENTIALS: \"{}\"\n",
            rt.info["token"].as_str().unwrap()
        ),
    )
    .unwrap();
    let settings = connector(name, &rt.base);
    let app = spawn_app_on(data_dir, move |s| {
        s.runbooks.secrets_file = Some(secrets_file);
        s.connectors = vec![settings];
        // Owner and priority are applied whatever their confidence here.
        for field in ["assignee", "priority"] {
            s.triage.field_thresholds.insert(field.into(), 0.0);
        }
    })
    .await;
    (app, secrets)
}

/// Waits until connector `name` of the server at `base` has polled RT since
/// `after` (Unix seconds).
async fn wait_polled_at(base: &str, name: &str, after: i64) {
    let started = Instant::now();
    let sample = format!("switchboard_connector_last_poll_seconds{{connector=\"{name}\"}} ");
    loop {
        let metrics = reqwest::Client::new()
            .get(format!("{base}/metrics"))
            .bearer_auth(crate::helpers::VIEWER_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let last = metrics
            .lines()
            .find(|l| l.starts_with(&sample))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<i64>().ok());
        if last.is_some_and(|t| t >= after) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the connector never polled RT"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_polled(app: &TestApp, name: &str, after: i64) {
    wait_polled_at(&app.address, name, after).await;
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn jobs(app: &TestApp, name: &str) -> Vec<Value> {
    app.get_as(VIEWER_TOKEN, &format!("/v1/connectors/{name}/jobs"))
        .await
        .json()
        .await
        .unwrap()
}

/// The values of a ticket's custom field `name`.
fn custom_field(ticket: &Value, name: &str) -> Vec<String> {
    ticket["CustomFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == name)
        .flat_map(|f| f["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

const VPN_SUBJECT: &str = "VPN connection drops every few minutes";
const VPN_TEXT: &str =
    "The GlobalProtect VPN disconnects every 5-10 minutes while working from home.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Request Tracker: run scripts/test-rt.sh"]
async fn rt_tickets_are_polled_routed_noted_and_learned_from_when_resolved() {
    let rt = Rt::start().await;
    let old = rt.open("Printer jam", "Opened before Switchboard").await;
    let (app, _secrets) = switchboard_for("rt", &rt, sample_copy()).await;
    wait_polled(&app, "rt", now_s()).await;

    // A clear ticket: moved to the Network queue, with an internal comment.
    let vpn = rt.open(VPN_SUBJECT, VPN_TEXT).await;
    let routed = rt.wait_noted(&vpn).await;
    assert_eq!(rt.queue_name(&routed).await, "Network", "{routed:#}");
    let notes = rt.notes(&vpn).await;
    let (kind, author, text) = &notes[0];
    assert_eq!(kind, "Comment", "internal, not a reply to the requester");
    assert_eq!(author, "switchboard");
    assert!(
        text.contains("assignment_group: Network Operations"),
        "{text}"
    );
    assert_eq!(routed["Priority"], "50", "3 - Moderate, mapped: {routed:#}");
    let owner = routed["Owner"]["id"].as_str().unwrap();
    assert!(["fatima", "daniel"].contains(&owner), "{routed:#}");
    assert!(
        text.contains(&format!(
            "assignee: {}",
            if owner == "fatima" {
                "Fatima Ali"
            } else {
                "Daniel Roth"
            }
        )),
        "{text}"
    );
    assert_eq!(custom_field(&routed, "Category"), ["network"], "{routed:#}");

    // A vague ticket: only the note, the queue stays.
    let vague = rt
        .open(
            "Question",
            "Hello, can someone call me back about my thing?",
        )
        .await;
    let noted = rt.wait_noted(&vague).await;
    assert_eq!(rt.queue_name(&noted).await, "General");
    assert!(custom_field(&noted, "Category").is_empty(), "{noted:#}");

    // Switchboard's own changes were polled too, and started nothing; the
    // ticket opened before Switchboard started is history, not a job.
    wait_polled(&app, "rt", now_s() + 1).await;
    let all = jobs(&app, "rt").await;
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(all.iter().all(|j| j["state"] == "done"), "{all:#?}");
    assert!(all.iter().all(|j| j["ticket_id"] != old.as_str()));
    assert_eq!(rt.notes(&vpn).await.len(), 1);

    // Resolving the ticket in RT teaches Switchboard.
    rt.resolve(&vpn, "Reinstalled the VPN profile").await;
    let started = Instant::now();
    let incident = loop {
        let response = app.get(&format!("/v1/incidents/rt:{vpn}")).await;
        if response.status() == 200 {
            let incident: Value = response.json().await.unwrap();
            if incident["resolution"].is_string() {
                break incident;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the resolved ticket was never learned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(incident["labels"]["assignment_group"], "Network Operations");
    assert_eq!(
        incident["labels"]["category"], "network",
        "read from CF.Category"
    );
    assert_eq!(incident["resolution"], "Reinstalled the VPN profile");
    assert_eq!(incident["description"], VPN_TEXT);
    let next: Value = app
        .post_json(
            "/v1/triage",
            &json!({ "title": VPN_SUBJECT, "description": VPN_TEXT }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["similar_incidents"][0]["id"], format!("rt:{vpn}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Request Tracker: run scripts/test-rt.sh"]
async fn rt_tickets_opened_while_switchboard_was_stopped_are_triaged_when_it_is_back() {
    let rt = Rt::start().await;
    let (app, _secrets) = switchboard_for("rt-restart", &rt, sample_copy()).await;
    wait_polled(&app, "rt-restart", now_s()).await;
    let data_dir = app.stop().await;

    let vpn = rt.open(VPN_SUBJECT, VPN_TEXT).await;
    let (app, _secrets) = switchboard_for("rt-restart", &rt, data_dir).await;
    let routed = rt.wait_noted(&vpn).await;
    assert_eq!(rt.queue_name(&routed).await, "Network", "{routed:#}");
    wait_polled(&app, "rt-restart", now_s() + 1).await;
    assert_eq!(jobs(&app, "rt-restart").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Request Tracker: run scripts/test-rt.sh"]
async fn rt_history_import_stores_resolved_tickets_with_their_final_labels() {
    let rt = Rt::start().await;
    let mut resolved = Vec::new();
    for (subject, queue, reply) in [
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
        let id = rt.open(subject, &format!("{subject} since Monday")).await;
        rt.call(
            reqwest::Method::PUT,
            &format!("/ticket/{id}"),
            Some(json!({ "Queue": queue })),
        )
        .await;
        rt.resolve(&id, reply).await;
        resolved.push((id, queue, reply));
    }
    let open = rt.open("Printer jam", "The printer jams").await;

    let store = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::write_private(
        dir.path().join("secrets.yaml"),
        format!(
            "RT_CREDENTIALS: \"switchboard:{}\"\n",
            rt.password("switchboard")
        ),
    )
    .unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[runbooks]\nsecrets_file = {:?}\n\
             [[connectors]]\nname = \"rt\"\nkind = \"rt\"\nbase_url = \"{}/REST/2.0\"\n\
             credentials_secret = \"RT_CREDENTIALS\"\nauth_scheme = \"basic\"\n\
             service_user = \"switchboard\"\npoll_interval_s = 30\n\
             [connectors.fields.assignment_group]\ntarget = \"Queue\"\n\
             map = {{ \"Network Operations\" = \"Network\", \"Desktop Support\" = \"Desktop Support\" }}\n",
            store.path(),
            dir.path().join("secrets.yaml"),
            rt.base,
        ),
    )
    .unwrap();
    // Nothing was resolved after 2099-01-01.
    let out = crate::helpers::switchboard_command()
        .arg("--config")
        .arg(&config)
        .args(["connector", "import", "rt", "--since", "2099-01-01"])
        .output()
        .unwrap();
    crate::helpers::assert_succeeded(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("imported 0 resolved tickets"), "{said}");
    let out = crate::helpers::switchboard_command()
        .arg("--config")
        .arg(&config)
        .args(["connector", "import", "rt"])
        .output()
        .unwrap();
    crate::helpers::assert_succeeded(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("imported 2 resolved tickets"), "{said}");

    // `connector check` against the live RT: credentials, user, every queue.
    let check = |config: &std::path::Path| {
        crate::helpers::switchboard_command()
            .arg("--config")
            .arg(config)
            .args(["connector", "check", "rt"])
            .output()
            .unwrap()
    };
    let out = check(&config);
    crate::helpers::assert_succeeded(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("service user switchboard is privileged"),
        "{said}"
    );
    assert!(said.contains("Queue \"Desktop Support\" exists"), "{said}");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("= \"Network\"", "= \"Networking\"")).unwrap();
    let out = check(&config);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Queue \"Networking\" does not exist"),
        "{said}"
    );

    let app = spawn_app_on(store, |_| {}).await;
    for (id, queue, reply) in resolved {
        let incident: Value = app
            .get(&format!("/v1/incidents/rt:{id}"))
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
        assert_eq!(incident["resolution"], reply);
    }
    assert_eq!(
        app.get(&format!("/v1/incidents/rt:{open}")).await.status(),
        404,
        "open tickets are not history"
    );
}

// Multi-threaded: RT keeps being polled while the test waits for the server
// process to die.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Request Tracker: run scripts/test-rt.sh"]
async fn rt_a_crash_before_the_poll_cursor_is_saved_queues_nothing_twice() {
    use crate::server_process::{ServerProcess, write_config};
    let rt = Rt::start().await;
    let data = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    let runbooks = dir.path().join("runbooks");
    std::fs::create_dir_all(&runbooks).unwrap();
    std::fs::copy(
        repo().join("runbooks/inventory.yaml"),
        runbooks.join("inventory.yaml"),
    )
    .unwrap();
    crate::helpers::write_private(
        runbooks.join("secrets.yaml"),
        format!(
            "RT_CREDENTIALS: \"switchboard:{}\"\n",
            rt.password("switchboard")
        ),
    )
    .unwrap();
    // The connector tables go after every top-level key.
    let config = write_config(dir.path(), data.path(), Some(&runbooks), "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[[connectors]]\nname = \"rt-crash\"\nkind = \"rt\"\nbase_url = \"{}/REST/2.0\"\n\
         credentials_secret = \"RT_CREDENTIALS\"\nauth_scheme = \"basic\"\n\
         service_user = \"switchboard\"\npoll_interval_s = 1\n\
         [connectors.fields.assignment_group]\nmode = \"apply\"\nonly_if_empty = false\ntarget = \"Queue\"\n\
         map = {{ \"Network Operations\" = \"Network\" }}\n",
        rt.base
    ));
    std::fs::write(&config, text).unwrap();

    // A first run saves where RT's history ends.
    let server = ServerProcess::start_ready(&config, &[]).await;
    wait_polled_at(&server.base, "rt-crash", now_s()).await;
    server.kill9();

    // The next poll finds the new ticket, stores its job and dies before
    // saving its cursor.
    let vpn = rt.open(VPN_SUBJECT, VPN_TEXT).await;
    let mut server = ServerProcess::start_ready(
        &config,
        &[(
            switchboard::infra::crash::CRASH_AT_ENV,
            "connector.poll_before_cursor",
        )],
    )
    .await;
    assert!(
        server.wait_exit(Duration::from_secs(30)),
        "the crash point was never reached: {:#?}",
        server.log()
    );

    // Polling the same transactions again queues nothing new: one job, one note.
    let server = ServerProcess::start_ready(&config, &[]).await;
    let routed = rt.wait_noted(&vpn).await;
    assert_eq!(rt.queue_name(&routed).await, "Network", "{routed:#}");
    wait_polled_at(&server.base, "rt-crash", now_s() + 1).await;
    let jobs: Vec<Value> = reqwest::Client::new()
        .get(format!("{}/v1/connectors/rt-crash/jobs", server.base))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(rt.notes(&vpn).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Request Tracker: run scripts/test-rt.sh"]
async fn rt_personal_data_in_a_polled_ticket_reaches_no_file_of_switchboard_and_no_comment() {
    use crate::privacy::{PII, pii_under, ticket_text};
    let rt = Rt::start().await;
    let (app, _secrets) = switchboard_for("rt-pii", &rt, sample_copy()).await;
    wait_polled(&app, "rt-pii", now_s()).await;

    let id = rt
        .open(&format!("VPN locked for {}", PII[0]), &ticket_text())
        .await;
    rt.wait_noted(&id).await;

    let mut leaks = pii_under(app.data_dir.path());
    for (_, _, text) in rt.notes(&id).await {
        for secret in PII {
            if text.contains(secret) {
                leaks.push(format!("{secret}: in the comment"));
            }
        }
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
}
