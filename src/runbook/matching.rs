//! Which runbooks fit a ticket, and why: its suggested category or group is
//! one the runbook serves, and a keyword, a pattern or the meaning of its
//! description matches the ticket. Parameters with an `extract` rule are
//! pre-filled from the ticket text.

use std::collections::BTreeMap;

use regex::RegexBuilder;
use serde::Serialize;

use super::spec::{ApprovalMode, Risk, RunbookSpec};

/// A runbook proposed for a ticket.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RunbookMatch {
    /// Runbook id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Change risk.
    pub risk: Risk,
    /// `auto` or `manual`.
    pub approval: ApprovalMode,
    /// Cosine similarity between the ticket and the runbook's description.
    pub similarity: f32,
    /// Why it matched, in words.
    pub reasons: Vec<String>,
    /// Parameters found in the ticket text (validated).
    pub params: BTreeMap<String, String>,
}

/// The ticket as matching sees it.
pub struct TicketView<'a> {
    /// Title and description.
    pub text: &'a str,
    /// Suggested (or given) labels by field.
    pub labels: &'a BTreeMap<String, String>,
}

/// Matches `spec` (whose description embeds at `similarity` to the ticket).
pub fn match_runbook(
    spec: &RunbookSpec,
    similarity: f32,
    ticket: &TicketView<'_>,
) -> Option<RunbookMatch> {
    let m = &spec.matching;
    let fits = |list: &[String], field: &str| {
        list.is_empty()
            || ticket
                .labels
                .get(field)
                .is_some_and(|label| list.iter().any(|l| l.eq_ignore_ascii_case(label)))
    };
    if !fits(&m.categories, "category") || !fits(&m.assignment_groups, "assignment_group") {
        return None;
    }
    let mut reasons = Vec::new();
    for field in ["category", "assignment_group"] {
        let list = if field == "category" {
            &m.categories
        } else {
            &m.assignment_groups
        };
        if let Some(label) = ticket.labels.get(field).filter(|_| !list.is_empty()) {
            reasons.push(format!("{field} is {label}"));
        }
    }
    let lower = ticket.text.to_lowercase();
    let keywords: Vec<&str> = m
        .keywords
        .iter()
        .filter(|k| lower.contains(&k.to_lowercase()))
        .map(String::as_str)
        .collect();
    let patterns = m.patterns.iter().filter(|p| {
        RegexBuilder::new(p)
            .size_limit(1 << 20)
            .build()
            .is_ok_and(|r| r.is_match(ticket.text))
    });
    let mut content = false;
    if !keywords.is_empty() {
        reasons.push(format!("mentions {}", keywords.join(", ")));
        content = true;
    }
    for pattern in patterns {
        reasons.push(format!("matches /{pattern}/"));
        content = true;
    }
    if similarity >= m.min_similarity {
        reasons.push(format!(
            "description similarity {similarity:.2} >= {:.2}",
            m.min_similarity
        ));
        content = true;
    }
    if !content {
        return None;
    }
    let params = spec
        .parameters
        .iter()
        .filter_map(|p| Some((p.name.clone(), p.extract_from(ticket.text)?)))
        .collect();
    Some(RunbookMatch {
        id: spec.id.clone(),
        title: spec.title.clone(),
        risk: spec.risk,
        approval: spec.approval.mode,
        similarity,
        reasons,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunbookSpec {
        serde_norway::from_str(
            r#"
id: clean
version: 1
title: Clean
description: frees disk space
owner: ops
match: { categories: [storage], keywords: [disk full], min_similarity: 0.6 }
parameters:
  - { name: dir, type: path, allowed_roots: [/var/tmp/sb], extract: '(?P<value>/var/tmp/sb/\S+)' }
risk: low
approval: { mode: auto }
steps: [ { name: s, run: ["true"] } ]
"#,
        )
        .unwrap()
    }

    #[test]
    fn needs_the_right_category_and_some_content_match() {
        let storage = BTreeMap::from([("category".to_owned(), "storage".to_owned())]);
        let network = BTreeMap::from([("category".to_owned(), "network".to_owned())]);
        let text = "Disk full on /var/tmp/sb/cache, please clean";
        let hit = match_runbook(
            &spec(),
            0.3,
            &TicketView {
                text,
                labels: &storage,
            },
        )
        .unwrap();
        assert_eq!(hit.params["dir"], "/var/tmp/sb/cache");
        assert!(
            hit.reasons.iter().any(|r| r.contains("disk full")),
            "{:?}",
            hit.reasons
        );
        assert!(
            match_runbook(
                &spec(),
                0.9,
                &TicketView {
                    text,
                    labels: &network
                }
            )
            .is_none()
        );
        let unrelated = TicketView {
            text: "printer jam",
            labels: &storage,
        };
        assert!(match_runbook(&spec(), 0.3, &unrelated).is_none());
        assert!(
            match_runbook(&spec(), 0.7, &unrelated).is_some(),
            "meaning alone is enough"
        );
    }
}
