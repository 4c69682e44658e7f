//! `--http-listen`: `/healthz` and `/metrics` (Prometheus).

use crate::store::Store;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub async fn serve(listener: TcpListener, store: Arc<Store>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let store = store.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let store = store.clone();
                async move { Ok::<_, Infallible>(handle(&store, req).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(store: &Store, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match req.uri().path() {
        "/healthz" => match store.revision().await {
            Ok(_) => (StatusCode::OK, "ok\n".to_owned()),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("store unavailable: {e}\n")),
        },
        "/metrics" => (StatusCode::OK, metrics(store).await),
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

async fn metrics(store: &Store) -> String {
    let mut out = String::new();
    let up = store.revision().await;
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
    out
}
