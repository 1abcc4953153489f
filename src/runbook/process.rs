//! One attempt at a process step: a real process started from its argv (never a
//! shell) with a clean environment, watched until it exits, times out or is
//! stopped; then every process it started is killed (see `containment.rs`) and
//! its output, redacted as it streams and then capped, is returned.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::containment::{
    EXECUTION_ENV, SCAN_INTERVAL, STEP_ENV, StepProcesses, forget_root, spawn_root,
};
use super::plan::PlannedStep;
use super::secrets::{Capture, Redactor};
use super::step::{OUTPUT_LIMIT_BYTES, StepStatus, StopSignal};
use crate::infra::secrets::Secrets;

/// How long the output pipes are still read after a step's processes were
/// killed: a process nobody could find may hold them open, and must not keep
/// the step alive.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// What one attempt produced.
pub(super) struct ProcessOutcome {
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
    /// Processes of the step still alive at its end, killed then.
    pub killed: usize,
}

impl ProcessOutcome {
    fn not_started(message: String) -> Self {
        Self {
            status: StepStatus::Failed,
            exit_code: None,
            stdout: String::new(),
            stderr: message,
            truncated: false,
            killed: 0,
        }
    }
}

/// Runs one attempt of `step` for `execution`.
pub(super) async fn run_process(
    step: &PlannedStep,
    secrets: &Secrets,
    redactor: &Redactor,
    execution: &str,
    stop: &mut StopSignal,
) -> ProcessOutcome {
    let Some((program, args)) = step.argv.split_first() else {
        return ProcessOutcome::not_started("empty argv".into());
    };
    let marker = format!("{execution}/{}", uuid::Uuid::new_v4());
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
        .env(STEP_ENV, &marker)
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
            None => return ProcessOutcome::not_started(format!("secret {name} is not configured")),
        }
    }
    let mut child = match spawn_root(&mut command) {
        Ok(child) => child,
        Err(e) => return ProcessOutcome::not_started(format!("cannot start {program}: {e}")),
    };
    let Some(pid) = child.id() else {
        return ProcessOutcome::not_started(format!("{program} exited before it could be watched"));
    };
    let mut processes = StepProcesses::new(pid, &marker);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (ended, ended_signal) = tokio::sync::oneshot::channel::<()>();
    let timeout = Duration::from_millis(step.timeout_ms);

    let control = async {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut scan = tokio::time::interval(SCAN_INTERVAL);
        let (status, exit_code, root_running) = loop {
            tokio::select! {
                exit = child.wait() => break match exit {
                    Ok(exit) if exit.success() => (StepStatus::Succeeded, exit.code(), false),
                    Ok(exit) => (StepStatus::Failed, exit.code(), false),
                    Err(_) => (StepStatus::Failed, None, false),
                },
                () = &mut deadline => break (StepStatus::TimedOut, None, true),
                _ = stop.stopped() => break (StepStatus::Cancelled, None, true),
                _ = scan.tick() => processes.scan(),
            }
        };
        // At the end of the step, at its timeout or when it is stopped: nothing it
        // started outlives it.
        let killed = processes.kill_all(root_running).await;
        if root_running {
            let _ = child.wait().await;
        }
        forget_root(pid);
        let _ = ended.send(());
        (status, exit_code, killed)
    };
    let capture = read_outputs(stdout, stderr, redactor, ended_signal);
    let ((status, exit_code, killed), ((stdout, out_cut), (stderr, err_cut))) =
        tokio::join!(control, capture);
    if killed > 0 {
        tracing::info!(
            execution,
            step = %step.name,
            killed,
            "killed processes the step left running"
        );
    }
    ProcessOutcome {
        status,
        exit_code,
        stdout,
        stderr,
        truncated: out_cut || err_cut,
        killed,
    }
}

/// Reads both pipes to their end, redacting and capping; once `ended` fires
/// (the step is over and its processes killed), reads at most [`PIPE_GRACE`]
/// longer.
async fn read_outputs(
    mut stdout: impl AsyncRead + Unpin,
    mut stderr: impl AsyncRead + Unpin,
    redactor: &Redactor,
    mut ended: tokio::sync::oneshot::Receiver<()>,
) -> ((String, bool), (String, bool)) {
    let mut out = Capture::new(redactor, OUTPUT_LIMIT_BYTES);
    let mut err = Capture::new(redactor, OUTPUT_LIMIT_BYTES);
    let (mut out_open, mut err_open, mut over) = (true, true, false);
    let grace = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(grace);
    let mut out_buf = vec![0u8; 8192];
    let mut err_buf = vec![0u8; 8192];
    while out_open || err_open {
        tokio::select! {
            read = stdout.read(&mut out_buf), if out_open => match read {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => out.push(&out_buf[..n]),
            },
            read = stderr.read(&mut err_buf), if err_open => match read {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => err.push(&err_buf[..n]),
            },
            _ = &mut ended, if !over => {
                over = true;
                grace.as_mut().reset(tokio::time::Instant::now() + PIPE_GRACE);
            }
            () = &mut grace, if over => break,
        }
    }
    (out.finish(), err.finish())
}
