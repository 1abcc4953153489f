//! An agent's correction of one suggested label.

use serde::Deserialize;

use super::incident::validate_label;
use super::ticket::ValidationError;

/// `POST /v1/tickets/{id}/feedback`: the label an agent set on a field.
#[derive(Debug, Clone, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelFeedback {
    /// Label field, e.g. `assignment_group`.
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub field: String,
    /// The right label (a reassignment names the new group).
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub label: String,
    /// Who made the correction, as the ticketing system names them.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub agent: String,
}

impl LabelFeedback {
    /// Rejects malformed field names, blank or overlong labels and agents.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_label(&self.field, &self.label).map_err(|e| ValidationError {
            field: Some("field"),
            ..e
        })?;
        if self.label.trim().is_empty() {
            return Err(ValidationError::new(
                Some("label"),
                "label must not be blank",
            ));
        }
        let agent = self.agent.trim();
        if agent.is_empty() || agent.chars().count() > 128 || agent.chars().any(char::is_control) {
            return Err(ValidationError::new(
                Some("agent"),
                "agent must be 1 to 128 characters without control characters",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feedback(field: &str, label: &str, agent: &str) -> LabelFeedback {
        LabelFeedback {
            field: field.into(),
            label: label.into(),
            agent: agent.into(),
        }
    }

    #[test]
    fn rejects_bad_fields_labels_and_agents() {
        assert!(
            feedback("assignment_group", "Network", "ana")
                .validate()
                .is_ok()
        );
        assert_eq!(
            feedback("group name", "Network", "ana")
                .validate()
                .unwrap_err()
                .field,
            Some("field")
        );
        assert_eq!(
            feedback("assignment_group", "  ", "ana")
                .validate()
                .unwrap_err()
                .field,
            Some("label")
        );
        assert_eq!(
            feedback("assignment_group", "Network", "")
                .validate()
                .unwrap_err()
                .field,
            Some("agent")
        );
    }
}
