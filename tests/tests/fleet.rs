#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Several data planes on one control plane: a change reaches every node and
//! each ACKs it (the store's node registry shows it); a control plane
//! restored from an older backup still converges them; a snapshot a node
//! refuses is NACKed with its reason while the node keeps serving.

use std::time::Duration;
use switchyard_control::store::{Change, Ownership, StoreError};
use switchyard_proto::document::{self, Resolver};
use switchyard_proto::pb::config_discovery_server::{ConfigDiscovery, ConfigDiscoveryServer};
use switchyard_proto::pb::{self, DiscoveryRequest, DiscoveryResponse, ResourceType, ResourceVersion};
use switchyard_tests::cluster::{NODE_TOKEN, chat, data_plane, document, until};
use switchyard_tests::harness::client;
use switchyard_tests::{FakeUpstream, Started, Topology, eventually};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

fn add_model(name: &'static str) -> impl FnOnce(&mut switchyard_proto::model::Config) -> Result<(), StoreError> {
    move |c| {
        let mut fresh = c.models[0].clone();
        fresh.name = name.into();
        c.models.push(fresh);
        Ok(())
    }
}

const EDIT: Change<'static> = Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged };

/// Waits until the store's registry shows every node connected and holding Config `version`.
async fn all_acked(cp: &switchyard_control::Handle, nodes: &[&str], version: u64) {
    eventually(&format!("{nodes:?} ACK config {version}"), async || {
        let fleet = cp.store.fleet().await.unwrap();
        nodes.iter().all(|id| fleet.iter().any(|n| n.id == *id && n.connected && n.config.0 == version))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_plane_gets_each_change_and_acks_it_and_a_restored_backup_converges_them() {
    let Started { fleet, cp, dps } = Topology::new().data_planes(3).start().await;
    let ids = ["edge-1", "edge-2", "edge-3"];
    all_acked(&cp, &ids, 1).await;

    // A backup taken now, at revision 1.
    let backup = fleet.dir().join("backup.db");
    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{}'", backup.display())))
        .execute(cp.store.pool())
        .await
        .unwrap();

    // A change reaches every node; each ACKs it.
    let revision = cp.store.write(EDIT, add_model("fresh")).await.unwrap();
    assert_eq!(revision, 2);
    cp.publisher.refresh().await.unwrap();
    for dp in &dps {
        until(dp, "fresh", 200).await;
    }
    all_acked(&cp, &ids, 2).await;
    let status: serde_json::Value = client()
        .get(format!("http://{}/status", dps[0].admin_addr.unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["config"]["version"], 2, "{status}");

    // The control plane stops; its database is restored from the older backup.
    cp.shutdown().await;
    for dp in &dps {
        assert_eq!(chat(dp, "fresh").await, 200, "nodes keep serving without a control plane");
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(fleet.dir().join(format!("cp.db{suffix}")));
    }
    std::fs::copy(&backup, fleet.dir().join("cp.db")).unwrap();
    let cp = fleet.control_plane().await;
    assert_eq!(cp.store.revision().await.unwrap(), 1, "restored");

    // Version 1 is "behind" what the nodes hold, yet its hash differs: they converge to it.
    for dp in &dps {
        until(dp, "fresh", 404).await;
        assert_eq!(chat(dp, "m").await, 200);
    }
    all_acked(&cp, &ids, 1).await;
    for dp in dps {
        dp.shutdown().await;
    }
    cp.shutdown().await;
}

/// A control plane of a newer build: it sends a valid Config, then one with a
/// provider kind this data plane does not know, and reports the answers.
struct NewerControlPlane {
    first: pb::Config,
    answers: mpsc::UnboundedSender<DiscoveryRequest>,
}

#[tonic::async_trait]
impl ConfigDiscovery for NewerControlPlane {
    type StreamStream = ReceiverStream<Result<DiscoveryResponse, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let mut inbound = request.into_inner();
        let _hello = inbound.message().await?;
        let (tx, rx) = mpsc::channel(4);
        let (first, answers) = (self.first.clone(), self.answers.clone());
        tokio::spawn(async move {
            let response = |version: u64, config: pb::Config| DiscoveryResponse {
                version: Some(ResourceVersion {
                    r#type: ResourceType::Config as i32,
                    version,
                    hash: vec![version as u8; 32],
                }),
                nonce: format!("nonce-{version}"),
                resource: Some(pb::discovery_response::Resource::Config(config)),
            };
            let mut newer = first.clone();
            newer.providers[0].kind = 99;
            for r in [response(1, first), response(2, newer)] {
                tx.send(Ok(r)).await.unwrap();
                let Ok(Some(answer)) = inbound.message().await else { return };
                answers.send(answer).unwrap();
            }
            // Hold the stream open.
            let _ = inbound.message().await;
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[tokio::test]
async fn a_snapshot_the_node_cannot_use_is_nacked_with_its_reason_and_the_old_one_kept() {
    let upstream = FakeUpstream::start().await;
    let config = document::parse(&document(&upstream, ""), &Resolver::with_env(Default::default())).unwrap();
    let (answers, mut answered) = mpsc::unbounded_channel();
    let fake = NewerControlPlane { first: pb::Config::from(&config), answers };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ConfigDiscoveryServer::new(fake).accept_compressed(tonic::codec::CompressionEncoding::Gzip))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let cache = tempfile::tempdir().unwrap();
    let dp = data_plane(&url, cache.path(), NODE_TOKEN, "edge-1").await;
    let mut next = async || tokio::time::timeout(Duration::from_secs(10), answered.recv()).await.unwrap().unwrap();

    let Some(pb::discovery_request::Kind::Ack(ack)) = next().await.kind else { panic!("the first config is ACKed") };
    assert_eq!(ack.response_nonce, "nonce-1");
    let Some(pb::discovery_request::Kind::Nack(nack)) = next().await.kind else { panic!("the newer one is NACKed") };
    assert_eq!(nack.response_nonce, "nonce-2");
    assert!(nack.error_detail.contains("providers[0].kind"), "the reason names the field: {}", nack.error_detail);
    assert_eq!(nack.held.map(|h| h.version), Some(1), "and says what it still serves");

    assert_eq!(chat(&dp, "m").await, 200, "the node keeps serving the config it had");
    let status: serde_json::Value =
        client().get(format!("http://{}/status", dp.admin_addr.unwrap())).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["config"]["version"], 1, "{status}");
    let shown = status.to_string();
    assert!(shown.contains("providers[0].kind"), "/status shows why: {shown}");
    dp.shutdown().await;
    server.abort();
}
