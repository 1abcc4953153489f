//! The encoder's layers and their row-parallel helpers: a layer norm's
//! parameters, a dense layer (packed for [`super::gemm`], or a candle tensor on
//! CPUs without AVX2 + FMA) with its bias and activation, and the split of an
//! elementwise step over the cores. [`super::weights`] builds them,
//! [`super::encoder`] runs them.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::EmbedError;
use super::gemm::{Epilogue, PackedWeights};
use super::kernels;

fn inference(err: impl ToString) -> EmbedError {
    EmbedError::Inference(err.to_string())
}

/// A layer norm's scale and shift.
pub(super) struct Norm {
    pub(super) gamma: Vec<f32>,
    pub(super) beta: Vec<f32>,
}

/// A dense layer: `[in, out]` weights and a bias.
pub(super) struct Dense {
    pub(super) weight: DenseWeight,
    pub(super) bias: Vec<f32>,
}

/// How a dense layer's weights are held: packed for [`PackedWeights::matmul`] where the
/// CPU and shape allow, otherwise as a contiguous `[in, out]` tensor for candle's matmul.
pub(super) enum DenseWeight {
    Packed(PackedWeights),
    Tensor(Tensor),
}

/// Rows per parallel task: the rows split evenly between the rayon threads.
fn chunk_len(len: usize, width: usize) -> usize {
    (len / width)
        .div_ceil(rayon::current_num_threads().max(1))
        .max(1)
        * width
}

/// Floats below which an elementwise step runs on the calling thread: waking the
/// other threads costs more than the work (a single ticket spent ~10% of its time in
/// the scheduler when every step was split).
const PARALLEL_MIN_FLOATS: usize = 1 << 17;

/// Runs `f` on one chunk of whole rows (`width` wide) of `rows` per thread, in parallel
/// (on this thread alone for small inputs).
pub(super) fn parallel_rows(rows: &mut [f32], width: usize, f: impl Fn(&mut [f32]) + Sync) {
    if rows.len() < PARALLEL_MIN_FLOATS {
        return f(rows);
    }
    let chunk = chunk_len(rows.len(), width);
    rows.par_chunks_mut(chunk).for_each(&f);
}

/// Like [`parallel_rows`], pairing each chunk with the same rows of `input`.
pub(super) fn parallel_rows_with(
    rows: &mut [f32],
    input: &[f32],
    width: usize,
    f: impl Fn(&mut [f32], &[f32]) + Sync,
) {
    if rows.len() < PARALLEL_MIN_FLOATS {
        return f(rows, input);
    }
    let chunk = chunk_len(rows.len(), width);
    rows.par_chunks_mut(chunk)
        .zip(input.par_chunks(chunk))
        .for_each(|(out, inp)| f(out, inp));
}

impl Dense {
    /// `activation(input [rows, in] x weight [in, out] + bias)` into `out`: the packed
    /// kernel (bias and activation applied as it stores) where the CPU has AVX2 + FMA,
    /// candle's matmul and separate passes otherwise.
    pub(super) fn apply(
        &self,
        input: &[f32],
        rows: usize,
        activation: Activation,
        out: &mut [f32],
    ) -> Result<(), EmbedError> {
        let gelu = matches!(activation, Activation::Gelu);
        match &self.weight {
            DenseWeight::Packed(packed) => {
                let epilogue = Epilogue {
                    bias: &self.bias,
                    gelu,
                };
                packed.matmul_into(input, rows, epilogue, out);
            }
            DenseWeight::Tensor(weight) => {
                let k = input.len() / rows;
                let product = Tensor::from_slice(input, (rows, k), &Device::Cpu)
                    .and_then(|a| a.matmul(weight))
                    .and_then(|product| product.flatten_all())
                    .and_then(|product| product.to_vec1::<f32>())
                    .map_err(inference)?;
                out.copy_from_slice(&product);
                parallel_rows(out, self.bias.len(), |rows| {
                    if gelu {
                        kernels::bias_gelu(rows, &self.bias)
                    } else {
                        kernels::add_bias(rows, &self.bias)
                    }
                });
            }
        }
        Ok(())
    }
}

/// What a dense layer applies after its bias.
#[derive(Clone, Copy)]
pub(super) enum Activation {
    None,
    Gelu,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dense layer held as a candle tensor (CPUs without AVX2 + FMA) and the same
    /// layer packed must give the same `activation(x W + b)`.
    #[test]
    fn the_fallback_matmul_applies_bias_and_gelu_like_the_packed_one() {
        let (k, n, rows) = (24, 64, 7);
        let w: Vec<f32> = (0..k * n)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 20.0)
            .collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 / 32.0 - 1.0).collect();
        let x: Vec<f32> = (0..rows * k)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 10.0)
            .collect();
        let tensor = Dense {
            weight: DenseWeight::Tensor(
                Tensor::from_slice(&w, (k, n), &Device::Cpu).expect("tensor"),
            ),
            bias: bias.clone(),
        };
        let Some(packed) = PackedWeights::pack(&w, k, n) else {
            return; // No AVX2 + FMA here: only the fallback exists.
        };
        let packed = Dense {
            weight: DenseWeight::Packed(packed),
            bias,
        };
        for activation in [Activation::None, Activation::Gelu] {
            let mut expected = vec![f32::NAN; rows * n];
            let mut got = vec![f32::NAN; rows * n];
            tensor
                .apply(&x, rows, activation, &mut expected)
                .expect("fallback");
            packed
                .apply(&x, rows, activation, &mut got)
                .expect("packed");
            for (a, b) in got.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
    }
}
