//! `switchboard drafts check`: does the configured draft backend answer?

use clap::Subcommand;

use crate::configuration::Settings;
use crate::drafts::{ChatPrompt, build_generator};

#[derive(Debug, Subcommand)]
pub(super) enum DraftsCommand {
    /// Load the local model or call the chat-completions server once with a
    /// tiny prompt; print the model, the time and the answer's start; exit 1
    /// when it fails.
    Check,
}

/// Runs `switchboard drafts ...`.
pub(super) async fn run(settings: &Settings, command: DraftsCommand) -> anyhow::Result<()> {
    let DraftsCommand::Check = command;
    let secrets = crate::infra::secrets::Secrets::load(settings.runbooks.secrets_file.as_deref())
        .map_err(|e| anyhow::anyhow!("runbooks.secrets_file: {e}"))?;
    let drafts = settings.drafts_with_ca();
    let started = std::time::Instant::now();
    let generator =
        tokio::task::spawn_blocking(move || build_generator(&drafts, &secrets)).await??;
    let Some(generator) = generator else {
        println!(
            "backend extractive: no model to check; drafts are written from the evidence alone"
        );
        return Ok(());
    };
    let loaded_ms = started.elapsed().as_millis();
    let prompt = ChatPrompt {
        system: "You answer in one word.".into(),
        user: "Reply with the word ready.".into(),
    };
    let started = std::time::Instant::now();
    let answer = generator.generate(&prompt, 8, None).await?;
    let answer: String = answer
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(80)
        .collect();
    println!(
        "backend {}: model {} answered in {} ms (loaded in {loaded_ms} ms): {answer:?}",
        generator.backend(),
        generator.model(),
        started.elapsed().as_millis()
    );
    Ok(())
}
