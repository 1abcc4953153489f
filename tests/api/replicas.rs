//! Two `switchboard serve` processes on one PostgreSQL database (and, where a
//! Qdrant binary is present, one Qdrant server): approvals, audit, limits,
//! leases, cancels, feedback and retrains hold across replicas.
//! `scripts/test-postgres.sh` runs these with `SWITCHBOARD_TEST_DATABASE_URL`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, AGENT_TOKEN, APPROVER_TOKEN, APPROVER2_TOKEN, VIEWER_TOKEN, assert_succeeded,
    repo, switchboard_command,
};
use crate::postgres::fresh_database;
use crate::qdrant_process::QdrantServer;
use crate::server_process::{ServerProcess, write_config};

/// The audit key both replicas (and `switchboard audit verify`) share.
const AUDIT_KEY: (&str, &str) = (
    "SWITCHBOARD_SECRET_AUDIT_HMAC_KEY",
    "replica-test-audit-key-0123456789abcdef",
);
/// Run lease in the tests, seconds.
const LEASE_S: u64 = 2;

const RUNBOOKS: &[(&str, &str)] = &[
    (
        "say.yaml",
        "id: say\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: medium\n\
         approval: { mode: manual, approvers: 2 }\n\
         parameters: [ { name: message, type: string, required: true } ]\n\
         steps: [ { name: say, run: [echo, \"{message}\"] } ]\n",
    ),
    (
        "serial.yaml",
        "id: serial\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: low\n\
         approval: { mode: auto }\n\
         steps: [ { name: wait, run: [sleep, \"1\"], timeout: 10s } ]\n\
         concurrency: { per_target: 1, global: 1 }\n",
    ),
    (
        "hold.yaml",
        "id: hold\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: low\n\
         approval: { mode: auto }\n\
         steps: [ { name: wait, run: [sleep, \"60\"], timeout: 90s } ]\n",
    ),
];

/// Replicas on one database, each with a data directory of its own.
struct Replicas {
    servers: Vec<ServerProcess>,
    configs: Vec<std::path::PathBuf>,
    database_url: String,
    _dirs: Vec<tempfile::TempDir>,
    _runbooks: tempfile::TempDir,
}

impl Replicas {
    /// `count` replicas on a fresh database; `store` is extra configuration
    /// (the vector store's section), the same for all.
    async fn start(count: usize, store: &str) -> Self {
        let database_url = fresh_database().await;
        let runbooks = tempfile::tempdir().unwrap();
        for (name, text) in RUNBOOKS {
            std::fs::write(runbooks.path().join(name), text).unwrap();
        }
        std::fs::copy(
            repo().join("runbooks/inventory.yaml"),
            runbooks.path().join("inventory.yaml"),
        )
        .unwrap();
        let mut replicas = Self {
            servers: Vec::new(),
            configs: Vec::new(),
            database_url,
            _dirs: Vec::new(),
            _runbooks: runbooks,
        };
        for _ in 0..count {
            let dir = tempfile::tempdir().unwrap();
            let extra = format!(
                "database_url = {:?}\n[replicas]\nlease_s = {LEASE_S}\nhead_poll_s = 30\n{store}",
                replicas.database_url
            );
            let config = write_config(
                dir.path(),
                &dir.path().join("data"),
                Some(replicas._runbooks.path()),
                &extra,
            );
            replicas.configs.push(config);
            replicas._dirs.push(dir);
        }
        for config in &replicas.configs {
            replicas
                .servers
                .push(ServerProcess::start_ready(config, &[AUDIT_KEY]).await);
        }
        replicas
    }

    fn base(&self, replica: usize) -> &str {
        &self.servers[replica].base
    }

    /// `switchboard audit verify` over the shared database.
    fn verify_audit(&self) -> String {
        let out = switchboard_command()
            .env(AUDIT_KEY.0, AUDIT_KEY.1)
            .arg("--config")
            .arg(&self.configs[0])
            .args(["audit", "verify"])
            .output()
            .unwrap();
        assert_succeeded(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

async fn post(base: &str, token: &str, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get(base: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn request(base: &str, body: Value) -> String {
    let created: Value = post(base, AGENT_TOKEN, "/v1/executions", &body)
        .await
        .json()
        .await
        .unwrap();
    created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned()
}

/// Waits up to `timeout` until execution `id` (read from `base`) is in `state`.
async fn wait_state(base: &str, id: &str, state: &str, timeout: Duration) -> Value {
    let started = Instant::now();
    loop {
        let body = get(base, &format!("/v1/executions/{id}")).await;
        if body["state"] == state {
            return body;
        }
        assert!(
            started.elapsed() < timeout,
            "not {state} after {timeout:?}: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn approvals_from_two_replicas_at_once_start_the_run_and_chain_one_audit_on_postgres() {
    let replicas = Replicas::start(2, "").await;
    for trial in 0..5 {
        let id = request(
            replicas.base(0),
            json!({ "runbook": "say", "params": { "message": format!("trial {trial}") } }),
        )
        .await;
        let path = format!("/v1/executions/{id}/approve");
        let empty = json!({});
        let (first, second) = tokio::join!(
            post(replicas.base(0), APPROVER_TOKEN, &path, &empty),
            post(replicas.base(1), APPROVER2_TOKEN, &path, &empty)
        );
        assert_eq!(
            (first.status().as_u16(), second.status().as_u16()),
            (200, 200),
            "trial {trial}"
        );
        let done = wait_state(replicas.base(1), &id, "succeeded", Duration::from_secs(20)).await;
        assert_eq!(done["decisions"].as_array().unwrap().len(), 2, "{done:#}");
    }
    let report = replicas.verify_audit();
    assert!(report.contains("audit chain intact"), "{report}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn a_concurrency_limit_of_one_holds_across_two_replicas_on_postgres() {
    let replicas = Replicas::start(2, "").await;
    let (a, b, c, d) = tokio::join!(
        request(replicas.base(0), json!({ "runbook": "serial" })),
        request(replicas.base(1), json!({ "runbook": "serial" })),
        request(replicas.base(0), json!({ "runbook": "serial" })),
        request(replicas.base(1), json!({ "runbook": "serial" })),
    );
    let ids = [a, b, c, d];
    let mut spans = Vec::new();
    for id in &ids {
        let done = wait_state(replicas.base(0), id, "succeeded", Duration::from_secs(30)).await;
        spans.push((
            done["started_at"].as_i64().unwrap(),
            done["finished_at"].as_i64().unwrap(),
        ));
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two runs overlapped across replicas: {spans:?}"
        );
    }
    let report = replicas.verify_audit();
    assert!(report.contains("audit chain intact"), "{report}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn a_run_of_a_killed_replica_is_interrupted_by_the_other_after_its_lease_on_postgres() {
    let mut replicas = Replicas::start(2, "").await;
    let id = request(replicas.base(0), json!({ "runbook": "hold" })).await;
    wait_state(replicas.base(1), &id, "running", Duration::from_secs(10)).await;
    // The owner is alive: three leases go by and the run is still its own.
    tokio::time::sleep(Duration::from_secs(3 * LEASE_S)).await;
    let alive = get(replicas.base(1), &format!("/v1/executions/{id}")).await;
    assert_eq!(alive["state"], "running", "{alive:#}");

    let owner = replicas.servers.remove(0);
    owner.kill9();
    let killed = Instant::now();
    wait_state(
        replicas.base(0),
        &id,
        "interrupted",
        Duration::from_secs(20),
    )
    .await;
    assert!(
        killed.elapsed() >= Duration::from_millis(LEASE_S * 1000 / 2),
        "interrupted before the lease could expire: {:?}",
        killed.elapsed()
    );
    let history = get(replicas.base(0), &format!("/v1/executions/{id}/audit")).await;
    let last = history
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["after"], "interrupted", "{history:#}");
    assert!(
        last["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("lease"),
        "{last:#}"
    );
    let report = replicas.verify_audit();
    assert!(report.contains("audit chain intact"), "{report}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn a_cancel_on_one_replica_stops_a_run_on_the_other_on_postgres() {
    let replicas = Replicas::start(2, "").await;
    let id = request(replicas.base(0), json!({ "runbook": "hold" })).await;
    wait_state(replicas.base(0), &id, "running", Duration::from_secs(10)).await;
    let cancelled = post(
        replicas.base(1),
        AGENT_TOKEN,
        &format!("/v1/executions/{id}/cancel"),
        &json!({}),
    )
    .await;
    assert_eq!(cancelled.status(), 200);
    let body: Value = cancelled.json().await.unwrap();
    assert_eq!(body["state"], "cancelled", "{body:#}");
}

/// The Qdrant server section for `prefix`, or `None` (said loudly) without a binary.
fn qdrant_store(server: &QdrantServer, prefix: &str) -> String {
    format!(
        "[store]\nbackend = \"qdrant\"\n[store.qdrant]\nurl = {:?}\ncollection_prefix = {prefix:?}\n",
        server.settings(prefix).url
    )
}

/// Ingests the sample incidents through `config`'s replica setup (the CLI,
/// writing to the shared Qdrant server and database).
fn ingest_sample(config: &Path) {
    let out = switchboard_command()
        .env(AUDIT_KEY.0, AUDIT_KEY.1)
        .arg("--config")
        .arg(config)
        .args(["ingest", "incidents", "--no-retrain"])
        .arg(repo().join("sample/incidents.csv"))
        .output()
        .unwrap();
    assert_succeeded(&out);
}

async fn head_version(base: &str) -> i64 {
    get(base, "/v1/stats").await["classifier"]["version"]
        .as_i64()
        .unwrap_or(0)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn feedback_and_retrains_on_one_replica_reach_the_other_on_postgres() {
    let Some(qdrant) = QdrantServer::start() else {
        return;
    };
    let replicas = Replicas::start(2, &qdrant_store(&qdrant, "replicas_")).await;
    ingest_sample(&replicas.configs[0]);

    // A retrain on one replica is swapped in on the other when announced.
    let retrained = post(
        replicas.base(0),
        ADMIN_TOKEN,
        "/v1/admin/retrain",
        &json!({}),
    )
    .await;
    assert_eq!(retrained.status(), 200);
    let version = retrained.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();
    let started = Instant::now();
    while head_version(replicas.base(1)).await != version {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "replica 1 never swapped in head {version}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Two retrains at once: never two heads trained side by side.
    let empty = json!({});
    let (a, b) = tokio::join!(
        post(replicas.base(0), ADMIN_TOKEN, "/v1/admin/retrain", &empty),
        post(replicas.base(1), ADMIN_TOKEN, "/v1/admin/retrain", &empty)
    );
    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 409].contains(s)),
        "{statuses:?}"
    );

    // Feedback given on one replica is seen by the other.
    let ticket = json!({ "id": "REP-1", "title": "Outlook keeps asking for my password",
        "description": "Since this morning Outlook prompts for credentials again and again" });
    let triaged = post(replicas.base(0), AGENT_TOKEN, "/v1/triage", &ticket).await;
    assert_eq!(triaged.status(), 200);
    let feedback = post(
        replicas.base(1),
        AGENT_TOKEN,
        "/v1/tickets/REP-1/feedback",
        &json!({ "field": "assignment_group", "label": "Messaging Team", "agent": "ana" }),
    )
    .await;
    assert_eq!(feedback.status(), 200);
    let stats = get(replicas.base(0), "/v1/stats").await;
    assert_eq!(stats["feedback"]["total"], 1, "{stats:#}");
    // The same problem again, from another caller: the correction answers.
    let mut same = ticket.clone();
    same["id"] = json!("REP-2");
    let again: Value = post(replicas.base(0), AGENT_TOKEN, "/v1/triage", &same)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["suggestions"]["assignment_group"]["label"], "Messaging Team",
        "{again:#}"
    );
}

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new
/// ones refused) and restored: the database going away without touching it.
struct CuttableProxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl CuttableProxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !*watch.borrow() {
                    continue; // dropped: refused while cut
                }
                let mut cut = watch.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { port, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn readiness_follows_the_state_database_on_postgres() {
    let url = fresh_database().await;
    let (head, rest) = url.split_once("@").unwrap();
    let (address, database) = rest.split_once('/').unwrap();
    let proxy = CuttableProxy::start(address.to_owned()).await;
    let proxied = format!("{head}@127.0.0.1:{}/{database}", proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &dir.path().join("data"),
        None,
        &format!("database_url = {proxied:?}\n"),
    );
    let server = ServerProcess::start_ready(&config, &[AUDIT_KEY]).await;
    let status = || async {
        reqwest::get(format!("{}/readyz", server.base))
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let wait_for = |want: u16| async move {
        let started = Instant::now();
        loop {
            let got = status().await;
            if got == want {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "readyz stayed {got}, not {want}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(status().await, 200);
    proxy.set_up(false);
    wait_for(503).await;
    proxy.set_up(true);
    wait_for(200).await;
}

/// Whether a process whose command line contains `needle` is running.
fn process_running(needle: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", needle])
        .output()
        .is_ok_and(|out| out.status.success())
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn a_replica_cut_off_from_the_database_stops_its_runs_and_the_other_interrupts_them_on_postgres()
 {
    const MARK: &str = "73.125"; // a sleep no other test runs
    let url = fresh_database().await;
    let (head, rest) = url.split_once('@').unwrap();
    let (address, database) = rest.split_once('/').unwrap();
    let proxy = CuttableProxy::start(address.to_owned()).await;
    let proxied = format!("{head}@127.0.0.1:{}/{database}", proxy.port);
    let runbooks = tempfile::tempdir().unwrap();
    std::fs::write(
        runbooks.path().join("fenced.yaml"),
        format!(
            "id: fenced\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: low\n\
             approval: {{ mode: auto }}\n\
             steps: [ {{ name: wait, run: [sleep, \"{MARK}\"], timeout: 120s }} ]\n"
        ),
    )
    .unwrap();
    std::fs::copy(
        repo().join("runbooks/inventory.yaml"),
        runbooks.path().join("inventory.yaml"),
    )
    .unwrap();
    let mut servers = Vec::new();
    let mut dirs = Vec::new();
    for database_url in [&proxied, &url] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &dir.path().join("data"),
            Some(runbooks.path()),
            &format!("database_url = {database_url:?}\n[replicas]\nlease_s = {LEASE_S}\n"),
        );
        servers.push(ServerProcess::start_ready(&config, &[AUDIT_KEY]).await);
        dirs.push(dir);
    }
    let (owner, other) = (&servers[0].base, &servers[1].base);
    let id = request(owner, json!({ "runbook": "fenced" })).await;
    wait_state(other, &id, "running", Duration::from_secs(10)).await;
    assert!(process_running(&format!("sleep {MARK}")));

    proxy.set_up(false);
    wait_state(other, &id, "interrupted", Duration::from_secs(20)).await;
    // The owner, unable to renew, has stopped its own run without the database.
    let cut = Instant::now();
    while process_running(&format!("sleep {MARK}")) {
        assert!(
            cut.elapsed() < Duration::from_secs(4 * LEASE_S),
            "the cut-off replica kept running a run it no longer holds"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.set_up(true);
    let done = wait_state(owner, &id, "interrupted", Duration::from_secs(20)).await;
    assert_eq!(done["state"], "interrupted");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn a_replica_with_another_audit_key_refuses_to_start_on_postgres() {
    let replicas = Replicas::start(1, "").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &dir.path().join("data"),
        None,
        &format!("database_url = {:?}\n", replicas.database_url),
    );
    let mut stranger = ServerProcess::start(
        &config,
        &[(AUDIT_KEY.0, "a-different-key-a-different-key-0123")],
    );
    assert!(
        stranger.wait_exit(Duration::from_secs(60)),
        "a replica with another audit key kept running"
    );
    let log = stranger.log().join("\n");
    assert!(log.contains("audit key differs"), "{log}");
    // The chain the first replica writes still verifies.
    let report = replicas.verify_audit();
    assert!(report.contains("audit chain intact"), "{report}");
}

// One approver approves on a replica that is then killed; the second
// approves on the other, which runs the change to the end.
#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn an_approval_begun_on_a_killed_replica_is_finished_and_run_on_the_other_on_postgres() {
    let mut replicas = Replicas::start(2, "").await;
    let id = request(
        replicas.base(0),
        json!({ "runbook": "say", "params": { "message": "failover" } }),
    )
    .await;
    let path = format!("/v1/executions/{id}/approve");
    let first = post(replicas.base(0), APPROVER_TOKEN, &path, &json!({})).await;
    assert_eq!(first.status(), 200);

    let killed = replicas.servers.remove(0);
    killed.kill9();
    // The survivor is now replica 0.
    let second = post(replicas.base(0), APPROVER2_TOKEN, &path, &json!({})).await;
    assert_eq!(second.status(), 200);

    let done = wait_state(replicas.base(0), &id, "succeeded", Duration::from_secs(20)).await;
    assert_eq!(done["decisions"].as_array().unwrap().len(), 2, "{done:#}");
    let report = replicas.verify_audit();
    assert!(report.contains("audit chain intact"), "{report}");
}

/// Triages ticket `n` of the sample's mail outage (`sample/storm-burst.csv`)
/// on `base`, a minute apart, as its own caller; returns the answer.
async fn triage_burst_ticket(base: &str, n: usize) -> Value {
    let mut reader = csv::Reader::from_path(repo().join("sample/storm-burst.csv")).unwrap();
    let row = reader.records().nth(n).unwrap().unwrap();
    let opened_at = chrono::DateTime::from_timestamp(1_780_000_000 + 60 * n as i64, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({
        "id": format!("MAIL-{n}"),
        "title": &row[1],
        "description": &row[2],
        "caller": format!("person-{n}"),
        "opened_at": opened_at,
    });
    let answer = post(base, AGENT_TOKEN, "/v1/triage", &body).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres.sh"]
async fn a_storm_seen_by_two_replicas_is_one_and_goes_on_after_one_is_killed_on_postgres() {
    let mut replicas = Replicas::start(2, "").await;
    // An approval and a storm, both begun on the replica about to die.
    let id = request(
        replicas.base(0),
        json!({ "runbook": "say", "params": { "message": "mail outage" } }),
    )
    .await;
    let approve = format!("/v1/executions/{id}/approve");
    assert_eq!(
        post(replicas.base(0), APPROVER_TOKEN, &approve, &json!({}))
            .await
            .status(),
        200
    );
    // Four people report the outage, alternately to each replica: neither
    // saw four tickets, yet the fourth opens the storm with all four.
    for n in 0..3 {
        let answer = triage_burst_ticket(replicas.base(n % 2), n).await;
        assert!(answer["storm"].is_null(), "ticket {n}: {answer:#}");
    }
    let fourth = triage_burst_ticket(replicas.base(1), 3).await;
    assert_eq!(fourth["storm"]["opened"], true, "{fourth:#}");
    assert_eq!(fourth["storm"]["size"], 4, "{fourth:#}");
    let storm_id = fourth["storm"]["id"].as_str().unwrap().to_owned();
    // The replica that did not open it takes the next report into it.
    let fifth = triage_burst_ticket(replicas.base(0), 4).await;
    assert_eq!(fifth["storm"]["id"], storm_id.as_str(), "{fifth:#}");
    assert_eq!(fifth["storm"]["size"], 5, "{fifth:#}");

    // One reporter asks to be forgotten on the replica about to die: the
    // other reloads its window before placing its next ticket.
    let forgot = post(
        replicas.base(0),
        ADMIN_TOKEN,
        "/v1/admin/forget",
        &json!({ "ticket": "MAIL-1" }),
    )
    .await;
    assert_eq!(forgot.status(), 200);

    replicas.servers.remove(0).kill9();
    let sixth = triage_burst_ticket(replicas.base(0), 5).await;
    assert_eq!(sixth["storm"]["id"], storm_id.as_str(), "{sixth:#}");
    assert_eq!(sixth["storm"]["size"], 5, "{sixth:#}");
    let storms = get(replicas.base(0), "/v1/storms").await;
    assert_eq!(storms.as_array().unwrap().len(), 1, "{storms:#}");
    let storm = get(replicas.base(0), &format!("/v1/storms/{storm_id}")).await;
    let members: Vec<&str> = storm["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ticket_id"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["MAIL-0", "MAIL-2", "MAIL-3", "MAIL-4", "MAIL-5"]);

    let second = post(replicas.base(0), APPROVER2_TOKEN, &approve, &json!({})).await;
    assert_eq!(second.status(), 200);
    wait_state(replicas.base(0), &id, "succeeded", Duration::from_secs(20)).await;
}
