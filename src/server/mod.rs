//! `switchboard serve`: listen at once, build the [`App`] in the background
//! (`/readyz` answers 503 until it is built; a failed build stops the
//! server), serve until told to stop, then drain: requests in flight
//! finish, connector jobs in hand finish, running executions get
//! `runbooks.shutdown_grace_s` before they are stopped.
//!
//! - `router`: the route table and the layers around it.
//! - `accept`: the accept loop (header timeout, graceful drain).

mod accept;
mod router;

pub use router::{RequestLimits, router};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::App;
use crate::configuration::Settings;
use crate::infra::clock::{SharedClock, SystemClock};
use crate::routes::AppState;

/// Serves on `listener` until `shutdown` resolves, on the system clock.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_clock(listener, settings, SystemClock::shared(), shutdown).await
}

/// [`run`] with time read from `clock` (tests pass a clock they move).
pub async fn run_with_clock(
    listener: TcpListener,
    settings: Settings,
    clock: SharedClock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if settings.drafts.backend == crate::drafts::DraftBackend::Candle {
        // Before the embedding model loads: candle's worker pool is made once.
        crate::generate::start_idle_workers();
    }
    let tls = match &settings.server.tls {
        Some(tls) => {
            let certificate =
                crate::infra::tls::ServerCertificate::load(tls).map_err(anyhow::Error::msg)?;
            certificate.spawn_reloader();
            Some(tokio_rustls::TlsAcceptor::from(certificate.server_config()))
        }
        None => None,
    };
    let state = AppState::new(settings.auth.tokens.clone())
        .with_console(settings.console.clone(), settings.data_dir.clone());
    let limits = RequestLimits::from_settings(&settings);
    let max_connections = settings.server.max_connections;
    let app = router(state.clone(), limits);
    let grace = Duration::from_secs(settings.runbooks.shutdown_grace_s);
    let (load_failed, failure) = tokio::sync::oneshot::channel::<anyhow::Error>();
    let building = {
        let state = state.clone();
        tokio::spawn(async move {
            match App::build(&settings, clock).await {
                Ok(built) => {
                    tracing::info!("model and store loaded; ready");
                    state.set_ready(Arc::new(built));
                }
                Err(err) => {
                    let _ = load_failed.send(err);
                }
            }
        })
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let failure_watch = tokio::spawn(async move {
        tokio::select! {
            Ok(err) = failure => { let _ = stop.send(()); Some(err) }
            () = shutdown => { let _ = stop.send(()); None }
        }
    });
    tracing::info!(address = %listener.local_addr()?, tls = tls.is_some(), "listening");
    accept::serve(
        listener,
        app,
        limits.body_read_timeout,
        max_connections,
        tls,
        stopped,
    )
    .await;
    building.abort();
    // No request is in flight any more: drain the background work.
    if let Some(built) = state.ready() {
        built.shutdown(grace).await;
    }
    match failure_watch.await {
        Ok(Some(err)) => Err(err.context("cannot load the model or store")),
        _ => Ok(()),
    }
}
