//! A small log-bucket histogram of microsecond durations, for latency and
//! time-to-first-token percentiles out of per-minute rollups.
//!
//! Values below 8 have a bucket each; above, every power of two is split in
//! 8 equal buckets (HDR-style: the leading bit and the next three), so a
//! bucket's midpoint is within 1/16 (~6%) of any value in it. At most 496
//! buckets; a rollup row stores only the ones in use, as `bucket:count`
//! pairs separated by commas (`""` when empty), which merge by adding counts.

use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: BTreeMap<u16, u64>,
}

/// The bucket holding `v`.
fn bucket(v: u64) -> u16 {
    if v < 8 {
        return v as u16;
    }
    let p = 63 - v.leading_zeros(); // floor(log2 v), >= 3
    let sub = (v >> (p - 3)) & 7;
    (8 + (p - 3) * 8) as u16 + sub as u16
}

/// The value a bucket stands for: its midpoint.
fn value(b: u16) -> u64 {
    if b < 8 {
        return u64::from(b);
    }
    let (octave, sub) = (u32::from(b - 8) / 8, u64::from(b - 8) % 8);
    let low = (8 + sub) << octave;
    let width = 1u64 << octave;
    low.saturating_add(width / 2)
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        *self.buckets.entry(bucket(v)).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The value at percentile `pct` (1..=100) by nearest rank; 0 when empty.
    pub fn percentile(&self, pct: u64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let rank = (n.saturating_mul(pct.min(100)).div_ceil(100)).max(1);
        let mut seen = 0;
        for (b, c) in &self.buckets {
            seen += c;
            if seen >= rank {
                return value(*b);
            }
        }
        self.buckets.keys().next_back().map_or(0, |b| value(*b))
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (b, n) in &self.buckets {
            if !out.is_empty() {
                out.push(',');
            }
            let _ = write!(out, "{b}:{n}");
        }
        out
    }

    /// Parses [`Histogram::encode`]'s text; `None` when it is not that.
    pub fn decode(s: &str) -> Option<Histogram> {
        let mut h = Histogram::default();
        for pair in s.split(',').filter(|p| !p.is_empty()) {
            let (b, n) = pair.split_once(':')?;
            let (b, n) = (b.parse::<u16>().ok()?, n.parse::<u64>().ok()?);
            *h.buckets.entry(b).or_default() += n;
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_midpoints_close() {
        let mut last = 0;
        for v in 1..200_000u64 {
            let b = bucket(v);
            assert!(b == last || b == last + 1, "v {v}: bucket {b} after {last}");
            last = b;
            let mid = value(b);
            assert!(mid.abs_diff(v) * 16 <= v.max(16), "v {v}: midpoint {mid}");
        }
        assert_eq!(bucket(u64::MAX), 8 + 60 * 8 + 7);
        assert!(value(bucket(u64::MAX)) > u64::MAX / 2);
    }

    #[test]
    fn percentiles_and_round_trip() {
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.record(ms * 1000);
        }
        let p50 = h.percentile(50);
        let p99 = h.percentile(99);
        assert!(p50.abs_diff(50_000) <= 50_000 / 16, "{p50}");
        assert!(p99.abs_diff(99_000) <= 99_000 / 16, "{p99}");
        let back = Histogram::decode(&h.encode()).unwrap();
        assert_eq!(back, h);
        let mut twice = back.clone();
        twice.merge(&h);
        assert_eq!(twice.count(), 200);
        assert_eq!(twice.percentile(50), p50);
        assert_eq!(Histogram::decode("").unwrap().percentile(50), 0);
        assert!(Histogram::decode("x").is_none());
    }
}
