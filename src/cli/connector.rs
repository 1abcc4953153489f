//! `switchboard connector ...`: a connector's jobs, requeue, history import
//! and the live check.

use clap::Subcommand;

use super::common::{get_admin, load_service, post_admin};
use super::retrain::print_retrain;
use crate::configuration::Settings;

#[derive(Debug, Subcommand)]
pub(super) enum ConnectorCommand {
    /// A connector's jobs, newest first: state, attempts, last error.
    Jobs {
        /// Connector name.
        name: String,
        /// Only jobs in this state (queued, running, done, dead).
        #[arg(long)]
        state: Option<String>,
    },
    /// Import the system's resolved tickets as incidents (final labels and
    /// resolutions), resuming an interrupted import, then retrain the head.
    /// With `--server`, a running server does it while it goes on answering.
    Import {
        /// Connector name.
        name: String,
        /// Only tickets resolved since this date (`2026-01-31`, or an RFC 3339 time).
        #[arg(long, value_parser = parse_since)]
        since: Option<i64>,
        /// Have the running server at this URL import (admin token in
        /// SWITCHBOARD_TOKEN); without it the store is opened here, so no
        /// server may be running on it.
        #[arg(long)]
        server: Option<String>,
    },
    /// Test the connector against the live system: its credentials, every
    /// mapped value, and settings that would make it loop or do nothing.
    Check {
        /// Connector name.
        name: String,
    },
    /// Queue a dead job again.
    Requeue {
        /// Connector name.
        name: String,
        /// Job id.
        id: String,
    },
}

/// `--since`: a date (midnight UTC) or an RFC 3339 time, as Unix seconds.
pub(super) fn parse_since(text: &str) -> Result<i64, String> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp());
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|_| format!("{text:?} is neither YYYY-MM-DD nor an RFC 3339 time"))
}

/// Runs a `switchboard connector` command.
pub(super) async fn run(settings: &Settings, command: ConnectorCommand) -> anyhow::Result<()> {
    match &command {
        ConnectorCommand::Import {
            name,
            since,
            server: Some(server),
        } => return import_on_server(settings, server, name, *since).await,
        ConnectorCommand::Import { name, since, .. } => {
            return import(settings, name, *since).await;
        }
        ConnectorCommand::Check { name } => return check(settings, name).await,
        _ => {}
    }
    let pool = crate::infra::db::connect(&crate::app::parts::database_url(settings)).await?;
    let jobs = crate::connectors::JobTable::new(pool, crate::infra::clock::SystemClock::shared());
    match command {
        ConnectorCommand::Jobs { name, state } => {
            let state = state
                .map(|s| {
                    serde_json::from_value::<crate::connectors::JobState>(
                        serde_json::Value::String(s.clone()),
                    )
                    .map_err(|_| {
                        anyhow::anyhow!("unknown state {s:?}: queued, running, done or dead")
                    })
                })
                .transpose()?;
            println!(
                "{:<36} {:<8} {:>8} {:<12} last error",
                "job", "state", "attempts", "ticket"
            );
            for job in jobs.list(&name, state).await? {
                println!(
                    "{:<36} {:<8} {:>8} {:<12} {}",
                    job.id,
                    serde_json::to_value(job.state)?
                        .as_str()
                        .unwrap_or_default(),
                    job.attempts,
                    job.ticket_id,
                    job.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        ConnectorCommand::Import { .. } | ConnectorCommand::Check { .. } => {
            unreachable!("handled above")
        }
        ConnectorCommand::Requeue { name, id } => {
            if jobs.requeue(&name, &id).await? {
                println!("job {id} queued again (a running server takes it within a second)");
                Ok(())
            } else {
                anyhow::bail!("no dead job {id} for connector {name}")
            }
        }
    }
}

async fn import(settings: &Settings, name: &str, since: Option<i64>) -> anyhow::Result<()> {
    let connectors = crate::app::parts::connectors_for_tools(settings).await?;
    let service = load_service(settings).await?;
    let mut progress: Option<crate::ingest::Progress> = None;
    let report = connectors
        .import(name, since, &service, |done, total| {
            let bar = progress.get_or_insert_with(|| {
                crate::ingest::Progress::new(
                    &format!("importing {name}"),
                    "tickets",
                    total.unwrap_or(0),
                )
            });
            bar.update(done as u64, done as u64);
        })
        .await
        .map_err(anyhow::Error::msg)?;
    if let Some(bar) = &progress {
        bar.finish((report.imported + report.skipped) as u64);
    }
    service.flush().await?;
    println!(
        "imported {} resolved tickets ({} without text skipped) in {} pages",
        report.imported, report.skipped, report.pages
    );
    if settings.triage.classifier.enabled && report.imported > 0 {
        print_retrain(&service.retrain().await?);
    }
    Ok(())
}

/// Has the server at `server` import `name`'s history, showing its
/// progress until it is done.
async fn import_on_server(
    settings: &Settings,
    server: &str,
    name: &str,
    since: Option<i64>,
) -> anyhow::Result<()> {
    use crate::connectors::{ImportProgress, ImportState};
    let path = format!("/v1/admin/connectors/{name}/import");
    let body = serde_json::json!({ "since": since });
    let mut progress: ImportProgress =
        serde_json::from_value(post_admin(settings, server, &path, Some(&body)).await?)?;
    let mut bar: Option<crate::ingest::Progress> = None;
    while progress.state == ImportState::Running {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        progress = serde_json::from_value(get_admin(settings, server, &path).await?)?;
        let shown = bar.get_or_insert_with(|| {
            crate::ingest::Progress::new(
                &format!("importing {name} on {server}"),
                "tickets",
                progress.total.unwrap_or(0),
            )
        });
        shown.update(progress.done as u64, progress.done as u64);
    }
    if let Some(bar) = &bar {
        bar.finish(progress.done as u64);
    }
    match (progress.state, progress.report) {
        (ImportState::Done, Some(report)) => {
            println!(
                "imported {} resolved tickets ({} without text skipped) in {} pages",
                report.imported, report.skipped, report.pages
            );
            if let Some(version) = progress.head_version {
                println!("classifier head retrained; version {version}");
            }
            Ok(())
        }
        _ => anyhow::bail!(
            "the import failed: {} (run it again: it resumes where it stopped)",
            progress.error.unwrap_or_default()
        ),
    }
}

async fn check(settings: &Settings, name: &str) -> anyhow::Result<()> {
    use crate::connectors::CheckLevel;
    let connectors = crate::app::parts::connectors_for_tools(settings).await?;
    let findings = connectors.check(name).await.map_err(anyhow::Error::msg)?;
    for finding in &findings {
        let tag = match finding.level {
            CheckLevel::Ok => "ok",
            CheckLevel::Warning => "warning",
            CheckLevel::Problem => "PROBLEM",
        };
        println!("{tag:<8} {}", finding.message);
    }
    let problems = findings
        .iter()
        .filter(|f| f.level == CheckLevel::Problem)
        .count();
    if problems > 0 {
        anyhow::bail!("connector {name}: {problems} problem(s)");
    }
    println!("connector {name} looks right");
    Ok(())
}
