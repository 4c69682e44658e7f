#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A measurement, not a test: commit-to-all-ACK latency of the config stream
//! with 100 data-plane streams and a snapshot of 10,000 keys and 500
//! accounts, and that snapshot's encoded size.
//!
//! `cargo test --release -p switchyard-control --test stream_bench -- --ignored --nocapture`

use prost::Message;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;
use switchyard_control::store::{Change, Ownership};
use switchyard_control::{ControlPlane, Options};
use switchyard_proto::pb::config_discovery_client::ConfigDiscoveryClient;
use switchyard_proto::pb::{self, DiscoveryRequest, discovery_request};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

const NODES: usize = 100;
const KEYS: usize = 10_000;
const PROVIDERS: usize = 50;
const ACCOUNTS_EACH: usize = 10;
const NODE_TOKEN: &str = "node-token-0123456789";

fn document() -> String {
    let mut y = String::from("providers:\n");
    for p in 0..PROVIDERS {
        let _ = writeln!(
            y,
            "  - name: p{p}\n    kind: openai-compatible\n    base_url: http://127.0.0.1:1/v1\n    accounts:"
        );
        for a in 0..ACCOUNTS_EACH {
            let _ = writeln!(y, "      - {{name: a{a}, api_key: \"sk-upstream-{p}-{a}-0000000000000000\"}}");
        }
    }
    y.push_str("models:\n");
    for p in 0..PROVIDERS {
        let _ = writeln!(y, "  - {{name: m{p}, targets: [{{provider: p{p}, model: up-{p}}}]}}");
    }
    y.push_str("keys:\n");
    for k in 0..KEYS {
        let _ = writeln!(
            y,
            "  - {{name: key-{k}, key: \"client-key-{k:08}-0123456789\", rpm: 600, models: [m{}]}}",
            k % PROVIDERS
        );
    }
    y
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn commit_to_all_ack() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = dir.path().join("gateway.yaml");
    std::fs::write(&bootstrap, document()).unwrap();
    let mut options = Options::new(
        format!("sqlite://{}/cp.db", dir.path().display()),
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    );
    options.http_listen = "127.0.0.1:0".parse().unwrap();
    options.grpc_listen = "127.0.0.1:0".parse().unwrap();
    options.bootstrap = Some(bootstrap);
    options.node_token = Some(NODE_TOKEN.to_owned());
    let started = Instant::now();
    let handle = ControlPlane::start(options).await.unwrap();
    println!("bootstrap of {KEYS} keys, {} accounts: {:?}", PROVIDERS * ACCOUNTS_EACH, started.elapsed());
    let snapshot = handle.publisher.current();
    let encoded = snapshot.config.message.encode_to_vec();
    let packed = match &snapshot.config.payload {
        pb::discovery_response::Resource::Packed(bytes) => bytes.len(),
        _ => encoded.len(),
    };
    println!(
        "Config snapshot: {} bytes encoded, {packed} bytes packed (sent once per revision, shared)",
        encoded.len()
    );

    // NODES streams, each acking what it gets and reporting each config version it acked.
    let (acked_tx, mut acked_rx) = mpsc::unbounded_channel::<(usize, u64)>();
    let url = format!("http://{}", handle.grpc_addr);
    for i in 0..NODES {
        let (url, acked) = (url.clone(), acked_tx.clone());
        tokio::spawn(async move {
            let mut client = ConfigDiscoveryClient::connect(url).await.unwrap().max_decoding_message_size(64 << 20);
            let (tx, rx) = mpsc::channel(8);
            let node = pb::Node { id: format!("edge-{i}"), ..Default::default() };
            let hello = pb::Hello { node: Some(node), held: vec![] };
            tx.send(DiscoveryRequest { kind: Some(discovery_request::Kind::Hello(hello)) }).await.unwrap();
            let mut request = tonic::Request::new(ReceiverStream::new(rx));
            request.metadata_mut().insert("authorization", format!("Bearer {NODE_TOKEN}").parse().unwrap());
            let mut stream = client.stream(request).await.unwrap().into_inner();
            while let Ok(Some(r)) = stream.message().await {
                let version = r.version.clone().unwrap();
                // What a data plane does before it can apply it.
                switchyard_proto::packed::unpack(&r, 64 << 20).unwrap();
                let ack = pb::Ack { applied: Some(version.clone()), response_nonce: r.nonce };
                if tx.send(DiscoveryRequest { kind: Some(discovery_request::Kind::Ack(ack)) }).await.is_err() {
                    break;
                }
                if version.r#type == pb::ResourceType::Config as i32 {
                    let _ = acked.send((i, version.version));
                }
            }
        });
    }
    let mut first = std::collections::HashSet::new();
    while first.len() < NODES {
        let (i, _) = tokio::time::timeout(Duration::from_secs(60), acked_rx.recv()).await.unwrap().unwrap();
        first.insert(i);
    }
    println!("initial sync of {NODES} nodes: {:?}", started.elapsed());

    let store = Arc::clone(&handle.store);
    let mut samples = Vec::new();
    for round in 0..5u32 {
        let commit = Instant::now();
        let change = Change { actor: "bench", action: "edit", ownership: Ownership::Unmanaged };
        let version = store
            .write(change, move |c| {
                c.providers[0].accounts[0].weight = 2 + round;
                Ok(())
            })
            .await
            .unwrap();
        let written = commit.elapsed();
        handle.publisher.refresh().await.unwrap();
        let published = commit.elapsed();
        let mut done = std::collections::HashSet::new();
        let mut first = None;
        while done.len() < NODES {
            let (i, v) = tokio::time::timeout(Duration::from_secs(60), acked_rx.recv()).await.unwrap().unwrap();
            if v == version {
                done.insert(i);
                first.get_or_insert_with(|| commit.elapsed());
            }
        }
        let all = commit.elapsed();
        println!(
            "round {round}: store write {written:?}; snapshot published {published:?}; first ACK {:?}; all {NODES} ACKs {all:?}",
            first.unwrap_or_default()
        );
        samples.push(all);
    }
    samples.sort();
    println!("commit-to-all-ACK median over {} rounds: {:?}", samples.len(), samples[samples.len() / 2]);
    handle.shutdown().await;
}
