//! The accept loop: HTTP/1.1 and HTTP/2 on each connection, over TLS when
//! `[server.tls]` is set, a timer on the TLS handshake and request headers,
//! and a graceful drain when told to stop.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

/// Accepts connections on `listener` and serves `app` on each (HTTP/1.1 and
/// HTTP/2), like `axum::serve`, but with a timer so a client that takes longer
/// than `header_read_timeout` to send its request headers is disconnected
/// (slow-header clients would otherwise hold connections forever). When `stop`
/// resolves it stops accepting, lets requests in flight finish and returns.
/// With `tls`, each connection is a TLS handshake first (within the same
/// timeout, off the accept loop).
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    max_connections: usize,
    tls: Option<tokio_rustls::TlsAcceptor>,
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
    // A connection's streams share its request-body budget with everyone's.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(32);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    // One permit per open connection: at the cap, the loop stops accepting
    // (clients wait in the kernel's backlog) until one closes.
    let connections = std::sync::Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.as_mut() => break,
        };
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
        let Some(tls) = &tls else {
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                let _open = permit;
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
            });
            continue;
        };
        let (tls, builder, watcher) = (tls.clone(), builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _open = permit;
            let stream = match tokio::time::timeout(header_read_timeout, tls.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
