//! The runbook file format (`runbooks/*.yaml`), exactly as written by people.
//! Unknown keys are errors, so a typo never silently drops a safety rule.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One runbook: a declared fix, what it may touch, who approves it, what it runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunbookSpec {
    /// Stable id, `[a-z0-9-]`, unique in the catalog.
    pub id: String,
    /// Bumped on every change; recorded with each execution.
    pub version: u32,
    /// One line for lists.
    pub title: String,
    /// What it fixes; matched semantically against tickets.
    pub description: String,
    /// Team that maintains it.
    pub owner: String,
    /// When triage proposes it.
    #[serde(default, rename = "match")]
    pub matching: MatchSpec,
    /// Inputs, validated before anything runs.
    #[serde(default)]
    pub parameters: Vec<ParameterSpec>,
    /// Which configuration items it may touch.
    #[serde(default)]
    pub targets: TargetSpec,
    /// Change risk.
    pub risk: Risk,
    /// Who must approve before it runs.
    pub approval: ApprovalSpec,
    /// Dry-run steps: run by `--dry-run` and before the real steps.
    #[serde(default)]
    pub check: Vec<StepSpec>,
    /// The fix itself, in order.
    pub steps: Vec<StepSpec>,
    /// Run when a step fails, in order.
    #[serde(default)]
    pub rollback: Vec<StepSpec>,
    /// Limits on parallel executions.
    #[serde(default)]
    pub concurrency: ConcurrencySpec,
    /// What a request during a change freeze gets: `refuse` (the default) or
    /// `defer` (scheduled for the target's next open window).
    #[serde(default)]
    pub freeze: FreezePolicy,
    /// Programs that run another command from their arguments (`ssh`,
    /// `sudo`, `timeout`...) this runbook may use as a step's program; a
    /// parameter value with whitespace is then refused for such a step
    /// (the wrapped command's arguments are split again).
    #[serde(default)]
    pub allow_wrappers: Vec<String>,
}

/// What happens to a non-emergency request made during a change freeze.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FreezePolicy {
    /// Refused, with the freeze named.
    #[default]
    Refuse,
    /// Recorded, and started when the target's next window opens.
    Defer,
}

/// When a runbook is proposed for a ticket.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Suggested or given categories that qualify (empty: any).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Assignment groups that qualify (empty: any).
    #[serde(default)]
    pub assignment_groups: Vec<String>,
    /// Phrases; any one found in the ticket text (case-insensitive) qualifies.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Regular expressions; any one matching the ticket text qualifies.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Cosine similarity between ticket and description that qualifies on its own.
    #[serde(default = "default_min_similarity")]
    pub min_similarity: f32,
}

fn default_min_similarity() -> f32 {
    0.5
}

/// The kinds of value a parameter may take.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ParameterType {
    /// Free text within the safe character set (and `pattern`, if given).
    String,
    /// A whole number within `min` / `max`.
    Integer,
    /// One of `enum`.
    Enum,
    /// An RFC 1123 host name.
    Hostname,
    /// An absolute path under one of `allowed_roots`.
    Path,
    /// A duration such as `30s`, `15m`, `4h`, `7d`, within `min` / `max` seconds.
    Duration,
}

/// One input of a runbook.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// Name used in `{name}` placeholders, `[a-z_][a-z0-9_]*`.
    pub name: String,
    /// Kind of value.
    #[serde(rename = "type")]
    pub kind: ParameterType,
    /// Shown to approvers.
    #[serde(default)]
    pub description: String,
    /// Must be given (else `default` applies).
    #[serde(default)]
    pub required: bool,
    /// Used when not given.
    #[serde(default)]
    pub default: Option<String>,
    /// Whole-value regular expression the value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Allowed values of an `enum`.
    #[serde(default, rename = "enum")]
    pub choices: Vec<String>,
    /// Smallest integer, or shortest duration in seconds.
    #[serde(default)]
    pub min: Option<i64>,
    /// Largest integer, or longest duration in seconds.
    #[serde(default)]
    pub max: Option<i64>,
    /// Directories a `path` must stay under.
    #[serde(default)]
    pub allowed_roots: Vec<String>,
    /// Regular expression with a named group `value` that pre-fills the
    /// parameter from the ticket text.
    #[serde(default)]
    pub extract: Option<String>,
}

/// Which inventory items a runbook may act on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Needs a target at all (the `target` parameter, resolved in the inventory).
    #[serde(default)]
    pub required: bool,
    /// Inventory kinds allowed (`host`, `service`, ...; empty: any).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The target must carry every one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Change risk, as a change manager would classify it.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Standard change material.
    Low,
    /// Needs review.
    Medium,
    /// Needs careful review.
    High,
}

/// How an execution gets approved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    /// `auto` (pre-approved standard change) or `manual`.
    pub mode: ApprovalMode,
    /// Distinct approvers needed under `manual`.
    #[serde(default = "one")]
    pub approvers: u32,
    /// Least role an approver needs.
    #[serde(default = "approver_role")]
    pub role: crate::auth::Role,
    /// How long a request waits for approval, e.g. `4h`.
    #[serde(default = "four_hours")]
    pub expires_after: String,
}

fn one() -> u32 {
    1
}

fn approver_role() -> crate::auth::Role {
    crate::auth::Role::Approver
}

fn four_hours() -> String {
    "4h".to_owned()
}

/// Approval policy.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// Pre-approved standard change: runs without a person.
    Auto,
    /// Needs `approvers` people with `role`, none of them the requester.
    Manual,
}

/// One step: a process (argv, never a shell string) or an HTTP request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Shown in plans and results.
    pub name: String,
    /// Program and arguments; `{param}` placeholders are filled with validated
    /// values, each into its own argument.
    #[serde(default)]
    pub run: Vec<String>,
    /// An HTTP request instead of a process.
    #[serde(default)]
    pub http: Option<HttpStepSpec>,
    /// Killed (with its whole process group) after this long, e.g. `30s`.
    #[serde(default = "thirty_seconds")]
    pub timeout: String,
    /// Extra attempts after a failure.
    #[serde(default)]
    pub retries: u32,
    /// Environment variables passed through from Switchboard's environment
    /// (nothing else is inherited but `PATH`).
    #[serde(default)]
    pub env: Vec<String>,
    /// Secrets (by name, from the secrets file or environment) exposed to the
    /// step as environment variables; redacted from all output.
    #[serde(default)]
    pub secrets: Vec<String>,
}

fn thirty_seconds() -> String {
    "30s".to_owned()
}

/// An HTTP step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpStepSpec {
    /// `GET`, `POST`, `PUT`, `DELETE`.
    pub method: String,
    /// URL template; placeholders are URL-encoded.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body template.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Status codes that count as success (default 2xx).
    #[serde(default)]
    pub expect_status: Vec<u16>,
    /// PEM file of the CA that signed the target's certificate, when it is
    /// not publicly trusted (default: `[tls] ca_file`).
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// Parallelism limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencySpec {
    /// Running executions of this runbook per target.
    #[serde(default = "one")]
    pub per_target: u32,
    /// Running executions of this runbook in total.
    #[serde(default = "four")]
    pub global: u32,
}

fn four() -> u32 {
    4
}

impl Default for ConcurrencySpec {
    fn default() -> Self {
        Self {
            per_target: 1,
            global: 4,
        }
    }
}
