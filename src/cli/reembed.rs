//! `switchboard reembed`: re-embeds every point of the embedded store with the
//! encoder `[model] dir` names, after the encoder changed (another model, or
//! a fine-tuned one). The texts come back from the payloads with the templates
//! ingest used; ids, payloads and their dates stay as they are.
//!
//! The new store is built beside the live one and moved in whole once it is
//! complete (`store::EdgeStore::seal_staging`), so a run stopped at any point
//! leaves either the old store or the new one: an interrupted build is thrown
//! away and rebuilt by the next run, an interrupted move is finished by the
//! next open of the store. Run it while no server holds the data directory.

use anyhow::Context;

use crate::configuration::Settings;
use crate::embed::SentenceEncoder;
use crate::store::{Collection, EdgeStore, StoredPoint, VectorStore};

/// Points embedded and written together.
const BATCH: usize = 256;

/// Runs `switchboard reembed`.
pub(super) async fn run(settings: &Settings) -> anyhow::Result<()> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || reembed(&settings))
        .await
        .context("the re-embedding task failed")?
}

fn reembed(settings: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.store.backend == crate::store::Backend::Edge,
        "reembed rebuilds the embedded store; for a Qdrant server, re-embed an embedded \
         copy and `migrate-store` it into a new store.qdrant.collection_prefix"
    );
    let data_dir = &settings.data_dir;
    let model = SentenceEncoder::load(&settings.model.dir)?
        .with_max_pass_tokens(settings.model.max_pass_tokens);
    let encoder = model.identity().clone();
    if EdgeStore::replacement_pending(data_dir) {
        // A run sealed its store and stopped before moving it in: opening moves it.
        crate::app::parts::open_store_for(settings, &encoder)?;
        println!("finished moving in the store an interrupted run re-embedded");
        return Ok(());
    }
    let dimension = EdgeStore::stored_dimension(data_dir)?
        .with_context(|| format!("no store under {}", data_dir.display()))?;
    let old = crate::app::parts::open_store(settings, dimension)
        .context("cannot open the embedded store; stop `switchboard serve` on it first")?;
    if let Some(recorded) = old.encoder()?
        && serde_json::from_str::<crate::embed::EncoderIdentity>(&recorded)
            .is_ok_and(|r| r.same_encoder(&encoder))
    {
        println!("the store is embedded by {} already", encoder.describe());
        return Ok(());
    }
    let prompts = crate::prompts::Prompts::load(&settings.prompts_dir)?;
    let started = std::time::Instant::now();
    let staged = EdgeStore::open_staging(data_dir, encoder.dimension, settings.store.index())?;
    let mut counts = Vec::new();
    for collection in Collection::ALL {
        let points = old.all(collection)?;
        let bar = indicatif::ProgressBar::new(points.len() as u64).with_prefix(collection.name());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>10} {bar:40} {pos}/{len} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        for batch in points.chunks(BATCH) {
            let texts = batch
                .iter()
                .map(|point| {
                    super::point_text::embedding_text(settings, &prompts, collection, point)
                        .with_context(|| {
                            format!(
                                "{} {} has no text to embed; nothing was changed",
                                collection.name(),
                                point.id
                            )
                        })
                })
                .collect::<anyhow::Result<Vec<String>>>()?;
            let vectors = model.embed(&texts, settings.model.max_batch)?;
            let rewritten: Vec<StoredPoint> = batch
                .iter()
                .zip(vectors)
                .map(|(point, vector)| StoredPoint {
                    id: point.id.clone(),
                    vector,
                    text: super::point_text::lexical_text(settings, &prompts, collection, point),
                    payload: point.payload.clone(),
                })
                .collect();
            staged.upsert(collection, rewritten)?;
            bar.inc(batch.len() as u64);
            crate::infra::crash::point("reembed.batch");
        }
        bar.finish();
        staged.flush()?;
        anyhow::ensure!(
            staged.count(collection)? == points.len(),
            "{}: {} points re-embedded of {}",
            collection.name(),
            staged.count(collection)?,
            points.len()
        );
        counts.push(format!("{} {}", collection.name(), points.len()));
    }
    staged.record_encoder(&serde_json::to_string(&encoder)?)?;
    drop(staged);
    drop(old);
    EdgeStore::seal_staging(data_dir)?;
    crate::infra::crash::point("reembed.sealed");
    // Opening the store moves the sealed one in.
    crate::app::parts::open_store_for(settings, &encoder)?;
    println!(
        "re-embedded {} with {} in {:.1} s ({})",
        data_dir.display(),
        encoder.describe(),
        started.elapsed().as_secs_f64(),
        counts.join(", ")
    );
    Ok(())
}
