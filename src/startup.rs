//! Wiring: load the model and store, build the router, serve until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::configuration::Settings;
use crate::embed::{BertModelEmbedder, Embedder, WorkerOptions};
use crate::prompts::Prompts;
use crate::routes::middleware::{self, BodyRules};
use crate::routes::{self, AppState};
use crate::store::{EdgeStore, StoreError, VectorStore};
use crate::triage::TriageService;

/// The triage service with its learning state (feedback, classifier heads)
/// in the state database `pool`: loads the model and store on a blocking
/// thread, reads feedback and the newest head (importing the files an earlier
/// version kept in the data directory), and replays feedback the store missed.
pub async fn build_service(
    settings: &Settings,
    pool: sqlx::AnyPool,
) -> anyhow::Result<TriageService> {
    let owned = settings.clone();
    let service = tokio::task::spawn_blocking(move || load_service(&owned)).await??;
    let learning = crate::triage::LearningState::new(
        pool,
        crate::replica::is_shared_database(&database_url(settings)),
        crate::replica::id(),
    );
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
fn load_service(settings: &Settings) -> anyhow::Result<TriageService> {
    let prompts = Prompts::load(&settings.prompts_dir)?;
    let model = BertModelEmbedder::load(&settings.model.dir)
        .map_err(|e| anyhow::anyhow!("{e}\nfetch the default model with ./scripts/fetch-model.sh"))?
        .with_max_pass_tokens(settings.model.max_pass_tokens);
    let dimension = model.dimension();
    let (catalog, _) = crate::runbook::Catalog::load(&settings.runbooks.dir);
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
    let store = open_vector_store(settings, dimension)?;
    let scrubber = crate::domain::Scrubber::new(&settings.privacy).map_err(anyhow::Error::msg)?;
    let service = TriageService::new(embedder, store, prompts, settings.triage.clone())
        .with_scrubber(scrubber)
        .with_original_policy(&settings.privacy)
        .with_runbooks(runbooks)
        .with_inventory(
            crate::inventory::Inventory::load(&settings.runbooks.inventory)
                .map_err(anyhow::Error::msg)?,
        );
    Ok(service)
}

/// Opens the configured vector store (`store.backend`) for vectors of
/// `dimension`: the embedded store under the data directory, or the Qdrant
/// server of `[store.qdrant]` (its API key from the runbook secrets).
pub fn open_vector_store(
    settings: &Settings,
    dimension: usize,
) -> anyhow::Result<Arc<dyn VectorStore>> {
    Ok(match settings.store.backend {
        crate::store::Backend::Edge => Arc::new(open_store(settings, dimension)?),
        crate::store::Backend::Qdrant => {
            let qdrant = &settings.store.qdrant;
            let api_key = match &qdrant.api_key_secret {
                None => None,
                Some(name) => {
                    let secrets =
                        crate::runbook::Secrets::load(settings.runbooks.secrets_file.as_deref())
                            .map_err(anyhow::Error::msg)?;
                    Some(secrets.get(name).map(str::to_owned).ok_or_else(|| {
                        anyhow::anyhow!("store.qdrant.api_key_secret: no secret {name:?}")
                    })?)
                }
            };
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
    })
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
        .unwrap_or_else(|| crate::automation::default_url(&settings.data_dir))
}

/// Connects the state database (`database_url`, else SQLite in the data
/// directory, which is created if needed) and applies the migrations.
pub async fn connect_state(settings: &Settings) -> anyhow::Result<sqlx::AnyPool> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the data directory {}: {e}",
            settings.data_dir.display()
        )
    })?;
    crate::automation::connect(&database_url(settings))
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the state database: {e}"))
}

/// Loads runbooks, inventory and secrets over the state database `pool`.
/// Invalid runbooks are skipped with a warning (`switchboard runbook validate` lists why).
pub async fn build_automation(
    settings: &Settings,
    pool: sqlx::AnyPool,
) -> anyhow::Result<Arc<crate::automation::AutomationService>> {
    let (catalog, problems) = crate::runbook::Catalog::load(&settings.runbooks.dir);
    for problem in &problems {
        tracing::warn!(%problem, "runbook skipped");
    }
    let inventory = crate::runbook::Inventory::load(&settings.runbooks.inventory)
        .map_err(anyhow::Error::msg)?;
    let secrets = crate::runbook::Secrets::load(settings.runbooks.secrets_file.as_deref())
        .map_err(anyhow::Error::msg)?;
    let audit = open_audit(settings, &secrets, pool.clone())?;
    Ok(crate::automation::AutomationService::start(
        pool,
        audit,
        catalog,
        inventory,
        secrets,
        &settings.changes,
        crate::automation::RunLeases {
            owner: crate::replica::id().to_owned(),
            lease: Duration::from_secs(settings.replicas.lease_s.max(1)),
            shared: crate::replica::is_shared_database(&database_url(settings)),
        },
    )
    .await?)
}

/// The configured connectors over the automation's database and audit trail
/// (their workers start once the model is loaded).
pub fn build_connectors(
    settings: &Settings,
    automation: &crate::automation::AutomationService,
) -> anyhow::Result<Arc<crate::connectors::ConnectorService>> {
    let secrets = crate::runbook::Secrets::load(settings.runbooks.secrets_file.as_deref())
        .map_err(anyhow::Error::msg)?;
    let template = if settings.connectors.is_empty() {
        crate::connectors::NoteTemplate::default()
    } else {
        crate::connectors::NoteTemplate::load(&settings.prompts_dir).map_err(anyhow::Error::msg)?
    };
    crate::connectors::ConnectorService::new(
        &settings.connectors,
        secrets,
        automation.pool(),
        automation.audit_log(),
        template,
    )
    .map_err(anyhow::Error::msg)
}

/// The connectors for a command-line tool (history import): the state
/// database and audit trail without starting automation (which would take over
/// a running server's executions).
pub async fn connectors_for_tools(
    settings: &Settings,
) -> anyhow::Result<Arc<crate::connectors::ConnectorService>> {
    let pool = crate::automation::connect(&database_url(settings))
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the state database: {e}"))?;
    let secrets = crate::runbook::Secrets::load(settings.runbooks.secrets_file.as_deref())
        .map_err(anyhow::Error::msg)?;
    let audit = Arc::new(open_audit(settings, &secrets, pool.clone())?);
    crate::connectors::ConnectorService::new(
        &settings.connectors,
        secrets,
        pool,
        audit,
        crate::connectors::NoteTemplate::default(),
    )
    .map_err(anyhow::Error::msg)
}

/// The audit log over `pool`: its key from the secret named by
/// `audit.key_secret`, else from the key file (made on first use); its anchor
/// file from the settings.
pub fn open_audit(
    settings: &Settings,
    secrets: &crate::runbook::Secrets,
    pool: sqlx::AnyPool,
) -> anyhow::Result<crate::automation::AuditLog> {
    use crate::automation::{AuditAnchor, AuditKey, AuditLog};
    let key = match secrets.get(&settings.audit.key_secret) {
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
    };
    Ok(AuditLog::new(
        pool,
        key,
        AuditAnchor::new(settings.audit_anchor_file()),
    ))
}

/// Limits on how requests arrive.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest body in bytes (413 beyond).
    pub body_limit: usize,
    /// Longest wait for each piece of a body (400 beyond).
    pub body_read_timeout: Duration,
    /// Longest time for a whole body (408 beyond).
    pub body_deadline: Duration,
}

impl RequestLimits {
    /// The limits the settings ask for.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            body_limit: settings.server.body_limit_bytes,
            body_read_timeout: Duration::from_secs(settings.server.request_read_timeout_s),
            body_deadline: Duration::from_secs(settings.server.request_deadline_s),
        }
    }
}

/// The HTTP routes over `state`, with the request limits, request ids, error
/// logging and panic handling around them.
pub fn router(state: AppState, limits: RequestLimits) -> Router {
    let v1 = Router::new()
        .route("/triage", post(routes::triage))
        .route("/incidents", post(routes::put_incident))
        .route("/incidents/{id}", get(routes::get_incident))
        .route("/tickets/{id}/feedback", post(routes::post_feedback))
        .route(
            "/tickets/{id}/draft",
            post(routes::post_draft).get(routes::get_draft),
        )
        .route("/tickets/{id}/draft/review", post(routes::review_draft))
        .route("/drafts/stats", get(routes::draft_stats))
        .route("/stats", get(routes::stats))
        .route("/admin/retrain", post(routes::retrain))
        .route(
            "/executions",
            post(routes::create_execution).get(routes::list_executions),
        )
        .route("/executions/{id}", get(routes::get_execution))
        .route("/executions/{id}/approve", post(routes::approve_execution))
        .route("/executions/{id}/reject", post(routes::reject_execution))
        .route("/executions/{id}/cancel", post(routes::cancel_execution))
        .route("/executions/{id}/audit", get(routes::execution_audit))
        .route("/hooks/{connector}", post(routes::receive_event))
        .route("/connectors/{name}/jobs", get(routes::list_jobs))
        .route("/review", get(routes::list_review))
        .route("/review/{id}", get(routes::get_review))
        .route("/insights", get(routes::insights))
        .route("/runbooks", get(routes::list_runbooks))
        .route("/runbooks/{id}/plan", post(routes::plan_runbook))
        .route("/audit/verify", get(routes::verify_audit))
        .route("/changes", get(routes::list_changes))
        .route("/problems", get(routes::last_problems))
        .route("/admin/problems", post(routes::make_problems))
        .route("/storms", get(routes::list_storms))
        .route("/storms/{id}", get(routes::get_storm))
        .route(
            "/connectors/{name}/jobs/{id}/requeue",
            post(routes::requeue_job),
        );
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .nest("/v1", v1)
        .merge(crate::ui::router())
        .fallback(routes::error::not_found)
        .method_not_allowed_fallback(routes::error::method_not_allowed)
        .layer(axum::middleware::from_fn(routes::record_metrics))
        .layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            BodyRules {
                deadline: limits.body_deadline,
                limit: limits.body_limit,
            },
            middleware::read_body,
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
            let id = request
                .extensions()
                .get::<middleware::RequestId>()
                .map_or("", |id| id.0.as_str());
            tracing::info_span!("request", method = %request.method(), uri = %request.uri(), request_id = %id)
        })
        // A 5xx is logged once, with its cause, by the request-id middleware;
        // 503s while loading or under load are not failures of the service.
        .on_failure(()))
        .layer(axum::middleware::from_fn(middleware::request_id))
        .with_state(state)
}

/// The drafting service `settings.drafts` describes, on `triage`'s retrieval
/// and the state database; a local model is loaded here (seconds).
pub async fn build_drafts(
    settings: &Settings,
    triage: Arc<TriageService>,
    pool: sqlx::AnyPool,
) -> anyhow::Result<Arc<crate::drafts::DraftService>> {
    let secrets = crate::runbook::Secrets::load(settings.runbooks.secrets_file.as_deref())
        .map_err(|e| anyhow::anyhow!("runbooks.secrets_file: {e}"))?;
    let drafts = settings.drafts.clone();
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

/// Serves on `listener` until `shutdown` resolves, loading the service in the
/// background (`/readyz` answers 503 until it is loaded). A failed load stops the
/// server. At shutdown, requests in flight finish, then running executions get
/// `runbooks.shutdown_grace_s` to finish before they are stopped.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if settings.drafts.backend == crate::drafts::DraftBackend::Candle {
        // Before the embedding model loads: candle's worker pool is made once.
        crate::generate::start_idle_workers();
    }
    let state = AppState::new(settings.auth.tokens.clone())
        .with_console(settings.console.clone(), settings.data_dir.clone());
    let limits = RequestLimits::from_settings(&settings);
    let read_timeout = limits.body_read_timeout;
    let app = router(state.clone(), limits);
    let automation_settings = settings.clone();
    let shutdown_grace = Duration::from_secs(settings.runbooks.shutdown_grace_s);
    let drained = state.clone();
    let (load_failed, failure) = tokio::sync::oneshot::channel::<anyhow::Error>();
    let loading = tokio::spawn(async move {
        let pool = match connect_state(&automation_settings).await {
            Ok(pool) => pool,
            Err(err) => {
                let _ = load_failed.send(err);
                return;
            }
        };
        let service_pool = pool.clone();
        let loader = tokio::spawn(async move { build_service(&settings, service_pool).await });
        let automation = match build_automation(&automation_settings, pool).await {
            Ok(automation) => automation,
            Err(err) => {
                let _ = load_failed.send(err);
                return;
            }
        };
        state.set_automation(Arc::clone(&automation));
        let connectors = match build_connectors(&automation_settings, &automation) {
            Ok(connectors) => connectors,
            Err(err) => {
                let _ = load_failed.send(err);
                return;
            }
        };
        state.set_connectors(Arc::clone(&connectors));
        match loader.await {
            Ok(Ok(service)) => {
                let service = Arc::new(service);
                service.spawn_head_watch(
                    database_url(&automation_settings),
                    Duration::from_secs(automation_settings.replicas.head_poll_s.max(1)),
                );
                if automation_settings.storms.enabled {
                    match crate::storms::StormService::start(
                        automation.pool(),
                        &automation_settings.storms,
                    )
                    .await
                    {
                        Ok(storms) => {
                            service.set_storms(Arc::clone(&storms));
                            state.set_storms(storms);
                        }
                        Err(err) => {
                            let _ =
                                load_failed.send(anyhow::anyhow!("cannot open the storms: {err}"));
                            return;
                        }
                    }
                }
                match build_drafts(
                    &automation_settings,
                    Arc::clone(&service),
                    automation.pool(),
                )
                .await
                {
                    Ok(drafts) => {
                        connectors.set_drafts(Arc::clone(&drafts));
                        state.set_drafts(drafts);
                    }
                    Err(err) => {
                        let _ = load_failed.send(err);
                        return;
                    }
                }
                if let Err(err) = connectors.start(Arc::clone(&service)).await {
                    let _ = load_failed.send(anyhow::anyhow!("cannot start the connectors: {err}"));
                    return;
                }
                tracing::info!("model and store loaded; ready");
                state.set_ready(service);
            }
            Ok(Err(err)) => {
                let _ = load_failed.send(err);
            }
            Err(err) => {
                let _ = load_failed.send(anyhow::anyhow!("loader task failed: {err}"));
            }
        }
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let failure_watch = tokio::spawn(async move {
        tokio::select! {
            Ok(err) = failure => { let _ = stop.send(()); Some(err) }
            () = shutdown => { let _ = stop.send(()); None }
        }
    });
    tracing::info!(address = %listener.local_addr()?, "listening");
    serve(listener, app, read_timeout, stopped).await;
    loading.abort();
    // No request is in flight any more: let running executions finish (or stop
    // them once the grace period is over) before the process exits.
    if let Ok(connectors) = drained.connectors() {
        connectors.shutdown().await;
    }
    if let Ok(automation) = drained.automation() {
        automation.shutdown(shutdown_grace).await;
    }
    match failure_watch.await {
        Ok(Some(err)) => Err(err.context("cannot load the model or store")),
        _ => Ok(()),
    }
}

/// Accepts connections on `listener` and serves `app` on each (HTTP/1.1 and
/// HTTP/2), like `axum::serve`, but with a timer so a client that takes longer
/// than `header_read_timeout` to send its request headers is disconnected
/// (slow-header clients would otherwise hold connections forever). When `stop`
/// resolves it stops accepting, lets requests in flight finish and returns.
async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    stop: impl Future + Send,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Answers are small and sent whole: do not let Nagle hold them back.
                    let _ = stream.set_nodelay(true);
                    stream
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off, do not spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.as_mut() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
