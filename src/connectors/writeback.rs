//! From a triage to what is written back: each configured field's policy
//! decides whether its suggestion is applied (`apply` and routed `auto`, the
//! field empty where `only_if_empty`, the label mapped), only suggested, or
//! left out; the internal note says all of it, with the evidence, from the
//! template `prompts/connector_note.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::ExternalTicket;
use super::settings::{ConnectorSettings, WriteMode};
use crate::triage::{Route, Triage};

/// File name of the internal note's template in the prompts directory.
pub const NOTE_TEMPLATE: &str = "connector_note.md";

/// What to write to one ticket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TicketUpdate {
    /// System field -> value to set.
    pub fields: BTreeMap<String, String>,
    /// The internal note (never visible to the requester).
    pub note: String,
    /// True when a person should review the suggestions (`suggest` fields, or
    /// `apply` fields not routed automatically).
    pub review: bool,
}

/// What happened to one field's suggestion.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldOutcome {
    /// Label field.
    pub field: String,
    /// Suggested label.
    pub label: String,
    /// Its confidence.
    pub confidence: f32,
    /// The threshold it was routed by.
    pub threshold: f32,
    /// `auto` or `suggest`.
    pub route: Route,
    /// `applied`, `suggested`, `kept` (the field was already set), or
    /// `unmapped` (the label has no value in the system's mapping).
    pub action: &'static str,
}

/// The note template, loaded once.
#[derive(Debug, Clone)]
pub struct NoteTemplate {
    source: String,
}

/// The template shipped in `prompts/`, for tests and callers without a prompts directory.
const DEFAULT_NOTE: &str = include_str!("../../prompts/connector_note.md");

impl Default for NoteTemplate {
    fn default() -> Self {
        Self {
            source: DEFAULT_NOTE.to_owned(),
        }
    }
}

impl NoteTemplate {
    /// Reads `connector_note.md` from `dir` and checks that it renders.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join(NOTE_TEMPLATE);
        let source =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let template = Self { source };
        let mut env = minijinja::Environment::new();
        env.add_template("note", &template.source)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(template)
    }

    fn render(&self, context: minijinja::Value) -> Result<String, String> {
        let mut env = minijinja::Environment::new();
        env.add_template("note", &self.source)
            .map_err(|e| e.to_string())?;
        env.get_template("note")
            .and_then(|t| t.render(context))
            .map_err(|e| e.to_string())
    }
}

/// Decides each configured field and renders the note; `marker` (the job id)
/// goes into the note so a write can be recognised as done.
pub fn plan_update(
    settings: &ConnectorSettings,
    ticket: &ExternalTicket,
    triage: &Triage,
    draft: Option<&crate::drafts::Draft>,
    template: &NoteTemplate,
    marker: &str,
    first_triage: bool,
) -> Result<(TicketUpdate, Vec<FieldOutcome>), String> {
    let mut update = TicketUpdate::default();
    let mut outcomes = Vec::new();
    for (field, policy) in &settings.fields {
        let Some(suggestion) = triage.suggestions.get(field) else {
            continue;
        };
        if policy.mode == WriteMode::Off {
            continue;
        }
        let target = policy.target.clone().unwrap_or_else(|| field.clone());
        let value = if policy.map.is_empty() {
            Some(suggestion.label.clone())
        } else {
            policy.map.get(&suggestion.label).cloned()
        };
        let current_empty = ticket
            .fields
            .get(&target)
            .is_none_or(|v| v.trim().is_empty());
        let action = match value {
            None => "unmapped",
            Some(value) if policy.mode == WriteMode::Apply && suggestion.route == Route::Auto => {
                let may_replace = policy.only_if_empty.map_or(first_triage, |only| !only);
                if !current_empty && !may_replace {
                    "kept"
                } else {
                    update.fields.insert(target, value);
                    "applied"
                }
            }
            Some(_) => "suggested",
        };
        if action == "unmapped" {
            tracing::warn!(connector = %settings.name, ticket = %ticket.id, %field, label = %suggestion.label, "the label has no value in the connector's mapping: not written");
        }
        if action != "applied" && policy.mode >= WriteMode::Suggest {
            update.review = true;
        }
        outcomes.push(FieldOutcome {
            field: field.clone(),
            label: suggestion.label.clone(),
            confidence: suggestion.confidence,
            threshold: suggestion.threshold,
            route: suggestion.route,
            action,
        });
    }
    let context = minijinja::context! {
        ticket => &ticket.id,
        marker => marker,
        fields => &outcomes,
        similar_incidents => &triage.similar_incidents,
        knowledge_articles => &triage.knowledge_articles,
        runbooks => &triage.runbooks,
        storm => &triage.storm,
        duplicate_of => &triage.duplicate_of,
        draft => draft,
        model => "all-MiniLM-L6-v2 + classifier head",
    };
    update.note = template.render(context)?;
    Ok((update, outcomes))
}
