//! Offline evaluation: store a training file, triage every row of a test file
//! through the same code path as the API, and score the suggestions.
//!
//! With a target precision, each field's auto-route threshold is picked on
//! cross-fitted predictions for the training file: it is split into folds, and
//! each fold is triaged by neighbours and a head that never saw it. The test
//! file is never used to choose anything.
//!
//! It also measures how often near-duplicate training tickets share a label:
//! where near-identical tickets are labelled differently, no model can be
//! right on all of them.

mod cache;
mod metrics;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

pub use cache::EmbeddingCache;
pub use metrics::{
    ClassScores, CurvePoint, FieldScores, Prediction, ReliabilityBin, at_class_thresholds,
    at_threshold, class_scores, class_thresholds_for_precision, expected_calibration_error,
    lowest_threshold_for_precision, precision_coverage_curve, reliability_bins, score,
};
pub use report::write_report;

use crate::domain::Incident;
use crate::ingest::{ColumnMapping, IncidentReader, IngestError, Progress};
use crate::triage::{Route, TriageError, TriageService};

/// How an evaluation runs.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Label fields to score.
    pub labels: Vec<String>,
    /// Pick auto-route thresholds reaching this precision on cross-fitted training predictions.
    pub target_precision: Option<f64>,
    /// Folds the training file is split into for calibration (when a target is set).
    pub calibration_folds: usize,
    /// Train the classifier head on the stored rows before triaging.
    pub classifier: bool,
    /// Cosine similarity at or above which two training tickets count as
    /// near-duplicates when measuring label agreement.
    pub near_duplicate_similarity: f64,
}

/// How consistently the training file labels near-identical tickets. When
/// near-duplicates disagree, no model can be right on both, so this is a
/// rough ceiling on the accuracy the data supports, and a sign the labelling
/// itself needs attention.
#[derive(Debug, Clone, Serialize)]
pub struct LabelAgreement {
    /// The near-duplicate similarity used.
    pub similarity: f64,
    /// Pairs of a training ticket and its nearest other training ticket, at
    /// or above `similarity`, both labelled in this field (each pair once).
    pub pairs: usize,
    /// Share of those pairs whose labels are the same.
    pub agreement: f64,
}

/// A threshold chosen on cross-fitted training predictions and what it achieved.
#[derive(Debug, Clone, Serialize)]
pub struct CalibratedThreshold {
    /// The precision asked for.
    pub target_precision: f64,
    /// Lowest confidence threshold reaching it on the cross-fitted training
    /// predictions (1.0 if none does).
    pub threshold: f64,
    /// Coverage and precision on the cross-fitted training predictions.
    pub calibration: CurvePoint,
    /// Accuracy, macro-F1 and the rest on the cross-fitted training
    /// predictions: the estimate made without the test file, to read next
    /// to the test file's scores.
    pub cross_fitted: FieldScores,
    /// Coverage and precision on the test file at that threshold.
    pub test: CurvePoint,
    /// Per-label thresholds for labels predicted often enough in calibration.
    pub class_thresholds: BTreeMap<String, f64>,
    /// Coverage and precision on the test file with the per-label thresholds
    /// (falling back to `threshold`); its `threshold` field is 0.
    pub test_with_class_thresholds: CurvePoint,
}

/// Everything measured for one label field.
#[derive(Debug, Clone, Serialize)]
pub struct FieldReport {
    /// Headline scores.
    pub scores: FieldScores,
    /// Expected calibration error of the confidence (10 equal-width bins).
    pub expected_calibration_error: f64,
    /// Per-class precision, recall, F1 and support, by support.
    pub classes: Vec<ClassScores>,
    /// Coverage and precision for thresholds 0.00, 0.05, ..., 1.00.
    pub precision_coverage: Vec<CurvePoint>,
    /// Reliability diagram bins.
    pub reliability: Vec<ReliabilityBin>,
    /// The calibrated threshold, when a target precision was given.
    pub calibrated: Option<CalibratedThreshold>,
    /// Label agreement among near-duplicate training tickets; `None` when
    /// the training file has no such pair labelled in this field.
    pub label_agreement: Option<LabelAgreement>,
}

/// The calibration fold of a training row, by a stable hash of its id.
fn fold_of(id: &str, folds: usize) -> usize {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    let bucket = usize::from(u16::from_be_bytes([digest[0], digest[1]]));
    bucket * folds / (usize::from(u16::MAX) + 1)
}

/// Fails before any embedding when no row of `path` carries one of `labels`
/// (a misspelt `--label`), naming the labels the file has.
fn require_labels(rows: &[Incident], labels: &[String], path: &Path) -> Result<(), IngestError> {
    for label in labels {
        if !rows.iter().any(|row| row.labels.contains_key(label)) {
            let present: std::collections::BTreeSet<&str> = rows
                .iter()
                .flat_map(|row| row.labels.keys().map(String::as_str))
                .collect();
            let present: Vec<&str> = present.into_iter().collect();
            return Err(IngestError::Mapping(format!(
                "no row of {} has the label `{label}`; its labels: {}",
                path.display(),
                if present.is_empty() {
                    "none".to_owned()
                } else {
                    present.join(", ")
                }
            )));
        }
    }
    Ok(())
}

fn read_rows(
    path: &Path,
    mapping: &ColumnMapping,
    what: &str,
) -> Result<Vec<Incident>, IngestError> {
    let mut reader = IncidentReader::open(path, mapping)?;
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row() {
        match row {
            Ok(incident) => rows.push(incident),
            Err(bad) => eprintln!("{what}: skipping {bad}"),
        }
    }
    Ok(rows)
}

const BATCH: usize = 64;

/// The ticket texts of `rows` and their embeddings, through the cache.
async fn embed_rows(
    service: &TriageService,
    cache: &mut EmbeddingCache,
    rows: &[Incident],
) -> Result<(Vec<String>, Vec<Vec<f32>>), TriageError> {
    let texts: Vec<String> = rows.iter().map(|i| service.incident_text(i)).collect();
    let vectors = cache.embed(service.embedder(), &texts).await?;
    Ok((texts, vectors))
}

/// Triages `rows` and records, per field, what was suggested against the truth.
async fn predict(
    service: &TriageService,
    cache: &mut EmbeddingCache,
    rows: &[Incident],
    labels: &[String],
    label: &str,
) -> Result<BTreeMap<String, Vec<Prediction>>, TriageError> {
    let mut predictions: BTreeMap<String, Vec<Prediction>> = BTreeMap::new();
    let mut progress = Progress::new(label, "tickets", rows.len() as u64);
    let mut done = 0;
    for chunk in rows.chunks(BATCH) {
        let (texts, vectors) = embed_rows(service, cache, chunk).await?;
        for ((incident, vector), text) in chunk.iter().zip(vectors).zip(&texts) {
            let suggestions = service
                .suggest_for_vector(text, vector, Some(&incident.id))
                .await?;
            for field in labels {
                let Some(truth) = incident.labels.get(field) else {
                    continue;
                };
                let suggestion = suggestions.get(field);
                predictions
                    .entry(field.clone())
                    .or_default()
                    .push(Prediction {
                        truth: truth.clone(),
                        ranked: suggestion
                            .map(|s| {
                                std::iter::once(s.label.clone())
                                    .chain(s.alternatives.iter().map(|a| a.label.clone()))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        confidence: suggestion.map_or(0.0, |s| f64::from(s.confidence)),
                        auto: suggestion.is_some_and(|s| s.route == Route::Auto),
                        abstained: suggestion.is_some_and(|s| s.abstained.is_some()),
                    });
            }
        }
        done += chunk.len();
        progress.update(done as u64, done as u64);
    }
    progress.finish(done as u64);
    Ok(predictions)
}

/// Embeds (through the cache) and stores `rows`.
async fn store_rows(
    service: &TriageService,
    cache: &mut EmbeddingCache,
    rows: &[Incident],
    label: &str,
) -> Result<(), TriageError> {
    let mut progress = Progress::new(label, "rows", rows.len() as u64);
    for (n, chunk) in rows.chunks(BATCH).enumerate() {
        let (_, vectors) = embed_rows(service, cache, chunk).await?;
        service
            .store_embedded_incidents(chunk.to_vec(), vectors)
            .await?;
        let stored = ((n + 1) * BATCH).min(rows.len()) as u64;
        progress.update(stored, stored);
    }
    service.flush().await?;
    progress.finish(rows.len() as u64);
    Ok(())
}

/// Pairs each training row with its nearest other training row and counts,
/// per field, how often near-duplicate pairs carry the same label.
async fn label_agreement(
    service: &TriageService,
    cache: &mut EmbeddingCache,
    rows: &[Incident],
    options: &EvalOptions,
) -> Result<BTreeMap<String, LabelAgreement>, TriageError> {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut progress = Progress::new("label agreement", "rows", rows.len() as u64);
    let mut done = 0;
    for chunk in rows.chunks(BATCH) {
        let (_, vectors) = embed_rows(service, cache, chunk).await?;
        for (incident, vector) in chunk.iter().zip(vectors) {
            let nearest = service
                .nearest_incidents(vector, None, 1, Some(&incident.id))
                .await?;
            let Some((similarity, other)) = nearest.into_iter().next() else {
                continue;
            };
            if f64::from(similarity) < options.near_duplicate_similarity {
                continue;
            }
            let pair = if incident.id < other.id {
                (incident.id.clone(), other.id.clone())
            } else {
                (other.id.clone(), incident.id.clone())
            };
            if !seen.insert(pair) {
                continue;
            }
            for field in &options.labels {
                if let (Some(a), Some(b)) = (incident.labels.get(field), other.labels.get(field)) {
                    let (pairs, agreeing) = counts.entry(field).or_default();
                    *pairs += 1;
                    *agreeing += usize::from(a == b);
                }
            }
        }
        done += chunk.len();
        progress.update(done as u64, done as u64);
    }
    progress.finish(done as u64);
    Ok(counts
        .into_iter()
        .map(|(field, (pairs, agreeing))| {
            let agreement = LabelAgreement {
                similarity: options.near_duplicate_similarity,
                pairs,
                agreement: agreeing as f64 / pairs as f64,
            };
            (field.to_owned(), agreement)
        })
        .collect())
}

async fn retrain(service: &TriageService) -> Result<(), TriageError> {
    let report = service.retrain().await?;
    eprintln!(
        "classifier head: {} incidents, {} terms, fields {:?}, {:.1} s",
        report.incidents,
        report.terms,
        report.fields,
        report.took_ms / 1000.0
    );
    Ok(())
}

/// Predictions for every training row from neighbours and a head that never
/// saw it: for each fold, its rows leave the store, the head is retrained on
/// the rest, the fold is triaged, and its rows go back.
async fn cross_fit(
    service: &TriageService,
    cache: &mut EmbeddingCache,
    rows: &[Incident],
    options: &EvalOptions,
) -> Result<BTreeMap<String, Vec<Prediction>>, IngestError> {
    let mut predictions: BTreeMap<String, Vec<Prediction>> = BTreeMap::new();
    let folds = options.calibration_folds;
    let mut by_fold: Vec<Vec<Incident>> = vec![Vec::new(); folds];
    for row in rows {
        by_fold[fold_of(&row.id, folds)].push(row.clone());
    }
    for (fold, held_out) in by_fold.iter().enumerate() {
        if held_out.is_empty() {
            continue;
        }
        service
            .delete_incidents(held_out.iter().map(|i| i.id.clone()).collect())
            .await?;
        if options.classifier {
            retrain(service).await?;
        }
        let label = format!("calibrate {}/{folds}", fold + 1);
        let fold_predictions = predict(service, cache, held_out, &options.labels, &label).await?;
        for (field, mut list) in fold_predictions {
            predictions.entry(field).or_default().append(&mut list);
        }
        store_rows(service, cache, held_out, "restore fold").await?;
    }
    Ok(predictions)
}

/// Stores `train`; with a target precision, cross-fits predictions for it to
/// pick thresholds; trains the classifier head on all of it, as a deployment
/// would; finally triages `test` and reports every label.
pub async fn evaluate(
    service: &TriageService,
    cache: &mut EmbeddingCache,
    train: &Path,
    test: &Path,
    mapping: &ColumnMapping,
    options: &EvalOptions,
) -> Result<BTreeMap<String, FieldReport>, IngestError> {
    let train_rows = read_rows(train, mapping, "train")?;
    let test_rows = read_rows(test, mapping, "test")?;
    for (rows, path) in [(&train_rows, train), (&test_rows, test)] {
        require_labels(rows, &options.labels, path)?;
    }
    store_rows(service, cache, &train_rows, "store train").await?;
    eprintln!("train: {} incidents stored", train_rows.len());
    let mut agreement = label_agreement(service, cache, &train_rows, options).await?;
    let calibration = match options.target_precision {
        Some(_) => cross_fit(service, cache, &train_rows, options).await?,
        None => BTreeMap::new(),
    };
    if options.classifier {
        retrain(service).await?;
    }
    let predictions = predict(service, cache, &test_rows, &options.labels, "evaluate").await?;

    Ok(options
        .labels
        .iter()
        .map(|field| {
            let test = predictions
                .get(field)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let calibrated = options.target_precision.map(|target| {
                let held_out = calibration
                    .get(field)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let threshold = lowest_threshold_for_precision(held_out, target);
                let class_thresholds = class_thresholds_for_precision(held_out, target);
                CalibratedThreshold {
                    target_precision: target,
                    threshold,
                    calibration: at_threshold(held_out, threshold),
                    cross_fitted: score(held_out),
                    test: at_threshold(test, threshold),
                    test_with_class_thresholds: at_class_thresholds(
                        test,
                        &class_thresholds,
                        threshold,
                    ),
                    class_thresholds,
                }
            });
            let report = FieldReport {
                scores: score(test),
                expected_calibration_error: expected_calibration_error(test),
                classes: class_scores(test),
                precision_coverage: precision_coverage_curve(test),
                reliability: reliability_bins(test),
                calibrated,
                label_agreement: agreement.remove(field),
            };
            (field.clone(), report)
        })
        .collect())
}
