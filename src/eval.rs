//! Offline evaluation: store a training file, triage every row of a test file,
//! and score the suggestions against the test labels.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::ingest::{
    ColumnMapping, IncidentReader, IngestError, IngestOptions, Progress, ingest_incidents,
};
use crate::triage::TriageService;

/// Scores for one label field.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldScores {
    /// Test rows that carried this label.
    pub support: usize,
    /// Share of rows whose top suggestion was right.
    pub accuracy: f64,
    /// Share of rows whose label was among the top three suggestions.
    pub top3_accuracy: f64,
    /// Unweighted mean of per-class F1 over classes seen in truth or predictions.
    pub macro_f1: f64,
    /// Share of rows routed `auto` at the configured threshold.
    pub auto_coverage: f64,
    /// Accuracy among the rows routed `auto` (0 when none were).
    pub auto_precision: f64,
}

/// One test row's outcome for one field.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// The test label.
    pub truth: String,
    /// Suggested labels, best first (empty when there was no suggestion).
    pub ranked: Vec<String>,
    /// Whether the suggestion was routed `auto`.
    pub auto: bool,
}

/// Scores `predictions`; a missing prediction counts as wrong.
pub fn score(predictions: &[Prediction]) -> FieldScores {
    let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let top3 = predictions
        .iter()
        .filter(|p| p.ranked.iter().take(3).any(|l| *l == p.truth))
        .count();
    let auto: Vec<&Prediction> = predictions.iter().filter(|p| p.auto).collect();
    let auto_right = auto
        .iter()
        .filter(|p| p.ranked.first() == Some(&p.truth))
        .count();
    let pairs: Vec<(String, Option<String>)> = predictions
        .iter()
        .map(|p| (p.truth.clone(), p.ranked.first().cloned()))
        .collect();
    let (accuracy, macro_f1) = accuracy_and_macro_f1(&pairs);
    FieldScores {
        support: predictions.len(),
        accuracy,
        top3_accuracy: ratio(top3, predictions.len()),
        macro_f1,
        auto_coverage: ratio(auto.len(), predictions.len()),
        auto_precision: ratio(auto_right, auto.len()),
    }
}

/// Accuracy and macro-F1 of (truth, prediction) pairs.
fn accuracy_and_macro_f1(pairs: &[(String, Option<String>)]) -> (f64, f64) {
    let support = pairs.len();
    let correct = pairs
        .iter()
        .filter(|(truth, predicted)| predicted.as_deref() == Some(truth.as_str()))
        .count();
    let mut classes: BTreeSet<&str> = pairs.iter().map(|(t, _)| t.as_str()).collect();
    classes.extend(pairs.iter().filter_map(|(_, p)| p.as_deref()));
    let f1_sum: f64 = classes
        .iter()
        .map(|&class| {
            let tp = pairs
                .iter()
                .filter(|(t, p)| t == class && p.as_deref() == Some(class))
                .count() as f64;
            let predicted = pairs
                .iter()
                .filter(|(_, p)| p.as_deref() == Some(class))
                .count() as f64;
            let actual = pairs.iter().filter(|(t, _)| t == class).count() as f64;
            if tp == 0.0 {
                0.0
            } else {
                2.0 * tp / (predicted + actual)
            }
        })
        .sum();
    let accuracy = if support == 0 {
        0.0
    } else {
        correct as f64 / support as f64
    };
    let macro_f1 = if classes.is_empty() {
        0.0
    } else {
        f1_sum / classes.len() as f64
    };
    (accuracy, macro_f1)
}

/// Stores `train` through `service`, triages every row of `test` and scores `labels`.
pub async fn evaluate(
    service: &TriageService,
    train: &Path,
    test: &Path,
    labels: &[String],
    mapping: &ColumnMapping,
) -> Result<BTreeMap<String, FieldScores>, IngestError> {
    let report = ingest_incidents(service, train, mapping, IngestOptions::default()).await?;
    eprintln!(
        "train: {} incidents stored, {} rows skipped",
        report.stored,
        report.skipped.len()
    );

    let mut reader = IncidentReader::open(test, mapping)?;
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row() {
        match row {
            Ok(incident) => rows.push(incident),
            Err(bad) => eprintln!("test: skipping {bad}"),
        }
    }
    let mut predictions: BTreeMap<&str, Vec<Prediction>> = BTreeMap::new();
    let mut progress = Progress::new("evaluate", "tickets", rows.len() as u64);
    for (done, chunk) in rows.chunks(64).enumerate() {
        let texts = chunk
            .iter()
            .map(|i| service.ticket_text(&i.title, &i.description))
            .collect();
        let vectors = service
            .embedder()
            .embed(texts)
            .await
            .map_err(crate::triage::TriageError::from)?;
        for (incident, vector) in chunk.iter().zip(vectors) {
            let suggestions = service
                .suggest_for_vector(vector, Some(&incident.id))
                .await?;
            for field in labels {
                if let Some(truth) = incident.labels.get(field) {
                    let suggestion = suggestions.get(field);
                    let ranked = suggestion
                        .map(|s| {
                            std::iter::once(s.label.clone())
                                .chain(s.alternatives.iter().map(|a| a.label.clone()))
                                .collect()
                        })
                        .unwrap_or_default();
                    predictions
                        .entry(field.as_str())
                        .or_default()
                        .push(Prediction {
                            truth: truth.clone(),
                            ranked,
                            auto: suggestion.is_some_and(|s| s.route == crate::triage::Route::Auto),
                        });
                }
            }
        }
        progress.update(
            ((done + 1) * 64).min(rows.len()) as u64,
            ((done + 1) * 64).min(rows.len()) as u64,
        );
    }
    progress.finish(rows.len() as u64);
    Ok(labels
        .iter()
        .map(|field| {
            let scores = score(
                predictions
                    .get(field.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
            (field.clone(), scores)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(truth: &str, ranked: &[&str], auto: bool) -> Prediction {
        Prediction {
            truth: truth.to_owned(),
            ranked: ranked.iter().map(|s| (*s).to_owned()).collect(),
            auto,
        }
    }

    #[test]
    fn scores_match_hand_computed_values() {
        // truth a,a,b,c ; predicted a,b,b,None
        let predictions = [
            prediction("a", &["a", "b"], true),
            prediction("a", &["b", "c", "a"], true),
            prediction("b", &["b"], false),
            prediction("c", &[], false),
        ];
        let s = score(&predictions);
        assert_eq!(s.support, 4);
        assert!((s.accuracy - 0.5).abs() < 1e-9);
        assert!((s.top3_accuracy - 0.75).abs() < 1e-9);
        // F1: a = 2*1/(1+2)=0.667, b = 2*1/(2+1)=0.667, c = 0 -> mean 0.444
        assert!((s.macro_f1 - (4.0 / 9.0)).abs() < 1e-9, "{}", s.macro_f1);
        assert!((s.auto_coverage - 0.5).abs() < 1e-9);
        assert!((s.auto_precision - 0.5).abs() < 1e-9);
    }

    #[test]
    fn perfect_predictions_score_one() {
        let s = score(&[prediction("x", &["x"], true), prediction("y", &["y"], true)]);
        assert_eq!((s.accuracy, s.macro_f1, s.auto_precision), (1.0, 1.0, 1.0));
    }
}
