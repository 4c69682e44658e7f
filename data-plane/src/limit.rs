//! Per-key rate limits, `rpm` and `tpm`: GCRA (the generic cell rate algorithm) on one atomic.
//!
//! A key's `rpm` is shared by the fleet: this node enforces its share, `rpm / nodes`
//! (`nodes` from the key's Runtime entry, 1 without one), and at least one request a
//! minute however small the share. [`Rate`] turns the share into an emission interval
//! `T = 60 s / share` and a burst of the whole share, depth `D = T * burst`: a key with
//! rpm 600 on one node may send 600 requests at once, then one every 100 ms.
//!
//! A [`Limiter`] holds one number, the theoretical arrival time (TAT): when the key's
//! use so far will have drained, in nanoseconds on the data plane's [`Clock`]. A request
//! at `now` is admitted iff `max(TAT, now) + T - now <= D`, which moves the TAT there; a
//! CAS loop makes check-and-move atomic without a lock. The rest follows from the TAT:
//! `(D - (TAT - now)) / T` requests are left, and a refused request may retry after
//! `TAT + T - D - now`.
//!
//! Re-rating (a changed `rpm` or node count) keeps the key's use: the backlog
//! `TAT - now`, `n` requests at the old interval, becomes `n` requests at the new one
//! (at most the new depth), and the new interval applies from now on.
//!
//! Tokens (`tpm`) use the same bucket with a token as the unit, but a request's
//! tokens are known only once it has ended. So a request is admitted while at least
//! one token of the share is left ([`Limiter::check`], which takes nothing), and its
//! tokens (prompt plus completion, reported or estimated) are taken afterwards, off
//! the request path ([`Limiter::charge`]). The bucket may go into debt, up to one more
//! minute's share: a key that spent past its share waits, at most two minutes, until
//! a token is left again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;

const MINUTE_NS: u64 = 60_000_000_000;
const SECOND_NS: u64 = 1_000_000_000;

/// Where limiter time starts: taken with a data plane's first Runtime and carried
/// over to every later one, so one key's TAT always means the same instant.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Nanoseconds since the start.
    pub fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// This node's share of a key's `rpm` (the unit is a request) or `tpm` (a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// The key's units per minute, fleet-wide.
    pub per_minute: u64,
    /// Data planes sharing it (>= 1).
    pub nodes: u32,
    /// Units this node admits at once: the whole share, at least 1.
    pub burst: u64,
    /// `60 s / share`, at most a minute.
    interval_ns: u64,
}

impl Rate {
    pub fn per_minute(per_minute: u64, nodes: u32) -> Self {
        // Validation refuses 0; clamp rather than divide by zero.
        let (per_minute, nodes) = (per_minute.max(1), nodes.max(1));
        let interval = u128::from(MINUTE_NS) * u128::from(nodes) / u128::from(per_minute);
        let interval_ns = u64::try_from(interval).unwrap_or(MINUTE_NS).clamp(1, MINUTE_NS);
        // Past one unit a nanosecond the share is all a minute holds.
        let burst = (per_minute / u64::from(nodes)).clamp(1, MINUTE_NS / interval_ns);
        Self { per_minute, nodes, burst, interval_ns }
    }

    /// The most backlog the bucket holds.
    fn depth_ns(&self) -> u64 {
        self.interval_ns.saturating_mul(self.burst)
    }

    /// Units left when the TAT is `tat`.
    fn remaining(&self, tat: u64, now: u64) -> u64 {
        let left = self.depth_ns().saturating_sub(tat.saturating_sub(now)) / self.interval_ns;
        left.min(self.burst)
    }
}

/// A refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// When a request would next be admitted.
    pub retry_after: Duration,
    /// Units left (0 unless the TAT moved since).
    pub remaining: u64,
}

impl Refused {
    /// `Retry-After`: whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        u64::try_from(self.retry_after.as_nanos()).unwrap_or(u64::MAX).div_ceil(SECOND_NS).max(1)
    }
}

/// One key's limiter state; lives across reloads while the key is unchanged. The
/// rate comes with each call.
#[derive(Debug, Default)]
pub struct Limiter {
    /// Theoretical arrival time, ns on the [`Clock`]; 0 = nothing used.
    tat: AtomicU64,
}

impl Limiter {
    /// Admits one request at `now` (ns on the clock), returning the requests left.
    /// Lock-free and allocation-free.
    pub fn admit(&self, rate: &Rate, now: u64) -> Result<u64, Refused> {
        let depth = rate.depth_ns();
        let mut tat = self.tat.load(Relaxed);
        loop {
            let next = tat.max(now).saturating_add(rate.interval_ns);
            let backlog = next - now;
            if backlog > depth {
                let retry_after = Duration::from_nanos(backlog - depth);
                return Err(Refused { retry_after, remaining: rate.remaining(tat, now) });
            }
            match self.tat.compare_exchange_weak(tat, next, Relaxed, Relaxed) {
                Ok(_) => return Ok(rate.remaining(next, now)),
                Err(actual) => tat = actual,
            }
        }
    }

    /// Units left at `now`, without taking one.
    pub fn remaining(&self, rate: &Rate, now: u64) -> u64 {
        rate.remaining(self.tat.load(Relaxed), now)
    }

    /// Whether at least one unit is left at `now`, taking none (tokens: the
    /// request's are [`charge`](Self::charge)d when it has ended).
    pub fn check(&self, rate: &Rate, now: u64) -> Result<u64, Refused> {
        let tat = self.tat.load(Relaxed);
        match rate.remaining(tat, now) {
            0 => {
                // One unit is left once the backlog is down to `depth - interval`.
                let free_at = tat.saturating_add(rate.interval_ns).saturating_sub(rate.depth_ns());
                Err(Refused { retry_after: Duration::from_nanos(free_at.saturating_sub(now)), remaining: 0 })
            }
            left => Ok(left),
        }
    }

    /// Takes `units` at `now`, into debt if need be (down to one more share:
    /// the backlog stays within twice the depth).
    pub fn charge(&self, rate: &Rate, now: u64, units: u64) {
        if units == 0 {
            return;
        }
        let cost = rate.interval_ns.saturating_mul(units);
        let most = now.saturating_add(rate.depth_ns().saturating_mul(2));
        let mut tat = self.tat.load(Relaxed);
        loop {
            let next = tat.max(now).saturating_add(cost).min(most.max(tat));
            match self.tat.compare_exchange_weak(tat, next, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(actual) => tat = actual,
            }
        }
    }

    /// Moves from `from` to `to` keeping the requests used: the backlog is
    /// re-expressed in the new interval (at most the new depth).
    pub fn rerate(&self, from: &Rate, to: &Rate, now: u64) {
        if from.interval_ns == to.interval_ns && from.burst == to.burst {
            return;
        }
        let mut tat = self.tat.load(Relaxed);
        // Nothing used (TAT in the past): nothing to carry.
        while tat > now {
            let scaled = u128::from(tat - now) * u128::from(to.interval_ns) / u128::from(from.interval_ns);
            let next = now.saturating_add(u64::try_from(scaled).unwrap_or(u64::MAX).min(to.depth_ns()));
            match self.tat.compare_exchange_weak(tat, next, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(actual) => tat = actual,
            }
        }
    }
}

/// A key's rate limit (`rpm` or `tpm`) as one Runtime sees it: its rate and the shared limiter.
#[derive(Debug, Clone)]
pub struct KeyLimit {
    pub rate: Rate,
    pub limiter: Arc<Limiter>,
}

impl KeyLimit {
    /// The limit for `rate`, keeping `previous`'s limiter (re-rated) when there is one.
    /// Requests still on the previous Runtime until the swap use its rate on the
    /// re-rated TAT: off by at most those few requests, never by a reset.
    pub fn carry(rate: Rate, previous: Option<&KeyLimit>, clock: &Clock) -> Self {
        let limiter = match previous {
            Some(old) => {
                old.limiter.rerate(&old.rate, &rate, clock.now());
                old.limiter.clone()
            }
            None => Arc::default(),
        };
        Self { rate, limiter }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    fn admit_all(limiter: &Limiter, rate: &Rate, now: u64) -> u64 {
        let mut n = 0;
        while limiter.admit(rate, now).is_ok() {
            n += 1;
            assert!(n <= rate.burst, "admitted past the burst");
        }
        n
    }

    #[test]
    fn shares_and_intervals() {
        let r = Rate::per_minute(600, 1);
        assert_eq!((r.burst, r.interval_ns), (600, 100_000_000));
        let r = Rate::per_minute(6, 3);
        assert_eq!((r.burst, r.interval_ns), (2, 30 * SECOND_NS));
        // A share below 1/min still admits one a minute.
        let r = Rate::per_minute(2, 3);
        assert_eq!((r.burst, r.interval_ns), (1, MINUTE_NS));
        // Nodes from a bad overlay, and huge values, neither divide by zero nor overflow.
        assert_eq!(Rate::per_minute(5, 0), Rate::per_minute(5, 1));
        let r = Rate::per_minute(u64::MAX, 1);
        assert!(r.interval_ns >= 1 && r.depth_ns() <= MINUTE_NS);
        assert_eq!(Rate::per_minute(1, u32::MAX).interval_ns, MINUTE_NS);
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_one_per_interval() {
        let clock = Clock::start();
        let rate = Rate::per_minute(600, 1);
        let limiter = Limiter::default();
        assert_eq!(limiter.admit(&rate, clock.now()), Ok(599));
        assert_eq!(admit_all(&limiter, &rate, clock.now()), 599);
        let refused = limiter.admit(&rate, clock.now()).unwrap_err();
        assert_eq!(refused, Refused { retry_after: Duration::from_millis(100), remaining: 0 });
        assert_eq!(refused.retry_after_secs(), 1);

        advance(Duration::from_millis(99)).await;
        assert!(limiter.admit(&rate, clock.now()).is_err(), "not yet");
        advance(Duration::from_millis(1)).await;
        assert_eq!(limiter.admit(&rate, clock.now()), Ok(0), "exactly one more after 60 s / share");
        assert!(limiter.admit(&rate, clock.now()).is_err());

        // Ten seconds refill 100, never more than the burst.
        advance(Duration::from_secs(10)).await;
        assert_eq!(limiter.remaining(&rate, clock.now()), 100);
        assert_eq!(admit_all(&limiter, &rate, clock.now()), 100);
        advance(Duration::from_secs(3600)).await;
        assert_eq!(limiter.remaining(&rate, clock.now()), 600);
        assert_eq!(admit_all(&limiter, &rate, clock.now()), 600);
    }

    #[tokio::test(start_paused = true)]
    async fn small_shares() {
        let clock = Clock::start();
        // rpm 6 over 3 nodes: 2 at once, then one every 30 s.
        let rate = Rate::per_minute(6, 3);
        let limiter = Limiter::default();
        assert_eq!(admit_all(&limiter, &rate, clock.now()), 2);
        let refused = limiter.admit(&rate, clock.now()).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 30);
        advance(Duration::from_secs(30)).await;
        assert_eq!(admit_all(&limiter, &rate, clock.now()), 1);

        // rpm 2 over 3 nodes: one a minute.
        let rate = Rate::per_minute(2, 3);
        let limiter = Limiter::default();
        assert_eq!(admit_all(&limiter, &rate, clock.now()), 1);
        advance(Duration::from_millis(59_500)).await;
        let refused = limiter.admit(&rate, clock.now()).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1, "rounded up, at least 1");
        advance(Duration::from_millis(500)).await;
        assert_eq!(admit_all(&limiter, &rate, clock.now()), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn rerating_keeps_the_use() {
        let clock = Clock::start();
        let (three, six) = (Rate::per_minute(3, 1), Rate::per_minute(6, 1));
        let limit = KeyLimit::carry(three, None, &clock);
        assert_eq!(admit_all(&limit.limiter, &three, clock.now()), 3);

        // Unchanged: the same limiter, still used up.
        let same = KeyLimit::carry(three, Some(&limit), &clock);
        assert!(Arc::ptr_eq(&same.limiter, &limit.limiter));
        assert!(same.limiter.admit(&three, clock.now()).is_err());

        // Raised to 6: 3 used, 3 left, and the new interval (10 s) applies.
        let raised = KeyLimit::carry(six, Some(&same), &clock);
        assert_eq!(raised.limiter.remaining(&six, clock.now()), 3);
        assert_eq!(admit_all(&raised.limiter, &six, clock.now()), 3);
        advance(Duration::from_secs(10)).await;
        assert_eq!(admit_all(&raised.limiter, &six, clock.now()), 1);

        // Lowered to 3 with everything used: used up, for one new interval.
        let lowered = KeyLimit::carry(three, Some(&raised), &clock);
        let refused = lowered.limiter.admit(&three, clock.now()).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 20);

        // Split over 3 nodes after a quiet minute: the full new share.
        advance(Duration::from_secs(60)).await;
        let split = KeyLimit::carry(Rate::per_minute(6, 3), Some(&lowered), &clock);
        assert_eq!(admit_all(&split.limiter, &split.rate, clock.now()), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn partial_use_scales() {
        let clock = Clock::start();
        let (ten, twenty) = (Rate::per_minute(10, 1), Rate::per_minute(20, 1));
        let limit = KeyLimit::carry(ten, None, &clock);
        for _ in 0..4 {
            limit.limiter.admit(&ten, clock.now()).unwrap();
        }
        let raised = KeyLimit::carry(twenty, Some(&limit), &clock);
        assert_eq!(raised.limiter.remaining(&twenty, clock.now()), 16);
        let lowered = KeyLimit::carry(Rate::per_minute(2, 1), Some(&raised), &clock);
        assert_eq!(lowered.limiter.remaining(&lowered.rate, clock.now()), 0, "4 used of 2");
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_checked_before_and_charged_after() {
        let clock = Clock::start();
        // tpm 1000 on one node: 60 ms a token, a minute's share at once.
        let rate = Rate::per_minute(1000, 1);
        let limiter = Limiter::default();
        assert_eq!(limiter.check(&rate, clock.now()), Ok(1000));
        assert_eq!(limiter.check(&rate, clock.now()), Ok(1000), "checking takes nothing");
        limiter.charge(&rate, clock.now(), 999);
        assert_eq!(limiter.check(&rate, clock.now()), Ok(1), "one token left still admits");
        // A request that spent more than was left: into debt.
        limiter.charge(&rate, clock.now(), 501);
        let refused = limiter.check(&rate, clock.now()).unwrap_err();
        // 1500 used of 1000: 500 over, plus one to have one left: 501 tokens at 60 ms.
        assert_eq!(refused, Refused { retry_after: Duration::from_millis(501 * 60), remaining: 0 });
        assert_eq!(refused.retry_after_secs(), 31);
        advance(Duration::from_millis(501 * 60 - 1)).await;
        assert!(limiter.check(&rate, clock.now()).is_err());
        advance(Duration::from_millis(1)).await;
        assert_eq!(limiter.check(&rate, clock.now()), Ok(1));

        // However much one request spent, the debt is at most one more minute's share.
        limiter.charge(&rate, clock.now(), 1_000_000);
        let refused = limiter.check(&rate, clock.now()).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(60_000 + 60));
        limiter.charge(&rate, clock.now(), 0);
        assert_eq!(limiter.check(&rate, clock.now()).unwrap_err().retry_after, refused.retry_after);
        advance(Duration::from_secs(120)).await;
        assert_eq!(limiter.check(&rate, clock.now()), Ok(1000), "a quiet two minutes refill it all");
    }

    #[test]
    fn charges_race_without_losing_any() {
        let rate = Rate::per_minute(1_000_000, 1);
        let limiter = Limiter::default();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        limiter.charge(&rate, 0, 10);
                    }
                });
            }
        });
        assert_eq!(limiter.remaining(&rate, 0), 1_000_000 - 80_000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_admission_admits_exactly_the_burst() {
        let rate = Rate::per_minute(100, 1);
        let limiter = Arc::new(Limiter::default());
        // One instant for all: the race is on the CAS, not the clock.
        let now = Clock::start().now();
        let barrier = Arc::new(tokio::sync::Barrier::new(1000));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (limiter, barrier) = (limiter.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    limiter.admit(&rate, now).is_ok()
                })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            admitted += u32::from(task.await.unwrap());
        }
        assert_eq!(admitted, 100);
    }

    #[test]
    fn threads_race_on_the_cas() {
        let rate = Rate::per_minute(100, 1);
        let limiter = Limiter::default();
        let admitted = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..125 {
                        if limiter.admit(&rate, 5 * SECOND_NS).is_ok() {
                            admitted.fetch_add(1, Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.load(Relaxed), 100);
    }
}
