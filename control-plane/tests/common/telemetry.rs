//! A control plane bootstrapped for the telemetry tests, a data plane's
//! side of `Telemetry.Report` (send a batch, read its ack), record builders
//! and the usage query and metrics the tests read back.

use std::time::Duration;
use switchyard_control::Handle;
use switchyard_proto::pb::telemetry_client::TelemetryClient;
use switchyard_proto::pb::{self, RequestStatus, TelemetryAck, TelemetryBatch, UsageRecord};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

pub const DOCUMENT: &str = r#"
providers:
  - {name: p, kind: openai-compatible, base_url: "http://127.0.0.1:1/v1", accounts: [{name: a, api_key: "sk-upstream-000000"}]}
  - {name: q, kind: openai-compatible, base_url: "http://127.0.0.1:1/v1", accounts: [{name: b, api_key: "sk-upstream-111111"}]}
models:
  - name: m
    aliases: [smart]
    price: {currency: USD, input_per_mtok: 1.0, output_per_mtok: 2.0, cached_input_per_mtok: 0.5}
    targets:
      - {provider: p, model: up}
      - {provider: q, model: up-q, priority: 1, price: {currency: CNY, input_per_mtok: 10, output_per_mtok: 20}}
  - name: free
    targets: [{provider: p, model: up-free}]
keys:
  - {name: k, key: "client-key-0123456789", budget: {currency: USD, amount: 50.0, period: month}}
  - {name: k2, key: "client-key-9876543210"}
settings:
  usage: {retention: 1d}
"#;

/// A control plane on `database` bootstrapped from [`DOCUMENT`].
pub async fn start(database: &str) -> Handle {
    super::admin::start(database, Some(DOCUMENT)).await
}

pub fn now_ms() -> i64 {
    switchyard_control::store::now_ms()
}

pub struct Reporter {
    pub tx: mpsc::Sender<TelemetryBatch>,
    pub rx: Streaming<TelemetryAck>,
}

pub async fn reporter(handle: &Handle, token: &str) -> Result<Reporter, Status> {
    let client = TelemetryClient::connect(format!("http://{}", handle.grpc_addr)).await.unwrap();
    let mut client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let (tx, rx) = mpsc::channel(64);
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let response = client.report(request).await?;
    Ok(Reporter { tx, rx: response.into_inner() })
}

impl Reporter {
    pub async fn send(&mut self, batch: TelemetryBatch) -> Result<TelemetryAck, Status> {
        self.tx.send(batch).await.unwrap();
        self.next().await
    }

    pub async fn next(&mut self) -> Result<TelemetryAck, Status> {
        match tokio::time::timeout(Duration::from_secs(20), self.rx.message()).await.expect("an answer in time") {
            Ok(Some(ack)) => Ok(ack),
            Ok(None) => Err(Status::cancelled("stream ended")),
            Err(status) => Err(status),
        }
    }
}

pub fn batch(node: &str, boot: &str, sequence: u64, usage: Vec<UsageRecord>) -> TelemetryBatch {
    TelemetryBatch { node_id: node.into(), boot_id: boot.into(), sequence, usage, health: vec![] }
}

/// A record of `key` on `route` served by `provider/account` with `model`.
pub fn record(key: &str, route: &str, endpoint: (&str, &str, &str), started_at_ms: i64) -> UsageRecord {
    let (provider, account, model) = endpoint;
    UsageRecord {
        request_id: format!("r-{started_at_ms}-{}", fastrand_id()),
        started_at_ms,
        key: key.into(),
        route: route.into(),
        provider: provider.into(),
        account: account.into(),
        upstream_model: model.into(),
        status: RequestStatus::Ok as i32,
        http_status: 200,
        attempts: 1,
        stream: true,
        prompt_tokens: 100,
        completion_tokens: 20,
        cached_tokens: 0,
        reasoning_tokens: 0,
        usage_source: pb::UsageSource::Reported as i32,
        latency_us: 100_000,
        first_token_us: Some(10_000),
        config_version: 1,
    }
}

pub fn fastrand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub const P_UP: (&str, &str, &str) = ("p", "a", "up");
pub const Q_UP: (&str, &str, &str) = ("q", "b", "up-q");
pub const P_FREE: (&str, &str, &str) = ("p", "a", "up-free");

pub async fn count(handle: &Handle, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(handle.store.pool()).await.unwrap()
}

pub async fn query(handle: &Handle, by: pb::UsageGroupBy, since_ms: i64, key: Option<&str>) -> Vec<pb::UsageRow> {
    let q = pb::UsageQuery { group_by: by as i32, since_ms, key: key.map(str::to_owned) };
    super::admin::client(handle, Some(super::admin::ADMIN)).await.query_usage(q).await.unwrap().into_inner().rows
}

pub async fn metrics(handle: &Handle) -> String {
    reqwest::get(format!("http://{}/metrics", handle.http_addr)).await.unwrap().text().await.unwrap()
}

pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).map(|v| v.parse().unwrap()))
}
