//! The builders of each service from [`Settings`]: [`super::App::build`]
//! calls them all, in order; a command-line tool calls only those it needs
//! (`ingest` the triage service, `audit verify` the audit log, `connector
//! import` the connectors without workers).

use std::sync::Arc;
use std::time::Duration;

use crate::configuration::Settings;
use crate::embed::{Embedder, EncoderIdentity, SentenceEncoder, WorkerOptions};
use crate::infra::clock::SharedClock;
use crate::infra::secrets::Secrets;
use crate::prompts::Prompts;
use crate::store::{EdgeStore, StoreError, VectorStore};
use crate::triage::TriageService;

/// Knowledge chunks a ticket's triage retrieves beyond those it shows, so a
/// connector's note draft is written from the same retrieval.
fn evidence_articles(settings: &Settings) -> usize {
    if settings.drafts.enabled && settings.connectors.iter().any(|c| c.draft_in_note) {
        settings.drafts.max_evidence
    } else {
        0
    }
}

/// The triage service with its learning state (feedback, classifier heads)
/// in the state database `pool`: loads the model and store on a blocking
/// thread, reads feedback and the newest head (importing the files an earlier
/// version kept in the data directory), and replays feedback the store missed.
pub async fn triage_service(
    settings: &Settings,
    pool: sqlx::AnyPool,
    clock: crate::infra::clock::SharedClock,
) -> anyhow::Result<TriageService> {
    let owned = settings.clone();
    let service = tokio::task::spawn_blocking(move || load_triage(&owned)).await??;
    let secrets =
        Secrets::load(settings.runbooks.secrets_file.as_deref()).map_err(anyhow::Error::msg)?;
    let subjects =
        crate::infra::subjects::SubjectIndex::new(pool.clone(), &audit_key(settings, &secrets)?);
    let learning = crate::triage::LearningState::new(
        pool,
        subjects,
        crate::infra::replica::is_shared_database(&database_url(settings)),
        crate::infra::replica::id(),
    )
    .with_clock(clock);
    let service = service
        .with_learning_state(learning, &settings.data_dir)
        .await?;
    tokio::task::spawn_blocking(move || {
        service.reconcile_feedback()?;
        Ok(service)
    })
    .await?
}

/// Loads the prompts, the model (on its own thread) and the store under `settings`.
fn load_triage(settings: &Settings) -> anyhow::Result<TriageService> {
    let prompts = Prompts::load(&settings.prompts_dir)?;
    let model = SentenceEncoder::load(&settings.model.dir)
        .map_err(|e| anyhow::anyhow!("{e}\nfetch the default model with ./scripts/fetch-model.sh"))?
        .with_max_pass_tokens(settings.model.max_pass_tokens);
    let identity = model.identity().clone();
    let (catalog, _) =
        crate::runbook::Catalog::load(&settings.runbooks.dir, &settings.runbooks.work_root);
    let specs: Vec<crate::runbook::RunbookSpec> = catalog.runbooks().cloned().collect();
    let descriptions: Vec<String> = specs
        .iter()
        .map(|r| prompts.ticket(&r.title, &r.description))
        .collect();
    let runbooks = specs
        .into_iter()
        .zip(model.embed(&descriptions, settings.model.max_batch)?)
        .collect();
    let embedder = Embedder::spawn(
        model,
        WorkerOptions {
            max_batch: settings.model.max_batch,
            max_wait: Duration::from_millis(settings.model.max_wait_ms),
            quiet: Duration::from_micros(settings.model.gather_quiet_us),
            queue_capacity: settings.model.queue_capacity,
            max_queue_wait: Duration::from_millis(settings.model.max_queue_wait_ms),
        },
    )?;
    let store = open_vector_store(settings, &identity)?;
    let scrubber = crate::domain::Scrubber::new(&settings.privacy).map_err(anyhow::Error::msg)?;
    let service = TriageService::new(embedder, store, prompts, settings.triage.clone())
        .with_scrubber(scrubber)
        .with_evidence_articles(evidence_articles(settings))
        .with_runbooks(runbooks)
        .with_inventory(
            crate::inventory::Inventory::load(&settings.runbooks.inventory)
                .map_err(anyhow::Error::msg)?,
        );
    Ok(service)
}

/// Opens the configured vector store (`store.backend`) for the vectors of
/// `encoder`: the embedded store under the data directory, or the Qdrant
/// server of `[store.qdrant]` (its API key from the runbook secrets); refuses
/// a store another encoder wrote ([`check_encoder`]).
pub fn open_vector_store(
    settings: &Settings,
    encoder: &EncoderIdentity,
) -> anyhow::Result<Arc<dyn VectorStore>> {
    let dimension = encoder.dimension;
    let store: Arc<dyn VectorStore> = match settings.store.backend {
        crate::store::Backend::Edge => Arc::new(open_store_for(settings, encoder)?),
        crate::store::Backend::Qdrant => {
            let qdrant = &settings.store.qdrant;
            let api_key = qdrant_api_key(settings)?;
            Arc::new(
                crate::store::QdrantServerStore::connect(
                    qdrant,
                    api_key,
                    dimension,
                    settings.store.index(),
                )?
                .with_search_ef(settings.store.search_ef)
                .with_hybrid(settings.store.hybrid),
            )
        }
    };
    check_encoder(store.as_ref(), encoder)?;
    Ok(store)
}

/// The Qdrant server's API key: the runbook secret `store.qdrant.api_key_secret` names.
pub fn qdrant_api_key(settings: &Settings) -> anyhow::Result<Option<String>> {
    let Some(name) = &settings.store.qdrant.api_key_secret else {
        return Ok(None);
    };
    let secrets =
        Secrets::load(settings.runbooks.secrets_file.as_deref()).map_err(anyhow::Error::msg)?;
    Ok(Some(secrets.get(name).map(str::to_owned).ok_or_else(
        || anyhow::anyhow!("store.qdrant.api_key_secret: no secret {name:?}"),
    )?))
}

/// Makes sure the vectors in `store` came from `encoder`: records it in a
/// store that names no encoder (a new one, or one an earlier version wrote,
/// whose vector size has been checked on opening), and refuses a store
/// another encoder wrote, whose vectors cannot be compared with this one's.
pub fn check_encoder(store: &dyn VectorStore, encoder: &EncoderIdentity) -> anyhow::Result<()> {
    match store.encoder()? {
        None => store.record_encoder(&encoder.to_record())?,
        Some(recorded) => same_encoder(&recorded, encoder)?,
    }
    Ok(())
}

/// Refuses a store whose encoder record names another encoder than `encoder`.
fn same_encoder(recorded: &str, encoder: &EncoderIdentity) -> anyhow::Result<()> {
    let recorded = EncoderIdentity::from_record(recorded).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        recorded.same_encoder(encoder),
        "the store was written by the encoder {}, but [model] dir loads {}: vectors \
         of two encoders cannot be compared. Re-embed the store with this encoder \
         (`switchboard reembed`), or set [model] dir back",
        recorded.describe(),
        encoder.describe()
    );
    Ok(())
}

/// Opens the embedded store for the vectors of `encoder` ([`open_store`]),
/// refusing one another encoder wrote before its shards are opened (so the
/// message names both encoders, also when their widths differ), and recording
/// `encoder` in one that names none.
pub fn open_store_for(settings: &Settings, encoder: &EncoderIdentity) -> anyhow::Result<EdgeStore> {
    if !EdgeStore::replacement_pending(&settings.data_dir)
        && let Some(recorded) = EdgeStore::recorded_encoder(&settings.data_dir)?
    {
        same_encoder(&recorded, encoder)?;
    }
    let store = open_store(settings, encoder.dimension)?;
    check_encoder(&store, encoder)?;
    Ok(store)
}

/// Opens the embedded store under `settings.data_dir` for vectors of
/// `dimension`, with the configured index parameters and search width: the
/// service, `reindex` and `bench recall` all see the store the same way.
pub fn open_store(settings: &Settings, dimension: usize) -> Result<EdgeStore, StoreError> {
    Ok(
        EdgeStore::open_with_index(&settings.data_dir, dimension, settings.store.index())?
            .with_search_ef(settings.store.search_ef)
            .with_hybrid(settings.store.hybrid)
            .with_checkpoint_bytes(settings.store.journal_checkpoint_mib << 20),
    )
}

/// The database URL from the settings, defaulting to SQLite in the data directory.
pub fn database_url(settings: &Settings) -> String {
    settings
        .database_url
        .clone()
        .unwrap_or_else(|| crate::infra::db::default_url(&settings.data_dir))
}

/// Connects the state database (`database_url`, else SQLite in the data
/// directory, which is created if needed) and applies the migrations.
pub async fn state_database(settings: &Settings) -> anyhow::Result<sqlx::AnyPool> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the data directory {}: {e}",
            settings.data_dir.display()
        )
    })?;
    crate::infra::db::connect(&database_url(settings))
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the state database: {e}"))
}

/// Loads runbooks, inventory and secrets over the state database `pool`.
/// Invalid runbooks are skipped with a warning (`switchboard runbook validate` lists why).
pub async fn automation(
    settings: &Settings,
    pool: sqlx::AnyPool,
    clock: SharedClock,
) -> anyhow::Result<Arc<crate::automation::AutomationService>> {
    let (catalog, problems) =
        crate::runbook::Catalog::load(&settings.runbooks.dir, &settings.runbooks.work_root);
    for problem in &problems {
        tracing::warn!(%problem, "runbook skipped");
    }
    let inventory = crate::runbook::Inventory::load(&settings.runbooks.inventory)
        .map_err(anyhow::Error::msg)?;
    let secrets =
        Secrets::load(settings.runbooks.secrets_file.as_deref()).map_err(anyhow::Error::msg)?;
    let audit = open_audit(settings, &secrets, pool.clone())?;
    // Steps get every secret but the audit key.
    let secrets = secrets.without(&[settings.audit.key_secret.as_str()]);
    Ok(crate::automation::AutomationService::start(
        crate::automation::AutomationParts {
            pool,
            audit,
            catalog,
            inventory,
            secrets,
            leases: crate::automation::RunLeases {
                owner: crate::infra::replica::id().to_owned(),
                lease: Duration::from_secs(settings.replicas.lease_s.max(1)),
                shared: crate::infra::replica::is_shared_database(&database_url(settings)),
            },
            clock,
            default_ca_file: settings
                .tls
                .ca_file
                .as_ref()
                .map(|path| path.display().to_string()),
            protected_paths: settings.protected_paths(),
        },
        &settings.changes,
    )
    .await?)
}

/// The configured connectors over the automation's database and audit trail
/// (their workers start once the model is loaded).
pub fn connectors(
    settings: &Settings,
    automation: &crate::automation::AutomationService,
    clock: SharedClock,
) -> anyhow::Result<Arc<crate::connectors::ConnectorService>> {
    let secrets =
        Secrets::load(settings.runbooks.secrets_file.as_deref()).map_err(anyhow::Error::msg)?;
    let template = if settings.connectors.is_empty() {
        crate::connectors::NoteTemplate::default()
    } else {
        crate::connectors::NoteTemplate::load(&settings.prompts_dir).map_err(anyhow::Error::msg)?
    };
    crate::connectors::ConnectorService::new(
        &settings.connectors_with_ca(),
        secrets,
        automation.pool(),
        automation.audit_log(),
        template,
        clock,
        crate::domain::Scrubber::new(&settings.privacy).map_err(anyhow::Error::msg)?,
    )
    .map_err(anyhow::Error::msg)
}

/// The connectors for a command-line tool (history import): the state
/// database and audit trail without starting automation (which would take over
/// a running server's executions).
pub async fn connectors_for_tools(
    settings: &Settings,
) -> anyhow::Result<Arc<crate::connectors::ConnectorService>> {
    let pool = state_database(settings).await?;
    let secrets =
        Secrets::load(settings.runbooks.secrets_file.as_deref()).map_err(anyhow::Error::msg)?;
    let audit = Arc::new(open_audit(settings, &secrets, pool.clone())?);
    crate::connectors::ConnectorService::new(
        &settings.connectors_with_ca(),
        secrets,
        pool,
        audit,
        crate::connectors::NoteTemplate::default(),
        crate::infra::clock::SystemClock::shared(),
        crate::domain::Scrubber::new(&settings.privacy).map_err(anyhow::Error::msg)?,
    )
    .map_err(anyhow::Error::msg)
}

/// The audit log over `pool`: its key from the secret named by
/// `audit.key_secret`, else from the key file (made on first use); its anchor
/// file from the settings.
pub fn open_audit(
    settings: &Settings,
    secrets: &Secrets,
    pool: sqlx::AnyPool,
) -> anyhow::Result<crate::infra::audit::AuditLog> {
    use crate::infra::audit::{AuditAnchor, AuditLog};
    Ok(AuditLog::new(
        pool,
        audit_key(settings, secrets)?,
        AuditAnchor::new(settings.audit_anchor_file()),
    ))
}

/// The audit chain's key: the secret named by `audit.key_secret`, else the
/// key file (made on first use). The subject index's key derives from it.
fn audit_key(
    settings: &Settings,
    secrets: &Secrets,
) -> anyhow::Result<crate::infra::audit::AuditKey> {
    use crate::infra::audit::AuditKey;
    Ok(match secrets.get(&settings.audit.key_secret) {
        Some(value) => AuditKey::new(value.as_bytes().to_vec()).ok_or_else(|| {
            anyhow::anyhow!(
                "the audit key (secret {}) must be at least {} bytes",
                settings.audit.key_secret,
                AuditKey::MIN_LEN
            )
        })?,
        None => {
            let path = settings.audit_key_file();
            AuditKey::load_or_create(&path)
                .map_err(|e| anyhow::anyhow!("audit key {}: {e}", path.display()))?
        }
    })
}

/// The drafting service `settings.drafts` describes, on `triage`'s retrieval
/// and the state database; a local model is loaded here (seconds).
pub async fn drafts(
    settings: &Settings,
    triage: Arc<TriageService>,
    pool: sqlx::AnyPool,
) -> anyhow::Result<Arc<crate::drafts::DraftService>> {
    let secrets = Secrets::load(settings.runbooks.secrets_file.as_deref())
        .map_err(|e| anyhow::anyhow!("runbooks.secrets_file: {e}"))?;
    let drafts = settings.drafts_with_ca();
    let generator =
        tokio::task::spawn_blocking(move || crate::drafts::build_generator(&drafts, &secrets))
            .await?
            .map_err(|e| anyhow::anyhow!("cannot start the draft backend: {e}"))?;
    let dir = &settings.prompts_dir;
    let prompts = if dir.join(crate::drafts::prompt::USER_TEMPLATE).exists()
        || dir.join(crate::drafts::prompt::SYSTEM_TEMPLATE).exists()
    {
        crate::drafts::DraftPrompts::load(dir)?
    } else {
        tracing::info!(dir = %dir.display(), "no draft templates there: using the built-in ones");
        crate::drafts::DraftPrompts::default()
    };
    Ok(Arc::new(crate::drafts::DraftService::new(
        triage,
        settings.drafts.clone(),
        prompts,
        generator,
        pool,
    )))
}

/// Retention and erasure for a command-line tool: the state database, the
/// model and store (opened here, so no server may be running on them) and
/// the audit log, on the system clock; no storm detector runs here.
pub async fn privacy_for_tools(
    settings: &Settings,
) -> anyhow::Result<crate::privacy::PrivacyService> {
    let pool = state_database(settings).await?;
    let secrets =
        Secrets::load(settings.runbooks.secrets_file.as_deref()).map_err(anyhow::Error::msg)?;
    let audit = Arc::new(open_audit(settings, &secrets, pool.clone())?);
    let clock = crate::infra::clock::SystemClock::shared();
    let triage = Arc::new(triage_service(settings, pool.clone(), Arc::clone(&clock)).await?);
    Ok(crate::privacy::PrivacyService::new(
        pool.clone(),
        triage,
        None,
        crate::review::ReviewQueue::new(pool, Arc::clone(&clock)),
        audit,
        clock,
        &settings.privacy,
    ))
}
