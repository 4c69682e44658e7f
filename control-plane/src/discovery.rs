//! `ConfigDiscovery.Stream`: one session per connected data plane.
//!
//! The node's first message is a `Hello` (its node and what it holds); its
//! bearer token (checked by [`crate::auth`]) must be a node token valid for
//! that node id. The session then
//! sends each resource type whenever the node's hash differs from the
//! snapshot's (not only when behind: a restored database converges too),
//! with a fresh nonce, and records every ACK and NACK in the node registry. A
//! version the node refused is not sent again until the snapshot changes.

use crate::auth::{NodeGrant, identity};
use crate::nodes::Nodes;
use crate::snapshot::{Publisher, Snapshot};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::pb::config_discovery_server::ConfigDiscovery;
use switchyard_proto::pb::{self, DiscoveryRequest, DiscoveryResponse, ResourceType, ResourceVersion};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// A node must say hello within this.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Discovery {
    pub store: Arc<Store>,
    pub publisher: Arc<Publisher>,
    pub nodes: Arc<Nodes>,
    /// Turns true on shutdown: sessions end so the server can drain.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

#[tonic::async_trait]
impl ConfigDiscovery for Discovery {
    type StreamStream = ReceiverStream<Result<DiscoveryResponse, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let grant = identity::<NodeGrant, _>(&request)?;
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no hello"))??
            .ok_or_else(|| Status::cancelled("stream closed before hello"))?;
        let Some(pb::discovery_request::Kind::Hello(hello)) = first.kind else {
            return Err(Status::invalid_argument("the first message must be a hello"));
        };
        let node = hello.node.clone().ok_or_else(|| Status::invalid_argument("hello.node: required"))?;
        if node.id.trim().is_empty() {
            return Err(Status::invalid_argument("hello.node.id: required"));
        }
        grant.check(&node.id)?;
        self.nodes.connected(&node, &hello.held);
        let (tx, rx) = mpsc::channel(4);
        let session = Session {
            node_id: node.id.clone(),
            held: [held(&hello.held, ResourceType::Config), held(&hello.held, ResourceType::Runtime)],
            sent: [None, None],
            nodes: self.nodes.clone(),
        };
        tokio::spawn(session.run(inbound, self.publisher.subscribe(), self.stop.clone(), tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn held(versions: &[ResourceVersion], kind: ResourceType) -> Option<Vec<u8>> {
    versions.iter().find(|v| v.r#type == kind as i32).map(|v| v.hash.clone())
}

struct Session {
    node_id: String,
    /// Hash each type's node holds (index 0 Config, 1 Runtime).
    held: [Option<Vec<u8>>; 2],
    /// What was sent last per type, awaiting its answer: (nonce, hash).
    sent: [Option<(String, Vec<u8>)>; 2],
    nodes: Arc<Nodes>,
}

const TYPES: [ResourceType; 2] = [ResourceType::Config, ResourceType::Runtime];

impl Session {
    async fn run(
        mut self,
        mut inbound: Streaming<DiscoveryRequest>,
        mut snapshots: tokio::sync::watch::Receiver<Arc<Snapshot>>,
        mut stop: tokio::sync::watch::Receiver<bool>,
        tx: mpsc::Sender<Result<DiscoveryResponse, Status>>,
    ) {
        loop {
            let snapshot = snapshots.borrow_and_update().clone();
            for (i, kind) in TYPES.into_iter().enumerate() {
                if let Some(response) = self.due(i, kind, &snapshot)
                    && tx.send(Ok(response)).await.is_err()
                {
                    return self.nodes.disconnected(&self.node_id);
                }
            }
            tokio::select! {
                changed = snapshots.changed() => if changed.is_err() { break },
                message = inbound.message() => match message {
                    Ok(Some(request)) => self.answer(request),
                    Ok(None) | Err(_) => break,
                },
                _ = tx.closed() => break,
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        self.nodes.disconnected(&self.node_id);
    }

    /// The response for type `i` when the node's hash differs and this hash was not sent already.
    fn due(&mut self, i: usize, kind: ResourceType, snapshot: &Snapshot) -> Option<DiscoveryResponse> {
        let (version, hash, payload) = match kind {
            ResourceType::Config => (snapshot.config.version, &snapshot.config.hash, &snapshot.config.payload),
            _ => (snapshot.runtime.version, &snapshot.runtime.hash, &snapshot.runtime.payload),
        };
        let hash = hash.as_bytes().to_vec();
        if self.held[i].as_ref() == Some(&hash) || self.sent[i].as_ref().is_some_and(|(_, h)| *h == hash) {
            return None;
        }
        let nonce = nonce();
        self.sent[i] = Some((nonce.clone(), hash.clone()));
        let version = ResourceVersion { r#type: kind as i32, version, hash };
        // A packed payload is shared, not copied.
        Some(DiscoveryResponse { version: Some(version), nonce, resource: Some(payload.clone()) })
    }

    fn answer(&mut self, request: DiscoveryRequest) {
        match request.kind {
            Some(pb::discovery_request::Kind::Ack(ack)) => {
                let Some(applied) = ack.applied else { return };
                let Some(i) = TYPES.iter().position(|t| *t as i32 == applied.r#type) else { return };
                if self.sent[i].as_ref().is_some_and(|(nonce, _)| *nonce == ack.response_nonce) {
                    self.held[i] = Some(applied.hash.clone());
                    self.nodes.acked(&self.node_id, applied);
                }
            }
            Some(pb::discovery_request::Kind::Nack(nack)) => {
                let Some(i) = TYPES.iter().position(|t| *t as i32 == nack.r#type) else { return };
                if self.sent[i].as_ref().is_some_and(|(nonce, _)| *nonce == nack.response_nonce) {
                    tracing::warn!(node = %self.node_id, error = %nack.error_detail, "node refused a snapshot");
                    self.held[i] = nack.held.as_ref().map(|h| h.hash.clone());
                    self.nodes.nacked(&self.node_id, nack);
                }
            }
            // A second hello on one stream is ignored.
            _ => {}
        }
    }
}

/// A fresh random nonce (128 bits, hex).
fn nonce() -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut bytes);
    hex::encode(bytes)
}
