//! Console sign-in sessions in the state database (and `[console]`, the
//! settings of the console and its cookie). The browser holds a random
//! id in an HttpOnly, SameSite=Strict cookie; the database holds only its
//! SHA-256, the API token it stands for (by that token's hash, so a token
//! removed from the settings ends its sessions at once), a CSRF token and the
//! expiry. Every process on the database sees the same sessions, and signing
//! out deletes the row.

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::{Caller, TokenEntry, constant_time_eq, generate_token, hash_token};
use crate::infra::clock::SharedClock;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sb_session";
/// The header carrying the CSRF token on cookie-authenticated state changes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The web console (`/ui/`): how long a sign-in lasts and how its cookie is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Serve the console at all.
    pub enabled: bool,
    /// A sign-in session's lifetime in seconds (default 8 h: a shift).
    pub session_ttl_s: u64,
    /// Mark the session cookie `Secure` (set it when the console is served
    /// over HTTPS, directly or behind a proxy); it is also marked `Secure`
    /// whenever a request arrives with `X-Forwarded-Proto: https`.
    pub secure_cookie: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            session_ttl_s: 8 * 3600,
            secure_cookie: false,
        }
    }
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who it signs in.
    pub caller: Caller,
    /// Must come back with every state change.
    pub csrf: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// The sessions table.
#[derive(Clone)]
pub struct SessionStore {
    pool: AnyPool,
    /// Decides when sessions expire.
    clock: SharedClock,
}

impl SessionStore {
    /// Sessions in `pool`'s `ui_sessions`, expiring on `clock`.
    pub fn new(pool: AnyPool, clock: SharedClock) -> Self {
        Self { pool, clock }
    }

    /// Starts a session for the holder of `token` (already authenticated):
    /// the cookie value to send, and the session.
    pub async fn create(
        &self,
        token: &str,
        caller: Caller,
        ttl_s: u64,
    ) -> Result<(String, Session), sqlx::Error> {
        let id = generate_token();
        let csrf = generate_token();
        let now = self.clock.now_ms();
        let expires_at =
            now.saturating_add(i64::try_from(ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX));
        // Expired rows go whenever someone signs in: the table stays small.
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO ui_sessions (id_hash, token_sha256, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash_token(&id))
        .bind(hash_token(token))
        .bind(&csrf)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok((
            id,
            Session {
                caller,
                csrf,
                expires_at,
            },
        ))
    }

    /// The live session behind a cookie value, if its token is still configured.
    pub async fn find(
        &self,
        id: &str,
        tokens: &[TokenEntry],
    ) -> Result<Option<Session>, sqlx::Error> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT token_sha256, csrf, expires_at FROM ui_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(hash_token(id))
        .bind(self.clock.now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some((token_hash, csrf, expires_at)) = row else {
            return Ok(None);
        };
        let Some(entry) = tokens.iter().find(|t| {
            constant_time_eq(
                t.sha256.to_ascii_lowercase().as_bytes(),
                token_hash.as_bytes(),
            )
        }) else {
            return Ok(None);
        };
        Ok(Some(Session {
            caller: Caller {
                name: entry.name.clone(),
                role: entry.role,
            },
            csrf,
            expires_at,
        }))
    }

    /// Ends the session behind a cookie value (signing out).
    pub async fn delete(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM ui_sessions WHERE id_hash = $1")
            .bind(hash_token(id))
            .execute(&self.pool)
            .await
            .map(drop)
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", "a=1; sb_session_x=2".parse().unwrap());
        headers.append("cookie", "sb_session=abc".parse().unwrap());
        assert_eq!(cookie(&headers, "sb_session"), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
