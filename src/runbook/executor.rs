//! Runs a [`Plan`]: each step a real process started from its argv (never a
//! shell), in its own process group with a clean environment, killed with the
//! whole group at its timeout; output captured up to a cap with secrets
//! redacted. Check steps run first; a failed step triggers the rollback steps.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::plan::{Plan, PlannedStep};

/// Bytes of stdout and of stderr kept per step.
pub const OUTPUT_LIMIT_BYTES: usize = 64 * 1024;
/// What replaces a secret's value in captured output.
pub const REDACTED: &str = "[REDACTED]";
/// Environment variable naming the execution a step process belongs to, so a
/// restarted service can find and kill what an interrupted run left behind.
pub const EXECUTION_ENV: &str = "SWITCHBOARD_EXECUTION";

/// Secret values by name, never logged, never returned.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// Secrets from a YAML map file (missing file: none), then
    /// `SWITCHBOARD_SECRET_<NAME>` environment variables, which win.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, String> {
        Self::load_with_env(file, crate::configuration::process_env())
    }

    /// [`Secrets::load`] with `vars` standing in for the process environment.
    pub fn load_with_env(
        file: Option<&std::path::Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, String> {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    values = serde_norway::from_str(&text)
                        .map_err(|e| format!("{}: not a name: value map: {e}", path.display()))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        for (key, value) in vars {
            if let Some(name) = key.strip_prefix("SWITCHBOARD_SECRET_") {
                values.insert(name.to_owned(), value);
            }
        }
        Ok(Self(values))
    }

    /// Secrets given directly (tests, embedding).
    pub fn from_map(values: BTreeMap<String, String>) -> Self {
        Self(values)
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in self.0.values().filter(|v| v.len() >= 4) {
            out = out.replace(value.as_str(), REDACTED);
        }
        out
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// How one step ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Exit status 0 (or an expected HTTP status).
    Succeeded,
    /// Non-zero exit, signal, or the program could not start.
    Failed,
    /// Killed at its timeout.
    TimedOut,
}

/// What one step did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StepResult {
    /// `check`, `step` or `rollback`.
    pub phase: String,
    /// Step name.
    pub name: String,
    /// What ran.
    pub argv: Vec<String>,
    /// How it ended.
    pub status: StepStatus,
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Attempts made (1 + retries used).
    pub attempts: u32,
    /// Captured stdout (capped, secrets redacted).
    pub stdout: String,
    /// Captured stderr (capped, secrets redacted), or why it could not start.
    pub stderr: String,
    /// True when output was cut at the cap.
    pub truncated: bool,
    /// Wall time of the last attempt, in milliseconds.
    pub duration_ms: u64,
}

/// How a whole run ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step succeeded.
    Succeeded,
    /// A check or step failed (and rollback, if any, did not complete).
    Failed,
    /// A step was killed at its timeout (and rollback, if any, did not complete).
    TimedOut,
    /// A step failed and the rollback steps all succeeded.
    RolledBack,
}

/// Reads `reader` to the end, keeping at most `limit` bytes.
async fn capped(mut reader: impl AsyncRead + Unpin, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    (kept, truncated)
}

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// One attempt at a process step.
async fn run_process(
    step: &PlannedStep,
    secrets: &Secrets,
    execution: &str,
) -> (StepStatus, Option<i32>, String, String, bool) {
    let Some((program, args)) = step.argv.split_first() else {
        return (
            StepStatus::Failed,
            None,
            String::new(),
            "empty argv".into(),
            false,
        );
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        )
        .env("LANG", "C.UTF-8")
        .env(EXECUTION_ENV, execution)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for name in &step.env {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    for name in &step.secrets {
        match secrets.get(name) {
            Some(value) => {
                command.env(name, value);
            }
            None => {
                return (
                    StepStatus::Failed,
                    None,
                    String::new(),
                    format!("secret {name} is not configured"),
                    false,
                );
            }
        }
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return (
                StepStatus::Failed,
                None,
                String::new(),
                format!("cannot start {program}: {e}"),
                false,
            );
        }
    };
    let pid = child.id();
    let stdout = tokio::spawn(capped(
        child.stdout.take().expect("piped"),
        OUTPUT_LIMIT_BYTES,
    ));
    let stderr = tokio::spawn(capped(
        child.stderr.take().expect("piped"),
        OUTPUT_LIMIT_BYTES,
    ));
    let timeout = Duration::from_millis(step.timeout_ms);
    let (status, code) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(exit)) => (
            if exit.success() {
                StepStatus::Succeeded
            } else {
                StepStatus::Failed
            },
            exit.code(),
        ),
        Ok(Err(_)) => (StepStatus::Failed, None),
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            let _ = child.wait().await;
            (StepStatus::TimedOut, None)
        }
    };
    // Children of the step that outlived it keep the pipes open; the group is killed above on
    // timeout, and on normal exit the readers finish when the last writer closes.
    if let Some(pid) = pid {
        kill_group(pid);
    }
    let (out, out_cut) = stdout.await.unwrap_or_default();
    let (err, err_cut) = stderr.await.unwrap_or_default();
    (
        status,
        code,
        secrets.redact(&String::from_utf8_lossy(&out)),
        secrets.redact(&String::from_utf8_lossy(&err)),
        out_cut || err_cut,
    )
}

/// Runs one step with its retries.
pub async fn run_step(
    step: &PlannedStep,
    phase: &str,
    secrets: &Secrets,
    execution: &str,
) -> StepResult {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let started = Instant::now();
        let (status, exit_code, stdout, stderr, truncated) = if let Some(http) = &step.http {
            let (status, out, err) = super::http::run_http(http, step.timeout_ms).await;
            (
                status,
                None,
                secrets.redact(&out),
                secrets.redact(&err),
                false,
            )
        } else {
            run_process(step, secrets, execution).await
        };
        let done = status == StepStatus::Succeeded || attempts > step.retries;
        if done {
            return StepResult {
                phase: phase.to_owned(),
                name: step.name.clone(),
                argv: step.argv.iter().map(|a| secrets.redact(a)).collect(),
                status,
                exit_code,
                attempts,
                stdout,
                stderr,
                truncated,
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the check steps only (a dry run).
pub async fn run_checks(
    plan: &Plan,
    secrets: &Secrets,
    execution: &str,
    mut on_step: impl FnMut(&StepResult),
) -> (RunStatus, Vec<StepResult>) {
    let mut results = Vec::new();
    for step in &plan.check {
        let result = run_step(step, "check", secrets, execution).await;
        on_step(&result);
        let status = result.status;
        results.push(result);
        if status != StepStatus::Succeeded {
            return (failed(status), results);
        }
    }
    (RunStatus::Succeeded, results)
}

fn failed(status: StepStatus) -> RunStatus {
    if status == StepStatus::TimedOut {
        RunStatus::TimedOut
    } else {
        RunStatus::Failed
    }
}

/// Runs checks, then steps; on a failed step, the rollback steps.
/// `on_step` sees every result as it completes (for durable recording).
pub async fn run_plan(
    plan: &Plan,
    secrets: &Secrets,
    execution: &str,
    mut on_step: impl FnMut(&StepResult),
) -> (RunStatus, Vec<StepResult>) {
    let (status, mut results) = run_checks(plan, secrets, execution, &mut on_step).await;
    if status != RunStatus::Succeeded {
        return (status, results);
    }
    for step in &plan.steps {
        let result = run_step(step, "step", secrets, execution).await;
        on_step(&result);
        let status = result.status;
        results.push(result);
        if status == StepStatus::Succeeded {
            continue;
        }
        if plan.rollback.is_empty() {
            return (failed(status), results);
        }
        for undo in &plan.rollback {
            let result = run_step(undo, "rollback", secrets, execution).await;
            on_step(&result);
            let ok = result.status == StepStatus::Succeeded;
            results.push(result);
            if !ok {
                return (failed(status), results);
            }
        }
        return (RunStatus::RolledBack, results);
    }
    (RunStatus::Succeeded, results)
}

/// Process groups still running steps of `execution` (found by their
/// [`EXECUTION_ENV`] marker); after a crash these belong to no live run.
pub fn leftover_process_groups(execution: &str) -> Vec<i32> {
    let marker = format!("{EXECUTION_ENV}={execution}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut groups: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == marker.as_bytes()))
        })
        .filter_map(|pid| {
            // Field 5 of /proc/PID/stat is the process group (after the parenthesised name).
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat.rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(2)?
                .parse()
                .ok()
        })
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// Kills what [`leftover_process_groups`] finds; returns the groups killed.
pub fn kill_leftovers(execution: &str) -> Vec<i32> {
    let groups = leftover_process_groups(execution);
    for &group in &groups {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(group),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(argv: &[&str], timeout_ms: u64) -> PlannedStep {
        PlannedStep {
            name: argv.join(" "),
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            http: None,
            timeout_ms,
            retries: 0,
            env: vec![],
            secrets: vec![],
        }
    }

    fn plan(steps: Vec<PlannedStep>, rollback: Vec<PlannedStep>) -> Plan {
        Plan {
            runbook: "t".into(),
            version: 1,
            params: BTreeMap::new(),
            target: None,
            check: vec![],
            steps,
            rollback,
        }
    }

    #[test]
    fn secrets_come_from_the_file_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.yaml");
        std::fs::write(&file, "API_TOKEN: from-file\nDB_PASSWORD: db-file\n").unwrap();
        let vars = [
            ("SWITCHBOARD_SECRET_API_TOKEN", "from-env"),
            ("SWITCHBOARD_SECRET_SMTP", "smtp-env"),
            ("SWITCHBOARD_TOKEN", "not-a-secret"),
            ("API_TOKEN", "not-a-secret-either"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let secrets = Secrets::load_with_env(Some(&file), vars).unwrap();
        assert_eq!(
            format!("{secrets:?}"),
            r#"["API_TOKEN", "DB_PASSWORD", "SMTP"]"#
        );
        assert_eq!(secrets.get("API_TOKEN"), Some("from-env"));
        assert_eq!(secrets.get("DB_PASSWORD"), Some("db-file"));
        let missing = Secrets::load_with_env(Some(&dir.path().join("none.yaml")), []).unwrap();
        assert_eq!(format!("{missing:?}"), "[]");
        std::fs::write(&file, "- not\n- a map\n").unwrap();
        assert!(Secrets::load_with_env(Some(&file), []).is_err());
    }

    #[tokio::test]
    async fn environment_is_clean_and_secrets_are_redacted() {
        let secrets = Secrets::from_map(BTreeMap::from([(
            "API_KEY".to_owned(),
            "s3cr3t-value".to_owned(),
        )]));
        let mut env = step(&["printenv"], 5_000);
        env.secrets = vec!["API_KEY".into()];
        let result = run_step(&env, "step", &secrets, "test").await;
        assert_eq!(result.status, StepStatus::Succeeded);
        let mut names: Vec<&str> = result
            .stdout
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["API_KEY", "LANG", "PATH", EXECUTION_ENV],
            "{}",
            result.stdout
        );
        assert!(result.stdout.contains("API_KEY=[REDACTED]"));
        assert!(!result.stdout.contains("s3cr3t"));

        let mut missing = step(&["true"], 5_000);
        missing.secrets = vec!["NOPE".into()];
        let result = run_step(&missing, "step", &secrets, "test").await;
        assert_eq!(result.status, StepStatus::Failed);
        assert!(result.stderr.contains("secret NOPE is not configured"));
    }

    /// A one-shot HTTP server answering `status` to the first request.
    async fn answer_once(status: &'static str) -> String {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let reply =
                format!("HTTP/1.1 {status}\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndone");
            socket.write_all(reply.as_bytes()).await.unwrap();
        });
        format!("http://{address}/restart")
    }

    #[tokio::test]
    async fn http_steps_succeed_on_the_expected_status_only() {
        for (status, expected) in [
            ("200 OK", StepStatus::Succeeded),
            ("500 Internal Server Error", StepStatus::Failed),
        ] {
            let mut request = step(&[], 5_000);
            request.http = Some(crate::runbook::PlannedHttp {
                method: "POST".into(),
                url: answer_once(status).await,
                headers: BTreeMap::new(),
                body: Some(serde_json::json!({ "service": "nginx" })),
                expect_status: vec![],
            });
            let result = run_step(&request, "step", &Secrets::default(), "test").await;
            assert_eq!(result.status, expected, "{result:?}");
            assert_eq!(result.stdout, "done");
        }
    }

    #[tokio::test]
    async fn output_is_capped() {
        let result = run_step(
            &step(&["head", "-c", "300000", "/dev/zero"], 5_000),
            "step",
            &Secrets::default(),
            "test",
        )
        .await;
        assert_eq!(result.status, StepStatus::Succeeded);
        assert!(result.truncated);
        assert_eq!(result.stdout.len(), OUTPUT_LIMIT_BYTES);
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // The shell here is the test's own tool for making a grandchild; runbooks cannot use one.
        let script = format!("sleep 30 & echo $! > {}; wait", pids.display());
        let started = Instant::now();
        let result = run_step(
            &step(&["sh", "-c", &script], 300),
            "step",
            &Secrets::default(),
            "test",
        )
        .await;
        assert_eq!(result.status, StepStatus::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        let grandchild = std::fs::read_to_string(&pids).unwrap();
        let proc_dir = format!("/proc/{}", grandchild.trim());
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::path::Path::new(&proc_dir).exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            !std::path::Path::new(&proc_dir).exists(),
            "grandchild survived"
        );
    }

    #[tokio::test]
    async fn leftovers_of_an_execution_are_found_by_their_marker() {
        let mut child = tokio::process::Command::new("sleep")
            .arg("30")
            .env(EXECUTION_ENV, "exec-leftover-test")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id().unwrap()).unwrap();
        assert_eq!(leftover_process_groups("exec-leftover-test"), [pid]);
        assert!(leftover_process_groups("another-execution").is_empty());
        assert_eq!(kill_leftovers("exec-leftover-test"), [pid]);
        let status = child.wait().await.unwrap();
        assert!(!status.success());
    }

    #[tokio::test]
    async fn failures_roll_back_and_retry() {
        let secrets = Secrets::default();
        let (status, results) = run_plan(
            &plan(vec![step(&["false"], 5_000)], vec![step(&["true"], 5_000)]),
            &secrets,
            "test",
            |_| {},
        )
        .await;
        assert_eq!(status, RunStatus::RolledBack);
        assert_eq!(
            results.iter().map(|r| r.phase.as_str()).collect::<Vec<_>>(),
            ["step", "rollback"]
        );
        let (status, _) = run_plan(
            &plan(vec![step(&["false"], 5_000)], vec![step(&["false"], 5_000)]),
            &secrets,
            "test",
            |_| {},
        )
        .await;
        assert_eq!(status, RunStatus::Failed);
        let (status, results) = run_plan(
            &plan(vec![step(&["true"], 5_000), step(&["true"], 5_000)], vec![]),
            &secrets,
            "test",
            |_| {},
        )
        .await;
        assert_eq!((status, results.len()), (RunStatus::Succeeded, 2));
        let mut flaky = step(&["false"], 5_000);
        flaky.retries = 2;
        let result = run_step(&flaky, "step", &secrets, "test").await;
        assert_eq!(
            (result.status, result.attempts, result.exit_code),
            (StepStatus::Failed, 3, Some(1))
        );
        let missing = run_step(
            &step(&["/no/such/program"], 5_000),
            "step",
            &secrets,
            "test",
        )
        .await;
        assert!(missing.stderr.contains("cannot start"));
    }
}
