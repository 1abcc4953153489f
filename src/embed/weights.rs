//! Reading an encoder's tensors out of `model.safetensors` into the shapes the
//! packed forward pass wants: layer norms as plain vectors, dense layers
//! transposed to `[in, out]` and packed for [`super::gemm`] once at load.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::EmbedError;
use super::gemm::PackedWeights;
use super::layers::{Dense, DenseWeight, Norm};

/// The tensors of one `model.safetensors`, looked up by name with or without
/// the prefix a task model's checkpoint puts before them (`bert.`, `mpnet.`).
pub(super) struct Weights<'a> {
    tensors: HashMap<String, Tensor>,
    prefix: &'static str,
    path: &'a Path,
}

impl<'a> Weights<'a> {
    /// Reads the tensors from the bytes of `path`.
    pub(super) fn read(
        bytes: &[u8],
        prefix: &'static str,
        path: &'a Path,
    ) -> Result<Self, EmbedError> {
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu).map_err(|e| {
            EmbedError::Load {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            tensors,
            prefix,
            path,
        })
    }

    fn get(&self, name: &str) -> Result<Tensor, EmbedError> {
        self.tensors
            .get(name)
            .or_else(|| self.tensors.get(&format!("{}.{name}", self.prefix)))
            .ok_or_else(|| EmbedError::Load {
                path: self.path.display().to_string(),
                reason: format!("tensor {name} is missing"),
            })?
            .to_dtype(DType::F32)
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: impl ToString) -> EmbedError {
        EmbedError::Load {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// The tensor `name` as floats, flattened.
    pub(super) fn vector(&self, name: &str) -> Result<Vec<f32>, EmbedError> {
        self.get(name)?
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| self.error(e))
    }

    /// The layer norm under `prefix`, checked to be `width` wide.
    pub(super) fn norm(&self, prefix: &str, width: usize) -> Result<Norm, EmbedError> {
        let gamma = self.vector(&format!("{prefix}.weight"))?;
        let beta = self.vector(&format!("{prefix}.bias"))?;
        if gamma.len() != width || beta.len() != width {
            return Err(self.error(format!("{prefix} has the wrong width")));
        }
        Ok(Norm { gamma, beta })
    }

    /// Stacks the `[out_i, in]` weights of `prefixes` and stores them as one `[in, out]`.
    pub(super) fn dense_fused(
        &self,
        prefixes: &[&str],
        input: usize,
        output: usize,
    ) -> Result<Dense, EmbedError> {
        let mut weights = Vec::new();
        let mut bias = Vec::new();
        for prefix in prefixes {
            weights.push(self.get(&format!("{prefix}.weight"))?);
            bias.extend(self.vector(&format!("{prefix}.bias"))?);
        }
        let weight = Tensor::cat(&weights, 0)
            .and_then(|w| w.t())
            .and_then(|w| w.contiguous())
            .map_err(|e| self.error(e))?;
        if weight.dims() != [input, output] || bias.len() != output {
            return Err(self.error(format!(
                "{} has shape {:?}, expected [{input}, {output}]",
                prefixes.join("+"),
                weight.dims()
            )));
        }
        let values = weight
            .flatten_all()
            .and_then(|w| w.to_vec1::<f32>())
            .map_err(|e| self.error(e))?;
        let weight = match PackedWeights::pack(&values, input, output) {
            Some(packed) => DenseWeight::Packed(packed),
            None => DenseWeight::Tensor(weight),
        };
        Ok(Dense { weight, bias })
    }
}
