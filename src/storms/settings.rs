//! `[storms]`: the window, burst and duplicate rules.

use serde::{Deserialize, Serialize};

/// Storms (bursts of similar tickets: an outage) and duplicates, detected as
/// tickets with an id are triaged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StormSettings {
    /// Detect storms and duplicates at all.
    pub enabled: bool,
    /// How far back a burst is looked for, in minutes; a storm with no new
    /// member for this long is over.
    pub window_minutes: u64,
    /// Tickets that make a storm.
    pub min_tickets: usize,
    /// Cosine similarity to the storm (its members' centroid) to join it, and
    /// between tickets to open one.
    pub similarity: f32,
    /// How far back duplicates of the same caller or service are looked for, in hours.
    pub duplicate_window_hours: u64,
    /// Cosine similarity that makes a duplicate.
    pub duplicate_similarity: f32,
    /// Most tickets kept in the window.
    pub max_window_tickets: usize,
    /// How far above its usual rate (from the kept history) a topic must be
    /// to open a storm: a storm needs `min_tickets + burst_factor x usual`.
    pub burst_factor: f32,
}

impl Default for StormSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window_minutes: 15,
            min_tickets: 4,
            similarity: 0.6,
            duplicate_window_hours: 24,
            duplicate_similarity: 0.95,
            max_window_tickets: 20_000,
            burst_factor: 3.0,
        }
    }
}
