//! `switchboard problems`: cluster the stored incidents into problem
//! candidates, keep the report as the store's last one (served by
//! `GET /v1/problems`), print a summary, and with `--report DIR` write it as
//! JSON and HTML. With `--server` a running server does the work on its store.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::connector::parse_since;
use crate::configuration::Settings;
use crate::problems::{ProblemOptions, ProblemReport, find_problems, report};

#[derive(Debug, Args)]
pub(super) struct ProblemsArgs {
    /// Only incidents opened since this date (`2026-01-31`, or an RFC 3339 time).
    #[arg(long, value_parser = parse_since)]
    since: Option<i64>,
    /// Write `problems.json` and `problems.html` into this directory.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Cosine similarity at which two incidents are neighbours.
    #[arg(long, default_value_t = ProblemOptions::default().similarity)]
    similarity: f32,
    /// Incidents a cluster needs.
    #[arg(long, default_value_t = ProblemOptions::default().min_size)]
    min_size: usize,
    /// Ask a running server (e.g. `http://127.0.0.1:8080`) to make the report
    /// on its store; needs an admin token in SWITCHBOARD_TOKEN. Without it the
    /// store is opened directly, so no server may be running on it.
    #[arg(long)]
    server: Option<String>,
}

/// Runs `switchboard problems`.
pub(super) async fn run(settings: &Settings, args: ProblemsArgs) -> anyhow::Result<()> {
    let options = ProblemOptions {
        since: args.since.map(|s| s * 1000),
        similarity: args.similarity,
        min_size: args.min_size,
        ..ProblemOptions::default()
    };
    let found = match &args.server {
        Some(server) => ask_server(settings, server, &options).await?,
        None => {
            let encoder = crate::embed::EncoderIdentity::read(&settings.model.dir)?;
            let store = crate::app::parts::open_vector_store(settings, &encoder).context(
                "cannot open the store; if `switchboard serve` is running on it, use --server",
            )?;
            let options = options.clone();
            let found =
                tokio::task::spawn_blocking(move || find_problems(store.as_ref(), &options))
                    .await
                    .context("the clustering task failed")??;
            let pool = crate::app::parts::state_database(settings).await?;
            report::LastReport::new(pool, &settings.data_dir)
                .save(&found)
                .await?;
            found
        }
    };
    print_summary(&found);
    if let Some(dir) = &args.report {
        report::write(dir, &found)?;
        println!("report: {}", dir.join("problems.html").display());
    }
    Ok(())
}

async fn ask_server(
    settings: &Settings,
    server: &str,
    options: &ProblemOptions,
) -> anyhow::Result<ProblemReport> {
    let body = serde_json::to_value(options)?;
    let answer =
        super::common::post_admin(settings, server, "/v1/admin/problems", Some(&body)).await?;
    Ok(serde_json::from_value(answer)?)
}

fn print_summary(found: &ProblemReport) {
    println!(
        "{} incidents, {} in {} recurring clusters ({:.1} s)",
        found.incidents,
        found.clustered,
        found.clusters,
        found.took_ms / 1000.0
    );
    println!("{:>5}  {:<8} {:<10} problem", "size", "trend", "knowledge");
    for problem in &found.problems {
        println!(
            "{:>5}  {:<8} {:<10} {}",
            problem.size,
            problem.trend.direction,
            if problem.knowledge_gap {
                "gap"
            } else {
                "covered"
            },
            problem.terms.join(" ")
        );
    }
}
