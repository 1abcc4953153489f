//! API tokens and roles, and console sign-in sessions ([`session`]). Tokens
//! are stored only as SHA-256 hashes; a request presents the token itself as
//! `Authorization: Bearer <token>`, or a session cookie stands for it.

pub mod session;

pub use session::{CSRF_HEADER, ConsoleSettings, SESSION_COOKIE, Session, SessionStore, cookie};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read-only access.
    Viewer,
    /// May add incidents and request work.
    Agent,
    /// May approve work.
    Approver,
    /// May approve emergency changes (the emergency change advisory board's
    /// role), besides everything an approver may do.
    ChangeManager,
    /// Everything.
    Admin,
}

/// One configured token: who it identifies, its role and the hash of its secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Name recorded as the caller (e.g. `servicenow-webhook`).
    pub name: String,
    /// What the token may do.
    pub role: Role,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// The token's role.
    pub role: Role,
}

/// Hex SHA-256 of a token, as stored in settings.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two byte strings in time independent of where they differ
/// (tokens, signatures, CSRF tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Finds the caller a token belongs to.
pub fn authenticate(tokens: &[TokenEntry], token: &str) -> Option<Caller> {
    let presented = hash_token(token);
    let mut found = None;
    for entry in tokens {
        if constant_time_eq(
            entry.sha256.to_ascii_lowercase().as_bytes(),
            presented.as_bytes(),
        ) {
            found = Some(Caller {
                name: entry.name.clone(),
                role: entry.role,
            });
        }
    }
    found
}

/// A fresh random token (256 bits, hex).
pub fn generate_token() -> String {
    format!(
        "sb_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_by_hash_only() {
        let token = generate_token();
        let tokens = vec![TokenEntry {
            name: "desk".into(),
            role: Role::Agent,
            sha256: hash_token(&token),
        }];
        assert_eq!(authenticate(&tokens, &token).unwrap().role, Role::Agent);
        assert!(authenticate(&tokens, "wrong").is_none());
        assert!(authenticate(&tokens, &tokens[0].sha256).is_none());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(
            Role::Admin > Role::ChangeManager
                && Role::ChangeManager > Role::Approver
                && Role::Approver > Role::Agent
                && Role::Agent > Role::Viewer
        );
    }
}
