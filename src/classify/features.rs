//! Lexical features: sublinear TF-IDF over word unigrams and bigrams, with a
//! vocabulary learned from the stored incidents so every weight has a name.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Longest token kept, in characters; longer runs are hashes or encoded blobs.
const MAX_TOKEN_CHARS: usize = 40;

/// Characters that join the parts of an identifier (`job_scheduler`,
/// `usa-2950-access-sw02`, `hr_tool`): kept as one token besides its parts.
const JOINERS: [char; 3] = ['_', '-', '.'];

/// Longest identifier kept whole, in characters.
const MAX_IDENTIFIER_CHARS: usize = 60;

/// Lower-cased word tokens of `text`: runs of letters and digits, at least two
/// characters, not purely digits (ticket numbers and timestamps carry no topic).
/// A word joined by `_`, `-` or `.` is also kept whole after its parts: job,
/// tool and host names route monitoring alerts better than their pieces do.
pub fn tokens(text: &str) -> Vec<String> {
    let is_part = |t: &&str| {
        let chars = t.chars().count();
        (2..=MAX_TOKEN_CHARS).contains(&chars) && !t.chars().all(|c| c.is_ascii_digit())
    };
    let mut out = Vec::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || JOINERS.contains(&c))) {
        let word = word.trim_matches(&JOINERS[..]);
        let parts_before = out.len();
        out.extend(
            word.split(|c: char| !c.is_alphanumeric())
                .filter(is_part)
                .map(str::to_lowercase),
        );
        let joined = word.contains(&JOINERS[..]);
        if joined && out.len() > parts_before && word.chars().count() <= MAX_IDENTIFIER_CHARS {
            out.push(word.to_lowercase());
        }
    }
    out
}

/// Prefix of character n-gram terms, so they never collide with words.
pub const CHAR_GRAM_PREFIX: char = '\u{1}';

/// Unigrams, then bigrams (`"word other"`), of `text`; with `char_grams`,
/// also the 3- to 5-character pieces of each word padded with spaces, which
/// catch typos, inflections and German compounds.
pub fn terms(text: &str, char_grams: bool) -> Vec<String> {
    let words = tokens(text);
    let bigrams = words.windows(2).map(|w| format!("{} {}", w[0], w[1]));
    let mut out: Vec<String> = words.to_vec();
    out.extend(bigrams);
    if char_grams {
        for word in &words {
            let padded: Vec<char> = std::iter::once(' ')
                .chain(word.chars())
                .chain(std::iter::once(' '))
                .collect();
            for n in 3..=5 {
                for gram in padded.windows(n) {
                    let mut term = String::with_capacity(n + 1);
                    term.push(CHAR_GRAM_PREFIX);
                    term.extend(gram);
                    out.push(term);
                }
            }
        }
    }
    out
}

/// A sparse feature row: (term index, value) sorted by index, unit length.
pub type SparseRow = Vec<(u32, f32)>;

/// The terms the classifier knows, with their inverse document frequency.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Vocabulary {
    terms: Vec<String>,
    idf: Vec<f32>,
    char_grams: bool,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Vocabulary {
    /// Learns the terms seen in at least `min_df` documents (the `max_terms`
    /// most frequent when there are more) and their smoothed IDF.
    pub fn fit<'a>(
        documents: impl IntoIterator<Item = &'a str>,
        min_df: usize,
        max_terms: usize,
        char_grams: bool,
    ) -> Self {
        let mut df: HashMap<String, usize> = HashMap::new();
        let mut n_docs = 0usize;
        for doc in documents {
            n_docs += 1;
            let mut seen = terms(doc, char_grams);
            seen.sort_unstable();
            seen.dedup();
            for term in seen {
                *df.entry(term).or_default() += 1;
            }
        }
        let mut kept: Vec<(String, usize)> = df
            .into_iter()
            .filter(|(_, n)| *n >= min_df.max(1))
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(max_terms);
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let n = n_docs as f32;
        let idf = kept
            .iter()
            .map(|(_, df)| ((1.0 + n) / (1.0 + *df as f32)).ln() + 1.0)
            .collect();
        let terms = kept.into_iter().map(|(t, _)| t).collect();
        Self::from_parts(terms, idf, char_grams)
    }

    /// Rebuilds the lookup index after deserialising.
    pub fn from_parts(terms: Vec<String>, idf: Vec<f32>, char_grams: bool) -> Self {
        let index = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self {
            terms,
            idf,
            char_grams,
            index,
        }
    }

    /// Whether character n-grams are features.
    pub fn char_grams(&self) -> bool {
        self.char_grams
    }

    /// Number of known terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// True when no term is known.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Inverse document frequency of the term at `index`.
    pub fn idf(&self, index: usize) -> f32 {
        self.idf[index]
    }

    /// The term at `index`.
    pub fn term(&self, index: u32) -> &str {
        &self.terms[index as usize]
    }

    /// Sublinear TF-IDF of the known terms of `text`, scaled to unit length.
    pub fn transform(&self, text: &str) -> SparseRow {
        let mut counts: HashMap<u32, f32> = HashMap::new();
        for term in terms(text, self.char_grams) {
            if let Some(&i) = self.index.get(&term) {
                *counts.entry(i).or_default() += 1.0;
            }
        }
        let mut row: SparseRow = counts
            .into_iter()
            .map(|(i, tf)| (i, (1.0 + tf.ln()) * self.idf[i as usize]))
            .collect();
        row.sort_unstable_by_key(|(i, _)| *i);
        // Words and character pieces are scaled to unit length separately, so
        // the many pieces of a word do not drown the words themselves.
        let is_piece = |i: u32| self.terms[i as usize].starts_with(CHAR_GRAM_PREFIX);
        for pieces in [false, true] {
            let norm = row
                .iter()
                .filter(|(i, _)| is_piece(*i) == pieces)
                .map(|(_, v)| v * v)
                .sum::<f32>()
                .sqrt();
            if norm > 0.0 {
                for (i, v) in &mut row {
                    if is_piece(*i) == pieces {
                        *v /= norm;
                    }
                }
            }
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_drop_numbers_and_single_characters() {
        assert_eq!(
            tokens("Outlook crashed: error 0x80 at 10:45, ticket #12345 a"),
            ["outlook", "crashed", "error", "0x80", "at", "ticket"]
        );
        assert_eq!(tokens("Drucker STÖRUNG"), ["drucker", "störung"]);
    }

    #[test]
    fn identifiers_are_kept_whole_after_their_parts() {
        assert_eq!(
            tokens("job SID_79hot failed in job_scheduler at: 10.1.2.3."),
            [
                "job",
                "sid",
                "79hot",
                "sid_79hot",
                "failed",
                "in",
                "job",
                "scheduler",
                "job_scheduler",
                "at"
            ]
        );
        assert_eq!(tokens("Job_1378 -v"), ["job", "job_1378"]);
    }

    #[test]
    fn vocabulary_keeps_terms_seen_often_enough() {
        let docs = ["vpn drops again", "vpn drops", "printer jam"];
        let vocab = Vocabulary::fit(docs, 2, 100, false);
        let known: Vec<&str> = (0..vocab.len() as u32).map(|i| vocab.term(i)).collect();
        assert_eq!(known, ["drops", "vpn", "vpn drops"]);
        let row = vocab.transform("VPN drops, vpn drops; unknown words");
        assert_eq!(row.len(), 3);
        let norm: f32 = row.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(vocab.transform("nothing known").is_empty());
        let with_grams = Vocabulary::fit(docs, 2, 100, true);
        assert!(with_grams.len() > vocab.len());
        assert!(
            !with_grams.transform("vpns").is_empty(),
            "shares pieces with vpn"
        );
    }
}
