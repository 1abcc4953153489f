//! Redaction of secret values from everything a step prints (the values
//! themselves come from [`crate::infra::secrets::Secrets`]).
//!
//! Output is redacted as it streams in, before it is capped: a [`Capture`] holds
//! back the last few bytes of each chunk (one byte less than the longest secret)
//! until the next chunk shows whether they start a secret, so a secret split
//! across reads, or one that would straddle the cap, is never stored in part.

use aho_corasick::{AhoCorasick, MatchKind};

use crate::infra::secrets::Secrets;

/// What replaces a secret's value in captured output.
pub const REDACTED: &str = "[REDACTED]";
/// Secret values shorter than this are not redacted (they would match everywhere).
pub const MIN_REDACTED_LEN: usize = 4;

/// Finds secret values in bytes.
pub struct Redactor {
    /// `None` when there is nothing to redact.
    matcher: Option<AhoCorasick>,
    /// Bytes of the longest secret.
    longest: usize,
}

impl Redactor {
    /// A redactor for every configured secret value (of at least
    /// `MIN_REDACTED_LEN` bytes).
    pub fn for_secrets(secrets: &Secrets) -> Self {
        Self::new(secrets.values())
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn redact_text(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.redact_all(text.as_bytes())).into_owned()
    }

    /// A redactor for `values`; values shorter than `MIN_REDACTED_LEN` are ignored.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let values: Vec<&str> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_REDACTED_LEN)
            .collect();
        let longest = values.iter().map(|v| v.len()).max().unwrap_or(0);
        let matcher = (!values.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&values)
                .expect("literal patterns always build")
        });
        Self { matcher, longest }
    }

    /// `bytes` with every secret replaced.
    pub fn redact_all(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        self.redact_into(bytes, bytes.len(), &mut out);
        out
    }

    /// Appends the redacted form of the first `safe` bytes of `bytes` to `out`,
    /// where `safe` is moved past any secret that starts before it; returns it.
    /// Matches are found over all of `bytes`, so a secret is recognised whole.
    fn redact_into(&self, bytes: &[u8], safe: usize, out: &mut Vec<u8>) -> usize {
        let Some(matcher) = &self.matcher else {
            out.extend_from_slice(&bytes[..safe]);
            return safe;
        };
        let mut end = safe;
        let mut copied = 0;
        for found in matcher.find_iter(bytes) {
            if found.start() >= end {
                break;
            }
            out.extend_from_slice(&bytes[copied..found.start()]);
            out.extend_from_slice(REDACTED.as_bytes());
            copied = found.end();
            end = end.max(found.end());
        }
        out.extend_from_slice(&bytes[copied..end]);
        end
    }
}

/// A step's stdout or stderr as it streams in: redacted, then capped.
pub struct Capture<'r> {
    redactor: &'r Redactor,
    /// Bytes read but not yet redacted: a secret may start in them.
    pending: Vec<u8>,
    kept: Vec<u8>,
    limit: usize,
    truncated: bool,
}

impl<'r> Capture<'r> {
    /// Keeps at most `limit` bytes of redacted output.
    pub fn new(redactor: &'r Redactor, limit: usize) -> Self {
        Self {
            redactor,
            pending: Vec::new(),
            kept: Vec::new(),
            limit,
            truncated: false,
        }
    }

    /// Takes the next chunk read.
    pub fn push(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
        // The last `longest - 1` bytes could be the start of a secret.
        let hold = self.redactor.longest.saturating_sub(1);
        let safe = self.pending.len().saturating_sub(hold);
        if safe == 0 {
            return;
        }
        let mut redacted = Vec::new();
        let used = self
            .redactor
            .redact_into(&self.pending, safe, &mut redacted);
        self.pending.drain(..used);
        self.keep(&redacted);
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.truncated |= bytes.len() > room;
    }

    /// The output (invalid UTF-8 replaced) and whether the cap cut it.
    pub fn finish(mut self) -> (String, bool) {
        let rest = std::mem::take(&mut self.pending);
        let redacted = self.redactor.redact_all(&rest);
        self.keep(&redacted);
        (
            String::from_utf8_lossy(&self.kept).into_owned(),
            self.truncated,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Value-42";

    fn capture(chunks: &[&[u8]], limit: usize) -> (String, bool) {
        let redactor = Redactor::new([SECRET, "pw-longer-secret-value", "abc"]);
        let mut capture = Capture::new(&redactor, limit);
        for chunk in chunks {
            capture.push(chunk);
        }
        capture.finish()
    }

    #[test]
    fn secrets_are_redacted_whole_and_short_values_are_left() {
        let (out, cut) = capture(
            &[b"token=s3cr3t-Value-42; abc; pw-longer-secret-value"],
            1000,
        );
        assert_eq!(out, "token=[REDACTED]; abc; [REDACTED]");
        assert!(!cut);
    }

    #[test]
    fn a_secret_split_across_reads_at_every_point_is_redacted() {
        let text = format!("before {SECRET} after");
        for split in 0..=text.len() {
            let (a, b) = text.as_bytes().split_at(split);
            let (out, _) = capture(&[a, b], 1000);
            assert_eq!(out, "before [REDACTED] after", "split at {split}");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(capture(&bytes, 1000).0, "before [REDACTED] after");
    }

    #[test]
    fn no_part_of_a_secret_survives_the_cap() {
        // The secret starts at every offset around the cap.
        for filler in 60..=100 {
            let text = format!("{}{SECRET} tail", "x".repeat(filler));
            for chunk in [1, 7, 8192] {
                let chunks: Vec<&[u8]> = text.as_bytes().chunks(chunk).collect();
                let (out, cut) = capture(&chunks, 80);
                assert!(out.len() <= 80);
                assert_eq!(cut, filler + REDACTED.len() + " tail".len() > 80);
                for n in 2..=SECRET.len() {
                    for window in SECRET.as_bytes().windows(n) {
                        let part = std::str::from_utf8(window).unwrap();
                        if part.len() >= 3 && !REDACTED.contains(part) && !"xxx".contains(part) {
                            assert!(
                                !out.contains(part),
                                "filler {filler}, chunk {chunk}: {part:?} in {out:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn overlapping_secrets_prefer_the_longest() {
        let redactor = Redactor::new(["abcd", "abcdefgh"]);
        let mut capture = Capture::new(&redactor, 100);
        capture.push(b"xxabcdef");
        capture.push(b"ghxx");
        assert_eq!(capture.finish().0, "xx[REDACTED]xx");
    }

    #[test]
    fn secrets_come_from_the_file_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.yaml");
        crate::infra::secrets::write_private(&file, "API_TOKEN: from-file\nDB_PASSWORD: db-file\n");
        let vars = [
            ("SWITCHBOARD_SECRET_API_TOKEN", "from-env"),
            ("SWITCHBOARD_SECRET_SMTP", "smtp-env"),
            ("SWITCHBOARD_TOKEN", "not-a-secret"),
            ("API_TOKEN", "not-a-secret-either"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let secrets = Secrets::load_with_env(Some(&file), vars).unwrap();
        assert_eq!(
            format!("{secrets:?}"),
            r#"["API_TOKEN", "DB_PASSWORD", "SMTP"]"#
        );
        assert_eq!(secrets.get("API_TOKEN"), Some("from-env"));
        assert_eq!(secrets.get("DB_PASSWORD"), Some("db-file"));
        let missing = Secrets::load_with_env(Some(&dir.path().join("none.yaml")), []).unwrap();
        assert_eq!(format!("{missing:?}"), "[]");
        crate::infra::secrets::write_private(&file, "- not\n- a map\n");
        assert!(Secrets::load_with_env(Some(&file), []).is_err());
    }

    #[test]
    fn without_secrets_output_passes_through() {
        let redactor = Redactor::new([]);
        let mut capture = Capture::new(&redactor, 5);
        capture.push(b"hello world");
        assert_eq!(capture.finish(), ("hello".to_owned(), true));
    }
}
