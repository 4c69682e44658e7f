//! When an account is polled next: a new one soon (spread over a few seconds,
//! [`super::Tuning::spread`], so a fleet of accounts does not poll at once), after a success one
//! `balance.poll_interval` later, after failures sooner at first, then
//! backing off exponentially to a bound; every delay jittered by ±10%.

use std::time::Duration;

/// The first retry after a failure waits this (or the interval, if shorter) ...
const RETRY_FIRST: Duration = Duration::from_secs(60);
/// ... doubling per consecutive failure up to `interval × RETRY_INTERVALS`,
/// at most [`RETRY_MAX`] (but never less than the interval).
const RETRY_INTERVALS: u32 = 8;
const RETRY_MAX: Duration = Duration::from_secs(3600);
/// ±10%.
const JITTER: f64 = 0.1;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `d` scaled by a factor in [0.9, 1.1).
fn jittered(d: Duration, rng: &mut fastrand::Rng) -> Duration {
    d.mul_f64(1.0 - JITTER + 2.0 * JITTER * rng.f64())
}

/// A newly polled account's first due time: within `spread` (or the interval, if shorter).
pub fn first_due(now_ms: i64, interval: Duration, spread: Duration, rng: &mut fastrand::Rng) -> i64 {
    now_ms.saturating_add(ms(spread.min(interval).mul_f64(rng.f64())))
}

/// Due again after a successful poll.
pub fn after_success(now_ms: i64, interval: Duration, rng: &mut fastrand::Rng) -> i64 {
    now_ms.saturating_add(ms(jittered(interval, rng)))
}

/// The wait before the next attempt after `failures` (>= 1) consecutive failures, unjittered.
pub fn retry_delay(interval: Duration, failures: u32) -> Duration {
    let cap = interval.saturating_mul(RETRY_INTERVALS).min(RETRY_MAX).max(interval);
    let doublings = failures.saturating_sub(1).min(31);
    RETRY_FIRST.min(interval).saturating_mul(1 << doublings).min(cap)
}

/// Due again after a failed poll, the `failures`th in a row.
pub fn after_failure(now_ms: i64, interval: Duration, failures: u32, rng: &mut fastrand::Rng) -> i64 {
    now_ms.saturating_add(ms(jittered(retry_delay(interval, failures), rng)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn retries_double_from_a_minute_to_the_bound() {
        let ten = 10 * MIN;
        let delays: Vec<u64> = (1..=9).map(|n| retry_delay(ten, n).as_secs() / 60).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60], "up to an hour (80 min is past it)");
        assert_eq!(retry_delay(ten, 1000), 60 * MIN, "bounded however many");
        // A short interval: first retry after one interval, at most 8 of them.
        let short = Duration::from_secs(5);
        let delays: Vec<u64> = (1..=6).map(|n| retry_delay(short, n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 40, 40]);
        // An interval past the hour: the retries never wait longer than it.
        assert_eq!(retry_delay(120 * MIN, 20), 120 * MIN);
        assert_eq!(retry_delay(120 * MIN, 1), MIN);
    }

    #[test]
    fn delays_are_jittered_within_ten_percent() {
        let mut rng = fastrand::Rng::with_seed(7);
        let interval = Duration::from_secs(600);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let due = after_success(1_000_000, interval, &mut rng) - 1_000_000;
            assert!((540_000..660_000).contains(&due), "{due}");
            seen.insert(due / 10_000);
            let retry = after_failure(0, interval, 3, &mut rng);
            assert!((216_000..264_000).contains(&retry), "4 min ± 10%: {retry}");
            let first = first_due(0, interval, Duration::from_secs(10), &mut rng);
            assert!((0..10_000).contains(&first), "{first}");
        }
        assert!(seen.len() > 5, "spread, not one value: {seen:?}");
        assert!((0..100).contains(&first_due(0, Duration::from_millis(100), Duration::from_secs(10), &mut rng)));
        assert_eq!(first_due(5, interval, Duration::ZERO, &mut rng), 5);
    }
}
