//! The `candle` backend: a GGUF model run in process by [`crate::generate`].

use tokio::sync::mpsc;

use super::CandleSettings;
use super::generator::Generator;
use super::model::DraftError;
use super::prompt::ChatPrompt;
use crate::generate::{GenerateError, LocalModel};

/// Drafts from a local model.
pub struct LocalGenerator {
    model: LocalModel,
}

impl LocalGenerator {
    /// Loads the model `settings` name; it pauses between tokens while a
    /// triage request is being answered.
    pub fn load(settings: &CandleSettings) -> Result<Self, DraftError> {
        let model = LocalModel::load(
            &settings.model_path,
            settings.threads,
            settings.repeat_penalty,
            std::sync::Arc::new(crate::triage::triage_in_flight),
        )
        .map_err(|e| DraftError::Backend(e.to_string()))?;
        Ok(Self { model })
    }
}

#[async_trait::async_trait]
impl Generator for LocalGenerator {
    fn backend(&self) -> &'static str {
        "candle"
    }

    fn model(&self) -> String {
        self.model.name().to_owned()
    }

    async fn generate(
        &self,
        prompt: &ChatPrompt,
        max_tokens: u32,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> Result<String, DraftError> {
        self.model
            .generate(&prompt.system, &prompt.user, max_tokens, deltas)
            .await
            .map_err(|e| match e {
                GenerateError::Stopped => {
                    DraftError::Backend("the local model's queue is full or stopped".into())
                }
                other => DraftError::Backend(other.to_string()),
            })
    }
}
