//! Grounding enforced, not hoped for: a draft's text is cut into sentences,
//! each sentence's citations are checked against the evidence that was
//! retrieved, and a sentence stays only if a passage it cites (or, failing
//! that, some retrieved passage) contains most of its content words.
//!
//! Support is lexical on purpose: "share of the sentence's content words
//! (stemmed, stop words left out) that occur in the passage" is something an
//! agent can check by eye, and a generator cannot reach it by paraphrasing
//! into claims the passage never made.

use std::collections::{BTreeSet, HashSet};
use std::sync::LazyLock;

use super::evidence::Evidence;
use super::model::{DraftSentence, GroundingChecks};

/// Words that carry no claim.
const STOP_WORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "are",
    "was",
    "were",
    "this",
    "that",
    "with",
    "from",
    "your",
    "you",
    "have",
    "has",
    "had",
    "not",
    "but",
    "can",
    "will",
    "would",
    "should",
    "could",
    "may",
    "might",
    "into",
    "onto",
    "then",
    "than",
    "there",
    "their",
    "they",
    "them",
    "its",
    "it's",
    "our",
    "out",
    "all",
    "any",
    "also",
    "been",
    "being",
    "did",
    "does",
    "done",
    "each",
    "how",
    "what",
    "when",
    "which",
    "who",
    "why",
    "where",
    "please",
    "try",
    "again",
    "if",
    "via",
    "per",
    "yes",
    "let",
    "know",
    "thanks",
    "thank",
    "hello",
    "dear",
    "regards",
    "issue",
    "ticket",
    "problem",
    "user",
    "users",
    "step",
    "steps",
    "following",
    "follow",
    "make",
    "sure",
    "able",
    "need",
    "needs",
    "use",
    "using",
    "used",
    "get",
    "got",
    "see",
    "one",
    "two",
    "some",
    "more",
    "most",
    "other",
    "such",
    "only",
    "own",
    "same",
    "too",
    "very",
    "just",
    "now",
    "these",
    "those",
    "after",
    "before",
    "about",
    "over",
    "under",
    "again",
    "further",
    "once",
    "here",
    "both",
    "few",
    "nor",
    "off",
    "upon",
    "while",
    "because",
    "until",
    "against",
    "between",
    "through",
];

static STOP: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| STOP_WORDS.iter().copied().collect());

static CITATION: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"\[([^\[\]\n]{1,200})\]").expect("valid regex"));

/// A crude suffix stemmer: enough that "restarted", "restarts" and "restart",
/// or "cached" and "cache", meet.
fn stem(word: &str) -> String {
    let long_enough = |s: &str| s.chars().count() >= 3;
    let mut stem = word;
    if let Some(s) = word.strip_suffix("ing").filter(|s| long_enough(s)) {
        stem = s;
    } else if let Some(s) = word.strip_suffix("ed").filter(|s| long_enough(s)) {
        stem = s;
    } else if let Some(s) = word.strip_suffix("es").filter(|s| {
        long_enough(s) && (s.ends_with(['s', 'x', 'z']) || s.ends_with("ch") || s.ends_with("sh"))
    }) {
        stem = s;
    } else if let Some(s) = word
        .strip_suffix('s')
        .filter(|s| long_enough(s) && !s.ends_with('s'))
    {
        stem = s;
    }
    match stem.strip_suffix('e') {
        Some(s) if long_enough(s) => s.to_owned(),
        _ => stem.to_owned(),
    }
}

/// The content words of `text`: lower-cased, stemmed, stop words and words of
/// fewer than three characters left out (numbers are kept).
pub fn content_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| {
            (w.chars().count() >= 3 || w.chars().all(|c| c.is_ascii_digit()))
                && !STOP.contains(w.as_str())
        })
        .map(|w| stem(&w))
        .collect()
}

/// Share of `sentence`'s content words that occur in `passage` (0 when it has none).
pub fn support(sentence: &[String], passage: &HashSet<String>) -> f32 {
    if sentence.is_empty() {
        return 0.0;
    }
    let unique: BTreeSet<&String> = sentence.iter().collect();
    let found = unique
        .iter()
        .filter(|w| passage.contains(w.as_str()))
        .count();
    found as f32 / unique.len() as f32
}

/// Strips a list marker (`- `, `* `, `1. `, `2) `) from the start of a line.
fn strip_marker(line: &str) -> &str {
    let trimmed = line.trim_start();
    for marker in ["- ", "* ", "• "] {
        if let Some(rest) = trimmed.strip_prefix(marker) {
            return rest;
        }
    }
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits <= 3 {
        let rest = &trimmed[digits..];
        if let Some(rest) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return rest;
        }
    }
    trimmed
}

/// Cuts `text` into sentences; citations written after a sentence's full stop
/// stay with it. The last segment may be unfinished when text is still arriving.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    for line in lines {
        let line = strip_marker(line);
        let chars: Vec<char> = line.chars().collect();
        let mut current = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            current.push(c);
            i += 1;
            if matches!(c, '.' | '!' | '?') {
                // A full stop ends a sentence when followed by white space (or
                // the end); citations right after it belong to the sentence.
                let mut j = i;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
                if j < chars.len() && i == j {
                    continue; // "1.5", "example.com", "e.g."
                }
                while j < chars.len() && chars[j] == '[' {
                    let Some(close) = chars[j..].iter().position(|&c| c == ']') else {
                        break;
                    };
                    current.push(' ');
                    current.extend(&chars[j..=j + close]);
                    j += close + 1;
                    while j < chars.len() && chars[j] == ' ' {
                        j += 1;
                    }
                }
                i = j;
                if !current.trim().is_empty() {
                    sentences.push(std::mem::take(&mut current).trim().to_owned());
                }
                current.clear();
            }
        }
        if !current.trim().is_empty() {
            sentences.push(current.trim().to_owned());
        }
    }
    sentences
}

/// A sentence with its citations taken out: the body and the ids it cites.
pub fn parse_citations(sentence: &str) -> (String, Vec<String>) {
    let mut ids = Vec::new();
    for group in CITATION.captures_iter(sentence) {
        for id in group[1].split([',', ';']) {
            let id = id.trim();
            if !id.is_empty() && !ids.iter().any(|known: &String| known == id) {
                ids.push(id.to_owned());
            }
        }
    }
    let body = CITATION.replace_all(sentence, "");
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let body = body
        .replace(" .", ".")
        .replace(" ,", ",")
        .replace(" !", "!")
        .replace(" ?", "?")
        .replace(" :", ":");
    (body.trim().to_owned(), ids)
}

/// The evidence, indexed for support checks.
pub struct EvidenceIndex<'a> {
    evidence: &'a [Evidence],
    words: Vec<HashSet<String>>,
}

impl<'a> EvidenceIndex<'a> {
    /// Indexes `evidence`'s passages.
    pub fn new(evidence: &'a [Evidence]) -> Self {
        let words = evidence
            .iter()
            .map(|e| {
                content_words(&format!("{} {}", e.title, e.text))
                    .into_iter()
                    .collect()
            })
            .collect();
        Self { evidence, words }
    }

    /// The evidence a citation names: its id (case-insensitive), or its
    /// 1-based number in the prompt's evidence list.
    fn resolve(&self, citation: &str) -> Option<usize> {
        if let Some(i) = self
            .evidence
            .iter()
            .position(|e| e.id.eq_ignore_ascii_case(citation))
        {
            return Some(i);
        }
        let number = citation.trim_start_matches('#').parse::<usize>().ok()?;
        (1..=self.evidence.len())
            .contains(&number)
            .then(|| number - 1)
    }
}

/// What grounding made of one sentence.
pub enum Grounded {
    /// Supported: kept, with the citations that support it.
    Kept {
        /// The sentence.
        sentence: DraftSentence,
        /// True when it cited nothing that supports it and now cites the passage that does.
        recited: bool,
    },
    /// Nothing retrieved supports it (or it says nothing): dropped.
    Dropped,
}

/// Checks one sentence against the evidence; citations not among it are
/// pushed onto `invented`.
pub fn ground_sentence(
    raw: &str,
    index: &EvidenceIndex<'_>,
    min_support: f32,
    invented: &mut Vec<String>,
) -> Grounded {
    let (body, cited) = parse_citations(raw);
    let mut valid = Vec::new();
    for id in cited {
        match index.resolve(&id) {
            Some(i) if !valid.contains(&i) => valid.push(i),
            Some(_) => {}
            None => invented.push(id),
        }
    }
    let words = content_words(&body);
    if words.len() < 2 {
        return Grounded::Dropped;
    }
    let scored: Vec<(usize, f32)> = valid
        .iter()
        .map(|&i| (i, support(&words, &index.words[i])))
        .filter(|(_, s)| *s >= min_support)
        .collect();
    if !scored.is_empty() {
        let best = scored.iter().map(|(_, s)| *s).fold(0.0, f32::max);
        return Grounded::Kept {
            sentence: DraftSentence {
                text: body,
                citations: scored
                    .iter()
                    .map(|(i, _)| index.evidence[*i].id.clone())
                    .collect(),
                support: best,
            },
            recited: false,
        };
    }
    let best = (0..index.evidence.len())
        .map(|i| (i, support(&words, &index.words[i])))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match best {
        Some((i, s)) if s >= min_support => Grounded::Kept {
            sentence: DraftSentence {
                text: body,
                citations: vec![index.evidence[i].id.clone()],
                support: s,
            },
            recited: true,
        },
        _ => Grounded::Dropped,
    }
}

/// Grounds a whole text: every sentence checked, duplicates merged, at most
/// `max_sentences` kept, in the order written.
pub fn ground(
    text: &str,
    evidence: &[Evidence],
    min_support: f32,
    max_sentences: usize,
) -> (Vec<DraftSentence>, GroundingChecks) {
    let index = EvidenceIndex::new(evidence);
    let mut checks = GroundingChecks::default();
    let mut kept: Vec<DraftSentence> = Vec::new();
    for raw in split_sentences(text) {
        checks.sentences_written += 1;
        match ground_sentence(&raw, &index, min_support, &mut checks.invented_citations) {
            Grounded::Kept { sentence, recited } => {
                if let Some(same) = kept
                    .iter_mut()
                    .find(|k| same_claim(&k.text, &sentence.text))
                {
                    for id in sentence.citations {
                        if !same.citations.contains(&id) {
                            same.citations.push(id);
                        }
                    }
                    continue;
                }
                if kept.len() >= max_sentences {
                    continue;
                }
                checks.sentences_recited += usize::from(recited);
                kept.push(sentence);
            }
            Grounded::Dropped => checks.sentences_dropped += 1,
        }
    }
    (kept, checks)
}

/// True when two sentences say the same thing (most content words shared).
pub fn same_claim(a: &str, b: &str) -> bool {
    let a: HashSet<String> = content_words(a).into_iter().collect();
    let b: HashSet<String> = content_words(b).into_iter().collect();
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let shared = a.intersection(&b).count();
    shared as f32 / a.len().min(b.len()) as f32 >= 0.8
}

/// The draft as an agent reads it: one sentence per line with its citations.
pub fn render(sentences: &[DraftSentence]) -> String {
    sentences
        .iter()
        .map(|s| {
            let cites: String = s.citations.iter().map(|c| format!(" [{c}]")).collect();
            format!("{}{cites}", s.text)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drafts::evidence::EvidenceKind;

    fn evidence() -> Vec<Evidence> {
        vec![
            Evidence {
                id: "INC0012345".into(),
                kind: EvidenceKind::Incident,
                title: "Outlook cannot connect".into(),
                text: "Cleared the Outlook profile cache and recreated the mail profile.".into(),
                similarity: 0.8,
                url: None,
            },
            Evidence {
                id: "kb:vpn-troubleshooting#2".into(),
                kind: EvidenceKind::Knowledge,
                title: "VPN troubleshooting".into(),
                text: "Reinstall the VPN client and reboot the laptop.".into(),
                similarity: 0.7,
                url: None,
            },
        ]
    }

    #[test]
    fn citations_after_the_full_stop_stay_with_their_sentence() {
        let sentences = split_sentences("Clear the cache. [INC1] Then reboot [kb:a#1]. Done.");
        assert_eq!(
            sentences,
            ["Clear the cache. [INC1]", "Then reboot [kb:a#1].", "Done."]
        );
    }

    #[test]
    fn list_markers_and_decimals_do_not_split() {
        let sentences = split_sentences("1. Upgrade to 1.5 first.\n- Open example.com now");
        assert_eq!(sentences, ["Upgrade to 1.5 first.", "Open example.com now"]);
    }

    #[test]
    fn supported_sentence_keeps_its_citation() {
        let (kept, checks) = ground(
            "Recreate the Outlook mail profile after clearing the cache. [INC0012345]",
            &evidence(),
            0.5,
            5,
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].citations, ["INC0012345"]);
        assert!(kept[0].support >= 0.8, "{}", kept[0].support);
        assert_eq!(checks.sentences_dropped, 0);
    }

    #[test]
    fn invented_citation_is_removed_and_counted() {
        let (kept, checks) = ground(
            "Reinstall the VPN client and reboot. [INC9999999] [kb:vpn-troubleshooting#2]",
            &evidence(),
            0.5,
            5,
        );
        assert_eq!(kept[0].citations, ["kb:vpn-troubleshooting#2"]);
        assert_eq!(checks.invented_citations, ["INC9999999"]);
    }

    #[test]
    fn unsupported_sentence_is_dropped_even_with_a_valid_citation() {
        let (kept, checks) = ground(
            "Run rm -rf on the mail server and format the disks. [INC0012345]",
            &evidence(),
            0.5,
            5,
        );
        assert!(kept.is_empty(), "{kept:?}");
        assert_eq!(checks.sentences_dropped, 1);
    }

    #[test]
    fn uncited_but_supported_sentence_is_recited() {
        let (kept, checks) = ground("Reinstall the VPN client.", &evidence(), 0.5, 5);
        assert_eq!(kept[0].citations, ["kb:vpn-troubleshooting#2"]);
        assert_eq!(checks.sentences_recited, 1);
    }

    #[test]
    fn numbered_citations_resolve_to_the_prompt_order() {
        let (kept, _) = ground("Reinstall the VPN client [2].", &evidence(), 0.5, 5);
        assert_eq!(kept[0].citations, ["kb:vpn-troubleshooting#2"]);
    }

    #[test]
    fn duplicates_merge_and_the_cap_holds() {
        let text = "Reinstall the VPN client. [kb:vpn-troubleshooting#2]\nReinstall the VPN client! [2]\nClear the Outlook profile cache. [INC0012345]";
        let (kept, _) = ground(text, &evidence(), 0.5, 1);
        assert_eq!(kept.len(), 1);
        assert_eq!(
            render(&kept),
            "Reinstall the VPN client. [kb:vpn-troubleshooting#2]"
        );
    }

    #[test]
    fn stemming_matches_word_forms() {
        let words = content_words("Restarted the services");
        assert_eq!(words, ["restart", "servic"]);
    }
}
