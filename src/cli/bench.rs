//! `switchboard bench` and `reindex`: raw embedding speed, search recall, index rebuilds.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::configuration::Settings;
use crate::ingest::ColumnMapping;

#[derive(Debug, Subcommand)]
pub(super) enum BenchCommand {
    /// Embedding throughput on the ticket texts of an incident file.
    Embed {
        /// CSV or JSONL incident file (title + description are embedded).
        #[arg(long)]
        file: PathBuf,
        /// Use at most this many texts.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Texts per forward pass.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Time this many runs and report the fastest.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Also write the texts, one JSON string per line, for `benches/pytorch-compare.sh`.
        #[arg(long)]
        texts_out: Option<PathBuf>,
    },
    /// Recall of indexed incident search against exact search, on the configured store
    /// and index settings (`store.search_ef`), with tickets of FILE as queries. The
    /// times include reading each hit's payload in a freshly started process. Run it
    /// while no server holds the data directory.
    Recall {
        /// CSV or JSONL incident file whose tickets are the queries.
        #[arg(long)]
        file: PathBuf,
        /// Use at most this many queries.
        #[arg(long, default_value_t = 200)]
        limit: usize,
        /// Neighbours compared per query.
        #[arg(long, default_value_t = 10)]
        k: usize,
    },
}

pub(super) fn reindex(settings: &Settings) -> anyhow::Result<()> {
    use crate::store::{Collection, VectorStore};
    anyhow::ensure!(
        settings.store.backend == crate::store::Backend::Edge,
        "reindex rebuilds the embedded store's indexes; a Qdrant server builds its own"
    );
    let encoder = crate::embed::EncoderIdentity::read(&settings.model.dir)?;
    let index = settings.store.index();
    let started = std::time::Instant::now();
    let store = crate::app::parts::open_store_for(settings, &encoder)?;
    store.flush()?;
    let counts = Collection::ALL
        .iter()
        .map(|&c| Ok(format!("{} {}", c.name(), store.count(c)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!(
        "indexes of {} built with m={} ef_construct={} int8={} in {:.1} s ({})",
        settings.data_dir.display(),
        index.m,
        index.ef_construct,
        index.int8,
        started.elapsed().as_secs_f64(),
        counts.join(", ")
    );
    Ok(())
}

/// The ticket texts (title + description through the prompt template) of the first
/// `limit` good rows of an incident file, as triage embeds them.
pub(super) fn ticket_texts(
    settings: &Settings,
    file: &std::path::Path,
    limit: usize,
) -> anyhow::Result<Vec<String>> {
    let prompts = crate::prompts::Prompts::load(&settings.prompts_dir)?;
    let mut reader = crate::ingest::IncidentReader::open(file, &ColumnMapping::default())?;
    let mut texts = Vec::new();
    while texts.len() < limit {
        match reader.next_row() {
            Some(Ok(incident)) => {
                texts.push(prompts.ticket(&incident.title, &incident.description))
            }
            Some(Err(_)) => {}
            None => break,
        }
    }
    anyhow::ensure!(!texts.is_empty(), "no texts in {}", file.display());
    Ok(texts)
}

pub(super) fn bench_recall(
    settings: &Settings,
    file: &std::path::Path,
    limit: usize,
    k: usize,
) -> anyhow::Result<()> {
    use crate::store::{Collection, Query};
    anyhow::ensure!(k > 0, "--k must be at least 1");
    let texts = ticket_texts(settings, file, limit)?;
    let model = crate::embed::SentenceEncoder::load(&settings.model.dir)?
        .with_max_pass_tokens(settings.model.max_pass_tokens);
    let queries = model.embed(&texts, settings.model.max_batch)?;
    let store = crate::app::parts::open_vector_store(settings, model.identity())?;
    let stored = store.count(Collection::Incidents)?;
    anyhow::ensure!(
        stored >= k,
        "the store in {} holds {stored} incidents, fewer than --k {k}",
        settings.data_dir.display()
    );
    let mut found = 0;
    let mut within = 0;
    let mut indexed_us = Vec::with_capacity(queries.len());
    let mut exact_us_total = 0.0;
    for query in &queries {
        let started = std::time::Instant::now();
        let hits = store.search(Collection::Incidents, Query::dense(query), k)?;
        indexed_us.push(started.elapsed().as_secs_f64() * 1e6);
        let started = std::time::Instant::now();
        let truth = store.search_exact(Collection::Incidents, query, k)?;
        exact_us_total += started.elapsed().as_secs_f64() * 1e6;
        found += hits
            .iter()
            .filter(|hit| truth.iter().any(|t| t.id == hit.id))
            .count();
        // ANN-benchmarks' definition: a hit counts when it is no farther than the k-th
        // true neighbour (1e-3 slack), so ties at the k-th place are not misses.
        let kth = truth.last().map_or(f32::INFINITY, |t| t.score);
        within += hits.iter().filter(|hit| hit.score >= kth - 1e-3).count();
    }
    indexed_us.sort_by(f64::total_cmp);
    println!(
        "queries={} stored={stored} k={k} search_ef={} recall={:.4} recall_by_distance={:.4} indexed_us_mean={:.0} indexed_us_p99={:.0} exact_us_mean={:.0}",
        queries.len(),
        settings.store.search_ef,
        found as f64 / (k * queries.len()) as f64,
        within as f64 / (k * queries.len()) as f64,
        indexed_us.iter().sum::<f64>() / indexed_us.len() as f64,
        indexed_us[(indexed_us.len() * 99 / 100).min(indexed_us.len() - 1)],
        exact_us_total / queries.len() as f64,
    );
    Ok(())
}

pub(super) fn bench_embed(
    settings: &Settings,
    file: &std::path::Path,
    limit: usize,
    batch: usize,
    repeat: usize,
    texts_out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let texts = ticket_texts(settings, file, limit)?;
    if let Some(out) = texts_out {
        let lines: Vec<String> = texts
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()?;
        std::fs::write(out, lines.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let model = crate::embed::SentenceEncoder::load(&settings.model.dir)?
        .with_max_pass_tokens(settings.model.max_pass_tokens);
    let tokens: usize = model.count_tokens(&texts)?.iter().sum();
    model.embed(&texts[..texts.len().min(batch)], batch)?;
    let mut secs = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let started = std::time::Instant::now();
        // One call, as bulk ingest makes it: texts are sorted by length, then run `batch` at a time.
        model.embed(&texts, batch)?;
        secs = secs.min(started.elapsed().as_secs_f64());
    }
    println!(
        "texts={} batch={batch} threads={} mean_tokens={:.1} texts_per_s={:.1} tokens_per_s={:.0} ms_per_text={:.2}",
        texts.len(),
        model.threads(),
        tokens as f64 / texts.len() as f64,
        texts.len() as f64 / secs,
        tokens as f64 / secs,
        1000.0 * secs / texts.len() as f64
    );
    Ok(())
}
