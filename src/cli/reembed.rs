//! `switchboard reembed`: re-embeds every point of the store with the encoder
//! `[model] dir` names, after the encoder changed (another model, or a
//! fine-tuned one). The texts come back from the payloads with the templates
//! ingest used; ids, payloads and their dates stay as they are.
//!
//! The embedded store: the new store is built beside the live one and moved in
//! whole once it is complete (`store::EdgeStore::seal_staging`), so a run
//! stopped at any point leaves either the old store or the new one: an
//! interrupted build is thrown away and rebuilt by the next run, an interrupted
//! move is finished by the next open of the store. Run it while no server holds
//! the data directory.
//!
//! A Qdrant server: the points go to new collections (`--into-prefix`) while
//! the live ones keep serving; a run stopped anywhere is simply run again (the
//! writes are idempotent). Switching `store.qdrant.collection_prefix` then
//! moves every replica to them at its restart.

use anyhow::Context;
use clap::Args;

use crate::configuration::Settings;
use crate::embed::{EncoderIdentity, SentenceEncoder};
use crate::prompts::Prompts;
use crate::store::{Collection, EdgeStore, QdrantServerStore, StoredPoint, VectorStore};

/// Points embedded and written together.
const BATCH: usize = 256;

#[derive(Debug, Args)]
pub(super) struct ReembedArgs {
    /// With `store.backend = "qdrant"`: the collection prefix to write the
    /// re-embedded collections under (the live ones stay as they are).
    #[arg(long)]
    into_prefix: Option<String>,
}

/// Runs `switchboard reembed`.
pub(super) async fn run(settings: &Settings, args: ReembedArgs) -> anyhow::Result<()> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let model = SentenceEncoder::load(&settings.model.dir)?
            .with_max_pass_tokens(settings.model.max_pass_tokens);
        match settings.store.backend {
            crate::store::Backend::Edge => {
                anyhow::ensure!(
                    args.into_prefix.is_none(),
                    "--into-prefix is for a Qdrant server; the embedded store is replaced in place"
                );
                reembed_edge(&settings, &model)
            }
            crate::store::Backend::Qdrant => reembed_server(&settings, &model, args.into_prefix),
        }
    })
    .await
    .context("the re-embedding task failed")?
}

/// Whether `store` records `encoder` already.
fn embedded_by(store: &dyn VectorStore, encoder: &EncoderIdentity) -> anyhow::Result<bool> {
    Ok(store.encoder()?.is_some_and(|recorded| {
        EncoderIdentity::from_record(&recorded).is_ok_and(|r| r.same_encoder(encoder))
    }))
}

fn reembed_edge(settings: &Settings, model: &SentenceEncoder) -> anyhow::Result<()> {
    let data_dir = &settings.data_dir;
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
    if embedded_by(&old, &encoder)? {
        println!("the store is embedded by {} already", encoder.describe());
        return Ok(());
    }
    let started = std::time::Instant::now();
    let staged = EdgeStore::open_staging(data_dir, encoder.dimension, settings.store.index())?;
    let counts = copy_embedded(settings, model, &old, &staged)?;
    staged.record_encoder(&encoder.to_record())?;
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

fn reembed_server(
    settings: &Settings,
    model: &SentenceEncoder,
    into_prefix: Option<String>,
) -> anyhow::Result<()> {
    let live = &settings.store.qdrant.collection_prefix;
    let prefix = into_prefix.context(
        "with store.backend = \"qdrant\", name the collections to write with --into-prefix \
         NEW; the live ones keep serving until store.qdrant.collection_prefix names NEW",
    )?;
    anyhow::ensure!(
        &prefix != live,
        "--into-prefix must differ from the live store.qdrant.collection_prefix {live:?}"
    );
    let encoder = model.identity().clone();
    let api_key = crate::app::parts::qdrant_api_key(settings)?;
    let old = QdrantServerStore::connect_existing(
        &settings.store.qdrant,
        api_key,
        settings.store.index(),
    )?;
    let mut target = settings.clone();
    target.store.qdrant.collection_prefix = prefix.clone();
    // Records the encoder in the new collections, or refuses ones another wrote.
    let new = crate::app::parts::open_vector_store(&target, &encoder)?;
    let started = std::time::Instant::now();
    let counts = copy_embedded(settings, model, &old, new.as_ref())?;
    println!(
        "re-embedded the collections {live}* into {prefix}* with {} in {:.1} s ({}); set \
         store.qdrant.collection_prefix = \"{prefix}\" and restart, then delete {live}*",
        encoder.describe(),
        started.elapsed().as_secs_f64(),
        counts.join(", ")
    );
    Ok(())
}

/// Every point of every collection of `from`, embedded by `model`, into `to`;
/// returns the counts per collection, checked against `to`.
fn copy_embedded(
    settings: &Settings,
    model: &SentenceEncoder,
    from: &dyn VectorStore,
    to: &dyn VectorStore,
) -> anyhow::Result<Vec<String>> {
    let prompts = Prompts::load(&settings.prompts_dir)?;
    let mut counts = Vec::new();
    for collection in Collection::ALL {
        let points = from.all(collection)?;
        let bar = indicatif::ProgressBar::new(points.len() as u64).with_prefix(collection.name());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>10} {bar:40} {pos}/{len} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        for batch in points.chunks(BATCH) {
            let rewritten = reembed_batch(settings, &prompts, model, collection, batch)?;
            to.upsert(collection, rewritten)?;
            bar.inc(batch.len() as u64);
            crate::infra::crash::point("reembed.batch");
        }
        bar.finish();
        to.flush()?;
        let written = to.count(collection)?;
        anyhow::ensure!(
            written == points.len(),
            "{}: {written} points in the new store, {} in the old one",
            collection.name(),
            points.len()
        );
        counts.push(format!("{} {}", collection.name(), points.len()));
    }
    Ok(counts)
}

/// `batch` with vectors of `model`, from the texts their payloads give back.
fn reembed_batch(
    settings: &Settings,
    prompts: &Prompts,
    model: &SentenceEncoder,
    collection: Collection,
    batch: &[StoredPoint],
) -> anyhow::Result<Vec<StoredPoint>> {
    let texts = batch
        .iter()
        .map(|point| {
            super::point_text::embedding_text(settings, prompts, collection, point).with_context(
                || {
                    format!(
                        "{} {} has no text to embed; the live store is unchanged",
                        collection.name(),
                        point.id
                    )
                },
            )
        })
        .collect::<anyhow::Result<Vec<String>>>()?;
    let vectors = model.embed(&texts, settings.model.max_batch)?;
    Ok(batch
        .iter()
        .zip(vectors)
        .map(|(point, vector)| StoredPoint {
            id: point.id.clone(),
            vector,
            text: super::point_text::lexical_text(settings, prompts, collection, point),
            payload: point.payload.clone(),
        })
        .collect())
}
