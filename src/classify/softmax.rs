//! Multinomial logistic regression over a sparse lexical row plus a dense
//! embedding, trained with AdaGrad; small, dependency-free and explainable.

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
    /// Passes over the data.
    pub epochs: usize,
    /// AdaGrad step size.
    pub learning_rate: f32,
    /// L2 penalty on the weights touched by each step.
    pub l2: f32,
    /// Class weights are `(n / (k * n_class)) ^ class_balance`: 0 ignores
    /// imbalance, 1 weights every class equally.
    pub class_balance: f32,
    /// Seed of the shuffling order.
    pub seed: u64,
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

/// SplitMix64: a tiny seeded generator for shuffling, so training is reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
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

/// One AdaGrad step on a weight row: `w -= lr * g / sqrt(G)` with `G += g^2`.
#[inline]
fn adagrad_row(
    weights: &mut [f32],
    accum: &mut [f32],
    x: f32,
    gradient: &[f32],
    options: &TrainOptions,
) {
    for ((w, a), g) in weights.iter_mut().zip(accum.iter_mut()).zip(gradient) {
        let step = x * g + options.l2 * *w;
        *a += step * step;
        *w -= options.learning_rate * step / (a.sqrt() + 1e-8);
    }
}

impl SoftmaxRegression {
    /// Trains on `examples` with `n_sparse` lexical and `n_dense` dense features.
    pub fn train(
        examples: &[Example<'_>],
        n_classes: usize,
        n_sparse: usize,
        n_dense: usize,
        options: &TrainOptions,
    ) -> Self {
        let mut model = Self {
            n_classes,
            sparse_weights: vec![0.0; n_sparse * n_classes],
            dense_weights: vec![0.0; n_dense * n_classes],
            bias: vec![0.0; n_classes],
        };
        let mut sparse_accum = vec![0.0; model.sparse_weights.len()];
        let mut dense_accum = vec![0.0; model.dense_weights.len()];
        let mut bias_accum = vec![0.0; n_classes];

        let mut per_class = vec![0usize; n_classes];
        for e in examples {
            per_class[e.class as usize] += 1;
        }
        let class_weight: Vec<f32> = per_class
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

        // The weights returned are the mean of the end-of-epoch weights over the
        // second half of training: less dependent on the shuffling order.
        let averaged_from = options.epochs / 2;
        let mut sums = Self {
            n_classes,
            sparse_weights: vec![0.0; model.sparse_weights.len()],
            dense_weights: vec![0.0; model.dense_weights.len()],
            bias: vec![0.0; n_classes],
        };
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = SplitMix(options.seed);
        let mut gradient = vec![0.0f32; n_classes];
        for epoch in 0..options.epochs {
            rng.shuffle(&mut order);
            for &i in &order {
                let example = examples[i];
                gradient.copy_from_slice(&model.logits(example.sparse, example.dense));
                softmax(&mut gradient);
                gradient[example.class as usize] -= 1.0;
                let weight = class_weight[example.class as usize];
                for g in &mut gradient {
                    *g *= weight;
                }
                for &(j, x) in example.sparse {
                    let row = j as usize * n_classes..(j as usize + 1) * n_classes;
                    adagrad_row(
                        &mut model.sparse_weights[row.clone()],
                        &mut sparse_accum[row],
                        x,
                        &gradient,
                        options,
                    );
                }
                for (d, &x) in example.dense.iter().enumerate() {
                    let row = d * n_classes..(d + 1) * n_classes;
                    adagrad_row(
                        &mut model.dense_weights[row.clone()],
                        &mut dense_accum[row],
                        x,
                        &gradient,
                        options,
                    );
                }
                let no_decay = TrainOptions {
                    l2: 0.0,
                    ..*options
                };
                adagrad_row(&mut model.bias, &mut bias_accum, 1.0, &gradient, &no_decay);
            }
            if epoch >= averaged_from {
                sums.add(&model);
            }
        }
        sums.scale(1.0 / (options.epochs - averaged_from) as f32);
        sums
    }

    fn add(&mut self, other: &Self) {
        let pairs = [
            (&mut self.sparse_weights, &other.sparse_weights),
            (&mut self.dense_weights, &other.dense_weights),
            (&mut self.bias, &other.bias),
        ];
        for (sum, values) in pairs {
            for (s, v) in sum.iter_mut().zip(values) {
                *s += v;
            }
        }
    }

    fn scale(&mut self, factor: f32) {
        for values in [
            &mut self.sparse_weights,
            &mut self.dense_weights,
            &mut self.bias,
        ] {
            for v in values.iter_mut() {
                *v *= factor;
            }
        }
    }

    /// Trains `seeds` models from different shuffling orders (seed, seed + 1, ...)
    /// and averages their weights: one model, steadier than any of them.
    pub fn train_averaged(
        examples: &[Example<'_>],
        n_classes: usize,
        n_sparse: usize,
        n_dense: usize,
        options: &TrainOptions,
        seeds: usize,
    ) -> Self {
        let mut sum = Self::train(examples, n_classes, n_sparse, n_dense, options);
        for extra in 1..seeds {
            let options = TrainOptions {
                seed: options.seed.wrapping_add(extra as u64),
                ..*options
            };
            sum.add(&Self::train(
                examples, n_classes, n_sparse, n_dense, &options,
            ));
        }
        sum.scale(1.0 / seeds.max(1) as f32);
        sum
    }

    /// Raw class scores for one row.
    pub fn logits(&self, sparse: &[(u32, f32)], dense: &[f32]) -> Vec<f32> {
        let k = self.n_classes;
        let mut out = self.bias.clone();
        for &(j, x) in sparse {
            let row = &self.sparse_weights[j as usize * k..(j as usize + 1) * k];
            for (o, w) in out.iter_mut().zip(row) {
                *o += x * w;
            }
        }
        for (d, &x) in dense.iter().enumerate() {
            let row = &self.dense_weights[d * k..(d + 1) * k];
            for (o, w) in out.iter_mut().zip(row) {
                *o += x * w;
            }
        }
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
            epochs: 5,
            learning_rate: 0.5,
            l2: 1e-4,
            class_balance: 0.0,
            seed: 7,
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
}
