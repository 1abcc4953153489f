//! Storms, their members and the detection window in the state database.

use std::collections::BTreeSet;

use base64::Engine;
use sqlx::AnyPool;

use super::detector::Observed;
use super::{Storm, StormMember};

/// The storm tables.
#[derive(Clone)]
pub(super) struct StormRepository {
    pool: AnyPool,
}

fn encode(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode(text: &str) -> Option<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    (bytes.len() % 4 == 0).then(|| {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

fn strings(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl StormRepository {
    pub(super) fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// A transaction on the state database.
    pub(super) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        self.pool.begin().await
    }

    /// A connection to the state database.
    pub(super) async fn acquire(
        &self,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, sqlx::Error> {
        self.pool.acquire().await
    }

    /// Takes the detection turn inside the caller's transaction: numbers the
    /// changes it will write and holds the counter's row (a row lock on
    /// PostgreSQL, the write lock on SQLite) until it commits, so replicas
    /// place tickets one at a time. Returns the change number and the
    /// deletion generation.
    pub(super) async fn take_turn_in(
        conn: &mut sqlx::AnyConnection,
    ) -> Result<(i64, i64), sqlx::Error> {
        sqlx::query_as("UPDATE storm_sync SET seq = seq + 1 WHERE id = 1 RETURNING seq, generation")
            .fetch_one(&mut *conn)
            .await
    }

    /// The change number and deletion generation as committed now.
    pub(super) async fn position_in(
        conn: &mut sqlx::AnyConnection,
    ) -> Result<(i64, i64), sqlx::Error> {
        sqlx::query_as("SELECT seq, generation FROM storm_sync WHERE id = 1")
            .fetch_one(&mut *conn)
            .await
    }

    /// Records that rows were deleted (erasure, retention): every replica
    /// reloads its window before it places its next ticket.
    async fn deleted_in(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE storm_sync SET generation = generation + 1 WHERE id = 1")
            .execute(&mut *conn)
            .await
            .map(drop)
    }

    /// Keeps a ticket of the window as change `seq` (replaced if seen again).
    pub(super) async fn remember_in(
        conn: &mut sqlx::AnyConnection,
        ticket: &Observed,
        seq: i64,
    ) -> Result<(), sqlx::Error> {
        let terms = serde_json::to_string(&ticket.terms).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO storm_window (ticket_id, title, at, vector, caller, service, terms, cis, seq) VALUES ($1, $7, $2, $3, $4, $5, $6, $8, $9) \
             ON CONFLICT (ticket_id) DO UPDATE SET title = excluded.title, at = excluded.at, vector = excluded.vector, caller = excluded.caller, \
             service = excluded.service, terms = excluded.terms, cis = excluded.cis, seq = excluded.seq",
        )
        .bind(&ticket.id)
        .bind(ticket.at)
        .bind(encode(&ticket.vector))
        .bind(&ticket.caller)
        .bind(&ticket.service)
        .bind(terms)
        .bind(&ticket.title)
        .bind(serde_json::to_string(&ticket.cis).unwrap_or_else(|_| "[]".into()))
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map(drop)
    }

    /// The window's tickets no older than `horizon` before the newest (oldest first).
    pub(super) async fn window_in(
        conn: &mut sqlx::AnyConnection,
        horizon_ms: i64,
    ) -> Result<Vec<Observed>, sqlx::Error> {
        let (newest,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(at) AS newest FROM storm_window")
                .fetch_one(&mut *conn)
                .await?;
        let Some(newest) = newest else {
            return Ok(Vec::new());
        };
        let rows: Vec<WindowRow> = sqlx::query_as(
            "SELECT ticket_id, title, at, vector, caller, service, terms, cis, closed_at FROM storm_window WHERE at >= $1 ORDER BY at",
        )
        .bind(newest - horizon_ms)
        .fetch_all(&mut *conn)
        .await?;
        // A vector that no longer decodes leaves its ticket out of the window.
        Ok(rows.into_iter().filter_map(WindowRow::observed).collect())
    }

    /// What other replicas changed after change `after` and before `before`:
    /// window rows (new tickets, and closed ones again) and storm members
    /// with their storm's parent, in the order they were numbered.
    pub(super) async fn changes_in(
        conn: &mut sqlx::AnyConnection,
        after: i64,
        before: i64,
    ) -> Result<(Vec<Observed>, Vec<MemberChange>), sqlx::Error> {
        let rows: Vec<WindowRow> = sqlx::query_as(
            "SELECT ticket_id, title, at, vector, caller, service, terms, cis, closed_at FROM storm_window \
             WHERE seq > $1 AND seq < $2 ORDER BY seq, at",
        )
        .bind(after)
        .bind(before)
        .fetch_all(&mut *conn)
        .await?;
        let members: Vec<(String, String, String, f64)> = sqlx::query_as(
            "SELECT m.storm_id, s.parent, m.ticket_id, m.similarity FROM storm_members m JOIN storms s ON s.id = m.storm_id \
             WHERE m.seq > $1 AND m.seq < $2 ORDER BY m.seq, m.at",
        )
        .bind(after)
        .bind(before)
        .fetch_all(&mut *conn)
        .await?;
        Ok((
            rows.into_iter().filter_map(WindowRow::observed).collect(),
            members
                .into_iter()
                .map(|(storm, parent, ticket, similarity)| MemberChange {
                    storm,
                    parent,
                    ticket,
                    similarity: similarity as f32,
                })
                .collect(),
        ))
    }

    /// Deletes window rows older than `before` (Unix ms): of no use any more.
    pub(super) async fn trim_in(
        conn: &mut sqlx::AnyConnection,
        before: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM storm_window WHERE at < $1")
            .bind(before)
            .execute(&mut *conn)
            .await
            .map(drop)
    }

    /// Records that ticket `ticket_id` was resolved or closed at `at`, as change `seq`.
    pub(super) async fn close_in(
        conn: &mut sqlx::AnyConnection,
        ticket_id: &str,
        at: i64,
        seq: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE storm_window SET closed_at = $2, seq = $3 WHERE ticket_id = $1")
            .bind(ticket_id.to_owned())
            .bind(at)
            .bind(seq)
            .execute(&mut *conn)
            .await
            .map(drop)
    }

    /// Deletes ticket `ticket_id` from the window and from every storm
    /// (erasure), inside the caller's transaction: each storm it was in
    /// gets its size and parent again, and one left empty is deleted.
    pub(super) async fn forget_in(
        conn: &mut sqlx::AnyConnection,
        ticket_id: &str,
    ) -> Result<u64, sqlx::Error> {
        let mut removed = sqlx::query("DELETE FROM storm_window WHERE ticket_id = $1")
            .bind(ticket_id.to_owned())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let storms: Vec<(String,)> =
            sqlx::query_as("SELECT storm_id FROM storm_members WHERE ticket_id = $1")
                .bind(ticket_id.to_owned())
                .fetch_all(&mut *conn)
                .await?;
        removed += sqlx::query("DELETE FROM storm_members WHERE ticket_id = $1")
            .bind(ticket_id.to_owned())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        for (storm,) in storms {
            let first: Option<(String, i64)> = sqlx::query_as(
                "SELECT ticket_id, (SELECT COUNT(*) FROM storm_members WHERE storm_id = $1) AS size \
                 FROM storm_members WHERE storm_id = $1 ORDER BY at LIMIT 1",
            )
            .bind(storm.clone())
            .fetch_optional(&mut *conn)
            .await?;
            match first {
                None => {
                    sqlx::query("DELETE FROM storms WHERE id = $1")
                        .bind(storm)
                        .execute(&mut *conn)
                        .await?;
                }
                Some((parent, size)) => {
                    sqlx::query(
                        "UPDATE storms SET size = $2, parent = CASE WHEN parent = $3 THEN $4 ELSE parent END WHERE id = $1",
                    )
                    .bind(storm)
                    .bind(size)
                    .bind(ticket_id.to_owned())
                    .bind(parent)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        if removed > 0 {
            Self::deleted_in(conn).await?;
        }
        Ok(removed)
    }

    /// Deletes storms whose last ticket came before `before` (Unix ms), with
    /// their members' titles (retention); returns how many storms.
    pub(super) async fn purge_before_in(
        conn: &mut sqlx::AnyConnection,
        before: i64,
    ) -> Result<u64, sqlx::Error> {
        sqlx::query(
            "DELETE FROM storm_members WHERE storm_id IN (SELECT id FROM storms WHERE last_at < $1)",
        )
        .bind(before)
        .execute(&mut *conn)
        .await?;
        let window = sqlx::query("DELETE FROM storm_window WHERE at < $1")
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let storms = sqlx::query("DELETE FROM storms WHERE last_at < $1")
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if window + storms > 0 {
            Self::deleted_in(conn).await?;
        }
        Ok(storms)
    }

    /// Records a new storm with its first members as change `seq`.
    pub(super) async fn open_in(
        conn: &mut sqlx::AnyConnection,
        storm: &Storm,
        seq: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO storms (id, parent, opened_at, last_at, size, terms, services, cis) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&storm.id)
        .bind(&storm.parent)
        .bind(storm.opened_at)
        .bind(storm.last_at)
        .bind(storm.size as i64)
        .bind(serde_json::to_string(&storm.terms).unwrap_or_default())
        .bind(serde_json::to_string(&storm.services).unwrap_or_default())
        .bind(serde_json::to_string(&storm.configuration_items).unwrap_or_default())
        .execute(&mut *conn)
        .await?;
        for member in &storm.members {
            insert_member(conn, &storm.id, member, seq).await?;
        }
        Ok(())
    }

    /// Adds a member as change `seq` and updates the storm's size, time and
    /// shared terms.
    pub(super) async fn join_in(
        conn: &mut sqlx::AnyConnection,
        storm: &Storm,
        member: &StormMember,
        seq: i64,
    ) -> Result<(), sqlx::Error> {
        insert_member(conn, &storm.id, member, seq).await?;
        sqlx::query(
            "UPDATE storms SET last_at = $2, size = $3, terms = $4, services = $5, cis = $6 WHERE id = $1",
        )
        .bind(&storm.id)
        .bind(storm.last_at)
        .bind(storm.size as i64)
        .bind(serde_json::to_string(&storm.terms).unwrap_or_default())
        .bind(serde_json::to_string(&storm.services).unwrap_or_default())
        .bind(serde_json::to_string(&storm.configuration_items).unwrap_or_default())
        .execute(&mut *conn)
        .await
        .map(drop)
    }

    /// Storms, newest first (at most `limit`), without their members.
    pub(super) async fn list(&self, limit: i64) -> Result<Vec<Storm>, sqlx::Error> {
        let rows: Vec<StormRow> = sqlx::query_as(
            "SELECT id, parent, opened_at, last_at, size, terms, services, cis FROM storms ORDER BY last_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Storm::from).collect())
    }

    /// One storm with its members (by time).
    pub(super) async fn get(&self, id: &str) -> Result<Option<Storm>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        Self::get_in(&mut conn, id).await
    }

    async fn get_in(
        conn: &mut sqlx::AnyConnection,
        id: &str,
    ) -> Result<Option<Storm>, sqlx::Error> {
        let Some(row) = sqlx::query_as::<_, StormRow>(
            "SELECT id, parent, opened_at, last_at, size, terms, services, cis FROM storms WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let mut storm = Storm::from(row);
        let members: Vec<(String, String, i64, f64)> = sqlx::query_as(
            "SELECT ticket_id, title, at, similarity FROM storm_members WHERE storm_id = $1 ORDER BY at, ticket_id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        storm.members = members
            .into_iter()
            .map(|(ticket_id, title, at, similarity)| StormMember {
                ticket_id,
                title,
                at,
                similarity: similarity as f32,
            })
            .collect();
        Ok(Some(storm))
    }

    /// Storms whose last member is no older than `since` (Unix ms).
    pub(super) async fn recent_in(
        conn: &mut sqlx::AnyConnection,
        since: i64,
    ) -> Result<Vec<Storm>, sqlx::Error> {
        let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM storms WHERE last_at >= $1")
            .bind(since)
            .fetch_all(&mut *conn)
            .await?;
        let mut out = Vec::new();
        for (id,) in ids {
            if let Some(storm) = Self::get_in(conn, &id).await? {
                out.push(storm);
            }
        }
        Ok(out)
    }
}

/// A storm member another replica recorded.
pub(super) struct MemberChange {
    pub(super) storm: String,
    pub(super) parent: String,
    pub(super) ticket: String,
    pub(super) similarity: f32,
}

async fn insert_member(
    conn: &mut sqlx::AnyConnection,
    storm: &str,
    member: &StormMember,
    seq: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO storm_members (storm_id, ticket_id, title, at, similarity, seq) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (storm_id, ticket_id) DO NOTHING",
    )
    .bind(storm)
    .bind(&member.ticket_id)
    .bind(&member.title)
    .bind(member.at)
    .bind(f64::from(member.similarity))
    .bind(seq)
    .execute(&mut *conn)
    .await
    .map(drop)
}

/// A row of `storms` as stored (lists as JSON text).
#[derive(sqlx::FromRow)]
struct StormRow {
    id: String,
    parent: String,
    opened_at: i64,
    last_at: i64,
    size: i64,
    terms: String,
    services: String,
    cis: String,
}

impl From<StormRow> for Storm {
    fn from(row: StormRow) -> Self {
        Self {
            id: row.id,
            parent: row.parent,
            opened_at: row.opened_at,
            last_at: row.last_at,
            size: row.size.max(0) as usize,
            terms: strings(&row.terms),
            services: strings(&row.services),
            configuration_items: strings(&row.cis),
            members: Vec::new(),
            open: false,
        }
    }
}

/// A row of `storm_window` as stored (the vector as base64 text).
#[derive(sqlx::FromRow)]
struct WindowRow {
    ticket_id: String,
    title: String,
    at: i64,
    vector: String,
    caller: Option<String>,
    service: Option<String>,
    terms: String,
    cis: String,
    closed_at: Option<i64>,
}

impl WindowRow {
    /// The ticket as the detector sees it; `None` when its vector does not decode.
    fn observed(self) -> Option<Observed> {
        Some(Observed {
            vector: decode(&self.vector)?,
            id: self.ticket_id,
            title: self.title,
            at: self.at,
            caller: self.caller,
            service: self.service,
            terms: strings(&self.terms).into_iter().collect::<BTreeSet<_>>(),
            cis: strings(&self.cis),
            closed: self.closed_at.is_some(),
            background: 0.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_their_text_form() {
        let vector = vec![0.25, -1.5, 3.0e-7, 1.0];
        assert_eq!(decode(&encode(&vector)).unwrap(), vector);
        assert!(decode("not base64!").is_none());
    }
}
