//! `switchboard ingest`: incidents (CSV / JSONL, with a column mapping) and knowledge articles.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::common::load_service;
use super::retrain::print_retrain;
use crate::configuration::Settings;
use crate::ingest::{ColumnMapping, IngestError, IngestOptions};

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

pub(super) async fn ingest(settings: &Settings, command: IngestCommand) -> anyhow::Result<()> {
    let service = load_service(settings).await?;
    match command {
        IngestCommand::Incidents {
            file,
            mapping,
            strict,
            no_retrain,
        } => {
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
