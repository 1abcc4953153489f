//! Burst detection over a sliding window of recent tickets, in memory and
//! deterministic (every call carries its ticket's time), so it is tested
//! without clocks and rebuilt after a restart by replaying the window.
//!
//! A ticket joins the open storm whose centroid it is closest to, when that
//! similarity reaches `similarity`. Otherwise, when the tickets of the last
//! `window` that belong to no storm and are that similar to it come, with
//! it, from enough reporters (`min_tickets` people, more for a topic that
//! is always frequent; one caller's tickets count once), they open a storm
//! together, the earliest as its parent. A storm with
//! no new member for a window is over. Comparing with the storm's centroid,
//! not with any member, keeps a storm from drifting link by link into
//! unrelated tickets.
//!
//! Duplicates: a ticket that is at least `duplicate_similarity` similar to an
//! earlier ticket of the same caller (or about the same service) within
//! `duplicate_window` is flagged with that ticket's id.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::vectors::dot;

/// The detector's thresholds.
#[derive(Debug, Clone, Copy)]
pub struct DetectorSettings {
    /// How far back a burst is looked for, in ms.
    pub window_ms: i64,
    /// Tickets that make a storm.
    pub min_tickets: usize,
    /// Cosine similarity to join or open a storm.
    pub similarity: f32,
    /// How far back duplicates are looked for, in ms.
    pub duplicate_window_ms: i64,
    /// Cosine similarity that makes a duplicate.
    pub duplicate_similarity: f32,
    /// Most tickets kept in the window (the oldest go first).
    pub max_tickets: usize,
    /// How far above its usual rate a topic must be to open a storm.
    pub burst_factor: f32,
}

/// A triaged ticket as the detector sees it.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Its id.
    pub id: String,
    /// Its title (shown with the storm's members).
    pub title: String,
    /// When it was opened (Unix ms).
    pub at: i64,
    /// Its unit-length embedding.
    pub vector: Vec<f32>,
    /// Who raised it, if known.
    pub caller: Option<String>,
    /// The affected service, if known.
    pub service: Option<String>,
    /// Its meaningful words (for the terms a storm's members share).
    pub terms: BTreeSet<String>,
    /// Configuration items it mentions (inventory names).
    pub cis: Vec<String>,
    /// Resolved or closed since: a new ticket is not its duplicate.
    pub closed: bool,
    /// The share (0-1) of the desk's stored history at least `similarity`
    /// similar to it: its topic's background, known before any window has
    /// passed (0 when unknown).
    pub background: f32,
}

/// A storm as the detector tracks it.
#[derive(Debug, Clone)]
pub struct TrackedStorm {
    /// Its id.
    pub id: String,
    /// The earliest member.
    pub parent: String,
    /// Members: (ticket id, opened at, similarity to the storm when it joined).
    pub members: Vec<(String, i64, f32)>,
    /// Sum of the members' vectors (the centroid, unnormalised).
    sum: Vec<f32>,
    /// The newest member's time.
    pub last_at: i64,
}

impl TrackedStorm {
    fn centroid_similarity(&self, vector: &[f32]) -> f32 {
        let norm = self.sum.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        dot(&self.sum, vector) / norm
    }
}

/// What observing a ticket found.
#[derive(Debug, Clone, PartialEq)]
pub enum StormEvent {
    /// Nothing: the ticket belongs to no storm.
    None,
    /// It opened a storm.
    Opened {
        /// The storm's id.
        storm: String,
        /// Its members with their similarity to this ticket (its own id last).
        members: Vec<(String, f32)>,
    },
    /// It joined a storm.
    Joined {
        /// The storm's id.
        storm: String,
        /// Its similarity to the storm's centroid.
        similarity: f32,
    },
    /// It was seen before (triaged again) and is in this storm.
    Member {
        /// The storm's id.
        storm: String,
        /// Its similarity to the storm when it joined.
        similarity: f32,
    },
}

/// A duplicate found for a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    /// The earlier ticket.
    pub id: String,
    /// Their similarity.
    pub similarity: f32,
    /// `same caller`, `same service` or `same configuration item NAME`.
    pub reason: String,
}

/// The window and the storms in it.
pub struct Detector {
    settings: DetectorSettings,
    /// Oldest first; each with the storm it belongs to.
    window: VecDeque<(Observed, Option<String>)>,
    storms: BTreeMap<String, TrackedStorm>,
    newest: i64,
}

/// The people behind `tickets`: each caller once; a ticket with no known
/// caller counts as one of its own.
fn reporters<'a>(tickets: impl Iterator<Item = &'a Observed>) -> usize {
    let mut callers = BTreeSet::new();
    let mut anonymous = 0;
    for ticket in tickets {
        match &ticket.caller {
            Some(caller) => {
                callers.insert(caller.as_str());
            }
            None => anonymous += 1,
        }
    }
    callers.len() + anonymous
}

impl Detector {
    /// An empty detector.
    pub fn new(settings: DetectorSettings) -> Self {
        Self {
            settings,
            window: VecDeque::new(),
            storms: BTreeMap::new(),
            newest: i64::MIN,
        }
    }

    /// Takes back a storm known from before (a restart), so its later
    /// members join it instead of opening another.
    pub fn restore(&mut self, id: String, parent: String, members: Vec<(Observed, f32)>) {
        let dimension = members.first().map_or(0, |(o, _)| o.vector.len());
        let mut storm = TrackedStorm {
            id: id.clone(),
            parent,
            members: Vec::new(),
            sum: vec![0.0; dimension],
            last_at: i64::MIN,
        };
        for (observed, similarity) in members {
            for (s, v) in storm.sum.iter_mut().zip(&observed.vector) {
                *s += v;
            }
            storm.last_at = storm.last_at.max(observed.at);
            storm
                .members
                .push((observed.id.clone(), observed.at, similarity));
            self.push(observed, Some(id.clone()));
        }
        self.storms.insert(id, storm);
    }

    /// Applies a member another replica placed in storm `storm` (whose
    /// parent is `parent`): ticket `ticket` must be in the window already.
    /// Applying it twice changes nothing.
    pub fn adopt(&mut self, storm: &str, parent: &str, ticket: &str, similarity: f32) {
        let Some((observed, slot)) = self.window.iter_mut().find(|(o, _)| o.id == ticket) else {
            return;
        };
        if slot.as_deref() == Some(storm) {
            return;
        }
        *slot = Some(storm.to_owned());
        let tracked = self
            .storms
            .entry(storm.to_owned())
            .or_insert_with(|| TrackedStorm {
                id: storm.to_owned(),
                parent: parent.to_owned(),
                members: Vec::new(),
                sum: vec![0.0; observed.vector.len()],
                last_at: i64::MIN,
            });
        for (s, v) in tracked.sum.iter_mut().zip(&observed.vector) {
            *s += v;
        }
        tracked.parent = parent.to_owned();
        tracked.last_at = tracked.last_at.max(observed.at);
        tracked
            .members
            .push((observed.id.clone(), observed.at, similarity));
        tracked.members.sort_by_key(|(_, at, _)| *at);
    }

    /// Marks ticket `id` resolved or closed: it stays in the window (and its
    /// storm) but is no longer a ticket a new one can duplicate.
    pub fn close(&mut self, id: &str) {
        if let Some((observed, _)) = self.window.iter_mut().find(|(o, _)| o.id == id) {
            observed.closed = true;
        }
    }

    /// Lets go of ticket `id` (erasure): out of the window and out of its
    /// storm, whose centroid and parent follow; a storm left empty is dropped.
    pub fn forget(&mut self, id: &str) {
        let Some(position) = self.window.iter().position(|(o, _)| o.id == id) else {
            return;
        };
        let Some((observed, storm)) = self.window.remove(position) else {
            return;
        };
        let Some(storm_id) = storm else {
            return;
        };
        let Some(tracked) = self.storms.get_mut(&storm_id) else {
            return;
        };
        tracked.members.retain(|(member, _, _)| member != id);
        for (s, v) in tracked.sum.iter_mut().zip(&observed.vector) {
            *s -= v;
        }
        match tracked.members.iter().min_by_key(|(_, at, _)| *at) {
            None => {
                self.storms.remove(&storm_id);
            }
            Some((first, _, _)) if tracked.parent == id => tracked.parent = first.clone(),
            Some(_) => {}
        }
    }

    /// The storm ticket `id` is in, while it is tracked.
    pub fn storm_of(&self, id: &str) -> Option<&TrackedStorm> {
        let (_, storm) = self.window.iter().find(|(o, _)| o.id == id)?;
        self.storms.get(storm.as_deref()?)
    }

    /// The storm `id`, while it is tracked.
    pub fn storm(&self, id: &str) -> Option<&TrackedStorm> {
        self.storms.get(id)
    }

    /// The newest ticket time seen.
    pub fn newest(&self) -> i64 {
        self.newest
    }

    /// The window's tickets that belong to storm `id`.
    pub fn members_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Observed> + 'a {
        self.window
            .iter()
            .filter(move |(_, storm)| storm.as_deref() == Some(id))
            .map(|(o, _)| o)
    }

    /// Puts a ticket known from before (a restart, another replica) in the
    /// window, in no storm; one already there only takes its closed mark.
    pub fn remember(&mut self, observed: Observed) {
        match self.window.iter_mut().find(|(o, _)| o.id == observed.id) {
            Some((known, _)) => known.closed |= observed.closed,
            None => self.push(observed, None),
        }
    }

    /// The tickets in the window (oldest first).
    pub fn window(&self) -> impl Iterator<Item = &Observed> {
        self.window.iter().map(|(o, _)| o)
    }

    fn push(&mut self, observed: Observed, storm: Option<String>) {
        self.newest = self.newest.max(observed.at);
        // Kept in time order: a late ticket goes where it belongs.
        let at = observed.at;
        let position = self
            .window
            .iter()
            .rposition(|(o, _)| o.at <= at)
            .map_or(0, |p| p + 1);
        self.window.insert(position, (observed, storm));
        let horizon = self.newest
            - self
                .settings
                .window_ms
                .max(self.settings.duplicate_window_ms);
        while self.window.front().is_some_and(|(o, _)| o.at < horizon)
            || self.window.len() > self.settings.max_tickets
        {
            self.window.pop_front();
        }
        let quiet = self.newest - self.settings.window_ms;
        self.storms.retain(|_, s| s.last_at >= quiet);
    }

    /// Members of storm `id` opened at or after `since`.
    fn members_since(&self, id: &str, since: i64) -> usize {
        self.storms
            .get(id)
            .map_or(0, |s| s.members.iter().filter(|m| m.1 >= since).count())
    }

    /// Tickets like this one it takes to open a storm: `min_tickets`, plus
    /// `burst_factor` times how many such tickets a window usually holds. A
    /// topic that is always frequent (password resets at a large desk, a
    /// monitoring alert that fires all day) is not an outage; only a burst
    /// well above its usual rate is. The usual count is the larger of two
    /// estimates: such tickets in the kept history before this window, per
    /// window; and the topic's share of the desk's stored history
    /// ([`Observed::background`]) times the tickets a window holds, which
    /// is known from the first window on (no history needs to pass first).
    fn needed(&self, ticket: &Observed, since: i64) -> usize {
        let minimum = self.settings.min_tickets;
        let window = self.settings.window_ms as f32;
        let Some(oldest) = self.window.front().map(|(o, _)| o.at) else {
            return minimum;
        };
        let span = since - oldest;
        let (mut before, mut arrived) = (0usize, 0usize);
        for (o, _) in self.window.iter().take_while(|(o, _)| o.at <= ticket.at) {
            if o.at < since {
                before += usize::from(dot(&o.vector, &ticket.vector) >= self.settings.similarity);
            }
            arrived += 1;
        }
        let from_window = if span > 0 {
            before as f32 * window / span as f32
        } else {
            0.0
        };
        // Tickets a window holds: over the kept history once it spans more
        // than a window, else those of the window so far.
        let per_window = if ticket.at - oldest > self.settings.window_ms {
            arrived as f32 * window / (ticket.at - oldest) as f32
        } else {
            arrived as f32
        };
        let from_share = ticket.background * per_window;
        let usual = from_window.max(from_share);
        minimum + (self.settings.burst_factor * usual).round() as usize
    }

    /// Whether observing `ticket` could open or join a storm: an open storm
    /// is close to it, or free tickets of the window close to it come, with
    /// it, from enough reporters. Only then does its background
    /// ([`Observed::background`]) matter, so only then is it worth measuring
    /// (a search of the stored history).
    pub fn might_burst(&self, ticket: &Observed) -> bool {
        let since = ticket.at - self.settings.window_ms;
        let threshold = self.settings.similarity;
        let joins = self
            .storms
            .values()
            .any(|s| s.last_at >= since && s.centroid_similarity(&ticket.vector) >= threshold);
        joins
            || reporters(
                self.window
                    .iter()
                    .filter(|(o, storm)| storm.is_none() && o.at >= since && o.at <= ticket.at)
                    .map(|(o, _)| o)
                    .filter(|o| o.id != ticket.id && dot(&o.vector, &ticket.vector) >= threshold)
                    .chain([ticket]),
            ) >= self.settings.min_tickets
    }

    /// An earlier ticket this one near-duplicates, if any.
    pub fn duplicate_of(&self, ticket: &Observed) -> Option<Duplicate> {
        let since = ticket.at - self.settings.duplicate_window_ms;
        self.window
            .iter()
            .filter(|(o, _)| o.id != ticket.id && !o.closed && o.at >= since && o.at <= ticket.at)
            .filter_map(|(o, _)| {
                let reason = if ticket.caller.is_some() && o.caller == ticket.caller {
                    "same caller".to_owned()
                } else if ticket.service.is_some() && o.service == ticket.service {
                    "same service".to_owned()
                } else if let Some(ci) = ticket.cis.iter().find(|c| o.cis.contains(c)) {
                    format!("same configuration item {ci}")
                } else {
                    return None;
                };
                let similarity = dot(&o.vector, &ticket.vector);
                (similarity >= self.settings.duplicate_similarity).then(|| Duplicate {
                    id: o.id.clone(),
                    similarity,
                    reason,
                })
            })
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity))
    }

    /// Adds a ticket to the window: joins it to a storm, opens one, or neither.
    /// A ticket seen before (the same id) changes nothing: it is reported in
    /// the storm it is in, if any.
    pub fn observe(&mut self, ticket: Observed) -> StormEvent {
        if let Some((_, storm)) = self.window.iter().find(|(o, _)| o.id == ticket.id) {
            let Some(id) = storm else {
                return StormEvent::None;
            };
            let similarity = self
                .storms
                .get(id)
                .and_then(|s| s.members.iter().find(|m| m.0 == ticket.id))
                .map_or(0.0, |m| m.2);
            return StormEvent::Member {
                storm: id.clone(),
                similarity,
            };
        }
        let since = ticket.at - self.settings.window_ms;
        // The open storm it is closest to.
        let best = self
            .storms
            .values()
            .filter(|s| s.last_at >= since)
            .map(|s| (s.id.clone(), s.centroid_similarity(&ticket.vector)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        // A storm takes a ticket only while it is still a burst: its members
        // of the last window are as many as it takes to open one. A topic
        // back at its usual rate (a trickle of password resets) ends it.
        if let Some((id, similarity)) = best
            && similarity >= self.settings.similarity
            && self.members_since(&id, since) + 1 >= self.needed(&ticket, since)
        {
            let storm = self.storms.get_mut(&id).expect("just found");
            for (s, v) in storm.sum.iter_mut().zip(&ticket.vector) {
                *s += v;
            }
            storm
                .members
                .push((ticket.id.clone(), ticket.at, similarity));
            storm.last_at = storm.last_at.max(ticket.at);
            self.push(ticket, Some(id.clone()));
            return StormEvent::Joined {
                storm: id,
                similarity,
            };
        }
        // Free tickets of the window close enough to open one with it.
        let close: Vec<(usize, f32)> = self
            .window
            .iter()
            .enumerate()
            .filter(|(_, (o, storm))| storm.is_none() && o.at >= since && o.at <= ticket.at)
            .map(|(i, (o, _))| (i, dot(&o.vector, &ticket.vector)))
            .filter(|(_, s)| *s >= self.settings.similarity)
            .collect();
        // A storm is many people reporting one failure: tickets from one
        // caller (a monitoring account's batch, someone writing again)
        // count once.
        let reporting = reporters(
            close
                .iter()
                .map(|(i, _)| &self.window[*i].0)
                .chain([&ticket]),
        );
        if reporting < self.needed(&ticket, since) {
            self.push(ticket, None);
            return StormEvent::None;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut storm = TrackedStorm {
            id: id.clone(),
            parent: String::new(),
            members: Vec::new(),
            sum: ticket.vector.clone(),
            last_at: ticket.at,
        };
        let mut members = Vec::new();
        for (index, similarity) in close {
            let (observed, slot) = &mut self.window[index];
            *slot = Some(id.clone());
            for (s, v) in storm.sum.iter_mut().zip(&observed.vector) {
                *s += v;
            }
            storm
                .members
                .push((observed.id.clone(), observed.at, similarity));
            members.push((observed.id.clone(), similarity));
        }
        storm.members.push((ticket.id.clone(), ticket.at, 1.0));
        members.push((ticket.id.clone(), 1.0));
        storm.members.sort_by_key(|(_, at, _)| *at);
        storm.parent = storm.members[0].0.clone();
        self.storms.insert(id.clone(), storm);
        self.push(ticket, Some(id.clone()));
        StormEvent::Opened { storm: id, members }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DetectorSettings {
        DetectorSettings {
            window_ms: 15 * 60_000,
            min_tickets: 4,
            similarity: 0.8,
            duplicate_window_ms: 24 * 3_600_000,
            duplicate_similarity: 0.95,
            max_tickets: 1000,
            burst_factor: 3.0,
        }
    }

    /// A unit vector near axis `axis` (of 8), nudged by `nudge` on the next one.
    fn vector(axis: usize, nudge: f32) -> Vec<f32> {
        let mut v = [0.0f32; 8];
        v[axis] = 1.0;
        v[(axis + 1) % 8] = nudge;
        let norm = v.iter().map(|x: &f32| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    fn ticket(id: &str, minute: i64, axis: usize, nudge: f32) -> Observed {
        Observed {
            id: id.into(),
            title: String::new(),
            at: minute * 60_000,
            vector: vector(axis, nudge),
            caller: None,
            service: None,
            terms: BTreeSet::new(),
            cis: Vec::new(),
            closed: false,
            background: 0.0,
        }
    }

    #[test]
    fn a_burst_of_similar_tickets_opens_one_storm_at_its_fourth_ticket() {
        let mut detector = Detector::new(settings());
        for n in 0..3 {
            assert_eq!(
                detector.observe(ticket(&format!("b{n}"), n, 0, 0.1 * n as f32)),
                StormEvent::None
            );
        }
        let StormEvent::Opened { storm, members } = detector.observe(ticket("b3", 3, 0, 0.05))
        else {
            panic!("the fourth similar ticket opens a storm");
        };
        assert_eq!(members.len(), 4);
        assert_eq!(detector.storm(&storm).unwrap().parent, "b0");
        assert!(matches!(
            detector.observe(ticket("b4", 4, 0, 0.2)),
            StormEvent::Joined { .. }
        ));
        // An unrelated ticket in the middle of it stays out.
        assert_eq!(
            detector.observe(ticket("other", 4, 3, 0.0)),
            StormEvent::None
        );
    }

    #[test]
    fn one_callers_batch_of_similar_tickets_opens_no_storm() {
        let mut detector = Detector::new(settings());
        let from = |id: &str, minute, caller: &str| Observed {
            caller: Some(caller.to_owned()),
            ..ticket(id, minute, 0, 0.01 * minute as f32)
        };
        for n in 0..8 {
            assert_eq!(
                detector.observe(from(&format!("job{n}"), n, "monitoring")),
                StormEvent::None,
                "a scheduler's failures sent by one account"
            );
        }
        // Three other people reporting it make four reporters: a storm.
        assert_eq!(detector.observe(from("a", 8, "ann")), StormEvent::None);
        assert_eq!(detector.observe(from("b", 8, "bob")), StormEvent::None);
        assert!(matches!(
            detector.observe(from("c", 9, "cy")),
            StormEvent::Opened { .. }
        ));
    }

    #[test]
    fn a_burst_is_possible_once_enough_people_report_it() {
        let mut detector = Detector::new(settings());
        let from = |id: &str, minute, caller: &str| Observed {
            caller: Some(caller.to_owned()),
            ..ticket(id, minute, 0, 0.01)
        };
        detector.observe(from("a", 0, "ann"));
        detector.observe(from("b", 1, "bob"));
        detector.observe(from("b2", 1, "bob"));
        detector.observe(from("d", 1, "dan"));
        assert!(!detector.might_burst(&from("b3", 2, "bob")));
        assert!(detector.might_burst(&from("c", 2, "cy")));
    }

    #[test]
    fn similar_tickets_spread_beyond_the_window_open_no_storm() {
        let mut detector = Detector::new(settings());
        for n in 0..6 {
            assert_eq!(
                detector.observe(ticket(&format!("t{n}"), n * 20, 0, 0.0)),
                StormEvent::None
            );
        }
    }

    #[test]
    fn a_storm_without_new_members_for_a_window_is_over() {
        let mut detector = Detector::new(settings());
        let mut first = None;
        for n in 0..4 {
            if let StormEvent::Opened { storm, .. } =
                detector.observe(ticket(&format!("b{n}"), n, 0, 0.0))
            {
                first = Some(storm);
            }
        }
        let first = first.expect("the first burst opens a storm");
        // An hour later the same failure is a new storm, not the old one (it
        // takes more tickets: the first burst raised the topic's usual rate).
        let second = (0..12).find_map(|n| {
            match detector.observe(ticket(&format!("c{n}"), 60 + n / 3, 0, 0.0)) {
                StormEvent::Opened { storm, .. } => Some(storm),
                _ => None,
            }
        });
        assert!(second.is_some_and(|s| s != first));
    }

    #[test]
    fn the_same_ticket_twice_is_observed_once() {
        let mut detector = Detector::new(settings());
        for n in 0..3 {
            detector.observe(ticket("same", n, 0, 0.0));
        }
        assert_eq!(detector.window().count(), 1);
    }

    #[test]
    fn a_member_triaged_again_is_reported_in_its_storm() {
        let mut detector = Detector::new(settings());
        for n in 0..4 {
            detector.observe(ticket(&format!("b{n}"), n, 0, 0.0));
        }
        assert!(matches!(
            detector.observe(ticket("b1", 9, 0, 0.0)),
            StormEvent::Member { .. }
        ));
        assert_eq!(detector.storm_of("b1").map(|s| s.members.len()), Some(4));
    }

    #[test]
    fn a_topic_that_is_always_frequent_needs_a_burst_well_above_its_rate() {
        let mut detector = Detector::new(settings());
        // A steady trickle of one request, one every 6 minutes for a day.
        for n in 0..240 {
            let event = detector.observe(ticket(&format!("r{n}"), n * 6, 4, 0.0));
            assert_eq!(event, StormEvent::None, "r{n}");
        }
        // Four more of them in a few minutes are within its usual rate...
        for n in 0..4 {
            let event = detector.observe(ticket(&format!("q{n}"), 1440 + n, 4, 0.0));
            assert_eq!(event, StormEvent::None, "q{n}");
        }
        // ...while a real burst of them is an outage.
        let opened = (4..24).any(|n| {
            let event = detector.observe(ticket(&format!("q{n}"), 1444 + n / 4, 4, 0.0));
            matches!(event, StormEvent::Opened { .. })
        });
        assert!(opened);
    }

    #[test]
    fn a_near_duplicate_from_the_same_caller_is_flagged() {
        let mut detector = Detector::new(settings());
        let mut first = ticket("first", 0, 2, 0.0);
        first.caller = Some("ana".into());
        detector.observe(first);
        let mut again = ticket("again", 120, 2, 0.01);
        again.caller = Some("ana".into());
        let duplicate = detector.duplicate_of(&again).unwrap();
        assert_eq!(
            (duplicate.id.as_str(), duplicate.reason.as_str()),
            ("first", "same caller")
        );
        // Someone else's similar ticket is not a duplicate (it may be a storm).
        again.caller = Some("bo".into());
        assert!(detector.duplicate_of(&again).is_none());
    }

    #[test]
    fn a_topic_frequent_in_the_desks_history_needs_more_from_the_first_window() {
        let mut detector = Detector::new(settings());
        // Twenty tickets a window, a quarter of the history on one topic:
        // five of it a window is its usual, not a burst.
        let mut opened = false;
        let others = [0, 1, 2, 3, 5, 6, 7];
        for n in 0..20i64 {
            let topic = n % 4 == 0;
            let axis = if topic { 4 } else { others[(n % 7) as usize] };
            let mut t = ticket(&format!("t{n}"), n / 2, axis, 0.0);
            t.background = if topic { 0.25 } else { 0.0 };
            opened |= matches!(detector.observe(t), StormEvent::Opened { .. });
        }
        assert!(!opened, "no storm at the topic's usual rate");
        // The same topic unknown to the history is a burst at its fourth.
        let mut fresh = Detector::new(settings());
        let opened_at = (0..8).position(|n| {
            let t = ticket(&format!("f{n}"), n, 5, 0.0);
            matches!(fresh.observe(t), StormEvent::Opened { .. })
        });
        assert_eq!(opened_at, Some(3));
    }

    #[test]
    fn a_closed_ticket_is_no_ones_duplicate() {
        let mut detector = Detector::new(settings());
        let mut first = ticket("first", 0, 2, 0.0);
        first.caller = Some("ana".into());
        detector.observe(first);
        detector.close("first");
        let mut again = ticket("again", 120, 2, 0.01);
        again.caller = Some("ana".into());
        assert!(detector.duplicate_of(&again).is_none());
    }

    #[test]
    fn a_near_duplicate_about_the_same_configuration_item_is_flagged() {
        let mut detector = Detector::new(settings());
        let mut first = ticket("first", 0, 2, 0.0);
        first.cis = vec!["web-01".into()];
        detector.observe(first);
        let mut again = ticket("again", 120, 2, 0.01);
        again.cis = vec!["db-prd-01".into(), "web-01".into()];
        let duplicate = detector.duplicate_of(&again).unwrap();
        assert_eq!(duplicate.reason, "same configuration item web-01");
        again.cis = vec!["db-prd-01".into()];
        assert!(detector.duplicate_of(&again).is_none());
    }

    #[test]
    fn a_restored_storm_takes_its_next_member() {
        let mut detector = Detector::new(settings());
        let members = (0..4)
            .map(|n| (ticket(&format!("b{n}"), n, 0, 0.0), 1.0))
            .collect();
        detector.restore("s1".into(), "b0".into(), members);
        assert_eq!(
            detector.observe(ticket("b4", 5, 0, 0.1)),
            StormEvent::Joined {
                storm: "s1".into(),
                similarity: detector_similarity()
            }
        );
    }

    fn detector_similarity() -> f32 {
        let a = vector(0, 0.0);
        let b = vector(0, 0.1);
        dot(&a, &b)
    }
}
