//! Connectors end to end with the `generic` kind: signed events in, triage,
//! write-back out to a local HTTP server that records what it is sent (and
//! can be told to fail), learning from closed tickets, and the faults around
//! them: bad signatures, replays, malformed events, a system that is down or
//! refuses, and a crash between write-back and recording it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard::configuration::Settings;
use switchboard::connectors::{
    ConnectorKind, ConnectorSettings, FieldPolicy, GenericRequest, GenericSettings,
    InboundSettings, WriteMode,
};

use crate::helpers::{
    ADMIN_TOKEN, Clock, SharedClock, SystemClock, TestApp, TestClock, VIEWER_TOKEN, error_code,
    sample_copy, spawn_app_on_clock,
};

const HOOK_KEY: &str = "hook-key-for-tests-0123456789";
const DESK_TOKEN: &str = "desk-api-token-0123456789";

/// One request the recording server was sent: method, path, headers
/// (lower-case names), JSON body.
pub type Recorded = (String, String, Vec<(String, String)>, Value);

/// What the recording server was sent, and how it answers.
#[derive(Default)]
pub struct Recorder {
    /// Every request.
    pub requests: Vec<Recorded>,
    /// Answer this many requests with 503 and `Retry-After: 1` first.
    pub unavailable: usize,
    /// Answer every request with 400.
    pub refuse: bool,
    /// Answer writes to this ticket (every ticket if empty) only after this
    /// long (a slow system).
    pub slow: Option<(String, Duration)>,
}

impl Recorder {
    /// The requests that carried a new Idempotency-Key (what a system that
    /// de-duplicates by it would apply).
    pub fn applied(&self) -> Vec<Value> {
        let mut keys = std::collections::BTreeSet::new();
        self.requests
            .iter()
            .filter(|(_, _, headers, _)| {
                let key = headers
                    .iter()
                    .find(|(k, _)| k == "idempotency-key")
                    .map(|(_, v)| v.clone());
                key.is_some_and(|k| keys.insert(k))
            })
            .map(|(_, _, _, body)| body.clone())
            .collect()
    }
}

/// A local stand-in for the ticketing system's API, recording what it is sent.
pub async fn recording_server() -> (String, Arc<Mutex<Recorder>>) {
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    serve_recorder(listener, Arc::clone(&recorder));
    (address, recorder)
}

/// Serves `recorder` on `listener` until the task is aborted. Every answer
/// closes its connection, so an aborted server is really gone (no pooled
/// connection keeps reaching it).
pub fn serve_recorder(
    listener: tokio::net::TcpListener,
    recorder: Arc<Mutex<Recorder>>,
) -> tokio::task::JoinHandle<()> {
    let app = recorder_app(recorder);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() })
}

/// The recording system's routes: every request recorded, answered as
/// `recorder` says.
pub fn recorder_app(recorder: Arc<Mutex<Recorder>>) -> axum::Router {
    use axum::extract::State;
    use axum::response::IntoResponse;
    axum::Router::new()
        .fallback(
            |State(recorder): State<Arc<Mutex<Recorder>>>, request: axum::extract::Request| async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let delay = {
                    let recorder = recorder.lock().unwrap();
                    recorder.slow.as_ref().filter(|(id, _)| id.is_empty() || body["ticket"] == id.as_str()).map(|(_, d)| *d)
                };
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                let mut recorder = recorder.lock().unwrap();
                recorder.requests.push((
                    parts.method.to_string(),
                    parts.uri.path().to_owned(),
                    parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                        .collect(),
                    body,
                ));
                let close = [("connection", "close")];
                if recorder.unavailable > 0 {
                    recorder.unavailable -= 1;
                    return (axum::http::StatusCode::SERVICE_UNAVAILABLE, close, [("retry-after", "1")], "down").into_response();
                }
                if recorder.refuse {
                    return (axum::http::StatusCode::BAD_REQUEST, close, "no").into_response();
                }
                (axum::http::StatusCode::OK, close, "{}").into_response()
            },
        )
        .with_state(recorder)
}

/// The `desk` connector's settings against `base_url`.
pub fn desk(base_url: &str) -> ConnectorSettings {
    ConnectorSettings {
        name: "desk".into(),
        kind: ConnectorKind::Generic,
        base_url: base_url.into(),
        credentials_secret: Some("DESK_TOKEN".into()),
        auth_scheme: Default::default(),
        inbound: InboundSettings {
            hmac_secret: Some("DESK_HOOK_KEY".into()),
            delivery_header: Some("X-Delivery".into()),
            ..InboundSettings::default()
        },
        service_user: Some("switchboard".into()),
        max_attempts: 3,
        retry_max_s: 300,
        poll_interval_s: 0,
        reconcile_interval_s: 0,
        timeout_s: 5,
        fields: [
            (
                "assignment_group".to_owned(),
                FieldPolicy {
                    mode: WriteMode::Apply,
                    only_if_empty: Some(true),
                    target: Some("group".into()),
                    map: Default::default(),
                },
            ),
            (
                "category".to_owned(),
                FieldPolicy {
                    mode: WriteMode::Note,
                    only_if_empty: Some(true),
                    target: None,
                    map: Default::default(),
                },
            ),
        ]
        .into(),
        review_tag: None,
        draft_in_note: false,
        ca_file: None,
        generic: Some(GenericSettings {
            id: "/ticket/id".into(),
            title: Some("/ticket/title".into()),
            description: Some("/ticket/description".into()),
            revision: Some("/ticket/updated_at".into()),
            actor: Some("/actor".into()),
            status: Some("/ticket/status".into()),
            resolved_statuses: vec!["resolved".into(), "closed".into()],
            resolution: Some("/ticket/resolution".into()),
            fields: [
                ("group".to_owned(), "/ticket/group".to_owned()),
                ("category".to_owned(), "/ticket/category".to_owned()),
            ]
            .into(),
            update: GenericRequest {
                method: "PATCH".into(),
                path: "/api/tickets/{id}".into(),
            },
        }),
    }
}

/// A server with the `desk` connector (secrets in `secrets_dir`); `tweak` adjusts settings.
pub async fn spawn_with_desk(
    base_url: &str,
    secrets_dir: &tempfile::TempDir,
    tweak: impl FnOnce(&mut Settings) + Send + 'static,
) -> TestApp {
    spawn_with_desk_on_clock(base_url, secrets_dir, SystemClock::shared(), tweak).await
}

/// [`spawn_with_desk`] on a clock the test moves.
pub async fn spawn_with_desk_on_clock(
    base_url: &str,
    secrets_dir: &tempfile::TempDir,
    clock: SharedClock,
    tweak: impl FnOnce(&mut Settings) + Send + 'static,
) -> TestApp {
    let secrets = secrets_dir.path().join("secrets.yaml");
    crate::helpers::write_private(
        &secrets,
        format!("DESK_HOOK_KEY: {HOOK_KEY}\nDESK_TOKEN: {DESK_TOKEN}\n"),
    )
    .unwrap();
    let connector = desk(base_url);
    spawn_app_on_clock(sample_copy(), clock, move |s| {
        s.runbooks.secrets_file = Some(secrets);
        s.connectors = vec![connector];
        tweak(s);
    })
    .await
}

/// The HMAC-SHA256 signature of `body` under the test key.
pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_KEY.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// An event about ticket `id`.
pub fn event(id: &str, title: &str, description: &str, status: &str) -> Value {
    json!({
        "actor": "ana",
        "ticket": {
            "id": id, "title": title, "description": description, "status": status,
            "updated_at": "2026-11-30T10:00:00Z", "group": "", "category": "",
        }
    })
}

/// Sends `body` to the desk hook, signed (or with `signature`), with delivery id `delivery`.
pub async fn deliver(
    app: &TestApp,
    body: &Value,
    signature: Option<&str>,
    delivery: &str,
) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = signature.map_or_else(|| sign(&bytes), str::to_owned);
    app.client
        .post(format!("{}/v1/hooks/desk", app.address))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .header("x-delivery", delivery)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// The desk connector's jobs.
pub async fn jobs(app: &TestApp) -> Vec<Value> {
    app.get_as(VIEWER_TOKEN, "/v1/connectors/desk/jobs")
        .await
        .json()
        .await
        .unwrap()
}

/// Waits until job `id` reaches `state` (up to 30 s) and returns it.
pub async fn wait_job(app: &TestApp, id: &str, state: &str) -> Value {
    let started = Instant::now();
    loop {
        if let Some(job) = jobs(app).await.into_iter().find(|j| j["id"] == id)
            && job["state"] == state
        {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "job {id} never {state}: {:#?}",
            jobs(app).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const VPN: (&str, &str) = (
    "VPN keeps disconnecting",
    "Working from home, the GlobalProtect VPN drops every few minutes and I have to reconnect.",
);

#[tokio::test]
async fn an_event_is_triaged_and_written_back_by_each_fields_policy() {
    let (base, recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    // Every assignment group suggestion is routed `auto` here.
    let app = spawn_with_desk(&base, &secrets, |s| {
        s.triage
            .field_thresholds
            .insert("assignment_group".into(), 0.0);
    })
    .await;
    let answer = deliver(&app, &event("41", VPN.0, VPN.1, "new"), None, "d-41").await;
    assert_eq!(answer.status(), 202);
    let accepted: Value = answer.json().await.unwrap();
    assert_eq!(accepted["status"], "queued");
    let job = wait_job(&app, accepted["job"].as_str().unwrap(), "done").await;
    let requests = recorder.lock().unwrap().requests.clone();
    assert_eq!(requests.len(), 1);
    let (method, path, headers, body) = &requests[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("PATCH", "/api/tickets/41")
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("idempotency-key"), job["id"].as_str());
    assert_eq!(
        header("authorization"),
        Some(format!("Bearer {DESK_TOKEN}").as_str())
    );
    let group = body["fields"]["group"]
        .as_str()
        .expect("the group was applied");
    assert_eq!(job["result"]["written"]["group"], group);
    assert!(
        body["fields"].get("category").is_none(),
        "category is note-only"
    );
    let note = body["note"].as_str().unwrap();
    assert!(
        note.contains(&format!("assignment_group: {group}")),
        "{note}"
    );
    assert!(note.contains("category:"), "{note}");
    assert!(
        note.contains(&format!("switchboard-job: {}", job["id"].as_str().unwrap())),
        "{note}"
    );
    assert!(note.contains("Similar past incidents"), "{note}");
    // The ticket is remembered under the connector's name for feedback.
    let stored = app
        .post_json(
            "/v1/tickets/desk:41/feedback",
            &json!({ "field": "assignment_group", "label": group, "agent": "ana" }),
        )
        .await;
    assert_eq!(stored.status(), 200);
    // It is in the console's review queue with what was applied.
    let queued: Value = app
        .get_as(VIEWER_TOKEN, "/v1/review/desk:41")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queued["source"], "connector:desk");
    assert_eq!(queued["applied"]["group"], group);
    let from_desk: Value = app
        .get_as(VIEWER_TOKEN, "/v1/review?connector=desk")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(from_desk.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn by_default_a_set_field_is_routed_on_the_first_triage_and_then_left_to_people() {
    let (base, recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |s| {
        s.triage
            .field_thresholds
            .insert("assignment_group".into(), 0.0);
        let policy = s.connectors[0].fields.get_mut("assignment_group").unwrap();
        policy.only_if_empty = None;
    })
    .await;
    // The system files every new ticket under a default group.
    let mut opened = event("42", VPN.0, VPN.1, "new");
    opened["ticket"]["group"] = json!("Service Desk");
    let job = deliver(&app, &opened, None, "d-42a")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let first = wait_job(&app, job["job"].as_str().unwrap(), "done").await;
    let routed = first["result"]["written"]["group"]
        .as_str()
        .expect("routed")
        .to_owned();
    assert_ne!(routed, "Service Desk");

    // A person moved it; the next change of the ticket keeps their group.
    let mut changed = event("42", VPN.0, VPN.1, "new");
    changed["ticket"]["group"] = json!("Field Services");
    changed["ticket"]["updated_at"] = json!("2026-11-30T11:00:00Z");
    let job = deliver(&app, &changed, None, "d-42b")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let second = wait_job(&app, job["job"].as_str().unwrap(), "done").await;
    assert_eq!(second["result"]["written"], json!({}), "{second:#}");
    let requests = recorder.lock().unwrap().requests.clone();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1].3["note"]
            .as_str()
            .unwrap()
            .contains("already set")
    );
}

#[tokio::test]
async fn a_suggestion_below_its_threshold_only_goes_into_the_note() {
    let (base, recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |s| {
        s.triage
            .field_thresholds
            .insert("assignment_group".into(), 1.0);
    })
    .await;
    let answer: Value = deliver(
        &app,
        &event(
            "42",
            "Strange noise",
            "Something hums near the window",
            "new",
        ),
        None,
        "d-42",
    )
    .await
    .json()
    .await
    .unwrap();
    wait_job(&app, answer["job"].as_str().unwrap(), "done").await;
    let recorder = recorder.lock().unwrap();
    let body = &recorder.requests[0].3;
    assert_eq!(body["fields"], json!({}), "nothing applied");
    assert_eq!(body["review"], true);
    assert!(
        body["note"]
            .as_str()
            .unwrap()
            .contains("suggested for review")
    );
}

#[tokio::test]
async fn bad_or_missing_signatures_are_refused_audited_and_queue_nothing() {
    let (base, recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |_| {}).await;
    let body = event("43", VPN.0, VPN.1, "new");
    let (code, _) = error_code(deliver(&app, &body, Some("sha256=00"), "d-43").await, 401).await;
    assert_eq!(code, "unauthorized");
    let forged = sign(br#"{"something":"else"}"#);
    let (code, _) = error_code(deliver(&app, &body, Some(&forged), "d-43").await, 401).await;
    assert_eq!(code, "unauthorized");
    let unsigned = app
        .client
        .post(format!("{}/v1/hooks/desk", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert!(jobs(&app).await.is_empty());
    let log = crate::helpers::audit_log(app.data_dir.path(), None).await;
    // Three refusals within a minute: one sampled entry (each counted in
    // switchboard_refusals_total, which other tests' refusals share).
    let refused = log.for_subject("desk").await.unwrap();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].action, "connector.delivery_refused");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("switchboard_refusals_total{surface=\"connector:desk\"}"),
        "{metrics}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(recorder.lock().unwrap().requests.is_empty());
    let (code, _) = error_code(
        app.client
            .post(format!("{}/v1/hooks/nope", app.address))
            .json(&body)
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(code, "not_found");
}

#[tokio::test]
async fn concurrent_replays_of_one_delivery_are_one_job_and_one_write() {
    let (base, recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |_| {}).await;
    let body = event("44", VPN.0, VPN.1, "new");
    let answers = futures_answers(&app, &body, 10).await;
    let queued = answers.iter().filter(|a| a["status"] == "queued").count();
    assert_eq!(queued, 1, "{answers:#?}");
    let job = answers[0]["job"].as_str().unwrap().to_owned();
    assert!(answers.iter().all(|a| a["job"] == job.as_str()));
    wait_job(&app, &job, "done").await;
    // The same change delivered again later (a new delivery id) is still one job.
    let again: Value = deliver(&app, &body, None, "d-44-bis")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "duplicate");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recorder.lock().unwrap().requests.len(), 1);
    assert_eq!(jobs(&app).await.len(), 1);
}

/// Sends `body` `n` times at once (same delivery id) and returns the answers.
async fn futures_answers(app: &TestApp, body: &Value, n: usize) -> Vec<Value> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, url, bytes) = (
            app.client.clone(),
            format!("{}/v1/hooks/desk", app.address),
            serde_json::to_vec(body).unwrap(),
        );
        set.spawn(async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sign(&bytes))
                .header("x-delivery", "d-replayed")
                .body(bytes)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = set.join_next().await {
        answers.push(answer.unwrap());
    }
    answers
}

#[tokio::test]
async fn malformed_events_and_own_writes_queue_nothing() {
    let (base, _recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |_| {}).await;
    let (code, _) = error_code(
        deliver(&app, &json!({ "ticket": {} }), None, "d-45").await,
        422,
    )
    .await;
    assert_eq!(code, "invalid_event");
    let mut own = event("45", VPN.0, VPN.1, "new");
    own["actor"] = json!("switchboard");
    let answer = deliver(&app, &own, None, "d-46").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap()["status"], "ignored");
    assert!(jobs(&app).await.is_empty());
}

#[tokio::test]
async fn a_system_that_is_down_gets_every_write_once_it_is_back() {
    let (base, recorder) = recording_server().await;
    // Down for the first six calls: three events arrive meanwhile.
    recorder.lock().unwrap().unavailable = 6;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |s| s.connectors[0].max_attempts = 8).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let ticket = format!("47{n}");
        let answer: Value = deliver(
            &app,
            &event(&ticket, VPN.0, VPN.1, "new"),
            None,
            &format!("d-{ticket}"),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(answer["status"], "queued");
        ids.push(answer["job"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let job = wait_job(&app, id, "done").await;
        assert!(job["attempts"].as_i64().unwrap() >= 2, "{job:#}");
    }
    let recorder = recorder.lock().unwrap();
    assert_eq!(recorder.requests.len(), 9, "six refused, three accepted");
    let applied = recorder.applied();
    assert_eq!(applied.len(), 3, "each job wrote under one idempotency key");
    let mut tickets: Vec<&str> = applied
        .iter()
        .map(|b| b["ticket"].as_str().unwrap())
        .collect();
    tickets.sort_unstable();
    assert_eq!(tickets, ["470", "471", "472"]);
}

/// Moves `clock` on by `by`, then waits (in real time, briefly) until every
/// job still queued has been tried again: its next attempt is in the clock's future.
async fn advance_and_let_jobs_retry(app: &TestApp, clock: &TestClock, by: Duration) {
    clock.advance(by);
    let now = clock.now_ms();
    let started = Instant::now();
    loop {
        let jobs = jobs(app).await;
        if jobs
            .iter()
            .filter(|j| j["state"] == "queued")
            .all(|j| j["next_attempt_at"].as_i64().unwrap() > now)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "jobs were not retried once the clock moved: {jobs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// Multi-threaded: the stand-in system comes back while jobs are retried. The
// minute passes on a test clock: the back-off is what is tested, not the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_stopped_for_a_minute_loses_nothing_and_writes_each_note_once() {
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let secrets = tempfile::tempdir().unwrap();
    let clock = TestClock::now();
    let app =
        spawn_with_desk_on_clock(&format!("http://{address}"), &secrets, clock.clone(), |s| {
            s.connectors[0].max_attempts = 200;
            s.connectors[0].retry_max_s = 2;
        })
        .await;
    // Stopped: events keep arriving for a minute, each accepted at once.
    let mut ids = Vec::new();
    for n in 0..12 {
        let ticket = format!("60{n:02}");
        let answer = deliver(
            &app,
            &event(&ticket, VPN.0, VPN.1, "new"),
            None,
            &format!("d-{ticket}"),
        )
        .await;
        assert_eq!(answer.status(), 202);
        ids.push(
            answer.json::<Value>().await.unwrap()["job"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        advance_and_let_jobs_retry(&app, &clock, Duration::from_secs(5)).await;
    }
    let waiting = jobs(&app).await;
    assert_eq!(waiting.len(), 12);
    assert!(
        waiting
            .iter()
            .all(|j| j["state"] == "queued" || j["state"] == "running"),
        "nothing is dead or done while the system is away: {waiting:#?}"
    );
    assert!(waiting.iter().any(|j| j["attempts"].as_i64().unwrap() > 5));

    // Back on the same address: the backlog drains, one write per job.
    let server = serve_recorder(
        tokio::net::TcpListener::bind(address).await.unwrap(),
        Arc::clone(&recorder),
    );
    clock.advance(Duration::from_secs(5));
    for id in &ids {
        wait_job(&app, id, "done").await;
    }
    let applied = recorder.lock().unwrap().applied();
    assert_eq!(applied.len(), 12, "every event written");
    assert_eq!(recorder.lock().unwrap().requests.len(), 12, "and each once");
    server.abort();
}

// Multi-threaded: the slow system answers while the other job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_system_times_out_without_holding_up_other_jobs() {
    let (base, recorder) = recording_server().await;
    recorder.lock().unwrap().slow = Some(("610".to_owned(), Duration::from_secs(3)));
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |s| {
        s.connectors[0].timeout_s = 1;
        s.connectors[0].max_attempts = 20;
        s.connectors[0].retry_max_s = 1;
    })
    .await;
    let slow: Value = deliver(&app, &event("610", VPN.0, VPN.1, "new"), None, "d-610")
        .await
        .json()
        .await
        .unwrap();
    let fast: Value = deliver(&app, &event("611", VPN.0, VPN.1, "new"), None, "d-611")
        .await
        .json()
        .await
        .unwrap();
    wait_job(&app, fast["job"].as_str().unwrap(), "done").await;
    let slow_id = slow["job"].as_str().unwrap();
    let started = Instant::now();
    let timed_out = loop {
        let job = jobs(&app)
            .await
            .into_iter()
            .find(|j| j["id"] == slow_id)
            .unwrap();
        if job["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out"))
        {
            break job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never timed out: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(timed_out["state"], "dead", "a timeout is retried");
    recorder.lock().unwrap().slow = None;
    wait_job(&app, slow_id, "done").await;
}

#[tokio::test]
async fn a_refused_write_ends_dead_and_an_admin_requeues_it() {
    let (base, recorder) = recording_server().await;
    recorder.lock().unwrap().refuse = true;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |_| {}).await;
    let answer: Value = deliver(&app, &event("48", VPN.0, VPN.1, "new"), None, "d-48")
        .await
        .json()
        .await
        .unwrap();
    let id = answer["job"].as_str().unwrap().to_owned();
    let dead = wait_job(&app, &id, "dead").await;
    assert_eq!(dead["attempts"], 1, "a 400 is not retried: {dead:#}");
    assert!(dead["last_error"].as_str().unwrap().contains("400"));
    let path = format!("/v1/connectors/desk/jobs/{id}/requeue");
    let (code, _) = error_code(
        app.post_json_as(Some(crate::helpers::AGENT_TOKEN), &path, &json!({}))
            .await,
        403,
    )
    .await;
    assert_eq!(code, "forbidden");
    recorder.lock().unwrap().refuse = false;
    assert_eq!(
        app.post_json_as(Some(ADMIN_TOKEN), &path, &json!({}))
            .await
            .status(),
        204
    );
    wait_job(&app, &id, "done").await;
    let (code, _) = error_code(
        app.post_json_as(Some(ADMIN_TOKEN), &path, &json!({})).await,
        404,
    )
    .await;
    assert_eq!(code, "not_found", "only dead jobs are requeued");
}

#[tokio::test]
async fn a_closed_ticket_is_learned_from_and_routes_the_next_similar_one() {
    let (base, _recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |_| {}).await;
    let title = "Badge reader at gate 7 rejects every card";
    let description =
        "The badge reader at the north gate 7 beeps red for all employee cards since the power cut";
    let opened: Value = deliver(&app, &event("49", title, description, "new"), None, "d-49")
        .await
        .json()
        .await
        .unwrap();
    wait_job(&app, opened["job"].as_str().unwrap(), "done").await;
    let mut closed = event("49", title, description, "resolved");
    closed["ticket"]["updated_at"] = json!("2026-11-30T12:00:00Z");
    closed["ticket"]["group"] = json!("Facilities Security");
    closed["ticket"]["resolution"] = json!("Reset the reader controller after the power cut");
    let answer: Value = deliver(&app, &closed, None, "d-49-closed")
        .await
        .json()
        .await
        .unwrap();
    let job = wait_job(&app, answer["job"].as_str().unwrap(), "done").await;
    assert_eq!(
        job["result"]["learned"]["assignment_group"],
        "Facilities Security"
    );
    let incident: Value = app.get("/v1/incidents/desk:49").await.json().await.unwrap();
    assert_eq!(
        incident["labels"]["assignment_group"],
        "Facilities Security"
    );
    assert_eq!(
        incident["resolution"],
        "Reset the reader controller after the power cut"
    );
    let stats: Value = app.get("/v1/stats").await.json().await.unwrap();
    assert!(
        stats["feedback"]["fields"]["assignment_group"]["total"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // The next ticket about it is routed by what was learned.
    let next: Value = app
        .post_json(
            "/v1/triage",
            &json!({ "title": title, "description": description }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        next["suggestions"]["assignment_group"]["label"],
        "Facilities Security"
    );
}

/// A server configuration with the sample store, the inventory runbooks and
/// a generic `desk` connector applying `assignment_group` to `base`. The
/// returned directories must outlive the server.
pub fn process_config_with_desk(
    base: &str,
) -> (tempfile::TempDir, tempfile::TempDir, std::path::PathBuf) {
    use crate::server_process::write_config;
    let data = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    let runbooks = dir.path().join("runbooks");
    std::fs::create_dir_all(&runbooks).unwrap();
    std::fs::copy(
        crate::helpers::repo().join("runbooks/inventory.yaml"),
        runbooks.join("inventory.yaml"),
    )
    .unwrap();
    crate::helpers::write_private(
        runbooks.join("secrets.yaml"),
        format!("DESK_HOOK_KEY: {HOOK_KEY}\nDESK_TOKEN: {DESK_TOKEN}\n"),
    )
    .unwrap();
    let connector = format!(
        "[[connectors]]\nname = \"desk\"\nkind = \"generic\"\nbase_url = \"{base}\"\ncredentials_secret = \"DESK_TOKEN\"\n\
         inbound = {{ hmac_secret = \"DESK_HOOK_KEY\" }}\n\
         [connectors.fields.assignment_group]\nmode = \"apply\"\n\
         [connectors.generic]\nid = \"/ticket/id\"\ntitle = \"/ticket/title\"\ndescription = \"/ticket/description\"\n\
         revision = \"/ticket/updated_at\"\nupdate = {{ method = \"PATCH\", path = \"/api/tickets/{{id}}\" }}\n"
    );
    // The connector tables go after every top-level key.
    let config = write_config(dir.path(), data.path(), Some(&runbooks), "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&connector);
    std::fs::write(&config, text).unwrap();
    (data, dir, config)
}

/// Delivers a signed event to a server process's hook.
async fn send_signed(base: &str, body: &[u8]) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/v1/hooks/desk"))
        .header("x-hub-signature-256", sign(body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

// Multi-threaded: the recording server keeps answering while the test waits
// for the server process to die.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_write_back_runs_the_job_again_under_the_same_key() {
    use crate::server_process::ServerProcess;
    let (base, recorder) = recording_server().await;
    let (_data, _dir, config) = process_config_with_desk(&base);

    let body = serde_json::to_vec(&event("50", VPN.0, VPN.1, "new")).unwrap();
    let mut server = ServerProcess::start_ready(
        &config,
        &[(
            switchboard::infra::crash::CRASH_AT_ENV,
            "connector.after_write_back@1",
        )],
    )
    .await;
    let answer = send_signed(&server.base, &body).await;
    assert_eq!(answer["status"], "queued");
    let exited = server.wait_exit(Duration::from_secs(30));
    assert!(
        exited,
        "the crash point was never reached: {:#?}",
        server.log()
    );
    assert_eq!(
        recorder.lock().unwrap().requests.len(),
        1,
        "written once before the crash"
    );

    let server = ServerProcess::start_ready(&config, &[]).await;
    let started = Instant::now();
    while recorder.lock().unwrap().requests.len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job never ran again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let applied = recorder.lock().unwrap().applied().len();
    assert_eq!(applied, 1, "the second write carried the first one's key");
    let replay = send_signed(&server.base, &body).await;
    assert_eq!(replay["status"], "duplicate", "the event was accepted once");
}

// Multi-threaded for the same reason as the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_with_jobs_in_flight_completes_every_job_once_after_restart() {
    use crate::server_process::ServerProcess;
    let (base, recorder) = recording_server().await;
    // Every write waits a moment, so jobs are still running at the kill.
    recorder.lock().unwrap().slow = Some((String::new(), Duration::from_millis(300)));
    let (_data, _dir, config) = process_config_with_desk(&base);
    let tickets: Vec<String> = (60..72).map(|n| n.to_string()).collect();

    let server = ServerProcess::start_ready(&config, &[]).await;
    for id in &tickets {
        let body = serde_json::to_vec(&event(id, VPN.0, VPN.1, "new")).unwrap();
        assert_eq!(send_signed(&server.base, &body).await["status"], "queued");
    }
    let written_before = recorder.lock().unwrap().requests.len();
    server.kill9();
    assert!(
        written_before < tickets.len(),
        "the kill came after every job had finished ({written_before} writes)"
    );

    let server = ServerProcess::start_ready(&config, &[]).await;
    let started = Instant::now();
    loop {
        let done = ticket_paths_applied(&recorder);
        if done.len() == tickets.len() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} of {} tickets were written after the restart",
            done.len(),
            tickets.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let applied = recorder.lock().unwrap().applied().len();
    assert_eq!(
        applied,
        tickets.len(),
        "one applied write per ticket: a repeated write carries its first key"
    );
    for id in &tickets {
        let body = serde_json::to_vec(&event(id, VPN.0, VPN.1, "new")).unwrap();
        assert_eq!(
            send_signed(&server.base, &body).await["status"],
            "duplicate"
        );
    }
}

/// The distinct ticket paths the recording server was written to.
fn ticket_paths_applied(recorder: &Arc<Mutex<Recorder>>) -> std::collections::BTreeSet<String> {
    recorder
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(method, _, _, _)| method == "PATCH")
        .map(|(_, path, _, _)| path.clone())
        .collect()
}

#[tokio::test]
async fn tickets_of_one_outage_get_a_note_linking_them_to_the_storm() {
    let (base, recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |_| {}).await;
    let floors = ["1st", "2nd", "3rd", "4th", "5th"];
    for (n, floor) in floors.iter().enumerate() {
        let id = format!("9{n}");
        let description = format!(
            "Outlook cannot connect to the Exchange mail server since 09:05, mails stay in the outbox. Whole {floor} floor affected."
        );
        let answer = deliver(
            &app,
            &event(
                &id,
                "Outlook cannot connect to the mail server",
                &description,
                "new",
            ),
            None,
            &format!("d-9{n}"),
        )
        .await;
        assert_eq!(answer.status(), 202);
    }
    let started = Instant::now();
    while recorder.lock().unwrap().requests.len() < floors.len() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not every ticket was written back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let notes: Vec<String> = recorder
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|(_, _, _, body)| body["note"].as_str().unwrap_or_default().to_owned())
        .collect();
    let linked: Vec<&String> = notes
        .iter()
        .filter(|n| n.contains("Part of a storm"))
        .collect();
    assert!(
        linked.len() >= 2,
        "the notes from the 4th ticket on name the storm: {notes:#?}"
    );
    assert!(
        linked.iter().all(|n| n.contains("parent ticket desk:9")),
        "{linked:#?}"
    );
    let storms: Value = app
        .get_as(VIEWER_TOKEN, "/v1/storms")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(storms.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_connector_with_draft_in_note_writes_the_cited_draft_into_its_note() {
    let (base, recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |s| s.connectors[0].draft_in_note = true).await;
    let answer = deliver(&app, &event("51", VPN.0, VPN.1, "new"), None, "d-51").await;
    let accepted: Value = answer.json().await.unwrap();
    wait_job(&app, accepted["job"].as_str().unwrap(), "done").await;

    let requests = recorder.lock().unwrap().requests.clone();
    let note = requests[0].3["note"].as_str().unwrap().to_owned();
    let draft: Value = app.stored_draft("desk:51").await;
    assert_eq!(draft["status"], "drafted", "{draft:#}");
    assert!(note.contains("Suggested resolution"), "{note}");
    assert!(note.contains(draft["text"].as_str().unwrap()), "{note}");
}

// The note's draft is written from the retrieval the job's triage made: it
// must be the draft the same ticket gets on request, which searches again.
#[tokio::test]
async fn a_notes_draft_from_the_triage_retrieval_equals_a_draft_on_request() {
    let (base, _recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |s| s.connectors[0].draft_in_note = true).await;
    let answer = deliver(&app, &event("52", VPN.0, VPN.1, "new"), None, "d-52").await;
    let accepted: Value = answer.json().await.unwrap();
    wait_job(&app, accepted["job"].as_str().unwrap(), "done").await;
    let in_note: Value = app.stored_draft("desk:52").await;
    assert_eq!(in_note["status"], "drafted", "{in_note:#}");
    let on_request: Value = app.draft("desk:52").await;
    assert_eq!(on_request["text"], in_note["text"]);
    assert_eq!(on_request["evidence"], in_note["evidence"]);
}

// The outbox keeps a ticket's text scrubbed, and only for its retention: the
// thirty days pass on a test clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_stores_no_personal_data_and_is_deleted_after_its_retention() {
    let (base, _recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let clock = TestClock::now();
    let app = spawn_with_desk_on_clock(&base, &secrets, clock.clone(), |s| {
        s.privacy.job_retention_days = 30;
    })
    .await;
    let description = "The VPN drops every few minutes. Mail me at jane.roe.4711@example.org, \
                       refund to DE89 3704 0044 0532 0130 00.";
    let answer = deliver(
        &app,
        &event("720", VPN.0, description, "new"),
        None,
        "d-720",
    )
    .await;
    let id = answer.json::<Value>().await.unwrap()["job"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_job(&app, &id, "done").await;
    let url = switchboard::infra::db::default_url(app.data_dir.path());
    let pool = switchboard::infra::db::connect(&url).await.unwrap();
    let (payload,): (String,) = sqlx::query_as("SELECT payload FROM connector_jobs WHERE id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(payload.contains("VPN drops"), "{payload}");
    for planted in ["jane.roe.4711@example.org", "DE89 3704 0044 0532 0130 00"] {
        assert!(!payload.contains(planted), "{planted} stored: {payload}");
    }

    clock.advance(Duration::from_secs(29 * 86_400));
    let within = app.run_retention().await;
    assert_eq!(within["jobs"], 0, "kept within its retention: {within:#}");
    assert_eq!(jobs(&app).await.len(), 1);
    // Past it, the background task (woken by the clock) deletes it.
    clock.advance(Duration::from_secs(2 * 86_400));
    let started = Instant::now();
    while !jobs(&app).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never deleted after its retention"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// A flood of anonymous triage (an open endpoint) fills the model queue
// while a system delivers webhooks: the jobs that meet a full queue wait
// without losing attempts, and every ticket is written back; none dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_anonymous_triage_starves_no_webhook() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (base, recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |s| {
        s.triage.anonymous = switchboard::triage::AnonymousTriage::Full;
        s.model.queue_capacity = 1;
        s.model.max_batch = 1;
        s.model.max_wait_ms = 0;
        s.connectors[0].max_attempts = 2;
    })
    .await;
    let flooding = Arc::new(AtomicBool::new(true));
    let overloaded = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let (client, url) = (app.client.clone(), format!("{}/v1/triage", app.address));
        let (flooding, overloaded) = (Arc::clone(&flooding), Arc::clone(&overloaded));
        flood.spawn(async move {
            while flooding.load(Ordering::Relaxed) {
                let answer = client
                    .post(&url)
                    .json(
                        &json!({ "title": "VPN down", "description": "cannot connect from home" }),
                    )
                    .send()
                    .await
                    .unwrap();
                if answer.status() == 503 {
                    overloaded.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    for n in 0..6 {
        let body = event(&format!("F{n}"), VPN.0, VPN.1, "new");
        let signature = sign(&serde_json::to_vec(&body).unwrap());
        let answer = deliver(&app, &body, Some(&signature), &format!("d-f{n}")).await;
        assert_eq!(answer.status(), 202);
    }
    let started = Instant::now();
    let all = loop {
        let all = jobs(&app).await;
        if all.len() == 6
            && all
                .iter()
                .all(|j| j["state"] == "done" || j["state"] == "dead")
        {
            break all;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{all:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    flooding.store(false, Ordering::Relaxed);
    flood.join_all().await;
    assert!(
        overloaded.load(Ordering::Relaxed) > 0,
        "the flood filled the queue"
    );
    assert!(all.iter().all(|j| j["state"] == "done"), "{all:#?}");
    let written: std::collections::BTreeSet<String> = recorder
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|r| r.1.clone())
        .collect();
    assert_eq!(written.len(), 6, "{written:?}");
}
