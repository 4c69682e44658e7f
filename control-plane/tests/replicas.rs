#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Two control-plane replicas on one PostgreSQL: a change made through one
//! reaches a node connected to the other, by LISTEN/NOTIFY (polling is off
//! here, so only the notification can deliver it).

mod common;

use std::time::Duration;
use switchyard_control::store::{Change, Ownership};
use switchyard_control::{ControlPlane, Options};
use switchyard_proto::pb::config_discovery_client::ConfigDiscoveryClient;
use switchyard_proto::pb::{self, DiscoveryRequest, discovery_request};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const NODE_TOKEN: &str = "node-token-0123456789";

#[tokio::test]
async fn a_change_via_one_replica_reaches_a_node_on_the_other() {
    let Some(db) = common::postgres().await else { return };
    let replica = |bootstrap: Option<std::path::PathBuf>| {
        let mut options = Options::new(db.url.clone(), KEY);
        options.http_listen = "127.0.0.1:0".parse().unwrap();
        options.grpc_listen = "127.0.0.1:0".parse().unwrap();
        options.node_token = Some(NODE_TOKEN.to_owned());
        options.bootstrap = bootstrap;
        options.poll_interval = Duration::from_secs(3600);
        ControlPlane::start(options)
    };
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = dir.path().join("gateway.yaml");
    std::fs::write(
        &bootstrap,
        r#"
providers:
  - {name: p, kind: openai-compatible, base_url: "http://127.0.0.1:1/v1", accounts: [{name: a, api_key: "sk-upstream-000000"}]}
models:
  - {name: m, targets: [{provider: p, model: up}]}
"#,
    )
    .unwrap();
    let a = replica(Some(bootstrap)).await.unwrap();
    let b = replica(None).await.unwrap();

    // A node on replica B.
    let mut client = ConfigDiscoveryClient::connect(format!("http://{}", b.grpc_addr)).await.unwrap();
    let (tx, rx) = mpsc::channel(8);
    let node = pb::Node { id: "edge-b".into(), ..Default::default() };
    tx.send(DiscoveryRequest {
        kind: Some(discovery_request::Kind::Hello(pb::Hello { node: Some(node), held: vec![] })),
    })
    .await
    .unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", format!("Bearer {NODE_TOKEN}").parse().unwrap());
    let mut stream = client.stream(request).await.unwrap().into_inner();
    let config_version = |r: &pb::DiscoveryResponse| {
        r.version.as_ref().filter(|v| v.r#type == pb::ResourceType::Config as i32).map(|v| v.version)
    };
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = stream.message().await.unwrap().unwrap();
        seen.extend(config_version(&r));
    }
    assert_eq!(seen, [1]);

    // A write through replica A.
    let change = Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged };
    a.store
        .write(change, |c| {
            c.providers[0].accounts[0].weight = 4;
            Ok(())
        })
        .await
        .unwrap();
    let next =
        tokio::time::timeout(Duration::from_secs(20), stream.message()).await.expect("notified").unwrap().unwrap();
    assert_eq!(config_version(&next), Some(2));
    drop(stream);
    drop(tx);
    a.shutdown().await;
    b.shutdown().await;
}
