//! Deterministic crash points, so tests can stop the process at an exact step
//! instead of killing it after a guessed sleep.
//!
//! With `SWITCHBOARD_TEST_CRASH_AT=NAME` (or `NAME@N`: the N-th time) the process
//! aborts when it reaches [`point`]`(NAME)`: no destructor runs and nothing is
//! flushed, as after `kill -9`. Without the variable a point costs one load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the crash point.
pub const CRASH_AT_ENV: &str = "SWITCHBOARD_TEST_CRASH_AT";

struct Target {
    name: String,
    nth: u64,
    hits: AtomicU64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var(CRASH_AT_ENV).ok()?;
            let (name, nth) = match spec.split_once('@') {
                Some((name, n)) => (name.to_owned(), n.parse().ok()?),
                None => (spec, 1),
            };
            Some(Target {
                name,
                nth,
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process if the crash point `name` is armed and due.
pub fn point(name: &str) {
    let Some(target) = target() else {
        return;
    };
    if target.name == name && target.hits.fetch_add(1, Ordering::SeqCst) + 1 == target.nth {
        eprintln!("crash point {name} reached: aborting");
        std::process::abort();
    }
}
