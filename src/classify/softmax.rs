//! Multinomial logistic regression over a sparse lexical row plus a dense
//! embedding, trained to convergence with L-BFGS on the whole training set;
//! small, free of ML libraries, without randomness and explainable.

use rayon::prelude::*;

/// One training row.
#[derive(Debug, Clone, Copy)]
pub struct Example<'a> {
    /// Sparse lexical features (index, value).
    pub sparse: &'a [(u32, f32)],
    /// Dense features (the scaled embedding).
    pub dense: &'a [f32],
    /// Index of the true class.
    pub class: u32,
}

/// How training runs.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// Most L-BFGS iterations (one pass over the data each, plus line search).
    pub max_iterations: usize,
    /// Stop when an iteration lowers the objective by less than this share of it.
    pub tolerance: f64,
    /// L2 penalty `l2 / 2 * |w|^2` next to the mean loss per example (scikit-learn's
    /// `C` is `1 / (l2 * n)`); the biases are not penalised.
    pub l2: f32,
    /// Class weights are `(n / (k * n_class)) ^ class_balance`: 0 ignores
    /// imbalance, 1 weights every class equally.
    pub class_balance: f32,
}

/// Weights of a linear softmax classifier, feature-major so a sparse row
/// touches contiguous memory.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxRegression {
    /// Number of classes.
    pub n_classes: usize,
    /// `n_sparse x n_classes`.
    pub sparse_weights: Vec<f32>,
    /// `n_dense x n_classes`.
    pub dense_weights: Vec<f32>,
    /// One per class.
    pub bias: Vec<f32>,
}

/// Turns logits into probabilities in place.
pub fn softmax(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in values.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in values.iter_mut() {
        *v /= sum;
    }
}

/// Adds a row's class scores to `out` (which starts as the biases):
/// `sparse_weights` is `n_sparse x k`, `dense_weights` is `n_dense x k`.
fn add_scores(
    out: &mut [f32],
    sparse_weights: &[f32],
    dense_weights: &[f32],
    sparse: &[(u32, f32)],
    dense: &[f32],
) {
    let k = out.len();
    for &(j, x) in sparse {
        let row = &sparse_weights[j as usize * k..(j as usize + 1) * k];
        out.iter_mut().zip(row).for_each(|(o, w)| *o += x * w);
    }
    for (row, &x) in dense_weights.chunks_exact(k).zip(dense) {
        out.iter_mut().zip(row).for_each(|(o, w)| *o += x * w);
    }
}

/// Past steps L-BFGS keeps to shape its next direction.
const HISTORY: usize = 6;

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

/// The training objective over a flat parameter vector laid out as
/// `[sparse weights, dense weights, bias]`.
struct Objective<'a> {
    examples: &'a [Example<'a>],
    class_weight: Vec<f32>,
    n_classes: usize,
    n_sparse: usize,
    n_dense: usize,
    l2: f32,
}

impl Objective<'_> {
    fn len(&self) -> usize {
        (self.n_sparse + self.n_dense + 1) * self.n_classes
    }

    fn as_model(&self, x: &[f32]) -> SoftmaxRegression {
        let k = self.n_classes;
        let (sparse, rest) = x.split_at(self.n_sparse * k);
        let (dense, bias) = rest.split_at(self.n_dense * k);
        SoftmaxRegression {
            n_classes: k,
            sparse_weights: sparse.to_vec(),
            dense_weights: dense.to_vec(),
            bias: bias.to_vec(),
        }
    }

    /// Mean weighted cross-entropy plus the penalty, and its gradient; the
    /// examples are split across the cores, each summing its own gradient.
    fn evaluate(&self, x: &[f32]) -> (f64, Vec<f32>) {
        let k = self.n_classes;
        let dense_at = self.n_sparse * k;
        let bias_at = dense_at + self.n_dense * k;
        let n = self.examples.len().max(1) as f32;
        let chunk = self
            .examples
            .len()
            .div_ceil(rayon::current_num_threads())
            .max(1);
        let (loss, mut gradient) = self
            .examples
            .par_chunks(chunk)
            .map(|part| {
                let mut gradient = vec![0.0f32; x.len()];
                let mut loss = 0.0f64;
                let mut p = vec![0.0f32; k];
                for e in part {
                    p.copy_from_slice(&x[bias_at..]);
                    add_scores(
                        &mut p,
                        &x[..dense_at],
                        &x[dense_at..bias_at],
                        e.sparse,
                        e.dense,
                    );
                    softmax(&mut p);
                    let weight = self.class_weight[e.class as usize] / n;
                    loss -= f64::from(weight) * f64::from(p[e.class as usize].max(1e-30)).ln();
                    p[e.class as usize] -= 1.0;
                    p.iter_mut().for_each(|r| *r *= weight);
                    for &(j, v) in e.sparse {
                        let row = &mut gradient[j as usize * k..(j as usize + 1) * k];
                        row.iter_mut().zip(&p).for_each(|(g, r)| *g += v * r);
                    }
                    for (d, &v) in e.dense.iter().enumerate() {
                        let row = &mut gradient[dense_at + d * k..dense_at + (d + 1) * k];
                        row.iter_mut().zip(&p).for_each(|(g, r)| *g += v * r);
                    }
                    gradient[bias_at..]
                        .iter_mut()
                        .zip(&p)
                        .for_each(|(g, r)| *g += r);
                }
                (loss, gradient)
            })
            // Collected in chunk order and summed in that order, so the result
            // does not depend on which thread finished first.
            .collect::<Vec<_>>()
            .into_iter()
            .fold((0.0, vec![0.0f32; x.len()]), |(la, mut ga), (lb, gb)| {
                ga.iter_mut().zip(&gb).for_each(|(a, b)| *a += b);
                (la + lb, ga)
            });
        let weights = &x[..bias_at];
        let penalty = 0.5 * f64::from(self.l2) * dot(weights, weights);
        gradient[..bias_at]
            .iter_mut()
            .zip(weights)
            .for_each(|(g, w)| *g += self.l2 * w);
        (loss + penalty, gradient)
    }
}

/// `direction = -H * gradient` by the L-BFGS two-loop recursion over `history`
/// (oldest first) of `(step, gradient change, 1 / (step . change))`.
fn lbfgs_direction(gradient: &[f32], history: &[(Vec<f32>, Vec<f32>, f64)]) -> Vec<f32> {
    let mut q = gradient.to_vec();
    let mut alphas = Vec::with_capacity(history.len());
    for (s, y, rho) in history.iter().rev() {
        let alpha = rho * dot(s, &q);
        q.iter_mut()
            .zip(y)
            .for_each(|(q, y)| *q -= (alpha * f64::from(*y)) as f32);
        alphas.push(alpha);
    }
    if let Some((s, y, _)) = history.last() {
        let gamma = (dot(s, y) / dot(y, y)) as f32;
        q.iter_mut().for_each(|q| *q *= gamma);
    }
    for ((s, y, rho), alpha) in history.iter().zip(alphas.into_iter().rev()) {
        let beta = rho * dot(y, &q);
        q.iter_mut()
            .zip(s)
            .for_each(|(q, s)| *q += ((alpha - beta) * f64::from(*s)) as f32);
    }
    q.iter_mut().for_each(|q| *q = -*q);
    q
}

impl SoftmaxRegression {
    /// Trains on `examples` with `n_sparse` lexical and `n_dense` dense features:
    /// minimises the class-weighted mean cross-entropy plus the L2 penalty with
    /// L-BFGS and a backtracking (Armijo) line search, from all-zero weights and
    /// with no randomness: the same data on the same machine gives the same model.
    pub fn train(
        examples: &[Example<'_>],
        n_classes: usize,
        n_sparse: usize,
        n_dense: usize,
        options: &TrainOptions,
    ) -> Self {
        let mut per_class = vec![0usize; n_classes];
        for e in examples {
            per_class[e.class as usize] += 1;
        }
        let class_weight = per_class
            .iter()
            .map(|&n| {
                if n == 0 {
                    0.0
                } else {
                    (examples.len() as f32 / (n_classes as f32 * n as f32))
                        .powf(options.class_balance)
                }
            })
            .collect();
        let objective = Objective {
            examples,
            class_weight,
            n_classes,
            n_sparse,
            n_dense,
            l2: options.l2,
        };
        let mut x = vec![0.0f32; objective.len()];
        let (mut loss, mut gradient) = objective.evaluate(&x);
        let mut history: Vec<(Vec<f32>, Vec<f32>, f64)> = Vec::with_capacity(HISTORY);
        let mut evaluations = 1usize;
        let mut iterations = 0usize;
        for _ in 0..options.max_iterations {
            iterations += 1;
            let mut direction = lbfgs_direction(&gradient, &history);
            let mut slope = dot(&gradient, &direction);
            if slope >= 0.0 {
                // Not a descent direction (numerical trouble): start over from steepest descent.
                history.clear();
                direction = gradient.iter().map(|g| -g).collect();
                slope = dot(&gradient, &direction);
            }
            if slope == 0.0 {
                break;
            }
            let mut step = if history.is_empty() {
                (1.0 / slope.abs().sqrt()).min(1.0)
            } else {
                1.0
            };
            let mut accepted = None;
            for _ in 0..30 {
                let candidate: Vec<f32> = x
                    .iter()
                    .zip(&direction)
                    .map(|(x, d)| x + (step as f32) * d)
                    .collect();
                let (candidate_loss, candidate_gradient) = objective.evaluate(&candidate);
                evaluations += 1;
                if candidate_loss <= loss + 1e-4 * step * slope {
                    accepted = Some((candidate, candidate_loss, candidate_gradient));
                    break;
                }
                step *= 0.5;
            }
            let Some((next, next_loss, next_gradient)) = accepted else {
                break;
            };
            let s: Vec<f32> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
            let y: Vec<f32> = next_gradient
                .iter()
                .zip(&gradient)
                .map(|(a, b)| a - b)
                .collect();
            let curvature = dot(&s, &y);
            if curvature > 1e-12 {
                if history.len() == HISTORY {
                    history.remove(0);
                }
                history.push((s, y, 1.0 / curvature));
            }
            let improvement = loss - next_loss;
            x = next;
            gradient = next_gradient;
            loss = next_loss;
            if improvement <= options.tolerance * loss.abs().max(1e-12) {
                break;
            }
        }
        tracing::debug!(iterations, evaluations, loss, "softmax regression trained");
        objective.as_model(&x)
    }

    /// Raw class scores for one row.
    pub fn logits(&self, sparse: &[(u32, f32)], dense: &[f32]) -> Vec<f32> {
        let mut out = self.bias.clone();
        add_scores(
            &mut out,
            &self.sparse_weights,
            &self.dense_weights,
            sparse,
            dense,
        );
        out
    }

    /// Class probabilities for one row.
    pub fn probabilities(&self, sparse: &[(u32, f32)], dense: &[f32]) -> Vec<f32> {
        let mut p = self.logits(sparse, dense);
        softmax(&mut p);
        p
    }

    /// How much each lexical feature of the row pushed `class` up relative to
    /// the average class, largest first; only positive pushes.
    pub fn top_contributions(
        &self,
        sparse: &[(u32, f32)],
        class: usize,
        limit: usize,
    ) -> Vec<(u32, f32)> {
        let k = self.n_classes;
        let mut pushes: Vec<(u32, f32)> = sparse
            .iter()
            .map(|&(j, x)| {
                let row = &self.sparse_weights[j as usize * k..(j as usize + 1) * k];
                let mean = row.iter().sum::<f32>() / k as f32;
                (j, x * (row[class] - mean))
            })
            .filter(|(_, push)| *push > 0.0)
            .collect();
        pushes.sort_by(|a, b| b.1.total_cmp(&a.1));
        pushes.truncate(limit);
        pushes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_separable_classes_and_names_the_deciding_feature() {
        let rows: Vec<(Vec<(u32, f32)>, u32)> = (0..40)
            .map(|i| {
                let class = i % 2;
                (vec![(class, 1.0), (2, 0.5)], class)
            })
            .collect();
        let examples: Vec<Example<'_>> = rows
            .iter()
            .map(|(s, c)| Example {
                sparse: s,
                dense: &[],
                class: *c,
            })
            .collect();
        let options = TrainOptions {
            max_iterations: 100,
            tolerance: 1e-6,
            l2: 1e-3,
            class_balance: 0.0,
        };
        let model = SoftmaxRegression::train(&examples, 2, 3, 0, &options);
        let p = model.probabilities(&[(1, 1.0), (2, 0.5)], &[]);
        assert!(p[1] > 0.9, "{p:?}");
        let top = model.top_contributions(&[(1, 1.0), (2, 0.5)], 1, 5);
        assert_eq!(top[0].0, 1);
        assert!(
            top.iter().all(|(j, _)| *j != 2),
            "shared feature explains nothing: {top:?}"
        );
    }

    #[test]
    fn converges_to_the_class_frequencies_without_features() {
        let examples: Vec<Example<'_>> = [15usize, 10, 5]
            .iter()
            .enumerate()
            .flat_map(|(class, &n)| {
                (0..n).map(move |_| Example {
                    sparse: &[],
                    dense: &[],
                    class: class as u32,
                })
            })
            .collect();
        let mut options = TrainOptions {
            max_iterations: 200,
            tolerance: 1e-9,
            l2: 0.0,
            class_balance: 0.0,
        };
        let model = SoftmaxRegression::train(&examples, 3, 0, 0, &options);
        let p = model.probabilities(&[], &[]);
        for (got, want) in p.iter().zip([0.5, 1.0 / 3.0, 1.0 / 6.0]) {
            assert!((got - want).abs() < 1e-3, "{p:?}");
        }
        options.class_balance = 1.0;
        let balanced = SoftmaxRegression::train(&examples, 3, 0, 0, &options);
        for got in balanced.probabilities(&[], &[]) {
            assert!((got - 1.0 / 3.0).abs() < 1e-3, "{got}");
        }
    }
}
