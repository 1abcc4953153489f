//! Outages and duplicates: as tickets with an id are triaged (API or
//! connectors), a sliding window of recent tickets finds bursts of similar
//! ones (a storm: one failure, many tickets) and near-duplicates from the
//! same caller or about the same service. A storm names its parent (the
//! first ticket), its members with their similarity, the words and services
//! they share, and how it grew, so every link is explainable.
//!
//! - `detector`: the window and the algorithm, in memory, deterministic.
//! - `repository`: storms, members and the window in the state database; a
//!   restart rebuilds the window and keeps the open storms.
//!
//! Opening or joining a storm is written before the triage answers; the
//! window's own rows are written in the background (a crash loses at most
//! the last moments of the window, never a storm).

mod detector;
mod repository;
pub mod settings;
pub use settings::StormSettings;

pub use detector::{Detector, DetectorSettings, Duplicate, Observed, StormEvent};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use repository::StormRepository;

/// Storms listed by `GET /v1/storms`.
const LIST_LIMIT: i64 = 200;
/// A word shared by at least this share of a storm's members is one of its terms.
const SHARED_SHARE: f32 = 0.6;
/// Terms listed per storm.
const MAX_TERMS: usize = 8;

/// One ticket in a storm.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StormMember {
    /// Its id.
    pub ticket_id: String,
    /// Its title.
    pub title: String,
    /// When it was opened (Unix ms).
    pub at: i64,
    /// Its similarity to the storm when it joined (the other members' centroid).
    pub similarity: f32,
}

/// A burst of similar tickets: probably one failure.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Storm {
    /// Its id.
    pub id: String,
    /// The first ticket: link the others to it.
    pub parent: String,
    /// When its first ticket was opened (Unix ms).
    pub opened_at: i64,
    /// When its newest ticket was opened (Unix ms).
    pub last_at: i64,
    /// Tickets in it.
    pub size: usize,
    /// Words most of its members share.
    pub terms: Vec<String>,
    /// Services its members name, most named first.
    pub services: Vec<String>,
    /// Configuration items its members mention, most mentioned first: where
    /// the failure probably is.
    pub configuration_items: Vec<String>,
    /// Whether tickets still join it (one arrived within the window).
    pub open: bool,
    /// Its tickets by time (only in `GET /v1/storms/{id}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<StormMember>,
}

/// The storm a triaged ticket is in, as the triage answer names it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StormRef {
    /// The storm's id (`GET /v1/storms/{id}`).
    pub id: String,
    /// Tickets in it so far.
    pub size: usize,
    /// Its first ticket.
    pub parent: String,
    /// This ticket's similarity to the storm.
    pub similarity: f32,
    /// Whether this ticket opened it.
    pub opened: bool,
}

/// An earlier ticket a triaged ticket near-duplicates.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DuplicateRef {
    /// The earlier ticket.
    pub id: String,
    /// Their similarity.
    pub similarity: f32,
    /// `same caller`, `same service` or `same configuration item NAME`.
    pub reason: String,
}

/// What observing a ticket found.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Its storm.
    pub storm: Option<StormRef>,
    /// The ticket it duplicates.
    pub duplicate_of: Option<DuplicateRef>,
}

/// The detector as this process knows it, and how far it has followed the
/// shared database.
struct Synced {
    detector: Detector,
    /// The last change (of any replica) applied to `detector`.
    seq: i64,
    /// The deletion generation `detector` was loaded at; `None` when it must
    /// be reloaded (a change of its own failed to commit).
    generation: Option<i64>,
}

/// Detection plus its storage. The window and the storms live in the state
/// database, so replicas sharing it see each other's tickets: each places a
/// ticket while holding the detection turn (a row of `storm_sync`), after
/// applying what the others changed since it last looked.
pub struct StormService {
    /// Held only for in-memory work on the detector (microseconds), never
    /// across an await.
    state: parking_lot::Mutex<Synced>,
    repository: StormRepository,
    settings: DetectorSettings,
    similarity: f32,
}

impl StormService {
    /// Opens the storms in `pool`, rebuilding the window and the open storms.
    pub async fn start(
        pool: sqlx::AnyPool,
        settings: &StormSettings,
    ) -> Result<Arc<Self>, sqlx::Error> {
        let window_ms = i64::try_from(settings.window_minutes * 60_000).unwrap_or(i64::MAX);
        let duplicate_window_ms =
            i64::try_from(settings.duplicate_window_hours * 3_600_000).unwrap_or(i64::MAX);
        let detector_settings = DetectorSettings {
            window_ms,
            min_tickets: settings.min_tickets.max(2),
            similarity: settings.similarity,
            duplicate_window_ms,
            duplicate_similarity: settings.duplicate_similarity,
            max_tickets: settings.max_window_tickets.max(1),
            burst_factor: settings.burst_factor.max(0.0),
        };
        let repository = StormRepository::new(pool);
        let mut conn = repository.acquire().await?;
        let state = Self::load_in(&mut conn, detector_settings).await?;
        // Older rows are of no use any more.
        let horizon = window_ms.max(duplicate_window_ms);
        StormRepository::trim_in(&mut conn, state.detector.newest().saturating_sub(horizon))
            .await?;
        tracing::info!(
            window = state.detector.window().count(),
            "storm window rebuilt"
        );
        Ok(Arc::new(Self {
            state: parking_lot::Mutex::new(state),
            repository,
            settings: detector_settings,
            similarity: settings.similarity,
        }))
    }

    /// The detector as stored: the window and the open storms, at the change
    /// number read first (rows written meanwhile are applied again later,
    /// which changes nothing).
    async fn load_in(
        conn: &mut sqlx::AnyConnection,
        settings: DetectorSettings,
    ) -> Result<Synced, sqlx::Error> {
        let (seq, generation) = StormRepository::position_in(conn).await?;
        let mut detector = Detector::new(settings);
        let window =
            StormRepository::window_in(conn, settings.window_ms.max(settings.duplicate_window_ms))
                .await?;
        let newest = window.iter().map(|o| o.at).max().unwrap_or(0);
        let mut by_id: BTreeMap<String, Observed> =
            window.into_iter().map(|o| (o.id.clone(), o)).collect();
        for storm in StormRepository::recent_in(conn, newest - settings.window_ms).await? {
            let members: Vec<(Observed, f32)> = storm
                .members
                .iter()
                .filter_map(|m| by_id.remove(&m.ticket_id).map(|o| (o, m.similarity)))
                .collect();
            if !members.is_empty() {
                detector.restore(storm.id, storm.parent, members);
            }
        }
        for observed in by_id.into_values() {
            detector.remember(observed);
        }
        Ok(Synced {
            detector,
            seq,
            generation: Some(generation),
        })
    }

    /// The cosine similarity that joins tickets into a storm
    /// (`storms.similarity`): what a ticket's background share is counted at.
    pub fn similarity(&self) -> f32 {
        self.similarity
    }

    /// Ticket `ticket_id` was resolved or closed: it stays in its storm, but
    /// a new ticket is no longer its duplicate (here at once, on the other
    /// replicas when they next place a ticket, and after a restart).
    pub async fn process_closed(&self, ticket_id: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.repository.begin().await?;
        let (seq, _) = StormRepository::take_turn_in(&mut tx).await?;
        StormRepository::close_in(&mut tx, ticket_id, crate::infra::clock::now_ms(), seq).await?;
        tx.commit().await?;
        self.state.lock().detector.close(ticket_id);
        Ok(())
    }

    /// Erasure: removes ticket `ticket_id` from the stored window and storms
    /// inside the caller's transaction; call [`Self::forget_in_memory`] once
    /// it commits.
    pub async fn forget_in(
        conn: &mut sqlx::AnyConnection,
        ticket_id: &str,
    ) -> Result<u64, sqlx::Error> {
        StormRepository::forget_in(conn, ticket_id).await
    }

    /// Erasure: removes ticket `ticket_id` from this process's window and storms.
    pub fn forget_in_memory(&self, ticket_id: &str) {
        self.state.lock().detector.forget(ticket_id);
    }

    /// Retention: deletes storms whose last ticket came before `before`
    /// (Unix ms), with their members, and window rows as old.
    pub async fn purge_before_in(
        conn: &mut sqlx::AnyConnection,
        before: i64,
    ) -> Result<u64, sqlx::Error> {
        StormRepository::purge_before_in(conn, before).await
    }

    /// Places a triaged ticket: the storm it opens or joins, the ticket it
    /// duplicates. `background` measures the share of the desk's history
    /// similar to a vector ([`Observed::background`]); it is asked only
    /// when the ticket could make a storm. The ticket's window row and any storm change are
    /// committed before this returns; a failure leaves the stored storms as
    /// they were.
    pub async fn observe<F, Fut>(
        &self,
        ticket: Observed,
        background: F,
    ) -> Result<Observation, sqlx::Error>
    where
        F: FnOnce(Vec<f32>) -> Fut,
        Fut: std::future::Future<Output = f32>,
    {
        let mut tx = self.repository.begin().await?;
        let placed = self.place_in(&mut tx, ticket, background).await;
        let placed = match placed {
            Ok(placed) => tx.commit().await.map(|()| placed),
            Err(e) => Err(e),
        };
        let mut state = self.state.lock();
        match placed {
            Ok((observation, seq)) => {
                state.seq = seq;
                Ok(observation)
            }
            Err(e) => {
                // What the detector took in is not stored: reload it.
                state.generation = None;
                Err(e)
            }
        }
    }

    /// [`Self::observe`] inside the transaction that holds the detection
    /// turn; returns the observation and the change number it wrote.
    async fn place_in<F, Fut>(
        &self,
        conn: &mut sqlx::AnyConnection,
        mut ticket: Observed,
        background: F,
    ) -> Result<(Observation, i64), sqlx::Error>
    where
        F: FnOnce(Vec<f32>) -> Fut,
        Fut: std::future::Future<Output = f32>,
    {
        let (seq, generation) = StormRepository::take_turn_in(conn).await?;
        // Catch up with the other replicas (the turn is ours: nothing else
        // is placed until this commits).
        let (known_seq, known_generation) = {
            let state = self.state.lock();
            (state.seq, state.generation)
        };
        if known_generation == Some(generation) && seq == known_seq + 1 {
            // The turn right after this replica's last: nothing to catch up
            // on (a single process always, so it skips the two reads).
        } else if known_generation == Some(generation) {
            let (window, members) = StormRepository::changes_in(conn, known_seq, seq).await?;
            let mut state = self.state.lock();
            for observed in window {
                state.detector.remember(observed);
            }
            for m in members {
                state
                    .detector
                    .adopt(&m.storm, &m.parent, &m.ticket, m.similarity);
            }
        } else {
            let loaded = Self::load_in(conn, self.settings).await?;
            *self.state.lock() = loaded;
        }
        let might_burst = self.state.lock().detector.might_burst(&ticket);
        if might_burst {
            ticket.background = background(ticket.vector.clone()).await;
        }
        let (event, duplicate, storm) = {
            let mut state = self.state.lock();
            // From here the detector holds what this turn writes.
            state.generation = None;
            let detector = &mut state.detector;
            let duplicate = detector.duplicate_of(&ticket);
            let event = detector.observe(ticket.clone());
            let storm = match &event {
                StormEvent::None => None,
                StormEvent::Opened { storm, .. }
                | StormEvent::Joined { storm, .. }
                | StormEvent::Member { storm, .. } => detector
                    .storm(storm)
                    .is_some()
                    .then(|| self.summary(detector, storm)),
            };
            (event, duplicate, storm)
        };
        let duplicate_of = duplicate.map(|d| DuplicateRef {
            id: d.id,
            similarity: d.similarity,
            reason: d.reason,
        });
        if let Some(duplicate) = &duplicate_of {
            tracing::info!(ticket = %ticket.id, original = %duplicate.id, similarity = duplicate.similarity, reason = %duplicate.reason, "duplicate ticket");
        }
        // A ticket triaged again keeps its first row.
        if !matches!(event, StormEvent::Member { .. }) {
            StormRepository::remember_in(conn, &ticket, seq).await?;
        }
        let storm_ref = match (&event, storm) {
            (_, None) | (StormEvent::None, _) => None,
            (StormEvent::Opened { .. }, Some(storm)) => {
                StormRepository::open_in(conn, &storm, seq).await?;
                crate::metrics::global().storms_opened.inc();
                tracing::warn!(storm = %storm.id, parent = %storm.parent, size = storm.size, terms = ?storm.terms, background = ticket.background, "storm opened: tickets about one failure");
                Some((storm, 1.0, true))
            }
            (StormEvent::Joined { similarity, .. }, Some(storm)) => {
                let member = storm
                    .members
                    .iter()
                    .find(|m| m.ticket_id == ticket.id)
                    .cloned()
                    .expect("the joining ticket is a member");
                StormRepository::join_in(conn, &storm, &member, seq).await?;
                Some((storm, *similarity, false))
            }
            (StormEvent::Member { similarity, .. }, Some(storm)) => {
                Some((storm, *similarity, false))
            }
        };
        self.state.lock().generation = Some(generation);
        Ok((
            Observation {
                storm: storm_ref.map(|(storm, similarity, opened)| StormRef {
                    opened,
                    id: storm.id,
                    size: storm.size,
                    parent: storm.parent,
                    similarity,
                }),
                duplicate_of,
            },
            seq,
        ))
    }

    /// A storm as the detector knows it now, with its members.
    fn summary(&self, detector: &Detector, id: &str) -> Storm {
        let tracked = detector.storm(id).expect("a storm just seen");
        let members: Vec<&Observed> = detector.members_of(id).collect();
        let titles: BTreeMap<&str, &str> = members
            .iter()
            .map(|o| (o.id.as_str(), o.title.as_str()))
            .collect();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut services: BTreeMap<&str, usize> = BTreeMap::new();
        let mut cis: BTreeMap<&str, usize> = BTreeMap::new();
        for member in &members {
            for ci in &member.cis {
                *cis.entry(ci).or_default() += 1;
            }
            for term in &member.terms {
                *counts.entry(term).or_default() += 1;
            }
            if let Some(service) = &member.service {
                *services.entry(service).or_default() += 1;
            }
        }
        let needed = ((members.len() as f32) * SHARED_SHARE).ceil().max(2.0) as usize;
        let mut terms: Vec<(&str, usize)> =
            counts.into_iter().filter(|(_, n)| *n >= needed).collect();
        terms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut services: Vec<(&str, usize)> = services.into_iter().collect();
        services.sort_by_key(|s| std::cmp::Reverse(s.1));
        let mut cis: Vec<(&str, usize)> = cis.into_iter().collect();
        cis.sort_by_key(|s| std::cmp::Reverse(s.1));
        Storm {
            id: tracked.id.clone(),
            parent: tracked.parent.clone(),
            opened_at: tracked.members.first().map_or(0, |m| m.1),
            last_at: tracked.last_at,
            size: tracked.members.len(),
            terms: terms
                .into_iter()
                .take(MAX_TERMS)
                .map(|(t, _)| t.to_owned())
                .collect(),
            services: services.into_iter().map(|(s, _)| s.to_owned()).collect(),
            configuration_items: cis.into_iter().map(|(s, _)| s.to_owned()).collect(),
            open: true,
            members: tracked
                .members
                .iter()
                .map(|(ticket, at, similarity)| StormMember {
                    ticket_id: ticket.clone(),
                    title: titles
                        .get(ticket.as_str())
                        .copied()
                        .unwrap_or_default()
                        .to_owned(),
                    at: *at,
                    similarity: *similarity,
                })
                .collect(),
        }
    }

    /// Storms, newest first.
    pub async fn list(&self) -> Result<Vec<Storm>, sqlx::Error> {
        let newest = self.state.lock().detector.newest();
        let mut storms = self.repository.list(LIST_LIMIT).await?;
        for storm in &mut storms {
            storm.open = storm.last_at >= newest - self.settings.window_ms;
        }
        Ok(storms)
    }

    /// One storm with its members.
    pub async fn get(&self, id: &str) -> Result<Option<Storm>, sqlx::Error> {
        let newest = self.state.lock().detector.newest();
        let mut storm = self.repository.get(id).await?;
        if let Some(storm) = &mut storm {
            storm.open = storm.last_at >= newest - self.settings.window_ms;
        }
        Ok(storm)
    }
}

/// The meaningful words of a ticket (what a storm's members are said to share).
pub fn ticket_terms(title: &str, description: &str) -> BTreeSet<String> {
    crate::classify::tokens(&format!("{title}\n{description}"))
        .into_iter()
        .filter(|t| crate::classify::explains(t))
        .collect()
}
