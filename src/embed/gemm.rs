//! Matrix multiplication against weights packed once at load time.
//!
//! candle's CPU matmul (the `gemm` crate) repacks the weight matrix on every call;
//! for the short token counts of single tickets that packing, not the arithmetic,
//! dominates. Here each weight matrix is stored as panels of 16 output columns
//! (`[k][16]` contiguous), and a 6 x 16 AVX2/FMA register-blocked kernel streams
//! them: per step of `k`, two vector loads of the panel and six broadcasts of the
//! activations feed twelve fused multiply-adds. Rows are taken in cache-sized tiles so
//! the activations stay in L2 while the panels stream; the panels are split between
//! the rayon threads, each writing its own column block.
//!
//! Only AVX2 + FMA CPUs take this path ([`PackedWeights::pack`] returns `None`
//! elsewhere and the caller keeps candle's matmul).

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// Output columns per panel.
const PANEL: usize = 16;
/// Rows per register block (6 x 2 accumulators + 2 panel vectors + 1 broadcast = 15
/// of the 16 AVX2 registers).
const ROWS: usize = 6;
/// Bytes of activations a row tile may hold (kept in L2 while the panels stream).
const TILE_BYTES: usize = 192 * 1024;

/// A `[k, n]` weight matrix stored as `n / 16` panels of `[k][16]`.
pub struct PackedWeights {
    /// Proof, taken once at load, that this CPU has AVX2 + FMA.
    simd: pulp::x86::V3,
    k: usize,
    n: usize,
    panels: Vec<f32>,
}

impl PackedWeights {
    /// Packs a row-major `[k, n]` matrix; `None` unless `n` is a multiple of 16 and
    /// the CPU has AVX2 + FMA.
    pub fn pack(weights: &[f32], k: usize, n: usize) -> Option<Self> {
        if !n.is_multiple_of(PANEL) || weights.len() != k * n {
            return None;
        }
        let simd = pulp::x86::V3::try_new()?;
        let mut panels = Vec::with_capacity(k * n);
        for panel in 0..n / PANEL {
            for row in weights.chunks_exact(n) {
                panels.extend_from_slice(&row[panel * PANEL..][..PANEL]);
            }
        }
        Some(Self { simd, k, n, panels })
    }

    /// `a [m, k] x W [k, n]` as a row-major `[m, n]`.
    pub fn matmul(&self, a: &[f32], m: usize) -> Vec<f32> {
        let simd = self.simd;
        debug_assert_eq!(a.len(), m * self.k);
        let panels = self.n / PANEL;
        let threads = rayon::current_num_threads().clamp(1, panels);
        let per_thread = panels.div_ceil(threads);
        let parts: Vec<(usize, Vec<f32>)> = (0..panels)
            .step_by(per_thread)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|first| {
                let count = per_thread.min(panels - first);
                let mut out = vec![0f32; m * count * PANEL];
                Simd::vectorize(
                    simd,
                    Block {
                        a,
                        m,
                        k: self.k,
                        panels: &self.panels[first * self.k * PANEL..][..count * self.k * PANEL],
                        out: &mut out,
                    },
                );
                (first, out)
            })
            .collect();
        if parts.len() == 1 {
            return parts
                .into_iter()
                .next()
                .map(|(_, out)| out)
                .unwrap_or_default();
        }
        let mut c = vec![0f32; m * self.n];
        for (first, part) in parts {
            let width = part.len() / m.max(1);
            for (row, values) in c.chunks_exact_mut(self.n).zip(part.chunks_exact(width)) {
                row[first * PANEL..][..width].copy_from_slice(values);
            }
        }
        c
    }
}

/// One thread's share: all rows against a run of panels, into `out [m, panels * 16]`.
struct Block<'a> {
    a: &'a [f32],
    m: usize,
    k: usize,
    panels: &'a [f32],
    out: &'a mut [f32],
}

impl WithSimd for Block<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Block {
            a,
            m,
            k,
            panels,
            out,
        } = self;
        let width = panels.len() / k;
        let tile_rows = (TILE_BYTES / (4 * k)).max(ROWS) / ROWS * ROWS;
        let mut padded = vec![0f32; ROWS * k];
        for tile in (0..m).step_by(tile_rows) {
            let tile_end = (tile + tile_rows).min(m);
            for (p, panel) in panels.chunks_exact(k * PANEL).enumerate() {
                let panel: &[S::f32s] = bytemuck::cast_slice(panel);
                for first in (tile..tile_end).step_by(ROWS) {
                    let rows = ROWS.min(tile_end - first);
                    let block = if rows == ROWS {
                        &a[first * k..][..ROWS * k]
                    } else {
                        padded.fill(0.0);
                        padded[..rows * k].copy_from_slice(&a[first * k..][..rows * k]);
                        &padded[..]
                    };
                    let acc = kernel(simd, block, k, panel);
                    for (r, acc) in acc.iter().enumerate().take(rows) {
                        let values: &[f32] = bytemuck::cast_slice(acc);
                        out[(first + r) * width + p * PANEL..][..PANEL].copy_from_slice(values);
                    }
                }
            }
        }
    }
}

/// `ROWS` rows of `a` (stride `k`) times one panel: a `ROWS` x 16 block of the result.
#[inline(always)]
fn kernel<S: Simd>(simd: S, a: &[f32], k: usize, panel: &[S::f32s]) -> [[S::f32s; 2]; ROWS] {
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[zero; 2]; ROWS];
    let rows: [&[f32]; ROWS] = std::array::from_fn(|r| &a[r * k..][..k]);
    let panel = &panel[..2 * k];
    for step in 0..k {
        let b0 = panel[2 * step];
        let b1 = panel[2 * step + 1];
        for (acc, row) in acc.iter_mut().zip(&rows) {
            let x = simd.splat_f32s(row[step]);
            acc[0] = simd.mul_add_f32s(x, b0, acc[0]);
            acc[1] = simd.mul_add_f32s(x, b1, acc[1]);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_matmul_matches_the_plain_product() {
        let (k, n) = (37, 48);
        let w: Vec<f32> = (0..k * n)
            .map(|i| ((i * 31 % 97) as f32 - 48.0) / 50.0)
            .collect();
        for m in [1, 3, 4, 5, 9, 130] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 17 % 89) as f32 - 44.0) / 40.0)
                .collect();
            let Some(packed) = PackedWeights::pack(&w, k, n) else {
                return; // No AVX2 + FMA here: the encoder uses candle's matmul instead.
            };
            let c = packed.matmul(&a, m);
            for i in 0..m {
                for j in 0..n {
                    let expected: f32 = (0..k).map(|t| a[i * k + t] * w[t * n + j]).sum();
                    assert!(
                        (c[i * n + j] - expected).abs() < 1e-3,
                        "m {m} [{i},{j}]: {} vs {expected}",
                        c[i * n + j]
                    );
                }
            }
        }
    }

    #[test]
    fn pack_refuses_widths_that_are_not_whole_panels() {
        assert!(PackedWeights::pack(&[0.0; 30], 2, 15).is_none());
        assert!(PackedWeights::pack(&[0.0; 10], 2, 16).is_none());
    }
}
