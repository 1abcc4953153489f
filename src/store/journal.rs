//! Switchboard's own write-ahead journal in front of the embedded store.
//!
//! Qdrant Edge 0.7.2 appends every update to a write-ahead log but never replays
//! that log when a shard is loaded: whatever had not been flushed into segments
//! was lost when the process died (kill -9, out of memory, power loss). So the
//! store appends every write here first and syncs it before answering, then
//! applies it to the shard. At open the journal is replayed onto the shards; once
//! the shards are flushed (a checkpoint) it is emptied.
//!
//! Syncs are grouped: a writer that finds another writer's sync under way waits
//! for it and usually finds its own record covered by it, so concurrent writers
//! share one `fdatasync` (group commit).
//!
//! A record is `u32` body length, `u32` CRC-32 of the body (both little-endian),
//! then the body: one [`JournalEntry`] as JSON. A torn or corrupt tail (a crash in
//! the middle of a write) ends the replay and is cut off.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{Collection, StoreError, StoredPoint};

/// One store write, as journaled and replayed.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum JournalEntry<'a> {
    /// Insert or replace these points.
    Upsert {
        /// Where.
        collection: Collection,
        /// What.
        points: Cow<'a, [StoredPoint]>,
    },
    /// Remove every point whose payload `field` equals `value`.
    DeleteWhere {
        /// Where.
        collection: Collection,
        /// Payload field.
        field: Cow<'a, str>,
        /// Value to match.
        value: Cow<'a, str>,
    },
}

/// Bytes before each record's body: its length and its checksum.
const HEADER: usize = 8;
/// Largest body accepted when replaying: anything longer is a corrupt length.
const MAX_RECORD: usize = 1 << 30;

/// The append-only journal file.
pub(super) struct Journal {
    path: PathBuf,
    /// The append handle and its length; held while one record is written, so
    /// records never interleave.
    writer: Mutex<Writer>,
    /// A second handle on the same file for syncing without the writer lock.
    sync_handle: File,
    /// Records written so far (set after a record is written in full).
    written: AtomicU64,
    /// Records known durable. Held while syncing: writers queued behind a sync
    /// find their record covered when they get the lock (group commit).
    synced: Mutex<u64>,
    /// Set when a write or sync failed: what reached the disk is unknown, so no
    /// later write may be acknowledged until the store is reopened.
    failed: AtomicBool,
}

struct Writer {
    file: File,
    len: u64,
}

fn journal_error(path: &Path, what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("journal {}: {what}: {err}", path.display()))
}

impl Journal {
    /// Opens (or creates) the journal at `path` and returns it with the entries to
    /// replay, oldest first. A torn tail is cut off with a warning.
    pub(super) fn open(path: &Path) -> Result<(Self, Vec<JournalEntry<'static>>), StoreError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(journal_error(path, "cannot read", e)),
        };
        let (entries, good) = parse_records(&bytes);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| journal_error(path, "cannot open", e))?;
        if good < bytes.len() {
            tracing::warn!(
                journal = %path.display(),
                kept_bytes = good,
                cut_bytes = bytes.len() - good,
                "cutting off a torn journal tail (a write interrupted by a crash; it was never acknowledged)"
            );
            file.set_len(good as u64)
                .and_then(|()| file.sync_data())
                .map_err(|e| journal_error(path, "cannot cut the torn tail", e))?;
        }
        sync_parent(path)?;
        let sync_handle = file
            .try_clone()
            .map_err(|e| journal_error(path, "cannot open", e))?;
        let journal = Self {
            path: path.to_path_buf(),
            writer: Mutex::new(Writer {
                file,
                len: good as u64,
            }),
            sync_handle,
            written: AtomicU64::new(0),
            synced: Mutex::new(0),
            failed: AtomicBool::new(false),
        };
        Ok((journal, entries))
    }

    /// `entry` as a journal record, ready for [`Journal::append`] (encoding is
    /// kept out of every lock).
    pub(super) fn encode(&self, entry: &JournalEntry<'_>) -> Result<Vec<u8>, StoreError> {
        let body = serde_json::to_vec(entry).map_err(|e| journal_error(&self.path, "encode", e))?;
        let length = u32::try_from(body.len())
            .ok()
            .filter(|n| (*n as usize) <= MAX_RECORD)
            .ok_or_else(|| journal_error(&self.path, "append", "write too large to journal"))?;
        let mut record = Vec::with_capacity(HEADER + body.len());
        record.extend_from_slice(&length.to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        record.extend_from_slice(&body);
        Ok(record)
    }

    /// Appends a record made by [`Journal::encode`] (not yet durable: see
    /// [`Journal::sync`]) and returns its sequence number.
    pub(super) fn append(&self, record: &[u8]) -> Result<u64, StoreError> {
        self.check_usable()?;
        let mut writer = self.writer.lock();
        if let Err(err) = writer.file.write_all(record) {
            // A partial record would hide every later one from the replay: cut it off,
            // and refuse further writes if even that fails.
            let len = writer.len;
            if writer.file.set_len(len).is_err() {
                self.failed.store(true, Ordering::SeqCst);
            }
            return Err(journal_error(&self.path, "append", err));
        }
        writer.len += record.len() as u64;
        Ok(self.written.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Returns once record `seq` and every one before it is on disk.
    pub(super) fn sync(&self, seq: u64) -> Result<(), StoreError> {
        let mut synced = self.synced.lock();
        if *synced >= seq {
            return Ok(());
        }
        self.check_usable()?;
        // Everything written before this point is covered by this sync.
        let target = self.written.load(Ordering::SeqCst);
        if let Err(err) = self.sync_handle.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages:
            // nothing written since the last good sync can be called durable.
            self.failed.store(true, Ordering::SeqCst);
            return Err(journal_error(&self.path, "sync", err));
        }
        *synced = target;
        Ok(())
    }

    /// True while the journal file is still where it was opened (a removed data
    /// directory has nothing left to flush into).
    pub(super) fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Bytes in the journal since the last checkpoint.
    pub(super) fn len(&self) -> u64 {
        self.writer.lock().len
    }

    /// Empties the journal once everything in it is durable elsewhere. The caller
    /// holds every shard's write lock, so no write is between append and apply.
    pub(super) fn reset(&self) -> Result<(), StoreError> {
        let mut writer = self.writer.lock();
        writer
            .file
            .set_len(0)
            .and_then(|()| writer.file.sync_data())
            .map_err(|e| journal_error(&self.path, "reset", e))?;
        writer.len = 0;
        *self.synced.lock() = self.written.load(Ordering::SeqCst);
        Ok(())
    }

    fn check_usable(&self) -> Result<(), StoreError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(journal_error(
                &self.path,
                "unusable",
                "an earlier write or sync failed; restart the service to recover from the journal",
            ));
        }
        Ok(())
    }
}

/// The entries in `bytes` up to the first torn or corrupt record, and how many
/// bytes they take.
fn parse_records(bytes: &[u8]) -> (Vec<JournalEntry<'static>>, usize) {
    let mut entries = Vec::new();
    let mut offset = 0;
    while let Some(header) = bytes.get(offset..offset + HEADER) {
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if length > MAX_RECORD {
            break;
        }
        let Some(body) = bytes.get(offset + HEADER..offset + HEADER + length) else {
            break;
        };
        if crc32fast::hash(body) != checksum {
            break;
        }
        let Ok(entry) = serde_json::from_slice::<JournalEntry<'static>>(body) else {
            break;
        };
        entries.push(entry);
        offset += HEADER + length;
    }
    (entries, offset)
}

/// Syncs the directory holding `path`, so a newly created file survives a power loss.
fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| journal_error(path, "cannot sync its directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(id: &str) -> JournalEntry<'static> {
        JournalEntry::Upsert {
            collection: Collection::Incidents,
            points: Cow::Owned(vec![StoredPoint {
                id: id.to_owned(),
                vector: vec![0.1, -0.25, 1.0 / 3.0],
                text: Some("disk full on app-prd-01".into()),
                payload: serde_json::Map::new(),
            }]),
        }
    }

    fn ids(entries: &[JournalEntry<'_>]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                JournalEntry::Upsert { points, .. } => points[0].id.clone(),
                JournalEntry::DeleteWhere { value, .. } => format!("-{value}"),
            })
            .collect()
    }

    #[test]
    fn entries_come_back_in_order_with_exact_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.journal");
        let (journal, replay) = Journal::open(&path).unwrap();
        assert!(replay.is_empty());
        let a = journal
            .append(&journal.encode(&upsert("A")).unwrap())
            .unwrap();
        let delete = JournalEntry::DeleteWhere {
            collection: Collection::Knowledge,
            field: "article_id".into(),
            value: "vpn".into(),
        };
        let b = journal.append(&journal.encode(&delete).unwrap()).unwrap();
        journal.sync(b).unwrap();
        assert_eq!((a, b), (1, 2));
        drop(journal);
        let (_, replay) = Journal::open(&path).unwrap();
        assert_eq!(ids(&replay), ["A", "-vpn"]);
        let JournalEntry::Upsert { points, .. } = &replay[0] else {
            panic!("not an upsert")
        };
        assert_eq!(points[0].vector, vec![0.1, -0.25, 1.0 / 3.0]);
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_the_next_append_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.journal");
        let (journal, _) = Journal::open(&path).unwrap();
        journal
            .append(&journal.encode(&upsert("A")).unwrap())
            .unwrap();
        let seq = journal
            .append(&journal.encode(&upsert("B")).unwrap())
            .unwrap();
        journal.sync(seq).unwrap();
        drop(journal);
        let full = std::fs::read(&path).unwrap();
        // Every possible crash point inside the second record.
        let first_end = HEADER + u32::from_le_bytes(full[0..4].try_into().unwrap()) as usize;
        for cut in first_end..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (journal, replay) = Journal::open(&path).unwrap();
            assert_eq!(ids(&replay), ["A"], "cut at {cut}");
            let seq = journal
                .append(&journal.encode(&upsert("C")).unwrap())
                .unwrap();
            journal.sync(seq).unwrap();
            drop(journal);
            let (_, replay) = Journal::open(&path).unwrap();
            assert_eq!(ids(&replay), ["A", "C"], "cut at {cut}");
        }
    }

    #[test]
    fn a_corrupt_record_ends_the_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.journal");
        let (journal, _) = Journal::open(&path).unwrap();
        journal
            .append(&journal.encode(&upsert("A")).unwrap())
            .unwrap();
        journal
            .append(&journal.encode(&upsert("B")).unwrap())
            .unwrap();
        drop(journal);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let (_, replay) = Journal::open(&path).unwrap();
        assert_eq!(ids(&replay), ["A"]);
    }

    #[test]
    fn concurrent_writers_share_syncs_and_reset_empties() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.journal");
        let (journal, _) = Journal::open(&path).unwrap();
        let journal = std::sync::Arc::new(journal);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let journal = std::sync::Arc::clone(&journal);
                std::thread::spawn(move || {
                    for n in 0..25 {
                        let seq = journal
                            .append(&journal.encode(&upsert(&format!("T{t}-{n}"))).unwrap())
                            .unwrap();
                        journal.sync(seq).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let (_, replay) = Journal::open(&path).unwrap();
        assert_eq!(replay.len(), 200);
        assert!(journal.len() > 0);
        journal.reset().unwrap();
        assert_eq!(journal.len(), 0);
        let (_, replay) = Journal::open(&path).unwrap();
        assert!(replay.is_empty());
    }
}
