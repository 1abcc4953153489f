//! The runbook catalog: every `*.yaml` under the runbook directory, checked
//! field by field so `switchboard runbook validate` can say file, field and reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Serialize;

use super::params::{ParamError, parse_duration, validate_params};
use super::spec::{ApprovalMode, RunbookSpec, StepSpec};
use crate::auth::Role;

/// Name of the inventory file, skipped when loading runbooks.
pub const INVENTORY_FILE: &str = "inventory.yaml";
/// The implicit parameter naming the configuration item to act on.
pub const TARGET_PARAMETER: &str = "target";
/// Longest step timeout accepted.
const MAX_STEP_TIMEOUT_SECS: u64 = 3600;
/// Programs that would turn an argv back into a shell string.
const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "csh",
    "tcsh",
    "fish",
    "busybox",
    "env",
    "eval",
    "xargs",
    "python",
    "python3",
    "perl",
    "ruby",
    "node",
    "powershell",
    "pwsh",
    "cmd",
];

/// Programs that run another command from their arguments: allowed only when
/// a runbook lists them in `allow_wrappers`, and then no parameter value
/// with whitespace reaches their steps (`ssh` joins its arguments for the
/// remote shell, which splits them again).
pub const WRAPPERS: &[&str] = &[
    "ssh", "sudo", "doas", "su", "runuser", "timeout", "nice", "ionice", "setsid", "nohup",
    "stdbuf", "chroot", "nsenter", "unshare", "flock", "chrt", "taskset", "watch", "script",
];

/// Interpreters beside the shells: they run a program text from an argument.
const INTERPRETERS: &[&str] = &[
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "php",
    "lua",
    "luajit",
    "tclsh",
    "wish",
    "expect",
    "jshell",
    "osascript",
    "R",
    "Rscript",
    "julia",
    "deno",
    "bun",
];

/// A program's name without its version (`python3.11` is `python`).
pub fn program_family(program: &str) -> &str {
    let base = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    let family = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    if family.is_empty() { base } else { family }
}

/// One thing wrong with a runbook file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Dotted path of the field, e.g. `steps[0].run`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.file.display(),
            self.field,
            self.reason
        )
    }
}

/// The valid runbooks, by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    runbooks: BTreeMap<String, RunbookSpec>,
}

/// `{name}` placeholders in a template.
static PLACEHOLDER: std::sync::LazyLock<Regex> =
    std::sync::LazyLock::new(|| Regex::new(r"\{([a-z_][a-z0-9_]*)\}").expect("valid regex"));

/// Names of the placeholders in `template`, or why the template is malformed.
pub fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let stripped = PLACEHOLDER.replace_all(template, "");
    if stripped.contains('{') || stripped.contains('}') {
        return Err(format!(
            "{template:?} has a brace that is not a {{parameter}} placeholder"
        ));
    }
    Ok(PLACEHOLDER
        .captures_iter(template)
        .map(|c| c[1].to_owned())
        .collect())
}

/// `template` with each `{name}` replaced by its value (one argument stays one argument).
pub fn fill(template: &str, values: &BTreeMap<String, String>) -> String {
    PLACEHOLDER
        .replace_all(template, |c: &regex::Captures<'_>| {
            values.get(&c[1]).cloned().unwrap_or_default()
        })
        .into_owned()
}

fn check_step(
    step: &StepSpec,
    field: &str,
    known: &[String],
    allow_wrappers: &[String],
    problems: &mut Vec<(String, String)>,
) {
    let mut report = |sub: &str, reason: String| problems.push((format!("{field}.{sub}"), reason));
    if step.name.trim().is_empty() {
        report("name", "must not be empty".into());
    }
    match (step.run.is_empty(), &step.http) {
        (true, None) => report("run", "a step needs `run` (an argv array) or `http`".into()),
        (false, Some(_)) => report("run", "a step has either `run` or `http`, not both".into()),
        _ => {}
    }
    if let Some(program) = step.run.first() {
        if program.contains('{') {
            report(
                "run[0]",
                "the program must be fixed, not a parameter".into(),
            );
        }
        let base = Path::new(program)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(program);
        let family = program_family(program);
        if SHELLS.contains(&base) || SHELLS.contains(&family) || INTERPRETERS.contains(&family) {
            report(
                "run[0]",
                format!(
                    "{base} would run a shell string or program text; declare the real command as argv"
                ),
            );
        } else if WRAPPERS.contains(&family) && !allow_wrappers.iter().any(|a| a == base) {
            report(
                "run[0]",
                format!(
                    "{base} runs another command from its arguments; list it in allow_wrappers to use it (no parameter value with whitespace then reaches it)"
                ),
            );
        }
    }
    let mut templates: Vec<(String, &str)> = step
        .run
        .iter()
        .enumerate()
        .map(|(i, arg)| (format!("run[{i}]"), arg.as_str()))
        .collect();
    if let Some(http) = &step.http {
        templates.push(("http.url".into(), http.url.as_str()));
        if !matches!(
            http.method.as_str(),
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
        ) {
            report(
                "http.method",
                format!("{:?} is not GET, POST, PUT, PATCH or DELETE", http.method),
            );
        }
        if !(http.url.starts_with("http://") || http.url.starts_with("https://")) {
            report("http.url", "must start with http:// or https://".into());
        }
    }
    for (sub, template) in templates {
        match placeholders(template) {
            Ok(names) => {
                for name in names {
                    if !known.contains(&name) {
                        report(&sub, format!("{{{name}}} is not a declared parameter"));
                    }
                }
            }
            Err(reason) => report(&sub, reason),
        }
    }
    match parse_duration(&step.timeout) {
        Ok(d) if d.as_secs() > MAX_STEP_TIMEOUT_SECS || d.is_zero() => {
            report(
                "timeout",
                format!("must be between 1ms and {MAX_STEP_TIMEOUT_SECS}s"),
            );
        }
        Ok(_) => {}
        Err(reason) => report("timeout", reason),
    }
    for name in step.env.iter().chain(&step.secrets) {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            report(
                "env",
                format!("{name:?} is not an environment variable name (A-Z 0-9 _)"),
            );
        }
    }
}

/// Every problem of `spec` as (field, reason).
pub fn check_runbook(spec: &RunbookSpec) -> Vec<(String, String)> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut report = |field: &str, reason: String| problems.push((field.to_owned(), reason));
    let valid_id = !spec.id.is_empty()
        && spec.id.len() <= 64
        && spec
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_id {
        report("id", "must be 1-64 characters of a-z 0-9 -".into());
    }
    if spec.version == 0 {
        report("version", "must be 1 or more".into());
    }
    for (field, text) in [
        ("title", &spec.title),
        ("description", &spec.description),
        ("owner", &spec.owner),
    ] {
        if text.trim().is_empty() {
            report(field, "must not be empty".into());
        }
    }
    for (i, pattern) in spec.matching.patterns.iter().enumerate() {
        if let Err(e) = Regex::new(pattern) {
            report(
                &format!("match.patterns[{i}]"),
                format!("does not compile: {e}"),
            );
        }
    }
    if !(0.0..=1.0).contains(&spec.matching.min_similarity) {
        report("match.min_similarity", "must lie in [0, 1]".into());
    }
    let mut known: Vec<String> = Vec::new();
    for (i, parameter) in spec.parameters.iter().enumerate() {
        if let Err(reason) = parameter.check_declaration() {
            report(&format!("parameters[{i}]"), reason);
        }
        if parameter.name == TARGET_PARAMETER {
            report(
                &format!("parameters[{i}].name"),
                "`target` is reserved: declare `targets` and it is resolved in the inventory"
                    .into(),
            );
        }
        if known.contains(&parameter.name) {
            report(
                &format!("parameters[{i}].name"),
                format!("{:?} is declared twice", parameter.name),
            );
        }
        known.push(parameter.name.clone());
    }
    if spec.targets.required {
        known.push(TARGET_PARAMETER.to_owned());
        known.push("target_address".to_owned());
    }
    if let Err(reason) = parse_duration(&spec.approval.expires_after) {
        report("approval.expires_after", reason);
    }
    if spec.approval.mode == ApprovalMode::Manual {
        if spec.approval.approvers == 0 {
            report(
                "approval.approvers",
                "manual approval needs at least 1 approver".into(),
            );
        }
        if spec.approval.role < Role::Approver {
            report(
                "approval.role",
                "approvers need the approver or admin role".into(),
            );
        }
    }
    if spec.approval.mode == ApprovalMode::Auto && spec.risk != super::spec::Risk::Low {
        report(
            "approval.mode",
            "only low-risk runbooks may be pre-approved standard changes (auto)".into(),
        );
    }
    if spec.steps.is_empty() {
        report("steps", "at least one step is needed".into());
    }
    let mut step_problems = Vec::new();
    for (group, steps) in [
        ("check", &spec.check),
        ("steps", &spec.steps),
        ("rollback", &spec.rollback),
    ] {
        for (i, step) in steps.iter().enumerate() {
            check_step(
                step,
                &format!("{group}[{i}]"),
                &known,
                &spec.allow_wrappers,
                &mut step_problems,
            );
        }
    }
    problems.extend(step_problems);
    if spec.concurrency.per_target == 0 || spec.concurrency.global == 0 {
        problems.push(("concurrency".into(), "limits must be at least 1".into()));
    }
    problems
}

/// Reads `{work_root}` in the parameters' roots, defaults and extract
/// patterns as `work_root` (escaped in a pattern).
fn place_work_root(spec: &mut RunbookSpec, work_root: &Path) {
    use super::settings::WORK_ROOT_PLACEHOLDER;
    let root = work_root.display().to_string();
    for param in &mut spec.parameters {
        for allowed in &mut param.allowed_roots {
            *allowed = allowed.replace(WORK_ROOT_PLACEHOLDER, &root);
        }
        if let Some(default) = &mut param.default {
            *default = default.replace(WORK_ROOT_PLACEHOLDER, &root);
        }
        if let Some(extract) = &mut param.extract {
            *extract = extract.replace(WORK_ROOT_PLACEHOLDER, &regex::escape(&root));
        }
    }
}

impl Catalog {
    /// Loads every runbook under `dir`, `{work_root}` read as `work_root`;
    /// returns the valid ones and every problem found.
    pub fn load(dir: &Path, work_root: &Path) -> (Self, Vec<Problem>) {
        let mut catalog = Self::default();
        let mut problems = Vec::new();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                        && p.file_name().and_then(|n| n.to_str()) != Some(INVENTORY_FILE)
                })
                .collect(),
            Err(e) => {
                problems.push(Problem {
                    file: dir.to_path_buf(),
                    field: "-".into(),
                    reason: format!("cannot read the runbook directory: {e}"),
                });
                return (catalog, problems);
            }
        };
        files.sort();
        for file in files {
            let parsed = std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    serde_norway::from_str::<RunbookSpec>(&text).map_err(|e| e.to_string())
                });
            let spec = match parsed {
                Ok(mut spec) => {
                    place_work_root(&mut spec, work_root);
                    spec
                }
                Err(reason) => {
                    problems.push(Problem {
                        file,
                        field: "-".into(),
                        reason,
                    });
                    continue;
                }
            };
            let found = check_runbook(&spec);
            if !found.is_empty() {
                problems.extend(found.into_iter().map(|(field, reason)| Problem {
                    file: file.clone(),
                    field,
                    reason,
                }));
                continue;
            }
            if catalog.runbooks.contains_key(&spec.id) {
                problems.push(Problem {
                    file,
                    field: "id".into(),
                    reason: format!("{:?} is already used by another runbook", spec.id),
                });
                continue;
            }
            catalog.runbooks.insert(spec.id.clone(), spec);
        }
        (catalog, problems)
    }

    /// Every valid runbook, by id.
    pub fn runbooks(&self) -> impl Iterator<Item = &RunbookSpec> {
        self.runbooks.values()
    }

    /// The runbook `id`, if valid.
    pub fn get(&self, id: &str) -> Option<&RunbookSpec> {
        self.runbooks.get(id)
    }
}

/// Validates the values given for a run of `spec` (target excluded).
pub fn validate_run_params(
    spec: &RunbookSpec,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ParamError> {
    let mut given = given.clone();
    given.remove(TARGET_PARAMETER);
    validate_params(&spec.parameters, &given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_one_argument_each() {
        assert_eq!(placeholders("--days={days}").unwrap(), ["days"]);
        assert!(placeholders("${HOME}").is_err());
        assert!(placeholders("{Days}").is_err());
        let values = BTreeMap::from([("dir".to_owned(), "/var/tmp/a b".to_owned())]);
        assert_eq!(fill("{dir}", &values), "/var/tmp/a b");
    }
}
