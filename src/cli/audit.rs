//! `switchboard audit`: verify the audit chain of runbook executions.

use anyhow::Context;
use clap::Subcommand;

use crate::configuration::Settings;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Recompute every MAC of the audit chain and compare it with its anchor
    /// (and a witness's copy); exit 1 at the first broken entry.
    Verify {
        /// A head kept by an external witness, `SEQ:HASH` (from `audit anchor`):
        /// the chain must still contain that entry unchanged.
        #[arg(long)]
        witness: Option<String>,
    },
    /// Print the chain's current head as JSON, for an external witness.
    Anchor,
}

pub(super) async fn audit(settings: &Settings, command: AuditCommand) -> anyhow::Result<()> {
    let pool = crate::infra::db::connect(&crate::app::parts::database_url(settings)).await?;
    let secrets = crate::infra::secrets::Secrets::load(settings.runbooks.secrets_file.as_deref())
        .map_err(anyhow::Error::msg)?;
    let log = crate::app::parts::open_audit(settings, &secrets, pool)?;
    let witness = match command {
        AuditCommand::Anchor => {
            let head = log.head().await?.context("the audit chain is empty")?;
            let head = crate::infra::audit::AnchoredHead {
                seq: head.seq,
                hash: head.hash,
                at: head.at,
            };
            println!("{}", serde_json::to_string(&head)?);
            return Ok(());
        }
        AuditCommand::Verify { witness } => witness,
    };
    let report = log.verify().await?;
    let anchor = match &report.anchor {
        Some(head) => format!(
            "anchor at entry {} ({})",
            head.seq,
            log.anchor().path().display()
        ),
        None => format!("no anchor yet ({})", log.anchor().path().display()),
    };
    if let Some((seq, reason)) = report.broken {
        anyhow::bail!(
            "audit chain broken at entry {seq} of {}: {reason}; {anchor}",
            report.entries
        );
    }
    if let Some(witness) = witness {
        let (seq, hash) = witness
            .split_once(':')
            .and_then(|(seq, hash)| Some((seq.parse::<i64>().ok()?, hash)))
            .context("--witness takes SEQ:HASH")?;
        match log.entry(seq).await? {
            None => anyhow::bail!(
                "the chain ends before entry {seq}, which the witness holds: entries were deleted"
            ),
            Some(entry) if entry.hash != hash => {
                anyhow::bail!("entry {seq} differs from the witness's copy (rewritten)")
            }
            Some(_) => {}
        }
    }
    println!(
        "audit chain intact: {} entries ({} unkeyed from before keying), {anchor}{}",
        report.entries,
        report.legacy_entries,
        if report.unanchored > 0 {
            format!(", {} newer entries not anchored yet", report.unanchored)
        } else {
            String::new()
        }
    );
    Ok(())
}
