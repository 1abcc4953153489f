//! Command line: `serve`, `ingest`, `retrain`, `eval`, `runbook`, `audit`,
//! `connector` (in `connector.rs`), and the benchmarks' helpers.

mod connector;
mod drafts;
mod migrate;
mod problems;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::configuration::Settings;
use crate::ingest::{ColumnMapping, IngestError, IngestOptions};

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
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
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

#[derive(Debug, Subcommand)]
enum RunbookCommand {
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

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not name=value"))
}

#[derive(Debug, Args)]
struct RetrainArgs {
    /// Ask a running server to retrain (it keeps answering with the old head
    /// until the new one is ready); the admin token is read from SWITCHBOARD_TOKEN.
    /// Without it the store is opened directly, so no server may be running on it.
    #[arg(long)]
    server: Option<String>,
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

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Embedding throughput on the ticket texts of an incident file.
    Embed {
        /// CSV or JSONL incident file (title + description are embedded).
        #[arg(long)]
        file: PathBuf,
        /// Use at most this many texts.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Texts per forward pass.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Time this many runs and report the fastest.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Also write the texts, one JSON string per line, for `benches/pytorch-compare.sh`.
        #[arg(long)]
        texts_out: Option<PathBuf>,
    },
    /// Recall of indexed incident search against exact search, on the configured store
    /// and index settings (`store.search_ef`), with tickets of FILE as queries. The
    /// times include reading each hit's payload in a freshly started process. Run it
    /// while no server holds the data directory.
    Recall {
        /// CSV or JSONL incident file whose tickets are the queries.
        #[arg(long)]
        file: PathBuf,
        /// Use at most this many queries.
        #[arg(long, default_value_t = 200)]
        limit: usize,
        /// Neighbours compared per query.
        #[arg(long, default_value_t = 10)]
        k: usize,
    },
}

#[derive(Debug, Subcommand)]
enum IngestCommand {
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
struct MappingArgs {
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
    fn mapping(&self) -> ColumnMapping {
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

#[derive(Debug, Args)]
struct EvalArgs {
    /// Incidents to learn from.
    #[arg(long)]
    train: PathBuf,
    /// Incidents to triage and score.
    #[arg(long)]
    test: PathBuf,
    /// Label field(s) to score; repeatable.
    #[arg(long = "label", required = true)]
    labels: Vec<String>,
    /// Pick each field's auto-route threshold to reach this precision on
    /// cross-fitted predictions for TRAIN (never on TEST), and report it on TEST.
    #[arg(long, value_parser = parse_probability)]
    target_precision: Option<f64>,
    /// Folds of TRAIN for calibration: each is triaged by neighbours and a
    /// head trained without it (one retrain per fold).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(2..=50))]
    calibration_folds: u16,
    /// Training tickets this similar (cosine) to their nearest other training
    /// ticket count as near-duplicates when measuring how consistently TRAIN
    /// is labelled.
    #[arg(long, default_value_t = 0.97, value_parser = parse_probability)]
    near_duplicate_similarity: f64,
    /// Write report.json and one SVG chart per label into this directory.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Keep embeddings in this file between runs (keyed by text; one file per model).
    #[arg(long)]
    embedding_cache: Option<PathBuf>,
    #[command(flatten)]
    mapping: MappingArgs,
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a number between 0 and 1")),
    }
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
            Command::Runbook(command) => runbook(&settings, command).await,
            Command::Audit(command) => audit(&settings, command).await,
            Command::Connector(command) => connector::run(&settings, command).await,
            Command::Problems(args) => problems::run(&settings, args).await,
            Command::MigrateStore(args) => migrate::run(&settings, args).await,
            Command::Drafts(command) => drafts::run(&settings, command).await,
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
    crate::startup::run(listener, settings, shutdown_signal()).await
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

async fn load_service(settings: &Settings) -> anyhow::Result<crate::triage::TriageService> {
    let pool = crate::startup::connect_state(settings).await?;
    crate::startup::build_service(settings, pool).await
}

async fn ingest(settings: &Settings, command: IngestCommand) -> anyhow::Result<()> {
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

async fn audit(settings: &Settings, command: AuditCommand) -> anyhow::Result<()> {
    let pool = crate::automation::connect(&crate::startup::database_url(settings)).await?;
    let secrets = crate::runbook::Secrets::load(settings.runbooks.secrets_file.as_deref())
        .map_err(anyhow::Error::msg)?;
    let log = crate::startup::open_audit(settings, &secrets, pool)?;
    let witness = match command {
        AuditCommand::Anchor => {
            let head = log.head().await?.context("the audit chain is empty")?;
            let head = crate::automation::AnchoredHead {
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

async fn runbook(settings: &Settings, command: RunbookCommand) -> anyhow::Result<()> {
    use crate::runbook::{Catalog, Inventory};
    let dir = match &command {
        RunbookCommand::Validate { dir: Some(dir) } => dir.clone(),
        _ => settings.runbooks.dir.clone(),
    };
    let (catalog, problems) = Catalog::load(&dir);
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
            let pool = crate::startup::connect_state(settings).await?;
            let automation = crate::startup::build_automation(settings, pool).await?;
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

fn print_retrain(report: &crate::triage::RetrainReport) {
    println!(
        "classifier head retrained on {} incidents ({} terms; fields: {}) in {:.1} s; version {}",
        report.incidents,
        report.terms,
        report.fields.join(", "),
        report.took_ms / 1000.0,
        report.version
    );
}

/// POSTs `body` (or nothing) to `path` on a running server with the admin
/// token in `SWITCHBOARD_TOKEN`, and returns its JSON answer; an error answer
/// becomes an error with the server's message.
async fn post_admin(
    server: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let token = std::env::var("SWITCHBOARD_TOKEN")
        .context("set SWITCHBOARD_TOKEN to an admin API token to use --server")?;
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let mut request = reqwest::Client::new().post(&url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let answer: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("{url} answered {status} without JSON"))?;
    if !status.is_success() {
        anyhow::bail!("{url} answered {status}: {}", answer["error"]["message"]);
    }
    Ok(answer)
}

async fn retrain(settings: &Settings, args: RetrainArgs) -> anyhow::Result<()> {
    let Some(server) = args.server else {
        let service = load_service(settings).await.context(
            "cannot open the store; if `switchboard serve` is running on it, use --server",
        )?;
        print_retrain(&service.retrain().await?);
        return Ok(());
    };
    let body = post_admin(&server, "/v1/admin/retrain", None).await?;
    let report: crate::triage::RetrainReport = serde_json::from_value(body)?;
    print_retrain(&report);
    Ok(())
}

async fn eval(settings: &Settings, args: EvalArgs) -> anyhow::Result<()> {
    let service = load_service(settings).await?;
    let options = crate::eval::EvalOptions {
        labels: args.labels.clone(),
        target_precision: args.target_precision,
        calibration_folds: usize::from(args.calibration_folds),
        classifier: settings.triage.classifier.enabled,
        near_duplicate_similarity: args.near_duplicate_similarity,
    };
    let mut cache = match &args.embedding_cache {
        Some(path) => crate::eval::EmbeddingCache::open(path, service.embedder().dimension())
            .with_context(|| format!("cannot read the embedding cache {}", path.display()))?,
        None => crate::eval::EmbeddingCache::in_memory(),
    };
    let reports = crate::eval::evaluate(
        &service,
        &mut cache,
        &args.train,
        &args.test,
        &args.mapping.mapping(),
        &options,
    )
    .await;
    cache.save().context("cannot write the embedding cache")?;
    let reports = reports?;
    println!(
        "{:<18} {:>7} {:>8} {:>8} {:>8} {:>6} {:>9} {:>9}",
        "label", "support", "accuracy", "top3_acc", "macro_f1", "ece", "auto_cov", "auto_prec"
    );
    for (field, r) in &reports {
        let s = &r.scores;
        println!(
            "{field:<18} {:>7} {:>8.4} {:>8.4} {:>8.4} {:>6.3} {:>9.4} {:>9.4}",
            s.support,
            s.accuracy,
            s.top3_accuracy,
            s.macro_f1,
            r.expected_calibration_error,
            s.auto_coverage,
            s.auto_precision
        );
    }
    for (field, r) in &reports {
        println!("\n{field}: precision-coverage (threshold coverage precision)");
        for p in r.precision_coverage.iter().step_by(2) {
            println!("  {:.2} {:.4} {:.4}", p.threshold, p.coverage, p.precision);
        }
        println!("{field}: classes (label precision recall f1 support), largest first");
        for c in r.classes.iter().take(15) {
            println!(
                "  {:<24} {:.3} {:.3} {:.3} {}",
                c.label, c.precision, c.recall, c.f1, c.support
            );
        }
        if r.classes.len() > 15 {
            println!(
                "  ... {} more classes in the JSON report",
                r.classes.len() - 15
            );
        }
        if let Some(a) = &r.label_agreement {
            println!(
                "{field}: train labels agree on {:.1}% of {} near-duplicate pairs (cosine >= {:.2}): a rough ceiling on the accuracy this labelling supports",
                100.0 * a.agreement,
                a.pairs,
                a.similarity
            );
        }
        if let Some(c) = &r.calibrated {
            println!(
                "{field}: target precision {:.2} -> threshold {:.2} (cross-fitted train: coverage {:.4}, precision {:.4}; test: coverage {:.4}, precision {:.4})",
                c.target_precision,
                c.threshold,
                c.calibration.coverage,
                c.calibration.precision,
                c.test.coverage,
                c.test.precision
            );
            println!(
                "{field}: with per-label thresholds: test coverage {:.4}, precision {:.4}",
                c.test_with_class_thresholds.coverage, c.test_with_class_thresholds.precision
            );
            println!(
                "to use them, add to switchboard.toml:\n[triage.field_thresholds]\n{field} = {:.2}\n[triage.class_thresholds.{field}]",
                c.threshold
            );
            for (label, threshold) in &c.class_thresholds {
                println!("{label:?} = {threshold:.2}");
            }
        }
    }
    if let Some(dir) = &args.report {
        crate::eval::write_report(dir, &reports)
            .with_context(|| format!("cannot write the report to {}", dir.display()))?;
        println!("\nreport written to {}", dir.display());
    }
    Ok(())
}

fn reindex(settings: &Settings) -> anyhow::Result<()> {
    use crate::store::{Collection, VectorStore};
    anyhow::ensure!(
        settings.store.backend == crate::store::Backend::Edge,
        "reindex rebuilds the embedded store's indexes; a Qdrant server builds its own"
    );
    let dimension = crate::embed::BertModelEmbedder::load(&settings.model.dir)?.dimension();
    let index = settings.store.index();
    let started = std::time::Instant::now();
    let store = crate::startup::open_store(settings, dimension)?;
    store.flush()?;
    let counts = Collection::ALL
        .iter()
        .map(|&c| Ok(format!("{} {}", c.name(), store.count(c)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!(
        "indexes of {} built with m={} ef_construct={} int8={} in {:.1} s ({})",
        settings.data_dir.display(),
        index.m,
        index.ef_construct,
        index.int8,
        started.elapsed().as_secs_f64(),
        counts.join(", ")
    );
    Ok(())
}

/// The ticket texts (title + description through the prompt template) of the first
/// `limit` good rows of an incident file, as triage embeds them.
fn ticket_texts(
    settings: &Settings,
    file: &std::path::Path,
    limit: usize,
) -> anyhow::Result<Vec<String>> {
    let prompts = crate::prompts::Prompts::load(&settings.prompts_dir)?;
    let mut reader = crate::ingest::IncidentReader::open(file, &ColumnMapping::default())?;
    let mut texts = Vec::new();
    while texts.len() < limit {
        match reader.next_row() {
            Some(Ok(incident)) => {
                texts.push(prompts.ticket(&incident.title, &incident.description))
            }
            Some(Err(_)) => {}
            None => break,
        }
    }
    anyhow::ensure!(!texts.is_empty(), "no texts in {}", file.display());
    Ok(texts)
}

fn bench_recall(
    settings: &Settings,
    file: &std::path::Path,
    limit: usize,
    k: usize,
) -> anyhow::Result<()> {
    use crate::store::{Collection, Query};
    anyhow::ensure!(k > 0, "--k must be at least 1");
    let texts = ticket_texts(settings, file, limit)?;
    let model = crate::embed::BertModelEmbedder::load(&settings.model.dir)?
        .with_max_pass_tokens(settings.model.max_pass_tokens);
    let queries = model.embed(&texts, settings.model.max_batch)?;
    let store = crate::startup::open_vector_store(settings, model.dimension())?;
    let stored = store.count(Collection::Incidents)?;
    anyhow::ensure!(
        stored >= k,
        "the store in {} holds {stored} incidents, fewer than --k {k}",
        settings.data_dir.display()
    );
    let mut found = 0;
    let mut within = 0;
    let mut indexed_us = Vec::with_capacity(queries.len());
    let mut exact_us_total = 0.0;
    for query in &queries {
        let started = std::time::Instant::now();
        let hits = store.search(Collection::Incidents, Query::dense(query), k)?;
        indexed_us.push(started.elapsed().as_secs_f64() * 1e6);
        let started = std::time::Instant::now();
        let truth = store.search_exact(Collection::Incidents, query, k)?;
        exact_us_total += started.elapsed().as_secs_f64() * 1e6;
        found += hits
            .iter()
            .filter(|hit| truth.iter().any(|t| t.id == hit.id))
            .count();
        // ANN-benchmarks' definition: a hit counts when it is no farther than the k-th
        // true neighbour (1e-3 slack), so ties at the k-th place are not misses.
        let kth = truth.last().map_or(f32::INFINITY, |t| t.score);
        within += hits.iter().filter(|hit| hit.score >= kth - 1e-3).count();
    }
    indexed_us.sort_by(f64::total_cmp);
    println!(
        "queries={} stored={stored} k={k} search_ef={} recall={:.4} recall_by_distance={:.4} indexed_us_mean={:.0} indexed_us_p99={:.0} exact_us_mean={:.0}",
        queries.len(),
        settings.store.search_ef,
        found as f64 / (k * queries.len()) as f64,
        within as f64 / (k * queries.len()) as f64,
        indexed_us.iter().sum::<f64>() / indexed_us.len() as f64,
        indexed_us[(indexed_us.len() * 99 / 100).min(indexed_us.len() - 1)],
        exact_us_total / queries.len() as f64,
    );
    Ok(())
}

fn bench_embed(
    settings: &Settings,
    file: &std::path::Path,
    limit: usize,
    batch: usize,
    repeat: usize,
    texts_out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let texts = ticket_texts(settings, file, limit)?;
    if let Some(out) = texts_out {
        let lines: Vec<String> = texts
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()?;
        std::fs::write(out, lines.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let model = crate::embed::BertModelEmbedder::load(&settings.model.dir)?
        .with_max_pass_tokens(settings.model.max_pass_tokens);
    let tokens: usize = model.count_tokens(&texts)?.iter().sum();
    model.embed(&texts[..texts.len().min(batch)], batch)?;
    let mut secs = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let started = std::time::Instant::now();
        // One call, as bulk ingest makes it: texts are sorted by length, then run `batch` at a time.
        model.embed(&texts, batch)?;
        secs = secs.min(started.elapsed().as_secs_f64());
    }
    println!(
        "texts={} batch={batch} threads={} mean_tokens={:.1} texts_per_s={:.1} tokens_per_s={:.0} ms_per_text={:.2}",
        texts.len(),
        model.threads(),
        tokens as f64 / texts.len() as f64,
        texts.len() as f64 / secs,
        tokens as f64 / secs,
        1000.0 * secs / texts.len() as f64
    );
    Ok(())
}
