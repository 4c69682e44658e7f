//! `--http-listen`: `/healthz` and `/metrics` (Prometheus), accepted
//! through a guarded [`Listener`] (first-bytes deadline, connection bound,
//! keepalive, accept back-off), with HTTP/1 header read timeouts and HTTP/2
//! keepalive pings. With an ops token (`--ops-token-file`), `/metrics`
//! answers only requests that bear it; `/healthz` stays open for probes.

use crate::nodes::Nodes;
use crate::snapshot::Publisher;
use crate::store::Store;
use crate::telemetry::Counters;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use switchyard_proto::listen::{Connections, Listener, render_metrics};
use switchyard_proto::ops_token::{self, OpsToken};
use switchyard_proto::pb::ResourceType;
use tokio::sync::watch;

/// A client must send its request headers within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2: a ping after this much silence, the connection closed when it is not answered within as long.
const H2_KEEPALIVE: Duration = Duration::from_secs(20);

/// What `/healthz` and `/metrics` read.
#[derive(Clone)]
pub struct Sources {
    pub store: Arc<Store>,
    pub publisher: Arc<Publisher>,
    pub nodes: Arc<Nodes>,
    pub telemetry: Arc<Counters>,
    /// Both listeners' open connections and refusals.
    pub connections: Vec<Arc<Connections>>,
    pub alerts: Arc<crate::alert::Metrics>,
}

/// `ops`: the token `/metrics` requires, if any.
pub async fn serve(mut listener: Listener, sources: Sources, ops: Option<OpsToken>, mut stop: watch::Receiver<bool>) {
    let ops = ops.map(Arc::new);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(H2_KEEPALIVE).keep_alive_timeout(H2_KEEPALIVE);
    let builder = Arc::new(builder);
    loop {
        let stream = tokio::select! {
            stream = listener.accept() => stream,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (sources, ops, builder) = (sources.clone(), ops.clone(), builder.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (sources, ops) = (sources.clone(), ops.clone());
                async move { Ok::<_, Infallible>(handle(&sources, ops.as_deref(), req).await) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(sources: &Sources, ops: Option<&OpsToken>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if let (Some(token), "/metrics") = (ops, path)
        && let Err(refusal) = token.admit(req.headers())
    {
        let mut response = Response::new(Full::new(Bytes::from_static(refusal.body().as_bytes())));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(ops_token::CHALLENGE));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return response;
    }
    let (status, body) = match path {
        "/healthz" => match sources.store.revision().await {
            Ok(_) => (StatusCode::OK, "ok\n".to_owned()),
            Err(e) => {
                // The detail is for the operator's logs, not for unauthenticated callers.
                tracing::warn!(error = %e, "/healthz: store unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n".to_owned())
            }
        },
        "/metrics" => (StatusCode::OK, metrics(sources).await),
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

async fn metrics(sources: &Sources) -> String {
    let mut out = String::new();
    let up = sources.store.revision().await;
    let _ = writeln!(
        out,
        "# HELP switchyard_control_store_up Whether the store answers.\n# TYPE switchyard_control_store_up gauge"
    );
    let _ = writeln!(out, "switchyard_control_store_up {}", u8::from(up.is_ok()));
    let _ = writeln!(
        out,
        "# HELP switchyard_control_config_revision The current Config revision.\n# TYPE switchyard_control_config_revision gauge"
    );
    if let Ok(rev) = up {
        let _ = writeln!(out, "switchyard_control_config_revision {rev}");
    }
    telemetry(&mut out, &sources.telemetry);
    fleet(&mut out, sources);
    sources.alerts.render(&mut out);
    render_metrics(&mut out, "switchyard_cp", &sources.connections);
    out
}

fn telemetry(out: &mut String, c: &Counters) {
    let _ = writeln!(
        out,
        "# HELP switchyard_cp_telemetry_batches_total Telemetry batches received, by outcome \
         (failed: the store could not take it; the node resends).\n\
         # TYPE switchyard_cp_telemetry_batches_total counter"
    );
    for (result, n) in
        [("stored", &c.stored), ("duplicate", &c.duplicate), ("refused", &c.refused), ("failed", &c.failed)]
    {
        let _ = writeln!(out, "switchyard_cp_telemetry_batches_total{{result=\"{result}\"}} {}", n.load(Relaxed));
    }
    let _ = writeln!(
        out,
        "# HELP switchyard_cp_usage_records_total Usage records stored.\n# TYPE switchyard_cp_usage_records_total counter"
    );
    let _ = writeln!(out, "switchyard_cp_usage_records_total {}", c.records.load(Relaxed));
    let _ = writeln!(
        out,
        "# HELP switchyard_cp_telemetry_streams Telemetry streams open on this replica.\n\
         # TYPE switchyard_cp_telemetry_streams gauge"
    );
    let _ = writeln!(out, "switchyard_cp_telemetry_streams {}", c.streams.load(Relaxed).max(0));
}

/// Nodes on this replica's config streams, and which Config versions they
/// hold (one series per version held, not per node).
fn fleet(out: &mut String, sources: &Sources) {
    let current = sources.publisher.current().config.version;
    let connected: Vec<_> = sources.nodes.list().into_iter().filter(|n| n.connected).collect();
    let mut held: BTreeMap<u64, u64> = BTreeMap::new();
    for n in &connected {
        let version = n.acked.iter().find(|v| v.r#type == ResourceType::Config as i32).map_or(0, |v| v.version);
        *held.entry(version).or_default() += 1;
    }
    let behind = held.iter().filter(|(v, _)| **v != current).map(|(_, n)| n).sum::<u64>();
    let _ = writeln!(
        out,
        "# HELP switchyard_cp_connected_nodes Data planes on this replica's config streams.\n\
         # TYPE switchyard_cp_connected_nodes gauge"
    );
    let _ = writeln!(out, "switchyard_cp_connected_nodes {}", connected.len());
    let _ = writeln!(
        out,
        "# HELP switchyard_cp_node_config_versions Connected nodes by the Config version they ACKed (0: none yet).\n\
         # TYPE switchyard_cp_node_config_versions gauge"
    );
    for (version, n) in &held {
        let _ = writeln!(out, "switchyard_cp_node_config_versions{{version=\"{version}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP switchyard_cp_nodes_behind Connected nodes not on the current Config version.\n\
         # TYPE switchyard_cp_nodes_behind gauge"
    );
    let _ = writeln!(out, "switchyard_cp_nodes_behind {behind}");
}
