//! Listeners: HTTP/1.1 and HTTP/2 on one port (h2c in clear; over TLS,
//! whichever ALPN chose), accepted through a guarded [`Listener`]
//! (first-bytes deadline, connection bound, TCP keepalive, accept back-off),
//! the TLS handshake with its own deadline ([`crate::tls`]) and a second
//! first-bytes deadline on the decrypted stream, header read timeouts and
//! HTTP/2 keepalive pings, and a graceful shutdown that stops accepting,
//! lets open requests and streams finish within a grace period, then drops
//! what is left.

use crate::body::ProxyBody;
use crate::tls::ServerTls;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::listen::Listener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// A client must send its request headers within this.
    pub header_timeout: Duration,
    /// Open requests and streams get this long to finish on shutdown.
    pub grace: Duration,
}

/// Serves `listener` (over `tls` when given) until `shutdown` turns true, then drains.
pub async fn serve<H, F>(
    mut listener: Listener,
    tls: Option<Arc<ServerTls>>,
    handler: H,
    mut shutdown: watch::Receiver<bool>,
    limits: ConnLimits,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(1024);
    let builder = Arc::new(builder);
    let deadline = listener.deadline();
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            stream = listener.accept() => stream,
            _ = crate::state::stopped(&mut shutdown) => break,
        };
        let handler = handler.clone();
        let service = service_fn(move |req| {
            let response = handler(req);
            async move { Ok::<_, Infallible>(response.await) }
        });
        // Taken now: shutdown waits for connections still in their handshake too (bounded by its timeout).
        let watcher = graceful.watcher();
        let builder = builder.clone();
        match &tls {
            None => connections.spawn(serve_connection(builder, stream, service, watcher)),
            Some(tls) => {
                let (tls, deadline) = (tls.clone(), deadline.clone());
                connections.spawn(async move {
                    let Some(stream) = tls.accept(stream).await else { return };
                    // The first request must follow the handshake within the first-byte timeout.
                    serve_connection(builder, deadline.guard(stream), service, watcher).await;
                })
            }
        };
        // Reap finished connections so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(remaining = connections.len(), "grace period over; closing the remaining connections");
    }
    connections.shutdown().await;
}

/// HTTP/1.1 or HTTP/2 (by the first bytes: the HTTP/2 preface or not) on `io`, until it closes.
async fn serve_connection<I, S>(builder: Arc<auto::Builder<TokioExecutor>>, io: I, service: S, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<ProxyBody>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let _ = watcher.watch(conn).await;
}
