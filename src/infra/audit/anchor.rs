//! The audit anchor: an append-only file outside the database that records the
//! chain's head (sequence and MAC) after every append. Whoever can write the
//! database but not this file cannot delete the newest entries unnoticed; copy
//! its last line to an external witness (`switchboard audit anchor`) to cover
//! someone who can write both.
//!
//! One JSON object a line: `{"seq":N,"hash":"...","at":MS}`. Lines are written
//! with one `write` each in append mode, so processes sharing the file (the
//! server and the CLI) never interleave within a line; their order may differ
//! from the sequence order, so readers take the highest sequence.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One anchored chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnchoredHead {
    /// Sequence number of the entry.
    pub seq: i64,
    /// Its MAC.
    pub hash: String,
    /// When it was anchored, Unix milliseconds.
    #[serde(default)]
    pub at: i64,
}

/// The anchor file.
#[derive(Debug, Clone)]
pub struct AuditAnchor {
    path: PathBuf,
}

impl AuditAnchor {
    /// The anchor kept at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Where the anchor is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `head` and syncs it.
    pub fn record(&self, head: &AnchoredHead) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut line = serde_json::to_vec(head)?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()
    }

    /// Every head recorded, in file order; a torn last line (a crash mid-write)
    /// is skipped, any other unreadable line is an error.
    pub fn heads(&self) -> std::io::Result<Vec<AnchoredHead>> {
        let text = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let lines: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
            .collect();
        let mut heads = Vec::with_capacity(lines.len());
        for (n, line) in lines.iter().enumerate() {
            match serde_json::from_slice(line) {
                Ok(head) => heads.push(head),
                Err(_) if n + 1 == lines.len() && !text.ends_with(b"\n") => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} line {}: {e}", self.path.display(), n + 1),
                    ));
                }
            }
        }
        Ok(heads)
    }

    /// Where the last verified head is kept: next to the anchor, as
    /// `<anchor>.verified` (one JSON head, replaced atomically).
    fn checkpoint_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".verified");
        self.path.with_file_name(name)
    }

    /// The last head a verification got through, if any.
    pub fn checkpoint(&self) -> std::io::Result<Option<AnchoredHead>> {
        match std::fs::read(self.checkpoint_path()) {
            // An unreadable checkpoint only means verifying everything.
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records `head` as verified (written to a temporary file, synced, renamed).
    pub fn record_checkpoint(&self, head: &AnchoredHead) -> std::io::Result<()> {
        let path = self.checkpoint_path();
        let temporary = path.with_extension("verified.tmp");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&serde_json::to_vec(head)?)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
    }

    /// The highest head recorded, if any.
    pub fn latest(&self) -> std::io::Result<Option<AnchoredHead>> {
        Ok(self.heads()?.into_iter().max_by_key(|h| h.seq))
    }
}
