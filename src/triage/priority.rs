//! ITIL priority from impact and urgency: each on a 1 (high) to 3 (low)
//! scale, priority = impact + urgency - 1, so 1 (critical) to 5 (planning).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::voting::FieldSuggestion;

/// How impact and urgency labels map onto the ITIL 1-3 scale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PrioritySettings {
    /// Derive a priority whenever impact and urgency are both suggested.
    pub enabled: bool,
    /// Lower-cased label -> level (1 high, 2 medium, 3 low). Labels `1`, `2`
    /// and `3` always mean themselves.
    pub levels: BTreeMap<String, u8>,
}

impl Default for PrioritySettings {
    fn default() -> Self {
        let levels = [
            ("critical", 1),
            ("high", 1),
            ("extensive", 1),
            ("widespread", 1),
            ("medium", 2),
            ("moderate", 2),
            ("significant", 2),
            ("large", 2),
            ("low", 3),
            ("minor", 3),
            ("localized", 3),
        ]
        .into_iter()
        .map(|(label, level)| (label.to_owned(), level))
        .collect();
        Self {
            enabled: true,
            levels,
        }
    }
}

/// A priority derived from the suggested impact and urgency.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DerivedPriority {
    /// 1 (critical) to 5 (planning).
    pub level: u8,
    /// `P1 critical` ... `P5 planning`.
    pub name: &'static str,
    /// The impact label it came from and its level.
    pub impact: (String, u8),
    /// The urgency label it came from and its level.
    pub urgency: (String, u8),
    /// Product of the two suggestions' confidences.
    pub confidence: f32,
}

const NAMES: [&str; 5] = [
    "P1 critical",
    "P2 high",
    "P3 moderate",
    "P4 low",
    "P5 planning",
];

impl PrioritySettings {
    /// The ITIL level of `label`, if it is known.
    pub fn level(&self, label: &str) -> Option<u8> {
        let label = label.trim().to_lowercase();
        match label.as_str() {
            "1" => Some(1),
            "2" => Some(2),
            "3" => Some(3),
            _ => self.levels.get(&label).copied(),
        }
    }

    /// Priority from the `impact` and `urgency` suggestions, when both exist
    /// and map onto the scale.
    pub fn derive(
        &self,
        suggestions: &BTreeMap<String, FieldSuggestion>,
    ) -> Option<DerivedPriority> {
        if !self.enabled {
            return None;
        }
        let impact = suggestions.get("impact")?;
        let urgency = suggestions.get("urgency")?;
        let (i, u) = (self.level(&impact.label)?, self.level(&urgency.label)?);
        let level = (i + u - 1).clamp(1, 5);
        Some(DerivedPriority {
            level,
            name: NAMES[usize::from(level - 1)],
            impact: (impact.label.clone(), i),
            urgency: (urgency.label.clone(), u),
            confidence: impact.confidence * urgency.confidence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::{Route, ScoreSources};

    fn suggestion(label: &str, confidence: f32) -> FieldSuggestion {
        FieldSuggestion {
            label: label.to_owned(),
            confidence,
            route: Route::Suggest,
            threshold: 0.9,
            sources: ScoreSources {
                neighbours: confidence,
                classifier: None,
            },
            alternatives: vec![],
            evidence: vec![],
            terms: vec![],
            ci_owner: None,
            abstained: None,
        }
    }

    #[test]
    fn follows_the_itil_matrix() {
        let settings = PrioritySettings::default();
        let cases = [
            ("High", "1", 1),
            ("high", "medium", 2),
            ("2", "2", 3),
            ("low", "2", 4),
            ("3", "Low", 5),
        ];
        for (impact, urgency, expected) in cases {
            let suggestions = BTreeMap::from([
                ("impact".to_owned(), suggestion(impact, 0.8)),
                ("urgency".to_owned(), suggestion(urgency, 0.5)),
            ]);
            let p = settings.derive(&suggestions).unwrap();
            assert_eq!(p.level, expected, "{impact} x {urgency}");
            assert!((p.confidence - 0.4).abs() < 1e-6);
        }
    }

    #[test]
    fn needs_both_fields_and_known_labels() {
        let settings = PrioritySettings::default();
        let only_impact = BTreeMap::from([("impact".to_owned(), suggestion("1", 0.9))]);
        assert!(settings.derive(&only_impact).is_none());
        let unknown = BTreeMap::from([
            ("impact".to_owned(), suggestion("7", 0.9)),
            ("urgency".to_owned(), suggestion("1", 0.9)),
        ]);
        assert!(settings.derive(&unknown).is_none());
    }
}
