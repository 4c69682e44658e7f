//! A lock-free peak-EWMA of one endpoint's latency.
//!
//! "Peak" means pessimistic: a sample above the estimate replaces it at once,
//! while lower samples only pull the estimate down gradually, the more the
//! longer it has been since the last update (`w = exp(-elapsed / TAU)`). So one
//! slow response makes an endpoint look slow right away, and it has to earn
//! its way back.
//!
//! Reads decay too, without writing: an estimate nobody has refreshed for a
//! while drifts toward a caller-given prior (the latency assumed for an endpoint
//! never measured), so a single old spike cannot keep an endpoint out of
//! traffic forever once the balancer stops sending it requests.
//!
//! The estimate (seconds, as `f64` bits) and the time of the last update
//! (nanoseconds since a base instant) are two atomics. Racing writers retry a
//! compare-and-swap on the estimate; a reader may pair an estimate with a
//! slightly older time, which only decays it a little more. Every value seen is
//! a real estimate, never a torn one.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;

/// Decay time constant: after `TAU` without updates, an old estimate keeps
/// `1/e` (~37%) of its weight; after `3 * TAU`, ~5%.
pub const TAU: Duration = Duration::from_secs(10);

/// Bits of the estimate before the first sample. A NaN pattern, which no
/// finite non-negative sample produces.
const EMPTY: u64 = u64::MAX;

/// Peak-EWMA of latency samples. All methods take `&self`.
#[derive(Debug)]
pub(crate) struct PeakEwma {
    base: Instant,
    /// `f64` bits of the estimate in seconds, or [`EMPTY`].
    estimate: AtomicU64,
    /// Nanoseconds from `base` to the last update.
    updated: AtomicU64,
}

impl PeakEwma {
    pub(crate) fn new(base: Instant) -> Self {
        Self { base, estimate: AtomicU64::new(EMPTY), updated: AtomicU64::new(0) }
    }

    /// Feeds one sample taken at `now`.
    pub(crate) fn observe(&self, sample: Duration, now: Instant) {
        let sample = sample.as_secs_f64();
        let at = self.offset(now);
        let mut current = self.estimate.load(Relaxed);
        loop {
            let next = if current == EMPTY {
                sample
            } else {
                let estimate = f64::from_bits(current);
                if sample >= estimate {
                    sample
                } else {
                    let w = weight(at.saturating_sub(self.updated.load(Relaxed)));
                    estimate * w + sample * (1.0 - w)
                }
            };
            match self.estimate.compare_exchange_weak(current, next.to_bits(), Relaxed, Relaxed) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        // Never moves backwards when a later writer got here first.
        self.updated.fetch_max(at, Relaxed);
    }

    /// The estimate as of `now`, decayed toward `prior` for the time since the
    /// last update; `None` before the first sample.
    pub(crate) fn estimate(&self, now: Instant, prior: Duration) -> Option<Duration> {
        let bits = self.estimate.load(Relaxed);
        if bits == EMPTY {
            return None;
        }
        let estimate = f64::from_bits(bits);
        let prior = prior.as_secs_f64();
        let w = weight(self.offset(now).saturating_sub(self.updated.load(Relaxed)));
        let decayed = prior + (estimate - prior) * w;
        Some(Duration::try_from_secs_f64(decayed).unwrap_or(Duration::MAX))
    }

    fn offset(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Weight an estimate keeps after `elapsed_ns` nanoseconds.
fn weight(elapsed_ns: u64) -> f64 {
    (-(elapsed_ns as f64) / TAU.as_nanos() as f64).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const PRIOR: Duration = Duration::from_secs(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(ewma: &PeakEwma, now: Instant) -> f64 {
        ewma.estimate(now, PRIOR).unwrap().as_secs_f64()
    }

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-6, "{actual} != {expected}");
    }

    #[test]
    fn empty_until_the_first_sample_which_is_taken_as_is() {
        let t0 = Instant::now();
        let ewma = PeakEwma::new(t0);
        assert_eq!(ewma.estimate(t0, PRIOR), None);
        assert_eq!(ewma.estimate(t0 + Duration::from_secs(100), PRIOR), None);
        ewma.observe(ms(250), t0 + ms(5));
        close(secs(&ewma, t0 + ms(5)), 0.25);
    }

    #[test]
    fn a_peak_replaces_the_estimate_at_once() {
        let t0 = Instant::now();
        let ewma = PeakEwma::new(t0);
        ewma.observe(ms(100), t0);
        ewma.observe(ms(3000), t0);
        close(secs(&ewma, t0), 3.0);
    }

    #[test]
    fn lower_samples_decay_the_estimate_by_time_since_the_last_update() {
        let t0 = Instant::now();
        let ewma = PeakEwma::new(t0);
        ewma.observe(ms(1000), t0);
        // No time passed: the old estimate keeps all its weight.
        ewma.observe(ms(100), t0);
        close(secs(&ewma, t0), 1.0);
        // One TAU later: w = 1/e.
        let t1 = t0 + TAU;
        ewma.observe(ms(100), t1);
        let w = (-1.0f64).exp();
        close(secs(&ewma, t1), 1.0 * w + 0.1 * (1.0 - w));
        // Samples a millisecond apart barely move it: peaks are forgotten slowly.
        let before = secs(&ewma, t1);
        ewma.observe(ms(100), t1 + ms(1));
        let after = secs(&ewma, t1 + ms(1));
        assert!(after < before && before - after < 0.001, "{before} -> {after}");
        // Long after, a new sample is all that counts.
        let t2 = t1 + TAU * 100;
        ewma.observe(ms(200), t2);
        close(secs(&ewma, t2), 0.2);
    }

    #[test]
    fn reads_drift_toward_the_prior_without_changing_the_estimate() {
        let t0 = Instant::now();
        let ewma = PeakEwma::new(t0);
        ewma.observe(ms(5000), t0);
        let w = (-1.0f64).exp();
        close(secs(&ewma, t0 + TAU), 1.0 + 4.0 * w);
        close(secs(&ewma, t0 + TAU * 100), 1.0);
        // Reading did not write: at t0 it is still 5 s.
        close(secs(&ewma, t0), 5.0);
        // A fast estimate drifts up toward the prior the same way.
        let fast = PeakEwma::new(t0);
        fast.observe(ms(100), t0);
        close(secs(&fast, t0 + TAU), 1.0 - 0.9 * w);
    }

    #[test]
    fn out_of_order_times_do_not_panic_or_rewind() {
        let t0 = Instant::now();
        let ewma = PeakEwma::new(t0 + Duration::from_secs(1));
        // Before the base: treated as the base.
        ewma.observe(ms(300), t0);
        close(secs(&ewma, t0), 0.3);
        ewma.observe(ms(300), t0 + Duration::from_secs(30));
        // An older sample arriving late counts as if no time had passed.
        ewma.observe(ms(100), t0 + Duration::from_secs(2));
        close(secs(&ewma, t0 + Duration::from_secs(30)), 0.3);
        ewma.observe(Duration::MAX, t0);
        assert_eq!(ewma.estimate(t0, PRIOR), Some(Duration::MAX));
    }

    #[test]
    fn racing_writers_leave_a_sane_estimate() {
        let t0 = Instant::now();
        let ewma = Arc::new(PeakEwma::new(t0));
        let threads: Vec<_> = (0..8u64)
            .map(|n| {
                let ewma = ewma.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        ewma.observe(ms(10 + (n * 7 + i) % 90), t0 + Duration::from_micros(i));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let estimate = ewma.estimate(t0 + Duration::from_micros(10_000), PRIOR).unwrap();
        assert!((ms(10)..=ms(100)).contains(&estimate), "{estimate:?}");
    }
}
