//! `switchboard connector check NAME`: the connector's credentials and
//! mapping tested against the live system, read-only, each finding a line.

use super::settings::{ConnectorKind, WriteMode};
use super::{ConnectorError, ConnectorService};

/// How a finding bears on the connector working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckLevel {
    /// Works.
    Ok,
    /// Works, but probably not as intended.
    Warning,
    /// Will fail: fix before relying on the connector.
    Problem,
}

/// One finding of a check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckFinding {
    /// Its weight.
    pub level: CheckLevel,
    /// What was found, in words.
    pub message: String,
}

fn finding(level: CheckLevel, message: impl Into<String>) -> CheckFinding {
    CheckFinding {
        level,
        message: message.into(),
    }
}

impl ConnectorService {
    /// Checks connector `name` against its system: a read-only call with its
    /// credentials, every mapped value looked up where the system can say,
    /// and the settings that make write-back loop or do nothing.
    pub async fn check(&self, name: &str) -> Result<Vec<CheckFinding>, String> {
        let registered = self
            .connectors
            .get(name)
            .ok_or_else(|| format!("no connector {name:?}"))?;
        let settings = &registered.settings;
        let connector = &registered.connector;
        let mut findings = Vec::new();
        match connector.whoami().await {
            Ok(who) => findings.push(finding(CheckLevel::Ok, format!("reachable: {who}"))),
            Err(err) => findings.push(finding(
                if settings.kind == ConnectorKind::Generic {
                    CheckLevel::Warning
                } else {
                    CheckLevel::Problem
                },
                match &err {
                    ConnectorError::Unreachable(_) => {
                        format!("cannot reach {}: {err}", settings.base_url)
                    }
                    _ if err.is_refused_credentials() => format!("credentials refused: {err}"),
                    _ => format!("the system answered with an error: {err}"),
                },
            )),
        }
        if settings.service_user.is_none() {
            findings.push(finding(
                CheckLevel::Warning,
                "no service_user: Switchboard's own writes are recognised by the note's marker only",
            ));
        }
        if settings.fields.is_empty() {
            findings.push(finding(
                CheckLevel::Warning,
                "no [connectors.fields]: nothing is written but the note",
            ));
        }
        for (field, policy) in &settings.fields {
            let target = policy.target.as_deref().unwrap_or(field);
            if policy.mode == WriteMode::Off {
                continue;
            }
            if policy.mode == WriteMode::Apply && policy.map.is_empty() {
                findings.push(finding(
                    CheckLevel::Warning,
                    format!("{field} -> {target}: no map, labels are written as they are"),
                ));
            }
            for (label, value) in &policy.map {
                match connector.value_exists(target, value).await {
                    Ok(Some(true)) => findings.push(finding(
                        CheckLevel::Ok,
                        format!("{field}: {label:?} -> {target} {value:?} exists"),
                    )),
                    Ok(Some(false)) => findings.push(finding(
                        CheckLevel::Problem,
                        format!(
                            "{field}: {label:?} -> {target} {value:?} does not exist in the system"
                        ),
                    )),
                    Ok(None) => {}
                    Err(err) => findings.push(finding(
                        CheckLevel::Problem,
                        format!("{field}: looking up {target} {value:?} failed: {err}"),
                    )),
                }
            }
        }
        Ok(findings)
    }
}
