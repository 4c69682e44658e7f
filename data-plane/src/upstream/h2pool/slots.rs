//! Stream slot accounting for one pooled HTTP/2 connection: how many streams
//! are in flight, the server's limit, whether the connection is closed, and
//! since when it has been idle. Lock-free: one atomic word carries the
//! in-flight count and the closed flag, so closing an idle connection and
//! reserving a slot on it cannot both succeed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Set in a connection's slot word once it is closed: no slot can be reserved
/// any more (the word is then always >= any limit), releases still count down.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// Stream slot accounting for one connection, lock-free.
pub(super) struct Slots {
    /// Streams in flight, plus [`CLOSED`] once the connection is gone.
    state: AtomicUsize,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS as last seen (at least 1).
    pub(super) limit: AtomicUsize,
    /// When the last stream ended, in milliseconds since `epoch`.
    idle_since_ms: AtomicU64,
    epoch: Instant,
}

impl Slots {
    pub(super) fn new(epoch: Instant, in_flight: usize, limit: usize) -> Slots {
        Slots {
            state: AtomicUsize::new(in_flight),
            limit: AtomicUsize::new(limit),
            idle_since_ms: AtomicU64::new(millis_since(epoch)),
            epoch,
        }
    }

    pub(super) fn in_flight(&self) -> usize {
        self.state.load(Ordering::Acquire) & !CLOSED
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    pub(super) fn has_room(&self) -> bool {
        self.state.load(Ordering::Acquire) < self.limit.load(Ordering::Relaxed)
    }

    /// Takes a slot if the connection is open and below its limit.
    pub(super) fn try_reserve(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).is_ok()
    }

    /// Takes a slot beyond the limit (HTTP/2 queues the stream); fails only if closed.
    pub(super) fn force_reserve(&self) -> bool {
        self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n & CLOSED == 0).then_some(n + 1)).is_ok()
    }

    pub(super) fn release(&self) {
        if self.state.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last stream ended on an open connection: it is idle from now.
            self.idle_since_ms.store(millis_since(self.epoch), Ordering::Relaxed);
        }
    }

    pub(super) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// Closes the connection if nothing is in flight, atomically with respect to reservations.
    pub(super) fn close_if_idle(&self) -> bool {
        self.state.compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// When the idle timeout falls due, or `None` once it has and the connection is closed.
    pub(super) fn idle_check(&self, timeout: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.in_flight() > 0 {
            return Some(now + timeout);
        }
        let due = self.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::Relaxed)) + timeout;
        if now < due {
            Some(due)
        } else if self.close_if_idle() {
            None
        } else {
            Some(now + timeout)
        }
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}
