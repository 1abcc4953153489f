//! The poller of connectors whose system sends no events (Request Tracker):
//! every `poll_interval_s`, the changes after the saved cursor are queued as
//! jobs, page by page, and the cursor is saved after each page. The same
//! loop catches up a connector with events (django-helpdesk) at start and
//! every `reconcile_interval_s`: what an event already brought is a
//! duplicate of its catch-up (the same ticket and revision). Jobs are queued
//! before the cursor moves, and the same change always gets the same dedupe
//! key, so a poll cut short anywhere (crash, outage, shutdown) loses nothing
//! and queues nothing twice; an outage only delays: the next poll catches up.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::ConnectorService;
use super::outbox::Cursors;
use super::service::count;

/// The cursor kind of a connector's poll.
const CURSOR: &str = "poll";

impl ConnectorService {
    /// Polls connector `name` every `every` until shutdown.
    pub(super) async fn poll(self: Arc<Self>, name: String, every: Duration) {
        while !self.closing.load(Ordering::SeqCst) {
            match self.poll_once(&name).await {
                Ok(0) => {}
                Ok(queued) => tracing::info!(connector = %name, queued, "polled"),
                Err(err) => {
                    count(&name, "poll_failed");
                    tracing::warn!(connector = %name, error = %err, "poll failed; will try again");
                }
            }
            // Sleep until the next poll (on the service's clock); `wake` (new
            // jobs, shutdown) only interrupts the sleep to look at `closing`.
            let next = self.outbox.clock().sleep(every);
            tokio::pin!(next);
            loop {
                let woken = self.wake.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                if self.closing.load(Ordering::SeqCst) {
                    return;
                }
                tokio::select! {
                    () = &mut woken => {}
                    () = &mut next => break,
                }
            }
        }
    }

    /// One poll of connector `name`: every page of changes queued, the cursor
    /// saved after each. Returns how many jobs were queued.
    pub async fn poll_once(&self, name: &str) -> Result<usize, String> {
        let registered = self
            .connectors
            .get(name)
            .ok_or_else(|| format!("no connector {name:?}"))?;
        let cursors = Cursors::new(self.outbox.pool());
        let mut cursor = cursors
            .get(name, CURSOR)
            .await
            .map_err(|e| format!("database: {e}"))?;
        let mut queued = 0;
        loop {
            let changes = registered
                .connector
                .changes(cursor.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            for ticket in &changes.tickets {
                let fallback = format!("poll:{}:{}", ticket.id, changes.cursor);
                let accepted = self
                    .queue(name, registered, ticket, fallback, Vec::new())
                    .await
                    .map_err(|e| format!("database: {e}"))?;
                if matches!(accepted, super::Accepted::Queued { .. }) {
                    queued += 1;
                }
            }
            crate::infra::crash::point("connector.poll_before_cursor");
            cursors
                .set(name, CURSOR, &changes.cursor)
                .await
                .map_err(|e| format!("database: {e}"))?;
            if !changes.more || self.closing.load(Ordering::SeqCst) {
                crate::metrics::global()
                    .connector_last_poll
                    .get_or_create(&crate::metrics::ConnectorName {
                        connector: name.to_owned(),
                    })
                    .set(crate::infra::clock::now_ms() / 1000);
                // Every finished poll or catch-up, also one that found
                // nothing new: what shows it ran, where nothing else would.
                count(name, "polled");
                return Ok(queued);
            }
            cursor = Some(changes.cursor);
        }
    }
}
