//! Breaker transitions as events, for the control plane: every breaker of
//! a Runtime built in control-plane mode pushes its transitions here, and
//! the telemetry reporter takes them with each batch as `HealthEvent`s.
//! Transitions are rare (they happen under the breaker's `cold` lock
//! anyway), so a short lock on a bounded queue is fine; past [`MAX_QUEUED`]
//! the oldest is dropped and counted.

use super::{Reason, State};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Transitions held until the reporter takes them.
pub const MAX_QUEUED: usize = 4096;

/// Which endpoint a breaker guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointId {
    pub route: Arc<str>,
    pub provider: Arc<str>,
    pub account: Arc<str>,
    pub upstream_model: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Unix milliseconds.
    pub at_ms: i64,
    pub endpoint: Arc<EndpointId>,
    pub from: State,
    pub to: State,
    /// Why it opened (for `to == Open`).
    pub reason: Option<Reason>,
    /// How long it stays open (for `to == Open`).
    pub open_for_ms: u64,
}

/// The process's queue of transitions not yet reported.
#[derive(Debug, Default)]
pub struct Transitions {
    queue: Mutex<VecDeque<Transition>>,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
}

impl Transitions {
    pub(super) fn push(&self, transition: Transition) {
        let mut queue = self.queue.lock();
        if queue.len() >= MAX_QUEUED {
            queue.pop_front();
            self.dropped.fetch_add(1, Relaxed);
        }
        queue.push_back(transition);
    }

    /// Takes every queued transition, oldest first.
    pub fn take(&self) -> Vec<Transition> {
        self.queue.lock().drain(..).collect()
    }
}

/// A breaker's link to the queue.
#[derive(Debug)]
pub(super) struct Observer {
    pub endpoint: Arc<EndpointId>,
    pub sink: Arc<Transitions>,
}
