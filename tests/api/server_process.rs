//! `ServerProcess`: the real `switchboard serve` binary as a child process, for
//! the tests that kill it (`kill -9`, crash points) and start it again.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{
    ADMIN_TOKEN, AGENT_TOKEN, APPROVER_TOKEN, APPROVER2_TOKEN, CHANGE_MANAGER_TOKEN, VIEWER_TOKEN,
    repo, switchboard_command,
};

/// Writes `switchboard.toml` in `dir` for a server over `data_dir` listening on
/// a free port, with the five test tokens, runbooks from `runbooks` (default:
/// the repository's) and `extra` appended; returns its path.
pub fn write_config(dir: &Path, data_dir: &Path, runbooks: Option<&Path>, extra: &str) -> PathBuf {
    let runbooks = runbooks.map_or_else(|| repo().join("runbooks"), Path::to_path_buf);
    let mut text = format!(
        "data_dir = {:?}\n{extra}\n[server]\nlisten = \"127.0.0.1:0\"\n[runbooks]\ndir = {:?}\ninventory = {:?}\nwork_root = {:?}\n",
        data_dir,
        runbooks,
        runbooks.join("inventory.yaml"),
        crate::helpers::work_root(),
    );
    if runbooks.join("secrets.yaml").exists() {
        text.push_str(&format!(
            "secrets_file = {:?}\n",
            runbooks.join("secrets.yaml")
        ));
    }
    for (name, role, token) in [
        ("agent", "agent", AGENT_TOKEN),
        ("viewer", "viewer", VIEWER_TOKEN),
        ("admin", "admin", ADMIN_TOKEN),
        ("approver", "approver", APPROVER_TOKEN),
        ("approver-2", "approver", APPROVER2_TOKEN),
        ("change-manager", "change_manager", CHANGE_MANAGER_TOKEN),
    ] {
        text.push_str(&format!(
            "[[auth.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            switchboard::auth::hash_token(token)
        ));
    }
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `switchboard serve` process and what it has logged.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `switchboard --config CONFIG serve` with `env` set and waits until
    /// it listens (not until it is ready: see [`ServerProcess::wait_ready`]).
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = switchboard_command();
        command
            .env("RUST_LOG", "info")
            .env_remove(switchboard::infra::crash::CRASH_AT_ENV)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = port_tx.send(port);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("server never listened: {:?}", log.lock().unwrap()));
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Starts the server and waits until `/readyz` answers 200.
    pub async fn start_ready(config: &Path, env: &[(&str, &str)]) -> Self {
        let server = Self::start(config, env);
        server.wait_ready().await;
        server
    }

    /// Waits until the model and store are loaded.
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        while !client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "never ready: {:?}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// `kill -9`, then reaps the process.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits (up to `timeout`) for the process to exit by itself, e.g. at a crash
    /// point; true if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in the server's "listening" log line.
fn listening_port(line: &str) -> Option<u16> {
    if !line.contains("listening") {
        return None;
    }
    let at = line.find("127.0.0.1:")?;
    line[at + 10..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}
