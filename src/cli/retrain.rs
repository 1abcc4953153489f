//! `switchboard retrain`: rebuild the classifier head here, or on a running server.

use anyhow::Context;
use clap::Args;

use super::common::{load_service, post_admin};
use crate::configuration::Settings;

#[derive(Debug, Args)]
pub(super) struct RetrainArgs {
    /// Ask a running server to retrain (it keeps answering with the old head
    /// until the new one is ready); the admin token is read from SWITCHBOARD_TOKEN.
    /// Without it the store is opened directly, so no server may be running on it.
    #[arg(long)]
    server: Option<String>,
}

pub(super) fn print_retrain(report: &crate::triage::RetrainReport) {
    println!(
        "classifier head retrained on {} incidents ({} terms; fields: {}) in {:.1} s; version {}",
        report.incidents,
        report.terms,
        report.fields.join(", "),
        report.took_ms / 1000.0,
        report.version
    );
}

pub(super) async fn retrain(settings: &Settings, args: RetrainArgs) -> anyhow::Result<()> {
    let Some(server) = args.server else {
        let service = load_service(settings).await.context(
            "cannot open the store; if `switchboard serve` is running on it, use --server",
        )?;
        print_retrain(&service.retrain().await?);
        return Ok(());
    };
    let body = post_admin(settings, &server, "/v1/admin/retrain", None).await?;
    let report: crate::triage::RetrainReport = serde_json::from_value(body)?;
    print_retrain(&report);
    Ok(())
}
