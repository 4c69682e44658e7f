//! A data plane started in-process on a gateway.yaml in a temporary folder,
//! bound to 127.0.0.1:0, with its admin listener. Test support: a failed
//! unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;
use switchyard_proxy::{DataPlane, Handle, Options};

/// Client keys of [`gateway_yaml`].
pub const APP_KEY: &str = "sk-client-app-0123456789";
pub const DIRECT_KEY: &str = "sk-client-direct-0123456789";
pub const LIMITED_KEY: &str = "sk-client-limited-0123456789";
pub const EXPIRED_KEY: &str = "sk-client-expired-0123456789";
pub const DISABLED_KEY: &str = "sk-client-disabled-0123456789";
/// May reach the upstream account's files (`passthrough: {paths: [/files]}`).
pub const FILES_KEY: &str = "sk-client-files-0123456789";
/// Upstream account keys of [`gateway_yaml`].
pub const UPSTREAM_KEY_A: &str = "sk-upstream-main-a-000000";
pub const UPSTREAM_KEY_B: &str = "sk-upstream-other-b-000000";

/// A realistic config over one or two fake upstreams: `main` (openai-compatible)
/// and `other`, a route with an alias, an upstream model with a `/`, keys of
/// every kind.
pub fn gateway_yaml(main: &str, other: &str) -> String {
    format!(
        r#"
providers:
  - name: main
    kind: openai-compatible
    base_url: {main}
    headers: {{X-Title: switchyard-tests}}
    timeout: {{connect: 2s, first_token: 5s, idle: 5s, total: 30s}}
    accounts:
      - {{name: a, api_key: "{UPSTREAM_KEY_A}"}}
  - name: other
    kind: openai-compatible
    base_url: {other}
    accounts:
      - {{name: b, api_key: "{UPSTREAM_KEY_B}"}}
models:
  - name: gpt-4o-mini
    aliases: [smart]
    targets: [{{provider: main, model: gpt-4o-mini-2024-07-18}}]
  - name: router-model
    targets: [{{provider: other, model: openai/gpt-4o-mini}}]
  - name: text-embedding-3-small
    targets: [{{provider: main, model: text-embedding-3-small}}]
keys:
  - {{name: app, key: "{APP_KEY}"}}
  - {{name: direct, key: "{DIRECT_KEY}", allow_direct: true}}
  - {{name: limited, key: "{LIMITED_KEY}", models: [smart]}}
  - {{name: expired, key: "{EXPIRED_KEY}", expires: 2020-01-01T00:00:00Z}}
  - {{name: disabled, key: "{DISABLED_KEY}", enabled: false}}
  - {{name: files, key: "{FILES_KEY}", passthrough: {{paths: [/files]}}}}
settings:
  default_model: gpt-4o-mini
  limits: {{max_body: 1MiB, max_concurrency: 64, max_buffered_bodies: 64MiB}}
"#
    )
}

pub struct Proxy {
    pub handle: Option<Handle>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Proxy {
    /// Starts a data plane on `yaml`.
    pub async fn start(yaml: &str) -> Proxy {
        Self::start_with(yaml, |_| {}).await
    }

    /// Starts a data plane on `yaml`, with `tweak` applied to its options.
    pub async fn start_with(yaml: &str, tweak: impl FnOnce(&mut Options)) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("gateway.yaml");
        std::fs::write(&config, yaml).unwrap();
        let mut options = Options::new("127.0.0.1:0".parse().unwrap(), config.clone());
        options.admin_listen = Some("127.0.0.1:0".parse().unwrap());
        options.grace = Duration::from_secs(10);
        tweak(&mut options);
        let handle = DataPlane::start(options).await.unwrap();
        Proxy { handle: Some(handle), dir, config }
    }

    pub fn handle(&self) -> &Handle {
        self.handle.as_ref().unwrap()
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.handle().addr)
    }

    pub fn admin_url(&self) -> String {
        format!("http://{}", self.handle().admin_addr.unwrap())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `version` in /status, once it differs from `from` (hot reload).
    pub async fn wait_for_version_change(&self, from: u64) -> u64 {
        let what = format!("the config version moves on from {from}");
        crate::wait::eventually_value(&what, async || self.config_version().await, |v| *v != from).await
    }

    pub async fn status(&self) -> serde_json::Value {
        reqwest::get(format!("{}/status", self.admin_url())).await.unwrap().json().await.unwrap()
    }

    pub async fn config_version(&self) -> u64 {
        self.status().await["config"]["version"].as_u64().unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.begin_shutdown();
        }
    }
}

/// A client that never pools (each test sees fresh connections) and never proxies.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A chat completion request body for `model`.
pub fn chat_body(model: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream})
}

/// An SSE reply that sends `{"n":1}`, then waits for the returned gate, then
/// sends `{"n":2}` and `[DONE]`: a stream held open until the test says so.
pub fn gated_stream() -> (crate::Reply, std::sync::Arc<tokio::sync::Notify>) {
    use crate::Chunk;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let chunks = vec![
        Chunk::event("{\"n\":1}"),
        Chunk::Wait(gate.clone()),
        Chunk::event("{\"n\":2}"),
        Chunk::Bytes(bytes::Bytes::from_static(b"data: [DONE]\n\n")),
    ];
    (crate::Reply::Sse { status: 200, headers: vec![], chunks }, gate)
}

/// A usage sink that keeps every record a proxy makes, for tests to assert on.
/// It can be held (each batch then waits in the sink task until
/// [`UsageCapture::release`]), which fills the proxy's usage channel.
pub struct UsageCapture {
    records: parking_lot::Mutex<Vec<switchyard_proxy::usage::UsageRecord>>,
    count: tokio::sync::watch::Sender<usize>,
    held: tokio::sync::watch::Sender<bool>,
    /// Batches that reached the sink (held or not).
    batches: tokio::sync::watch::Sender<usize>,
}

impl UsageCapture {
    pub fn new() -> std::sync::Arc<UsageCapture> {
        Self::with_hold(false)
    }

    /// A capture that holds the first batch (and every later one) until released.
    pub fn held() -> std::sync::Arc<UsageCapture> {
        Self::with_hold(true)
    }

    fn with_hold(held: bool) -> std::sync::Arc<UsageCapture> {
        std::sync::Arc::new(UsageCapture {
            records: parking_lot::Mutex::new(Vec::new()),
            count: tokio::sync::watch::Sender::new(0),
            held: tokio::sync::watch::Sender::new(held),
            batches: tokio::sync::watch::Sender::new(0),
        })
    }

    pub fn release(&self) {
        self.held.send_replace(false);
    }

    /// Every record so far, in the order they were made.
    pub fn records(&self) -> Vec<switchyard_proxy::usage::UsageRecord> {
        self.records.lock().clone()
    }

    /// The records once there are at least `n` (10 s at most).
    pub async fn wait_for(&self, n: usize) -> Vec<switchyard_proxy::usage::UsageRecord> {
        let mut count = self.count.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(10), count.wait_for(|c| *c >= n)).await;
        assert!(waited.is_ok(), "expected {n} usage records, got {:#?}", self.records());
        self.records()
    }

    /// The one record there is once one arrived; fails if more than one did.
    pub async fn only(&self) -> switchyard_proxy::usage::UsageRecord {
        let records = self.wait_for(1).await;
        assert_eq!(records.len(), 1, "{records:#?}");
        records[0].clone()
    }

    /// Resolves once `n` batches reached the sink.
    pub async fn wait_for_batches(&self, n: usize) {
        let mut batches = self.batches.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(10), batches.wait_for(|b| *b >= n)).await;
        assert!(waited.is_ok(), "no usage batch reached the sink");
    }
}

impl switchyard_proxy::usage::UsageSink for UsageCapture {
    fn record<'a>(
        &'a self,
        records: &'a [switchyard_proxy::usage::UsageRecord],
    ) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            self.batches.send_modify(|b| *b += 1);
            let mut held = self.held.subscribe();
            let _ = held.wait_for(|held| !*held).await;
            self.records.lock().extend_from_slice(records);
            self.count.send_replace(self.records.lock().len());
        })
    }
}

impl Proxy {
    /// Starts a data plane on `yaml` whose usage records also go to `capture`.
    pub async fn start_capturing(yaml: &str, capture: &std::sync::Arc<UsageCapture>) -> Proxy {
        let sink: std::sync::Arc<dyn switchyard_proxy::usage::UsageSink> = capture.clone();
        Self::start_with(yaml, |o| o.usage.sinks.push(sink)).await
    }
}
