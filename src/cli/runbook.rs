//! `switchboard runbook`: list, validate and plan runbooks, and run one from the command line.

use std::path::PathBuf;

use clap::Subcommand;

use crate::configuration::Settings;

#[derive(Debug, Subcommand)]
pub(super) enum RunbookCommand {
    /// The valid runbooks.
    List,
    /// Check every runbook file; exit 1 with file, field and reason for each problem.
    Validate {
        /// Runbook directory (default: runbooks.dir from the settings).
        dir: Option<PathBuf>,
    },
    /// Validate parameters and target and print what a run would execute.
    Run {
        /// Runbook id.
        id: String,
        /// A parameter, `name=value`; repeatable. The target is `target=<item>`.
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Run only the check steps (no approval needed).
        #[arg(long)]
        dry_run: bool,
    },
}

pub(super) fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not name=value"))
}

pub(super) async fn runbook(settings: &Settings, command: RunbookCommand) -> anyhow::Result<()> {
    use crate::runbook::{Catalog, Inventory};
    let dir = match &command {
        RunbookCommand::Validate { dir: Some(dir) } => dir.clone(),
        _ => settings.runbooks.dir.clone(),
    };
    let (catalog, problems) = Catalog::load(&dir, &settings.runbooks.work_root);
    match command {
        RunbookCommand::Validate { .. } => {
            let inventory = dir.join(crate::runbook::INVENTORY_FILE);
            let inventory_problem = Inventory::load(&inventory).err();
            for problem in &problems {
                eprintln!("{problem}");
            }
            if let Some(problem) = &inventory_problem {
                eprintln!("{problem}");
            }
            let count = catalog.runbooks().count();
            if problems.is_empty() && inventory_problem.is_none() {
                println!("{count} runbooks valid in {}", dir.display());
                Ok(())
            } else {
                anyhow::bail!(
                    "{} problems in {} ({count} runbooks valid)",
                    problems.len() + usize::from(inventory_problem.is_some()),
                    dir.display()
                )
            }
        }
        RunbookCommand::List => {
            for problem in &problems {
                eprintln!("skipped: {problem}");
            }
            println!(
                "{:<24} {:>3} {:<7} {:<7} title",
                "id", "ver", "risk", "approval"
            );
            for rb in catalog.runbooks() {
                println!(
                    "{:<24} {:>3} {:<7} {:<7} {}",
                    rb.id,
                    rb.version,
                    format!("{:?}", rb.risk).to_lowercase(),
                    format!("{:?}", rb.approval.mode).to_lowercase(),
                    rb.title
                );
            }
            Ok(())
        }
        RunbookCommand::Run {
            id,
            params,
            dry_run,
        } => {
            let pool = crate::app::parts::state_database(settings).await?;
            let automation = crate::app::parts::automation(
                settings,
                pool,
                crate::infra::clock::SystemClock::shared(),
            )
            .await?;
            let caller = crate::auth::Caller {
                name: format!(
                    "cli:{}",
                    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
                ),
                role: crate::auth::Role::Agent,
            };
            let request = crate::automation::ExecutionRequest {
                runbook: id,
                params: params
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
                ticket_id: None,
                idempotency_key: None,
                dry_run,
                emergency: false,
                justification: None,
            };
            let (mut execution, _) = automation
                .request(request, &caller)
                .await
                .map_err(|e| anyhow::anyhow!("refused: {e}"))?;
            use crate::automation::ExecutionState as S;
            while matches!(execution.state, S::Approved | S::Running) {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                execution = automation.get(&execution.id).await?;
            }
            println!("{}", serde_json::to_string_pretty(&execution)?);
            match execution.state {
                S::Succeeded => Ok(()),
                S::PendingApproval => {
                    eprintln!(
                        "execution {} waits for approval: POST /v1/executions/{}/approve",
                        execution.id, execution.id
                    );
                    Ok(())
                }
                S::Scheduled => {
                    eprintln!(
                        "execution {} is deferred by a change freeze; it starts when its window opens",
                        execution.id
                    );
                    Ok(())
                }
                other => anyhow::bail!("execution {} ended {}", execution.id, other.as_str()),
            }
        }
    }
}
