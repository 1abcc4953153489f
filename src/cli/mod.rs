//! Command line: the commands and their dispatch, `serve` and what several
//! commands share; each command's own work is in its file (`ingest.rs`,
//! `eval.rs`, `bench.rs`, `retrain.rs`, `runbook.rs`, `audit.rs`,
//! `connector.rs`, `problems.rs`, `migrate.rs`, `drafts.rs`, `privacy.rs`). Each asks
//! `crate::app::parts` for only the services it needs.

mod audit;
mod bench;
mod common;
mod connector;
mod drafts;
mod eval;
mod ingest;
mod migrate;
mod point_text;
mod privacy;
mod problems;
mod reembed;
mod retrain;
mod runbook;

use audit::{AuditCommand, audit};
use bench::{BenchCommand, bench_embed, bench_recall, reindex};
use eval::{EvalArgs, eval};
use ingest::{IngestCommand, ingest};
use retrain::{RetrainArgs, retrain};
use runbook::{RunbookCommand, runbook};

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::configuration::Settings;

/// Self-hosted AI triage for IT service desks.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// TOML settings file (default: ./switchboard.toml when present).
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve,
    /// Load incidents or knowledge articles into the store.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Score suggestions: store TRAIN in a temporary store, triage every TEST row.
    Eval(EvalArgs),
    /// Measure performance.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Rebuild the search indexes with the configured `store.hnsw_m`,
    /// `store.hnsw_ef_construct` and `store.int8_search` (run it while no server holds
    /// the data directory).
    Reindex,
    /// Re-embed every point of the store with the encoder `[model] dir` names,
    /// after changing or fine-tuning it: the embedded store is replaced whole (run
    /// it while no server holds the data directory; a run stopped anywhere leaves
    /// the old store or the new one), a Qdrant server's collections are written
    /// anew under `--into-prefix`.
    Reembed(reembed::ReembedArgs),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Rebuild the classifier head from every stored incident (feedback included).
    Retrain(RetrainArgs),
    /// Runbook catalog: list, validate, plan a run.
    #[command(subcommand)]
    Runbook(RunbookCommand),
    /// The audit trail of runbook executions.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Ticketing-system connectors: their jobs.
    #[command(subcommand)]
    Connector(connector::ConnectorCommand),
    /// Problem candidates: cluster the stored incidents and report the
    /// recurring clusters (JSON and HTML with `--report DIR`).
    Problems(problems::ProblemsArgs),
    /// Copy the embedded store to the Qdrant server of `[store.qdrant]`
    /// (resumable, counts verified); stop `serve` on the store first.
    MigrateStore(migrate::MigrateArgs),
    /// Suggested resolutions: check that the configured backend answers.
    #[command(subcommand)]
    Drafts(drafts::DraftsCommand),
    /// Forget a ticket, or every ticket that mentioned an e-mail address,
    /// with everything derived from it (audited without the address).
    Forget(privacy::ForgetArgs),
    /// Retention of ticket text: delete now what is past its retention.
    #[command(subcommand)]
    Retention(privacy::RetentionCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a new random token and the settings entry (with its hash) to add.
    New {
        /// Name recorded as the caller.
        #[arg(long)]
        name: String,
        /// viewer, agent, approver, change_manager or admin.
        #[arg(long, value_parser = parse_role)]
        role: crate::auth::Role,
    },
}

fn parse_role(s: &str) -> Result<crate::auth::Role, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        format!("unknown role {s:?}: use viewer, agent, approver, change_manager or admin")
    })
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        if let Command::Token(TokenCommand::New { name, role }) = &self.command {
            let token = crate::auth::generate_token();
            println!("token (shown once, give it to the caller): {token}");
            println!("add to switchboard.toml:\n");
            println!(
                "[[auth.tokens]]\nname = {name:?}\nrole = \"{}\"\nsha256 = \"{}\"",
                serde_json::to_value(role)?.as_str().unwrap_or_default(),
                crate::auth::hash_token(&token)
            );
            return Ok(());
        }
        let mut settings = Settings::load(self.config.as_deref()).context("invalid settings")?;
        match self.command {
            Command::Token(_) => Ok(()),
            Command::Serve => serve(settings).await,
            Command::Retrain(args) => retrain(&settings, args).await,
            Command::Reindex => reindex(&settings),
            Command::Reembed(args) => reembed::run(&settings, args).await,
            Command::Runbook(command) => runbook(&settings, command).await,
            Command::Audit(command) => audit(&settings, command).await,
            Command::Connector(command) => connector::run(&settings, command).await,
            Command::Problems(args) => problems::run(&settings, args).await,
            Command::MigrateStore(args) => migrate::run(&settings, args).await,
            Command::Drafts(command) => drafts::run(&settings, command).await,
            Command::Forget(args) => privacy::forget(&settings, args).await,
            Command::Retention(command) => privacy::retention(&settings, command).await,
            Command::Ingest(command) => ingest(&settings, command).await,
            Command::Bench(BenchCommand::Embed {
                file,
                limit,
                batch,
                repeat,
                texts_out,
            }) => bench_embed(&settings, &file, limit, batch, repeat, texts_out.as_deref()),
            Command::Bench(BenchCommand::Recall { file, limit, k }) => {
                bench_recall(&settings, &file, limit, k)
            }
            Command::Eval(args) => {
                let temp = tempfile::tempdir().context("cannot create a temporary store")?;
                settings.data_dir = temp.path().to_path_buf();
                eval(&settings, args).await
            }
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
    crate::server::run(listener, settings, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down; draining in-flight requests");
}
