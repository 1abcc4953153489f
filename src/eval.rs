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
    /// Unweighted mean of per-class F1 over classes seen in truth or predictions.
    pub macro_f1: f64,
}

/// Accuracy and macro-F1 of `pairs` of (truth, prediction); a missing prediction counts as wrong.
pub fn score(pairs: &[(String, Option<String>)]) -> FieldScores {
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
    FieldScores {
        support,
        accuracy: if support == 0 {
            0.0
        } else {
            correct as f64 / support as f64
        },
        macro_f1: if classes.is_empty() {
            0.0
        } else {
            f1_sum / classes.len() as f64
        },
    }
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
    let mut pairs: BTreeMap<&str, Vec<(String, Option<String>)>> = BTreeMap::new();
    let mut progress = Progress::new("evaluate", rows.len() as u64);
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
                    let predicted = suggestions.get(field).map(|s| s.label.clone());
                    pairs
                        .entry(field.as_str())
                        .or_default()
                        .push((truth.clone(), predicted));
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
                pairs
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

    fn pair(t: &str, p: Option<&str>) -> (String, Option<String>) {
        (t.to_owned(), p.map(str::to_owned))
    }

    #[test]
    fn scores_match_hand_computed_values() {
        // truth a,a,b,c ; predicted a,b,b,None
        let pairs = [
            pair("a", Some("a")),
            pair("a", Some("b")),
            pair("b", Some("b")),
            pair("c", None),
        ];
        let s = score(&pairs);
        assert_eq!(s.support, 4);
        assert!((s.accuracy - 0.5).abs() < 1e-9);
        // F1: a = 2*1/(1+2)=0.667, b = 2*1/(2+1)=0.667, c = 0 -> mean 0.444
        assert!((s.macro_f1 - (4.0 / 9.0)).abs() < 1e-9, "{}", s.macro_f1);
    }

    #[test]
    fn perfect_predictions_score_one() {
        let s = score(&[pair("x", Some("x")), pair("y", Some("y"))]);
        assert_eq!((s.accuracy, s.macro_f1), (1.0, 1.0));
    }
}
