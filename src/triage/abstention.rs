//! When a suggestion must wait for a person whatever its confidence: a
//! ticket that says too little ("can someone have a look at the thing we
//! talked about last week?") or one farther from every stored incident than
//! the history's own outliers. A classifier head is sure of something for
//! any input; these two checks look at the input instead.

use std::collections::BTreeSet;

use serde::Serialize;

/// Why a ticket is left to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Abstention {
    /// Fewer words that say what is wrong than `triage.min_content_words`.
    Vague,
    /// Its nearest stored incident is less similar than the head's
    /// neighbour floor: the desk has not seen this before.
    Unfamiliar,
}

/// Words that say nothing about what is wrong or where: function words and
/// the filler of a request for help.
const FILLER: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "all",
    "also",
    "and",
    "any",
    "anyone",
    "are",
    "around",
    "asap",
    "back",
    "can",
    "cannot",
    "could",
    "did",
    "does",
    "doesn",
    "done",
    "dont",
    "for",
    "from",
    "get",
    "got",
    "had",
    "has",
    "have",
    "hello",
    "help",
    "her",
    "here",
    "him",
    "his",
    "how",
    "issue",
    "its",
    "just",
    "know",
    "last",
    "let",
    "look",
    "looked",
    "make",
    "may",
    "meet",
    "might",
    "more",
    "morning",
    "much",
    "need",
    "needs",
    "not",
    "now",
    "off",
    "one",
    "our",
    "out",
    "over",
    "please",
    "pls",
    "problem",
    "problems",
    "regards",
    "same",
    "see",
    "she",
    "should",
    "some",
    "someone",
    "something",
    "soon",
    "still",
    "such",
    "talked",
    "team",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "this",
    "those",
    "today",
    "too",
    "urgent",
    "very",
    "want",
    "was",
    "way",
    "week",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "would",
    "yesterday",
    "yet",
    "you",
    "your",
];

/// Distinct words of three letters or more in `text` that are not filler.
/// Scripts written without spaces (Chinese, Japanese) count a word per two
/// of their characters: "账户被锁定" is a locked account, not one word.
pub fn content_words(text: &str) -> usize {
    let words: BTreeSet<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !FILLER.contains(&w.as_str()))
        .collect();
    words
        .iter()
        .map(|w| {
            let unspaced = w.chars().filter(|&c| is_unspaced_script(c)).count();
            if unspaced > 0 {
                unspaced.div_ceil(2)
            } else {
                usize::from(w.chars().count() >= 3 && w.chars().any(char::is_alphabetic))
            }
        })
        .sum()
}

/// CJK ideographs, kana and Hangul syllables: scripts whose words are not
/// separated by spaces.
fn is_unspaced_script(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}')
}

/// Whether the ticket with model text `text`, whose retrieved incidents'
/// best similarity is `nearest`, must wait for a person: vague below
/// `min_words` content words (0: never), unfamiliar below `floor`.
pub fn abstention(
    text: &str,
    nearest: Option<f32>,
    floor: Option<f32>,
    min_words: usize,
) -> Option<Abstention> {
    if content_words(text) < min_words {
        return Some(Abstention::Vague);
    }
    match (nearest, floor) {
        (Some(nearest), Some(floor)) if nearest < floor => Some(Abstention::Unfamiliar),
        // Nothing stored at all is as unfamiliar as it gets.
        (None, Some(_)) => Some(Abstention::Unfamiliar),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_that_names_nothing_is_vague() {
        for text in [
            "can someone have a look at the thing we talked about last week?",
            "Help!!\nurgent, please call me",
            "not working",
            "\nhi please help thanks",
            "Hi team, any update? Thanks",
        ] {
            assert_eq!(
                abstention(text, Some(0.9), Some(0.3), 2),
                Some(Abstention::Vague),
                "{text}"
            );
        }
    }

    #[test]
    fn a_short_ticket_that_names_what_and_where_is_not() {
        for text in [
            "password reset",
            "vpn not working",
            "账户被锁定",
            "Outlook crashes when opening calendar",
            "VPN disconnects every 5 minutes",
            "printer on floor 3 jams",
        ] {
            assert_eq!(abstention(text, Some(0.9), Some(0.3), 2), None, "{text}");
        }
    }

    #[test]
    fn a_ticket_far_from_every_incident_is_unfamiliar() {
        let text = "recipe for banana bread with walnuts and cinnamon";
        assert_eq!(
            abstention(text, Some(0.12), Some(0.3), 2),
            Some(Abstention::Unfamiliar)
        );
        assert_eq!(
            abstention(text, Some(0.12), None, 2),
            None,
            "no floor measured: no check"
        );
        assert_eq!(
            abstention("", Some(0.9), None, 0),
            None,
            "0 turns the word check off"
        );
    }
}
