//! Contract tests of the ServiceNow, Jira, Zendesk and Zammad connectors:
//! events shaped and signed as each system's documentation shows, and a
//! local HTTP server standing in for the system's API, answering its
//! documented shapes and recording what Switchboard sends (method, path,
//! headers, body).

mod jira;
mod servicenow;
mod zammad;
mod zendesk;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard::connectors::ConnectorSettings;

use crate::helpers::{TestApp, VIEWER_TOKEN, sample_copy, spawn_app_on};

/// A ticket text the sample store routes to Network Operations.
pub const VPN: (&str, &str) = (
    "VPN keeps disconnecting",
    "Working from home, the GlobalProtect VPN drops every few minutes and I have to reconnect.",
);

/// One request the fake system was sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Sent {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Status and JSON body of one answer.
type Answer = (u16, Value);

/// Canned answers: the first whose method matches and whose prefix starts
/// the request's path and query; each answers its queue in turn, the last
/// one forever.
#[derive(Default)]
struct FakeState {
    answers: Vec<(String, String, VecDeque<Answer>)>,
    sent: Vec<Sent>,
}

/// A local stand-in for a ticketing system's API.
#[derive(Clone)]
pub struct FakeSystem {
    pub base: String,
    state: Arc<Mutex<FakeState>>,
}

impl FakeSystem {
    /// The fake system's routes over `state`.
    fn app(state: Arc<Mutex<FakeState>>) -> axum::Router {
        use axum::extract::State;
        use axum::response::IntoResponse;
        axum::Router::new()
                .fallback(
                    |State(state): State<Arc<Mutex<FakeState>>>,
                     request: axum::extract::Request| async move {
                        let (parts, body) = request.into_parts();
                        let bytes = axum::body::to_bytes(body, 1 << 20)
                            .await
                            .unwrap_or_default();
                        let uri = parts
                            .uri
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default();
                        let method = parts.method.to_string();
                        let mut state = state.lock().unwrap();
                        state.sent.push(Sent {
                            method: method.clone(),
                            uri: uri.clone(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(k, v)| {
                                    (
                                        k.as_str().to_owned(),
                                        v.to_str().unwrap_or_default().to_owned(),
                                    )
                                })
                                .collect(),
                            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        });
                        let answer = state
                            .answers
                            .iter_mut()
                            .find(|(m, prefix, _)| *m == method && uri.starts_with(prefix.as_str()))
                            .map(|(_, _, queue)| {
                                if queue.len() > 1 {
                                    queue.pop_front().unwrap()
                                } else {
                                    queue[0].clone()
                                }
                            });
                        let (status, body) = answer.unwrap_or((200, serde_json::json!({})));
                        (
                            axum::http::StatusCode::from_u16(status).unwrap(),
                            [("content-type", "application/json")],
                            body.to_string(),
                        )
                            .into_response()
                    },
                )
                .with_state(Arc::clone(&state))
    }

    /// The fake system on plain HTTP.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Self::app(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    /// The fake system on HTTPS, its certificate signed by `ca`.
    pub async fn start_https(ca: &crate::tls::TestCa) -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let port = crate::tls::serve_tls(Self::app(Arc::clone(&state)), &ca.issue("vendor")).await;
        Self {
            base: format!("https://localhost:{port}"),
            state,
        }
    }

    /// Answers `method` requests starting with `prefix` with `answers` in turn
    /// (replacing earlier answers for the same method and prefix).
    pub fn answer(&self, method: &str, prefix: &str, answers: Vec<Answer>) {
        let mut state = self.state.lock().unwrap();
        state
            .answers
            .retain(|(m, p, _)| !(m == method && p == prefix));
        // Longer prefixes first, so `/tickets/7/comments` wins over `/tickets/7`.
        state
            .answers
            .push((method.to_owned(), prefix.to_owned(), answers.into()));
        state
            .answers
            .sort_by_key(|(_, p, _)| std::cmp::Reverse(p.len()));
    }

    /// Every request so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.state.lock().unwrap().sent.clone()
    }

    /// The requests that changed the system: not GETs, nor Jira's searches
    /// (reads sent as POSTs).
    pub fn writes(&self) -> Vec<Sent> {
        self.sent()
            .into_iter()
            .filter(|s| s.method != "GET" && s.uri != "/rest/api/3/search/jql")
            .collect()
    }
}

/// Switchboard with `connector` (its secrets in a file) and every
/// assignment-group and category suggestion routed `auto`.
pub async fn spawn_with(
    connector: Value,
    secrets: &[(&str, &str)],
    dir: &tempfile::TempDir,
) -> TestApp {
    spawn_with_ca(None, connector, secrets, dir).await
}

/// [`spawn_with`] trusting `ca_file` (`[tls] ca_file`) for HTTPS systems.
pub async fn spawn_with_ca(
    ca_file: Option<std::path::PathBuf>,
    connector: Value,
    secrets: &[(&str, &str)],
    dir: &tempfile::TempDir,
) -> TestApp {
    spawn_with_on(
        crate::helpers::SystemClock::shared(),
        ca_file,
        connector,
        secrets,
        dir,
    )
    .await
}

/// [`spawn_with_ca`] on `clock` (a test clock moves the catch-ups).
pub async fn spawn_with_on(
    clock: crate::helpers::SharedClock,
    ca_file: Option<std::path::PathBuf>,
    connector: Value,
    secrets: &[(&str, &str)],
    dir: &tempfile::TempDir,
) -> TestApp {
    let settings: ConnectorSettings = serde_json::from_value(connector).unwrap();
    let file = dir.path().join("secrets.yaml");
    let yaml: String = secrets
        .iter()
        .map(|(k, v)| format!("{k}: \"{v}\"\n"))
        .collect();
    crate::helpers::write_private(&file, yaml).unwrap();
    crate::helpers::spawn_app_on_clock(sample_copy(), clock, move |s| {
        s.runbooks.secrets_file = Some(file);
        s.tls.ca_file = ca_file;
        s.connectors = vec![settings];
        for field in ["assignment_group", "category"] {
            s.triage.field_thresholds.insert(field.into(), 0.0);
        }
    })
    .await
}

/// POSTs `body` to connector `name`'s hook with `headers`.
pub async fn deliver(
    app: &TestApp,
    name: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/hooks/{name}", app.address))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    request.send().await.unwrap()
}

/// Connector `name`'s jobs.
pub async fn jobs(app: &TestApp, name: &str) -> Vec<Value> {
    app.get_as(VIEWER_TOKEN, &format!("/v1/connectors/{name}/jobs"))
        .await
        .json()
        .await
        .unwrap()
}

/// Waits (30 s at most) until job `id` of connector `name` is `state`.
pub async fn wait_job(app: &TestApp, name: &str, id: &str, state: &str) -> Value {
    let started = Instant::now();
    loop {
        let all = jobs(app, name).await;
        if let Some(job) = all.iter().find(|j| j["id"] == id)
            && job["state"] == state
        {
            return job.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "job {id} never {state}: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Delivers an event that must be queued; returns its finished job.
pub async fn deliver_and_finish(
    app: &TestApp,
    name: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> Value {
    let answer = deliver(app, name, body, headers).await;
    assert_eq!(answer.status(), 202, "{:?}", answer.text().await);
    let accepted: Value = answer.json().await.unwrap();
    wait_job(app, name, accepted["job"].as_str().unwrap(), "done").await
}

/// Waits until `id` is a stored incident with a resolution; returns it.
pub async fn wait_learned(app: &TestApp, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let response = app.get(&format!("/v1/incidents/{id}")).await;
        if response.status() == 200 {
            let incident: Value = response.json().await.unwrap();
            if incident["resolution"].is_string() {
                return incident;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{id} was never learned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `switchboard --config C connector ARGS...` with `connector` (TOML)
/// over a copy of the sample store; returns its output and the store.
pub fn connector_cli(
    connector_toml: &str,
    secrets: &[(&str, &str)],
    args: &[&str],
) -> (std::process::Output, tempfile::TempDir) {
    let store = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.yaml");
    let yaml: String = secrets
        .iter()
        .map(|(k, v)| format!("{k}: \"{v}\"\n"))
        .collect();
    crate::helpers::write_private(&file, yaml).unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[runbooks]\nsecrets_file = {:?}\n{connector_toml}",
            store.path(),
            file
        ),
    )
    .unwrap();
    let out = crate::helpers::switchboard_command()
        .arg("--config")
        .arg(&config)
        .arg("connector")
        .args(args)
        .output()
        .unwrap();
    (out, store)
}

/// Runs `switchboard connector import NAME [--since SINCE]`, which must
/// succeed; returns what it printed and the store.
pub fn import(
    connector_toml: &str,
    secrets: &[(&str, &str)],
    name: &str,
    since: Option<&str>,
) -> (String, tempfile::TempDir) {
    let mut args = vec!["import", name];
    if let Some(since) = since {
        args.extend(["--since", since]);
    }
    let (out, store) = connector_cli(connector_toml, secrets, &args);
    crate::helpers::assert_succeeded(&out);
    (String::from_utf8_lossy(&out.stdout).into_owned(), store)
}

/// The incident `id` as `app` has it (`None`: not stored).
pub async fn incident(app: &TestApp, id: &str) -> Option<Value> {
    let response = app.get(&format!("/v1/incidents/{id}")).await;
    (response.status() == 200).then_some(response.json().await.unwrap())
}

/// A server over an imported store.
pub async fn serve(store: tempfile::TempDir) -> TestApp {
    spawn_app_on(store, |_| {}).await
}

/// Switchboard with `connector` catching up every second on a test clock,
/// its secrets in a file: the app, the clock to move, and the directory
/// that must outlive the app.
pub async fn spawn_catching_up(
    mut connector: Value,
    secrets: &[(&str, &str)],
) -> (TestApp, Arc<crate::helpers::TestClock>, tempfile::TempDir) {
    connector["reconcile_interval_s"] = serde_json::json!(1);
    let dir = tempfile::tempdir().unwrap();
    let clock = crate::helpers::TestClock::now();
    let app = spawn_with_on(clock.clone(), None, connector, secrets, &dir).await;
    (app, clock, dir)
}

/// Moves `clock` by the catch-up interval `rounds` times, each time until
/// the system was asked for its list again (a `method` request whose path
/// starts with `list`), then until every job is done: what `rounds`
/// catch-ups queued has run. Returns the jobs.
pub async fn catch_up(
    app: &TestApp,
    system: &FakeSystem,
    clock: &crate::helpers::TestClock,
    name: &str,
    (method, list): (&str, &str),
    rounds: usize,
) -> Vec<Value> {
    let listed = || {
        system
            .sent()
            .iter()
            .filter(|s| s.method == method && s.uri.starts_with(list))
            .count()
    };
    let started = Instant::now();
    // The first look, at start.
    while listed() == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "no first look");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..rounds {
        let before = listed();
        // Moved again if the poller was not asleep yet when it moved.
        while listed() == before {
            assert!(started.elapsed() < Duration::from_secs(60), "no catch-up");
            clock.advance(Duration::from_secs(1));
            for _ in 0..25 {
                if listed() > before {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let started = Instant::now();
    loop {
        let all = jobs(app, name).await;
        if all.iter().all(|j| j["state"] == "done") {
            return all;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{all:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
