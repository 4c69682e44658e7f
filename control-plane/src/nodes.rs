//! Connected data planes as this replica sees them: node identity, what
//! each ACKed per type, the last NACK and why, last seen. `syctl status`
//! and alerts read it.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use switchyard_proto::pb::{Nack, Node, ResourceVersion};
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct NodeState {
    pub node: Node,
    pub connected: bool,
    pub last_seen: Instant,
    /// What it ACKed last, per type.
    pub acked: Vec<ResourceVersion>,
    pub last_nack: Option<Nack>,
}

#[derive(Default)]
pub struct Nodes {
    inner: Mutex<BTreeMap<String, NodeState>>,
}

impl Nodes {
    pub fn connected(&self, node: &Node, held: &[ResourceVersion]) {
        let state = NodeState {
            node: node.clone(),
            connected: true,
            last_seen: Instant::now(),
            acked: held.to_vec(),
            last_nack: None,
        };
        self.inner.lock().insert(node.id.clone(), state);
    }

    pub fn disconnected(&self, id: &str) {
        if let Some(n) = self.inner.lock().get_mut(id) {
            n.connected = false;
            n.last_seen = Instant::now();
        }
    }

    pub fn acked(&self, id: &str, version: ResourceVersion) {
        if let Some(n) = self.inner.lock().get_mut(id) {
            n.acked.retain(|v| v.r#type != version.r#type);
            n.acked.push(version);
            n.last_seen = Instant::now();
        }
    }

    pub fn nacked(&self, id: &str, nack: Nack) {
        if let Some(n) = self.inner.lock().get_mut(id) {
            n.last_nack = Some(nack);
            n.last_seen = Instant::now();
        }
    }

    pub fn get(&self, id: &str) -> Option<NodeState> {
        self.inner.lock().get(id).cloned()
    }

    pub fn list(&self) -> Vec<NodeState> {
        self.inner.lock().values().cloned().collect()
    }
}
