//! Settings, layered: built-in defaults, then an optional TOML file, then
//! `SWITCHBOARD_*` environment variables (nested keys joined with `__`).
//! Each section is defined next to the module it configures
//! (`crate::triage::TriageSettings`, `crate::store::StoreSettings`, ...);
//! this file composes them into [`Settings`], loads and validates them. The
//! project's other `SWITCHBOARD_*` variables (config path, CLI token, runbook
//! secrets, run ids, test-only ones) are not settings and are left out.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::session::ConsoleSettings;
use crate::embed::settings::ModelSettings;
use crate::infra::audit::settings::AuditSettings;
use crate::infra::replica::ReplicaSettings;
use crate::runbook::settings::RunbookSettings;
use crate::store::settings::StoreSettings;
use crate::storms::settings::StormSettings;
use crate::triage::settings::TriageSettings;

/// Every setting the service reads; `docs/configuration.md` explains each key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory holding the vector store collections.
    pub data_dir: PathBuf,
    /// Directory of the prompt templates (`ticket.txt`, `kb_passage.txt`).
    pub prompts_dir: PathBuf,
    /// HTTP server settings.
    pub server: ServerSettings,
    /// Embedding model settings.
    pub model: ModelSettings,
    /// Vector store settings.
    pub store: StoreSettings,
    /// Suggestion and routing settings.
    pub triage: TriageSettings,
    /// API tokens.
    pub auth: AuthSettings,
    /// Where runbooks and the inventory live.
    pub runbooks: RunbookSettings,
    /// The audit chain's key and anchor.
    pub audit: AuditSettings,
    /// The web console's sessions.
    pub console: ConsoleSettings,
    /// Outage (storm) and duplicate detection.
    pub storms: StormSettings,
    /// Personal and secret data kept out of the store, logs and notes.
    pub privacy: crate::domain::PrivacySettings,
    /// Change control: emergency approvers, freeze and maintenance windows.
    pub changes: crate::changes::ChangeSettings,
    /// Ticketing systems to take events from and write back to (`[[connectors]]`).
    pub connectors: Vec<crate::connectors::ConnectorSettings>,
    /// Several `switchboard serve` processes on one PostgreSQL database:
    /// run leases and how often each looks for a new classifier head.
    pub replicas: ReplicaSettings,
    /// TLS: the CA every outbound client trusts besides the public roots (`[tls]`).
    pub tls: crate::infra::tls::TlsSettings,
    /// Suggested resolutions: backend, evidence thresholds, limits (`[drafts]`).
    pub drafts: crate::drafts::DraftSettings,
    /// State database for executions, approvals and audit: `postgres://...` or
    /// `sqlite://...`; default `sqlite://<data_dir>/switchboard.db`.
    pub database_url: Option<String>,
}

/// Who may call the mutating endpoints.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Tokens by hash; create one with `switchboard token new`.
    pub tokens: Vec<crate::auth::TokenEntry>,
    /// A YAML list of more entries (`name`, `role`, `sha256`), kept outside the
    /// settings file; read at startup and merged with `tokens`.
    pub tokens_file: Option<PathBuf>,
}

/// HTTP listener and request limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on, `host:port`.
    pub listen: String,
    /// Largest accepted request body in bytes; bigger bodies get 413.
    pub body_limit_bytes: usize,
    /// Longest a client may take to send a request's headers, and to send each
    /// piece of its body, in seconds: slow or stalled clients are cut off
    /// instead of holding connections open.
    pub request_read_timeout_s: u64,
    /// Longest a client may take to send a whole request body, in seconds,
    /// however it trickles it in (408 after that).
    pub request_deadline_s: u64,
    /// HTTPS on `listen` with this certificate and key (`[server.tls]`);
    /// none: plain HTTP (behind a TLS-terminating proxy).
    pub tls: Option<crate::infra::tls::ServerTlsSettings>,
    /// Most connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Most request bodies being read at once (each up to `body_limit_bytes`,
    /// before any token is checked); more are answered 503 at once, so
    /// memory for bodies is bounded whatever the number of clients.
    pub max_concurrent_bodies: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            body_limit_bytes: 1024 * 1024,
            request_read_timeout_s: 30,
            request_deadline_s: 60,
            tls: None,
            max_connections: 1024,
            max_concurrent_bodies: 64,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            prompts_dir: PathBuf::from("prompts"),
            server: ServerSettings::default(),
            model: ModelSettings::default(),
            store: StoreSettings::default(),
            triage: TriageSettings::default(),
            auth: AuthSettings::default(),
            runbooks: RunbookSettings::default(),
            audit: AuditSettings::default(),
            console: ConsoleSettings::default(),
            storms: StormSettings::default(),
            drafts: crate::drafts::DraftSettings::default(),
            changes: crate::changes::ChangeSettings::default(),
            privacy: crate::domain::PrivacySettings::default(),
            connectors: Vec::new(),
            replicas: ReplicaSettings::default(),
            tls: crate::infra::tls::TlsSettings::default(),
            database_url: None,
        }
    }
}

/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "switchboard.toml";

/// The process environment as text. Variables whose name or value is not
/// valid Unicode are left out (`std::env::vars` would panic on them), so a
/// stray binary variable cannot crash a command.
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    crate::infra::secrets::process_env()
}

/// Environment variables that set settings start with this.
const ENV_PREFIX: &str = "SWITCHBOARD_";

/// True for the `SWITCHBOARD_*` variables that set settings. The others are
/// left out so they do not trip the unknown-key check: `SWITCHBOARD_CONFIG`
/// (the `--config` file), `SWITCHBOARD_TOKEN` (the CLI's API token),
/// `SWITCHBOARD_SECRET_<NAME>` (runbook secrets), `SWITCHBOARD_EXECUTION` and
/// `SWITCHBOARD_STEP` (set for runbook steps) and `SWITCHBOARD_TEST_*` (test suites).
fn is_setting_variable(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
        return false;
    };
    !(matches!(rest, "CONFIG" | "TOKEN" | "EXECUTION" | "STEP")
        || rest.starts_with("SECRET_")
        || rest.starts_with("TEST_"))
}

impl Settings {
    /// The connectors, each trusting `[tls] ca_file` unless it names its own.
    pub fn connectors_with_ca(&self) -> Vec<crate::connectors::ConnectorSettings> {
        self.connectors
            .iter()
            .cloned()
            .map(|mut connector| {
                connector.ca_file = connector.ca_file.or_else(|| self.tls.ca_file.clone());
                connector
            })
            .collect()
    }

    /// `[drafts]`, its chat-completions server trusting `[tls] ca_file`
    /// unless it names its own.
    pub fn drafts_with_ca(&self) -> crate::drafts::DraftSettings {
        let mut drafts = self.drafts.clone();
        drafts.openai.ca_file = drafts.openai.ca_file.or_else(|| self.tls.ca_file.clone());
        drafts
    }

    /// What no runbook step may name, whatever its roots allow: the data
    /// directory (database, store, journal), the audit key and anchor, the
    /// runbook secrets file and the server's TLS key; links resolved where
    /// they exist.
    pub fn protected_paths(&self) -> Vec<PathBuf> {
        [
            Some(self.data_dir.clone()),
            Some(self.audit_key_file()),
            Some(self.audit_anchor_file()),
            self.runbooks.secrets_file.clone(),
            self.server.tls.as_ref().map(|tls| tls.key_file.clone()),
        ]
        .into_iter()
        .flatten()
        .map(|path| path.canonicalize().unwrap_or(path))
        .collect()
    }

    /// Where the audit key is kept when no secret holds it.
    pub fn audit_key_file(&self) -> PathBuf {
        self.audit
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit.key"))
    }

    /// The audit chain's anchor file.
    pub fn audit_anchor_file(&self) -> PathBuf {
        self.audit
            .anchor_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit.anchor"))
    }

    /// Loads defaults, then `file` (required when given, else `switchboard.toml` if present),
    /// then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        Self::load_with_env(file, process_env())
    }

    /// [`Settings::load`] with `vars` standing in for the process environment.
    pub fn load_with_env(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, config::ConfigError> {
        let env: config::Map<String, String> = vars
            .into_iter()
            .filter(|(name, _)| is_setting_variable(name))
            .collect();
        let defaults = config::Config::try_from(&Settings::default())?;
        let file_source = match file {
            Some(path) => config::File::from(path).required(true),
            None => config::File::with_name(DEFAULT_CONFIG_FILE).required(false),
        };
        let settings = config::Config::builder()
            .add_source(defaults)
            .add_source(file_source)
            .add_source(
                config::Environment::with_prefix("SWITCHBOARD")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(env)),
            )
            .build()?
            .try_deserialize::<Settings>()?;
        let mut settings = settings;
        if let Some(path) = settings.auth.tokens_file.clone() {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                config::ConfigError::Message(format!("auth.tokens_file {}: {e}", path.display()))
            })?;
            let more: Vec<crate::auth::TokenEntry> =
                serde_norway::from_str(&text).map_err(|e| {
                    config::ConfigError::Message(format!(
                        "auth.tokens_file {}: {e}",
                        path.display()
                    ))
                })?;
            settings.auth.tokens.extend(more);
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), config::ConfigError> {
        let bad = |msg: &str| Err(config::ConfigError::Message(msg.to_owned()));
        if self.triage.neighbours == 0 {
            return bad("triage.neighbours must be at least 1");
        }
        if let Err(message) = self.drafts.validate() {
            return bad(&message);
        }
        if self.server.request_read_timeout_s == 0 || self.server.request_deadline_s == 0 {
            return bad(
                "server.request_read_timeout_s and server.request_deadline_s must be at least 1",
            );
        }
        if self.store.journal_checkpoint_mib == 0 {
            return bad("store.journal_checkpoint_mib must be at least 1");
        }
        if self.store.search_ef == 0 {
            return bad("store.search_ef must be at least 1");
        }
        if self.store.hnsw_m < 2 || self.store.hnsw_ef_construct < 4 {
            return bad("store.hnsw_m must be at least 2 and store.hnsw_ef_construct at least 4");
        }
        if self.model.max_batch == 0
            || self.model.queue_capacity == 0
            || self.model.max_pass_tokens == 0
        {
            return bad(
                "model.max_batch, model.max_pass_tokens and model.queue_capacity must be at least 1",
            );
        }
        let thresholds = std::iter::once(&self.triage.auto_route_threshold)
            .chain(self.triage.field_thresholds.values())
            .chain(
                self.triage
                    .class_thresholds
                    .values()
                    .flat_map(|m| m.values()),
            );
        for threshold in thresholds {
            if !(0.0..=1.0).contains(threshold) {
                return bad("auto-route thresholds must lie in [0, 1]");
            }
        }
        let head = &self.triage.classifier;
        if !(0.0..=1.0).contains(&head.weight) {
            return bad("triage.classifier.weight must lie in [0, 1]");
        }
        if head.max_iterations == 0 || head.l2.is_nan() || head.l2 < 0.0 {
            return bad("triage.classifier: max_iterations must be positive, l2 not negative");
        }
        let mut names = std::collections::BTreeSet::new();
        for connector in &self.connectors {
            connector.validate().map_err(config::ConfigError::Message)?;
            if !names.insert(connector.name.as_str()) {
                return bad("connectors: each name must be used once");
            }
        }
        crate::changes::ChangeCalendar::new(&self.changes.windows)
            .map_err(|e| config::ConfigError::Message(format!("changes.windows: {e}")))?;
        if self.privacy.keep_original != crate::domain::KeepOriginal::None
            && self.privacy.original_retention_days == 0
        {
            return bad(
                "privacy.original_retention_days must be at least 1 when originals are kept",
            );
        }
        let privacy = &self.privacy;
        if [
            privacy.job_retention_days,
            privacy.review_retention_days,
            privacy.draft_retention_days,
            privacy.storm_retention_days,
            privacy.ticket_retention_days,
            privacy.incident_retention_days,
        ]
        .contains(&0)
            || privacy.retention_interval_s == 0
        {
            return bad(
                "privacy: job_, review_, draft_, storm_, ticket_ and incident_retention_days and retention_interval_s must be at least 1",
            );
        }
        if self.changes.scheduler_interval_s == 0 {
            return bad("changes.scheduler_interval_s must be at least 1");
        }
        if self.changes.emergency_role < crate::auth::Role::Approver {
            return bad("changes.emergency_role must be approver, change_manager or admin");
        }
        for token in &self.auth.tokens {
            let valid_hash =
                token.sha256.len() == 64 && token.sha256.chars().all(|c| c.is_ascii_hexdigit());
            if !valid_hash {
                return bad("auth.tokens: sha256 must be 64 hex characters (the token's hash)");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_loads_and_overrides_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("switchboard.example.toml");
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.server.listen, "127.0.0.1:8080");
        assert_eq!(settings.changes.windows.len(), 2);
        assert_eq!(
            settings.changes.emergency_role,
            crate::auth::Role::ChangeManager
        );
        assert_eq!(settings.triage.threshold_for("assignee", "anyone"), 0.95);
        assert_eq!(settings.triage.threshold_for("category", "network"), 0.9);
        assert_eq!(
            settings
                .triage
                .threshold_for("assignment_group", "Service Desk"),
            0.8
        );
        assert_eq!(
            settings.triage.threshold_for("assignment_group", "Network"),
            0.9
        );
    }

    #[test]
    fn unknown_keys_and_bad_thresholds_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[triage]\nneighbors = 5\n").unwrap();
        assert!(Settings::load(Some(&path)).is_err());
        std::fs::write(&path, "[triage]\nauto_route_threshold = 1.5\n").unwrap();
        assert!(Settings::load(Some(&path)).is_err());
    }

    #[test]
    fn tokens_file_entries_are_merged_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens.yaml");
        let hash = crate::auth::hash_token("t0ken");
        std::fs::write(
            &tokens,
            format!("- {{ name: snow-webhook, role: agent, sha256: {hash} }}\n"),
        )
        .unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, format!("[auth]\ntokens_file = {:?}\n", tokens)).unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        let caller = crate::auth::authenticate(&settings.auth.tokens, "t0ken").unwrap();
        assert_eq!(caller.name, "snow-webhook");
        std::fs::write(&tokens, "- { name: x, role: agent, sha256: nothex }\n").unwrap();
        assert!(Settings::load(Some(&path)).is_err());
        std::fs::remove_file(&tokens).unwrap();
        assert!(Settings::load(Some(&path)).is_err());
    }

    #[test]
    fn environment_sets_settings_but_skips_the_projects_other_variables() {
        let vars = |extra: &[(&str, &str)]| {
            let mut vars = vec![
                (
                    "SWITCHBOARD_CONFIG".to_owned(),
                    "/etc/switchboard.toml".to_owned(),
                ),
                ("SWITCHBOARD_TOKEN".to_owned(), "sb_x".to_owned()),
                (
                    "SWITCHBOARD_SECRET_API_TOKEN".to_owned(),
                    "s3cret".to_owned(),
                ),
                ("SWITCHBOARD_EXECUTION".to_owned(), "exec-1".to_owned()),
                (
                    "SWITCHBOARD_TEST_DATABASE_URL".to_owned(),
                    "postgres://x".to_owned(),
                ),
                ("HOME".to_owned(), "/root".to_owned()),
                ("SWITCHBOARD_STORE__SEARCH_EF".to_owned(), "123".to_owned()),
            ];
            vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            vars
        };
        let settings = Settings::load_with_env(None, vars(&[])).unwrap();
        assert_eq!(settings.store.search_ef, 123);
        for typo in ["SWITCHBOARD_STORE__SEARCH_EFF", "SWITCHBOARD_SECRETS"] {
            let err = Settings::load_with_env(None, vars(&[(typo, "1")])).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{typo}: {err}");
        }
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        assert!(Settings::load(Some(Path::new("/nonexistent/switchboard.toml"))).is_err());
    }
}
