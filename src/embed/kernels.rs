//! Fused elementwise kernels for the packed encoder: residual + layer norm, GELU
//! (also applied by the matmul as it stores), bias + GELU and bias for the fallback
//! matmul, softmax and the attention of one head over one sequence.
//!
//! They work on plain `f32` slices in fixed-size chunks the compiler vectorises, and
//! use polynomial `exp` / `erf` instead of libm calls (the profile of candle's path
//! had ~15% of the time in scalar `expf` / `erf`). Both approximations are accurate
//! to a few float ulps, well inside the cosine >= 0.9999 parity budget.
//!
//! Each entry point runs its body through [`pulp::Arch::dispatch`], which compiles it
//! again with AVX-512 and with AVX2 + FMA enabled and picks the best copy this CPU
//! can run, so the loops vectorise 16 or 8 wide without `unsafe` or a `target-cpu`
//! flag. The bodies and every helper they call are `#[inline(always)]` (closures are
//! not, which is why each kernel is a small struct implementing [`WithSimd`]) so they
//! are compiled into the feature-enabled copies. Every loop must stay free of
//! float-to-int casts and order-dependent folds, or it stays scalar: a scalar `exp`
//! left the softmax at ~10% of batch-32 time until it was rewritten.

use pulp::{Simd, WithSimd};

/// Runs `kernel` in the best instruction set this CPU has.
#[inline(always)]
fn vectorized<K: WithSimd>(kernel: K) -> K::Output {
    pulp::Arch::new().dispatch(kernel)
}

/// Declares a kernel struct whose `with_simd` calls an `#[inline(always)]` body.
macro_rules! kernel {
    ($name:ident<$lt:lifetime> { $($field:ident: $ty:ty),* $(,)? } => $body:ident) => {
        struct $name<$lt> { $($field: $ty),* }
        impl<$lt> WithSimd for $name<$lt> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _simd: S) {
                $body($(self.$field),*)
            }
        }
    };
}

/// Adds `residual` to each row of `rows` (width `gamma.len()`), then layer normalises
/// the row in place with `gamma`, `beta` and `eps`.
pub fn residual_layer_norm(
    rows: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    vectorized(ResidualLayerNorm {
        rows,
        residual,
        gamma,
        beta,
        eps,
    });
}

kernel!(ResidualLayerNorm<'a> { rows: &'a mut [f32], residual: &'a [f32], gamma: &'a [f32], beta: &'a [f32], eps: f32 } => residual_layer_norm_body);

#[inline(always)]
fn residual_layer_norm_body(
    rows: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let width = gamma.len();
    for (row, res) in rows
        .chunks_exact_mut(width)
        .zip(residual.chunks_exact(width))
    {
        for (v, r) in row.iter_mut().zip(res) {
            *v += r;
        }
        layer_norm_row(row, gamma, beta, eps);
    }
}

/// Layer normalises every row of `rows` (width `gamma.len()`) in place.
pub fn layer_norm(rows: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    vectorized(LayerNorm {
        rows,
        gamma,
        beta,
        eps,
    });
}

kernel!(LayerNorm<'a> { rows: &'a mut [f32], gamma: &'a [f32], beta: &'a [f32], eps: f32 } => layer_norm_body);

#[inline(always)]
fn layer_norm_body(rows: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    for row in rows.chunks_exact_mut(gamma.len()) {
        layer_norm_row(row, gamma, beta, eps);
    }
}

#[inline(always)]
fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let mut squares = [0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for chunk in &mut chunks {
        for (acc, v) in squares.iter_mut().zip(chunk) {
            let d = v - mean;
            *acc += d * d;
        }
    }
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    let variance = (squares.iter().sum::<f32>() + tail) / n;
    let scale = 1.0 / (variance + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * scale * g + b;
    }
}

/// Largest value of a slice, with sixteen independent running maxima so it vectorises.
#[inline(always)]
fn max(values: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a = if *v > *a { *v } else { *a };
        }
    }
    acc.iter()
        .chain(chunks.remainder())
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Sum of a slice with eight independent accumulators (vectorisable without fast-math).
#[inline(always)]
pub fn sum(values: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Replaces every value `x` of `rows` (width `bias.len()`) with `gelu(x + bias)`, the
/// exact, erf-based GELU BERT uses.
pub fn bias_gelu(rows: &mut [f32], bias: &[f32]) {
    vectorized(BiasGelu { rows, bias });
}

kernel!(BiasGelu<'a> { rows: &'a mut [f32], bias: &'a [f32] } => bias_gelu_body);

#[inline(always)]
fn bias_gelu_body(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (x, b) in row.iter_mut().zip(bias) {
            *x = gelu(*x + b);
        }
    }
}

/// Adds `bias` to every row of `rows` (width `bias.len()`).
pub fn add_bias(rows: &mut [f32], bias: &[f32]) {
    vectorized(AddBias { rows, bias });
}

kernel!(AddBias<'a> { rows: &'a mut [f32], bias: &'a [f32] } => add_bias_body);

#[inline(always)]
fn add_bias_body(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (x, b) in row.iter_mut().zip(bias) {
            *x += b;
        }
    }
}

/// The exact, erf-based GELU BERT uses.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `erf(x)` as a rational approximation on [-4, 4] (Eigen's `generic_fast_erf_float`);
/// outside that range erf is +-1 in single precision.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p - 2.101_024e-6;
    p = x2 * p - 5.692_506_5e-5;
    p = x2 * p - 7.349_906_3e-4;
    p = x2 * p - 2.954_6e-3;
    p = x2 * p - 1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 - 2.133_740_6e-4;
    q = x2 * q - 1.682_827e-3;
    q = x2 * q - 7.373_329e-3;
    q = x2 * q - 1.426_473_9e-2;
    x * p / q
}

/// `exp(x)` by range reduction to `2^n * exp(r)`, |r| <= ln2/2, and a degree-6
/// polynomial for `exp(r)`; results below ~1e-38 flush to zero.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by the 1.5 * 2^23 trick (`f32::round` is a libm call without
    // SSE4.1); the low mantissa bits of `shifted` then hold `n` itself, read as an
    // integer without a float-to-int conversion, so the whole function vectorises.
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    let exponent = shifted
        .to_bits()
        .wrapping_sub(MAGIC.to_bits())
        .wrapping_add(127);
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let mut p = 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let scale = f32::from_bits(exponent << 23);
    p * scale
}

/// Softmax of `row` in place.
#[inline(always)]
pub fn softmax(row: &mut [f32]) {
    let max = max(row);
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = 1.0 / sum(row);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Scaled dot-product attention of one head over one sequence.
///
/// `qkv` holds the sequence's rows of the fused projection (`[q | k | v]`, each
/// `hidden` wide); the head uses columns `offset..offset + head_dim` of each part.
/// The result (`len x head_dim`, row-major) goes to `out`; `scratch` is reused.
/// `bias`, when given, is added to every score before the softmax by the
/// distance between key and query (MPNet's relative positions).
pub fn attention_head(
    qkv: &[f32],
    hidden: usize,
    offset: usize,
    head_dim: usize,
    bias: Option<RelativeBias<'_>>,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    vectorized(AttentionHead {
        qkv,
        hidden,
        offset,
        head_dim,
        bias,
        out,
        scratch,
    });
}

/// One head's attention bias by relative position: the score of query `i`
/// against key `j` gets `by_distance[center + j - i]`.
#[derive(Clone, Copy)]
pub struct RelativeBias<'a> {
    /// Bias per distance, from `-center` to `by_distance.len() - 1 - center`.
    pub by_distance: &'a [f32],
    /// Index of distance 0; at least the longest sequence minus one.
    pub center: usize,
}

struct AttentionHead<'a> {
    qkv: &'a [f32],
    hidden: usize,
    offset: usize,
    head_dim: usize,
    bias: Option<RelativeBias<'a>>,
    out: &'a mut [f32],
    scratch: &'a mut Vec<f32>,
}

impl WithSimd for AttentionHead<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        // Query rows per register block: 8 with 32 vector registers, 4 with 16.
        if S::F32_LANES >= 16 {
            attention_head_blocked::<S, 8>(simd, self);
        } else {
            attention_head_blocked::<S, 4>(simd, self);
        }
    }
}

/// The attention of one head, `R` query rows at a time.
///
/// K and V are first copied into lane-wide column blocks (`[block][row][lanes]`, zero
/// padded), and the queries of a block transposed, so that both products
/// (`Q K^T` and `P V`) become streams of one vector load, `R` broadcasts and `R`
/// fused multiply-adds, with no bounds checks inside the loops to push the
/// accumulators out of registers. Any `head_dim` works: the last column block is
/// zero padded and only the real columns are stored.
#[inline(always)]
fn attention_head_blocked<S: Simd, const R: usize>(simd: S, job: AttentionHead<'_>) {
    let AttentionHead {
        qkv,
        hidden,
        offset,
        head_dim,
        bias,
        out,
        scratch,
    } = job;
    let lanes = S::F32_LANES;
    let stride = 3 * hidden;
    let len = qkv.len() / stride;
    let padded = len.next_multiple_of(lanes);
    let column_blocks = head_dim.div_ceil(lanes);
    let scale = 1.0 / (head_dim as f32).sqrt();

    scratch.clear();
    scratch.resize(
        padded * head_dim + column_blocks * len * lanes + head_dim * R + R * padded,
        0.0,
    );
    let (keys, rest) = scratch.split_at_mut(padded * head_dim);
    let (values, rest) = rest.split_at_mut(column_blocks * len * lanes);
    let (queries, scores) = rest.split_at_mut(head_dim * R);

    // keys: [key block][d][lanes]; values: [column block][j][lanes].
    for (j, row) in qkv.chunks_exact(stride).enumerate() {
        let key = &row[hidden + offset..][..head_dim];
        let (block, lane) = (j / lanes, j % lanes);
        for (d, k) in key.iter().enumerate() {
            keys[(block * head_dim + d) * lanes + lane] = *k;
        }
        let value = &row[2 * hidden + offset..][..head_dim];
        for (c, chunk) in value.chunks(lanes).enumerate() {
            values[(c * len + j) * lanes..][..chunk.len()].copy_from_slice(chunk);
        }
    }

    let zero = simd.splat_f32s(0.0);
    for first in (0..len).step_by(R) {
        let rows = R.min(len - first);
        // queries: [d][R], scaled, zero for rows past the end.
        queries.fill(0.0);
        for r in 0..rows {
            let query = &qkv[(first + r) * stride + offset..][..head_dim];
            for (d, q) in query.iter().enumerate() {
                queries[d * R + r] = q * scale;
            }
        }

        for (block, block_keys) in keys.chunks_exact(head_dim * lanes).enumerate() {
            let mut acc = [zero; R];
            for (k, q) in block_keys.chunks_exact(lanes).zip(queries.chunks_exact(R)) {
                let k = load::<S>(k);
                for (acc, &q) in acc.iter_mut().zip(q) {
                    *acc = simd.mul_add_f32s(simd.splat_f32s(q), k, *acc);
                }
            }
            for (r, &value) in acc.iter().enumerate() {
                // A copy, so the accumulators themselves never have their address taken.
                let value: S::f32s = value;
                store::<S>(&mut scores[r * padded + block * lanes..][..lanes], value);
            }
        }

        // Softmax of each query row over the real keys (rows past the end are unused).
        for r in 0..rows {
            let row = &mut scores[r * padded..][..len];
            if let Some(bias) = bias {
                // Distances j - i for j in 0..len: a window of the table ending at
                // center + len - 1 - i, which the caller keeps in range.
                let from = bias.center - (first + r);
                for (score, b) in row.iter_mut().zip(&bias.by_distance[from..from + len]) {
                    *score += b;
                }
            }
            softmax(row);
        }
        let probabilities: [&[f32]; R] = std::array::from_fn(|r| &scores[r * padded..][..len]);
        // Checked once so the loop below has no bounds checks.
        assert!(probabilities.iter().all(|p| p.len() == len));

        for (c, block_values) in values.chunks_exact(len * lanes).enumerate() {
            let mut acc = [zero; R];
            for (j, v) in block_values.chunks_exact(lanes).enumerate() {
                let v = load::<S>(v);
                for (acc, p) in acc.iter_mut().zip(&probabilities) {
                    *acc = simd.mul_add_f32s(simd.splat_f32s(p[j]), v, *acc);
                }
            }
            let width = lanes.min(head_dim - c * lanes);
            for (r, acc) in acc.iter().enumerate().take(rows) {
                // A copy, so the accumulators themselves never have their address taken.
                let acc: S::f32s = *acc;
                let lane_values: &[f32] = bytemuck::cast_slice(std::slice::from_ref(&acc));
                out[(first + r) * head_dim + c * lanes..][..width]
                    .copy_from_slice(&lane_values[..width]);
            }
        }
    }
}

/// One vector from `lanes` consecutive floats (no alignment needed).
#[inline(always)]
pub(super) fn load<S: Simd>(values: &[f32]) -> S::f32s {
    bytemuck::pod_read_unaligned(bytemuck::cast_slice(values))
}

/// Writes one vector to `lanes` consecutive floats.
#[inline(always)]
fn store<S: Simd>(target: &mut [f32], value: S::f32s) {
    target.copy_from_slice(bytemuck::cast_slice(std::slice::from_ref(&value)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf to double precision by its Taylor series (converges fast for |x| <= 4).
    fn erf_reference(x: f64) -> f64 {
        if x.abs() > 4.0 {
            return x.signum() * (1.0 - 1e-8);
        }
        let mut term = x;
        let mut total = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            total += term / (2 * n + 1) as f64;
        }
        total * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_matches_the_series_to_single_precision() {
        let mut worst = 0f64;
        for i in -6000..=6000 {
            let x = i as f64 / 1000.0;
            worst = worst.max((erf(x as f32) as f64 - erf_reference(x)).abs());
        }
        assert!(worst < 5e-7, "worst erf error {worst}");
    }

    #[test]
    fn exp_matches_std_to_a_few_ulps() {
        let mut worst = 0f32;
        for i in -8700..=8800 {
            let x = i as f32 / 100.0;
            let expected = x.exp();
            let relative = ((exp(x) - expected) / expected).abs();
            worst = worst.max(relative);
        }
        assert!(worst < 5e-7, "worst relative exp error {worst}");
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(-87.0) > 0.0);
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut row = vec![1.0, 3.0, 2.0, -50.0];
        softmax(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row[1] > row[2] && row[2] > row[0] && row[0] > row[3]);
    }

    #[test]
    fn layer_norm_gives_zero_mean_unit_variance() {
        let mut rows: Vec<f32> = (0..20).map(|i| i as f32 * 0.5).collect();
        let ones = vec![1.0; 10];
        let zeros = vec![0.0; 10];
        layer_norm(&mut rows, &ones, &zeros, 1e-12);
        for row in rows.chunks(10) {
            let mean = row.iter().sum::<f32>() / 10.0;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 10.0;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4);
        }
    }

    /// Attention computed the plain way, for comparison.
    fn attention_reference(
        qkv: &[f32],
        hidden: usize,
        offset: usize,
        head_dim: usize,
        bias: Option<RelativeBias<'_>>,
    ) -> Vec<f32> {
        let stride = 3 * hidden;
        let len = qkv.len() / stride;
        let mut out = vec![0f32; len * head_dim];
        for i in 0..len {
            let q = &qkv[i * stride + offset..][..head_dim];
            let mut scores: Vec<f64> = (0..len)
                .map(|j| {
                    let k = &qkv[j * stride + hidden + offset..][..head_dim];
                    q.iter().zip(k).map(|(a, b)| (a * b) as f64).sum::<f64>()
                        / (head_dim as f64).sqrt()
                        + bias.map_or(0.0, |b| b.by_distance[b.center + j - i] as f64)
                })
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = scores
                .iter_mut()
                .map(|s| {
                    *s = (*s - max).exp();
                    *s
                })
                .sum();
            for (j, s) in scores.iter().enumerate() {
                let v = &qkv[j * stride + 2 * hidden + offset..][..head_dim];
                for (o, v) in out[i * head_dim..][..head_dim].iter_mut().zip(v) {
                    *o += (s / total * *v as f64) as f32;
                }
            }
        }
        out
    }

    #[test]
    fn attention_matches_the_plain_computation_for_awkward_lengths() {
        // Head widths below, at and across the vector width (8 or 16 lanes).
        for (hidden, head_dim, len) in [8, 20, 32]
            .into_iter()
            .flat_map(|d| [1, 3, 4, 5, 13, 40].map(|len| (2 * d, d, len)))
        {
            // Deterministic pseudo-random inputs in [-2, 2].
            let qkv: Vec<f32> = (0..len * 3 * hidden)
                .map(|i| ((i * 7919 % 1000) as f32 / 250.0) - 2.0)
                .collect();
            for offset in [0, head_dim] {
                let mut out = vec![f32::NAN; len * head_dim];
                // Without a bias, and with one that differs at every distance.
                let table: Vec<f32> = (0..2 * len - 1)
                    .map(|d| ((d * 37 % 11) as f32 - 5.0) / 4.0)
                    .collect();
                let with_bias = RelativeBias {
                    by_distance: &table,
                    center: len - 1,
                };
                for bias in [None, Some(with_bias)] {
                    attention_head(
                        &qkv,
                        hidden,
                        offset,
                        head_dim,
                        bias,
                        &mut out,
                        &mut Vec::new(),
                    );
                    let expected = attention_reference(&qkv, hidden, offset, head_dim, bias);
                    for (a, b) in out.iter().zip(&expected) {
                        assert!((a - b).abs() < 1e-4, "len {len}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn attention_of_one_token_returns_its_value() {
        let mut qkv = vec![0.5f32; 24];
        qkv[16..24].copy_from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let mut out = vec![0.0; 8];
        attention_head(&qkv, 8, 0, 8, None, &mut out, &mut Vec::new());
        assert_eq!(out, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    }
}
