//! The telemetry reporter: usage records, breaker transitions and
//! heartbeats reach the control plane, none lost while it is away and none
//! doubled when it comes back.
//!
//! ```text
//! sink task ──records──▶ Reporter::record ─┐
//! breakers ──transitions──▶ Transitions ───┼─▶ pending ──seal──▶ spool file + Queue ──session──▶ Telemetry.Report
//! every `heartbeat` ──Heartbeat────────────┘   (every `flush`,                 ▲        acked: removed
//!                                               or `MAX_RECORDS`)              └ restart: spool files queued again
//! ```
//!
//! * Sealing gives the pending records and events a batch key (node id,
//!   this boot's id, the next sequence) and writes the batch to the spool
//!   ([`spool`]) before queueing it: a batch is on disk from the moment it
//!   exists until a control plane acks it, so a restart, a crash of this
//!   process or a control plane that is away for hours loses nothing while
//!   the spool has room. The queue ([`queue`]) is bounded in bytes
//!   (`--telemetry-spool-mb`): past it the oldest batches are dropped,
//!   logged and counted in `switchyard_telemetry_dropped_total`. When the
//!   spool cannot be written (a full disk) the batch stays in memory under
//!   the same bound.
//! * The session ([`session`]) streams queued batches, oldest first, at most
//!   [`session::WINDOW`] unacked at a time, and removes each when its ack
//!   comes (an ack saying `duplicate` too: it was stored before). It cycles
//!   through the control-plane URLs with the same backoff as the config
//!   stream; a new session resends everything not acked.
//! * On shutdown, after the last records reached it, the reporter seals what
//!   is pending and gives the session [`FLUSH_TIMEOUT`] to have the queue
//!   acked; what is left stays in the spool for the next start.

pub mod queue;
mod session;
pub mod spool;

use crate::breaker::events::{Transition, Transitions};
use crate::breaker::{Reason, State};
use crate::cp_client::ClientTls;
use crate::runtime::Runtime;
use crate::usage::{UsageRecord, UsageSink};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use queue::{Body, Queue};
use spool::Spool;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use switchyard_proto::pb::{self, BreakerState, HealthEvent, TelemetryBatch, health_event};
use tokio::sync::watch;

/// Records in one batch at most; reaching it seals the batch at once.
pub const MAX_RECORDS: usize = 2000;
/// How long shutdown waits for the queue to be acked.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct TelemetryOptions {
    /// The most the unacked batches may take (spool and memory), in bytes.
    pub max_bytes: u64,
    /// Pending records and events are sealed into a batch this often.
    pub flush: Duration,
    /// A heartbeat is reported this often (and once at start).
    pub heartbeat: Duration,
}

impl Default for TelemetryOptions {
    fn default() -> Self {
        Self { max_bytes: 256 << 20, flush: Duration::from_secs(1), heartbeat: Duration::from_secs(20) }
    }
}

/// What a heartbeat tells about the node now ([`crate::state::Shared`] in
/// the process; the reporter needs nothing else of it).
pub trait NodeState: Send + Sync {
    /// The runtime being served, if a config is held.
    fn runtime(&self) -> Option<Arc<Runtime>>;
    /// Requests in flight.
    fn inflight(&self) -> u64;
}

/// Where the reporter sends, and as whom.
#[derive(Clone)]
pub struct Link {
    pub urls: Vec<String>,
    /// The node token (a secret).
    pub token: String,
    pub tls: Option<ClientTls>,
}

pub struct Reporter {
    node_id: String,
    boot_id: String,
    node: Arc<dyn NodeState>,
    transitions: Arc<Transitions>,
    pending: Mutex<Pending>,
    /// The next sequence; held while a batch is sealed, so batches queue in sequence order.
    sealing: tokio::sync::Mutex<u64>,
    queue: Arc<Queue>,
    spool: Option<Spool>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter").field("node_id", &self.node_id).field("boot_id", &self.boot_id).finish()
    }
}

#[derive(Default)]
struct Pending {
    usage: Vec<pb::UsageRecord>,
    health: Vec<HealthEvent>,
}

impl Reporter {
    /// A reporter for `node_id` whose queue starts with the batches spooled
    /// under `cache_dir` by earlier boots. Without a usable spool it keeps
    /// batches in memory (and says so).
    pub async fn open(
        node_id: String,
        cache_dir: &Path,
        node: Arc<dyn NodeState>,
        transitions: Arc<Transitions>,
        queue: Arc<Queue>,
    ) -> Arc<Reporter> {
        let dir = cache_dir.to_owned();
        let opened = tokio::task::spawn_blocking(move || {
            let spool = Spool::open(&dir)?;
            let found = spool.list()?;
            Ok::<_, std::io::Error>((spool, found))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let spool = match opened {
            Ok((spool, found)) => {
                if !found.is_empty() {
                    let items: u64 = found.iter().map(|f| f.items).sum();
                    tracing::info!(batches = found.len(), items, "telemetry batches spooled before; resending");
                }
                for f in found {
                    let dropped = queue.push(f.boot_id, f.sequence, f.items, f.size, Body::Spooled(f.path));
                    remove_files(dropped).await;
                }
                Some(spool)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot use the telemetry spool; unacked batches are kept in memory only");
                None
            }
        };
        Arc::new(Reporter {
            node_id,
            boot_id: boot_id(),
            node,
            transitions,
            pending: Mutex::new(Pending::default()),
            sealing: tokio::sync::Mutex::new(1),
            queue,
            spool,
        })
    }

    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    pub fn queue(&self) -> &Arc<Queue> {
        &self.queue
    }

    /// Seals the pending records and events (and breaker transitions) into a
    /// batch, spools and queues it. Nothing pending: nothing happens.
    pub async fn seal(&self) {
        let mut next = self.sealing.lock().await;
        let (usage, mut health) = {
            let mut pending = self.pending.lock();
            (std::mem::take(&mut pending.usage), std::mem::take(&mut pending.health))
        };
        health.extend(self.transitions.take().iter().map(breaker_event));
        let lost = self.transitions.dropped.swap(0, Relaxed);
        if lost > 0 {
            tracing::warn!(lost, "breaker transitions dropped: more came than the queue holds");
            self.queue.dropped.fetch_add(lost, Relaxed);
        }
        if usage.is_empty() && health.is_empty() {
            return;
        }
        let items = (usage.len() + health.len()) as u64;
        let batch = TelemetryBatch {
            node_id: self.node_id.clone(),
            boot_id: self.boot_id.clone(),
            sequence: *next,
            usage,
            health,
        };
        *next += 1;
        let size = prost::Message::encoded_len(&batch) as u64;
        let body = match &self.spool {
            Some(spool) => {
                let spool = spool.clone();
                let written = tokio::task::spawn_blocking(move || {
                    let path = spool.write(&batch, items);
                    (batch, path)
                })
                .await;
                match written {
                    Ok((_, Ok(path))) => Body::Spooled(path),
                    Ok((batch, Err(e))) => {
                        tracing::warn!(error = %e, "cannot spool a telemetry batch; keeping it in memory");
                        Body::Memory(Arc::new(batch))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "telemetry spool write panicked; batch lost");
                        self.queue.dropped.fetch_add(items, Relaxed);
                        return;
                    }
                }
            }
            None => Body::Memory(Arc::new(batch)),
        };
        let dropped = self.queue.push(self.boot_id.clone(), *next - 1, items, size, body);
        drop(next);
        remove_files(dropped).await;
    }

    /// Adds a heartbeat to what is pending (the reporter does every
    /// `heartbeat` interval): versions, requests in flight, and every breaker
    /// that is not closed now, so the control plane converges even when a
    /// transition was lost.
    pub fn heartbeat(&self) {
        let rt = self.node.runtime();
        let breakers = rt.as_deref().map(open_breakers).unwrap_or_default();
        let beat = pb::Heartbeat {
            config_version: rt.as_ref().map_or(0, |rt| rt.version),
            runtime_version: rt.as_ref().map_or(0, |rt| rt.overlay.version),
            inflight_requests: self.node.inflight(),
            breakers,
            breakers_reported: rt.is_some(),
        };
        let event = HealthEvent { at_ms: crate::wall::unix_ms(), event: Some(health_event::Event::Heartbeat(beat)) };
        self.pending.lock().health.push(event);
    }

    /// Runs until `stop`: seals every `flush` (and a heartbeat every
    /// `heartbeat`, the first at once) and streams the queue to a control plane.
    pub async fn run(self: Arc<Self>, link: Link, options: TelemetryOptions, stop: watch::Receiver<bool>) {
        let sealer = {
            let this = self.clone();
            let mut stop = stop.clone();
            async move {
                let mut flush = tokio::time::interval(options.flush);
                let mut beat = tokio::time::interval(options.heartbeat);
                flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = flush.tick() => {}
                        _ = beat.tick() => this.heartbeat(),
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    this.seal().await;
                }
            }
        };
        tokio::join!(sealer, session::run(self.clone(), link, stop));
    }

    /// At shutdown, once no more records come: seals what is pending and,
    /// while a control plane is connected, waits (up to `timeout`) for the
    /// queue to be acked. Without one, what is queued is already spooled.
    pub async fn flush(&self, timeout: Duration) {
        self.seal().await;
        let acked = tokio::time::timeout(timeout, async {
            while self.queue.depth().batches > 0 && self.queue.connected.load(Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        if acked.is_err() || self.queue.depth().batches > 0 {
            let depth = self.queue.depth();
            match self.spool {
                Some(_) => tracing::warn!(
                    batches = depth.batches,
                    items = depth.items,
                    "telemetry not acked at shutdown; spooled for the next start"
                ),
                None => tracing::error!(
                    batches = depth.batches,
                    items = depth.items,
                    "telemetry not acked at shutdown and no spool: lost"
                ),
            }
        }
    }
}

impl UsageSink for Reporter {
    fn record<'a>(&'a self, records: &'a [UsageRecord]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let full = {
                let mut pending = self.pending.lock();
                pending.usage.extend(records.iter().map(UsageRecord::to_pb));
                pending.usage.len() >= MAX_RECORDS
            };
            if full {
                self.seal().await;
            }
        })
    }
}

/// `{start unix ms, 12 hex digits}{64 random bits}`: unique per start, and
/// sorting by it sorts boots by start time (the spool's order).
fn boot_id() -> String {
    format!("{:012x}{:016x}", crate::wall::unix_ms(), fastrand::u64(..))
}

fn wire_state(s: State) -> BreakerState {
    match s {
        State::Closed => BreakerState::Closed,
        State::Open => BreakerState::Open,
        State::HalfOpen => BreakerState::HalfOpen,
    }
}

/// The endpoints whose breaker is not closed now, as states (`to`), with
/// why and for how much longer.
fn open_breakers(rt: &Runtime) -> Vec<pb::BreakerTransition> {
    rt.every_endpoint()
        .iter()
        .filter_map(|e| {
            let snapshot = e.breaker.snapshot();
            (snapshot.state != State::Closed).then(|| pb::BreakerTransition {
                provider: e.provider.name.to_string(),
                account: e.account().name.to_string(),
                route: e.route.to_string(),
                upstream_model: e.upstream_model.to_string(),
                from: BreakerState::Unspecified as i32,
                to: wire_state(snapshot.state) as i32,
                reason: snapshot.reason.map(Reason::as_str).unwrap_or_default().to_owned(),
                open_for_ms: snapshot.reopen_in.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            })
        })
        .collect()
}

fn breaker_event(t: &Transition) -> HealthEvent {
    let transition = pb::BreakerTransition {
        provider: t.endpoint.provider.to_string(),
        account: t.endpoint.account.to_string(),
        route: t.endpoint.route.to_string(),
        upstream_model: t.endpoint.upstream_model.to_string(),
        from: wire_state(t.from) as i32,
        to: wire_state(t.to) as i32,
        reason: t.reason.map(Reason::as_str).unwrap_or_default().to_owned(),
        open_for_ms: t.open_for_ms,
    };
    HealthEvent { at_ms: t.at_ms, event: Some(health_event::Event::Breaker(transition)) }
}

/// Removes the spool files of dropped batches.
async fn remove_files(dropped: Vec<queue::Entry>) {
    let paths: Vec<_> = dropped.iter().filter_map(|e| e.path().cloned()).collect();
    if !paths.is_empty() {
        let _ = tokio::task::spawn_blocking(move || paths.iter().for_each(|p| spool::remove(p))).await;
    }
}

#[cfg(test)]
mod tests;
