//! `switchboard eval`: score suggestions on a held-out file, calibrate thresholds, write reports.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::common::load_service;
use super::ingest::MappingArgs;
use crate::configuration::Settings;

#[derive(Debug, Args)]
pub(super) struct EvalArgs {
    /// Incidents to learn from.
    #[arg(long)]
    train: PathBuf,
    /// Incidents to triage and score.
    #[arg(long)]
    test: PathBuf,
    /// Label field(s) to score; repeatable.
    #[arg(long = "label", required = true)]
    labels: Vec<String>,
    /// Pick each field's auto-route threshold to reach this precision on
    /// cross-fitted predictions for TRAIN (never on TEST), and report it on TEST.
    #[arg(long, value_parser = parse_probability)]
    target_precision: Option<f64>,
    /// Folds of TRAIN for calibration: each is triaged by neighbours and a
    /// head trained without it (one retrain per fold).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(2..=50))]
    calibration_folds: u16,
    /// Training tickets this similar (cosine) to their nearest other training
    /// ticket count as near-duplicates when measuring how consistently TRAIN
    /// is labelled.
    #[arg(long, default_value_t = 0.97, value_parser = parse_probability)]
    near_duplicate_similarity: f64,
    /// Write report.json and one SVG chart per label into this directory.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Keep embeddings in this file between runs (keyed by the encoder and the text).
    #[arg(long)]
    embedding_cache: Option<PathBuf>,
    #[command(flatten)]
    mapping: MappingArgs,
}

pub(super) fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a number between 0 and 1")),
    }
}

pub(super) async fn eval(settings: &Settings, args: EvalArgs) -> anyhow::Result<()> {
    let service = load_service(settings).await?;
    let options = crate::eval::EvalOptions {
        labels: args.labels.clone(),
        target_precision: args.target_precision,
        calibration_folds: usize::from(args.calibration_folds),
        classifier: settings.triage.classifier.enabled,
        near_duplicate_similarity: args.near_duplicate_similarity,
    };
    let mut cache = match &args.embedding_cache {
        Some(path) => crate::eval::EmbeddingCache::open(path, service.embedder().dimension())
            .with_context(|| format!("cannot read the embedding cache {}", path.display()))?,
        None => crate::eval::EmbeddingCache::in_memory(),
    };
    let reports = crate::eval::evaluate(
        &service,
        &mut cache,
        &args.train,
        &args.test,
        &args.mapping.mapping(),
        &options,
    )
    .await;
    cache.save().context("cannot write the embedding cache")?;
    let reports = reports?;
    println!(
        "{:<18} {:>7} {:>8} {:>8} {:>8} {:>6} {:>9} {:>9}",
        "label", "support", "accuracy", "top3_acc", "macro_f1", "ece", "auto_cov", "auto_prec"
    );
    for (field, r) in &reports {
        let s = &r.scores;
        println!(
            "{field:<18} {:>7} {:>8.4} {:>8.4} {:>8.4} {:>6.3} {:>9.4} {:>9.4}",
            s.support,
            s.accuracy,
            s.top3_accuracy,
            s.macro_f1,
            r.expected_calibration_error,
            s.auto_coverage,
            s.auto_precision
        );
    }
    for (field, r) in &reports {
        println!("\n{field}: precision-coverage (threshold coverage precision)");
        for p in r.precision_coverage.iter().step_by(2) {
            println!("  {:.2} {:.4} {:.4}", p.threshold, p.coverage, p.precision);
        }
        println!("{field}: classes (label precision recall f1 support), largest first");
        for c in r.classes.iter().take(15) {
            println!(
                "  {:<24} {:.3} {:.3} {:.3} {}",
                c.label, c.precision, c.recall, c.f1, c.support
            );
        }
        if r.classes.len() > 15 {
            println!(
                "  ... {} more classes in the JSON report",
                r.classes.len() - 15
            );
        }
        if let Some(a) = &r.label_agreement {
            println!(
                "{field}: train labels agree on {:.1}% of {} near-duplicate pairs (cosine >= {:.2}): a rough ceiling on the accuracy this labelling supports",
                100.0 * a.agreement,
                a.pairs,
                a.similarity
            );
        }
        if let Some(c) = &r.calibrated {
            println!(
                "{field}: cross-fitted train: accuracy {:.4}, macro-F1 {:.4}; test: accuracy {:.4}, macro-F1 {:.4}",
                c.cross_fitted.accuracy,
                c.cross_fitted.macro_f1,
                r.scores.accuracy,
                r.scores.macro_f1
            );
            println!(
                "{field}: target precision {:.2} -> threshold {:.2} (cross-fitted train: coverage {:.4}, precision {:.4}; test: coverage {:.4}, precision {:.4})",
                c.target_precision,
                c.threshold,
                c.calibration.coverage,
                c.calibration.precision,
                c.test.coverage,
                c.test.precision
            );
            println!(
                "{field}: with per-label thresholds: test coverage {:.4}, precision {:.4}",
                c.test_with_class_thresholds.coverage, c.test_with_class_thresholds.precision
            );
            println!(
                "to use them, add to switchboard.toml:\n[triage.field_thresholds]\n{field} = {:.2}\n[triage.class_thresholds.{field}]",
                c.threshold
            );
            for (label, threshold) in &c.class_thresholds {
                println!("{label:?} = {threshold:.2}");
            }
        }
    }
    if let Some(dir) = &args.report {
        crate::eval::write_report(dir, &reports)
            .with_context(|| format!("cannot write the report to {}", dir.display()))?;
        println!("\nreport written to {}", dir.display());
    }
    Ok(())
}
