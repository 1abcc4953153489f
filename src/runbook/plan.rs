//! A run of a runbook with every parameter validated and substituted: what
//! `--dry-run` shows and what the executor will run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::catalog::{TARGET_PARAMETER, fill, validate_run_params};
use super::params::{ParamError, parse_duration};
use super::spec::{RunbookSpec, StepSpec};
use crate::inventory::{Inventory, TargetError};

/// Why a run cannot be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A parameter was refused.
    #[error(transparent)]
    Parameter(#[from] ParamError),
    /// The target was refused.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The runbook needs a target and none was given.
    #[error("this runbook acts on a target: give target=<inventory item>")]
    MissingTarget,
    /// An `http` step's URL, filled in, would go somewhere its template does not.
    #[error("step {step:?}: {reason}")]
    Destination {
        /// The step.
        step: String,
        /// What was refused.
        reason: String,
    },
}

impl PlanError {
    /// The request field to blame: `params.NAME`, `params.target`, or
    /// `params` when the values together steered a URL.
    pub fn field(&self) -> String {
        match self {
            Self::Parameter(p) => format!("params.{}", p.parameter),
            Self::Target(_) | Self::MissingTarget => "params.target".to_owned(),
            Self::Destination { .. } => "params".to_owned(),
        }
    }
}

/// One step ready to run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PlannedStep {
    /// Step name.
    pub name: String,
    /// Program and arguments, values substituted (empty for an HTTP step).
    pub argv: Vec<String>,
    /// The request of an HTTP step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<PlannedHttp>,
    /// Time limit in milliseconds.
    pub timeout_ms: u64,
    /// Extra attempts after a failure.
    pub retries: u32,
    /// Environment variables passed through, by name.
    pub env: Vec<String>,
    /// Secrets exposed as environment variables, by name only.
    pub secrets: Vec<String>,
    /// Arguments made from `path` parameters, as approved: each must still
    /// resolve to itself when the step runs (no link swapped in since).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

/// An HTTP request with values substituted (URL parts percent-encoded).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PlannedHttp {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The URL.
    pub url: String,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Statuses that count as success; empty means any 2xx.
    pub expect_status: Vec<u16>,
    /// The CA the target's certificate is checked against besides the
    /// public roots (the step's own, else `[tls] ca_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The URL's host came from a parameter and is not the inventory
    /// target: every address it resolves to is checked at run time, and the
    /// request goes to those addresses only.
    #[serde(default)]
    pub resolve_check: bool,
}

fn fill_json(value: &serde_json::Value, values: &BTreeMap<String, String>) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(fill(s, values)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_json(v, values)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_json(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A fully validated run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Plan {
    /// Runbook id.
    pub runbook: String,
    /// Runbook version.
    pub version: u32,
    /// Validated parameter values (target included).
    pub params: BTreeMap<String, String>,
    /// The inventory item acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Dry-run steps.
    pub check: Vec<PlannedStep>,
    /// The fix.
    pub steps: Vec<PlannedStep>,
    /// Run if a step fails.
    pub rollback: Vec<PlannedStep>,
}

fn plan_step(
    step: &StepSpec,
    values: &BTreeMap<String, String>,
    path_names: &[&str],
) -> Result<PlannedStep, PlanError> {
    let http = match &step.http {
        None => None,
        Some(h) => {
            let encoded: BTreeMap<String, String> = values
                .iter()
                .map(|(k, v)| (k.clone(), url_encode(v)))
                .collect();
            let url = fill(&h.url, &encoded);
            let refuse = |reason: String| PlanError::Destination {
                step: step.name.clone(),
                reason,
            };
            let parsed = super::destination::check_url(&h.url, &url).map_err(refuse)?;
            let host = parsed.host_str().unwrap_or_default();
            // A host a parameter chose: the inventory target is declared;
            // anything else must not be this machine, its link or metadata.
            let steered = h.url.split("://").nth(1).is_some_and(|rest| {
                rest.split(['/', '?', '#'])
                    .next()
                    .is_some_and(|authority| authority.contains('{'))
            });
            let declared = [TARGET_PARAMETER, "target_address"]
                .iter()
                .any(|k| values.get(*k).is_some_and(|v| v.eq_ignore_ascii_case(host)));
            if steered && !declared && super::destination::is_internal_host(host) {
                return Err(refuse(format!(
                    "{host} is this machine, its link or a metadata service; only an inventory target may be"
                )));
            }
            Some(PlannedHttp {
                method: h.method.clone(),
                url: parsed.to_string(),
                headers: h
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), fill(v, values)))
                    .collect(),
                body: h.body.as_ref().map(|b| fill_json(b, values)),
                expect_status: h.expect_status.clone(),
                ca_file: h.ca_file.clone(),
                resolve_check: steered && !declared,
            })
        }
    };
    // A wrapper (ssh, sudo...) splits its command's arguments again: a
    // value with whitespace would become several.
    if step
        .run
        .first()
        .is_some_and(|p| super::catalog::WRAPPERS.contains(&super::catalog::program_family(p)))
        && let Some((name, _)) = values.iter().find(|(name, value)| {
            value.chars().any(char::is_whitespace)
                && step
                    .run
                    .iter()
                    .skip(1)
                    .any(|arg| arg.contains(&format!("{{{name}}}")))
        })
    {
        return Err(PlanError::Parameter(super::params::ParamError {
            parameter: name.clone(),
            reason: format!(
                "may not contain whitespace: step {:?} passes it through {}, which splits it again",
                step.name, step.run[0]
            ),
        }));
    }
    let paths: Vec<String> = step
        .run
        .iter()
        .filter(|arg| path_names.iter().any(|p| arg.contains(&format!("{{{p}}}"))))
        .map(|arg| fill(arg, values))
        .collect();
    if let Some(moved) = paths
        .iter()
        .find(|p| !super::params::still_where_approved(p))
    {
        return Err(PlanError::Destination {
            step: step.name.clone(),
            reason: format!("{moved} is a symbolic link or lies behind one"),
        });
    }
    Ok(PlannedStep {
        name: step.name.clone(),
        argv: step.run.iter().map(|arg| fill(arg, values)).collect(),
        paths,
        http,
        timeout_ms: parse_duration(&step.timeout)
            .unwrap_or(Duration::from_secs(30))
            .as_millis()
            .try_into()
            .unwrap_or(u64::MAX),
        retries: step.retries,
        env: step.env.clone(),
        secrets: step.secrets.clone(),
    })
}

/// Everything but `A-Z a-z 0-9 - _ ~`: a value is one path segment or query
/// value, its dots encoded too (the URL's structure is checked after).
const URL_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

fn url_encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, URL_VALUE).to_string()
}

impl Plan {
    /// The first step argument that names a place inside one of `protected`
    /// (Switchboard's data directory, audit key, anchor, secrets), if any: no
    /// runbook may reach those, whatever its roots allow, through a path
    /// parameter or a path its author wrote (`/data/audit.key`,
    /// `--file=/data/audit.key`), links resolved.
    pub fn reaches_into(&self, protected: &[std::path::PathBuf]) -> Option<String> {
        let named = |arg: &str| {
            let value = match arg.split_once('=') {
                Some((_, value)) if !arg.starts_with('/') => value,
                _ => arg,
            };
            value
                .starts_with('/')
                .then(|| super::params::resolved_path(std::path::Path::new(value)))
        };
        self.check
            .iter()
            .chain(&self.steps)
            .chain(&self.rollback)
            .flat_map(|step| step.paths.iter().chain(&step.argv))
            .filter_map(|arg| named(arg))
            .find(|path| protected.iter().any(|dir| path.starts_with(dir)))
            .map(|path| path.display().to_string())
    }

    /// Every `http` step that names no CA of its own trusts `ca_file`
    /// (`[tls] ca_file`) besides the public roots.
    pub fn trust_default_ca(&mut self, ca_file: Option<&str>) {
        let Some(ca_file) = ca_file else {
            return;
        };
        for step in self
            .check
            .iter_mut()
            .chain(self.steps.iter_mut())
            .chain(self.rollback.iter_mut())
        {
            if let Some(http) = step.http.as_mut().filter(|h| h.ca_file.is_none()) {
                http.ca_file = Some(ca_file.to_owned());
            }
        }
    }
}

/// Validates `given` (and the target against `inventory`) and substitutes the values.
pub fn plan(
    spec: &RunbookSpec,
    given: &BTreeMap<String, String>,
    inventory: &Inventory,
) -> Result<Plan, PlanError> {
    let mut values = validate_run_params(spec, given)?;
    let target = match (spec.targets.required, given.get(TARGET_PARAMETER)) {
        (true, None) => return Err(PlanError::MissingTarget),
        (true, Some(name)) => {
            let item = inventory.resolve(&spec.targets.kinds, &spec.targets.tags, name)?;
            values.insert(TARGET_PARAMETER.to_owned(), item.name.clone());
            values.insert(
                "target_address".to_owned(),
                item.address.clone().unwrap_or_else(|| item.name.clone()),
            );
            Some(item.name.clone())
        }
        (false, Some(_)) => {
            return Err(PlanError::Parameter(ParamError {
                parameter: TARGET_PARAMETER.to_owned(),
                reason: "this runbook does not act on a target".to_owned(),
            }));
        }
        (false, None) => None,
    };
    let path_names: Vec<&str> = spec
        .parameters
        .iter()
        .filter(|p| p.kind == super::spec::ParameterType::Path)
        .map(|p| p.name.as_str())
        .collect();
    let steps = |list: &[StepSpec]| -> Result<Vec<PlannedStep>, PlanError> {
        list.iter()
            .map(|s| plan_step(s, &values, &path_names))
            .collect()
    };
    Ok(Plan {
        runbook: spec.id.clone(),
        version: spec.version,
        check: steps(&spec.check)?,
        steps: steps(&spec.steps)?,
        rollback: steps(&spec.rollback)?,
        target,
        params: values.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str, param_type: &str) -> RunbookSpec {
        serde_norway::from_str(&format!(
            "id: api\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: low\n\
             approval: {{ mode: auto }}\n\
             parameters: [ {{ name: id, type: {param_type}, required: true }} ]\n\
             steps: [ {{ name: call, http: {{ method: POST, url: \"{url}\" }} }} ]\n"
        ))
        .unwrap()
    }

    fn plan_with(url: &str, param_type: &str, id: &str) -> Result<Plan, PlanError> {
        let given = BTreeMap::from([("id".to_owned(), id.to_owned())]);
        plan(&spec(url, param_type), &given, &Inventory::default())
    }

    #[test]
    fn a_dot_dot_value_cannot_climb_out_of_the_steps_path() {
        let url = "https://api.example.com/api/items/{id}/restart";
        let refused = plan_with(url, "string", "..").unwrap_err();
        assert!(
            matches!(refused, PlanError::Destination { .. }),
            "{refused}"
        );
        assert_eq!(refused.field(), "params");
        let planned = plan_with(url, "string", "v1.2").unwrap();
        let http = planned.steps[0].http.as_ref().unwrap();
        assert_eq!(http.url, "https://api.example.com/api/items/v1%2E2/restart");
        assert!(!http.resolve_check, "a fixed host needs no check");
    }

    fn wrapped(run: &str, allow: &str) -> RunbookSpec {
        serde_norway::from_str(&format!(
            "id: w\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: low\n{allow}\n\
             approval: {{ mode: auto }}\n\
             parameters: [ {{ name: unit, type: string, required: true }} ]\n\
             steps: [ {{ name: s, run: {run} }} ]\n"
        ))
        .unwrap()
    }

    #[test]
    fn wrappers_and_versioned_interpreters_are_refused_unless_allowed() {
        use super::super::catalog::check_runbook;
        let python = wrapped("[python3.11, -c, \"{unit}\"]", "");
        assert!(
            !check_runbook(&python).is_empty(),
            "a versioned interpreter"
        );
        let timeout = wrapped("[timeout, \"5\", systemctl, restart, \"{unit}\"]", "");
        assert!(!check_runbook(&timeout).is_empty(), "a wrapper not allowed");
        let allowed = wrapped(
            "[timeout, \"5\", systemctl, restart, \"{unit}\"]",
            "allow_wrappers: [timeout]",
        );
        assert!(
            check_runbook(&allowed).is_empty(),
            "{:?}",
            check_runbook(&allowed)
        );
        // Allowed, it still gets no value a second split would break apart.
        let given = |unit: &str| BTreeMap::from([("unit".to_owned(), unit.to_owned())]);
        assert!(plan(&allowed, &given("nginx"), &Inventory::default()).is_ok());
        let refused = plan(&allowed, &given("nginx --now"), &Inventory::default()).unwrap_err();
        assert_eq!(refused.field(), "params.unit", "{refused}");
    }

    #[test]
    fn a_host_from_a_parameter_is_never_the_metadata_service_or_loopback() {
        let url = "http://{id}/latest/meta-data";
        for host in ["169.254.169.254", "127.0.0.1", "localhost"] {
            assert!(plan_with(url, "string", host).is_err(), "{host}");
            assert!(plan_with(url, "hostname", host).is_err(), "{host}");
        }
        let planned = plan_with(url, "hostname", "api.example.com").unwrap();
        assert!(planned.steps[0].http.as_ref().unwrap().resolve_check);
    }
}
