//! `[triage]`: how many neighbours vote, thresholds, the classifier head, priority.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How suggestions are computed and when a ticket is routed automatically.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageSettings {
    /// Past incidents that vote on each label.
    pub neighbours: usize,
    /// Exponent applied to each neighbour's similarity before voting.
    pub vote_sharpness: f32,
    /// Similar incidents returned in a triage answer.
    pub similar_incidents: usize,
    /// Knowledge article chunks returned in a triage answer.
    pub knowledge_articles: usize,
    /// Confidence at or above which a field is routed automatically.
    pub auto_route_threshold: f32,
    /// Per-field overrides of `auto_route_threshold`.
    pub field_thresholds: BTreeMap<String, f32>,
    /// Per-label overrides, field -> label -> threshold (e.g. from `eval --target-precision`).
    pub class_thresholds: BTreeMap<String, BTreeMap<String, f32>>,
    /// Repair mis-decoded UTF-8 and drop e-mail noise before embedding.
    pub clean_text: bool,
    /// Cosine similarity at which a stored incident counts as the same ticket
    /// seen before: then only such near-duplicates vote (above 1 turns this off).
    pub duplicate_similarity: f32,
    /// Remember tickets triaged with an `id` but without an agent token. Off by
    /// default: remembering stores the caller's text, which feedback can turn into
    /// evidence for later tickets, so it needs the agent role. Even when on, an
    /// anonymous caller cannot replace a ticket already remembered.
    pub remember_anonymous: bool,
    /// What `POST /v1/triage` answers a caller without a token: nothing
    /// (`off`, 401: the default), suggestions without incident text
    /// (`suggest_only`), or everything (`full`).
    pub anonymous: AnonymousTriage,
    /// A ticket with fewer distinct words that say what is wrong (three
    /// letters or more, not filler such as "please", "look", "thing") is
    /// never routed automatically, whatever its confidence; 0 turns this off.
    /// Tickets farther from every stored incident than the head's neighbour
    /// floor are not routed automatically either.
    pub min_content_words: usize,
    /// The classifier head blended with the neighbours' vote.
    pub classifier: crate::classify::HeadOptions,
    /// ITIL priority derived from suggested impact and urgency.
    pub priority: crate::triage::PrioritySettings,
}

impl Default for TriageSettings {
    fn default() -> Self {
        Self {
            neighbours: 15,
            vote_sharpness: 4.0,
            similar_incidents: 5,
            knowledge_articles: 3,
            auto_route_threshold: 0.9,
            field_thresholds: BTreeMap::new(),
            class_thresholds: BTreeMap::new(),
            clean_text: true,
            duplicate_similarity: 0.99,
            remember_anonymous: false,
            anonymous: AnonymousTriage::Off,
            min_content_words: 2,
            classifier: crate::classify::HeadOptions::default(),
            priority: crate::triage::PrioritySettings::default(),
        }
    }
}

/// What a caller without a token may have from `POST /v1/triage`. The
/// answer's similar incidents, knowledge passages, runbooks, storms and
/// configuration items hold the desk's own text (names, hosts, internal
/// procedures that scrubbing leaves): only callers with a token see them,
/// unless a desk opens them on purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnonymousTriage {
    /// 401: a viewer token at least.
    #[default]
    Off,
    /// Labels, confidences and routes; no incident text or evidence.
    SuggestOnly,
    /// The whole answer.
    Full,
}

impl TriageSettings {
    /// The confidence a suggestion of `label` for `field` needs to be routed
    /// automatically: the label's own threshold, else the field's, else the global one.
    pub fn threshold_for(&self, field: &str, label: &str) -> f32 {
        self.class_thresholds
            .get(field)
            .and_then(|labels| labels.get(label))
            .or_else(|| self.field_thresholds.get(field))
            .copied()
            .unwrap_or(self.auto_route_threshold)
    }
}
