//! A generator behind any OpenAI-compatible `/v1/chat/completions` server
//! (Ollama, llama.cpp's `llama-server`, vLLM...), answered whole or streamed
//! as server-sent events.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::generator::Generator;
use super::model::DraftError;
use super::prompt::ChatPrompt;

/// `[drafts.openai]`: where the server is and which model to ask.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSettings {
    /// Base URL up to and including `/v1`, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Name of the secret (secrets file or `SWITCHBOARD_SECRET_<NAME>`) holding
    /// the API key sent as a bearer token; none: no key is sent.
    pub api_key_secret: Option<String>,
    /// The model name the server knows.
    pub model: String,
    /// PEM file of the CA that signed the server's certificate, when it is
    /// not publicly trusted (default: `[tls] ca_file`).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:11434/v1".into(),
            api_key_secret: None,
            model: "qwen2.5:3b-instruct".into(),
            ca_file: None,
        }
    }
}

/// The chat-completions client.
pub struct OpenAiGenerator {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
    timeout_s: u64,
}

/// Characters of an error answer's body kept in the error.
const ERROR_BODY_CHARS: usize = 300;
/// Longest line of a streamed answer: an event is one delta, far shorter; a
/// server that never ends a line must not grow the buffer without bound.
const MAX_EVENT_LINE: usize = 256 * 1024;
/// Longest answer text kept, streamed or not (a draft is a few hundred words).
const MAX_ANSWER: usize = 1024 * 1024;

impl OpenAiGenerator {
    /// A client for `settings`, with `api_key` resolved from its secret and
    /// every request bounded by `timeout_s`.
    pub fn new(
        settings: &OpenAiSettings,
        api_key: Option<String>,
        timeout_s: u64,
    ) -> Result<Self, DraftError> {
        let base = settings.base_url.trim_end_matches('/');
        let parsed = reqwest::Url::parse(base)
            .map_err(|e| DraftError::Backend(format!("drafts.openai.base_url {base:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DraftError::Backend(format!(
                "drafts.openai.base_url {base:?}: must be http or https"
            )));
        }
        crate::infra::secrets::no_credentials_in(&parsed, "drafts.openai.base_url")
            .map_err(DraftError::Backend)?;
        let client = crate::infra::tls::client_builder(settings.ca_file.as_deref())
            .map_err(|e| DraftError::Backend(format!("drafts.openai.{e}")))?
            .timeout(Duration::from_secs(timeout_s.max(1)))
            .connect_timeout(Duration::from_secs(5))
            // A redirect would carry the prompt (ticket text) and the API
            // key's request to a host nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DraftError::Backend(e.to_string()))?;
        Ok(Self {
            client,
            url: format!("{base}/chat/completions"),
            model: settings.model.clone(),
            api_key,
            timeout_s,
        })
    }

    fn failed(&self, err: reqwest::Error) -> DraftError {
        if err.is_timeout() {
            DraftError::Timeout(self.timeout_s)
        } else if let Some(tls) = crate::infra::tls::describe_failure(&err) {
            DraftError::Backend(format!("{}: {tls}", self.url))
        } else {
            // reqwest's message names the URL, never the key.
            DraftError::Backend(format!("{}: {}", self.url, err.without_url()))
        }
    }

    fn too_long(&self, what: &str) -> DraftError {
        DraftError::Backend(format!("{}: {what} is too long", self.url))
    }

    /// Sends the request; a non-2xx answer becomes an error quoting its start.
    async fn send(&self, body: Value) -> Result<reqwest::Response, DraftError> {
        let mut request = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| self.failed(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(ERROR_BODY_CHARS).collect();
        Err(DraftError::Backend(format!(
            "{} answered {status}: {}",
            self.url,
            text.trim()
        )))
    }
}

fn content_of(value: &Value, key: &str) -> Option<String> {
    value
        .get("choices")?
        .get(0)?
        .get(key)?
        .get("content")?
        .as_str()
        .map(str::to_owned)
}

#[async_trait::async_trait]
impl Generator for OpenAiGenerator {
    fn backend(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> String {
        self.model.clone()
    }

    async fn generate(
        &self,
        prompt: &ChatPrompt,
        max_tokens: u32,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> Result<String, DraftError> {
        let body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": deltas.is_some(),
        });
        let mut response = self.send(body).await?;
        let Some(deltas) = deltas else {
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| self.failed(e))? {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_ANSWER {
                    return Err(self.too_long("the answer"));
                }
            }
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                DraftError::Backend(format!("{}: the answer is not JSON: {e}", self.url))
            })?;
            return content_of(&value, "message").ok_or_else(|| {
                DraftError::Backend(format!(
                    "{}: the answer has no choices[0].message.content",
                    self.url
                ))
            });
        };
        // Server-sent events: `data: {json}` lines, ending with `data: [DONE]`.
        let mut pending = Vec::new();
        let mut text = String::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.failed(e))? {
            pending.extend_from_slice(&chunk);
            if pending.len() > MAX_EVENT_LINE && !pending.contains(&b'\n') {
                return Err(self.too_long("a streamed line"));
            }
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    return Ok(text);
                }
                let value: Value = serde_json::from_str(data).map_err(|e| {
                    DraftError::Backend(format!("{}: a streamed event is not JSON: {e}", self.url))
                })?;
                if let Some(error) = value.get("error") {
                    return Err(DraftError::Backend(format!("{}: {}", self.url, error)));
                }
                if let Some(delta) = content_of(&value, "delta") {
                    text.push_str(&delta);
                    if text.len() > MAX_ANSWER {
                        return Err(self.too_long("the answer"));
                    }
                    let _ = deltas.send(delta);
                }
            }
        }
        // A server that closes the stream without [DONE] still said what it said.
        Ok(text)
    }
}
