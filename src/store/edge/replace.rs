//! Replacing the embedded store whole with one built beside it, for
//! `switchboard reembed`: vectors of another encoder cannot be written into
//! the live store (other width, other meaning), so the new store is built in
//! `DATA_DIR/reembed/`, sealed, and then moved in item by item.
//!
//! The move rolls forward: once the staged store is sealed, every open of the
//! live store finishes a move that a crash cut short before it reads anything,
//! and each step can be repeated. The encoder record moves last, so a store is
//! never taken for the new encoder's before all of its data is in place.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{ENCODER_FILE, EdgeStore, IndexParams, JOURNAL_FILE, open_error};
use crate::store::{Collection, StoreError};

/// The directory under the data directory where a replacement store is built.
const STAGING_DIR: &str = "reembed";
/// Written (synced) into the staging directory when the staged store is complete.
const SEALED: &str = "SEALED";

fn staging(data_dir: &Path) -> PathBuf {
    data_dir.join(STAGING_DIR)
}

/// What moves, in order: the collections, the journal, then the encoder record.
fn items() -> Vec<&'static str> {
    let mut items: Vec<&str> = Collection::ALL.iter().map(|c| c.name()).collect();
    items.extend([JOURNAL_FILE, ENCODER_FILE]);
    items
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| open_error(dir, e))
}

impl EdgeStore {
    /// An empty store in the staging directory for vectors of `dimension`,
    /// after removing whatever an interrupted build left there. Refused while a
    /// sealed staged store waits to be moved in.
    pub fn open_staging(
        data_dir: &Path,
        dimension: usize,
        index: IndexParams,
    ) -> Result<EdgeStore, StoreError> {
        let dir = staging(data_dir);
        if Self::replacement_pending(data_dir) {
            return Err(open_error(
                &dir,
                "a finished replacement waits to be moved in: open the store first",
            ));
        }
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(open_error(&dir, e)),
            _ => {}
        }
        EdgeStore::open_with_index(&dir, dimension, index)
    }

    /// Marks the staged store complete (call it after the staged store was
    /// flushed and dropped): from then on, opening the live store moves it in.
    pub fn seal_staging(data_dir: &Path) -> Result<(), StoreError> {
        let dir = staging(data_dir);
        let marker = dir.join(SEALED);
        File::create(&marker)
            .and_then(|f| f.sync_all())
            .map_err(|e| open_error(&marker, e))?;
        sync_dir(&dir)
    }

    /// Whether a sealed staged store waits to be moved in.
    pub fn replacement_pending(data_dir: &Path) -> bool {
        staging(data_dir).join(SEALED).exists()
    }

    /// Moves a sealed staged store in place of the live one; the caller holds
    /// the data directory's lock. Each item still in the staging directory
    /// replaces the live one (removed first); a repeated call skips what has
    /// moved. Returns whether anything was to be moved.
    pub(super) fn finish_replacement(data_dir: &Path) -> Result<bool, StoreError> {
        if !Self::replacement_pending(data_dir) {
            return Ok(false);
        }
        let dir = staging(data_dir);
        for (n, item) in items().into_iter().enumerate() {
            let (staged, live) = (dir.join(item), data_dir.join(item));
            if !staged.exists() {
                continue;
            }
            let removed = if live.is_dir() {
                std::fs::remove_dir_all(&live)
            } else {
                std::fs::remove_file(&live)
            };
            match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(open_error(&live, e));
                }
                _ => {}
            }
            std::fs::rename(&staged, &live).map_err(|e| open_error(&live, e))?;
            sync_dir(data_dir)?;
            crate::infra::crash::point(&format!("reembed.moved.{n}"));
        }
        std::fs::remove_dir_all(&dir).map_err(|e| open_error(&dir, e))?;
        sync_dir(data_dir)?;
        tracing::info!(store = %data_dir.display(), "replacement store moved in");
        Ok(true)
    }

    /// Width of the vectors the store under `data_dir` holds; `None` when there is no store.
    pub fn stored_dimension(data_dir: &Path) -> Result<Option<usize>, StoreError> {
        super::index::stored_dimension(&data_dir.join(Collection::Incidents.name()))
    }
}
