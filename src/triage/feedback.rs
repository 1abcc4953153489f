//! Agents' corrections, indexed in memory: each ticket's current labels and
//! the reassignment counts that `GET /v1/stats` reports. The entries live in
//! the state database (shared by replicas, read in sequence order); the JSON
//! Lines file of earlier versions is read once to import it.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One agent's correction or confirmation of a ticket's label.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FeedbackEntry {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// The ticket (or stored incident) the feedback is about.
    pub ticket_id: String,
    /// Label field, e.g. `assignment_group`.
    pub field: String,
    /// The label the ticket had before: the last correction, else the stored
    /// label, else what triage suggested.
    pub previous: Option<String>,
    /// The label the agent set.
    pub label: String,
    /// Who gave the feedback.
    pub agent: String,
    /// The API token (integration) that sent it.
    #[serde(default)]
    pub caller: String,
}

impl FeedbackEntry {
    /// True when the label changed (a correction or reassignment), not a confirmation.
    pub fn is_change(&self) -> bool {
        self.previous.as_deref() != Some(self.label.as_str())
    }
}

/// Reassignments from one label to another.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Reassignment {
    /// Label before.
    pub from: String,
    /// Label after.
    pub to: String,
    /// How many times.
    pub count: u64,
}

/// Tickets that went back and forth between two labels.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PingPong {
    /// The two labels, in alphabetical order.
    pub between: [String; 2],
    /// Moves back to a label the ticket had already had.
    pub bounces: u64,
    /// Distinct tickets that bounced between them.
    pub tickets: u64,
}

/// Feedback counts for one label field.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldFeedback {
    /// Feedback entries received.
    pub total: u64,
    /// Entries that changed the label.
    pub changed: u64,
    /// Entries that confirmed it.
    pub confirmed: u64,
    /// Changes by (from, to), most frequent first.
    pub reassignments: Vec<Reassignment>,
    /// Ping-pong between label pairs, most bounces first.
    pub ping_pong: Vec<PingPong>,
}

/// What the feedback log says, for `GET /v1/stats`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FeedbackStats {
    /// Feedback entries received.
    pub total: u64,
    /// Tickets with any feedback.
    pub tickets: u64,
    /// Per label field.
    pub fields: BTreeMap<String, FieldFeedback>,
}

/// The log file and what has been replayed from it.
pub struct FeedbackLog {
    path: Option<PathBuf>,
    /// The state database's sequence of the newest entry read from it.
    last_seq: i64,
    entries: Vec<FeedbackEntry>,
    /// Positions in `entries` of each ticket's feedback, oldest first.
    by_ticket: HashMap<String, Vec<usize>>,
}

impl FeedbackLog {
    /// A log kept in memory only (evaluation, tests).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            last_seq: 0,
            entries: Vec::new(),
            by_ticket: HashMap::new(),
        }
    }

    fn index(entries: &[FeedbackEntry]) -> HashMap<String, Vec<usize>> {
        let mut by_ticket: HashMap<String, Vec<usize>> = HashMap::new();
        for (n, entry) in entries.iter().enumerate() {
            by_ticket
                .entry(entry.ticket_id.clone())
                .or_default()
                .push(n);
        }
        by_ticket
    }

    /// Opens (or starts) the log at `path`. A torn last line from a crash is
    /// cut off with a warning (and a complete last entry missing its newline
    /// gets one), so the next append starts on a line of its own; any other
    /// unreadable line is an error, so no feedback is silently lost.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut entries = Vec::new();
        let mut offset = 0;
        let mut torn_at = None;
        for (n, raw) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
            let line_start = offset;
            offset += raw.len();
            let line = raw.strip_suffix(b"\n").unwrap_or(raw);
            if line.trim_ascii().is_empty() {
                continue;
            }
            match serde_json::from_slice(line) {
                Ok(entry) => entries.push(entry),
                Err(_) if offset == bytes.len() => {
                    tracing::warn!(path = %path.display(), line = n + 1, bytes = line.len(), "cutting off a torn last line of the feedback log");
                    torn_at = Some(line_start);
                }
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} line {}: {e}", path.display(), n + 1),
                    ));
                }
            }
        }
        if let Some(len) = torn_at {
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            file.set_len(len as u64)?;
            file.sync_data()?;
        } else if bytes.last().is_some_and(|b| *b != b'\n') {
            let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
            file.write_all(b"\n")?;
            file.sync_data()?;
        }
        Ok(Self {
            path: Some(path.to_path_buf()),
            last_seq: 0,
            by_ticket: Self::index(&entries),
            entries,
        })
    }

    /// Appends `entry` durably (written and synced before returning).
    pub fn append(&mut self, entry: FeedbackEntry) -> std::io::Result<()> {
        if let Some(path) = &self.path {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut line = serde_json::to_vec(&entry)?;
            line.push(b'\n');
            let created = !path.exists();
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            file.write_all(&line)?;
            file.sync_data()?;
            if created && let Some(dir) = path.parent() {
                // The new file's directory entry must survive a power loss too.
                std::fs::File::open(dir)?.sync_all()?;
            }
        }
        self.by_ticket
            .entry(entry.ticket_id.clone())
            .or_default()
            .push(self.entries.len());
        self.entries.push(entry);
        Ok(())
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[FeedbackEntry] {
        &self.entries
    }

    /// The state database's sequence number of the newest entry read from it.
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Adds entries read from the state database, in sequence order; those at
    /// or below [`Self::last_seq`] are already here and skipped.
    pub fn extend_loaded(&mut self, rows: Vec<(i64, FeedbackEntry)>) {
        for (seq, entry) in rows {
            if seq <= self.last_seq {
                continue;
            }
            self.last_seq = seq;
            self.by_ticket
                .entry(entry.ticket_id.clone())
                .or_default()
                .push(self.entries.len());
            self.entries.push(entry);
        }
    }

    /// Drops `ticket_id`'s entries from memory (erasure; the state database's
    /// rows are deleted by the caller).
    pub fn forget(&mut self, ticket_id: &str) {
        if self.by_ticket.remove(ticket_id).is_some() {
            self.entries.retain(|e| e.ticket_id != ticket_id);
            self.by_ticket = Self::index(&self.entries);
        }
    }

    /// The latest label agents gave each field of `ticket_id`.
    pub fn labels_of(&self, ticket_id: &str) -> BTreeMap<String, String> {
        self.labels_since(ticket_id, 0)
    }

    /// The latest label of each field among `ticket_id`'s feedback entries after
    /// the first `skip`.
    pub fn labels_since(&self, ticket_id: &str, skip: usize) -> BTreeMap<String, String> {
        self.by_ticket
            .get(ticket_id)
            .into_iter()
            .flatten()
            .skip(skip)
            .map(|&n| (self.entries[n].field.clone(), self.entries[n].label.clone()))
            .collect()
    }

    /// How many feedback entries `ticket_id` has.
    pub fn count_for(&self, ticket_id: &str) -> usize {
        self.by_ticket.get(ticket_id).map_or(0, Vec::len)
    }

    /// Every ticket with feedback, with its number of entries.
    pub fn ticket_counts(&self) -> Vec<(String, usize)> {
        self.by_ticket
            .iter()
            .map(|(id, entries)| (id.clone(), entries.len()))
            .collect()
    }

    /// Each (ticket, field)'s last label set by feedback: what agents
    /// finally settled on.
    pub fn final_labels(&self) -> HashMap<(String, String), String> {
        self.entries
            .iter()
            .map(|e| ((e.ticket_id.clone(), e.field.clone()), e.label.clone()))
            .collect()
    }

    /// Counts, reassignments and ping-pong over the whole log.
    pub fn stats(&self) -> FeedbackStats {
        let mut stats = FeedbackStats {
            total: self.entries.len() as u64,
            ..FeedbackStats::default()
        };
        let mut chains: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
        let mut moves: BTreeMap<&str, BTreeMap<(&str, &str), u64>> = BTreeMap::new();
        for entry in &self.entries {
            let field = stats.fields.entry(entry.field.clone()).or_default();
            field.total += 1;
            if entry.is_change() {
                field.changed += 1;
                if let Some(previous) = &entry.previous {
                    *moves
                        .entry(&entry.field)
                        .or_default()
                        .entry((previous, &entry.label))
                        .or_default() += 1;
                }
            } else {
                field.confirmed += 1;
            }
            let chain = chains
                .entry((&entry.ticket_id, &entry.field))
                .or_insert_with(|| entry.previous.as_deref().into_iter().collect());
            if chain.last() != Some(&entry.label.as_str()) {
                chain.push(&entry.label);
            }
        }
        stats.tickets = {
            let mut ids: Vec<&str> = chains.keys().map(|(id, _)| *id).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len() as u64
        };
        for (field, pairs) in moves {
            let mut list: Vec<Reassignment> = pairs
                .into_iter()
                .map(|((from, to), count)| Reassignment {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    count,
                })
                .collect();
            list.sort_by_key(|r| std::cmp::Reverse(r.count));
            stats
                .fields
                .get_mut(field)
                .expect("field counted above")
                .reassignments = list;
        }
        let mut bounces: BTreeMap<&str, BTreeMap<[&str; 2], (u64, u64)>> = BTreeMap::new();
        for ((_, field), chain) in &chains {
            let mut bounced_pairs: Vec<[&str; 2]> = Vec::new();
            for (i, pair) in chain.windows(2).enumerate() {
                if chain[..i].contains(&pair[1]) {
                    let mut key = [pair[0], pair[1]];
                    key.sort_unstable();
                    bounces.entry(field).or_default().entry(key).or_default().0 += 1;
                    bounced_pairs.push(key);
                }
            }
            bounced_pairs.sort_unstable();
            bounced_pairs.dedup();
            for key in bounced_pairs {
                bounces.entry(field).or_default().entry(key).or_default().1 += 1;
            }
        }
        for (field, pairs) in bounces {
            let mut list: Vec<PingPong> = pairs
                .into_iter()
                .map(|([a, b], (bounces, tickets))| PingPong {
                    between: [a.to_owned(), b.to_owned()],
                    bounces,
                    tickets,
                })
                .collect();
            list.sort_by_key(|p| std::cmp::Reverse(p.bounces));
            stats
                .fields
                .get_mut(field)
                .expect("field counted above")
                .ping_pong = list;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ticket: &str, previous: Option<&str>, label: &str) -> FeedbackEntry {
        FeedbackEntry {
            at: 0,
            ticket_id: ticket.to_owned(),
            field: "assignment_group".to_owned(),
            previous: previous.map(str::to_owned),
            label: label.to_owned(),
            agent: "ana".to_owned(),
            caller: "itsm".to_owned(),
        }
    }

    #[test]
    fn counts_reassignments_and_ping_pong() {
        let mut log = FeedbackLog::in_memory();
        for e in [
            entry("T1", Some("Network"), "Desktop"),
            entry("T1", Some("Desktop"), "Network"),
            entry("T1", Some("Network"), "Desktop"),
            entry("T2", Some("Network"), "Desktop"),
            entry("T3", Some("Servers"), "Servers"),
        ] {
            log.append(e).unwrap();
        }
        let stats = log.stats();
        assert_eq!(stats.total, 5);
        assert_eq!(stats.tickets, 3);
        let group = &stats.fields["assignment_group"];
        assert_eq!((group.changed, group.confirmed), (4, 1));
        assert_eq!(
            group.reassignments[0],
            Reassignment {
                from: "Network".into(),
                to: "Desktop".into(),
                count: 3
            }
        );
        assert_eq!(
            group.ping_pong,
            [PingPong {
                between: ["Desktop".into(), "Network".into()],
                bounces: 2,
                tickets: 1
            }]
        );
        assert_eq!(log.labels_of("T1")["assignment_group"], "Desktop");
    }

    #[test]
    fn survives_reopen_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedback.jsonl");
        let mut log = FeedbackLog::open(&path).unwrap();
        log.append(entry("T1", Some("A"), "B")).unwrap();
        log.append(entry("T2", Some("A"), "C")).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"at\":1,\"ticket_id\":\"caf\xc3")
            .unwrap();
        let mut reopened = FeedbackLog::open(&path).unwrap();
        assert_eq!(reopened.stats().total, 2);
        reopened.append(entry("T3", Some("B"), "D")).unwrap();
        reopened.append(entry("T4", Some("B"), "E")).unwrap();
        let again = FeedbackLog::open(&path).unwrap();
        assert_eq!(again.stats().total, 4);
        assert_eq!(again.labels_of("T3")["assignment_group"], "D");

        std::fs::write(&path, "garbage\n{\"also\":\"bad\"}\n").unwrap();
        assert!(FeedbackLog::open(&path).is_err());
    }

    #[test]
    fn a_complete_last_entry_without_its_newline_is_kept_and_the_next_append_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedback.jsonl");
        let mut line = serde_json::to_vec(&entry("T1", Some("A"), "B")).unwrap();
        std::fs::write(&path, &line).unwrap();
        let mut log = FeedbackLog::open(&path).unwrap();
        assert_eq!(log.stats().total, 1);
        log.append(entry("T2", Some("A"), "C")).unwrap();
        let reopened = FeedbackLog::open(&path).unwrap();
        assert_eq!(reopened.stats().total, 2);
        line.push(b'\n');
        assert!(std::fs::read(&path).unwrap().starts_with(&line));
    }
}
