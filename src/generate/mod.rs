//! Local text generation: a quantized GGUF instruct model (llama, qwen2 or
//! qwen3 architecture: SmolLM2, Qwen2.5, Qwen3; ChatML prompts) run by
//! candle-transformers on a thread of its own,
//! behind a channel, so generation never runs on the triage path. With
//! [`crate::embed`], the only module that imports candle or tokenizers.
//!
//! The thread runs its work inside a rayon pool of its own (`threads`
//! workers), so candle's parallel kernels stay off the global pool the
//! embedding model uses, and every one of those threads is scheduled
//! `SCHED_IDLE`: it only gets CPU time that triage leaves unused, so drafts
//! never slow triage (under sustained full load they wait instead).

mod gguf;

use std::path::Path;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use tokio::sync::{mpsc, oneshot};

/// Failures of local generation.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The model file cannot be used.
    #[error("cannot load the model: {0}")]
    Load(String),
    /// A forward pass or the tokenizer failed.
    #[error("generation failed: {0}")]
    Failed(String),
    /// The prompt does not fit the model's context with room to answer.
    #[error("the prompt is {0} tokens: too long for the model's context")]
    TooLong(usize),
    /// The generation thread has stopped.
    #[error("the generation thread has stopped")]
    Stopped,
}

/// Tokens of prompt plus answer the thread accepts (SmolLM2 and the llama
/// family take more; this bounds the memory of the KV cache).
const CONTEXT: usize = 4096;
/// Tokens a repeated run must span to stop generation as a loop.
const LOOP_SPAN: usize = 12;
/// Tokens back the repetition penalty looks.
const PENALTY_WINDOW: usize = 64;
/// Jobs waiting for the thread; more are refused by the drafting service's
/// own limit first.
const QUEUE: usize = 8;

struct Job {
    system: String,
    user: String,
    max_tokens: u32,
    deltas: Option<mpsc::UnboundedSender<String>>,
    reply: oneshot::Sender<Result<String, GenerateError>>,
}

/// Asked before every token: while it says true, generation waits (for
/// foreground work such as a triage request to finish).
pub type Yield = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// How long generation sleeps between two looks while it yields.
const YIELD_POLL: std::time::Duration = std::time::Duration::from_micros(200);

/// A loaded model and the thread that runs it; cheap to share.
pub struct LocalModel {
    jobs: std::sync::mpsc::SyncSender<Job>,
    name: String,
}

impl LocalModel {
    /// Loads the GGUF file at `path` (its slow-format tensors requantized to
    /// Q8_0) and starts its thread with `threads` workers.
    /// Before each token, generation waits while `yield_to()` says true.
    pub fn load(
        path: &Path,
        threads: usize,
        repeat_penalty: f32,
        yield_to: Yield,
    ) -> Result<Self, GenerateError> {
        let started = std::time::Instant::now();
        let loaded = gguf::load(path)?;
        tracing::info!(
            model = %loaded.name,
            requantized_tensors = loaded.requantized,
            took_ms = started.elapsed().as_millis() as u64,
            "generation model loaded"
        );
        let name = loaded.name.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("generate-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|e| GenerateError::Load(e.to_string()))?;
        let (jobs, receiver) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("generate".into())
            .spawn(move || {
                lower_priority();
                let mut loaded = loaded;
                while let Ok(job) = receiver.recv() {
                    if job.reply.is_closed() {
                        continue; // its caller gave up while it waited
                    }
                    let result =
                        pool.install(|| run(&mut loaded, &job, repeat_penalty, yield_to.as_ref()));
                    let _ = job.reply.send(result);
                }
            })
            .map_err(|e| GenerateError::Load(e.to_string()))?;
        Ok(Self { jobs, name })
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes the assistant's answer to a system and a user message (ChatML),
    /// greedily, at most `max_tokens` tokens; text goes to `deltas` as it
    /// comes. Dropping the future stops the work at the next token.
    pub async fn generate(
        &self,
        system: &str,
        user: &str,
        max_tokens: u32,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> Result<String, GenerateError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            system: system.to_owned(),
            user: user.to_owned(),
            max_tokens,
            deltas,
            reply,
        };
        self.jobs
            .try_send(job)
            .map_err(|_| GenerateError::Stopped)?;
        answer.await.map_err(|_| GenerateError::Stopped)?
    }
}

/// Creates candle's shared CPU worker pool (the threads its quantized matmuls
/// fan out to) from a `SCHED_IDLE` thread, so its workers inherit that class
/// and the local model's work never competes with triage. Call it before
/// anything else in the process uses candle (the embedding model's load does);
/// later calls change nothing.
pub fn start_idle_workers() {
    let started = std::thread::Builder::new()
        .name("generate-init".into())
        .spawn(|| {
            lower_priority();
            candle_core::utils::barrier_pool().n_workers()
        })
        .map(|thread| thread.join());
    if let Ok(Ok(workers)) = started {
        tracing::debug!(workers, "candle worker pool started at idle priority");
    }
}

/// Puts the calling thread on `SCHED_IDLE` (Linux): it runs only on CPU time
/// no other thread wants. Where that is refused, generation runs at normal
/// priority and says so once.
fn lower_priority() {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(err) = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Min,
        idle,
    ) {
        tracing::warn!(error = ?err, "generation thread keeps normal priority");
    }
}

fn failed(err: impl std::fmt::Display) -> GenerateError {
    GenerateError::Failed(err.to_string())
}

/// ChatML, as SmolLM2 and Qwen2 instruct models are trained on.
fn chat(system: &str, user: &str) -> String {
    format!(
        "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )
}

fn looping(tokens: &[u32]) -> bool {
    tokens.len() >= 2 * LOOP_SPAN
        && tokens[tokens.len() - LOOP_SPAN..]
            == tokens[tokens.len() - 2 * LOOP_SPAN..tokens.len() - LOOP_SPAN]
}

fn run(
    model: &mut gguf::LoadedModel,
    job: &Job,
    repeat_penalty: f32,
    yield_to: &(dyn Fn() -> bool + Send + Sync),
) -> Result<String, GenerateError> {
    // Ticket text cannot smuggle in chat markers: they are only special here.
    let system = job.system.replace("<|", "< |");
    let user = job.user.replace("<|", "< |");
    let prompt = model
        .tokenizer
        .encode(chat(&system, &user), false)
        .map_err(failed)?
        .get_ids()
        .to_vec();
    if prompt.len() + job.max_tokens as usize > CONTEXT {
        return Err(GenerateError::TooLong(prompt.len()));
    }
    model.weights.clear_kv_cache();
    let device = Device::Cpu;
    let mut sampler = LogitsProcessor::from_sampling(0, Sampling::ArgMax);
    let mut generated: Vec<u32> = Vec::new();
    let mut shown = String::new();
    let mut input = prompt;
    let mut position = 0;
    for _ in 0..job.max_tokens {
        while yield_to() && !job.reply.is_closed() {
            std::thread::sleep(YIELD_POLL);
        }
        if job.reply.is_closed() {
            break; // the caller timed out or went away
        }
        let x = Tensor::new(input.as_slice(), &device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(failed)?;
        let logits = model
            .weights
            .forward(&x, position)
            .and_then(|l| l.squeeze(0))
            .map_err(failed)?;
        position += input.len();
        let logits = if (repeat_penalty - 1.0).abs() > f32::EPSILON {
            let start = generated.len().saturating_sub(PENALTY_WINDOW);
            candle_transformers::utils::apply_repeat_penalty(
                &logits,
                repeat_penalty,
                &generated[start..],
            )
            .map_err(failed)?
        } else {
            logits
        };
        let next = sampler.sample(&logits).map_err(failed)?;
        if model.stop_tokens.contains(&next) {
            break;
        }
        generated.push(next);
        let text = model.tokenizer.decode(&generated, true).map_err(failed)?;
        if !text.ends_with('\u{FFFD}') {
            if let (Some(delta), Some(deltas)) = (text.strip_prefix(shown.as_str()), &job.deltas)
                && !delta.is_empty()
            {
                let _ = deltas.send(delta.to_owned());
            }
            shown = text;
        }
        if looping(&generated) {
            break;
        }
        input = vec![next];
    }
    model.tokenizer.decode(&generated, true).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_run_is_a_loop() {
        let mut tokens: Vec<u32> = (0..5).collect();
        let run: Vec<u32> = (100..100 + LOOP_SPAN as u32).collect();
        tokens.extend(&run);
        assert!(!looping(&tokens));
        tokens.extend(&run);
        assert!(looping(&tokens));
    }

    #[test]
    fn chat_markers_frame_the_two_messages() {
        let prompt = chat("Be brief.", "Hi");
        assert!(prompt.starts_with("<|im_start|>system\nBe brief.<|im_end|>"));
        assert!(prompt.ends_with("<|im_start|>assistant\n"));
    }
}
