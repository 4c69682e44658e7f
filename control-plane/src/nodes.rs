//! Connected data planes as this replica sees them (node identity, what each
//! ACKed per type, the last NACK and why, last seen), written through to the
//! store's node registry so every replica, `syctl status` and alerts see the
//! whole fleet. Sessions never wait on the database: a change marks the node
//! dirty and [`persist`] writes it, together with a heartbeat for every
//! connected node, and keeps the live-node count the Runtime carries current.

use crate::snapshot::Publisher;
use crate::store::{NackRecord, NodeRecord, Store, now_ms};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::pb::{Nack, Node, ResourceType, ResourceVersion};
use tokio::sync::{Notify, watch};

/// Connected nodes are re-stamped this often.
pub const HEARTBEAT: Duration = Duration::from_secs(20);
/// A connected node not re-stamped for this long counts as lost (its replica died).
pub const LOST_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct NodeState {
    pub node: Node,
    pub connected: bool,
    /// Unix milliseconds.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// What it ACKed last, per type.
    pub acked: Vec<ResourceVersion>,
    pub last_nack: Option<Nack>,
    pub last_nack_ms: i64,
    /// The node ACKed the last NACK's type since (it no longer refuses).
    pub nack_superseded: bool,
}

#[derive(Default)]
struct Inner {
    nodes: BTreeMap<String, NodeState>,
    /// Changed since last written.
    dirty: BTreeSet<String>,
}

#[derive(Default)]
pub struct Nodes {
    inner: Mutex<Inner>,
    changed: Notify,
}

impl Nodes {
    fn touch(&self, id: &str, f: impl FnOnce(&mut NodeState)) {
        let mut inner = self.inner.lock();
        if let Some(n) = inner.nodes.get_mut(id) {
            f(n);
            n.last_seen_ms = now_ms();
            inner.dirty.insert(id.to_owned());
            drop(inner);
            self.changed.notify_one();
        }
    }

    pub fn connected(&self, node: &Node, held: &[ResourceVersion]) {
        let now = now_ms();
        let mut inner = self.inner.lock();
        let first_seen_ms = inner.nodes.get(&node.id).map_or(now, |n| n.first_seen_ms);
        let state = NodeState {
            node: node.clone(),
            connected: true,
            first_seen_ms,
            last_seen_ms: now,
            acked: held.to_vec(),
            last_nack: None,
            last_nack_ms: 0,
            nack_superseded: false,
        };
        inner.nodes.insert(node.id.clone(), state);
        inner.dirty.insert(node.id.clone());
        drop(inner);
        self.changed.notify_one();
    }

    pub fn disconnected(&self, id: &str) {
        self.touch(id, |n| n.connected = false);
    }

    pub fn acked(&self, id: &str, version: ResourceVersion) {
        self.touch(id, |n| {
            if n.last_nack.as_ref().is_some_and(|nack| nack.r#type == version.r#type) {
                n.nack_superseded = true;
            }
            n.acked.retain(|v| v.r#type != version.r#type);
            n.acked.push(version);
        });
    }

    pub fn nacked(&self, id: &str, nack: Nack) {
        self.touch(id, |n| {
            n.last_nack = Some(nack);
            n.last_nack_ms = now_ms();
            n.nack_superseded = false;
        });
    }

    pub fn get(&self, id: &str) -> Option<NodeState> {
        self.inner.lock().nodes.get(id).cloned()
    }

    pub fn list(&self) -> Vec<NodeState> {
        self.inner.lock().nodes.values().cloned().collect()
    }

    /// The dirty nodes' states, or with `heartbeat` every connected node's, re-stamped.
    fn take(&self, heartbeat: bool) -> Vec<NodeState> {
        let mut inner = self.inner.lock();
        let now = now_ms();
        if heartbeat {
            let connected: Vec<String> =
                inner.nodes.values().filter(|n| n.connected).map(|n| n.node.id.clone()).collect();
            for id in connected {
                if let Some(n) = inner.nodes.get_mut(&id) {
                    n.last_seen_ms = now;
                }
                inner.dirty.insert(id);
            }
        }
        let dirty = std::mem::take(&mut inner.dirty);
        let states = dirty.iter().filter_map(|id| inner.nodes.get(id).cloned()).collect();
        if heartbeat {
            // Long-gone nodes live on in the store only: memory stays bounded by the connected fleet.
            let horizon = now.saturating_sub(i64::try_from(LOST_AFTER.as_millis()).unwrap_or(i64::MAX));
            inner.nodes.retain(|id, n| n.connected || n.last_seen_ms >= horizon || dirty.contains(id));
        }
        states
    }

    /// On shutdown: this replica's nodes are no longer connected to it.
    fn disconnect_all(&self) {
        let mut inner = self.inner.lock();
        let now = now_ms();
        let Inner { nodes, dirty } = &mut *inner;
        for n in nodes.values_mut().filter(|n| n.connected) {
            n.connected = false;
            n.last_seen_ms = now;
            dirty.insert(n.node.id.clone());
        }
    }
}

fn record(n: &NodeState) -> NodeRecord {
    let acked = |t: ResourceType| {
        n.acked.iter().find(|v| v.r#type == t as i32).map_or((0, String::new()), |v| (v.version, hex::encode(&v.hash)))
    };
    let kind = |t: i32| match ResourceType::try_from(t) {
        Ok(ResourceType::Config) => "config",
        Ok(ResourceType::Runtime) => "runtime",
        _ => "unknown",
    };
    NodeRecord {
        id: n.node.id.clone(),
        region: n.node.region.clone(),
        zone: n.node.zone.clone(),
        labels: n.node.labels.clone().into_iter().collect(),
        build_version: n.node.build_version.clone(),
        boot_id: n.node.boot_id.clone(),
        connected: n.connected,
        config: acked(ResourceType::Config),
        runtime: acked(ResourceType::Runtime),
        last_nack: n.last_nack.as_ref().map(|nack| NackRecord {
            kind: kind(nack.r#type).to_owned(),
            error: nack.error_detail.clone(),
            at_ms: n.last_nack_ms,
            superseded: n.nack_superseded,
        }),
        first_seen_ms: n.first_seen_ms,
        last_seen_ms: n.last_seen_ms,
        // Telemetry's to write: record_node leaves them alone.
        last_heartbeat_ms: 0,
        inflight_requests: 0,
    }
}

/// Writes node changes and heartbeats to the store; when the live-node count
/// moves, bumps the Runtime revision and republishes at once.
pub async fn persist(nodes: Arc<Nodes>, store: Arc<Store>, publisher: Arc<Publisher>, mut stop: watch::Receiver<bool>) {
    let lost_after = i64::try_from(LOST_AFTER.as_millis()).unwrap_or(i64::MAX);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        let beat = tokio::select! {
            _ = nodes.changed.notified() => false,
            _ = heartbeat.tick() => true,
            _ = stop.wait_for(|s| *s) => break,
        };
        write(&nodes, &store, nodes.take(beat)).await;
        match store.sync_live_nodes(lost_after).await {
            Ok((_, true)) => {
                if let Err(e) = publisher.refresh().await {
                    tracing::warn!(error = %e, "snapshot refresh failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot count live nodes"),
        }
    }
    // This replica's sessions end with it.
    nodes.disconnect_all();
    write(&nodes, &store, nodes.take(false)).await;
    let _ = store.sync_live_nodes(lost_after).await;
}

async fn write(nodes: &Nodes, store: &Store, states: Vec<NodeState>) {
    for state in states {
        if let Err(e) = store.record_node(&record(&state)).await {
            tracing::warn!(node = %state.node.id, error = %e, "cannot record node; retrying");
            nodes.inner.lock().dirty.insert(state.node.id.clone());
        }
    }
}
