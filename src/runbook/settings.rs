//! `[runbooks]`: the catalog, inventory and secrets files, the shutdown grace.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where runbooks and the inventory of configuration items live.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunbookSettings {
    /// Directory of `*.yaml` runbooks.
    pub dir: PathBuf,
    /// Configuration items runbooks may touch.
    pub inventory: PathBuf,
    /// YAML map of secret name -> value for runbook steps (keep it mode 0600);
    /// `SWITCHBOARD_SECRET_<NAME>` variables override it.
    pub secrets_file: Option<PathBuf>,
    /// At shutdown, how long running executions may take to finish, in seconds;
    /// then their steps are killed and they end `interrupted`.
    pub shutdown_grace_s: u64,
}

impl Default for RunbookSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("runbooks"),
            inventory: PathBuf::from("runbooks/inventory.yaml"),
            secrets_file: None,
            shutdown_grace_s: 30,
        }
    }
}
