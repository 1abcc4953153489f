//! Runs a [`Plan`]: check steps first, then the steps; a failed step triggers
//! the rollback steps. Each process step runs as in `process.rs` (argv only, a
//! clean environment, every process it starts killed when it ends); a run can
//! be stopped early through its [`StopSignal`] (cancel, shutdown).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::plan::{Plan, PlannedStep};
use super::secrets::{Capture, Redactor};
use super::step::{OUTPUT_LIMIT_BYTES, StepStatus, StopReason, StopSignal};
use crate::infra::secrets::Secrets;

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
    /// Captured stdout (secrets redacted, then capped).
    pub stdout: String,
    /// Captured stderr (secrets redacted, then capped), or why it could not start.
    pub stderr: String,
    /// True when output was cut at the cap.
    pub truncated: bool,
    /// Processes the step left running, killed when it ended.
    #[serde(default)]
    pub killed_processes: usize,
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
    /// Someone cancelled the run; the step running was killed, no later step ran.
    Cancelled,
    /// The service shut down during the run; the step running was killed.
    Interrupted,
}

/// One attempt at an HTTP step: its body redacted and capped as it streams in.
async fn http_attempt(
    step: &PlannedStep,
    http: &super::plan::PlannedHttp,
    redactor: &Redactor,
) -> super::process::ProcessOutcome {
    let mut body = Capture::new(redactor, OUTPUT_LIMIT_BYTES);
    let (status, stderr) = super::http::run_http(http, step.timeout_ms, &mut body).await;
    let (stdout, truncated) = body.finish();
    super::process::ProcessOutcome {
        status,
        exit_code: None,
        stdout,
        stderr: String::from_utf8_lossy(&redactor.redact_all(stderr.as_bytes())).into_owned(),
        truncated,
        killed: 0,
    }
}

/// Runs one step with its retries; `stop` ends it early.
pub async fn run_step(
    step: &PlannedStep,
    phase: &str,
    secrets: &Secrets,
    execution: &str,
    stop: &mut StopSignal,
) -> StepResult {
    let redactor = Redactor::for_secrets(secrets);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let started = Instant::now();
        // A path approved then is checked again now: a symbolic link swapped
        // in since would send `cp`, `gzip --force` or `truncate` elsewhere.
        let moved = step
            .paths
            .iter()
            .find(|p| !super::params::still_where_approved(p));
        let outcome = match (&step.http, moved) {
            (_, Some(moved)) => super::process::ProcessOutcome {
                status: StepStatus::Failed,
                exit_code: None,
                stdout: String::new(),
                stderr: format!(
                    "refused: {moved} is no longer where it was approved (a symbolic link was put in its way)"
                ),
                truncated: false,
                killed: 0,
            },
            (Some(http), None) => tokio::select! {
                outcome = http_attempt(step, http, &redactor) => outcome,
                _ = stop.stopped() => super::process::ProcessOutcome {
                    status: StepStatus::Cancelled,
                    exit_code: None,
                    stdout: String::new(),
                    stderr: "stopped before the request finished".into(),
                    truncated: false,
                    killed: 0,
                },
            },
            (None, None) => {
                super::process::run_process(step, secrets, &redactor, execution, stop).await
            }
        };
        let stopped = stop.reason().is_some() || outcome.status == StepStatus::Cancelled;
        let done = outcome.status == StepStatus::Succeeded || attempts > step.retries || stopped;
        if done {
            return StepResult {
                phase: phase.to_owned(),
                name: step.name.clone(),
                argv: step.argv.iter().map(|a| redactor.redact_text(a)).collect(),
                status: outcome.status,
                exit_code: outcome.exit_code,
                attempts,
                stdout: outcome.stdout,
                stderr: outcome.stderr,
                truncated: outcome.truncated,
                killed_processes: outcome.killed,
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.stopped() => {}
        }
    }
}

/// The run status for a step that did not succeed.
fn failed(status: StepStatus, stop: &StopSignal) -> RunStatus {
    match (status, stop.reason()) {
        (_, Some(StopReason::Shutdown)) => RunStatus::Interrupted,
        (_, Some(StopReason::Cancelled)) | (StepStatus::Cancelled, None) => RunStatus::Cancelled,
        (StepStatus::TimedOut, None) => RunStatus::TimedOut,
        _ => RunStatus::Failed,
    }
}

/// Runs the check steps only (a dry run).
pub async fn run_checks(
    plan: &Plan,
    secrets: &Secrets,
    execution: &str,
    stop: &mut StopSignal,
    mut on_step: impl FnMut(&StepResult),
) -> (RunStatus, Vec<StepResult>) {
    let mut results = Vec::new();
    for step in &plan.check {
        let result = run_step(step, "check", secrets, execution, stop).await;
        on_step(&result);
        let status = result.status;
        results.push(result);
        if status != StepStatus::Succeeded {
            return (failed(status, stop), results);
        }
    }
    (RunStatus::Succeeded, results)
}

/// Runs checks, then steps; on a failed step, the rollback steps (not after a
/// stop: whoever stopped the run decides what happens next).
/// `on_step` sees every result as it completes (for durable recording).
pub async fn run_plan(
    plan: &Plan,
    secrets: &Secrets,
    execution: &str,
    stop: &mut StopSignal,
    mut on_step: impl FnMut(&StepResult),
) -> (RunStatus, Vec<StepResult>) {
    let (status, mut results) = run_checks(plan, secrets, execution, stop, &mut on_step).await;
    if status != RunStatus::Succeeded {
        return (status, results);
    }
    for step in &plan.steps {
        let result = run_step(step, "step", secrets, execution, stop).await;
        on_step(&result);
        let status = result.status;
        results.push(result);
        if status == StepStatus::Succeeded {
            continue;
        }
        if plan.rollback.is_empty() || stop.reason().is_some() {
            return (failed(status, stop), results);
        }
        for undo in &plan.rollback {
            let result = run_step(undo, "rollback", secrets, execution, stop).await;
            on_step(&result);
            let ok = result.status == StepStatus::Succeeded;
            results.push(result);
            if !ok {
                return (failed(status, stop), results);
            }
        }
        return (RunStatus::RolledBack, results);
    }
    (RunStatus::Succeeded, results)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::runbook::containment::{EXECUTION_ENV, kill_leftovers, leftover_process_groups};
    use crate::runbook::secrets::REDACTED;

    fn step(argv: &[&str], timeout_ms: u64) -> PlannedStep {
        PlannedStep {
            name: argv.join(" "),
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            http: None,
            timeout_ms,
            retries: 0,
            env: vec![],
            secrets: vec![],
            paths: vec![],
        }
    }

    #[tokio::test]
    async fn a_link_swapped_in_after_approval_stops_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        std::fs::write(&log, "line\n").unwrap();
        let victim = dir.path().join("switchboard.db");
        std::fs::write(&victim, "precious").unwrap();
        let copy = format!("{}.rotated", log.display());
        let mut cp = step(&["cp", "--", &log.display().to_string(), &copy], 5_000);
        cp.paths = vec![log.display().to_string(), copy.clone()];
        // Approved while nothing was there; then a link to the database.
        std::os::unix::fs::symlink(&victim, &copy).unwrap();
        let mut stop = StopSignal::never();
        let result = run_step(&cp, "step", &Secrets::default(), "e1", &mut stop).await;
        assert_eq!(result.status, StepStatus::Failed);
        assert!(
            result.stderr.contains("no longer where it was approved"),
            "{}",
            result.stderr
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
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

    async fn run(step: &PlannedStep, secrets: &Secrets) -> StepResult {
        run_step(step, "step", secrets, "test", &mut StopSignal::never()).await
    }

    /// Runs `script` with sh (the test's own tool for making escaping children;
    /// runbooks cannot use a shell) and returns the result.
    async fn sh(script: &str, timeout_ms: u64) -> StepResult {
        run(
            &step(&["sh", "-c", script], timeout_ms),
            &Secrets::default(),
        )
        .await
    }

    /// Waits up to 5 s for the process whose pid is in `file` to be gone.
    async fn assert_gone(file: &std::path::Path) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !file.exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = std::fs::read_to_string(file).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        loop {
            // Gone, or a zombie nobody needs to reap any more.
            let alive = std::fs::read_to_string(&stat)
                .map(|s| !s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z'))
                .unwrap_or(false);
            if !alive {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "process {} survived its step",
                pid.trim()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn environment_is_clean_and_secrets_are_redacted() {
        let secrets = Secrets::from_map(BTreeMap::from([(
            "API_KEY".to_owned(),
            "s3cr3t-value".to_owned(),
        )]));
        let mut env = step(&["printenv"], 5_000);
        env.secrets = vec!["API_KEY".into()];
        let result = run(&env, &secrets).await;
        assert_eq!(result.status, StepStatus::Succeeded);
        let mut names: Vec<&str> = result
            .stdout
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "API_KEY",
                "LANG",
                "PATH",
                EXECUTION_ENV,
                crate::runbook::containment::STEP_ENV
            ],
            "{}",
            result.stdout
        );
        assert!(result.stdout.contains("API_KEY=[REDACTED]"));
        assert!(!result.stdout.contains("s3cr3t"));

        let mut missing = step(&["true"], 5_000);
        missing.secrets = vec!["NOPE".into()];
        let result = run(&missing, &secrets).await;
        assert_eq!(result.status, StepStatus::Failed);
        assert!(result.stderr.contains("secret NOPE is not configured"));
    }

    #[tokio::test]
    async fn a_secret_printed_at_the_output_cap_is_not_stored_in_part() {
        let secret = "SeCrEt-0123456789-abcdef";
        let secrets = Secrets::from_map(BTreeMap::from([("TOKEN".to_owned(), secret.to_owned())]));
        // Filler so the secret starts a few bytes before the cap, then across
        // pipe reads of every alignment.
        for filler in [OUTPUT_LIMIT_BYTES - 6, OUTPUT_LIMIT_BYTES - 20, 8190, 16383] {
            let mut printf = step(
                &[
                    "sh",
                    "-c",
                    &format!("head -c {filler} /dev/zero | tr '\\0' x; printf %s \"$TOKEN\""),
                ],
                10_000,
            );
            printf.secrets = vec!["TOKEN".into()];
            let result = run(&printf, &secrets).await;
            assert_eq!(result.status, StepStatus::Succeeded, "{}", result.stderr);
            assert!(result.stdout.len() <= OUTPUT_LIMIT_BYTES);
            let tail: String = result
                .stdout
                .chars()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            assert!(!tail.contains("SeC"), "filler {filler}: {tail:?}");
            if filler + REDACTED.len() <= OUTPUT_LIMIT_BYTES {
                assert!(
                    result.stdout.ends_with(REDACTED),
                    "filler {filler}: {tail:?}"
                );
            }
        }
    }

    /// A one-shot HTTP server answering `status` and `body` to the first request.
    async fn answer_once(status: &'static str, body: String) -> String {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(reply.as_bytes()).await.unwrap();
        });
        format!("http://{address}/restart")
    }

    fn http_step(url: String) -> PlannedStep {
        let mut request = step(&[], 5_000);
        request.http = Some(crate::runbook::PlannedHttp {
            method: "POST".into(),
            url,
            headers: BTreeMap::new(),
            body: Some(serde_json::json!({ "service": "nginx" })),
            expect_status: vec![],
            ca_file: None,
            resolve_check: false,
        });
        request
    }

    #[tokio::test]
    async fn http_steps_succeed_on_the_expected_status_only() {
        for (status, expected) in [
            ("200 OK", StepStatus::Succeeded),
            ("500 Internal Server Error", StepStatus::Failed),
        ] {
            let request = http_step(answer_once(status, "done".into()).await);
            let result = run(&request, &Secrets::default()).await;
            assert_eq!(result.status, expected, "{result:?}");
            assert_eq!(result.stdout, "done");
        }
    }

    #[tokio::test]
    async fn http_bodies_are_redacted_before_they_are_capped() {
        let secret = "http-SeCrEt-0123456789";
        let secrets = Secrets::from_map(BTreeMap::from([("T".to_owned(), secret.to_owned())]));
        let body = format!("{}{secret}", "y".repeat(OUTPUT_LIMIT_BYTES - 5));
        let result = run(&http_step(answer_once("200 OK", body).await), &secrets).await;
        assert_eq!(result.status, StepStatus::Succeeded);
        assert!(result.truncated);
        assert!(
            !result.stdout.contains("http-"),
            "{}",
            &result.stdout[result.stdout.len() - 10..]
        );
    }

    #[tokio::test]
    async fn output_is_capped() {
        let result = run(
            &step(&["head", "-c", "300000", "/dev/zero"], 5_000),
            &Secrets::default(),
        )
        .await;
        assert_eq!(
            result.status,
            StepStatus::Succeeded,
            "{:?} {}",
            result.exit_code,
            result.stderr
        );
        assert!(result.truncated);
        assert_eq!(result.stdout.len(), OUTPUT_LIMIT_BYTES);
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let started = Instant::now();
        let result = sh(
            &format!("sleep 30 & echo $! > {}; wait", pids.display()),
            300,
        )
        .await;
        assert_eq!(result.status, StepStatus::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_gone(&pids).await;
    }

    #[tokio::test]
    async fn a_setsid_escape_holding_the_pipes_is_killed_at_the_timeout() {
        crate::runbook::containment::become_subreaper();
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pid");
        let started = Instant::now();
        // The escaped child keeps stdout open and waits for 999 s.
        let script = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 999' & sleep 30",
            pids.display()
        );
        let result = sh(&script, 500).await;
        assert_eq!(result.status, StepStatus::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(result.killed_processes >= 2, "{result:?}");
        assert_gone(&pids).await;
    }

    #[tokio::test]
    async fn a_setsid_child_left_behind_by_a_successful_step_is_killed() {
        crate::runbook::containment::become_subreaper();
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pid");
        let started = Instant::now();
        let script = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 999' & sleep 0.2; echo done",
            pids.display()
        );
        let result = sh(&script, 10_000).await;
        assert_eq!(result.status, StepStatus::Succeeded);
        assert_eq!(result.stdout.trim(), "done");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        // At least its own; a concurrent step's escape that cleared its
        // environment may be taken in too (see containment.rs).
        assert!(result.killed_processes >= 1, "{result:?}");
        assert_gone(&pids).await;
    }

    #[tokio::test]
    async fn a_double_fork_that_clears_its_environment_is_killed() {
        crate::runbook::containment::become_subreaper();
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pid");
        // The grandchild is orphaned at once, in a new session, with no marker.
        let script = format!(
            "(env -i setsid sh -c 'echo $$ > {}; exec sleep 999' &) ; sleep 0.3; echo started",
            pids.display()
        );
        let result = sh(&script, 10_000).await;
        assert_eq!(result.status, StepStatus::Succeeded);
        assert_gone(&pids).await;
    }

    #[tokio::test]
    async fn a_child_that_closes_its_pipes_is_killed_when_the_step_ends() {
        crate::runbook::containment::become_subreaper();
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pid");
        let script = format!(
            "setsid sh -c 'exec >/dev/null 2>&1 </dev/null; echo $$ > {}; exec sleep 999' & sleep 0.2",
            pids.display()
        );
        let result = sh(&script, 10_000).await;
        assert_eq!(result.status, StepStatus::Succeeded);
        assert_gone(&pids).await;
    }

    #[tokio::test]
    async fn a_stop_kills_the_running_step_and_skips_the_rest() {
        crate::runbook::containment::become_subreaper();
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pid");
        let script = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 999' & sleep 30",
            pids.display()
        );
        let (stop, mut signal) = StopSignal::channel();
        let plan = plan(
            vec![step(&["sh", "-c", &script], 60_000), step(&["true"], 5_000)],
            vec![step(&["true"], 5_000)],
        );
        let runner = tokio::spawn(async move {
            run_plan(&plan, &Secrets::default(), "test", &mut signal, |_| {}).await
        });
        while !pids.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(Some(StopReason::Cancelled)).unwrap();
        let (status, results) = tokio::time::timeout(Duration::from_secs(5), runner)
            .await
            .expect("the run stops promptly")
            .unwrap();
        assert_eq!(status, RunStatus::Cancelled);
        assert_eq!(results.len(), 1, "no later step and no rollback ran");
        assert_eq!(results[0].status, StepStatus::Cancelled);
        assert_gone(&pids).await;
    }

    #[tokio::test]
    async fn leftovers_of_an_execution_are_found_by_their_marker() {
        // Marked as some step's (as every step process is), so no running step
        // of another test takes it for an orphan of its own.
        let mut child = tokio::process::Command::new("sleep")
            .arg("30")
            .env(EXECUTION_ENV, "exec-leftover-test")
            .env(
                crate::runbook::containment::STEP_ENV,
                "exec-leftover-test/1",
            )
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
        let never = || StopSignal::never();
        let (status, results) = run_plan(
            &plan(vec![step(&["false"], 5_000)], vec![step(&["true"], 5_000)]),
            &secrets,
            "test",
            &mut never(),
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
            &mut never(),
            |_| {},
        )
        .await;
        assert_eq!(status, RunStatus::Failed);
        let (status, results) = run_plan(
            &plan(vec![step(&["true"], 5_000), step(&["true"], 5_000)], vec![]),
            &secrets,
            "test",
            &mut never(),
            |_| {},
        )
        .await;
        assert_eq!((status, results.len()), (RunStatus::Succeeded, 2));
        let mut flaky = step(&["false"], 5_000);
        flaky.retries = 2;
        let result = run(&flaky, &secrets).await;
        assert_eq!(
            (result.status, result.attempts, result.exit_code),
            (StepStatus::Failed, 3, Some(1))
        );
        let missing = run(&step(&["/no/such/program"], 5_000), &secrets).await;
        assert!(missing.stderr.contains("cannot start"));
    }
}
