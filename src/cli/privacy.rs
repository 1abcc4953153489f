//! `switchboard forget` (erasure on request) and `switchboard retention run`:
//! here, on a stopped deployment's data, or on a running server (`--server`).

use anyhow::Context;
use clap::{Args, Subcommand};

use super::common::post_admin;
use crate::configuration::Settings;
use crate::privacy::{ForgetReport, ForgetRequest, RetentionReport};

/// `switchboard forget`.
#[derive(Debug, Args)]
pub(super) struct ForgetArgs {
    /// The ticket to forget, by the id Switchboard knows it by
    /// (`helpdesk:42` for a connector's ticket).
    #[arg(long, conflicts_with = "email", required_unless_present = "email")]
    ticket: Option<String>,
    /// Forget every ticket that mentioned this e-mail address.
    #[arg(long)]
    email: Option<String>,
    /// Ask a running server (admin token in SWITCHBOARD_TOKEN). Without it
    /// the data is opened here, so no server may be running on it.
    #[arg(long)]
    server: Option<String>,
}

/// `switchboard retention ...`.
#[derive(Debug, Subcommand)]
pub(super) enum RetentionCommand {
    /// Delete now what is past its retention (`[privacy] *_retention_days`).
    Run {
        /// Ask a running server (admin token in SWITCHBOARD_TOKEN).
        #[arg(long)]
        server: Option<String>,
    },
}

fn print_forget(report: &ForgetReport) {
    println!(
        "forgotten: {} ticket(s); removed {} review record(s), {} draft(s), {} feedback entr(ies), {} job(s), {} storm row(s); audit entry {}",
        report.tickets.len(),
        report.review_records,
        report.drafts,
        report.feedback,
        report.jobs,
        report.storm_rows,
        report.audit_seq
    );
}

/// Runs `switchboard forget`.
pub(super) async fn forget(settings: &Settings, args: ForgetArgs) -> anyhow::Result<()> {
    let request = match (args.ticket, args.email) {
        (Some(ticket), _) => ForgetRequest::Ticket(ticket),
        (None, Some(email)) => ForgetRequest::Email(email),
        (None, None) => anyhow::bail!("give --ticket ID or --email ADDRESS"),
    };
    request.validate()?;
    let report =
        match args.server {
            Some(server) => {
                let body = serde_json::to_value(&request)?;
                serde_json::from_value(
                    post_admin(settings, &server, "/v1/admin/forget", Some(&body)).await?,
                )?
            }
            None => {
                let privacy = crate::app::parts::privacy_for_tools(settings).await.context(
                "cannot open the data; if `switchboard serve` is running on it, use --server",
            )?;
                privacy.process_forget(&request, "cli").await?
            }
        };
    print_forget(&report);
    Ok(())
}

/// Runs `switchboard retention run`.
pub(super) async fn retention(
    settings: &Settings,
    command: RetentionCommand,
) -> anyhow::Result<()> {
    let RetentionCommand::Run { server } = command;
    let report: RetentionReport =
        match server {
            Some(server) => serde_json::from_value(
                post_admin(settings, &server, "/v1/admin/retention", None).await?,
            )?,
            None => {
                let privacy = crate::app::parts::privacy_for_tools(settings).await.context(
                "cannot open the data; if `switchboard serve` is running on it, use --server",
            )?;
                privacy.process_retention().await?
            }
        };
    println!(
        "deleted past their retention: {} finished job(s), {} review record(s), {} kept original(s), {} draft(s), {} storm(s)",
        report.jobs, report.review_records, report.originals, report.drafts, report.storms
    );
    Ok(())
}
