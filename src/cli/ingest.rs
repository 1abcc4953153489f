//! `switchboard ingest`: incidents (CSV / JSONL, with a column mapping), here
//! or into a running server (`--server`), and knowledge articles.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::common::{load_service, post_admin};
use super::retrain::print_retrain;
use crate::configuration::Settings;
use crate::domain::Incident;
use crate::ingest::{ColumnMapping, IncidentSink, IngestError, IngestOptions};
use crate::routes::MAX_BATCH;

#[derive(Debug, Subcommand)]
pub(super) enum IngestCommand {
    /// Incidents from a CSV (with header) or JSONL file.
    Incidents {
        /// The file to read.
        file: PathBuf,
        #[command(flatten)]
        mapping: MappingArgs,
        /// Stop at the first bad row instead of skipping it.
        #[arg(long)]
        strict: bool,
        /// Do not retrain the classifier head afterwards.
        #[arg(long)]
        no_retrain: bool,
        /// Send the incidents to the running server at this URL, in batches
        /// (admin token in SWITCHBOARD_TOKEN), while it goes on answering;
        /// without it the store is opened here, so no server may be running on it.
        #[arg(long)]
        server: Option<String>,
    },
    /// Markdown knowledge articles under a directory.
    Kb {
        /// The directory to read.
        dir: PathBuf,
        /// Stop at the first bad article instead of skipping it.
        #[arg(long)]
        strict: bool,
    },
}

#[derive(Debug, Args)]
pub(super) struct MappingArgs {
    /// Column with the incident id (default: id, number, ...).
    #[arg(long)]
    id_column: Option<String>,
    /// Column with the title (default: title, short_description, ...).
    #[arg(long)]
    title_column: Option<String>,
    /// Column(s) joined into the description (default: description, body, ...).
    #[arg(long = "text-column")]
    text_columns: Vec<String>,
    /// Column with the resolution (default: resolution, close_notes, ...).
    #[arg(long)]
    resolution_column: Option<String>,
    /// A label to store: `field` (same column name) or `field=column`; repeatable.
    /// Default: every known label column in the header.
    #[arg(long = "label-column")]
    label_columns: Vec<String>,
}

impl MappingArgs {
    pub(super) fn mapping(&self) -> ColumnMapping {
        let labels: BTreeMap<String, String> = self
            .label_columns
            .iter()
            .map(|spec| match spec.split_once('=') {
                Some((field, column)) => (field.to_owned(), column.to_owned()),
                None => (spec.clone(), spec.clone()),
            })
            .collect();
        ColumnMapping {
            id: self.id_column.clone(),
            title: self.title_column.clone(),
            description: self.text_columns.clone(),
            resolution: self.resolution_column.clone(),
            labels,
            ..ColumnMapping::default()
        }
    }
}

/// A running server as the place ingested incidents go:
/// `POST /v1/incidents/batch`, each request under the server's body limit.
struct ServerSink<'a> {
    settings: &'a Settings,
    server: String,
}

/// Largest JSON body one batch request carries (the server's default
/// limit is 1 MiB).
const BATCH_BYTES: usize = 512 * 1024;

#[async_trait::async_trait]
impl IncidentSink for ServerSink<'_> {
    async fn store(&self, incidents: Vec<Incident>) -> Result<(), IngestError> {
        let mut batch: Vec<serde_json::Value> = Vec::new();
        let mut bytes = 0;
        for incident in incidents {
            let value =
                serde_json::to_value(&incident).map_err(|e| IngestError::Server(e.to_string()))?;
            let size = value.to_string().len();
            if !batch.is_empty() && (bytes + size > BATCH_BYTES || batch.len() == MAX_BATCH) {
                self.send(std::mem::take(&mut batch)).await?;
                bytes = 0;
            }
            bytes += size;
            batch.push(value);
        }
        if !batch.is_empty() {
            self.send(batch).await?;
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), IngestError> {
        // Each batch the server answered is durable there.
        Ok(())
    }
}

impl ServerSink<'_> {
    async fn send(&self, incidents: Vec<serde_json::Value>) -> Result<(), IngestError> {
        let body = serde_json::json!({ "incidents": incidents });
        post_admin(
            self.settings,
            &self.server,
            "/v1/incidents/batch",
            Some(&body),
        )
        .await
        .map(drop)
        .map_err(|e| IngestError::Server(format!("{e:#}")))
    }
}

pub(super) async fn ingest(settings: &Settings, command: IngestCommand) -> anyhow::Result<()> {
    match command {
        IngestCommand::Incidents {
            file,
            mapping,
            strict,
            no_retrain,
            server: Some(server),
        } => {
            let sink = ServerSink {
                settings,
                server: server.clone(),
            };
            let options = IngestOptions {
                strict,
                ..IngestOptions::default()
            };
            let report = crate::ingest::ingest_incidents(&sink, &file, &mapping.mapping(), options)
                .await
                .map_err(|e| match e {
                    IngestError::BadRow(bad) => anyhow::anyhow!(
                        "{}: {bad} (--strict: stopped; rows before it are stored)",
                        file.display()
                    ),
                    other => other.into(),
                })?;
            for bad in &report.skipped {
                eprintln!("skipped {}: {bad}", file.display());
            }
            println!(
                "stored {} incidents on {server}, skipped {} bad rows",
                report.stored,
                report.skipped.len()
            );
            if !no_retrain && settings.triage.classifier.enabled {
                let body = post_admin(settings, &server, "/v1/admin/retrain", None).await?;
                print_retrain(&serde_json::from_value(body)?);
            }
            Ok(())
        }
        IngestCommand::Incidents {
            file,
            mapping,
            strict,
            no_retrain,
            server: None,
        } => {
            let service = load_service(settings).await?;
            let options = IngestOptions {
                strict,
                ..IngestOptions::default()
            };
            let result =
                crate::ingest::ingest_incidents(&service, &file, &mapping.mapping(), options).await;
            match result {
                Ok(report) => {
                    for bad in &report.skipped {
                        eprintln!("skipped {}: {bad}", file.display());
                    }
                    println!(
                        "stored {} incidents, skipped {} bad rows",
                        report.stored,
                        report.skipped.len()
                    );
                    if !no_retrain && settings.triage.classifier.enabled {
                        match service.retrain().await {
                            Ok(report) => print_retrain(&report),
                            Err(crate::triage::TriageError::Classifier(
                                err @ crate::classify::HeadError::NothingToTrain(_),
                            )) => println!(
                                "classifier head not trained ({err}); suggestions come from neighbours alone"
                            ),
                            Err(err) => return Err(err.into()),
                        }
                    }
                    Ok(())
                }
                Err(IngestError::BadRow(bad)) => {
                    anyhow::bail!(
                        "{}: {bad} (--strict: stopped; rows before it are stored)",
                        file.display()
                    )
                }
                Err(err) => Err(err.into()),
            }
        }
        IngestCommand::Kb { dir, strict } => {
            let service = load_service(settings).await?;
            let (articles, chunks, problems) =
                crate::ingest::ingest_knowledge(&service, &dir, strict).await?;
            for problem in &problems {
                eprintln!("skipped {problem}");
            }
            println!(
                "stored {articles} articles ({chunks} chunks), skipped {}",
                problems.len()
            );
            Ok(())
        }
    }
}
