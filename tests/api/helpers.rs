//! `spawn_app()`: a server on port 0 over a fresh copy of a store preloaded with the sample data.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use switchboard::auth::{Role, TokenEntry, hash_token};
use switchboard::configuration::Settings;
pub use switchboard::infra::clock::{Clock, SharedClock, SystemClock, TestClock};
use switchboard::ingest::{ColumnMapping, IngestOptions, ingest_incidents, ingest_knowledge};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What a test does when a component it needs (`qdrant`, ...) is missing:
/// under `SWITCHBOARD_TEST_REQUIRE=all` (CI sets it), or a comma-separated list
/// naming the component, it fails with `why`; elsewhere (a plain clone) it
/// says loudly that it did not run, and the caller returns.
pub fn missing_component(component: &str, why: &str) {
    let require = std::env::var("SWITCHBOARD_TEST_REQUIRE").unwrap_or_default();
    missing_component_under(&require, component, why);
}

/// [`missing_component`] with `require` standing in for `SWITCHBOARD_TEST_REQUIRE`.
pub fn missing_component_under(require: &str, component: &str, why: &str) {
    let required = require
        .split(',')
        .map(str::trim)
        .any(|name| name == "all" || name == component);
    assert!(
        !required,
        "SWITCHBOARD_TEST_REQUIRE={require}: {component} is required but missing: {why}"
    );
    eprintln!("\n*** NOT RUN: {component} is missing: {why} ***\n");
}

#[test]
fn a_missing_component_fails_where_it_is_required_and_is_said_elsewhere() {
    for require in ["all", "postgres, qdrant"] {
        let failed =
            std::panic::catch_unwind(|| missing_component_under(require, "qdrant", "no binary"));
        assert!(failed.is_err(), "required by {require:?}");
    }
    for require in ["", "postgres"] {
        missing_component_under(require, "qdrant", "no binary");
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Token with the agent role in every test server.
pub const AGENT_TOKEN: &str = "test-agent-token";
/// Token with the viewer role in every test server.
pub const VIEWER_TOKEN: &str = "test-viewer-token";
/// Token with the admin role in every test server.
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// Token with the approver role in every test server (caller `approver`).
pub const APPROVER_TOKEN: &str = "test-approver-token";
/// A second approver (caller `approver-2`).
pub const APPROVER2_TOKEN: &str = "test-approver-2-token";
/// Token of the change manager (approves emergency changes).
pub const CHANGE_MANAGER_TOKEN: &str = "test-change-manager-token";

/// The `switchboard` binary, set up to use the repository's model and prompts.
pub fn switchboard_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .env(
            "SWITCHBOARD_MODEL__DIR",
            repo().join("models/all-MiniLM-L6-v2"),
        )
        .env("SWITCHBOARD_PROMPTS_DIR", repo().join("prompts"))
        .env("RUST_LOG", "warn");
    command
}

/// Asserts that a finished `switchboard` process succeeded, showing its stderr if not.
#[track_caller]
pub fn assert_succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Settings for tests: shipped model, prompts and runbooks, store in `data_dir`, five tokens.
pub fn test_settings(data_dir: &Path) -> Settings {
    let mut settings = Settings::default();
    for (name, role, token) in [
        ("agent", Role::Agent, AGENT_TOKEN),
        ("viewer", Role::Viewer, VIEWER_TOKEN),
        ("admin", Role::Admin, ADMIN_TOKEN),
        ("approver", Role::Approver, APPROVER_TOKEN),
        ("approver-2", Role::Approver, APPROVER2_TOKEN),
        ("change-manager", Role::ChangeManager, CHANGE_MANAGER_TOKEN),
    ] {
        settings.auth.tokens.push(TokenEntry {
            name: name.into(),
            role,
            sha256: hash_token(token),
        });
    }
    settings.data_dir = data_dir.to_path_buf();
    settings.model.dir = repo().join("models/all-MiniLM-L6-v2");
    settings.prompts_dir = repo().join("prompts");
    settings.server.listen = "127.0.0.1:0".into();
    settings.runbooks.dir = repo().join("runbooks");
    settings.runbooks.inventory = repo().join("runbooks/inventory.yaml");
    settings.runbooks.work_root = work_root().to_path_buf();
    settings
}

/// Writes a file that holds secrets as an administrator would: mode 0600
/// (Switchboard refuses a secrets or key file others may read).
pub fn write_private(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = path.as_ref();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents.as_ref())
}

/// Where the shipped runbooks may act in tests (`{work_root}`): one
/// directory per test run, made by this user with mode 0700, as an
/// administrator makes `/srv/switchboard` for the service user. Its name is
/// letters only (the process id spelt a-j): the scrubber takes random-looking
/// strings for secrets, and a path in a ticket must reach the runbook intact.
pub fn work_root() -> &'static Path {
    use std::os::unix::fs::PermissionsExt;
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let letters: String = std::process::id()
            .to_string()
            .bytes()
            .map(|d| char::from(b'a' + (d - b'0')))
            .collect();
        let dir = std::env::temp_dir().join(format!("switchboard-work-{letters}"));
        // Left by an earlier run that had this process id.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("work root");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("work root");
        dir.canonicalize().expect("work root")
    })
}

/// A store with the sample incidents and articles and a classifier head
/// trained on them, built once per test run.
fn sample_store() -> &'static Path {
    static STORE: OnceLock<TempDir> = OnceLock::new();
    STORE
        .get_or_init(|| {
            std::thread::spawn(|| {
                let dir = tempfile::tempdir().expect("temp dir");
                let runtime = tokio::runtime::Runtime::new().expect("runtime");
                runtime.block_on(async {
                    let settings = test_settings(dir.path());
                    let pool = switchboard::app::parts::state_database(&settings)
                        .await
                        .expect("state database");
                    let service = switchboard::app::parts::triage_service(
                        &settings,
                        pool.clone(),
                        switchboard::infra::clock::SystemClock::shared(),
                    )
                    .await
                    .expect("model and store load");
                    ingest_incidents(
                        &service,
                        &repo().join("sample/incidents.csv"),
                        &ColumnMapping::default(),
                        IngestOptions::default(),
                    )
                    .await
                    .expect("sample incidents ingest");
                    ingest_knowledge(&service, &repo().join("sample/kb"), true)
                        .await
                        .expect("sample kb ingest");
                    service.retrain().await.expect("classifier head trains");
                    // Closed before anyone copies the directory: SQLite
                    // removes its -wal and -shm files as the last connection
                    // closes, which would race with the copy.
                    drop(service);
                    pool.close().await;
                });
                dir
            })
            .join()
            .expect("sample store builder")
        })
        .path()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The store directory (kept for restarts).
    pub data_dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A fresh copy of the sample store (incidents, articles, classifier head).
pub fn sample_copy() -> TempDir {
    let data_dir = tempfile::tempdir().unwrap();
    copy_dir(sample_store(), data_dir.path());
    data_dir
}

/// Starts a server over a fresh copy of the sample store and waits until it is ready.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(sample_copy(), |_| {}).await
}

/// Starts a server over `data_dir` with settings adjusted by `tweak`.
pub async fn spawn_app_on(data_dir: TempDir, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on_clock(data_dir, SystemClock::shared(), tweak).await
}

/// Starts a server over `data_dir` whose time is `clock` (a [`TestClock`]
/// the test moves instead of sleeping), with settings adjusted by `tweak`.
pub async fn spawn_app_on_clock(
    data_dir: TempDir,
    clock: SharedClock,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_app_with(data_dir, clock, None, tweak).await
}

/// Starts a server over `data_dir` that speaks HTTPS (`tweak` sets
/// `server.tls`), reached as `https://localhost:PORT` by `client`.
pub async fn spawn_https_app_on(
    data_dir: TempDir,
    client: reqwest::Client,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_app_with(data_dir, SystemClock::shared(), Some(client), tweak).await
}

async fn spawn_app_with(
    data_dir: TempDir,
    clock: SharedClock,
    https_client: Option<reqwest::Client>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = test_settings(data_dir.path());
    tweak(&mut settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (address, client) = match https_client {
        Some(client) => (format!("https://localhost:{port}"), client),
        None => (format!("http://127.0.0.1:{port}"), reqwest::Client::new()),
    };
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(switchboard::server::run_with_clock(
        listener,
        settings,
        clock,
        async {
            let _ = stop.await;
        },
    ));
    let app = TestApp {
        address,
        client,
        data_dir,
        shutdown: Some(shutdown),
        server: Some(server),
    };
    app.wait_ready().await;
    app
}

impl TestApp {
    async fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let ready = self
                .client
                .get(format!("{}/readyz", self.address))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "server never became ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// POSTs `body` as JSON to `path` with the agent token.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.post_json_as(Some(AGENT_TOKEN), path, body).await
    }

    /// POSTs `body` as JSON to `path` with `token`, or none.
    pub async fn post_json_as(
        &self,
        token: Option<&str>,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut request = self.client.post(format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.json(body).send().await.unwrap()
    }

    /// POSTs raw bytes with a JSON content type.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// GETs `path` with `token`.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// GETs `path` as a viewer: every read of the desk's data needs a token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as(VIEWER_TOKEN, path).await
    }

    /// The value of `series` (name and labels as `/metrics` writes them,
    /// e.g. `switchboard_refusals_total{surface="executions"}`) now; 0 while
    /// it has not been exported. The registry is shared by the tests in this
    /// process.
    pub async fn metric(&self, series: &str) -> f64 {
        let metrics = self.get("/metrics").await.text().await.unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    /// GETs `path` without a token.
    pub async fn get_anonymously(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// Stops the server gracefully and returns its data directory.
    pub async fn stop(mut self) -> TempDir {
        let _ = self.shutdown.take().unwrap().send(());
        self.server
            .take()
            .unwrap()
            .await
            .unwrap()
            .expect("server exits cleanly");
        self.data_dir
    }
}

/// The audit log of a test server over `data_dir`: its database (`url`, else
/// SQLite in `data_dir`), its key file and anchor.
pub async fn audit_log(data_dir: &Path, url: Option<&str>) -> switchboard::infra::audit::AuditLog {
    let settings = test_settings(data_dir);
    let url = url.map_or_else(
        || switchboard::infra::db::default_url(data_dir),
        str::to_owned,
    );
    let pool = switchboard::infra::db::connect(&url).await.unwrap();
    switchboard::app::parts::open_audit(
        &settings,
        &switchboard::infra::secrets::Secrets::default(),
        pool,
    )
    .unwrap()
}

/// Asserts the error shape and returns the code.
pub async fn error_code(response: reqwest::Response, status: u16) -> (String, serde_json::Value) {
    assert_eq!(response.status().as_u16(), status);
    let body: serde_json::Value = response.json().await.expect("error body is JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    (code, body)
}
