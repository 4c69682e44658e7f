//! The breaker's sliding window: requests and failures over the last `policy.window`.
//!
//! A ring of [`BUCKETS`] buckets, each `span / BUCKETS` wide. A bucket holds the start of
//! the interval it counts (`start_ms`, milliseconds since the breaker's base instant) and
//! one packed counter word (requests in the low 32 bits, failures in the high 32 bits), so
//! a reader never sees more failures than requests. Recording is lock-free: the first
//! caller to reach a bucket whose interval has passed claims it by CAS on `start_ms` and
//! clears it. Races may lose an increment, which is fine for a failure *rate*.
//!
//! The span comes from the policy of the latest failure (successes carry no policy). When
//! it changes, buckets stamped on the old grid are claimed as time reaches them or age out
//! of the sum, so a new length takes effect within one window without a reset.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets in the ring.
pub(super) const BUCKETS: usize = 10;

const HALF: u64 = u32::MAX as u64;

/// Requests and failures currently in the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Totals {
    pub requests: u64,
    pub failures: u64,
}

pub(super) struct Window {
    /// Bucket width in milliseconds (>= 1).
    width_ms: AtomicU64,
    buckets: [Bucket; BUCKETS],
}

#[derive(Default)]
struct Bucket {
    start_ms: AtomicU64,
    counts: AtomicU64,
}

impl Window {
    pub(super) fn new(span: Duration) -> Self {
        Self { width_ms: AtomicU64::new(width_for(span)), buckets: Default::default() }
    }

    /// Adopts a (possibly changed) window length.
    pub(super) fn set_span(&self, span: Duration) {
        let width = width_for(span);
        if self.width_ms.load(Ordering::Relaxed) != width {
            self.width_ms.store(width, Ordering::Relaxed);
        }
    }

    /// Counts one request (and one failure if `failed`) at `now_ms`.
    pub(super) fn record(&self, now_ms: u64, failed: bool) {
        let width = self.width();
        let index = now_ms / width;
        let start = index * width;
        // The modulo keeps the value below BUCKETS, so the cast cannot truncate.
        let bucket = &self.buckets[(index % BUCKETS as u64) as usize];
        let mut seen = bucket.start_ms.load(Ordering::Acquire);
        // An older interval: claim and clear it. A newer (or equal) one, which only a racing
        // caller or a changed width can produce, is simply added to.
        while seen < start {
            match bucket.start_ms.compare_exchange_weak(seen, start, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    bucket.counts.store(0, Ordering::Release);
                    break;
                }
                Err(actual) => seen = actual,
            }
        }
        let _ = bucket.counts.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| Some(add(c, failed)));
    }

    /// What the window holds at `now_ms`.
    pub(super) fn totals(&self, now_ms: u64) -> Totals {
        let span = self.width().saturating_mul(BUCKETS as u64);
        let mut totals = Totals::default();
        for bucket in &self.buckets {
            if bucket.start_ms.load(Ordering::Acquire).saturating_add(span) <= now_ms {
                continue;
            }
            let counts = bucket.counts.load(Ordering::Acquire);
            let requests = counts & HALF;
            totals.requests += requests;
            totals.failures += (counts >> 32).min(requests);
        }
        totals
    }

    /// Forgets everything (the breaker closed after a successful probe).
    pub(super) fn reset(&self) {
        for bucket in &self.buckets {
            bucket.counts.store(0, Ordering::Release);
        }
    }

    fn width(&self) -> u64 {
        self.width_ms.load(Ordering::Relaxed).max(1)
    }
}

fn width_for(span: Duration) -> u64 {
    let span_ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
    (span_ms / BUCKETS as u64).max(1)
}

/// Adds one request (and maybe one failure), saturating each half so neither spills.
fn add(counts: u64, failed: bool) -> u64 {
    let requests = (counts & HALF).saturating_add(1).min(HALF);
    let failures = (counts >> 32).saturating_add(u64::from(failed)).min(requests);
    (failures << 32) | requests
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: Duration = Duration::from_secs(10);

    fn totals(requests: u64, failures: u64) -> Totals {
        Totals { requests, failures }
    }

    #[test]
    fn counts_requests_and_failures() {
        let w = Window::new(SPAN);
        w.record(0, true);
        w.record(500, false);
        w.record(2_500, true);
        assert_eq!(w.totals(2_500), totals(3, 2));
    }

    #[test]
    fn slides_bucket_by_bucket() {
        let w = Window::new(SPAN);
        w.record(0, true); // bucket [0, 1000)
        w.record(5_000, true); // bucket [5000, 6000)
        assert_eq!(w.totals(9_999), totals(2, 2));
        assert_eq!(w.totals(10_000), totals(1, 1), "the first bucket has left the window");
        assert_eq!(w.totals(15_000), totals(0, 0));
        // The ring slot of the first bucket is reused, and cleared, a window later.
        w.record(10_500, false);
        assert_eq!(w.totals(10_500), totals(2, 1));
    }

    #[test]
    fn reset_forgets() {
        let w = Window::new(SPAN);
        w.record(100, true);
        w.reset();
        assert_eq!(w.totals(100), totals(0, 0));
    }

    #[test]
    fn span_change_is_sane() {
        let w = Window::new(SPAN);
        for t in (0..10_000).step_by(1_000) {
            w.record(t, true);
        }
        // Shorter window: only what the last second holds counts.
        w.set_span(Duration::from_secs(1));
        assert_eq!(w.totals(9_999), totals(1, 1));
        w.record(10_000, false);
        assert_eq!(w.totals(10_000), totals(1, 0));
        // Longer window: recent buckets stay, new ones land on the wider grid.
        w.set_span(Duration::from_secs(100));
        w.record(10_100, true);
        let t = w.totals(10_100);
        assert!(t.failures <= t.requests);
        assert!(t.requests >= 2, "{t:?}");
    }

    #[test]
    fn zero_span_does_not_divide_by_zero() {
        let w = Window::new(Duration::ZERO);
        w.record(3, true);
        assert_eq!(w.totals(3), totals(1, 1));
    }

    #[test]
    fn halves_saturate_and_failures_never_exceed_requests() {
        let full = (HALF << 32) | HALF;
        assert_eq!(add(full, true), full);
        assert_eq!(add(0, true), (1 << 32) | 1);
        assert_eq!(add(0, false), 1);
    }
}
