#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A measurement, not a test: telemetry ingestion rate (usage records
//! stored per second) with 20 node streams each sending batches of 500
//! records (up to 4 unacked at a time), on SQLite and, when a server
//! answers, PostgreSQL.
//!
//! `cargo test --release -p switchyard-control --test telemetry_bench -- --ignored --nocapture`

mod common;

use std::fmt::Write;
use std::time::Duration;
use switchyard_proto::pb::telemetry_client::TelemetryClient;
use switchyard_proto::pb::{self, RequestStatus, TelemetryBatch, UsageRecord};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

const NODES: usize = 20;
const BATCHES: u64 = 20;
const RECORDS: usize = 500;
const KEYS: usize = 50;
use common::admin::NODE_TOKEN;

fn document() -> String {
    let mut y = String::from(
        "providers:\n  - {name: p, kind: openai-compatible, base_url: \"http://127.0.0.1:1/v1\", \
         accounts: [{name: a, api_key: \"sk-upstream-000000\"}, {name: b, api_key: \"sk-upstream-111111\"}]}\n\
         models:\n  - name: m\n    price: {currency: USD, input_per_mtok: 0.15, output_per_mtok: 0.6, cached_input_per_mtok: 0.075}\n    \
         targets: [{provider: p, model: up}]\n  - {name: n, targets: [{provider: p, model: up-n}]}\nkeys:\n",
    );
    for k in 0..KEYS {
        let _ = writeln!(
            y,
            "  - {{name: key-{k}, key: \"client-key-{k:08}-0123456789\", budget: {{currency: USD, amount: 1000, period: month}}}}"
        );
    }
    y
}

fn batch(node: usize, sequence: u64, now: i64) -> TelemetryBatch {
    let usage = (0..RECORDS)
        .map(|i| {
            let n = i as u64 + sequence * 7;
            UsageRecord {
                request_id: format!("{node}-{sequence}-{i}"),
                started_at_ms: now - (n % 120) as i64 * 1000,
                key: format!("key-{}", (n as usize * 13 + node) % KEYS),
                route: if n.is_multiple_of(5) { "n" } else { "m" }.into(),
                provider: "p".into(),
                account: if n.is_multiple_of(2) { "a" } else { "b" }.into(),
                upstream_model: if n.is_multiple_of(5) { "up-n" } else { "up" }.into(),
                status: if n.is_multiple_of(50) { RequestStatus::UpstreamError } else { RequestStatus::Ok } as i32,
                http_status: 200,
                attempts: 1,
                stream: n.is_multiple_of(3),
                prompt_tokens: 200 + n % 1000,
                completion_tokens: 50 + n % 300,
                cached_tokens: n % 100,
                reasoning_tokens: 0,
                usage_source: pb::UsageSource::Reported as i32,
                latency_us: 50_000 + (n % 2000) * 1000,
                first_token_us: n.is_multiple_of(3).then_some(20_000 + (n % 500) * 1000),
                config_version: 1,
            }
        })
        .collect();
    TelemetryBatch { node_id: format!("edge-{node}"), boot_id: "boot".into(), sequence, usage, health: vec![] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn ingestion_rate() {
    for db in common::databases().await {
        let handle = common::admin::start(&db.url, Some(&document())).await;
        let url = format!("http://{}", handle.grpc_addr);
        let now = switchyard_control::store::now_ms();
        // Encoded up front: the measurement is the control plane's, not the client's.
        let work: Vec<Vec<TelemetryBatch>> =
            (0..NODES).map(|node| (1..=BATCHES).map(|seq| batch(node, seq, now)).collect()).collect();
        let started = Instant::now();
        let mut streams = Vec::new();
        for batches in work {
            let url = url.clone();
            streams.push(tokio::spawn(async move {
                let mut client = TelemetryClient::connect(url).await.unwrap();
                let (tx, rx) = mpsc::channel(4);
                let mut request = tonic::Request::new(ReceiverStream::new(rx));
                request.metadata_mut().insert("authorization", format!("Bearer {NODE_TOKEN}").parse().unwrap());
                let mut acks = client.report(request).await.unwrap().into_inner();
                let sender = tokio::spawn(async move {
                    for b in batches {
                        tx.send(b).await.unwrap();
                    }
                });
                for _ in 0..BATCHES {
                    let ack = tokio::time::timeout(Duration::from_secs(300), acks.message()).await.unwrap();
                    assert!(!ack.unwrap().unwrap().duplicate);
                }
                sender.await.unwrap();
            }));
        }
        for s in streams {
            s.await.unwrap();
        }
        let elapsed = started.elapsed();
        let records = NODES as u64 * BATCHES * RECORDS as u64;
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM usage_events").fetch_one(handle.store.pool()).await.unwrap();
        assert_eq!(stored, records as i64);
        println!(
            "{}: {records} records in {} batches from {NODES} streams in {elapsed:.2?}: {:.0} records/s, {:.0} batches/s",
            db.label,
            NODES as u64 * BATCHES,
            records as f64 / elapsed.as_secs_f64(),
            (NODES as u64 * BATCHES) as f64 / elapsed.as_secs_f64(),
        );
        handle.shutdown().await;
    }
}
