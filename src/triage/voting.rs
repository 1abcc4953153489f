//! Similarity-weighted voting over nearest neighbours.
//!
//! Each neighbour votes for its label with weight `similarity ^ sharpness`.
//! Confidence is the label's share of the weight of *all* neighbours, so a
//! label that only a few neighbours carry cannot look certain.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// A past incident near the ticket, with the labels it carries.
#[derive(Debug, Clone)]
pub struct Neighbour<'a> {
    /// Incident id.
    pub id: &'a str,
    /// Cosine similarity to the ticket.
    pub similarity: f32,
    /// Its labels.
    pub labels: &'a BTreeMap<String, String>,
}

/// Whether a suggestion may be applied without a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Confidence reached the configured threshold: apply it.
    Auto,
    /// Below threshold: show it to an agent.
    Suggest,
}

/// A runner-up label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alternative {
    /// The label.
    pub label: String,
    /// Its share of the vote.
    pub confidence: f32,
}

/// A past incident that voted for the suggested label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    /// Incident id.
    pub id: String,
    /// Cosine similarity to the ticket.
    pub similarity: f32,
}

/// The suggestion for one label field.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldSuggestion {
    /// Suggested value.
    pub label: String,
    /// Share of the neighbours' vote, in [0, 1].
    pub confidence: f32,
    /// `auto` when confidence reached the threshold.
    pub route: Route,
    /// The threshold that applied.
    pub threshold: f32,
    /// Up to three runner-up labels.
    pub alternatives: Vec<Alternative>,
    /// The incidents that voted for the label, most similar first.
    pub evidence: Vec<Evidence>,
}

/// Knobs of the vote.
#[derive(Debug, Clone, Copy)]
pub struct VoteSettings {
    /// Exponent on similarity; higher trusts the closest neighbours more.
    pub sharpness: f32,
}

const MAX_ALTERNATIVES: usize = 3;
const MAX_EVIDENCE: usize = 5;

/// Suggests a label for every field any neighbour carries. `threshold` gives the
/// auto-route threshold for a field and its suggested label.
pub fn suggest_labels(
    neighbours: &[Neighbour<'_>],
    settings: VoteSettings,
    threshold: impl Fn(&str, &str) -> f32,
) -> BTreeMap<String, FieldSuggestion> {
    let weight = |n: &Neighbour<'_>| n.similarity.max(0.0).powf(settings.sharpness);
    let total: f32 = neighbours.iter().map(weight).sum();
    let mut tallies: BTreeMap<&str, HashMap<&str, f32>> = BTreeMap::new();
    for neighbour in neighbours {
        for (field, label) in neighbour.labels {
            *tallies
                .entry(field.as_str())
                .or_default()
                .entry(label.as_str())
                .or_default() += weight(neighbour);
        }
    }
    let mut out = BTreeMap::new();
    if total <= 0.0 {
        return out;
    }
    for (field, tally) in tallies {
        let mut ranked: Vec<(&str, f32)> = tally.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let (label, score) = ranked[0];
        let confidence = (score / total).clamp(0.0, 1.0);
        let threshold = threshold(field, label);
        let evidence = neighbours
            .iter()
            .filter(|n| n.labels.get(field).map(String::as_str) == Some(label))
            .take(MAX_EVIDENCE)
            .map(|n| Evidence {
                id: n.id.to_owned(),
                similarity: n.similarity,
            })
            .collect();
        let alternatives = ranked[1..]
            .iter()
            .take(MAX_ALTERNATIVES)
            .map(|(label, score)| Alternative {
                label: (*label).to_owned(),
                confidence: (score / total).clamp(0.0, 1.0),
            })
            .collect();
        out.insert(
            field.to_owned(),
            FieldSuggestion {
                label: label.to_owned(),
                confidence,
                route: if confidence >= threshold {
                    Route::Auto
                } else {
                    Route::Suggest
                },
                threshold,
                alternatives,
                evidence,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(group: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("assignment_group".to_owned(), group.to_owned())])
    }

    #[test]
    fn closest_neighbours_outvote_distant_majority() {
        let (a, b) = (labels("Network"), labels("Desktop"));
        let neighbours = [
            Neighbour {
                id: "1",
                similarity: 0.95,
                labels: &a,
            },
            Neighbour {
                id: "2",
                similarity: 0.94,
                labels: &a,
            },
            Neighbour {
                id: "3",
                similarity: 0.5,
                labels: &b,
            },
            Neighbour {
                id: "4",
                similarity: 0.5,
                labels: &b,
            },
            Neighbour {
                id: "5",
                similarity: 0.5,
                labels: &b,
            },
        ];
        let out = suggest_labels(&neighbours, VoteSettings { sharpness: 4.0 }, |_, _| 0.8);
        let group = &out["assignment_group"];
        assert_eq!(group.label, "Network");
        assert!(
            group.confidence > 0.8 && group.confidence < 1.0,
            "{}",
            group.confidence
        );
        assert_eq!(group.route, Route::Auto);
        assert_eq!(group.alternatives[0].label, "Desktop");
        let ids: Vec<&str> = group.evidence.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
    }

    #[test]
    fn unlabelled_neighbours_dilute_confidence() {
        let (a, none) = (labels("Network"), BTreeMap::new());
        let neighbours = [
            Neighbour {
                id: "1",
                similarity: 0.9,
                labels: &a,
            },
            Neighbour {
                id: "2",
                similarity: 0.9,
                labels: &none,
            },
        ];
        let out = suggest_labels(&neighbours, VoteSettings { sharpness: 1.0 }, |_, _| 0.9);
        let group = &out["assignment_group"];
        assert!((group.confidence - 0.5).abs() < 1e-6);
        assert_eq!(group.route, Route::Suggest);
    }

    #[test]
    fn no_neighbours_no_suggestions() {
        assert!(suggest_labels(&[], VoteSettings { sharpness: 2.0 }, |_, _| 0.5).is_empty());
    }
}
