#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Telemetry.Report against a real control plane, on SQLite and (when a
//! server answers) PostgreSQL: batches stored exactly once under
//! at-least-once delivery (duplicates, two boots, concurrent redelivery, a
//! restart), node-token binding, validation, cost from target and route
//! prices, spend moving the published Runtime, manual balances decremented,
//! QueryUsage sums and percentiles, retention, health events and heartbeats.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;
use switchyard_control::store::{NodeRecord, UsageGroup};
use switchyard_control::{ControlPlane, Handle, Options, telemetry};
use switchyard_proto::pb::admin_client::AdminClient;
use switchyard_proto::pb::telemetry_client::TelemetryClient;
use switchyard_proto::pb::{self, RequestStatus, TelemetryAck, TelemetryBatch, UsageRecord};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const NODE_TOKEN: &str = "node-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

const DOCUMENT: &str = r#"
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

async fn start(database: &str) -> Handle {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = dir.path().join("gateway.yaml");
    std::fs::write(&bootstrap, DOCUMENT).unwrap();
    let mut options = Options::new(database, KEY);
    options.http_listen = "127.0.0.1:0".parse().unwrap();
    options.grpc_listen = "127.0.0.1:0".parse().unwrap();
    options.bootstrap = Some(bootstrap);
    options.node_token = Some(NODE_TOKEN.to_owned());
    options.admin_token = Some(ADMIN.to_owned());
    ControlPlane::start(options).await.unwrap()
}

fn now_ms() -> i64 {
    switchyard_control::store::now_ms()
}

struct Reporter {
    tx: mpsc::Sender<TelemetryBatch>,
    rx: Streaming<TelemetryAck>,
}

async fn reporter(handle: &Handle, token: &str) -> Result<Reporter, Status> {
    let client = TelemetryClient::connect(format!("http://{}", handle.grpc_addr)).await.unwrap();
    let mut client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let (tx, rx) = mpsc::channel(64);
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let response = client.report(request).await?;
    Ok(Reporter { tx, rx: response.into_inner() })
}

impl Reporter {
    async fn send(&mut self, batch: TelemetryBatch) -> Result<TelemetryAck, Status> {
        self.tx.send(batch).await.unwrap();
        self.next().await
    }

    async fn next(&mut self) -> Result<TelemetryAck, Status> {
        match tokio::time::timeout(Duration::from_secs(20), self.rx.message()).await.expect("an answer in time") {
            Ok(Some(ack)) => Ok(ack),
            Ok(None) => Err(Status::cancelled("stream ended")),
            Err(status) => Err(status),
        }
    }
}

fn batch(node: &str, boot: &str, sequence: u64, usage: Vec<UsageRecord>) -> TelemetryBatch {
    TelemetryBatch { node_id: node.into(), boot_id: boot.into(), sequence, usage, health: vec![] }
}

/// A record of `key` on `route` served by `provider/account` with `model`.
fn record(key: &str, route: &str, endpoint: (&str, &str, &str), started_at_ms: i64) -> UsageRecord {
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

fn fastrand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

const P_UP: (&str, &str, &str) = ("p", "a", "up");
const Q_UP: (&str, &str, &str) = ("q", "b", "up-q");
const P_FREE: (&str, &str, &str) = ("p", "a", "up-free");

async fn count(handle: &Handle, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(handle.store.pool()).await.unwrap()
}

async fn admin(
    handle: &Handle,
) -> AdminClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, impl tonic::service::Interceptor>,
> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", handle.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    AdminClient::with_interceptor(channel, |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
        Ok(r)
    })
}

async fn query(handle: &Handle, by: pb::UsageGroupBy, since_ms: i64, key: Option<&str>) -> Vec<pb::UsageRow> {
    let q = pb::UsageQuery { group_by: by as i32, since_ms, key: key.map(str::to_owned) };
    admin(handle).await.query_usage(q).await.unwrap().into_inner().rows
}

async fn metrics(handle: &Handle) -> String {
    reqwest::get(format!("http://{}/metrics", handle.http_addr)).await.unwrap().text().await.unwrap()
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).map(|v| v.parse().unwrap()))
}

#[tokio::test]
async fn a_batch_is_stored_once_and_acked() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let now = now_ms();
        let usage = vec![record("k", "m", P_UP, now), record("k", "m", P_UP, now), record("k2", "free", P_FREE, now)];
        let first = batch("edge-1", "boot-1", 1, usage);
        let ack = node.send(first.clone()).await.unwrap();
        assert_eq!(ack, TelemetryAck { boot_id: "boot-1".into(), sequence: 1, duplicate: false }, "{}", db.label);
        assert_eq!(count(&handle, "telemetry_batches").await, 1);
        assert_eq!(count(&handle, "usage_events").await, 3);

        // Delivered again (the ack was lost): acked as a duplicate, nothing written.
        let again = node.send(first.clone()).await.unwrap();
        assert!(again.duplicate, "{}", db.label);
        assert_eq!((again.boot_id.as_str(), again.sequence), ("boot-1", 1));
        assert_eq!(count(&handle, "telemetry_batches").await, 1);
        assert_eq!(count(&handle, "usage_events").await, 3);
        let rows = query(&handle, pb::UsageGroupBy::Key, 0, None).await;
        assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 3);

        // The node restarted: a new boot numbers its batches from 1 again.
        let ack = node.send(batch("edge-1", "boot-2", 1, vec![record("k", "m", P_UP, now)])).await.unwrap();
        assert!(!ack.duplicate, "{}", db.label);
        // Another node's sequence 1 is its own.
        let ack = node.send(batch("edge-2", "boot-1", 1, vec![record("k", "m", P_UP, now)])).await.unwrap();
        assert!(!ack.duplicate, "{}", db.label);
        assert_eq!(count(&handle, "telemetry_batches").await, 3);
        assert_eq!(count(&handle, "usage_events").await, 5);

        // Acks come back in order on one stream.
        for seq in 2..=6 {
            node.tx.send(batch("edge-1", "boot-2", seq, vec![record("k2", "free", P_FREE, now)])).await.unwrap();
        }
        for seq in 2..=6 {
            assert_eq!(node.next().await.unwrap().sequence, seq);
        }

        let text = metrics(&handle).await;
        assert_eq!(metric(&text, "switchyard_cp_telemetry_batches_total{result=\"stored\"}"), Some(8.0), "{text}");
        assert_eq!(metric(&text, "switchyard_cp_telemetry_batches_total{result=\"duplicate\"}"), Some(1.0));
        assert_eq!(metric(&text, "switchyard_cp_telemetry_batches_total{result=\"refused\"}"), Some(0.0));
        assert_eq!(metric(&text, "switchyard_cp_usage_records_total"), Some(10.0));
        assert_eq!(metric(&text, "switchyard_cp_telemetry_streams"), Some(1.0));
        assert_eq!(metric(&text, "switchyard_cp_connected_nodes"), Some(0.0));
        drop(node);
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn node_tokens_bind_the_node_id_and_bad_batches_are_refused() {
    let db = common::sqlite();
    let handle = start(&db.url).await;
    handle.store.put_node_token("edge-1", "edge-1", "edge-1-token-0123456789", "test").await.unwrap();
    let now = now_ms();

    let err = reporter(&handle, "no-such-token-0123456789").await.err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated);

    // A per-node token reports for its node only.
    let mut node = reporter(&handle, "edge-1-token-0123456789").await.unwrap();
    assert!(!node.send(batch("edge-1", "b", 1, vec![record("k", "m", P_UP, now)])).await.unwrap().duplicate);
    let err = node.send(batch("edge-2", "b", 1, vec![record("k", "m", P_UP, now)])).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("edge-2"), "{err:?}");
    assert_eq!(count(&handle, "usage_events").await, 1, "the forged batch wrote nothing");

    // Bad batches name the field.
    let cases: Vec<(TelemetryBatch, &str)> = vec![
        (batch("", "b", 1, vec![]), "node_id: required"),
        (batch("edge-1", "", 1, vec![]), "boot_id: required"),
        (batch("edge-1", "b", 0, vec![]), "sequence: must be 1 or more"),
        (batch("edge-1", "b", u64::MAX, vec![]), "sequence: "),
        (batch("edge-1", "b", 2, vec![UsageRecord::default(); telemetry::MAX_RECORDS + 1]), "usage: "),
        (
            batch("edge-1", "b", 2, vec![UsageRecord { key: "x".repeat(5000), ..Default::default() }]),
            "usage[0].key: 5000 bytes",
        ),
        (
            TelemetryBatch {
                health: vec![pb::HealthEvent { at_ms: 1, event: None }],
                ..batch("edge-1", "b", 2, vec![])
            },
            "health[0].event: required",
        ),
    ];
    for (bad, message) in cases {
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let err = node.send(bad).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().starts_with(message), "{message}: {err:?}");
    }
    assert_eq!(count(&handle, "telemetry_batches").await, 1);
    let text = metrics(&handle).await;
    assert_eq!(metric(&text, "switchyard_cp_telemetry_batches_total{result=\"refused\"}"), Some(8.0), "{text}");
    handle.shutdown().await;
}

#[tokio::test]
async fn concurrent_duplicate_deliveries_store_once() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let mut a = reporter(&handle, NODE_TOKEN).await.unwrap();
        let mut b = reporter(&handle, NODE_TOKEN).await.unwrap();
        let now = now_ms();
        for seq in 1..=20 {
            let sent = batch("edge-1", "boot-1", seq, (0..25).map(|_| record("k", "m", P_UP, now)).collect());
            let (x, y) = tokio::join!(a.send(sent.clone()), b.send(sent));
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(x.duplicate != y.duplicate, "{}: sequence {seq} stored exactly once: {x:?} {y:?}", db.label);
        }
        assert_eq!(count(&handle, "telemetry_batches").await, 20, "{}", db.label);
        assert_eq!(count(&handle, "usage_events").await, 500, "{}", db.label);
        let rows = query(&handle, pb::UsageGroupBy::Node, 0, None).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].requests, 500, "{}: rollups counted once", db.label);
        assert_eq!(rows[0].prompt_tokens, 500 * 100);
        drop((a, b));
        handle.shutdown().await;
    }
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn cost_comes_from_the_serving_target_and_moves_spend_and_balances() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let balance = switchyard_control::store::Balance {
            provider: "p".into(),
            account: "a".into(),
            currency: "USD".into(),
            amount_micros: 10_000_000,
            source: "manual".into(),
            updated_at_ms: now_ms(),
        };
        handle.store.set_balance(&balance, "test").await.unwrap();
        handle.publisher.refresh().await.unwrap();
        let before = handle.publisher.current().runtime.message.keys["k"].remaining_budget_micros;
        assert_eq!(before, Some(50_000_000));

        let now = now_ms();
        // The route's price (USD), cached prompt tokens at the cached price.
        let route_priced = UsageRecord {
            request_id: "route-priced".into(),
            prompt_tokens: 1_000_000,
            cached_tokens: 400_000,
            completion_tokens: 500_000,
            reasoning_tokens: 300_000,
            ..record("k", "m", P_UP, now)
        };
        // The target's own price (CNY, no cached price: cached tokens at the input price).
        let target_priced = UsageRecord {
            request_id: "target-priced".into(),
            prompt_tokens: 1_000_000,
            cached_tokens: 200_000,
            completion_tokens: 1_000_000,
            ..record("k", "m", Q_UP, now)
        };
        // A route without a price.
        let unpriced = UsageRecord { request_id: "unpriced".into(), ..record("k2", "free", P_FREE, now) };
        // A direct call: priced as a route serving that provider and model would.
        let direct = UsageRecord {
            request_id: "direct".into(),
            prompt_tokens: 1_000_000,
            completion_tokens: 0,
            ..record("k", "p:up", P_UP, now)
        };
        // An alias resolves to its route.
        let alias = UsageRecord {
            request_id: "alias".into(),
            prompt_tokens: 0,
            completion_tokens: 100_000,
            ..record("k", "smart", P_UP, now)
        };
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let sent = vec![route_priced, target_priced, unpriced, direct, alias];
        node.send(batch("edge-1", "boot-1", 1, sent)).await.unwrap();

        let rows = sqlx::query_as::<_, (String, i64, String)>(
            "SELECT request_id, cost_micros, currency FROM usage_events ORDER BY request_id",
        )
        .fetch_all(handle.store.pool())
        .await
        .unwrap();
        let costs: BTreeMap<String, (i64, String)> = rows.into_iter().map(|(r, c, cur)| (r, (c, cur))).collect();
        assert_eq!(costs["route-priced"], (600_000 + 200_000 + 1_000_000, "USD".into()), "{}", db.label);
        assert_eq!(costs["target-priced"], (8_000_000 + 2_000_000 + 20_000_000, "CNY".into()));
        assert_eq!(costs["unpriced"], (0, String::new()));
        assert_eq!(costs["direct"], (1_000_000, "USD".into()));
        assert_eq!(costs["alias"], (200_000, "USD".into()));

        // Currencies are kept apart.
        let rows = query(&handle, pb::UsageGroupBy::Model, 0, None).await;
        let by: BTreeMap<(String, String), i64> =
            rows.iter().map(|r| ((r.group.clone(), r.currency.clone()), r.cost_micros)).collect();
        let want: BTreeMap<(String, String), i64> = [
            (("free".into(), String::new()), 0),
            (("m".into(), "CNY".into()), 30_000_000),
            (("m".into(), "USD".into()), 1_800_000),
            (("p:up".into(), "USD".into()), 1_000_000),
            (("smart".into(), "USD".into()), 200_000),
        ]
        .into();
        assert_eq!(by, want, "{}", db.label);

        // Spend: the key's USD usage, in its budget period; CNY is not its budget's currency.
        let spent = 1_800_000 + 1_000_000 + 200_000;
        let spend = handle.store.spend(0).await.unwrap();
        let (currency, micros) = spend.values().next().unwrap();
        assert_eq!((spend.len(), currency.as_str(), *micros), (1, "USD", spent), "{}", db.label);
        wait_for("the Runtime to show the spend", async || {
            handle.publisher.current().runtime.message.keys["k"].remaining_budget_micros == Some(50_000_000 - spent)
        })
        .await;
        // The manual balance of p/a paid for everything p/a served in USD.
        let balances = handle.store.balances().await.unwrap();
        assert_eq!(balances.len(), 1);
        assert_eq!(balances[0].amount_micros, 10_000_000 - spent, "{}", db.label);

        // A duplicate moves nothing.
        let again = vec![UsageRecord { request_id: "direct".into(), ..record("k", "p:up", P_UP, now) }];
        node.send(batch("edge-1", "boot-1", 2, again.clone())).await.unwrap();
        assert!(node.send(batch("edge-1", "boot-1", 2, again)).await.unwrap().duplicate);
        let balances = handle.store.balances().await.unwrap();
        assert_eq!(balances[0].amount_micros, 10_000_000 - spent - 140, "100 prompt + 20 completion tokens");
        drop(node);
        handle.shutdown().await;
    }
}

/// What QueryUsage should answer, from the records sent (node, record, cost, currency).
fn expected(
    sent: &[(String, UsageRecord)],
    by: pb::UsageGroupBy,
    since_ms: i64,
    key: Option<&str>,
) -> BTreeMap<(String, String), [i64; 7]> {
    let mut out: BTreeMap<(String, String), [i64; 7]> = BTreeMap::new();
    for (node, r) in sent {
        if r.started_at_ms < since_ms || key.is_some_and(|k| k != r.key) {
            continue;
        }
        let (cost, currency) = match (r.route.as_str(), r.provider.as_str()) {
            ("m", "p") => {
                let cached = r.cached_tokens as i64;
                ((r.prompt_tokens as i64 - cached) + cached / 2 + 2 * r.completion_tokens as i64, "USD")
            }
            ("m", "q") => (10 * r.prompt_tokens as i64 + 20 * r.completion_tokens as i64, "CNY"),
            _ => (0, ""),
        };
        let group = match by {
            pb::UsageGroupBy::Key => r.key.clone(),
            pb::UsageGroupBy::Model => r.route.clone(),
            pb::UsageGroupBy::Provider => r.provider.clone(),
            pb::UsageGroupBy::Account => format!("{}/{}", r.provider, r.account),
            _ => node.clone(),
        };
        let e = out.entry((group, currency.to_owned())).or_default();
        let error = matches!(RequestStatus::try_from(r.status).unwrap(), RequestStatus::UpstreamError);
        let add = [
            1,
            i64::from(error),
            r.prompt_tokens as i64,
            r.completion_tokens as i64,
            r.cached_tokens as i64,
            r.reasoning_tokens as i64,
            cost,
        ];
        for (x, y) in e.iter_mut().zip(add) {
            *x += y;
        }
    }
    out
}

fn answered(rows: &[pb::UsageRow]) -> BTreeMap<(String, String), [i64; 7]> {
    rows.iter()
        .map(|r| {
            let v = [
                r.requests as i64,
                r.errors as i64,
                r.prompt_tokens as i64,
                r.completion_tokens as i64,
                r.cached_tokens as i64,
                r.reasoning_tokens as i64,
                r.cost_micros,
            ];
            ((r.group.clone(), r.currency.clone()), v)
        })
        .collect()
}

#[tokio::test]
async fn query_usage_sums_what_was_sent() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let now = now_ms();
        // A cut in the middle of a minute, 30 minutes ago: records either side of it.
        let cut = (now - 30 * 60_000).div_euclid(60_000) * 60_000 + 30_000;
        let times = [now - 2 * 3_600_000, now - 3_600_000 + 5, cut - 1, cut, cut + 1, now - 60_000, now];
        let endpoints = [("m", P_UP), ("m", Q_UP), ("free", P_FREE)];
        let statuses = [RequestStatus::Ok, RequestStatus::UpstreamError, RequestStatus::ClientClosed];
        let mut sent = Vec::new();
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for node in ["edge-1", "edge-2"] {
            let mut usage = Vec::new();
            for _ in 0..150 {
                let (route, endpoint) = endpoints[next(3) as usize];
                let key = ["k", "k2"][next(2) as usize];
                let mut r = record(key, route, endpoint, times[next(times.len() as u64) as usize]);
                r.status = statuses[next(3) as usize] as i32;
                r.prompt_tokens = 1 + next(5000);
                r.cached_tokens = 2 * next(r.prompt_tokens / 2 + 1);
                r.completion_tokens = next(2000);
                r.reasoning_tokens = next(r.completion_tokens + 1);
                usage.push(r.clone());
                sent.push((node.to_owned(), r));
            }
            let mut reporter = reporter(&handle, NODE_TOKEN).await.unwrap();
            for (i, chunk) in usage.chunks(40).enumerate() {
                reporter.send(batch(node, "boot", i as u64 + 1, chunk.to_vec())).await.unwrap();
            }
        }
        let bys = [
            pb::UsageGroupBy::Key,
            pb::UsageGroupBy::Model,
            pb::UsageGroupBy::Provider,
            pb::UsageGroupBy::Account,
            pb::UsageGroupBy::Node,
        ];
        for by in bys {
            for since in [0, now - 3 * 3_600_000, now - 3_600_000, cut, cut + 1, now + 1] {
                for key in [None, Some("k"), Some("k2")] {
                    let rows = query(&handle, by, since, key).await;
                    assert_eq!(
                        answered(&rows),
                        expected(&sent, by, since, key),
                        "{}: by {by:?} since {since} key {key:?}",
                        db.label
                    );
                }
            }
        }
        // The store's own answer agrees with the service's (and groups accounts as provider/account).
        let totals = handle.store.usage(UsageGroup::Account, 0, None).await.unwrap();
        assert!(totals.iter().any(|t| t.group == "q/b" && t.currency == "CNY"));

        let err =
            admin(&handle).await.query_usage(pb::UsageQuery { group_by: 0, since_ms: 0, key: None }).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with("group_by: "), "{err:?}");
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn percentiles_follow_a_known_distribution() {
    let db = common::sqlite();
    let handle = start(&db.url).await;
    let now = now_ms();
    let usage: Vec<UsageRecord> = (1..=1000u64)
        .map(|i| UsageRecord {
            latency_us: i * 1000,
            first_token_us: Some(i * 500),
            ..record("k", "m", P_UP, now - (i as i64 % 3) * 60_000)
        })
        .collect();
    let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
    for (i, chunk) in usage.chunks(300).enumerate() {
        node.send(batch("edge-1", "boot", i as u64 + 1, chunk.to_vec())).await.unwrap();
    }
    // Rejected requests are counted but never reached an upstream: not in the latency.
    let rejected = UsageRecord {
        status: RequestStatus::Rejected as i32,
        latency_us: 1,
        first_token_us: None,
        ..record("k", "m", P_UP, now)
    };
    node.send(batch("edge-1", "boot", 9, vec![rejected; 500])).await.unwrap();
    let rows = query(&handle, pb::UsageGroupBy::Model, 0, None).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.requests, r.errors), (1500, 500));
    let close = |got: u64, want: u64| got.abs_diff(want) * 16 <= want;
    assert!(close(r.latency_p50_us, 500_000), "p50 {}", r.latency_p50_us);
    assert!(close(r.latency_p99_us, 990_000), "p99 {}", r.latency_p99_us);
    assert!(close(r.first_token_p50_us, 250_000), "ttft p50 {}", r.first_token_p50_us);
    assert!(close(r.first_token_p99_us, 495_000), "ttft p99 {}", r.first_token_p99_us);
    handle.shutdown().await;
}

#[tokio::test]
async fn retention_deletes_old_rows() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let now = now_ms();
        let day = 86_400_000;
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let old: Vec<_> = (0..30).map(|i| record("k", "m", P_UP, now - 2 * day - i * 60_000)).collect();
        let new: Vec<_> = (0..20).map(|i| record("k", "m", P_UP, now - i * 1000)).collect();
        let mut health = batch("edge-1", "boot", 3, vec![]);
        health.health.push(pb::HealthEvent {
            at_ms: now - 2 * day,
            event: Some(pb::health_event::Event::Breaker(pb::BreakerTransition {
                provider: "p".into(),
                account: "a".into(),
                route: "m".into(),
                upstream_model: "up".into(),
                from: pb::BreakerState::Closed as i32,
                to: pb::BreakerState::Open as i32,
                reason: "consecutive_failures".into(),
                open_for_ms: 30_000,
            })),
        });
        node.send(batch("edge-1", "boot", 1, old)).await.unwrap();
        node.send(batch("edge-1", "boot", 2, new)).await.unwrap();
        node.send(health).await.unwrap();
        assert_eq!(count(&handle, "usage_events").await, 50);
        assert!(count(&handle, "usage_minutes").await > 30);
        assert_eq!(count(&handle, "breaker_events").await, 1);

        // settings.usage.retention is 1d.
        let keep = handle.publisher.current().model().settings.usage_retention;
        assert_eq!(keep, Duration::from_secs(86_400));
        let deleted = telemetry::prune(&handle.store, keep).await.unwrap();
        assert_eq!(count(&handle, "usage_events").await, 20, "{}", db.label);
        assert!(count(&handle, "usage_minutes").await <= 2, "{}", db.label);
        assert_eq!(count(&handle, "breaker_events").await, 0);
        assert_eq!(count(&handle, "endpoint_health").await, 0);
        assert!(deleted >= 30 + 30 + 2);
        // The batches themselves were received now: kept (they guard against redelivery).
        assert_eq!(count(&handle, "telemetry_batches").await, 3);
        let rows = query(&handle, pb::UsageGroupBy::Key, 0, None).await;
        assert_eq!(rows[0].requests, 20);
        // Bounded passes: everything goes, however many chunks it takes.
        let many: Vec<_> =
            (0..telemetry::RETENTION_CHUNK + 7).map(|i| record("k2", "free", P_FREE, now - 3 * day - i)).collect();
        for (i, chunk) in many.chunks(telemetry::MAX_RECORDS).enumerate() {
            node.send(batch("edge-1", "boot", 10 + i as u64, chunk.to_vec())).await.unwrap();
        }
        telemetry::prune(&handle.store, keep).await.unwrap();
        assert_eq!(count(&handle, "usage_events").await, 20, "{}", db.label);
        drop(node);
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn breaker_transitions_and_heartbeats() {
    let db = common::sqlite();
    let handle = start(&db.url).await;
    let now = now_ms();
    let node = NodeRecord {
        id: "edge-1".into(),
        region: String::new(),
        zone: String::new(),
        labels: BTreeMap::new(),
        build_version: String::new(),
        boot_id: "boot".into(),
        connected: false,
        config: (0, String::new()),
        runtime: (0, String::new()),
        last_nack: None,
        first_seen_ms: 0,
        last_seen_ms: 0,
    };
    handle.store.record_node(&node).await.unwrap();
    // The control plane counts live nodes too: on SQLite a count racing it may find the database busy.
    let live = async || loop {
        match handle.store.sync_live_nodes(60_000).await {
            Ok((n, _)) => return n,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert_eq!(live().await, 0, "no stream, no heartbeat: lost");

    let transition = |at_ms: i64, from: pb::BreakerState, to: pb::BreakerState| pb::HealthEvent {
        at_ms,
        event: Some(pb::health_event::Event::Breaker(pb::BreakerTransition {
            provider: "p".into(),
            account: "a".into(),
            route: "m".into(),
            upstream_model: "up".into(),
            from: from as i32,
            to: to as i32,
            reason: "consecutive_failures".into(),
            open_for_ms: 30_000,
        })),
    };
    use pb::BreakerState::{Closed, HalfOpen, Open};
    let mut first = batch("edge-1", "boot", 1, vec![]);
    first.health = vec![
        transition(now - 2000, Closed, Open),
        transition(now - 1000, Open, HalfOpen),
        pb::HealthEvent {
            at_ms: now,
            event: Some(pb::health_event::Event::Heartbeat(pb::Heartbeat {
                config_version: 1,
                runtime_version: 1,
                inflight_requests: 7,
            })),
        },
    ];
    let mut reporter = reporter(&handle, NODE_TOKEN).await.unwrap();
    reporter.send(first).await.unwrap();
    // A late, older transition does not overwrite the newer state.
    let mut late = batch("edge-1", "boot", 2, vec![]);
    late.health = vec![transition(now - 1500, HalfOpen, Open)];
    reporter.send(late).await.unwrap();

    assert_eq!(count(&handle, "breaker_events").await, 3);
    let health = handle.store.endpoint_health().await.unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!((health[0].state.as_str(), health[0].at_ms), ("half_open", now - 1000));
    let (heartbeat, inflight): (i64, i64) =
        sqlx::query_as("SELECT last_heartbeat_ms, inflight_requests FROM nodes WHERE id = 'edge-1'")
            .fetch_one(handle.store.pool())
            .await
            .unwrap();
    assert!(heartbeat >= now, "stamped on receipt");
    assert_eq!(inflight, 7);
    assert_eq!(live().await, 1, "a heartbeat keeps it live");
    handle.shutdown().await;
}

#[tokio::test]
async fn a_control_plane_restart_loses_and_doubles_nothing() {
    const N: u64 = 6;
    const M: u64 = 4;
    const EACH: usize = 25;
    for db in common::databases().await {
        let now = now_ms();
        let batches: Vec<TelemetryBatch> = (1..=N + M)
            .map(|seq| {
                let usage = (0..EACH).map(|i| record("k", "m", P_UP, now - i as i64)).collect();
                batch("edge-1", "boot-1", seq, usage)
            })
            .collect();
        let handle = start(&db.url).await;
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        for b in &batches[..N as usize] {
            node.send(b.clone()).await.unwrap();
        }
        // The last ack is lost with the connection: the node still holds batch N.
        drop(node);
        let addr = handle.grpc_addr;
        handle.shutdown().await;
        assert!(TelemetryClient::connect(format!("http://{addr}")).await.is_err(), "the control plane is down");

        let handle = start(&db.url).await;
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let mut duplicates = 0;
        for b in &batches {
            duplicates += u64::from(node.send(b.clone()).await.unwrap().duplicate);
        }
        assert_eq!(duplicates, N, "{}", db.label);
        assert_eq!(count(&handle, "telemetry_batches").await, (N + M) as i64, "{}", db.label);
        assert_eq!(count(&handle, "usage_events").await, ((N + M) as usize * EACH) as i64, "{}", db.label);
        let rows = query(&handle, pb::UsageGroupBy::Key, 0, None).await;
        assert_eq!(rows[0].requests, (N + M) * EACH as u64, "{}", db.label);
        let spend = handle.store.spend(0).await.unwrap();
        let per = 100 + 2 * 20; // 100 prompt tokens at 1/M, 20 completion at 2/M: 140 micro-USD
        assert_eq!(spend.values().next().unwrap().1, per * ((N + M) as i64 * EACH as i64), "{}", db.label);
        drop(node);
        handle.shutdown().await;
    }
}
