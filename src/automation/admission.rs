//! Admission of an execution request, without state: the request's own
//! fields checked, its runbook found, its parameters and target validated
//! into a plan, its change type and route (auto or approval) decided. The
//! service audits a refusal and records what is admitted; nothing here
//! touches the database.

use std::collections::BTreeMap;

use super::model::ExecutionRequest;
use crate::changes::ChangeType;
use crate::runbook::{ApprovalMode, Catalog, Inventory, Plan, RunbookSpec, plan};

/// Why a request is refused: the input field at fault and the message the
/// requester sees (and the audit records).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Refusal {
    /// `runbook`, `params.NAME`, `justification`, ...
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Refusal {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A request that passed every check that needs no state.
pub(super) struct Admitted<'c> {
    /// Its runbook.
    pub spec: &'c RunbookSpec,
    /// What would run, with validated values.
    pub planned: Plan,
    /// An emergency's reason, checked.
    pub justification: Option<String>,
    /// Standard (auto), normal (approved) or emergency.
    pub change_type: ChangeType,
    /// Starts without approval: an `auto` runbook or a dry run.
    pub auto: bool,
}

/// The request's idempotency key, if any, is 1-128 printable characters.
pub(super) fn check_key(request: &ExecutionRequest) -> Result<(), Refusal> {
    match &request.idempotency_key {
        Some(key) if key.is_empty() || key.len() > 128 || key.chars().any(char::is_control) => Err(
            Refusal::new("idempotency_key", "must be 1-128 printable characters"),
        ),
        _ => Ok(()),
    }
}

/// Checks `request` against `catalog` and `inventory`: ticket id, runbook,
/// parameters, target, emergency justification; decides its change type.
/// The plan `params` make of `spec`: each value a string or a number,
/// validated and substituted, and no step argument inside Switchboard's own
/// data (`protected`). What a request and a preview are both held to.
pub(super) fn plan_params(
    spec: &RunbookSpec,
    params: &BTreeMap<String, serde_json::Value>,
    inventory: &Inventory,
    protected: &[std::path::PathBuf],
) -> Result<Plan, Refusal> {
    let mut given = BTreeMap::new();
    for (name, value) in params {
        let Some(text) = value_text(value) else {
            return Err(Refusal::new(
                format!("params.{name}"),
                format!("parameter {name}: must be a string or a number"),
            ));
        };
        given.insert(name.clone(), text);
    }
    let planned =
        plan(spec, &given, inventory).map_err(|err| Refusal::new(err.field(), err.to_string()))?;
    if let Some(path) = planned.reaches_into(protected) {
        return Err(Refusal::new(
            "params",
            format!(
                "{path} is inside Switchboard's own data (its database, audit key, anchor or secrets)"
            ),
        ));
    }
    Ok(planned)
}

pub(super) fn admit<'c>(
    request: &ExecutionRequest,
    catalog: &'c Catalog,
    inventory: &Inventory,
    protected: &[std::path::PathBuf],
) -> Result<Admitted<'c>, Refusal> {
    if let Some(ticket) = &request.ticket_id
        && crate::domain::validate_id(ticket).is_err()
    {
        return Err(Refusal::new(
            "ticket_id",
            "must be 1-128 characters without whitespace",
        ));
    }
    let Some(spec) = catalog.get(&request.runbook) else {
        return Err(Refusal::new(
            "runbook",
            format!("no runbook {:?}", request.runbook),
        ));
    };
    let planned = plan_params(spec, &request.params, inventory, protected)?;
    let justification = emergency_justification(request)?;
    let auto = !request.emergency && (spec.approval.mode == ApprovalMode::Auto || request.dry_run);
    let change_type = if request.emergency {
        ChangeType::Emergency
    } else if auto {
        ChangeType::Standard
    } else {
        ChangeType::Normal
    };
    Ok(Admitted {
        spec,
        planned,
        justification,
        change_type,
        auto,
    })
}

/// A parameter value as text: strings, numbers and booleans; nothing else.
pub(super) fn value_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An emergency request's justification, checked; `None` for other requests.
fn emergency_justification(request: &ExecutionRequest) -> Result<Option<String>, Refusal> {
    let given = request.justification.as_deref().map(str::trim);
    if !request.emergency {
        return match given {
            Some(_) => Err(Refusal::new(
                "justification",
                "a justification is given only with \"emergency\": true",
            )),
            None => Ok(None),
        };
    }
    if request.dry_run {
        return Err(Refusal::new(
            "emergency",
            "a dry run changes nothing and needs no emergency change",
        ));
    }
    match given {
        Some(text)
            if !text.is_empty()
                && text.chars().count() <= 2000
                && !text.chars().any(|c| c.is_control() && c != '\n') =>
        {
            Ok(Some(text.to_owned()))
        }
        _ => Err(Refusal::new(
            "justification",
            "an emergency change needs a justification of 1-2000 characters",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(emergency: bool, dry_run: bool, justification: Option<&str>) -> ExecutionRequest {
        serde_json::from_value(serde_json::json!({
            "runbook": "restart-service",
            "emergency": emergency,
            "dry_run": dry_run,
            "justification": justification,
        }))
        .unwrap()
    }

    #[test]
    fn an_emergency_needs_a_justification_and_only_an_emergency_may_give_one() {
        assert_eq!(
            emergency_justification(&request(true, false, Some("  db down  "))),
            Ok(Some("db down".to_owned()))
        );
        assert_eq!(
            emergency_justification(&request(true, false, None))
                .unwrap_err()
                .field,
            "justification"
        );
        assert_eq!(
            emergency_justification(&request(false, false, Some("why")))
                .unwrap_err()
                .field,
            "justification"
        );
        assert_eq!(
            emergency_justification(&request(true, true, Some("why")))
                .unwrap_err()
                .field,
            "emergency"
        );
    }

    #[test]
    fn an_idempotency_key_is_one_to_128_printable_characters() {
        let mut r = request(false, false, None);
        for (key, ok) in [("k-1", true), ("", false), ("a\nb", false)] {
            r.idempotency_key = Some(key.to_owned());
            assert_eq!(check_key(&r).is_ok(), ok, "{key:?}");
        }
        r.idempotency_key = Some("x".repeat(129));
        assert!(check_key(&r).is_err());
    }

    #[test]
    fn parameters_are_strings_numbers_or_booleans() {
        assert_eq!(value_text(&serde_json::json!("a")).as_deref(), Some("a"));
        assert_eq!(value_text(&serde_json::json!(3)).as_deref(), Some("3"));
        assert_eq!(
            value_text(&serde_json::json!(true)).as_deref(),
            Some("true")
        );
        assert_eq!(value_text(&serde_json::json!(["a"])), None);
    }
}
