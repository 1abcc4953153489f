//! Finding and killing every process a step started, including those that left
//! its process group or session (`setsid`), double-forked, or closed their
//! output pipes.
//!
//! The service makes itself a child subreaper ([`become_subreaper`]): a process
//! whose parent exits is re-parented to the service instead of to init, so it
//! stays findable. While a step runs, [`StepProcesses::scan`] walks the step's
//! descendants every few milliseconds and remembers each (pid, start time), and
//! takes in orphans re-parented to the service that carry the step's
//! [`STEP_ENV`] marker, or that carry no marker, left their process group and
//! started after the step did. At the timeout, at cancel and when the step
//! ends, [`StepProcesses::kill_all`] kills them all and reaps the ones that
//! became the service's children.
//!
//! What this cannot see: a descendant that clears its environment and is
//! orphaned within one scan interval *and* stays in the service's own process
//! group. A cgroup per execution would close that gap where cgroups can be
//! delegated; the pipes of such a process do not keep the step alive (see
//! `process.rs`).

use std::collections::HashMap;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// Environment variable naming the execution a step process belongs to, so a
/// restarted service can find and kill what an interrupted run left behind.
pub const EXECUTION_ENV: &str = "SWITCHBOARD_EXECUTION";
/// Environment variable naming one attempt of one step, so its orphans can be
/// told from another step's.
pub const STEP_ENV: &str = "SWITCHBOARD_STEP";

/// How often a running step's processes are looked for.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(20);

/// First processes of the steps this service is running, from just before they
/// are started until they are reaped: children of the service that are never
/// another step's orphans, even while they are half-way through exec (no
/// program arguments or environment to read yet). Held while one is started.
static STEP_ROOTS: parking_lot::Mutex<std::collections::BTreeSet<i32>> =
    parking_lot::Mutex::new(std::collections::BTreeSet::new());

/// Starts a step's first process and registers it (see [`STEP_ROOTS`]);
/// [`forget_root`] unregisters it once it is reaped.
pub fn spawn_root(command: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    let mut roots = STEP_ROOTS.lock();
    let child = command.spawn()?;
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        roots.insert(pid);
    }
    Ok(child)
}

/// Unregisters a step's first process once it has been reaped.
pub fn forget_root(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        STEP_ROOTS.lock().remove(&pid);
    }
}

/// Makes this process the reaper of its orphaned descendants (Linux), so
/// processes a step leaves behind are re-parented here and can be found.
/// Returns false where the system does not allow it.
pub fn become_subreaper() -> bool {
    match nix::sys::prctl::set_child_subreaper(true) {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "cannot become a child subreaper: processes that escape a step's session are found only while their parent lives");
            false
        }
    }
}

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: char,
    ppid: i32,
    pgrp: i32,
    /// Clock ticks after boot; tells a process from a later one with the same pid.
    start: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may contain anything.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Who is whose child: a quick look (each process's `children` files, which
/// can miss a child while its parent's threads come and go), or every process's
/// parent from a walk of `/proc` (complete, used before killing).
enum Family {
    Quick,
    Complete(HashMap<i32, Vec<i32>>),
}

impl Family {
    fn complete() -> Self {
        let mut by_parent: HashMap<i32, Vec<i32>> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for pid in entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            {
                if let Some(stat) = stat(pid) {
                    by_parent.entry(stat.ppid).or_default().push(pid);
                }
            }
        }
        Self::Complete(by_parent)
    }

    fn children(&self, pid: i32) -> Vec<i32> {
        match self {
            Self::Quick => children(pid),
            Self::Complete(by_parent) => by_parent.get(&pid).cloned().unwrap_or_default(),
        }
    }
}

/// Children of `pid`, from every one of its threads.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for task in tasks.filter_map(Result::ok) {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            found.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    found
}

/// The value of `name` in the environment `pid` started with, if readable.
fn environ_value(pid: i32, name: &str) -> Option<Option<Vec<u8>>> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    Some(
        env.split(|b| *b == 0)
            .find_map(|v| v.strip_prefix(prefix.as_bytes()).map(<[u8]>::to_vec)),
    )
}

/// Whether an orphan re-parented to the service is one of this step's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Mine,
    NotMine,
    /// Half-way through exec (no arguments yet, or its program changed while
    /// it was looked at): a later look decides.
    Undecided,
}

/// The processes of one step attempt.
pub struct StepProcesses {
    root: i32,
    root_start: u64,
    marker: String,
    me: i32,
    my_group: i32,
    /// Every process found so far, by pid, with its start time.
    seen: HashMap<i32, u64>,
}

impl StepProcesses {
    /// Tracks the step whose first process is `root`, started with
    /// `STEP_ENV=marker`.
    pub fn new(root: u32, marker: &str) -> Self {
        let root = i32::try_from(root).unwrap_or(i32::MAX);
        let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        Self {
            root,
            root_start: stat(root).map_or(0, |s| s.start),
            marker: marker.to_owned(),
            me,
            my_group: stat(me).map_or(0, |s| s.pgrp),
            seen: HashMap::new(),
        }
    }

    /// Looks for new processes of the step: descendants of its first process and
    /// of every process seen, and orphans re-parented to the service.
    pub fn scan(&mut self) {
        // An undecided orphan is looked at again at the next scan.
        let _ = self.scan_with(&Family::Quick);
    }

    /// Returns whether an orphan could not be decided yet (see [`Claim`]).
    fn scan_with(&mut self, family: &Family) -> bool {
        let mut frontier: Vec<i32> = std::iter::once(self.root)
            .chain(self.seen.keys().copied())
            .collect();
        let mut undecided = false;
        for orphan in family.children(self.me) {
            if orphan == self.root || self.seen.contains_key(&orphan) {
                continue;
            }
            match self.claims(orphan) {
                Claim::Mine => self.remember(orphan, &mut frontier),
                Claim::Undecided => undecided = true,
                Claim::NotMine => {}
            }
        }
        while let Some(pid) = frontier.pop() {
            for child in family.children(pid) {
                if !self.seen.contains_key(&child) {
                    self.remember(child, &mut frontier);
                }
            }
        }
        undecided
    }

    fn remember(&mut self, pid: i32, frontier: &mut Vec<i32>) {
        if let Some(stat) = stat(pid) {
            self.seen.insert(pid, stat.start);
            frontier.push(pid);
        }
    }

    /// Whether an orphan re-parented to the service belongs to this step.
    fn claims(&self, pid: i32) -> Claim {
        // Held while deciding: no step's first process starts meanwhile.
        let roots = STEP_ROOTS.lock();
        if roots.contains(&pid) {
            return Claim::NotMine;
        }
        let Some(stat) = stat(pid) else {
            return Claim::NotMine;
        };
        // A zombie is reaped elsewhere; a process with no arguments is half-way
        // through exec, its environment not readable yet: a later look decides.
        if stat.state == 'Z' {
            return Claim::NotMine;
        }
        let arguments = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if arguments.is_empty() {
            return Claim::Undecided;
        }
        // The environment is read between two looks at the program: a process
        // caught between fork and exec still shows the service's environment,
        // and one that execs meanwhile is looked at again at the next scan.
        let exe = || std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let before = exe();
        let marker = environ_value(pid, STEP_ENV);
        if before.is_none() {
            return Claim::NotMine;
        }
        if exe() != before {
            return Claim::Undecided;
        }
        let mine = match marker {
            Some(Some(value)) => value == self.marker.as_bytes(),
            // No marker (the environment was cleared): a process that left the
            // service's own group and started after this step is taken for one
            // of the step's; the service starts no other processes. A copy of
            // the service itself is a step being started (forked, not yet
            // running its program).
            Some(None) => {
                stat.pgrp != self.my_group
                    && stat.start >= self.root_start
                    && before != std::fs::read_link("/proc/self/exe").ok()
            }
            // The environment could not be read (the process is exiting or
            // between two programs): a later look decides.
            None => return Claim::Undecided,
        };
        if mine { Claim::Mine } else { Claim::NotMine }
    }

    /// Kills every process of the step still alive (its first process too,
    /// when `root_alive`: not yet reaped, so its pid and group are still its
    /// own) and reaps those re-parented to the service; returns how many were
    /// killed.
    pub async fn kill_all(&mut self, root_alive: bool) -> usize {
        let mut killed = std::collections::HashSet::new();
        for round in 0..200 {
            // An orphan caught half-way through exec keeps the loop going
            // until it can be told apart: a step's process that escaped a
            // moment before the step ended is not missed.
            let undecided = self.scan_with(&Family::complete());
            self.reap();
            let live: Vec<i32> = self
                .seen
                .iter()
                .filter(|(pid, start)| is_alive(**pid, **start))
                .map(|(pid, _)| *pid)
                .collect();
            if round == 0 && root_alive {
                // The step's own group too: it catches what no scan has seen yet.
                let _ = killpg(Pid::from_raw(self.root), Signal::SIGKILL);
            } else if live.is_empty() && !undecided {
                break;
            }
            for pid in live {
                if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                    killed.insert(pid);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.reap();
        killed.len()
    }

    /// Reaps the step's processes that ended as the service's children (the
    /// first process is tokio's to reap).
    fn reap(&self) {
        for (&pid, &start) in &self.seen {
            let ours =
                stat(pid).is_some_and(|s| s.ppid == self.me && s.state == 'Z' && s.start == start);
            if ours && pid != self.root {
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            }
        }
    }
}

fn is_alive(pid: i32, start: u64) -> bool {
    stat(pid).is_some_and(|s| s.start == start && s.state != 'Z' && s.state != 'X')
}

/// Process groups still running steps of `execution` (found by their
/// [`EXECUTION_ENV`] marker); after a crash these belong to no live run.
pub fn leftover_process_groups(execution: &str) -> Vec<i32> {
    let mut groups: Vec<i32> = leftover_processes(execution)
        .into_iter()
        .filter_map(|pid| stat(pid).map(|s| s.pgrp))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

fn leftover_processes(execution: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            environ_value(*pid, EXECUTION_ENV)
                .flatten()
                .is_some_and(|v| v == execution.as_bytes())
        })
        .collect()
}

/// Kills what [`leftover_process_groups`] finds, and every process carrying
/// the execution's marker outside those groups; returns the groups killed.
pub fn kill_leftovers(execution: &str) -> Vec<i32> {
    let groups = leftover_process_groups(execution);
    for &group in &groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
    for pid in leftover_processes(execution) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    groups
}
