//! The append-only audit log: who did what to which execution, when, with the
//! state before and after.
//!
//! Each entry carries an HMAC-SHA256 over its content and the previous entry's
//! MAC, under a key kept outside the database ([`AuditKey`]): editing, inserting
//! or deleting an entry breaks the chain, and recomputing the later MACs needs
//! the key. The newest entries could still be deleted without breaking any link,
//! so every append also records the new head in an [`AuditAnchor`] file outside
//! the database, and `switchboard audit verify` reports a chain shorter than its
//! anchor. Entries written before the chain was keyed (scheme `sha256`) verify
//! with their plain hash, and only as the chain's oldest entries.
//!
//! Appends take a lock row (`audit_head`) inside the caller's transaction, so
//! appends from concurrent transactions, processes or replicas form one chain,
//! and an entry commits (or not) together with the state change it describes.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool};

mod anchor;
pub mod refusals;
pub mod settings;
mod verify;
pub use settings::AuditSettings;

use super::clock::now_ms;
pub use anchor::{AnchoredHead, AuditAnchor};

/// Hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Scheme of entries MACed with the audit key.
const KEYED: &str = "hmac-sha256";
/// Scheme of entries written before the chain was keyed.
const LEGACY: &str = "sha256";

/// One audit entry.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema, sqlx::FromRow)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// Token name (caller) or `switchboard` for the service itself.
    pub actor: String,
    /// e.g. `execution.requested`, `execution.approved`, `execution.refused`.
    pub action: String,
    /// Execution id or runbook id.
    pub subject: String,
    /// State before (empty when none).
    #[sqlx(rename = "before_state")]
    pub before: String,
    /// State after (empty when none).
    #[sqlx(rename = "after_state")]
    pub after: String,
    /// JSON details (never secrets).
    pub detail: String,
    /// MAC of the previous entry.
    pub prev_hash: String,
    /// MAC of this entry (`hmac-sha256` under the audit key; plain SHA-256 for
    /// entries written before the chain was keyed).
    pub hash: String,
}

/// The secret key of the chain's MACs. Never logged, never stored in the database.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// Shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    /// A key from its bytes; `None` if shorter than [`AuditKey::MIN_LEN`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Option<Self> {
        let bytes = bytes.into();
        (bytes.len() >= Self::MIN_LEN).then_some(Self(bytes))
    }

    /// The key's bytes, for deriving the keys of other keyed hashes
    /// ([`crate::infra::subjects::SubjectIndex`]); never logged.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key in `path`, created (random, mode 0600) if the file does not exist.
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                crate::infra::secrets::check_private_file(path).map_err(|reason| {
                    std::io::Error::new(std::io::ErrorKind::PermissionDenied, reason)
                })?;
                let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                Self::new(text.into_bytes()).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{}: the audit key must be at least {} bytes",
                            path.display(),
                            Self::MIN_LEN
                        ),
                    )
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let key = format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                );
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut file = match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(file) => file,
                    // Another loader (the triage service starts beside the
                    // audit log) made it first: read theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        return Self::load_or_create(path);
                    }
                    Err(e) => return Err(e),
                };
                file.write_all(key.as_bytes())?;
                file.sync_all()?;
                Ok(Self(key.into_bytes()))
            }
            Err(e) => Err(e),
        }
    }
}

fn entry_mac(key: &AuditKey, e: &AuditEntry) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
    for part in entry_parts(e) {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// What the database records of the key: a MAC of a fixed text under it.
fn key_check(key: &AuditKey) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
    mac.update(b"switchboard audit key check v1");
    hex::encode(mac.finalize().into_bytes())
}

/// The record of how many unkeyed entries the chain had when it was keyed,
/// MACed under the key: `N:mac`.
fn legacy_prefix_record(key: &AuditKey, count: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
    mac.update(format!("switchboard audit legacy prefix v1:{count}").as_bytes());
    format!("{count}:{}", hex::encode(mac.finalize().into_bytes()))
}

fn legacy_hash(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    for part in entry_parts(e) {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

fn entry_parts(e: &AuditEntry) -> [std::borrow::Cow<'_, str>; 9] {
    [
        e.prev_hash.as_str().into(),
        e.seq.to_string().into(),
        e.at.to_string().into(),
        e.actor.as_str().into(),
        e.action.as_str().into(),
        e.subject.as_str().into(),
        e.before.as_str().into(),
        e.after.as_str().into(),
        e.detail.as_str().into(),
    ]
}

/// Appends to and checks the chain.
pub struct AuditLog {
    pool: AnyPool,
    key: AuditKey,
    anchor: AuditAnchor,
    refusals: refusals::RefusalSampler,
}

/// What to record.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord<'a> {
    /// Who.
    pub actor: &'a str,
    /// What.
    pub action: &'a str,
    /// On what.
    pub subject: &'a str,
    /// State before.
    pub before: &'a str,
    /// State after.
    pub after: &'a str,
    /// JSON details.
    pub detail: serde_json::Value,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    /// Entries checked.
    pub entries: i64,
    /// Entries written before the chain was keyed (plain SHA-256), all at its start.
    pub legacy_entries: i64,
    /// The newest head recorded in the anchor file, if any.
    pub anchor: Option<AnchoredHead>,
    /// Entries newer than the anchor (written, then the process stopped before
    /// anchoring them; the next start anchors them).
    pub unanchored: i64,
    /// First broken entry and why, if any.
    pub broken: Option<(i64, String)>,
}

/// A row of `audit_log` as stored: the entry and the scheme of its MAC.
#[derive(sqlx::FromRow)]
struct EntryRow {
    #[sqlx(flatten)]
    entry: AuditEntry,
    scheme: String,
}

const COLUMNS: &str =
    "seq, at, actor, action, subject, before_state, after_state, detail, prev_hash, hash, scheme";

/// Writes `entry` (its MAC made under `scheme`) as a row.
async fn insert_entry(
    conn: &mut AnyConnection,
    entry: &AuditEntry,
    scheme: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(entry.seq)
    .bind(entry.at)
    .bind(entry.actor.clone())
    .bind(entry.action.clone())
    .bind(entry.subject.clone())
    .bind(entry.before.clone())
    .bind(entry.after.clone())
    .bind(entry.detail.clone())
    .bind(entry.prev_hash.clone())
    .bind(entry.hash.clone())
    .bind(scheme.to_owned())
    .execute(conn)
    .await?;
    Ok(())
}

/// Failures of appending or verifying.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The anchor file could not be read.
    #[error("audit anchor: {0}")]
    Anchor(#[from] std::io::Error),
    /// This process's key is not the one the chain is written with.
    #[error(
        "the audit key differs from the one this database's audit chain is written with: give every replica (and the CLI) the same key, the secret named by audit.key_secret"
    )]
    KeyMismatch,
}

impl AuditLog {
    /// The log in `pool`, MACed with `key`, anchored in `anchor`.
    pub fn new(pool: AnyPool, key: AuditKey, anchor: AuditAnchor) -> Self {
        Self {
            pool,
            key,
            anchor,
            refusals: refusals::RefusalSampler::default(),
        }
    }

    /// The chain's key, from which the subject index derives its own, so
    /// every replica and the CLI compute the same fingerprints.
    pub(crate) fn key(&self) -> &AuditKey {
        &self.key
    }

    /// The anchor file.
    pub fn anchor(&self) -> &AuditAnchor {
        &self.anchor
    }

    /// Appends one entry in a transaction of its own, and anchors it.
    pub async fn append(&self, record: AuditRecord<'_>) -> Result<AuditEntry, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let entry = self.append_in(&mut tx, record).await?;
        tx.commit().await?;
        self.anchor_head(&entry);
        Ok(entry)
    }

    /// A request refused for its credentials on `surface` (`executions`,
    /// `connector:NAME`): counted always; in the chain (`action`, with how
    /// many were refused since the last such entry and this one's `detail`)
    /// and in the log only when a sample is due, so strangers cannot grow
    /// the chain or make approvals wait on its lock.
    pub async fn refused(
        &self,
        surface: &str,
        action: &str,
        subject: &str,
        detail: serde_json::Value,
    ) {
        let Some(due) = self.refusals.note(surface, now_ms()) else {
            return;
        };
        tracing::warn!(%surface, refused = due.refused, %detail, "requests refused (one audit entry a minute at most)");
        let record = AuditRecord {
            actor: "anonymous",
            action,
            subject,
            detail: serde_json::json!({
                "refused_since_last_entry": due.refused,
                "last": detail,
            }),
            ..AuditRecord::default()
        };
        if let Err(e) = self.append(record).await {
            tracing::error!(%surface, error = %e, "cannot audit refused requests");
        }
    }

    /// Appends one entry inside the caller's transaction, chained to the last
    /// committed one. Anchor it with [`AuditLog::anchor_head`] once committed.
    pub async fn append_in(
        &self,
        conn: &mut AnyConnection,
        record: AuditRecord<'_>,
    ) -> Result<AuditEntry, sqlx::Error> {
        // The lock row: held until the caller's transaction ends, so no other
        // append reads the same head (a row lock on PostgreSQL, the write lock on
        // SQLite).
        sqlx::query("UPDATE audit_head SET locked_at = $1 WHERE id = 1")
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?;
        let (seq, prev_hash) = match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS.to_owned()),
        };
        let mut entry = AuditEntry {
            seq,
            at: now_ms(),
            actor: record.actor.to_owned(),
            action: record.action.to_owned(),
            subject: record.subject.to_owned(),
            before: record.before.to_owned(),
            after: record.after.to_owned(),
            detail: record.detail.to_string(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry_mac(&self.key, &entry);
        insert_entry(conn, &entry, KEYED).await?;
        Ok(entry)
    }

    /// Records a committed entry as the chain's head in the anchor file. A
    /// failure is logged: the entry is committed, and the next start anchors it.
    pub fn anchor_head(&self, entry: &AuditEntry) {
        let head = AnchoredHead {
            seq: entry.seq,
            hash: entry.hash.clone(),
            at: now_ms(),
        };
        crate::infra::crash::point("audit.before_anchor");
        if let Err(err) = self.anchor.record(&head) {
            tracing::error!(anchor = %self.anchor.path().display(), error = %err, "cannot anchor the audit chain's head");
        }
    }

    /// At startup: checks that this key is the chain's (recording it when the
    /// database has none yet), so a replica with another key refuses to start
    /// rather than append entries no other replica can verify.
    pub async fn check_key(&self) -> Result<(), AuditError> {
        let check = key_check(&self.key);
        sqlx::query(
            "INSERT INTO state_meta (name, value) VALUES ('audit_key_check', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(check.clone())
        .execute(&self.pool)
        .await?;
        let (stored,): (String,) =
            sqlx::query_as("SELECT value FROM state_meta WHERE name = 'audit_key_check'")
                .fetch_one(&self.pool)
                .await?;
        if stored != check {
            return Err(AuditError::KeyMismatch);
        }
        // How many unkeyed entries the chain starts with, bound to the key:
        // someone who can write the database but has no key cannot rewrite
        // the chain as unkeyed entries.
        let (legacy,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE scheme = $1")
            .bind(LEGACY)
            .fetch_one(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO state_meta (name, value) VALUES ('audit_legacy_prefix', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(legacy_prefix_record(&self.key, legacy))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// At startup: verifies the entries written since the last verified
    /// checkpoint, and anchors entries committed by a process that stopped
    /// before anchoring them once they verify; says loudly when they do not.
    pub async fn reconcile_anchor(&self) -> Result<ChainReport, AuditError> {
        let report = self.verify_since_checkpoint().await?;
        if let Some((seq, reason)) = &report.broken {
            tracing::error!(entry = seq, %reason, "the audit chain does not verify; run `switchboard audit verify`");
        } else if report.unanchored > 0
            && let Some(head) = self.head().await?
        {
            self.anchor_head(&head);
        }
        Ok(report)
    }

    /// The newest entry, if any.
    pub async fn head(&self) -> Result<Option<AuditEntry>, sqlx::Error> {
        let row: Option<EntryRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.entry))
    }

    /// Entry number `seq`, if the chain has it.
    pub async fn entry(&self, seq: i64) -> Result<Option<AuditEntry>, sqlx::Error> {
        let row: Option<EntryRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM audit_log WHERE seq = $1"))
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|row| row.entry))
    }

    /// Entries about `subject`, oldest first.
    pub async fn for_subject(&self, subject: &str) -> Result<Vec<AuditEntry>, sqlx::Error> {
        let rows: Vec<EntryRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE subject = $1 ORDER BY seq"
        ))
        .bind(subject.to_owned())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|row| row.entry).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> AuditKey {
        AuditKey::new(text.as_bytes().to_vec()).unwrap()
    }

    async fn log_with(
        dir: &std::path::Path,
        key_text: &str,
        entries: usize,
    ) -> (AuditLog, AnyPool) {
        let pool = crate::infra::db::connect(&crate::infra::db::default_url(dir))
            .await
            .unwrap();
        let log = AuditLog::new(
            pool.clone(),
            key(key_text),
            AuditAnchor::new(dir.join("audit.anchor")),
        );
        for n in 0..entries {
            log.append(AuditRecord {
                actor: "ana",
                action: "execution.requested",
                subject: &format!("E{n}"),
                after: "pending_approval",
                ..AuditRecord::default()
            })
            .await
            .unwrap();
        }
        (log, pool)
    }

    const KEY: &str = "a-test-key-of-32-bytes-or-so-abc";

    /// Edits entry `seq`'s actor in the database, as someone without the key would.
    async fn set_actor(pool: &AnyPool, seq: i64, actor: &str) {
        sqlx::query("UPDATE audit_log SET actor = $1 WHERE seq = $2")
            .bind(actor.to_owned())
            .bind(seq)
            .execute(pool)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_intact_chain_verifies_and_matches_its_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = log_with(dir.path(), KEY, 4).await;
        let report = log.verify().await.unwrap();
        assert_eq!(report.broken, None);
        assert_eq!((report.entries, report.unanchored), (4, 0));
        assert_eq!(report.anchor.unwrap().seq, 4);
    }

    #[tokio::test]
    async fn a_start_verifies_only_the_entries_since_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pool) = log_with(dir.path(), KEY, 5).await;
        assert_eq!(log.verify_since_checkpoint().await.unwrap().entries, 5);
        assert_eq!(log.anchor().checkpoint().unwrap().unwrap().seq, 5);
        for n in 0..2 {
            log.append(AuditRecord {
                actor: "ana",
                action: "execution.approved",
                subject: &format!("F{n}"),
                ..AuditRecord::default()
            })
            .await
            .unwrap();
        }
        // An entry after the checkpoint edited: found at start.
        set_actor(&pool, 7, "mallory").await;
        let broken = log.verify_since_checkpoint().await.unwrap().broken;
        assert_eq!(broken.unwrap().0, 7);
        set_actor(&pool, 7, "ana").await;
        let report = log.verify_since_checkpoint().await.unwrap();
        assert_eq!((report.entries, report.broken), (2, None));
        // The checkpoint's own entry edited: found at start too.
        set_actor(&pool, 7, "mallory").await;
        let broken = log.verify_since_checkpoint().await.unwrap().broken;
        assert_eq!(broken.unwrap().0, 7);
        set_actor(&pool, 7, "ana").await;
        // One before it: left to the full verification, which finds it.
        set_actor(&pool, 2, "mallory").await;
        assert!(
            log.verify_since_checkpoint()
                .await
                .unwrap()
                .broken
                .is_none()
        );
        assert_eq!(log.verify().await.unwrap().broken.unwrap().0, 2);
    }

    #[tokio::test]
    async fn a_checkpoint_the_chain_no_longer_holds_means_verifying_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pool) = log_with(dir.path(), KEY, 4).await;
        log.verify().await.unwrap();
        sqlx::query("UPDATE audit_log SET hash = 'forged' WHERE seq = 4")
            .execute(&pool)
            .await
            .unwrap();
        let report = log.verify_since_checkpoint().await.unwrap();
        assert_eq!(report.broken.unwrap().0, 4, "checked from the start");
    }

    #[tokio::test]
    async fn editing_or_deleting_a_middle_entry_breaks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pool) = log_with(dir.path(), KEY, 3).await;
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(log.verify().await.unwrap().broken.unwrap().0, 2);
        sqlx::query("UPDATE audit_log SET actor = 'ana' WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit_log WHERE seq = 1")
            .execute(&pool)
            .await
            .unwrap();
        let broken = log.verify().await.unwrap().broken.unwrap();
        assert!(broken.1.contains("missing"), "{broken:?}");
    }

    #[tokio::test]
    async fn deleting_the_newest_entries_is_reported_as_a_truncated_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pool) = log_with(dir.path(), KEY, 5).await;
        sqlx::query("DELETE FROM audit_log WHERE seq >= 4")
            .execute(&pool)
            .await
            .unwrap();
        let (seq, reason) = log.verify().await.unwrap().broken.unwrap();
        assert_eq!(seq, 4);
        assert!(reason.contains("entries 4-5 were deleted"), "{reason}");
    }

    /// Rewrites entry 2's actor and recomputes every later link with `mac`, as an
    /// attacker with write access to the database would.
    async fn rewrite_and_rehash(
        pool: &AnyPool,
        mac: impl Fn(&AuditEntry) -> (String, &'static str),
    ) {
        let rows: Vec<EntryRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
                .fetch_all(pool)
                .await
                .unwrap();
        let mut prev = GENESIS.to_owned();
        for EntryRow { mut entry, .. } in rows {
            if entry.seq == 2 {
                entry.actor = "mallory".into();
            }
            entry.prev_hash = prev;
            let (hash, scheme) = mac(&entry);
            entry.hash = hash;
            sqlx::query("UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3, scheme = $4 WHERE seq = $5")
                .bind(entry.actor.clone())
                .bind(entry.prev_hash.clone())
                .bind(entry.hash.clone())
                .bind(scheme)
                .bind(entry.seq)
                .execute(pool)
                .await
                .unwrap();
            prev = entry.hash;
        }
    }

    #[tokio::test]
    async fn a_chain_rewritten_as_unkeyed_entries_is_detected_even_without_its_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pool) = log_with(dir.path(), KEY, 4).await;
        log.check_key().await.unwrap();
        assert!(log.verify().await.unwrap().broken.is_none());
        // Whoever can write the database and the anchor, but has no key.
        rewrite_and_rehash(&pool, |e| (legacy_hash(e), LEGACY)).await;
        std::fs::remove_file(dir.path().join("audit.anchor")).unwrap();
        let _ = std::fs::remove_file(dir.path().join("audit.anchor.verified"));
        let (_, reason) = log.verify().await.unwrap().broken.unwrap();
        assert!(reason.contains("unkeyed"), "{reason}");
        // Deleting the record does not help.
        sqlx::query("DELETE FROM state_meta WHERE name = 'audit_legacy_prefix'")
            .execute(&pool)
            .await
            .unwrap();
        let (_, reason) = log.verify().await.unwrap().broken.unwrap();
        assert!(reason.contains("missing"), "{reason}");
    }

    #[tokio::test]
    async fn rewriting_and_rehashing_without_the_key_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pool) = log_with(dir.path(), KEY, 4).await;
        // As plain SHA-256 entries, the scheme earlier versions wrote ...
        rewrite_and_rehash(&pool, |e| (legacy_hash(e), LEGACY)).await;
        let report = log.verify().await.unwrap();
        assert!(report.broken.is_some(), "{report:?}");
        // ... and as keyed entries under a key the attacker chose.
        let guess = key("mallory-guessed-this-key-000000");
        rewrite_and_rehash(&pool, |e| (entry_mac(&guess, e), KEYED)).await;
        let (seq, reason) = log.verify().await.unwrap().broken.unwrap();
        assert_eq!(seq, 1);
        assert!(reason.contains("MAC does not match"), "{reason}");
    }

    #[tokio::test]
    async fn rewriting_with_the_key_still_differs_from_the_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pool) = log_with(dir.path(), KEY, 4).await;
        rewrite_and_rehash(&pool, |e| (entry_mac(&key(KEY), e), KEYED)).await;
        let (seq, reason) = log.verify().await.unwrap().broken.unwrap();
        assert_eq!(seq, 2);
        assert!(reason.contains("anchor"), "{reason}");
    }

    #[tokio::test]
    async fn another_key_does_not_verify_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (_, pool) = log_with(dir.path(), KEY, 2).await;
        let other = AuditLog::new(
            pool,
            key("another-key-another-key-another"),
            AuditAnchor::new(dir.path().join("audit.anchor")),
        );
        let (seq, reason) = other.verify().await.unwrap().broken.unwrap();
        assert_eq!(seq, 1);
        assert!(reason.contains("another key"), "{reason}");
    }

    #[tokio::test]
    async fn a_second_key_on_the_same_database_is_refused_before_it_appends() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pool) = log_with(dir.path(), KEY, 1).await;
        log.check_key().await.unwrap();
        log.check_key().await.unwrap();
        let other = AuditLog::new(
            pool,
            key("another-key-another-key-another"),
            AuditAnchor::new(dir.path().join("audit.anchor")),
        );
        assert!(matches!(
            other.check_key().await,
            Err(AuditError::KeyMismatch)
        ));
    }

    #[tokio::test]
    async fn legacy_entries_verify_as_a_prefix_of_the_keyed_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pool) = log_with(dir.path(), KEY, 0).await;
        // Two entries as the unkeyed chain wrote them.
        let mut prev = GENESIS.to_owned();
        for seq in 1..=2 {
            let mut entry = AuditEntry {
                seq,
                at: 1,
                actor: "ana".into(),
                action: "execution.requested".into(),
                subject: format!("old-{seq}"),
                before: String::new(),
                after: "pending_approval".into(),
                detail: "{}".into(),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            entry.hash = legacy_hash(&entry);
            let mut conn = pool.acquire().await.unwrap();
            insert_entry(&mut conn, &entry, LEGACY).await.unwrap();
            prev = entry.hash;
        }
        log.append(AuditRecord {
            actor: "ana",
            action: "execution.requested",
            subject: "new",
            ..AuditRecord::default()
        })
        .await
        .unwrap();
        let report = log.verify().await.unwrap();
        assert_eq!(report.broken, None);
        assert_eq!((report.entries, report.legacy_entries), (3, 2));
    }

    #[tokio::test]
    async fn a_key_file_is_created_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let first = AuditKey::load_or_create(&path).unwrap();
        let again = AuditKey::load_or_create(&path).unwrap();
        assert_eq!(first.0, again.0);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(format!("{first:?}"), "AuditKey(..)");
        std::fs::write(&path, "short").unwrap();
        assert!(AuditKey::load_or_create(&path).is_err());
    }
}
