//! The seam between drafting and whatever writes text: a local model or a
//! chat-completions server. A generator sees only the two prompt messages and
//! a token budget; grounding happens after, whatever it wrote.

use tokio::sync::mpsc;

use super::model::DraftError;
use super::prompt::ChatPrompt;

/// Writes a completion for a prompt.
#[async_trait::async_trait]
pub trait Generator: Send + Sync {
    /// `candle` or `openai`.
    fn backend(&self) -> &'static str;

    /// The model's name, as reported with each draft.
    fn model(&self) -> String;

    /// Writes at most `max_tokens` tokens for `prompt`. With `deltas`, text is
    /// sent there as it comes; the whole text is returned at the end. A
    /// generator stops early (and cheaply) once its future is dropped.
    async fn generate(
        &self,
        prompt: &ChatPrompt,
        max_tokens: u32,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> Result<String, DraftError>;
}
