//! Personal and secret data kept out: before a ticket's text is embedded,
//! stored, logged or written into a note, what identifies a person or opens
//! a door is replaced with a typed placeholder. E-mail addresses, phone
//! numbers, IBANs (checksum-verified), payment card numbers (Luhn-checked),
//! passwords and keys written in the text (`password: ...`, bearer tokens,
//! well-known key formats, long high-entropy strings), and patterns a desk
//! adds (employee ids, national ids).
//!
//! Checksums keep ticket numbers, IPs, versions and dates from being taken
//! for cards or IBANs; the placeholders keep the text's shape, so a ticket
//! about "a locked account for [EMAIL]" still reads, embeds and routes as
//! one.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A pattern a desk adds: matches become `[NAME]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// The placeholder's name, e.g. `EMPLOYEE_ID`.
    pub name: String,
    /// A regular expression (Rust `regex` syntax).
    pub regex: String,
}

/// The scrubber's settings (`[privacy]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySettings {
    /// Scrub ticket and incident text at all.
    pub scrub: bool,
    /// More patterns, scrubbed after the built-in ones.
    pub patterns: Vec<CustomPattern>,
    /// Where a ticket's text before scrubbing may stay: nowhere (the
    /// default), or in the review queue for agents to read.
    pub keep_original: KeepOriginal,
    /// Days a kept original stays in the review queue before it is cleared.
    pub original_retention_days: u32,
    /// Days a finished connector job (done or dead, with the ticket's
    /// scrubbed text) is kept before it is deleted.
    pub job_retention_days: u32,
    /// Days a ticket's record stays in the review queue after its last triage.
    pub review_retention_days: u32,
    /// Days a draft (and its agent's review) is kept after it was written.
    pub draft_retention_days: u32,
    /// Days a storm, with its members' titles, is kept after its last ticket.
    pub storm_retention_days: u32,
    /// Days a triaged ticket stays remembered (its scrubbed text, for
    /// agents' feedback) after it was last triaged.
    pub ticket_retention_days: u32,
    /// Days a stored incident (scrubbed text, labels, resolution: the history
    /// triage learns from) is kept after it was last stored.
    pub incident_retention_days: u32,
    /// How often the retention task looks for rows past their retention.
    pub retention_interval_s: u64,
}

/// Where the text before scrubbing may stay.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeepOriginal {
    /// Nowhere: only the scrubbed text is stored, logged or sent.
    #[default]
    None,
    /// In the review queue (state database), readable by agents and above
    /// through `GET /v1/review/{id}`, cleared after the retention period.
    Review,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            scrub: true,
            patterns: Vec::new(),
            keep_original: KeepOriginal::None,
            original_retention_days: 30,
            job_retention_days: 30,
            review_retention_days: 90,
            draft_retention_days: 90,
            storm_retention_days: 90,
            ticket_retention_days: 90,
            incident_retention_days: 1095,
            retention_interval_s: 3600,
        }
    }
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b").unwrap()
});
/// `password: value`, `pwd=value`, `api key = value`: the value goes.
static KEYED_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)\b(pass(?:word|wd|wort)?|pwd|kennwort|passcode|pin|secret|client[_ -]?secret|api[_ -]?key|access[_ -]?key|token|auth[_ -]?token)(\s*[:=]\s*|\s*->\s*|\s+(?:is|ist|lautet|was|war)\s+)("[^"]+"|'[^']+'|\S+)"#,
    )
    .unwrap()
});
static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/-]{12,}=*").unwrap());
/// Key formats with a known prefix (AWS, GitHub, Slack, OpenAI-style, JWT).
static KNOWN_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})")
        .unwrap()
});
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b").unwrap()
});
static CARD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").unwrap());
/// International (`+49 30 1234567`, `0049 ...`) or national with a leading
/// 0 and separators (`030 1234 5678`, `(030) 123-4567`).
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+|\b00)\d{1,3}[ ./-]?(?:\(0\)[ ]?)?\(?\d{1,5}\)?(?:[ ./-]?\d{2,5}){1,4}\b|\(0\d{1,5}\)[ ]?\d{3,5}[ -]?\d{2,5}\b|\b0\d{2,5}[ /-]\d{3,5}[ -]?\d{2,5}\b")
        .unwrap()
});
/// Long runs that may be keys: checked for entropy and character mix.
static LONG_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/_=-]{28,}").unwrap());

/// Replaces personal and secret data in ticket text with typed placeholders.
#[derive(Debug, Clone)]
pub struct Scrubber {
    enabled: bool,
    custom: Vec<(String, Regex)>,
}

impl Default for Scrubber {
    fn default() -> Self {
        Self {
            enabled: true,
            custom: Vec::new(),
        }
    }
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn iban_valid(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u64 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c {
            '0'..='9' => u64::from(c as u8 - b'0'),
            'A'..='Z' => u64::from(c as u8 - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

fn entropy(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in text.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = text.chars().count() as f64;
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// A long token that looks like a key: letters and digits mixed, upper and
/// lower case, and high entropy (not a word, a path or a host name).
fn looks_like_key(token: &str) -> bool {
    let has = |f: fn(&char) -> bool| token.chars().any(|c| f(&c));
    let classes = [
        has(char::is_ascii_lowercase),
        has(char::is_ascii_uppercase),
        has(char::is_ascii_digit),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    classes == 3 && entropy(token) >= 4.0
}

impl Scrubber {
    /// The scrubber the settings ask for; a custom pattern that is not a
    /// valid regular expression is an error naming it.
    pub fn new(settings: &PrivacySettings) -> Result<Self, String> {
        let mut custom = Vec::new();
        for pattern in &settings.patterns {
            let name = pattern.name.trim().to_uppercase();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "privacy.patterns: name {:?} must be letters, digits and _",
                    pattern.name
                ));
            }
            let regex =
                Regex::new(&pattern.regex).map_err(|e| format!("privacy.patterns.{name}: {e}"))?;
            custom.push((name, regex));
        }
        Ok(Self {
            enabled: settings.scrub,
            custom,
        })
    }

    /// Every e-mail address in `text`, lower-cased, each once: what erasure
    /// by address (`switchboard forget --email`) finds a person's tickets
    /// by. Found whether or not scrubbing is on.
    pub fn email_addresses(text: &str) -> Vec<String> {
        let mut found: Vec<String> = EMAIL
            .find_iter(text)
            .map(|m| m.as_str().to_lowercase())
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// A scrubber that changes nothing (scrubbing turned off).
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            custom: Vec::new(),
        }
    }

    /// `text` with personal and secret data replaced by `[EMAIL]`, `[PHONE]`,
    /// `[IBAN]`, `[CARD]`, `[SECRET]` or a custom `[NAME]`.
    pub fn scrub(&self, text: &str) -> String {
        if !self.enabled || text.is_empty() {
            return text.to_owned();
        }
        // Secrets first: a password may look like anything else.
        let mut out = KEYED_SECRET
            .replace_all(text, |c: &regex::Captures| {
                // After a word ("my password is expired") only a value that
                // looks like a password (a digit or a symbol in it) goes.
                let worded = c[2].trim().chars().all(char::is_alphabetic);
                if worded && c[3].chars().all(char::is_alphabetic) {
                    c[0].to_owned()
                } else {
                    format!("{}{}[SECRET]", &c[1], &c[2])
                }
            })
            .into_owned();
        out = BEARER
            .replace_all(&out, |c: &regex::Captures| format!("{} [SECRET]", &c[1]))
            .into_owned();
        out = KNOWN_KEY.replace_all(&out, "[SECRET]").into_owned();
        out = EMAIL.replace_all(&out, "[EMAIL]").into_owned();
        out = IBAN
            .replace_all(&out, |c: &regex::Captures| {
                if iban_valid(&c[0]) {
                    "[IBAN]".to_owned()
                } else {
                    c[0].to_owned()
                }
            })
            .into_owned();
        out = CARD
            .replace_all(&out, |c: &regex::Captures| {
                let digits: Vec<u32> = c[0].chars().filter_map(|ch| ch.to_digit(10)).collect();
                if (13..=19).contains(&digits.len()) && luhn(&digits) {
                    "[CARD]".to_owned()
                } else {
                    c[0].to_owned()
                }
            })
            .into_owned();
        out = PHONE
            .replace_all(&out, |c: &regex::Captures| {
                let digits = c[0].chars().filter(char::is_ascii_digit).count();
                if (8..=15).contains(&digits) {
                    "[PHONE]".to_owned()
                } else {
                    c[0].to_owned()
                }
            })
            .into_owned();
        out = LONG_TOKEN
            .replace_all(&out, |c: &regex::Captures| {
                if looks_like_key(&c[0]) {
                    "[SECRET]".to_owned()
                } else {
                    c[0].to_owned()
                }
            })
            .into_owned();
        for (name, regex) in &self.custom {
            out = regex
                .replace_all(&out, format!("[{name}]").as_str())
                .into_owned();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The labelled corpus: each line `{ "text", "kinds": [...] }`, where
    /// `kinds` lists the placeholders the text must get (none for a negative).
    const CORPUS: &str = include_str!("../../tests/fixtures/pii_corpus.jsonl");

    #[test]
    fn the_corpus_is_scrubbed_with_high_precision_and_recall() {
        let scrubber = Scrubber::new(&PrivacySettings {
            scrub: true,
            patterns: vec![CustomPattern {
                name: "EMPLOYEE_ID".into(),
                regex: r"\bEMP-\d{6}\b".into(),
            }],
            ..PrivacySettings::default()
        })
        .unwrap();
        let (mut true_positive, mut false_positive, mut false_negative) = (0, 0, 0);
        let mut misses = Vec::new();
        for line in CORPUS.lines().filter(|l| !l.trim().is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = case["text"].as_str().unwrap();
            let expected: Vec<&str> = case["kinds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap())
                .collect();
            let scrubbed = scrubber.scrub(text);
            let placeholders = ["EMAIL", "PHONE", "IBAN", "CARD", "SECRET", "EMPLOYEE_ID"];
            for kind in placeholders {
                let want = expected.iter().filter(|k| **k == kind).count();
                let got = scrubbed.matches(&format!("[{kind}]")).count();
                true_positive += want.min(got);
                false_negative += want.saturating_sub(got);
                false_positive += got.saturating_sub(want);
                if want != got {
                    misses.push(format!(
                        "{kind}: wanted {want}, got {got}: {text:?} -> {scrubbed:?}"
                    ));
                }
            }
            if let Some(secret) = case["secret"].as_str() {
                assert!(
                    !scrubbed.contains(secret),
                    "{secret:?} left in {scrubbed:?}"
                );
            }
        }
        let precision = true_positive as f64 / (true_positive + false_positive) as f64;
        let recall = true_positive as f64 / (true_positive + false_negative) as f64;
        eprintln!(
            "scrubber on the corpus: precision {precision:.3}, recall {recall:.3} ({true_positive} found, {false_positive} wrong, {false_negative} missed)"
        );
        assert!(
            precision >= 0.95 && recall >= 0.95,
            "precision {precision:.3}, recall {recall:.3}:\n{}",
            misses.join("\n")
        );
    }

    #[test]
    fn checksums_decide_cards_and_ibans() {
        assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(!iban_valid("DE89 3704 0044 0532 0130 01"));
    }

    #[test]
    fn scrubbing_off_changes_nothing() {
        let text = "mail me at ana@example.com";
        assert_eq!(Scrubber::disabled().scrub(text), text);
    }

    #[test]
    fn a_bad_custom_pattern_is_refused_with_its_name() {
        let err = Scrubber::new(&PrivacySettings {
            scrub: true,
            patterns: vec![CustomPattern {
                name: "badge".into(),
                regex: "(".into(),
            }],
            ..PrivacySettings::default()
        })
        .unwrap_err();
        assert!(err.contains("BADGE"), "{err}");
    }
}
