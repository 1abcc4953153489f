//! The extractive baseline: no model. It takes the steps of the
//! best-supported past resolutions and knowledge passages, merges steps that
//! say the same thing (a step several similar incidents agree on ranks
//! higher), and writes each with its citations, in the order the best
//! evidence gives them.

use std::collections::HashSet;

use super::evidence::Evidence;
use super::grounding::{content_words, parse_citations, split_sentences};

/// Share of the shorter step's content words two steps must share to be one step.
const SAME_STEP: f32 = 0.5;

struct Step {
    text: String,
    words: HashSet<String>,
    citations: Vec<String>,
    score: f32,
    order: (usize, usize),
}

/// A draft text made of the evidence's own sentences, at most `max_sentences`,
/// each followed by its citations in brackets. Empty when the evidence holds
/// no usable sentence.
pub fn compose(ticket: &str, evidence: &[Evidence], max_sentences: usize) -> String {
    let ticket_words: HashSet<String> = content_words(ticket).into_iter().collect();
    let mut steps: Vec<Step> = Vec::new();
    for (rank, item) in evidence.iter().enumerate() {
        for (position, sentence) in split_sentences(&item.text).into_iter().enumerate() {
            let (text, _) = parse_citations(&sentence);
            let words: HashSet<String> = content_words(&text).into_iter().collect();
            if words.len() < 2 {
                continue;
            }
            // A passage's sentence about the ticket's own words weighs more.
            let about_ticket = words.iter().filter(|w| ticket_words.contains(*w)).count() as f32
                / words.len() as f32;
            let score = item.similarity * (1.0 + about_ticket);
            if let Some(same) = steps
                .iter_mut()
                .find(|s| overlap(&s.words, &words) >= SAME_STEP)
            {
                if !same.citations.contains(&item.id) {
                    same.citations.push(item.id.clone());
                    same.score += score;
                }
                continue;
            }
            steps.push(Step {
                text,
                words,
                citations: vec![item.id.clone()],
                score,
                order: (rank, position),
            });
        }
    }
    steps.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.order.cmp(&b.order)));
    steps.truncate(max_sentences);
    steps.sort_by_key(|s| s.order);
    steps
        .iter()
        .map(|s| {
            let mut line = s.text.clone();
            if !line.ends_with(['.', '!', '?']) {
                line.push('.');
            }
            for id in &s.citations {
                line.push_str(&format!(" [{id}]"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn overlap(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    let shared = a.intersection(b).count();
    shared as f32 / a.len().min(b.len()).max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drafts::evidence::EvidenceKind;
    use crate::drafts::grounding::ground;

    fn item(id: &str, similarity: f32, text: &str) -> Evidence {
        Evidence {
            id: id.into(),
            kind: EvidenceKind::Incident,
            title: String::new(),
            text: text.into(),
            similarity,
            url: None,
        }
    }

    #[test]
    fn agreed_steps_merge_their_citations() {
        let evidence = [
            item(
                "INC1",
                0.9,
                "Cleared the Outlook cache. Recreated the mail profile.",
            ),
            item("INC2", 0.8, "Recreated the mail profile for the user."),
        ];
        let text = compose("Outlook keeps asking for a password", &evidence, 5);
        assert_eq!(
            text,
            "Cleared the Outlook cache. [INC1]\nRecreated the mail profile. [INC1] [INC2]"
        );
    }

    #[test]
    fn the_cap_keeps_the_best_supported_steps_in_order() {
        let evidence = [
            item(
                "INC1",
                0.9,
                "Checked the switch port. Replaced the network cable.",
            ),
            item("INC2", 0.85, "Replaced the network cable on the desk."),
        ];
        let text = compose("network down", &evidence, 1);
        assert_eq!(text, "Replaced the network cable. [INC1] [INC2]");
    }

    #[test]
    fn its_drafts_pass_grounding_whole() {
        let evidence = [item(
            "INC1",
            0.9,
            "Reset the password in AD and unlocked the account.",
        )];
        let text = compose("locked out", &evidence, 5);
        let (kept, checks) = ground(&text, &evidence, 0.5, 5);
        assert_eq!(kept.len(), 1);
        assert_eq!(checks.sentences_dropped + checks.sentences_recited, 0);
        assert!(checks.invented_citations.is_empty());
    }

    #[test]
    fn evidence_without_sentences_gives_nothing() {
        assert_eq!(compose("x", &[item("INC1", 0.9, "ok")], 5), "");
    }
}
