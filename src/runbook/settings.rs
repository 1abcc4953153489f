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
    /// The directory runbooks name as `{work_root}` in `allowed_roots` and
    /// defaults: where the shipped runbooks may act. Out of `/tmp`, so no other
    /// user can make it first; an administrator creates it for the service
    /// user (mode 0755 or stricter).
    pub work_root: PathBuf,
}

/// The placeholder for [`RunbookSettings::work_root`] in a runbook's
/// `allowed_roots` and `default` values.
pub const WORK_ROOT_PLACEHOLDER: &str = "{work_root}";

impl Default for RunbookSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("runbooks"),
            inventory: PathBuf::from("runbooks/inventory.yaml"),
            secrets_file: None,
            shutdown_grace_s: 30,
            work_root: PathBuf::from("/srv/switchboard"),
        }
    }
}
