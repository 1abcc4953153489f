//! Time as a seam. Everything that decides by the time (when a failed
//! connector job is due again, when an approval expires, how long a run's
//! lease lasts) asks a [`Clock`] instead of the operating system, so a test
//! can move time forward instead of sleeping through it.
//!
//! [`SystemClock`] is the real one; [`TestClock`] stands still until a test
//! advances it, and wakes every [`Clock::sleep`] whose deadline it passes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A future that resolves once a clock has moved on far enough.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The time as the service sees it. Implementations are cheap to call and
/// shared behind an [`Arc`] ([`SharedClock`]).
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Resolves once `duration` has passed on this clock (at once for zero).
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The clock every service holds.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock and tokio's timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock as the shared handle services hold.
    pub fn shared() -> SharedClock {
        Arc::new(Self)
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that stands still until [`TestClock::advance`] moves it. Sleepers
/// wake when the time passes their deadline, in the order the test moves it.
#[derive(Debug)]
pub struct TestClock {
    /// The current time in ms; receivers are the sleepers waiting for it.
    now: tokio::sync::watch::Sender<i64>,
}

impl TestClock {
    /// A clock standing at `ms` since the Unix epoch.
    pub fn starting_at(ms: i64) -> Arc<Self> {
        Arc::new(Self {
            now: tokio::sync::watch::Sender::new(ms),
        })
    }

    /// A clock standing at the system's current time.
    pub fn now() -> Arc<Self> {
        Self::starting_at(now_ms())
    }

    /// Moves the clock forward by `by`, waking every sleeper whose deadline passed.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now.send_modify(|now| *now = now.saturating_add(by));
    }

    /// Moves the clock to `ms` (never backwards: an earlier time is ignored).
    pub fn set(&self, ms: i64) {
        self.now.send_modify(|now| *now = (*now).max(ms));
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        *self.now.borrow()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let deadline = self
            .now_ms()
            .saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
        let mut now = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock; a dropped clock never wakes.
            if now.wait_for(|now| *now >= deadline).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// Milliseconds since the Unix epoch on the system clock: for command-line
/// tools and records that are not decided by time (an audit entry's stamp).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_test_clock_stands_still_until_advanced() {
        let clock = TestClock::starting_at(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(Duration::from_millis(250));
        assert_eq!(clock.now_ms(), 1_250);
        clock.set(1_000);
        assert_eq!(clock.now_ms(), 1_250, "never backwards");
    }

    #[tokio::test]
    async fn a_sleeper_wakes_when_the_clock_passes_its_deadline() {
        let clock = TestClock::starting_at(0);
        let sleeping = tokio::spawn(clock.sleep(Duration::from_secs(60)));
        clock.advance(Duration::from_secs(59));
        tokio::task::yield_now().await;
        assert!(!sleeping.is_finished(), "59 s of 60 is not enough");
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeping)
            .await
            .expect("woken once the minute has passed")
            .unwrap();
    }

    #[tokio::test]
    async fn a_zero_sleep_resolves_at_once() {
        let clock = TestClock::starting_at(5);
        tokio::time::timeout(Duration::from_secs(1), clock.sleep(Duration::ZERO))
            .await
            .expect("no wait for zero");
    }
}
