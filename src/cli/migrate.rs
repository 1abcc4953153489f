//! `switchboard migrate-store --from edge --to qdrant`: copies the embedded
//! store under the data directory to the Qdrant server of `[store.qdrant]`,
//! in batches with a progress bar, resumable (the position per collection is
//! kept in `DATA_DIR/migrate-store.json` after every acknowledged batch; the
//! writes are idempotent, so a batch sent twice changes nothing), then checks
//! that every collection holds as many points on the server as here.
//!
//! Points keep their vectors and payloads; the lexical (BM25) text is rebuilt
//! from the payload with the same templates ingest uses.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::configuration::Settings;
use crate::store::{Collection, StoredPoint, VectorStore};

/// Points per batch sent to the server.
const BATCH: usize = 256;

/// A store backend named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum BackendName {
    /// The embedded store under the data directory.
    Edge,
    /// The Qdrant server of `[store.qdrant]`.
    Qdrant,
}

#[derive(Debug, Args)]
pub(super) struct MigrateArgs {
    /// Where the points are now.
    #[arg(long, value_enum)]
    from: BackendName,
    /// Where they go.
    #[arg(long, value_enum)]
    to: BackendName,
}

fn progress_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("migrate-store.json")
}

fn read_progress(data_dir: &Path) -> anyhow::Result<BTreeMap<String, usize>> {
    match std::fs::read(progress_path(data_dir)) {
        Ok(bytes) => {
            Ok(serde_json::from_slice(&bytes).context("migrate-store.json is unreadable")?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e.into()),
    }
}

fn write_progress(data_dir: &Path, progress: &BTreeMap<String, usize>) -> anyhow::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(data_dir)?;
    std::io::Write::write_all(&mut file, &serde_json::to_vec(progress)?)?;
    file.as_file().sync_all()?;
    file.persist(progress_path(data_dir))?;
    Ok(())
}

/// Runs `switchboard migrate-store`.
pub(super) async fn run(settings: &Settings, args: MigrateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.from == BackendName::Edge && args.to == BackendName::Qdrant,
        "only --from edge --to qdrant is supported"
    );
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || migrate(&settings))
        .await
        .context("the migration task failed")?
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let encoder = crate::embed::EncoderIdentity::read(&settings.model.dir)?;
    let prompts = crate::prompts::Prompts::load(&settings.prompts_dir)?;
    let source = crate::app::parts::open_store_for(settings, &encoder)
        .context("cannot open the embedded store; stop `switchboard serve` on it first")?;
    let mut server_settings = settings.clone();
    server_settings.store.backend = crate::store::Backend::Qdrant;
    // The server records the same encoder, or refuses if another wrote it.
    let target = crate::app::parts::open_vector_store(&server_settings, &encoder)?;
    let mut progress = read_progress(&settings.data_dir)?;
    for collection in Collection::ALL {
        let mut points = source.all(collection)?;
        // A fixed order, so a resumed run skips exactly what was sent.
        points.sort_by(|a, b| a.id.cmp(&b.id));
        let done = progress
            .get(collection.name())
            .copied()
            .unwrap_or(0)
            .min(points.len());
        let bar = indicatif::ProgressBar::new(points.len() as u64).with_prefix(collection.name());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>10} {bar:40} {pos}/{len} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_position(done as u64);
        let mut sent = done;
        for batch in points[done..].chunks(BATCH) {
            let batch: Vec<StoredPoint> = batch
                .iter()
                .cloned()
                .map(|mut point| {
                    point.text =
                        super::point_text::lexical_text(settings, &prompts, collection, &point);
                    point
                })
                .collect();
            target.upsert(collection, batch.clone())?;
            sent += batch.len();
            progress.insert(collection.name().to_owned(), sent);
            write_progress(&settings.data_dir, &progress)?;
            bar.set_position(sent as u64);
            crate::infra::crash::point("migrate.after_batch");
        }
        bar.finish();
    }
    let mut mismatched = Vec::new();
    for collection in Collection::ALL {
        let (here, there) = (source.count(collection)?, target.count(collection)?);
        println!(
            "{:<10} {here} here, {there} on the server",
            collection.name()
        );
        if here != there {
            mismatched.push(collection.name());
        }
    }
    anyhow::ensure!(
        mismatched.is_empty(),
        "counts differ for {}: the server collections held other points already, or a write was lost",
        mismatched.join(", ")
    );
    std::fs::remove_file(progress_path(&settings.data_dir)).ok();
    println!(
        "migrated to {} (collections {}*); set store.backend = \"qdrant\" to use it",
        settings.store.qdrant.url, settings.store.qdrant.collection_prefix
    );
    Ok(())
}
