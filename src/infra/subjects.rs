//! Who a ticket is about, without keeping who: the e-mail addresses a ticket
//! mentioned, stored as keyed hashes next to its id, so erasure by address
//! finds a person's tickets after their text was scrubbed. The key is derived
//! from the audit key (shared by every replica and the CLI); without it a
//! stored hash cannot be tested against a guessed address.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::{AnyConnection, AnyPool};

use super::audit::AuditKey;

/// The keyed hashes of the addresses each ticket mentioned.
#[derive(Clone)]
pub struct SubjectIndex {
    pool: AnyPool,
    key: [u8; 32],
}

impl std::fmt::Debug for SubjectIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectIndex(..)")
    }
}

impl SubjectIndex {
    /// The index in `pool`, its hashes keyed by a key derived from `audit_key`.
    pub fn new(pool: AnyPool, audit_key: &AuditKey) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(audit_key.bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"switchboard subject index v1");
        Self {
            pool,
            key: mac.finalize().into_bytes().into(),
        }
    }

    /// The keyed hash `address` is stored and audited under (hex): the same
    /// for the same address in any case, useless without the key.
    pub fn fingerprint(&self, address: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(address.trim().to_lowercase().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A stand-in for a personal value that keeps equality (the same caller
    /// is still the same caller) and nothing else: `person:` and 16 hex digits.
    pub fn pseudonym(&self, value: &str) -> String {
        format!("person:{}", &self.fingerprint(value)[..16])
    }

    /// Records that `ticket_id` mentioned `addresses` (already lower-cased);
    /// recording the same pair again changes nothing.
    pub async fn record(
        &self,
        ticket_id: &str,
        addresses: &[String],
        at: i64,
    ) -> Result<(), sqlx::Error> {
        for address in addresses {
            sqlx::query(
                "INSERT INTO ticket_subjects (subject, ticket_id, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (subject, ticket_id) DO NOTHING",
            )
            .bind(self.fingerprint(address))
            .bind(ticket_id.to_owned())
            .bind(at)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// The tickets that mentioned `address`.
    pub async fn tickets_of(&self, address: &str) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT ticket_id FROM ticket_subjects WHERE subject = $1 ORDER BY ticket_id",
        )
        .bind(self.fingerprint(address))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Removes `ticket_id`'s entries inside the caller's transaction.
    pub async fn forget_in(conn: &mut AnyConnection, ticket_id: &str) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM ticket_subjects WHERE ticket_id = $1")
            .bind(ticket_id.to_owned())
            .execute(conn)
            .await?;
        Ok(done.rows_affected())
    }
}
