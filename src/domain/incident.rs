//! A resolved past incident: the evidence every suggestion is built from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ticket::{ValidationError, validate_id, validate_text_lengths};

/// Label fields Switchboard knows by name; ingest picks these columns up by default.
pub const LABEL_FIELDS: &[&str] = &[
    "category",
    "subcategory",
    "sub_category1",
    "sub_category2",
    "assignment_group",
    "assignee",
    "priority",
    "service",
    "business_service",
    "ticket_type",
    "urgency",
    "impact",
];

/// Checks a label: the field name is 1-64 characters of `[A-Za-z0-9_-]`, the
/// value at most 256 characters.
pub fn validate_label(field: &str, value: &str) -> Result<(), ValidationError> {
    let ok_name = !field.is_empty()
        && field.len() <= 64
        && field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok_name {
        return Err(ValidationError::new(
            Some("labels"),
            format!("label name {field:?} must be 1-64 characters of [A-Za-z0-9_-]"),
        ));
    }
    if value.chars().count() > 256 {
        return Err(ValidationError::new(
            Some("labels"),
            format!("label {field} is longer than 256 characters"),
        ));
    }
    Ok(())
}

/// A past incident with what it was labelled and how it was resolved.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Ticketing system id, e.g. `INC0012345`.
    pub id: String,
    /// Short description.
    #[serde(default)]
    pub title: String,
    /// Full text.
    #[serde(default)]
    pub description: String,
    /// How it was fixed, shown to agents with similar tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// When it was opened (as the source system wrote it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<String>,
    /// When it was resolved (as the source system wrote it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    /// Label field -> value, e.g. `assignment_group` -> `Network`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Incident {
    /// Rejects blank text, malformed ids and malformed label names.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_id(&self.id)?;
        validate_text_lengths(&self.title, &self.description)?;
        for (field, value) in &self.labels {
            validate_label(field, value)?;
        }
        Ok(())
    }

    /// Drops labels whose value is blank, so they never vote.
    pub fn without_blank_labels(mut self) -> Self {
        self.labels.retain(|_, v| !v.trim().is_empty());
        self
    }
}

/// An incident is stored as its point's payload.
impl crate::store::PayloadRecord for Incident {}

/// An incident as API clients send it: the common label fields may be given at
/// the top level (`"assignment_group": "Network"`) as well as inside `labels`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    /// Ticketing system id.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+$"
    )]
    pub id: String,
    /// Short description.
    #[serde(default)]
    #[schema(max_length = 100_000)]
    pub title: String,
    /// Full text.
    #[serde(default)]
    #[schema(max_length = 100_000)]
    pub description: String,
    /// How it was fixed.
    #[serde(default)]
    pub resolution: Option<String>,
    /// When it was opened.
    #[serde(default)]
    pub opened_at: Option<String>,
    /// When it was resolved.
    #[serde(default)]
    pub resolved_at: Option<String>,
    /// Category label.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub category: Option<String>,
    /// Assignment group label.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub assignment_group: Option<String>,
    /// Assignee label.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub assignee: Option<String>,
    /// Priority label.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub priority: Option<String>,
    /// Business service label.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub service: Option<String>,
    /// Any other labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl From<IncidentInput> for Incident {
    fn from(input: IncidentInput) -> Self {
        let mut labels = input.labels;
        let top_level = [
            ("category", input.category),
            ("assignment_group", input.assignment_group),
            ("assignee", input.assignee),
            ("priority", input.priority),
            ("service", input.service),
        ];
        for (field, value) in top_level {
            if let Some(value) = value {
                labels.insert(field.to_owned(), value);
            }
        }
        Incident {
            id: input.id,
            title: input.title,
            description: input.description,
            resolution: input.resolution,
            opened_at: input.opened_at,
            resolved_at: input.resolved_at,
            labels,
        }
        .without_blank_labels()
    }
}
