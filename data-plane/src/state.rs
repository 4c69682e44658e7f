//! What every request shares: the swappable runtime, metrics, the memory
//! budget for buffered bodies ([`crate::budget`]), and the process's lifecycle flags.

use crate::breaker::events::Transitions;
use crate::budget::BodyBudget;
use crate::error::ProxyError;
use crate::metrics::Metrics;
use crate::runtime::{Runtime, RuntimeHandle};
use crate::telemetry::NodeState;
use crate::telemetry::queue::Queue;
use crate::usage::Usage;
use arc_swap::ArcSwapOption;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;

pub struct Shared {
    pub runtime: RuntimeHandle,
    pub metrics: Metrics,
    /// Usage accounting: the channel to the sink task and the totals.
    pub usage: Arc<Usage>,
    pub bodies: BodyBudget,
    /// Set on SIGTERM: readiness goes false.
    pub draining: AtomicBool,
    pub started: Instant,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
    /// The last config that was refused, and why.
    pub last_reload_error: ArcSwapOption<String>,
    /// Where breakers report their transitions (control-plane mode: the
    /// telemetry reporter takes them); `None`: unreported.
    pub transitions: Option<Arc<Transitions>>,
    /// The telemetry reporter's queue (control-plane mode).
    pub telemetry: Option<Arc<Queue>>,
    /// Each listener's open connections and refusals (`/metrics`).
    pub connections: Vec<Arc<switchyard_proto::listen::Connections>>,
    /// The listeners that serve TLS: their certificates and handshakes (`/metrics`, `/status`).
    pub tls: Vec<Arc<crate::tls::ServerTls>>,
    /// Counts Runtime swaps ([`crate::source::install`]); the health checks'
    /// supervisor ([`crate::health`]) wakes on it.
    pub swaps: tokio::sync::watch::Sender<u64>,
    /// Milliseconds after `started` since which the snapshot has not been
    /// confirmed by a control plane; [`FRESH`] while subscribed (or in file mode).
    stale_since_ms: AtomicU64,
}

/// `stale_since_ms` while the snapshot is known current.
const FRESH: u64 = u64::MAX;

impl Shared {
    pub fn new(runtime: RuntimeHandle, body_timeout: Duration, usage: Arc<Usage>) -> Self {
        Self {
            runtime,
            metrics: Metrics::default(),
            usage,
            bodies: BodyBudget::new(),
            draining: AtomicBool::new(false),
            started: Instant::now(),
            body_timeout,
            last_reload_error: ArcSwapOption::empty(),
            transitions: None,
            telemetry: None,
            connections: Vec::new(),
            tls: Vec::new(),
            swaps: tokio::sync::watch::Sender::new(0),
            stale_since_ms: AtomicU64::new(FRESH),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Subscribed to a control plane: what is served is current.
    pub fn mark_fresh(&self) {
        self.stale_since_ms.store(FRESH, Relaxed);
    }

    /// No control plane confirms the snapshot from now on (kept if already stale).
    pub fn mark_stale(&self) {
        let now = self.now_ms();
        let _ = self.stale_since_ms.compare_exchange(FRESH, now, Relaxed, Relaxed);
    }

    /// How long the snapshot has gone unconfirmed (zero while subscribed).
    pub fn staleness(&self) -> Duration {
        match self.stale_since_ms.load(Relaxed) {
            FRESH => Duration::ZERO,
            since => Duration::from_millis(self.now_ms().saturating_sub(since)),
        }
    }

    /// `settings.snapshot.fail_closed_after` has passed without contact.
    pub fn closed_by_staleness(&self, rt: &Runtime) -> bool {
        rt.config.settings.snapshot_fail_closed_after.is_some_and(|limit| self.staleness() > limit)
    }

    pub fn ready(&self) -> bool {
        !self.draining.load(Relaxed) && self.runtime.load().as_ref().is_some_and(|rt| !self.closed_by_staleness(rt))
    }
}

/// What the telemetry reporter's heartbeats tell.
impl NodeState for Shared {
    fn runtime(&self) -> Option<Arc<Runtime>> {
        self.runtime.load_full()
    }

    fn inflight(&self) -> u64 {
        u64::try_from(self.metrics.inflight.load(Relaxed)).unwrap_or(0)
    }
}

/// Counts a request in flight until dropped, which for a stream is when its
/// body ends or the client leaves.
pub struct InflightGuard {
    shared: Arc<Shared>,
}

impl InflightGuard {
    /// Admits a request unless `limit` are already in flight (503 at once, never queued).
    pub fn admit(shared: &Arc<Shared>, limit: u32) -> Result<Self, ProxyError> {
        let before = shared.metrics.inflight.fetch_add(1, Relaxed);
        let guard = Self { shared: shared.clone() };
        if before >= i64::from(limit) {
            return Err(ProxyError::Overloaded);
        }
        Ok(guard)
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.shared.metrics.inflight.fetch_sub(1, Relaxed);
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone).
pub async fn stopped(flag: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = flag.wait_for(|stop| *stop).await;
}
