//! Matrix multiplication against weights packed once at load time.
//!
//! candle's CPU matmul (the `gemm` crate) repacks the weight matrix on every call;
//! for the short token counts of single tickets that packing, not the arithmetic,
//! dominates. Here each weight matrix is stored as panels of a few SIMD vectors of
//! output columns (`[k][vectors * lanes]` contiguous), and a register-blocked kernel
//! streams them: per step of `k`, one load per panel vector and one broadcast of the
//! activations per row feed one fused multiply-add per row and vector. Rows are taken in
//! cache-sized tiles so the activations stay in L2 while the panels stream. Threads
//! split the rows between them when there are enough (each writes its rows in place),
//! the panels otherwise (a single short ticket).
//!
//! The instruction set is chosen once, at load: AVX-512 (64-column panels, 6-row
//! blocks: 24 of the 32 vector registers hold accumulators) where the CPU has it and
//! the width allows, else AVX2 + FMA (16-column panels, 6-row blocks: 12 of 16). On CPUs with
//! neither, [`PackedWeights::pack`] returns `None` and the caller keeps candle's matmul.
//! The accumulators must stay in registers: a bounds check or an address taken inside
//! the kernel spills them to the stack after every multiply-add, which measured 2.5x
//! slower, hence the checks hoisted out of the loop and the copies before storing.

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use super::kernels::{gelu, load};

/// Bytes of activations a row tile may hold (kept in L2 while the panels stream).
const TILE_BYTES: usize = 192 * 1024;
/// Rows per register block with AVX-512: 6 x 4 accumulators of the 32 registers,
/// so each step loads 4 panel vectors and 6 broadcasts for 24 multiply-adds. Measured
/// at batch 32: 8 x 2 blocks ~150-157 texts/s, 8 x 3 ~166-174, 6 x 4 ~167-175.
const V4_ROWS: usize = 6;
/// Vectors per panel with AVX-512 (64 columns).
const V4_VECTORS: usize = 4;
/// Vectors per panel with AVX2.
const V3_VECTORS: usize = 2;
/// Rows per register block with AVX2: 6 x 2 accumulators + 2 panel vectors + 1
/// broadcast = 15 of the 16 registers.
const V3_ROWS: usize = 6;
/// Register blocks per thread from which threads split rows rather than panels.
const ROW_SPLIT_BLOCKS: usize = 4;

/// The instruction set a packed matrix was laid out for, with the proof that this
/// CPU has it (taken once, at load).
#[derive(Clone, Copy)]
enum Isa {
    /// AVX-512F (+ the rest of x86-64-v4): 16 lanes.
    V4(pulp::x86::V4),
    /// AVX2 + FMA: 8 lanes.
    V3(pulp::x86::V3),
}

impl Isa {
    /// The instruction sets this CPU has, best first.
    fn available() -> impl Iterator<Item = Self> {
        let v4 = pulp::x86::V4::try_new().map(Self::V4);
        let v3 = pulp::x86::V3::try_new().map(Self::V3);
        v4.into_iter().chain(v3)
    }

    /// Rows per register block.
    fn block_rows(self) -> usize {
        match self {
            Self::V4(_) => V4_ROWS,
            Self::V3(_) => V3_ROWS,
        }
    }

    /// Output columns per panel.
    fn panel_width(self) -> usize {
        match self {
            Self::V4(_) => V4_VECTORS * <pulp::x86::V4 as Simd>::F32_LANES,
            Self::V3(_) => V3_VECTORS * <pulp::x86::V3 as Simd>::F32_LANES,
        }
    }
}

/// What the matmul does to each output as it stores it: add the layer's bias, then
/// optionally apply GELU, so neither needs a pass of its own over the output.
#[derive(Clone, Copy)]
pub struct Epilogue<'a> {
    /// One value per output column.
    pub bias: &'a [f32],
    /// Apply the exact GELU after the bias.
    pub gelu: bool,
}

/// A `[k, n]` weight matrix stored as `n / width` panels of `[k][width]`.
pub struct PackedWeights {
    isa: Isa,
    k: usize,
    n: usize,
    panels: Vec<f32>,
}

impl PackedWeights {
    /// Packs a row-major `[k, n]` matrix for the best instruction set whose panels
    /// divide `n`; `None` if there is none (no AVX2 + FMA, or `n` not a multiple of 16).
    pub fn pack(weights: &[f32], k: usize, n: usize) -> Option<Self> {
        Isa::available().find_map(|isa| Self::pack_for(isa, weights, k, n))
    }

    fn pack_for(isa: Isa, weights: &[f32], k: usize, n: usize) -> Option<Self> {
        let width = isa.panel_width();
        if !n.is_multiple_of(width) || weights.len() != k * n {
            return None;
        }
        let mut panels = Vec::with_capacity(k * n);
        for panel in 0..n / width {
            for row in weights.chunks_exact(n) {
                panels.extend_from_slice(&row[panel * width..][..width]);
            }
        }
        Some(Self { isa, k, n, panels })
    }

    /// `epilogue(a [m, k] x W [k, n])` into `out`, a row-major `[m, n]` (every element
    /// written).
    ///
    /// With enough rows each thread takes a run of whole rows and writes them in
    /// place; with few (a single short ticket) the threads split the panels instead,
    /// each into its own column block, which is then copied into place.
    pub fn matmul_into(&self, a: &[f32], m: usize, epilogue: Epilogue<'_>, out: &mut [f32]) {
        debug_assert_eq!(a.len(), m * self.k);
        debug_assert_eq!(out.len(), m * self.n);
        assert_eq!(
            epilogue.bias.len(),
            self.n,
            "one bias value per output column"
        );
        let threads = rayon::current_num_threads().max(1);
        let rows = self.isa.block_rows();
        if threads == 1 || m >= ROW_SPLIT_BLOCKS * rows * threads {
            let per_thread = m.div_ceil(threads).next_multiple_of(rows);
            out.par_chunks_mut(per_thread * self.n)
                .zip(a.par_chunks(per_thread * self.k))
                .for_each(|(out, a)| {
                    self.multiply(a, a.len() / self.k, &self.panels, epilogue, out)
                });
            return;
        }
        let width = self.isa.panel_width();
        let panels = self.n / width;
        let per_thread = panels.div_ceil(threads.min(panels));
        let parts: Vec<(usize, Vec<f32>)> = (0..panels)
            .step_by(per_thread)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|first| {
                let count = per_thread.min(panels - first);
                let mut part = vec![0f32; m * count * width];
                let run = &self.panels[first * self.k * width..][..count * self.k * width];
                let bias = &epilogue.bias[first * width..][..count * width];
                self.multiply(a, m, run, Epilogue { bias, ..epilogue }, &mut part);
                (first, part)
            })
            .collect();
        for (first, part) in parts {
            let part_width = part.len() / m.max(1);
            for (row, values) in out
                .chunks_exact_mut(self.n)
                .zip(part.chunks_exact(part_width))
            {
                row[first * width..][..part_width].copy_from_slice(values);
            }
        }
    }

    /// `a [m, k]` times a run of panels into `out [m, panels * width]`, on this thread;
    /// `epilogue.bias` covers the run's columns only.
    fn multiply(
        &self,
        a: &[f32],
        m: usize,
        panels: &[f32],
        epilogue: Epilogue<'_>,
        out: &mut [f32],
    ) {
        let operands = Operands {
            a,
            m,
            k: self.k,
            panels,
            epilogue,
            out,
        };
        match self.isa {
            Isa::V4(simd) => Simd::vectorize(simd, Block::<'_, V4_ROWS, V4_VECTORS>(operands)),
            Isa::V3(simd) => Simd::vectorize(simd, Block::<'_, V3_ROWS, V3_VECTORS>(operands)),
        }
    }
}

/// One thread's share: all rows of `a [m, k]` against a run of panels, into
/// `out [m, panels * width]`.
struct Operands<'a> {
    a: &'a [f32],
    m: usize,
    k: usize,
    panels: &'a [f32],
    epilogue: Epilogue<'a>,
    out: &'a mut [f32],
}

/// [`Operands`] worked through `R` rows and `P` panel vectors at a time.
struct Block<'a, const R: usize, const P: usize>(Operands<'a>);

impl<const R: usize, const P: usize> WithSimd for Block<'_, R, P> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Operands {
            a,
            m,
            k,
            panels,
            epilogue,
            out,
        } = self.0;
        let panel_width = P * S::F32_LANES;
        let width = panels.len() / k;
        let tile_rows = (TILE_BYTES / (4 * k)).max(R) / R * R;
        for tile in (0..m).step_by(tile_rows) {
            let tile_end = (tile + tile_rows).min(m);
            for (p, panel) in panels.chunks_exact(k * panel_width).enumerate() {
                let panel: &[S::f32s] = bytemuck::cast_slice(panel);
                let mut target = Target {
                    out: &mut *out,
                    width,
                    column: p * panel_width,
                    bias: &epilogue.bias[p * panel_width..][..panel_width],
                };
                let mut first = tile;
                while first + R <= tile_end {
                    rows_times_panel::<S, R, P>(simd, a, first, k, panel, &mut target);
                    first += R;
                }
                tail::<S, P>(simd, tile_end - first, a, first, k, panel, &mut target);
                // GELU over the block just stored, while it is still in L1 (inside the
                // kernel it pushed accumulators out of registers).
                if epilogue.gelu {
                    for row in tile..tile_end {
                        for x in &mut out[row * width + p * panel_width..][..panel_width] {
                            *x = gelu(*x);
                        }
                    }
                }
            }
        }
    }
}

/// Where one panel's results go: columns `column..` of `out` (stride `width`), and
/// the panel's share of the bias.
struct Target<'a> {
    out: &'a mut [f32],
    width: usize,
    column: usize,
    bias: &'a [f32],
}

/// The last `rows < R` rows of a tile, with a kernel of exactly that height
/// (`R` is at most 8).
#[inline(always)]
fn tail<S: Simd, const P: usize>(
    simd: S,
    rows: usize,
    a: &[f32],
    first: usize,
    k: usize,
    panel: &[S::f32s],
    target: &mut Target<'_>,
) {
    macro_rules! heights {
        ($($r:literal)*) => {
            match rows {
                $($r => rows_times_panel::<S, $r, P>(simd, a, first, k, panel, target),)*
                _ => {}
            }
        };
    }
    heights!(1 2 3 4 5 6 7);
}

/// Rows `first..first + R` of `a` (stride `k`) times one panel, plus the bias, stored
/// into `target`.
#[inline(always)]
fn rows_times_panel<S: Simd, const R: usize, const P: usize>(
    simd: S,
    a: &[f32],
    first: usize,
    k: usize,
    panel: &[S::f32s],
    target: &mut Target<'_>,
) {
    let lanes = S::F32_LANES;
    let bias: [S::f32s; P] = std::array::from_fn(|v| load::<S>(&target.bias[v * lanes..][..lanes]));
    let mut acc = [bias; R];
    let rows: [&[f32]; R] = std::array::from_fn(|r| &a[(first + r) * k..][..k]);
    // Checked once here so the loop below has no bounds checks (a panic path inside it
    // would keep the accumulators in memory instead of registers).
    let panel = &panel[..P * k];
    assert!(rows.iter().all(|row| row.len() == k));
    for (step, b) in panel.chunks_exact(P).enumerate() {
        let b: [S::f32s; P] = std::array::from_fn(|v| b[v]);
        for (acc, row) in acc.iter_mut().zip(&rows) {
            let x = simd.splat_f32s(row[step]);
            for (acc, b) in acc.iter_mut().zip(b) {
                *acc = simd.mul_add_f32s(x, b, *acc);
            }
        }
    }
    for (r, &values) in acc.iter().enumerate() {
        // A copy, so the accumulators themselves never have their address taken.
        let values: [S::f32s; P] = values;
        target.out[(first + r) * target.width + target.column..][..P * lanes]
            .copy_from_slice(bytemuck::cast_slice(&values));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `packed` against the plain triple loop for row counts that hit full
    /// blocks, tails, and both ways of splitting the work between threads.
    fn assert_matches_plain_product(packed: &PackedWeights, w: &[f32]) {
        let (k, n) = (packed.k, packed.n);
        for m in [1, 3, 4, 5, 9, 12, 13, 25, 130] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 17 % 89) as f32 - 44.0) / 40.0)
                .collect();
            let bias: Vec<f32> = (0..n).map(|j| j as f32 / 10.0 - 2.0).collect();
            let mut c = vec![f32::NAN; m * n];
            let epilogue = Epilogue {
                bias: &bias,
                gelu: false,
            };
            packed.matmul_into(&a, m, epilogue, &mut c);
            let mut activated = vec![f32::NAN; m * n];
            let epilogue = Epilogue {
                bias: &bias,
                gelu: true,
            };
            packed.matmul_into(&a, m, epilogue, &mut activated);
            for i in 0..m {
                for j in 0..n {
                    let expected: f32 =
                        (0..k).map(|t| a[i * k + t] * w[t * n + j]).sum::<f32>() + bias[j];
                    let activated = activated[i * n + j];
                    assert!(
                        (activated - gelu(expected)).abs() < 1e-3,
                        "GELU m {m} [{i},{j}]: {activated} vs {}",
                        gelu(expected)
                    );
                    assert!(
                        (c[i * n + j] - expected).abs() < 1e-3,
                        "panel width {} m {m} [{i},{j}]: {} vs {expected}",
                        packed.isa.panel_width(),
                        c[i * n + j]
                    );
                }
            }
        }
    }

    fn weights(k: usize, n: usize) -> Vec<f32> {
        (0..k * n)
            .map(|i| ((i * 31 % 97) as f32 - 48.0) / 50.0)
            .collect()
    }

    #[test]
    fn packed_matmul_matches_the_plain_product_in_every_instruction_set() {
        let (k, n) = (37, 128);
        let w = weights(k, n);
        // No AVX2 + FMA here: the encoder uses candle's matmul instead.
        for isa in Isa::available() {
            let packed = PackedWeights::pack_for(isa, &w, k, n).expect("128 columns fit");
            assert_matches_plain_product(&packed, &w);
        }
    }

    #[test]
    fn widths_the_widest_panels_do_not_divide_fall_back_to_narrower_ones() {
        let (k, n) = (20, 48);
        let w = weights(k, n);
        if let Some(packed) = PackedWeights::pack(&w, k, n) {
            assert_eq!(packed.isa.panel_width(), 16);
            assert_matches_plain_product(&packed, &w);
        }
    }

    #[test]
    fn pack_refuses_widths_that_are_not_whole_panels() {
        assert!(PackedWeights::pack(&[0.0; 30], 2, 15).is_none());
        assert!(PackedWeights::pack(&[0.0; 10], 2, 16).is_none());
    }
}
