//! Which terms may be shown to a person as the reason for a suggestion.
//!
//! The classifier weighs every term it knows, "this" and "from" included, and
//! such words can tip a score; but offered as a reason they explain nothing.
//! A term is shown only when every word in it carries meaning: not a stop
//! word (English or German, plus the greetings and sign-offs of ticket
//! e-mails), not a bare number or number-like token (`10`, `5-10`, `2026.09`),
//! not a fragment (fewer than three characters, except known IT acronyms).
//!
//! The list is kept here rather than taken from a stop-word crate: the crates
//! ship every language's list (hundreds of KB compiled in) and none knows the
//! ticket e-mail boilerplate ("regards", "thanks", "hello") that matters most.

/// Words that never explain a suggestion.
#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    // English function words.
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "aren", "as", "at", "be", "because", "been", "before", "being", "below", "between",
    "both", "but", "by", "can", "cannot", "could", "did", "didn", "do", "does", "doesn", "doing",
    "don", "down", "during", "each", "either", "else", "even", "ever", "every", "few", "for",
    "from", "further", "get", "gets", "got", "had", "has", "have", "having", "he", "her", "here",
    "hers", "him", "his", "how", "however", "if", "in", "into", "is", "isn", "it", "its", "itself",
    "just", "let", "like", "may", "me", "might", "more", "most", "much", "must", "my", "neither",
    "no", "nor", "not", "now", "of", "off", "on", "once", "one", "only", "or", "other", "our",
    "ours", "out", "over", "own", "same", "shall", "she", "should", "since", "so", "some", "still",
    "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "though", "through", "to", "too", "under", "until", "up", "upon", "us", "very", "was",
    "wasn", "we", "were", "what", "when", "where", "whether", "which", "while", "who", "whom",
    "why", "will", "with", "within", "without", "won", "would", "yet", "you", "your", "yours",
    "yourself",
    // Ticket and e-mail boilerplate.
    "best", "cheers", "dear", "hello", "hi", "kind", "kindly", "many", "please", "pls", "regards",
    "sent", "team", "thank", "thanks", "thx", "today", "yesterday", "tomorrow", "morning",
    "afternoon", "evening", "issue", "problem", "ticket", "request", "help", "need", "needs",
    "able", "unable", "again", "re", "fw", "fwd", "subject", "received", "raised", "reports",
    "reported", "urgent", "asap", "phone", "mail", "email", "e-mail",
    // German function words and boilerplate.
    "aber", "als", "am", "an", "auch", "auf", "aus", "bei", "bin", "bis", "bitte", "da", "dann",
    "das", "dass", "dem", "den", "der", "des", "die", "dies", "diese", "dieser", "doch", "du",
    "durch", "ein", "eine", "einem", "einen", "einer", "eines", "er", "es", "für", "gibt", "grüße",
    "gruss", "gruß", "guten", "hallo", "hat", "haben", "ich", "ihr", "im", "in", "ist", "ja",
    "kann", "kein", "keine", "mit", "nach", "nicht", "noch", "nur", "oder", "schon", "sehr",
    "sich", "sie", "sind", "so", "tag", "um", "und", "uns", "unter", "vom", "von", "vor", "war",
    "was", "weil", "wenn", "wie", "wir", "wird", "wurde", "zu", "zum", "zur", "danke",
    "freundlichen", "mfg", "viele",
];

/// Two-letter words that do carry meaning in IT tickets.
#[rustfmt::skip]
const SHORT_TERMS: &[&str] = &[
    "ad", "ap", "db", "dc", "dns", "hr", "id", "ip", "os", "pc", "pw", "qa", "sd", "ui",
    "vm", "wi",
];

/// Whether `word` (one lower-case token) may be shown as a reason.
fn meaningful_word(word: &str) -> bool {
    if STOP_WORDS.contains(&word) {
        return false;
    }
    // Numbers, versions, ranges and times: nothing but digits and joiners.
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 0 {
        return false;
    }
    // Mostly digits with a letter or two (`5min`, `10x`, `v2`) says little.
    let digits = word.chars().filter(char::is_ascii_digit).count();
    if digits > letters && letters < 3 {
        return false;
    }
    word.chars().count() >= 3 || SHORT_TERMS.contains(&word)
}

/// Whether `term` (a word or a `"word other"` pair) may be shown to a person
/// as a reason: every word in it carries meaning.
pub fn explains(term: &str) -> bool {
    !term.is_empty() && term.split(' ').all(meaningful_word)
}

#[cfg(test)]
mod tests {
    use super::explains;

    #[test]
    fn stop_words_numbers_and_fragments_are_not_reasons() {
        for term in [
            "this",
            "from",
            "every",
            "the vpn",
            "vpn from",
            "10",
            "5-10",
            "2026.09",
            "10x",
            "ab",
            "regards",
            "bitte",
            "und",
            "hello team",
        ] {
            assert!(!explains(term), "{term:?} must not be shown");
        }
    }

    #[test]
    fn topic_words_pairs_and_it_acronyms_are_reasons() {
        for term in [
            "vpn",
            "globalprotect",
            "vpn gateway",
            "printer",
            "ip",
            "vm",
            "usa-2950-access-sw02",
            "drucker",
            "outlook",
            "sap",
        ] {
            assert!(explains(term), "{term:?} must be shown");
        }
    }
}
