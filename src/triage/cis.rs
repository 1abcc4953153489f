//! Configuration items in triage: the items a ticket mentions (from the
//! inventory), their owner group as evidence on the assignment-group
//! suggestion, and a runbook's `target` filled from them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{FieldSuggestion, TriageService};
use crate::domain::NewTicket;
use crate::inventory::{CiFinder, CiMention, Inventory};
use crate::runbook::RunbookMatch;

/// The label field an item's owner group speaks to.
pub const OWNER_FIELD: &str = "assignment_group";

/// A mentioned item's owner group, next to the suggested group.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CiOwner {
    /// The item.
    pub configuration_item: String,
    /// Its owner group.
    pub owner_group: String,
    /// Whether the suggested label is that group.
    pub agrees: bool,
}

impl TriageService {
    /// Finds configuration items of `inventory` in tickets; runbook targets are
    /// resolved against it.
    pub fn with_inventory(mut self, inventory: Inventory) -> Self {
        self.cis = CiFinder::new(&inventory);
        self.inventory = inventory;
        self
    }

    /// The items a (scrubbed) ticket mentions in its title, description or
    /// service field, first mention first.
    pub(super) fn mentioned_items(&self, ticket: &NewTicket) -> Vec<CiMention> {
        if self.cis.is_empty() {
            return Vec::new();
        }
        let text = format!(
            "{}\n{}\n{}",
            ticket.title,
            ticket.description,
            ticket.service.as_deref().unwrap_or_default()
        );
        self.cis.find(&text)
    }

    /// Puts the first mentioned item with an owner group next to the
    /// assignment-group suggestion, saying whether they agree. It is evidence
    /// for the agent; the confidence and route stay as measured.
    pub(super) fn add_owner_evidence(
        suggestions: &mut BTreeMap<String, FieldSuggestion>,
        mentions: &[CiMention],
    ) {
        let Some(suggestion) = suggestions.get_mut(OWNER_FIELD) else {
            return;
        };
        let Some((item, owner)) = mentions
            .iter()
            .find_map(|m| m.owner_group.as_ref().map(|g| (m, g)))
        else {
            return;
        };
        suggestion.ci_owner = Some(CiOwner {
            configuration_item: item.name.clone(),
            owner_group: owner.clone(),
            agrees: suggestion.label.eq_ignore_ascii_case(owner),
        });
    }

    /// Fills a matched runbook's missing `target` with the first mentioned
    /// item the runbook may act on (kind and tags checked as a request would).
    pub(super) fn fill_targets(&self, runbooks: &mut [RunbookMatch], mentions: &[CiMention]) {
        for found in runbooks.iter_mut() {
            if found.params.contains_key("target") {
                continue;
            }
            let Some((spec, _)) = self.runbooks.iter().find(|(s, _)| s.id == found.id) else {
                continue;
            };
            if !spec.targets.required {
                continue;
            }
            if let Some(item) = mentions.iter().find(|m| {
                self.inventory
                    .resolve(&spec.targets.kinds, &spec.targets.tags, &m.name)
                    .is_ok()
            }) {
                found.params.insert("target".into(), item.name.clone());
                found
                    .reasons
                    .push(format!("target {} is mentioned in the ticket", item.name));
            }
        }
    }
}
