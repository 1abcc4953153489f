//! The append-only audit log: who did what to which execution, when, with the
//! state before and after. Each entry carries the hash of the previous one, so
//! editing or deleting any entry breaks the chain and `switchboard audit verify`
//! reports where.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

use super::db::now_ms;

/// Hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
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
    pub before: String,
    /// State after (empty when none).
    pub after: String,
    /// JSON details (never secrets).
    pub detail: String,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

fn entry_hash(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    for part in [
        e.prev_hash.as_str(),
        &e.seq.to_string(),
        &e.at.to_string(),
        &e.actor,
        &e.action,
        &e.subject,
        &e.before,
        &e.after,
        &e.detail,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends to and checks the chain; appends are serialised in process.
pub struct AuditLog {
    pool: AnyPool,
    append_lock: tokio::sync::Mutex<()>,
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

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    /// Entries checked.
    pub entries: i64,
    /// First broken entry and why, if any.
    pub broken: Option<(i64, String)>,
}

fn row_entry(row: &sqlx::any::AnyRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        subject: row.try_get("subject")?,
        before: row.try_get("before_state")?,
        after: row.try_get("after_state")?,
        detail: row.try_get("detail")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

const COLUMNS: &str =
    "seq, at, actor, action, subject, before_state, after_state, detail, prev_hash, hash";

impl AuditLog {
    /// The log in `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            append_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Appends one entry chained to the last.
    pub async fn append(&self, record: AuditRecord<'_>) -> Result<AuditEntry, sqlx::Error> {
        let _guard = self.append_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let (seq, prev_hash) = match last {
            Some(row) => (
                row.try_get::<i64, _>("seq")? + 1,
                row.try_get::<String, _>("hash")?,
            ),
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
        entry.hash = entry_hash(&entry);
        sqlx::query(&format!(
            "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Entries about `subject`, oldest first.
    pub async fn for_subject(&self, subject: &str) -> Result<Vec<AuditEntry>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE subject = $1 ORDER BY seq"
        ))
        .bind(subject.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_entry).collect()
    }

    /// Recomputes every hash and link.
    pub async fn verify(&self) -> Result<ChainReport, sqlx::Error> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
            .fetch_all(&self.pool)
            .await?;
        let mut prev = GENESIS.to_owned();
        for (expected_seq, row) in (1..).zip(rows.iter()) {
            let entry = row_entry(row)?;
            let broken = if entry.seq != expected_seq {
                Some(format!(
                    "expected entry {expected_seq}, found {} (entries missing)",
                    entry.seq
                ))
            } else if entry.prev_hash != prev {
                Some("does not link to the entry before it".to_owned())
            } else if entry_hash(&entry) != entry.hash {
                Some("its content does not match its hash (edited)".to_owned())
            } else {
                None
            };
            if let Some(reason) = broken {
                return Ok(ChainReport {
                    entries: i64::try_from(rows.len()).unwrap_or(i64::MAX),
                    broken: Some((entry.seq, reason)),
                });
            }
            prev = entry.hash;
        }
        Ok(ChainReport {
            entries: i64::try_from(rows.len()).unwrap_or(i64::MAX),
            broken: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tampering_breaks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let pool = super::super::db::connect(&super::super::db::default_url(dir.path()))
            .await
            .unwrap();
        let log = AuditLog::new(pool.clone());
        for n in 0..3 {
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
        assert_eq!(
            log.verify().await.unwrap(),
            ChainReport {
                entries: 3,
                broken: None
            }
        );
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        let report = log.verify().await.unwrap();
        assert_eq!(report.broken.unwrap().0, 2);
        sqlx::query("UPDATE audit_log SET actor = 'ana' WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit_log WHERE seq = 1")
            .execute(&pool)
            .await
            .unwrap();
        assert!(
            log.verify()
                .await
                .unwrap()
                .broken
                .unwrap()
                .1
                .contains("missing")
        );
    }
}
