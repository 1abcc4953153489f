//! Pure scoring functions over predictions; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One test row's outcome for one field.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// The test label.
    pub truth: String,
    /// Suggested labels, best first (empty when there was no suggestion).
    pub ranked: Vec<String>,
    /// Confidence of the top suggestion (0 when there was none).
    pub confidence: f64,
    /// Whether the suggestion was routed `auto` at the configured threshold.
    pub auto: bool,
    /// Whether triage abstained (a vague or unfamiliar ticket): such a row
    /// is never routed automatically, whatever threshold is chosen.
    pub abstained: bool,
}

impl Prediction {
    fn correct(&self) -> bool {
        self.ranked.first() == Some(&self.truth)
    }
}

/// Headline scores for one label field.
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

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassScores {
    /// The label.
    pub label: String,
    /// Right among rows predicted as this label.
    pub precision: f64,
    /// Found among rows truly of this label.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Test rows truly of this label.
    pub support: usize,
}

/// Coverage and precision when only suggestions at or above `threshold` are applied.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct CurvePoint {
    /// Confidence threshold.
    pub threshold: f64,
    /// Share of rows at or above it.
    pub coverage: f64,
    /// Accuracy among those rows (1 when there are none).
    pub precision: f64,
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ReliabilityBin {
    /// Lower confidence bound (inclusive).
    pub lower: f64,
    /// Upper confidence bound.
    pub upper: f64,
    /// Rows in the bin.
    pub count: usize,
    /// Their mean confidence.
    pub mean_confidence: f64,
    /// Their accuracy.
    pub accuracy: f64,
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// Headline scores of `predictions`; a missing prediction counts as wrong.
pub fn score(predictions: &[Prediction]) -> FieldScores {
    let top3 = predictions
        .iter()
        .filter(|p| p.ranked.iter().take(3).any(|l| *l == p.truth))
        .count();
    let auto: Vec<&Prediction> = predictions.iter().filter(|p| p.auto).collect();
    let classes = class_scores(predictions);
    let mut labels: BTreeSet<&str> = classes.iter().map(|c| c.label.as_str()).collect();
    labels.extend(
        predictions
            .iter()
            .filter_map(|p| p.ranked.first().map(String::as_str)),
    );
    let f1_sum: f64 = classes.iter().map(|c| c.f1).sum();
    FieldScores {
        support: predictions.len(),
        accuracy: ratio(
            predictions.iter().filter(|p| p.correct()).count(),
            predictions.len(),
        ),
        top3_accuracy: ratio(top3, predictions.len()),
        macro_f1: if labels.is_empty() {
            0.0
        } else {
            f1_sum / labels.len() as f64
        },
        auto_coverage: ratio(auto.len(), predictions.len()),
        auto_precision: ratio(auto.iter().filter(|p| p.correct()).count(), auto.len()),
    }
}

/// Per-class scores for every class in the truth, largest support first.
pub fn class_scores(predictions: &[Prediction]) -> Vec<ClassScores> {
    let mut counts: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new(); // (tp, predicted, actual)
    for p in predictions {
        counts.entry(&p.truth).or_default().2 += 1;
        if let Some(predicted) = p.ranked.first() {
            let entry = counts.entry(predicted).or_default();
            entry.1 += 1;
            if p.correct() {
                entry.0 += 1;
            }
        }
    }
    let mut out: Vec<ClassScores> = counts
        .into_iter()
        .filter(|(_, (_, _, actual))| *actual > 0)
        .map(|(label, (tp, predicted, actual))| {
            let precision = ratio(tp, predicted);
            let recall = ratio(tp, actual);
            let f1 = if tp == 0 {
                0.0
            } else {
                2.0 * tp as f64 / (predicted + actual) as f64
            };
            ClassScores {
                label: label.to_owned(),
                precision,
                recall,
                f1,
                support: actual,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.support
            .cmp(&a.support)
            .then_with(|| a.label.cmp(&b.label))
    });
    out
}

/// Coverage and precision of the rows whose confidence is at least `threshold`.
pub fn at_threshold(predictions: &[Prediction], threshold: f64) -> CurvePoint {
    covered(predictions, threshold, |_| threshold)
}

/// Coverage and precision of the rows whose confidence reaches `threshold_of` them.
fn covered(
    predictions: &[Prediction],
    reported_threshold: f64,
    threshold_of: impl Fn(&Prediction) -> f64,
) -> CurvePoint {
    let kept: Vec<&Prediction> = predictions
        .iter()
        .filter(|p| !p.abstained && p.confidence >= threshold_of(p))
        .collect();
    CurvePoint {
        threshold: reported_threshold,
        coverage: ratio(kept.len(), predictions.len()),
        precision: if kept.is_empty() {
            1.0
        } else {
            ratio(kept.iter().filter(|p| p.correct()).count(), kept.len())
        },
    }
}

/// The precision-coverage curve at thresholds 0.00, 0.05, ..., 1.00.
pub fn precision_coverage_curve(predictions: &[Prediction]) -> Vec<CurvePoint> {
    (0..=20)
        .map(|i| at_threshold(predictions, f64::from(i) / 20.0))
        .collect()
}

/// Rows needed above a threshold before its precision is trusted.
const MIN_CALIBRATION_ROWS: usize = 20;

/// The lowest threshold (on a 0.01 grid) whose precision reaches `target` over at
/// least 20 rows; 1.0 when none does, so nothing is routed automatically.
pub fn lowest_threshold_for_precision(predictions: &[Prediction], target: f64) -> f64 {
    (0..=100)
        .map(|i| f64::from(i) / 100.0)
        .find(|&t| {
            let kept = predictions
                .iter()
                .filter(|p| !p.abstained && p.confidence >= t)
                .count();
            kept >= MIN_CALIBRATION_ROWS && at_threshold(predictions, t).precision >= target
        })
        .unwrap_or(1.0)
}

/// Per predicted label, the lowest threshold reaching `target` on the rows
/// predicted as that label; labels predicted fewer than 20 times get none.
pub fn class_thresholds_for_precision(
    predictions: &[Prediction],
    target: f64,
) -> BTreeMap<String, f64> {
    let mut by_label: BTreeMap<&str, Vec<Prediction>> = BTreeMap::new();
    for p in predictions {
        if let Some(label) = p.ranked.first() {
            by_label.entry(label).or_default().push(p.clone());
        }
    }
    by_label
        .into_iter()
        .filter(|(_, rows)| rows.len() >= MIN_CALIBRATION_ROWS)
        .map(|(label, rows)| {
            (
                label.to_owned(),
                lowest_threshold_for_precision(&rows, target),
            )
        })
        .collect()
}

/// Coverage and precision when each predicted label uses its own threshold
/// (or `fallback`); the returned point's `threshold` is 0.
pub fn at_class_thresholds(
    predictions: &[Prediction],
    thresholds: &BTreeMap<String, f64>,
    fallback: f64,
) -> CurvePoint {
    covered(predictions, 0.0, |p| {
        p.ranked
            .first()
            .and_then(|l| thresholds.get(l))
            .copied()
            .unwrap_or(fallback)
    })
}

/// Ten equal-width confidence bins (empty bins included).
pub fn reliability_bins(predictions: &[Prediction]) -> Vec<ReliabilityBin> {
    (0..10)
        .map(|i| {
            let (lower, upper) = (f64::from(i) / 10.0, f64::from(i + 1) / 10.0);
            let inside: Vec<&Prediction> = predictions
                .iter()
                .filter(|p| {
                    p.confidence >= lower
                        && (p.confidence < upper || (i == 9 && p.confidence <= upper))
                })
                .collect();
            let n = inside.len();
            ReliabilityBin {
                lower,
                upper,
                count: n,
                mean_confidence: if n == 0 {
                    0.0
                } else {
                    inside.iter().map(|p| p.confidence).sum::<f64>() / n as f64
                },
                accuracy: ratio(inside.iter().filter(|p| p.correct()).count(), n),
            }
        })
        .collect()
}

/// Expected calibration error: the count-weighted gap between confidence and accuracy over the bins.
pub fn expected_calibration_error(predictions: &[Prediction]) -> f64 {
    let total = predictions.len();
    reliability_bins(predictions)
        .iter()
        .map(|b| ratio(b.count, total) * (b.mean_confidence - b.accuracy).abs())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(truth: &str, ranked: &[&str], confidence: f64, auto: bool) -> Prediction {
        Prediction {
            truth: truth.to_owned(),
            ranked: ranked.iter().map(|s| (*s).to_owned()).collect(),
            confidence,
            auto,
            abstained: false,
        }
    }

    fn fixture() -> Vec<Prediction> {
        // truth a,a,b,c ; predicted a,b,b,None
        vec![
            prediction("a", &["a", "b"], 0.95, true),
            prediction("a", &["b", "c", "a"], 0.55, true),
            prediction("b", &["b"], 0.85, false),
            prediction("c", &[], 0.0, false),
        ]
    }

    #[test]
    fn headline_scores_match_hand_computed_values() {
        let s = score(&fixture());
        assert_eq!(s.support, 4);
        assert!((s.accuracy - 0.5).abs() < 1e-9);
        assert!((s.top3_accuracy - 0.75).abs() < 1e-9);
        // F1: a = 2*1/(1+2)=0.667, b = 2*1/(2+1)=0.667, c = 0 -> mean 0.444
        assert!((s.macro_f1 - (4.0 / 9.0)).abs() < 1e-9, "{}", s.macro_f1);
        assert!((s.auto_coverage - 0.5).abs() < 1e-9);
        assert!((s.auto_precision - 0.5).abs() < 1e-9);
    }

    #[test]
    fn per_class_scores() {
        let classes = class_scores(&fixture());
        let a = classes.iter().find(|c| c.label == "a").unwrap();
        assert_eq!((a.precision, a.recall, a.support), (1.0, 0.5, 2));
        let b = classes.iter().find(|c| c.label == "b").unwrap();
        assert_eq!((b.precision, b.recall, b.support), (0.5, 1.0, 1));
        assert_eq!(classes[0].label, "a", "largest support first");
    }

    #[test]
    fn curve_and_threshold_choice() {
        let curve = precision_coverage_curve(&fixture());
        assert_eq!(curve.len(), 21);
        assert_eq!(curve[0].coverage, 1.0);
        let at_08 = at_threshold(&fixture(), 0.8);
        assert_eq!((at_08.coverage, at_08.precision), (0.5, 1.0));
        // 20 right answers at 0.9, 20 wrong at 0.6: precision 1.0 needs threshold 0.61.
        let mut many: Vec<Prediction> = (0..20)
            .map(|_| prediction("x", &["x"], 0.9, false))
            .collect();
        many.extend((0..20).map(|_| prediction("x", &["y"], 0.6, false)));
        assert!((lowest_threshold_for_precision(&many, 0.99) - 0.61).abs() < 1e-9);
        assert_eq!(lowest_threshold_for_precision(&many[20..], 0.9), 1.0);

        // Per label: "x" predictions are always right (threshold 0), "y" never (1.0).
        let per_class = class_thresholds_for_precision(&many, 0.9);
        assert_eq!(per_class["x"], 0.0);
        assert_eq!(per_class["y"], 1.0);
        let point = at_class_thresholds(&many, &per_class, 0.5);
        assert_eq!((point.coverage, point.precision), (0.5, 1.0));
    }

    #[test]
    fn calibration_error_of_perfectly_calibrated_and_overconfident() {
        let calibrated: Vec<Prediction> = (0..10)
            .map(|i| prediction("x", if i < 5 { &["x"] } else { &["y"] }, 0.5, false))
            .collect();
        assert!(expected_calibration_error(&calibrated).abs() < 1e-9);
        let overconfident: Vec<Prediction> = (0..10)
            .map(|_| prediction("x", &["y"], 1.0, false))
            .collect();
        assert!((expected_calibration_error(&overconfident) - 1.0).abs() < 1e-9);
        assert_eq!(reliability_bins(&overconfident)[9].count, 10);
    }
}
