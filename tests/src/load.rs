//! Shared pieces of the load tools: a constant-memory latency histogram, the
//! kinds of request of a mixed load ([`mix`]) and /proc sampling ([`watch`]).

pub mod mix;
pub mod watch;

use std::time::Duration;

/// A fixed-size log-linear histogram of `u64` values (microseconds here): exact
/// below 256, then 128 linear buckets per power of two (under 0.8% error), up
/// to 2^36 - 1 (about 19 hours); larger values are clamped.
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    max: u64,
}

const PRECISION_BITS: u32 = 8;
const HALF: usize = 1 << (PRECISION_BITS - 1);
const MAX_VALUE: u64 = (1 << 36) - 1;
const BUCKETS: usize = bucket(MAX_VALUE) + 1;

const fn bucket(value: u64) -> usize {
    if value < (1 << PRECISION_BITS) {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros();
    let shift = exponent + 1 - PRECISION_BITS;
    shift as usize * HALF + (value >> shift) as usize
}

/// The largest value that lands in `bucket`.
const fn highest(bucket: usize) -> u64 {
    if bucket < 2 * HALF {
        return bucket as u64;
    }
    let shift = bucket / HALF - 1;
    let top = (bucket % HALF + HALF) as u64;
    ((top + 1) << shift) - 1
}

impl Histogram {
    pub fn new() -> Self {
        Histogram { counts: vec![0; BUCKETS].into_boxed_slice(), count: 0, max: 0 }
    }

    pub fn record(&mut self, value: u64) {
        let value = value.min(MAX_VALUE);
        self.counts[bucket(value)] += 1;
        self.count += 1;
        self.max = self.max.max(value);
    }

    pub fn record_duration(&mut self, duration: Duration) {
        self.record(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1), as the top of its bucket; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(highest(bucket).min(self.max));
            }
        }
        Some(self.max)
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut last = 0;
        for value in (0..1 << 20).chain([MAX_VALUE - 1, MAX_VALUE]) {
            let index = bucket(value);
            assert!(index == last || index == last + 1 || value >= 1 << 20, "{value}");
            assert!(highest(index) >= value, "{value}");
            assert!(highest(index) - value <= value / 128, "{value}");
            if index > 0 {
                assert!(highest(index - 1) < value, "{value}");
            }
            last = index;
        }
        assert_eq!(bucket(MAX_VALUE), BUCKETS - 1);
    }

    #[test]
    fn quantiles() {
        let mut histogram = Histogram::new();
        assert_eq!(histogram.quantile(0.5), None);
        for value in 1..=1000 {
            histogram.record(value);
        }
        let p50 = histogram.quantile(0.5).unwrap();
        assert!((500..=504).contains(&p50), "{p50}");
        let p99 = histogram.quantile(0.99).unwrap();
        assert!((990..=998).contains(&p99), "{p99}");
        assert_eq!(histogram.quantile(1.0), Some(1000));
        assert_eq!(histogram.max(), Some(1000));
    }
}
