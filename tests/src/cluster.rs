//! A control plane and data planes started in-process, the way the binaries
//! start them: the pieces of the end-to-end fleet tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::FakeUpstream;
use crate::harness::{APP_KEY, client};
use crate::wait::eventually_value;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use switchyard_control::{ControlPlane, Options as CpOptions};
use switchyard_proxy::{ControlPlaneOptions, DataPlane, Handle, Options, Source};

pub const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub const NODE_TOKEN: &str = "node-token-0123456789";

/// A gateway.yaml with one provider (`main`, on `upstream`), route `m` and the
/// harness's app key, plus `extra` appended.
pub fn document(upstream: &FakeUpstream, extra: &str) -> String {
    format!(
        r#"
providers:
  - {{name: main, kind: openai-compatible, base_url: "{}", accounts: [{{name: a, api_key: "sk-upstream-000000"}}]}}
models:
  - {{name: m, targets: [{{provider: main, model: up-m}}]}}
keys:
  - {{name: app, key: "{APP_KEY}"}}
{extra}"#,
        upstream.base_url()
    )
}

/// Control-plane options on SQLite in `dir` (its `cp.db`), bootstrapped from
/// `document`, gRPC on `grpc` (port 0 for any), with the bootstrap node token.
pub fn control_plane_options(dir: &Path, document: &str, grpc: SocketAddr) -> CpOptions {
    let bootstrap = dir.join("gateway.yaml");
    std::fs::write(&bootstrap, document).unwrap();
    let mut options = CpOptions::new(format!("sqlite://{}/cp.db", dir.display()), MASTER_KEY);
    options.http_listen = "127.0.0.1:0".parse().unwrap();
    options.grpc_listen = grpc;
    options.bootstrap = Some(bootstrap);
    options.node_token = Some(NODE_TOKEN.to_owned());
    // Off unless a test turns it on: a scheduled read would take replies queued for the test.
    options.discovery.interval = std::time::Duration::ZERO;
    options
}

pub async fn control_plane(dir: &Path, document: &str) -> switchyard_control::Handle {
    ControlPlane::start(control_plane_options(dir, document, "127.0.0.1:0".parse().unwrap())).await.unwrap()
}

/// Options for a data plane subscribed to `urls` as `node_id`.
pub fn data_plane_options(urls: &[String], cache: &Path, token: &str, node_id: &str) -> Options {
    let node = switchyard_proto::pb::Node { id: node_id.into(), region: "eu".into(), ..Default::default() };
    let cp = ControlPlaneOptions {
        urls: urls.to_vec(),
        token: token.to_owned(),
        cache_dir: cache.to_path_buf(),
        node,
        tls: Default::default(),
        telemetry: Default::default(),
        allow_insecure: false,
    };
    let mut options = Options::with_source("127.0.0.1:0".parse().unwrap(), Source::ControlPlane(cp));
    options.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    options.grace = Duration::from_secs(1);
    options
}

pub async fn data_plane(url: &str, cache: &Path, token: &str, node_id: &str) -> Handle {
    DataPlane::start(data_plane_options(&[url.to_owned()], cache, token, node_id)).await.unwrap()
}

/// The status of a chat request for `model` through `dp`.
pub async fn chat(dp: &Handle, model: &str) -> u16 {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let url = format!("http://{}/v1/chat/completions", dp.addr);
    client().post(url).bearer_auth(APP_KEY).json(&body).send().await.unwrap().status().as_u16()
}

/// Waits until `model` answers `status`: config arrives asynchronously.
pub async fn until(dp: &Handle, model: &str, status: u16) {
    eventually_value(&format!("{model} answers {status}"), async || chat(dp, model).await, |s| *s == status).await;
}
