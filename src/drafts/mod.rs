//! Suggested resolutions: short drafts an agent can send or follow, written
//! from the evidence triage retrieves (past incidents' resolutions and
//! knowledge passages), where every sentence cites the evidence it came from.
//!
//! - [`evidence`]: which retrieved passages may be cited, and when the
//!   evidence is too weak to draft from at all.
//! - [`extractive`]: the baseline without a model: the evidence's own steps,
//!   merged and ranked.
//! - [`generator`]: the seam to a model; [`openai`] (any chat-completions
//!   server) and [`local`] (a GGUF model run in process by `crate::generate`).
//! - [`prompt`]: the templates in `prompts/` and how ticket and evidence go in.
//! - [`grounding`]: citations checked against the evidence, unsupported
//!   sentences dropped: whatever a generator writes.
//! - `service`: write (whole or streamed), store, read and review drafts.

pub mod evidence;
pub mod extractive;
pub mod generator;
pub mod grounding;
pub mod local;
mod model;
pub mod openai;
pub mod prompt;
mod repository;
mod service;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use generator::Generator;
pub use model::{
    Draft, DraftError, DraftEvent, DraftReview, DraftSentence, DraftStatus, EvidenceRef,
    GroundingChecks, ReviewRequest, Verdict,
};
pub use openai::{OpenAiGenerator, OpenAiSettings};
pub use prompt::{ChatPrompt, DraftPrompts};
pub use repository::{DraftRepository, DraftStats};
pub use service::DraftService;

/// Which backend writes drafts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftBackend {
    /// The evidence's own sentences, merged and ranked: no model.
    #[default]
    Extractive,
    /// A quantized GGUF instruct model run in process (`[drafts.candle]`).
    Candle,
    /// An OpenAI-compatible chat-completions server (`[drafts.openai]`).
    Openai,
}

/// `[drafts.candle]`: the local model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CandleSettings {
    /// Path of a GGUF instruct model of the llama, qwen2 or qwen3
    /// architecture with a ChatML chat format and its tokenizer inside
    /// (`scripts/fetch-llm.sh` fetches SmolLM2-135M-Instruct).
    pub model_path: PathBuf,
    /// Threads generation may use (they run below the triage path: keep this
    /// under the core count).
    pub threads: usize,
    /// Penalty on tokens already written (1.0: none), against loops.
    pub repeat_penalty: f32,
}

impl Default for CandleSettings {
    fn default() -> Self {
        Self {
            model_path: PathBuf::from(
                "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
            ),
            threads: 1,
            repeat_penalty: 1.1,
        }
    }
}

/// `[drafts]`: when and how suggested resolutions are written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DraftSettings {
    /// Answer `POST /v1/tickets/{id}/draft` at all.
    pub enabled: bool,
    /// `extractive` (default), `candle` or `openai`.
    pub backend: DraftBackend,
    /// No draft unless the closest incident or article is at least this
    /// similar (cosine) to the ticket; evidence below it is not cited.
    pub min_similarity: f32,
    /// Share of a sentence's content words its cited passage must contain for
    /// the sentence to stay.
    pub min_support: f32,
    /// Most sentences in a draft.
    pub max_sentences: usize,
    /// Most pieces of evidence (incidents and passages) a draft is written from.
    pub max_evidence: usize,
    /// Most tokens a generator may write.
    pub max_tokens: u32,
    /// Seconds a generator may take before the draft fails.
    pub timeout_s: u64,
    /// Drafts written at once; more are refused as busy (503).
    pub max_concurrent: usize,
    /// The chat-completions server.
    pub openai: OpenAiSettings,
    /// The local model.
    pub candle: CandleSettings,
}

impl Default for DraftSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            backend: DraftBackend::Extractive,
            min_similarity: 0.5,
            min_support: 0.5,
            max_sentences: 5,
            max_evidence: 6,
            max_tokens: 200,
            timeout_s: 60,
            max_concurrent: 2,
            openai: OpenAiSettings::default(),
            candle: CandleSettings::default(),
        }
    }
}

impl DraftSettings {
    /// Checks the numbers are in range.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.min_similarity) || !(0.0..=1.0).contains(&self.min_support) {
            return Err("drafts.min_similarity and drafts.min_support must be within 0..1".into());
        }
        if self.max_sentences == 0 || self.max_evidence == 0 || self.max_tokens == 0 {
            return Err(
                "drafts.max_sentences, max_evidence and max_tokens must be at least 1".into(),
            );
        }
        Ok(())
    }
}

/// The generator `settings` ask for: `None` for extractive. `secrets` resolves
/// the OpenAI key's name. Loading a local model takes a few seconds.
pub fn build_generator(
    settings: &DraftSettings,
    secrets: &crate::infra::secrets::Secrets,
) -> Result<Option<Arc<dyn Generator>>, DraftError> {
    settings.validate().map_err(DraftError::Backend)?;
    Ok(match settings.backend {
        DraftBackend::Extractive => None,
        DraftBackend::Openai => {
            let key = match &settings.openai.api_key_secret {
                None => None,
                Some(name) => Some(secrets.get(name).map(str::to_owned).ok_or_else(|| {
                    DraftError::Backend(format!(
                        "drafts.openai.api_key_secret: secret {name} is not set"
                    ))
                })?),
            };
            Some(Arc::new(OpenAiGenerator::new(
                &settings.openai,
                key,
                settings.timeout_s,
            )?))
        }
        DraftBackend::Candle => Some(Arc::new(local::LocalGenerator::load(&settings.candle)?)),
    })
}
