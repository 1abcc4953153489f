//! Verifying the chain: every MAC and link recomputed, the unkeyed prefix
//! checked against its keyed record, the chain compared with its anchor;
//! from the last verified checkpoint at a start, all of it on demand.

use super::{
    AnchoredHead, AuditError, AuditLog, COLUMNS, ChainReport, EntryRow, GENESIS, KEYED, LEGACY,
    entry_mac, legacy_hash, legacy_prefix_record, now_ms,
};

impl AuditLog {
    /// The unkeyed prefix length recorded when the chain was keyed: `None`
    /// when the key was never recorded (a chain nothing started on yet);
    /// an error when the record is missing or does not verify under the key.
    async fn legacy_prefix(&self) -> Result<Option<i64>, String> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, value FROM state_meta WHERE name IN ('audit_key_check', 'audit_legacy_prefix')",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        let find = |name: &str| rows.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        if find("audit_key_check").is_none() {
            return Ok(None);
        }
        let record = find("audit_legacy_prefix")
            .ok_or("the record of the chain's unkeyed prefix is missing (deleted)")?;
        let count: i64 = record
            .split(':')
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or("the record of the chain's unkeyed prefix is unreadable")?;
        if legacy_prefix_record(&self.key, count) != record {
            return Err("the record of the chain's unkeyed prefix does not verify (forged)".into());
        }
        Ok(Some(count))
    }

    /// Recomputes every MAC and link, and compares the chain with its anchor
    /// (`switchboard audit verify`, `GET /v1/audit/verify`): the whole chain,
    /// read as a stream, whatever a checkpoint says.
    pub async fn verify(&self) -> Result<ChainReport, AuditError> {
        self.verify_from(None).await
    }

    /// [`Self::verify`] from the last verified checkpoint on (at start): the
    /// entries before it were verified already, so a start after 100,000
    /// entries reads only those written since. Falls back to the whole chain
    /// when the checkpoint's entry is not in the chain as recorded.
    pub async fn verify_since_checkpoint(&self) -> Result<ChainReport, AuditError> {
        let checkpoint = self.anchor.checkpoint()?;
        self.verify_from(checkpoint).await
    }

    /// Verifies the chain from `start` (an entry verified before, trusted
    /// as it is recorded), or from its first entry; records the head as the
    /// new checkpoint when everything verified.
    async fn verify_from(&self, start: Option<AnchoredHead>) -> Result<ChainReport, AuditError> {
        use futures_util::TryStreamExt;
        // The anchor first: an entry is anchored only once committed, so every
        // head read now is in the chain read next, even while a running server
        // keeps appending (read the other way round, an entry committed and
        // anchored between the two reads looked deleted).
        let from = start.as_ref().map_or(1, |s| s.seq);
        let heads = self.anchor.heads()?;
        let newest_head = heads.iter().max_by_key(|h| h.seq).cloned();
        let anchored: std::collections::BTreeMap<i64, String> = heads
            .into_iter()
            .filter(|h| h.seq >= from)
            .map(|h| (h.seq, h.hash))
            .collect();
        let query = format!("SELECT {COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq");
        let mut rows = sqlx::query_as::<_, EntryRow>(&query)
            .bind(from)
            .fetch(&self.pool);
        let mut report = ChainReport {
            entries: 0,
            legacy_entries: 0,
            anchor: None,
            unanchored: 0,
            broken: None,
        };
        let mut prev = GENESIS.to_owned();
        let mut keyed_seen = false;
        let mut expected_seq = from;
        if let Some(start) = &start {
            // The checkpoint's own entry must still be what was verified.
            let first = rows.try_next().await?;
            match first {
                Some(EntryRow { entry, scheme })
                    if entry.seq == start.seq
                        && entry.hash == start.hash
                        && (scheme != KEYED || entry_mac(&self.key, &entry) == entry.hash) =>
                {
                    keyed_seen = scheme == KEYED;
                    prev = entry.hash;
                    expected_seq += 1;
                }
                _ => {
                    drop(rows);
                    tracing::warn!(
                        checkpoint = start.seq,
                        "the audit chain differs at its checkpoint; verifying all of it"
                    );
                    return Box::pin(self.verify_from(None)).await;
                }
            }
        }
        let mut last = from - 1 + i64::from(start.is_some());
        let mut last_hash = start.as_ref().map(|s| s.hash.clone());
        while let Some(EntryRow { entry, scheme }) = rows.try_next().await? {
            report.entries += 1;
            let broken = if entry.seq != expected_seq {
                Some(format!(
                    "expected entry {expected_seq}, found {} (entries missing)",
                    entry.seq
                ))
            } else if entry.prev_hash != prev {
                Some("does not link to the entry before it".to_owned())
            } else {
                match scheme.as_str() {
                    KEYED if entry_mac(&self.key, &entry) != entry.hash => Some(
                        "its MAC does not match its content (edited, or verified with another key)"
                            .to_owned(),
                    ),
                    KEYED => {
                        keyed_seen = true;
                        None
                    }
                    LEGACY if keyed_seen => {
                        Some("an unkeyed entry after keyed ones (rewritten)".to_owned())
                    }
                    LEGACY if legacy_hash(&entry) != entry.hash => {
                        Some("its content does not match its hash (edited)".to_owned())
                    }
                    LEGACY => {
                        report.legacy_entries += 1;
                        None
                    }
                    other => Some(format!("unknown scheme {other:?}")),
                }
            }
            .or_else(|| {
                anchored
                    .get(&entry.seq)
                    .is_some_and(|h| *h != entry.hash)
                    .then(|| "differs from the MAC its anchor recorded (rewritten)".to_owned())
            });
            if let Some(reason) = broken {
                report.broken = Some((entry.seq, reason));
                return Ok(report);
            }
            expected_seq += 1;
            last = entry.seq;
            prev = entry.hash.clone();
            last_hash = Some(entry.hash);
        }
        drop(rows);
        if start.is_none() {
            match self.legacy_prefix().await {
                Ok(Some(recorded)) if recorded != report.legacy_entries => {
                    report.broken = Some((
                        1,
                        format!(
                            "the chain starts with {} unkeyed entries, {recorded} when it was keyed (rewritten as unkeyed)",
                            report.legacy_entries
                        ),
                    ));
                    return Ok(report);
                }
                Ok(_) => {}
                Err(reason) => {
                    report.broken = Some((1, reason));
                    return Ok(report);
                }
            }
        }
        let newest = newest_head.as_ref().map_or(0, |h| h.seq);
        if newest > last {
            report.broken = Some((
                last + 1,
                format!(
                    "the chain ends at entry {last} but its anchor records entry {newest}: \
                     entries {}-{newest} were deleted",
                    last + 1
                ),
            ));
            return Ok(report);
        }
        report.anchor = newest_head;
        report.unanchored = last - report.anchor.as_ref().map_or(0, |h| h.seq);
        if let Some(hash) = last_hash
            && let Err(e) = self.anchor.record_checkpoint(&AnchoredHead {
                seq: last,
                hash,
                at: now_ms(),
            })
        {
            tracing::warn!(error = %e, "cannot record the audit chain's verified checkpoint");
        }
        Ok(report)
    }
}
