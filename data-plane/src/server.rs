//! Listeners: HTTP/1.1 and h2c on one port, accepted through a guarded
//! [`Listener`] (first-bytes deadline, connection bound, TCP keepalive,
//! accept back-off), header read timeouts and HTTP/2 keepalive pings, and a
//! graceful shutdown that stops accepting, lets open requests and streams
//! finish within a grace period, then drops what is left.

use crate::body::ProxyBody;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
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

/// Serves `listener` until `shutdown` turns true, then drains.
pub async fn serve<H, F>(mut listener: Listener, handler: H, mut shutdown: watch::Receiver<bool>, limits: ConnLimits)
where
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
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        connections.spawn(async move {
            let _ = conn.await;
        });
        // Reap finished connections so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(remaining = connections.len(), "grace period over; closing the remaining connections");
    }
    connections.shutdown().await;
}
