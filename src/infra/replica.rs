//! This process's name among replicas sharing one state database: the host
//! and a random suffix, so two processes on one host (or a restarted one)
//! never take each other's runs or leases for their own.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The replica id of this process: `HOST-XXXXXXXX`, fixed for its lifetime.
pub fn id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".to_owned());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{host}-{}", &suffix[..8])
    })
}

/// True when `url` names a PostgreSQL database: the one backend several
/// replicas can share (SQLite lives in one data directory, one process).
pub fn is_shared_database(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Replicas sharing one state database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicaSettings {
    /// Seconds a running execution's lease lasts; its replica renews it every
    /// third of that. Once it expires (the replica died or lost the database)
    /// another replica records the execution `interrupted`.
    pub lease_s: u64,
    /// Seconds between looks for a newer classifier head (PostgreSQL also
    /// announces new heads at once; this covers a lost notification).
    pub head_poll_s: u64,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        Self {
            lease_s: 15,
            head_poll_s: 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_names_the_host_and_stays_the_same() {
        assert_eq!(id(), id());
        assert!(id().len() > 9, "{}", id());
    }

    #[test]
    fn only_postgresql_is_shared() {
        assert!(is_shared_database("postgres://u@h/db"));
        assert!(is_shared_database("postgresql://u@h/db"));
        assert!(!is_shared_database("sqlite:///tmp/x.db?mode=rwc"));
    }
}
