//! Settings, layered: built-in defaults, then an optional TOML file, then
//! `SWITCHBOARD_*` environment variables (nested keys joined with `__`). The
//! project's other `SWITCHBOARD_*` variables (config path, CLI token, runbook
//! secrets, run ids, test-only ones) are not settings and are left out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    /// Suggested resolutions: backend, evidence thresholds, limits (`[drafts]`).
    pub drafts: crate::drafts::DraftSettings,
    /// State database for executions, approvals and audit: `postgres://...` or
    /// `sqlite://...`; default `sqlite://<data_dir>/switchboard.db`.
    pub database_url: Option<String>,
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

/// How the vector store searches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// HNSW beam width of each search: larger is more accurate and slower.
    pub search_ef: usize,
    /// Links per node of the HNSW graph; a change applies at `switchboard reindex`.
    pub hnsw_m: usize,
    /// Beam width while the HNSW graph is built; a change applies at `switchboard reindex`.
    pub hnsw_ef_construct: usize,
    /// Keep int8 copies of the vectors for search (the best candidates are re-scored
    /// with the full vectors); a change applies at `switchboard reindex`.
    pub int8_search: bool,
    /// Fuse the embedding's neighbours with BM25 matches on the ticket's text
    /// (hybrid retrieval). Off by default: it finds better neighbours but, blended
    /// with the classifier head, routes no better and costs ~12% throughput.
    pub hybrid: bool,
    /// Size of the store's write journal, in MiB, at which the shards are flushed
    /// and the journal emptied (a checkpoint holds writes for the flush).
    pub journal_checkpoint_mib: u64,
    /// `edge` (embedded Qdrant Edge under the data directory, the default) or
    /// `qdrant` (a Qdrant server or cluster, `[store.qdrant]`).
    pub backend: crate::store::Backend,
    /// The Qdrant server backend's connection and collection layout.
    pub qdrant: crate::store::QdrantSettings,
}

impl StoreSettings {
    /// The index build parameters these settings ask for.
    pub fn index(&self) -> crate::store::IndexParams {
        crate::store::IndexParams {
            m: self.hnsw_m,
            ef_construct: self.hnsw_ef_construct,
            int8: self.int8_search,
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        let index = crate::store::IndexParams::default();
        Self {
            search_ef: crate::store::DEFAULT_SEARCH_EF,
            hnsw_m: index.m,
            hnsw_ef_construct: index.ef_construct,
            int8_search: index.int8,
            hybrid: false,
            journal_checkpoint_mib: crate::store::DEFAULT_CHECKPOINT_BYTES >> 20,
            backend: crate::store::Backend::Edge,
            qdrant: crate::store::QdrantSettings::default(),
        }
    }
}

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

/// Storms (bursts of similar tickets: an outage) and duplicates, detected as
/// tickets with an id are triaged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StormSettings {
    /// Detect storms and duplicates at all.
    pub enabled: bool,
    /// How far back a burst is looked for, in minutes; a storm with no new
    /// member for this long is over.
    pub window_minutes: u64,
    /// Tickets that make a storm.
    pub min_tickets: usize,
    /// Cosine similarity to the storm (its members' centroid) to join it, and
    /// between tickets to open one.
    pub similarity: f32,
    /// How far back duplicates of the same caller or service are looked for, in hours.
    pub duplicate_window_hours: u64,
    /// Cosine similarity that makes a duplicate.
    pub duplicate_similarity: f32,
    /// Most tickets kept in the window.
    pub max_window_tickets: usize,
    /// How far above its usual rate (from the kept history) a topic must be
    /// to open a storm: a storm needs `min_tickets + burst_factor x usual`.
    pub burst_factor: f32,
}

impl Default for StormSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window_minutes: 15,
            min_tickets: 4,
            similarity: 0.6,
            duplicate_window_hours: 24,
            duplicate_similarity: 0.95,
            max_window_tickets: 20_000,
            burst_factor: 3.0,
        }
    }
}

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
}

/// Where the model lives and how the embedding worker batches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Directory with `config.json`, `tokenizer.json` and `model.safetensors`.
    pub dir: PathBuf,
    /// Most texts run through the model in one forward pass.
    pub max_batch: usize,
    /// Most tokens in one forward pass: a batch with more is run as several passes,
    /// which keeps the activations in cache (packed passes have no padding to share).
    pub max_pass_tokens: usize,
    /// How long the worker waits for more requests to join a batch, in milliseconds.
    pub max_wait_ms: u64,
    /// The worker also stops waiting once no request has joined for this long, in
    /// microseconds (0: only `max_wait_ms` ends the wait). Requests that come back
    /// together (clients answered by the same batch) arrive well within it, so the
    /// batch starts as soon as they are in instead of idling out `max_wait_ms`.
    pub gather_quiet_us: u64,
    /// Requests allowed to wait for the model; beyond this the service answers 503.
    pub queue_capacity: usize,
    /// A request that waited this long for the model is answered 503 instead of run,
    /// in milliseconds: bounded latency under overload, instant recovery after it.
    pub max_queue_wait_ms: u64,
}

/// How suggestions are computed and when a ticket is routed automatically.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageSettings {
    /// Past incidents that vote on each label.
    pub neighbours: usize,
    /// Exponent applied to each neighbour's similarity before voting.
    pub vote_sharpness: f32,
    /// Similar incidents returned in a triage answer.
    pub similar_incidents: usize,
    /// Knowledge article chunks returned in a triage answer.
    pub knowledge_articles: usize,
    /// Confidence at or above which a field is routed automatically.
    pub auto_route_threshold: f32,
    /// Per-field overrides of `auto_route_threshold`.
    pub field_thresholds: BTreeMap<String, f32>,
    /// Per-label overrides, field -> label -> threshold (e.g. from `eval --target-precision`).
    pub class_thresholds: BTreeMap<String, BTreeMap<String, f32>>,
    /// Repair mis-decoded UTF-8 and drop e-mail noise before embedding.
    pub clean_text: bool,
    /// Cosine similarity at which a stored incident counts as the same ticket
    /// seen before: then only such near-duplicates vote (above 1 turns this off).
    pub duplicate_similarity: f32,
    /// Remember tickets triaged with an `id` but without an agent token. Off by
    /// default: remembering stores the caller's text, which feedback can turn into
    /// evidence for later tickets, so it needs the agent role. Even when on, an
    /// anonymous caller cannot replace a ticket already remembered.
    pub remember_anonymous: bool,
    /// The classifier head blended with the neighbours' vote.
    pub classifier: crate::classify::HeadOptions,
    /// ITIL priority derived from suggested impact and urgency.
    pub priority: crate::triage::PrioritySettings,
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
            database_url: None,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            body_limit_bytes: 1024 * 1024,
            request_read_timeout_s: 30,
            request_deadline_s: 60,
        }
    }
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("models/all-MiniLM-L6-v2"),
            max_batch: 32,
            max_pass_tokens: 512,
            max_wait_ms: 2,
            gather_quiet_us: 300,
            queue_capacity: 64,
            max_queue_wait_ms: 500,
        }
    }
}

impl Default for TriageSettings {
    fn default() -> Self {
        Self {
            neighbours: 15,
            vote_sharpness: 4.0,
            similar_incidents: 5,
            knowledge_articles: 3,
            auto_route_threshold: 0.9,
            field_thresholds: BTreeMap::new(),
            class_thresholds: BTreeMap::new(),
            clean_text: true,
            duplicate_similarity: 0.99,
            remember_anonymous: false,
            classifier: crate::classify::HeadOptions::default(),
            priority: crate::triage::PrioritySettings::default(),
        }
    }
}

impl TriageSettings {
    /// The confidence a suggestion of `label` for `field` needs to be routed
    /// automatically: the label's own threshold, else the field's, else the global one.
    pub fn threshold_for(&self, field: &str, label: &str) -> f32 {
        self.class_thresholds
            .get(field)
            .and_then(|labels| labels.get(label))
            .or_else(|| self.field_thresholds.get(field))
            .copied()
            .unwrap_or(self.auto_route_threshold)
    }
}

/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "switchboard.toml";

/// The process environment as text. Variables whose name or value is not
/// valid Unicode are left out (`std::env::vars` would panic on them), so a
/// stray binary variable cannot crash a command.
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
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
