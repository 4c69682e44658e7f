#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The control plane started in-process as the binary starts it: bootstrap,
//! /healthz and /metrics, a second start that changes nothing, a wrong key.

use switchyard_control::{ControlPlane, Options, StartError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

fn options(dir: &std::path::Path, key: &str) -> Options {
    let bootstrap = dir.join("gateway.yaml");
    std::fs::write(
        &bootstrap,
        r#"
providers:
  - {name: p, kind: openai-compatible, base_url: "http://127.0.0.1:1/v1", accounts: [{name: a, api_key: "sk-upstream-000000"}]}
models:
  - {name: m, targets: [{provider: p, model: up}]}
keys:
  - {name: k, key: "client-key-0123456789"}
"#,
    )
    .unwrap();
    Options {
        database: format!("sqlite://{}/cp.db", dir.display()),
        http_listen: "127.0.0.1:0".parse().unwrap(),
        grpc_listen: "127.0.0.1:0".parse().unwrap(),
        master_key: key.to_owned(),
        bootstrap: Some(bootstrap),
        admin_token: Some("admin-token-0123456789\n".to_owned()),
        node_token: Some("node-token-0123456789\n".to_owned()),
        ops_token: None,
        poll_interval: std::time::Duration::from_secs(2),
        tls: None,
        connections: Default::default(),
        balance: Default::default(),
        discovery: Default::default(),
    }
}

#[tokio::test]
async fn starts_bootstraps_serves_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let handle = ControlPlane::start(options(dir.path(), KEY)).await.unwrap();
    assert!(get(handle.http_addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    let metrics = get(handle.http_addr, "/metrics").await;
    assert!(metrics.contains("switchyard_control_config_revision 1\n"), "{metrics}");
    assert!(metrics.contains("switchyard_control_store_up 1\n"));
    assert_eq!(
        handle.store.admin_role("admin-token-0123456789").await.unwrap(),
        Some(switchyard_control::store::Role::Admin)
    );
    assert!(handle.store.node_token_allows("node-token-0123456789", "any-node").await.unwrap());
    handle.shutdown().await;

    // The same bootstrap again: nothing changes.
    let handle = ControlPlane::start(options(dir.path(), KEY)).await.unwrap();
    assert_eq!(handle.store.revision().await.unwrap(), 1);
    handle.shutdown().await;

    // Another master key: refused, with a clear message.
    let other = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let err = ControlPlane::start(options(dir.path(), other)).await.err().unwrap();
    assert!(matches!(err, StartError::Store(_)));
    assert!(err.to_string().starts_with("the master key does not match"), "{err}");
    let err = ControlPlane::start(options(dir.path(), "not-hex")).await.err().unwrap();
    assert!(err.to_string().contains("64 hex digits"), "{err}");
}

#[tokio::test]
async fn an_invalid_bootstrap_file_is_refused_with_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), KEY);
    std::fs::write(
        opts.bootstrap.as_ref().unwrap(),
        "providers: []\nmodels:\n  - {name: m, targets: [{provider: nope, model: x}]}\n",
    )
    .unwrap();
    let err = ControlPlane::start(opts.clone()).await.err().unwrap();
    assert!(err.to_string().contains("models[0].targets[0].provider: unknown provider \"nope\""), "{err}");
    opts.bootstrap = None;
    let handle = ControlPlane::start(opts).await.unwrap();
    assert_eq!(handle.store.revision().await.unwrap(), 0, "nothing was written");
    handle.shutdown().await;
}
