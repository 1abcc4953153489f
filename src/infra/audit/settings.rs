//! `[audit]`: where the audit key and anchor live.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The audit chain's MAC key and the anchor of its head, both kept outside the
/// state database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Name of the runbook secret holding the key (secrets file or
    /// `SWITCHBOARD_SECRET_<NAME>`), at least 16 bytes. When it is not set the
    /// key is read from `key_file`, made there (random, mode 0600) on first use.
    pub key_secret: String,
    /// Key file used when the secret is not set; default `<data_dir>/audit.key`.
    pub key_file: Option<PathBuf>,
    /// Append-only file recording the chain's head after every append; default
    /// `<data_dir>/audit.anchor`. Keep it where the database's writers cannot
    /// rewrite it (another volume, an append-only mount) and copy its last line
    /// to an external witness.
    pub anchor_file: Option<PathBuf>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            key_secret: "AUDIT_HMAC_KEY".to_owned(),
            key_file: None,
            anchor_file: None,
        }
    }
}
