//! Loading a GGUF model: the weights (requantized to Q8_0 where the file's
//! format has only a slow CPU path in candle) and the tokenizer the file carries.

use std::io::Cursor;
use std::path::Path;

use candle_core::Device;
use candle_core::Tensor;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_transformers::models::{quantized_llama, quantized_qwen2, quantized_qwen3};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use super::GenerateError;

/// Formats with a fast CPU dot product in candle: kept as they are.
fn fast(dtype: GgmlDType) -> bool {
    matches!(
        dtype,
        GgmlDType::F32
            | GgmlDType::F16
            | GgmlDType::Q8_0
            | GgmlDType::Q4_0
            | GgmlDType::Q4K
            | GgmlDType::Q6K
            | GgmlDType::Q8K
    )
}

/// The weights of one of the architectures candle-transformers runs from GGUF.
pub enum Weights {
    /// `general.architecture = "llama"` (Llama, SmolLM2, Mistral-style files).
    Llama(quantized_llama::ModelWeights),
    /// `"qwen2"` (Qwen2, Qwen2.5).
    Qwen2(quantized_qwen2::ModelWeights),
    /// `"qwen3"`.
    Qwen3(quantized_qwen3::ModelWeights),
}

impl Weights {
    fn from_gguf<R: std::io::Seek + std::io::Read>(
        content: gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let architecture = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok().cloned())
            .unwrap_or_else(|| "llama".to_owned());
        Ok(match architecture.as_str() {
            "qwen2" => Self::Qwen2(quantized_qwen2::ModelWeights::from_gguf(
                content, reader, device,
            )?),
            "qwen3" => Self::Qwen3(quantized_qwen3::ModelWeights::from_gguf(
                content, reader, device,
            )?),
            "llama" => Self::Llama(quantized_llama::ModelWeights::from_gguf(
                content, reader, device,
            )?),
            other => candle_core::bail!(
                "architecture {other:?} is not supported (llama, qwen2, qwen3 are)"
            ),
        })
    }

    /// Logits of the next token after `x` (tokens from position `position`).
    pub fn forward(&mut self, x: &Tensor, position: usize) -> candle_core::Result<Tensor> {
        match self {
            Self::Llama(w) => w.forward(x, position),
            Self::Qwen2(w) => w.forward(x, position),
            Self::Qwen3(w) => w.forward(x, position),
        }
    }

    /// Forgets the previous conversation.
    pub fn clear_kv_cache(&mut self) {
        match self {
            Self::Llama(w) => w.clear_kv_cache(),
            Self::Qwen2(w) => w.clear_kv_cache(),
            Self::Qwen3(w) => w.clear_kv_cache(),
        }
    }
}

/// What a GGUF file holds for generation.
pub struct LoadedModel {
    /// The weights, ready for `forward`.
    pub weights: Weights,
    /// The tokenizer rebuilt from the file's vocabulary and merges.
    pub tokenizer: Tokenizer,
    /// Ids that end a turn: end of sequence and `<|im_end|>`.
    pub stop_tokens: Vec<u32>,
    /// `general.name`, else the file name.
    pub name: String,
    /// Tensors requantized to Q8_0 at load.
    pub requantized: usize,
}

fn error(context: &str, err: impl std::fmt::Display) -> GenerateError {
    GenerateError::Load(format!("{context}: {err}"))
}

/// Loads `path`: a Llama, Qwen2 or Qwen3 GGUF model with a GPT-2 style
/// (byte-level BPE) tokenizer inside, as SmolLM2 and Qwen files have.
pub fn load(path: &Path) -> Result<LoadedModel, GenerateError> {
    let shown = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|e| error(&shown, e))?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| error(&shown, e))?;
    let device = Device::Cpu;
    let tokenizer = tokenizer(&content).map_err(|e| error(&format!("{shown}: tokenizer"), e))?;
    let mut stop_tokens = Vec::new();
    if let Some(eos) = content
        .metadata
        .get("tokenizer.ggml.eos_token_id")
        .and_then(|v| v.to_u32().ok())
    {
        stop_tokens.push(eos);
    }
    for end in ["<|im_end|>", "<|eot_id|>", "<|endoftext|>"] {
        if let Some(id) = tokenizer.token_to_id(end)
            && !stop_tokens.contains(&id)
        {
            stop_tokens.push(id);
        }
    }
    let name = content
        .metadata
        .get("general.name")
        .and_then(|v| v.to_string().ok().cloned())
        .unwrap_or_else(|| {
            path.file_name()
                .map_or(shown.clone(), |n| n.to_string_lossy().into_owned())
        });
    let slow: Vec<String> = content
        .tensor_infos
        .iter()
        .filter(|(_, info)| !fast(info.ggml_dtype))
        .map(|(name, _)| name.clone())
        .collect();
    let requantized = slow.len();
    let weights = if slow.is_empty() {
        Weights::from_gguf(content, &mut file, &device).map_err(|e| error(&shown, e))?
    } else {
        // Rewrite the file in memory with the slow tensors as Q8_0 (small
        // models only: the whole file is read once).
        let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(content.tensor_infos.len());
        for name in content.tensor_infos.keys() {
            let tensor = content
                .tensor(&mut file, name, &device)
                .map_err(|e| error(name, e))?;
            let tensor = if slow.contains(name)
                && tensor.shape().dims().last().is_some_and(|d| d % 32 == 0)
            {
                let dense = tensor.dequantize(&device).map_err(|e| error(name, e))?;
                QTensor::quantize(&dense, GgmlDType::Q8_0).map_err(|e| error(name, e))?
            } else {
                tensor
            };
            tensors.push((name.clone(), tensor));
        }
        let metadata: Vec<(&str, &gguf_file::Value)> = content
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut buffer = Cursor::new(Vec::new());
        gguf_file::write(&mut buffer, &metadata, &refs).map_err(|e| error("requantize", e))?;
        buffer.set_position(0);
        let rewritten =
            gguf_file::Content::read(&mut buffer).map_err(|e| error("requantize", e))?;
        Weights::from_gguf(rewritten, &mut buffer, &device).map_err(|e| error(&shown, e))?
    };
    Ok(LoadedModel {
        weights,
        tokenizer,
        stop_tokens,
        name,
        requantized,
    })
}

/// The byte-level BPE tokenizer described by the file's `tokenizer.ggml.*`
/// metadata, with its control tokens (`<|im_start|>` ...) kept whole.
fn tokenizer(content: &gguf_file::Content) -> Result<Tokenizer, String> {
    let get = |key: &str| content.metadata.get(key).ok_or_else(|| format!("no {key}"));
    let model = get("tokenizer.ggml.model")?
        .to_string()
        .map_err(|e| e.to_string())?;
    if model != "gpt2" {
        return Err(format!(
            "tokenizer model {model:?} is not supported (byte-level BPE, \"gpt2\", is)"
        ));
    }
    let tokens: Vec<String> = get("tokenizer.ggml.tokens")?
        .to_vec()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let merges: Vec<(String, String)> = get("tokenizer.ggml.merges")?
        .to_vec()
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|v| {
            let merge = v.to_string().ok()?;
            let (a, b) = merge.split_once(' ')?;
            Some((a.to_owned(), b.to_owned()))
        })
        .collect();
    let types: Vec<i32> = content
        .metadata
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
        .map(|v| v.iter().map(|t| t.to_i32().unwrap_or(1)).collect())
        .unwrap_or_default();
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    // Control tokens (type 3) and the chat markers are matched whole.
    let special: Vec<AddedToken> = tokens
        .iter()
        .enumerate()
        .filter(|(i, t)| types.get(*i) == Some(&3) || (t.starts_with("<|") && t.ends_with("|>")))
        .map(|(_, t)| AddedToken::from(t.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| e.to_string())?;
    Ok(tokenizer)
}
