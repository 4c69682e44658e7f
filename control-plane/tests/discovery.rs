#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ConfigDiscovery.Stream against a real control plane: node tokens, both
//! resource types with nonces, ACK/NACK recorded, a write reaching the node,
//! nothing resent to a node that already holds the snapshot.

use std::time::Duration;
use switchyard_control::nodes::NodeState;
use switchyard_control::store::{Balance, Change, Ownership};
use switchyard_control::{ControlPlane, Handle, Options};
use switchyard_proto::model::{Config, RuntimeState};
use switchyard_proto::pb::config_discovery_client::ConfigDiscoveryClient;
use switchyard_proto::pb::{
    self, DiscoveryRequest, DiscoveryResponse, ResourceType, ResourceVersion, discovery_request,
};
use switchyard_tests::eventually_some;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const NODE_TOKEN: &str = "node-token-0123456789";

const DOCUMENT: &str = r#"
providers:
  - {name: p, kind: openai-compatible, base_url: "http://127.0.0.1:1/v1", accounts: [{name: a, api_key: "sk-upstream-000000"}]}
models:
  - {name: m, targets: [{provider: p, model: up}]}
keys:
  - {name: k, key: "client-key-0123456789"}
"#;

async fn start(dir: &std::path::Path) -> Handle {
    start_with(dir, DOCUMENT).await
}

async fn start_with(dir: &std::path::Path, document: &str) -> Handle {
    let bootstrap = dir.join("gateway.yaml");
    std::fs::write(&bootstrap, document).unwrap();
    let mut options = Options::new(format!("sqlite://{}/cp.db", dir.display()), KEY);
    options.http_listen = "127.0.0.1:0".parse().unwrap();
    options.grpc_listen = "127.0.0.1:0".parse().unwrap();
    options.bootstrap = Some(bootstrap);
    options.node_token = Some(NODE_TOKEN.to_owned());
    ControlPlane::start(options).await.unwrap()
}

struct Node {
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: Streaming<DiscoveryResponse>,
}

async fn connect(handle: &Handle, token: &str, id: &str, held: Vec<ResourceVersion>) -> Result<Node, tonic::Status> {
    let mut client = ConfigDiscoveryClient::connect(format!("http://{}", handle.grpc_addr)).await.unwrap();
    let (tx, rx) = mpsc::channel(8);
    let node = pb::Node { id: id.into(), region: "eu".into(), boot_id: "boot-1".into(), ..Default::default() };
    tx.send(DiscoveryRequest { kind: Some(discovery_request::Kind::Hello(pb::Hello { node: Some(node), held })) })
        .await
        .unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let response = client.stream(request).await?;
    Ok(Node { tx, rx: response.into_inner() })
}

impl Node {
    async fn next(&mut self) -> DiscoveryResponse {
        tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("a response in time")
            .unwrap()
            .unwrap()
    }

    async fn silent(&mut self) -> bool {
        tokio::time::timeout(Duration::from_millis(300), self.rx.message()).await.is_err()
    }

    async fn ack(&self, response: &DiscoveryResponse) {
        let ack = pb::Ack { applied: response.version.clone(), response_nonce: response.nonce.clone() };
        self.tx.send(DiscoveryRequest { kind: Some(discovery_request::Kind::Ack(ack)) }).await.unwrap();
    }
}

fn kind(r: &DiscoveryResponse) -> ResourceType {
    ResourceType::try_from(r.version.as_ref().unwrap().r#type).unwrap()
}

#[tokio::test]
async fn a_node_gets_both_resources_acks_and_follows_writes() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let mut node = connect(&handle, NODE_TOKEN, "edge-1", vec![]).await.unwrap();
    let (first, second) = (node.next().await, node.next().await);
    let (config, runtime) = if kind(&first) == ResourceType::Config { (first, second) } else { (second, first) };
    assert_eq!(config.version.as_ref().unwrap().version, 1);
    assert_ne!(config.nonce, runtime.nonce);
    let Some(pb::discovery_response::Resource::Config(wire)) = config.resource.clone() else { panic!("no config") };
    let model = Config::try_from(wire).unwrap();
    assert_eq!(model.models[0].name, "m");
    assert_eq!(model.providers[0].accounts[0].api_key.expose(), "sk-upstream-000000");
    node.ack(&config).await;
    node.ack(&runtime).await;
    let acked =
        |state: &NodeState| state.acked.iter().any(|v| v.r#type == ResourceType::Config as i32 && v.version == 1);
    let state = eventually_some("edge-1's ACK of config 1 registered", async || {
        handle.nodes.get("edge-1").filter(|state| acked(state))
    })
    .await;
    assert!(state.connected);

    // A write reaches the connected node (a Config change; Runtime is not re-sent).
    handle
        .store
        .write(Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged }, |c| {
            c.providers[0].accounts[0].weight = 3;
            Ok(())
        })
        .await
        .unwrap();
    handle.publisher.refresh().await.unwrap();
    let update = node.next().await;
    assert_eq!(kind(&update), ResourceType::Config);
    assert_eq!(update.version.as_ref().unwrap().version, 2);
    node.ack(&update).await;
    assert!(node.silent().await, "runtime unchanged: not re-sent");

    // A Runtime change never re-sends the Config.
    let balance = Balance {
        provider: "p".into(),
        account: "a".into(),
        currency: "USD".into(),
        amount_micros: 0,
        source: "manual".into(),
        poller: None,
        updated_at_ms: 1,
    };
    handle.store.set_balance(&balance, "test").await.unwrap();
    handle.publisher.refresh().await.unwrap();
    let update = node.next().await;
    assert_eq!(kind(&update), ResourceType::Runtime);
    let Some(pb::discovery_response::Resource::Runtime(wire)) = update.resource.clone() else { panic!() };
    let runtime = RuntimeState::try_from(wire).unwrap();
    assert_eq!(runtime.drained_accounts.len(), 1, "an account at zero is drained");
    assert!(node.silent().await);
    drop(node);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_node_that_holds_the_snapshot_gets_nothing_and_a_nack_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let snapshot = handle.publisher.current();
    let held = vec![
        ResourceVersion {
            r#type: ResourceType::Config as i32,
            version: 1,
            hash: snapshot.config.hash.as_bytes().to_vec(),
        },
        ResourceVersion {
            r#type: ResourceType::Runtime as i32,
            version: 0,
            hash: snapshot.runtime.hash.as_bytes().to_vec(),
        },
    ];
    let mut node = connect(&handle, NODE_TOKEN, "edge-2", held.clone()).await.unwrap();
    assert!(node.silent().await, "same hashes: nothing to send");
    drop(node);

    // A node holding something else (e.g. a restored database) converges, and may refuse.
    let mut stale = held.clone();
    stale[0].hash = vec![0; 32];
    stale[0].version = 99;
    let mut node = connect(&handle, NODE_TOKEN, "edge-3", stale).await.unwrap();
    let config = node.next().await;
    assert_eq!(kind(&config), ResourceType::Config);
    let nack = pb::Nack {
        r#type: ResourceType::Config as i32,
        response_nonce: config.nonce.clone(),
        error_detail: "models[0].targets[0].provider: unknown provider \"p\"".into(),
        held: None,
    };
    node.tx.send(DiscoveryRequest { kind: Some(discovery_request::Kind::Nack(nack)) }).await.unwrap();
    let nack = eventually_some("edge-3's NACK registered", async || {
        handle.nodes.get("edge-3").and_then(|state| state.last_nack)
    })
    .await;
    assert!(nack.error_detail.contains("unknown provider"));
    assert!(node.silent().await, "a refused version is not sent again until the snapshot changes");
    drop(node);
    handle.shutdown().await;
}

#[tokio::test]
async fn tokens_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let status = connect(&handle, "wrong-token-0123456789", "edge-1", vec![]).await.err().unwrap();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let status = connect(&handle, "", "edge-1", vec![]).await.err().unwrap();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "missing token");
    handle.store.put_node_token("edge-9", "edge-9", "edge-9-token-0123456789", "").await.unwrap();
    let status = connect(&handle, "edge-9-token-0123456789", "edge-1", vec![]).await.err().unwrap();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "a node cannot use another's id");
    assert!(status.message().contains("edge-1"));
    let mut node = connect(&handle, "edge-9-token-0123456789", "edge-9", vec![]).await.unwrap();
    node.next().await;
    drop(node);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_large_config_travels_packed_and_every_node_unpacks_the_same_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    // A small config travels as a plain message.
    let mut small = connect(&handle, NODE_TOKEN, "edge-s", vec![]).await.unwrap();
    let (a, b) = (small.next().await, small.next().await);
    let config = if kind(&a) == ResourceType::Config { a } else { b };
    assert!(matches!(config.resource, Some(pb::discovery_response::Resource::Config(_))));
    drop(small);

    handle
        .store
        .write(Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged }, |c| {
            let template = c.keys[0].clone();
            for i in 0..500u32 {
                let mut key = template.clone();
                key.name = format!("key-{i}");
                key.key_sha256.0[..4].copy_from_slice(&i.to_be_bytes());
                key.key_sha256.0[4] = 0xee;
                c.keys.push(key);
            }
            Ok(())
        })
        .await
        .unwrap();
    handle.publisher.refresh().await.unwrap();
    let snapshot = handle.publisher.current();
    let mut packed = Vec::new();
    for id in ["edge-1", "edge-2"] {
        let mut node = connect(&handle, NODE_TOKEN, id, vec![]).await.unwrap();
        let (a, b) = (node.next().await, node.next().await);
        let config = if kind(&a) == ResourceType::Config { a } else { b };
        let Some(pb::discovery_response::Resource::Packed(bytes)) = config.resource.clone() else {
            panic!("a large config is packed")
        };
        assert!(bytes.len() < prost::Message::encoded_len(&snapshot.config.message), "and smaller than plain");
        let switchyard_proto::packed::Unpacked::Config(wire) =
            switchyard_proto::packed::unpack(&config, 64 << 20).unwrap()
        else {
            panic!("a config")
        };
        assert_eq!(*wire, snapshot.config.message, "unpacks to the published snapshot");
        assert_eq!(Config::try_from(*wire).unwrap().keys.len(), 501);
        packed.push(bytes);
    }
    assert_eq!(packed[0], packed[1], "one packing shared by every stream");
    handle.shutdown().await;
}

fn runtime_of(r: &DiscoveryResponse) -> RuntimeState {
    let Some(pb::discovery_response::Resource::Runtime(wire)) = r.resource.clone() else { panic!("not a runtime") };
    RuntimeState::try_from(wire).unwrap()
}

#[tokio::test]
async fn the_runtime_carries_live_node_counts_and_remaining_budgets_without_resending_the_config() {
    use switchyard_proto::model::BudgetPeriod;
    let dir = tempfile::tempdir().unwrap();
    let document = DOCUMENT.replace(
        r#"{name: k, key: "client-key-0123456789"}"#,
        r#"{name: k, key: "client-key-0123456789", rpm: 600, budget: {currency: USD, amount: 1.5, period: day}}
  - {name: free, key: "client-key-free-0123456789"}"#,
    );
    let handle = start_with(dir.path(), &document).await;
    let mut a = connect(&handle, NODE_TOKEN, "edge-a", vec![]).await.unwrap();
    let (first, second) = (a.next().await, a.next().await);
    let (config, mut runtime) = if kind(&first) == ResourceType::Config { (first, second) } else { (second, first) };
    a.ack(&config).await;
    a.ack(&runtime).await;
    // The node's own arrival may bump the count after the first Runtime left.
    while runtime_of(&runtime).keys["k"].nodes != 1 {
        runtime = a.next().await;
        assert_eq!(kind(&runtime), ResourceType::Runtime);
        a.ack(&runtime).await;
    }
    let state = runtime_of(&runtime);
    assert_eq!(state.keys["k"].remaining_budget_micros, Some(1_500_000));
    assert!(!state.keys.contains_key("free"), "keys without limits or budgets are left out");

    // A second node: both learn that two nodes share k's rpm; no Config is re-sent.
    let mut b = connect(&handle, NODE_TOKEN, "edge-b", vec![]).await.unwrap();
    let update = a.next().await;
    assert_eq!(kind(&update), ResourceType::Runtime, "a Runtime change never re-sends the Config");
    assert_eq!(runtime_of(&update).keys["k"].nodes, 2);
    a.ack(&update).await;
    let mut b_got = Vec::new();
    while !b_got
        .iter()
        .any(|r: &DiscoveryResponse| kind(r) == ResourceType::Runtime && runtime_of(r).keys["k"].nodes == 2)
    {
        b_got.push(b.next().await);
    }
    drop(b);
    let update = a.next().await;
    assert_eq!(runtime_of(&update).keys["k"].nodes, 1, "the node that left no longer counts");
    a.ack(&update).await;

    // Spend in today's period lowers the remaining budget; past it the key is over budget.
    let today = BudgetPeriod::Day.start_ms(switchyard_control::store::now_ms());
    handle.store.add_spend("k", today, "USD", 1_000_000).await.unwrap();
    handle.publisher.refresh().await.unwrap();
    let update = a.next().await;
    assert_eq!(runtime_of(&update).keys["k"].remaining_budget_micros, Some(500_000));
    a.ack(&update).await;
    handle.store.add_spend("k", today - 86_400_000, "USD", 9_000_000).await.unwrap();
    let refused = handle.store.add_spend("k", today, "EUR", 9_000_000).await.unwrap_err();
    assert!(refused.to_string().contains("another currency"), "{refused}");
    handle.publisher.refresh().await.unwrap();
    assert!(a.silent().await, "yesterday's spend does not count: the Runtime's content did not change");
    handle.store.add_spend("k", today, "USD", 600_000).await.unwrap();
    handle.publisher.refresh().await.unwrap();
    let update = a.next().await;
    assert!(runtime_of(&update).keys["k"].over_budget());
    a.ack(&update).await;

    // The registry in the store: what each node ACKed, whether it is connected.
    let runtime = update.version.as_ref().unwrap().version;
    let fleet = eventually_some("edge-a's last ACK and edge-b's leaving in the store's registry", async || {
        let fleet = handle.store.fleet().await.unwrap();
        let a_acked = fleet.iter().any(|n| n.id == "edge-a" && n.runtime.0 == runtime);
        let b_left = fleet.iter().any(|n| n.id == "edge-b" && !n.connected);
        (a_acked && b_left).then_some(fleet)
    })
    .await;
    let edge_a = fleet.iter().find(|n| n.id == "edge-a").unwrap();
    assert!(edge_a.connected);
    assert_eq!(edge_a.config, (1, hex::encode(handle.publisher.current().config.hash.as_bytes())));
    assert_eq!(edge_a.runtime.0, update.version.as_ref().unwrap().version);
    assert_eq!(edge_a.region, "eu");
    assert!(!fleet.iter().find(|n| n.id == "edge-b").unwrap().connected);
    drop(a);
    handle.shutdown().await;
    let store = switchyard_control::store::Store::open(
        &format!("sqlite://{}/cp.db", dir.path().display()),
        switchyard_control::crypto::MasterKey::from_hex(KEY).unwrap(),
    )
    .await
    .unwrap();
    assert!(store.fleet().await.unwrap().iter().all(|n| !n.connected), "a stopped replica's nodes are disconnected");
}
