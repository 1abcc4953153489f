//! Refused requests (a wrong token on `/v1/executions`, a badly signed
//! delivery to a known connector) in the audit chain without letting
//! strangers grow it: each is counted (`switchboard_refusals_total`), and
//! the chain gets one entry per surface when its first refusal comes and at
//! most one a minute after that, holding how many were refused since and
//! the last one's details. A flood of 100,000 anonymous requests adds a
//! handful of entries, takes the chain's lock as rarely, and logs as
//! rarely (a warning with each sampled entry).

use std::collections::BTreeMap;

/// Least time between two entries about one surface, in ms.
pub const SAMPLE_INTERVAL_MS: i64 = 60_000;
/// Surfaces tracked apart; beyond this many, the rest share one.
const MAX_SURFACES: usize = 64;

/// Refusals of one surface not yet in the chain.
#[derive(Debug, Default)]
struct Pending {
    /// Refused since the last entry (this one included when it is due).
    count: u64,
    /// When the last entry about this surface was written (ms); `None`: never.
    last_entry_at: Option<i64>,
}

/// An entry that is due: how many refusals it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueSample {
    /// Refusals since the previous entry, this one included.
    pub refused: u64,
}

/// Counts refusals by surface and says when one is due for the chain.
#[derive(Debug, Default)]
pub struct RefusalSampler {
    /// Held for a map update (microseconds), never across an await.
    pending: parking_lot::Mutex<BTreeMap<String, Pending>>,
}

impl RefusalSampler {
    /// Notes a refusal on `surface` at `now` (ms): `Some` when an entry is
    /// due (the surface's first refusal, or a minute since its last entry).
    pub fn note(&self, surface: &str, now: i64) -> Option<DueSample> {
        crate::metrics::global()
            .refusals
            .get_or_create(&crate::metrics::SurfaceLabels {
                surface: surface.to_owned(),
            })
            .inc();
        let mut pending = self.pending.lock();
        let key = if pending.contains_key(surface) || pending.len() < MAX_SURFACES {
            surface
        } else {
            "other"
        };
        let entry = pending.entry(key.to_owned()).or_default();
        entry.count += 1;
        let due = entry
            .last_entry_at
            .is_none_or(|at| now - at >= SAMPLE_INTERVAL_MS);
        due.then(|| {
            let sample = DueSample {
                refused: entry.count,
            };
            entry.count = 0;
            entry.last_entry_at = Some(now);
            sample
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_one_entry_a_minute_counting_the_rest() {
        let sampler = RefusalSampler::default();
        assert_eq!(
            sampler.note("executions", 0),
            Some(DueSample { refused: 1 })
        );
        for n in 1..10_000 {
            assert_eq!(sampler.note("executions", n), None);
        }
        assert_eq!(
            sampler.note("executions", SAMPLE_INTERVAL_MS),
            Some(DueSample { refused: 10_000 })
        );
    }

    #[test]
    fn each_surface_has_its_own_first_entry() {
        let sampler = RefusalSampler::default();
        assert!(sampler.note("executions", 0).is_some());
        assert!(sampler.note("connector:desk", 1).is_some());
        assert!(sampler.note("connector:desk", 2).is_none());
    }
}
