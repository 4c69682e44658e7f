//! Picks one endpoint of a priority tier: the balancing mechanism.
//!
//! Each endpoint carries a [`Load`] (requests in flight plus a peak-EWMA of its
//! time to first byte, see [`ewma`]) and each route a [`RouteCursor`]; both are
//! shared through `Arc`s so they survive config reloads. [`pick`] applies the
//! route's [`Strategy`] to whichever candidates the caller deems eligible (for
//! example, breakers not open) and returns `None` when there are none, so the
//! caller can fail fast to the next tier.
//!
//! - **P2C** (power of two choices, after linkerd's `pool/p2c`): draw two
//!   distinct endpoints by weight, keep the one with the lower
//!   [`cost`](Load::cost), where weight scales how many requests in flight an
//!   endpoint takes in its stride: `(inflight / weight + 1) * latency`. Ties go
//!   to the first draw, so an idle tier is shared exactly by weight, and a busy
//!   one settles with requests in flight in proportion to weight (with only two
//!   or three in flight across the tier, shares lean toward the light ones).
//! - **Round robin**: a weighted cycle of `sum(weights)` picks, computed from one
//!   shared counter, each endpoint spread evenly across the cycle.
//! - **Weighted random**: probability proportional to weight.
//!
//! Eligibility and weights are read once per pick into a fixed array (no
//! allocation up to [`INLINE`] eligible candidates).

mod ewma;
#[cfg(test)]
mod tests;

pub use ewma::TAU;

use ewma::PeakEwma;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use switchyard_proto::model::Strategy;
use tokio::time::Instant;

/// Latency assumed for an endpoint with no samples yet, and the value a stale
/// estimate drifts back to.
///
/// Zero would make a new endpoint look free: P2C would send it every request
/// it is drawn for until the first response came back, and for an LLM that
/// takes seconds, so a freshly added (or cold, or misconfigured) account would
/// take a burst of traffic it has not shown it can serve. A middling time to
/// first token instead puts a new endpoint behind known-fast ones and ahead of
/// known-slow ones, which is what it deserves while unmeasured (linkerd floors
/// its default RTT, `MIN_DEFAULT_RTT`, for the same reason).
pub const DEFAULT_LATENCY: Duration = Duration::from_secs(1);

/// Lowest latency [`Load::cost`] uses, so that cost never reaches zero and
/// requests in flight always count, even for an endpoint that answers instantly.
pub const FLOOR: Duration = Duration::from_millis(1);

/// Eligible candidates a pick handles without allocating.
pub const INLINE: usize = 16;

// === Load ===

/// Load of one endpoint: requests in flight and a peak-EWMA of its latency.
/// Lives across config reloads (`Arc`).
#[derive(Debug)]
pub struct Load {
    inflight: AtomicU64,
    ewma: PeakEwma,
}

impl Default for Load {
    fn default() -> Self {
        Self::new()
    }
}

impl Load {
    pub fn new() -> Load {
        Load { inflight: AtomicU64::new(0), ewma: PeakEwma::new(Instant::now()) }
    }

    /// Counts a request in flight until the guard drops.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.inflight.fetch_add(1, Relaxed);
        InFlight { load: Arc::clone(self) }
    }

    /// Feeds one latency sample (time to first byte/first token).
    pub fn observe(&self, latency: Duration) {
        self.ewma.observe(latency, Instant::now());
    }

    pub fn inflight(&self) -> u64 {
        self.inflight.load(Relaxed)
    }

    /// Current peak-EWMA estimate; `None` until the first sample. An estimate
    /// not refreshed for a while reads as drifting toward [`DEFAULT_LATENCY`]
    /// (time constant [`TAU`]).
    pub fn latency(&self) -> Option<Duration> {
        self.latency_at(Instant::now())
    }

    /// `(inflight + 1) * max(latency, FLOOR)` in seconds, with
    /// [`DEFAULT_LATENCY`] standing in before the first sample. Lower is better.
    pub fn cost(&self) -> f64 {
        self.cost_at(Instant::now())
    }

    fn latency_at(&self, now: Instant) -> Option<Duration> {
        self.ewma.estimate(now, DEFAULT_LATENCY)
    }

    fn cost_at(&self, now: Instant) -> f64 {
        self.weighted_cost(now, 1)
    }

    /// `(inflight / weight + 1) * max(latency, FLOOR)`: [`Load::cost`] for an
    /// endpoint `weight` times as large.
    fn weighted_cost(&self, now: Instant, weight: u64) -> f64 {
        let latency = self.latency_at(now).unwrap_or(DEFAULT_LATENCY).max(FLOOR);
        (self.inflight() as f64 / weight as f64 + 1.0) * latency.as_secs_f64()
    }
}

/// A request in flight on an endpoint; dropping it ends the count.
#[must_use = "the request counts as in flight only while the guard lives"]
#[derive(Debug)]
pub struct InFlight {
    load: Arc<Load>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.load.inflight.fetch_sub(1, Relaxed);
    }
}

// === RouteCursor ===

/// Per-route balancer state that also lives across reloads (round-robin position).
#[derive(Debug, Default)]
pub struct RouteCursor {
    next: AtomicU64,
}

impl RouteCursor {
    fn ticket(&self) -> u64 {
        self.next.fetch_add(1, Relaxed)
    }
}

// === pick ===

/// An endpoint as the balancer sees it.
pub trait Candidate {
    /// Share within the tier, `>= 1` (0 is treated as 1).
    fn weight(&self) -> u32;
    fn load(&self) -> &Load;
}

/// Picks one of `candidates` for which `eligible` is true, honouring weights,
/// and returns its index; `None` when none is eligible. `eligible` is called
/// once per candidate.
pub fn pick<C: Candidate>(
    strategy: Strategy,
    candidates: &[C],
    cursor: &RouteCursor,
    eligible: impl Fn(&C) -> bool,
) -> Option<usize> {
    let slots = Slots::collect(candidates, eligible);
    let slots = slots.as_slice();
    let total: u64 = slots.iter().map(|slot| slot.weight).sum();
    let chosen = match slots {
        [] => return None,
        [only] => only,
        _ => match strategy {
            Strategy::P2c => p2c(candidates, slots, total)?,
            Strategy::RoundRobin => round_robin(slots, total, cursor.ticket())?,
            Strategy::WeightedRandom => by_weight(slots, fastrand::u64(..total), None)?.1,
        },
    };
    Some(chosen.index)
}

/// An eligible candidate: its index and weight.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    index: usize,
    weight: u64,
}

/// The eligible candidates, inline up to [`INLINE`], spilled to a `Vec` past it.
struct Slots {
    inline: [Slot; INLINE],
    len: usize,
    spilled: Vec<Slot>,
}

impl Slots {
    fn collect<C: Candidate>(candidates: &[C], eligible: impl Fn(&C) -> bool) -> Self {
        let mut slots = Slots { inline: [Slot::default(); INLINE], len: 0, spilled: Vec::new() };
        for (index, candidate) in candidates.iter().enumerate() {
            if !eligible(candidate) {
                continue;
            }
            let slot = Slot { index, weight: u64::from(candidate.weight().max(1)) };
            match slots.inline.get_mut(slots.len) {
                Some(free) if slots.spilled.is_empty() => {
                    *free = slot;
                    slots.len += 1;
                }
                _ => {
                    if slots.spilled.is_empty() {
                        slots.spilled.extend_from_slice(&slots.inline);
                    }
                    slots.spilled.push(slot);
                }
            }
        }
        slots
    }

    fn as_slice(&self) -> &[Slot] {
        if self.spilled.is_empty() { self.inline.get(..self.len).unwrap_or_default() } else { &self.spilled }
    }
}

/// The slot covering `ticket` (in `0..total`, where `total` excludes `skip`)
/// when slots are laid end to end by weight, with its position.
fn by_weight(slots: &[Slot], mut ticket: u64, skip: Option<usize>) -> Option<(usize, &Slot)> {
    for (position, slot) in slots.iter().enumerate() {
        if Some(position) == skip {
            continue;
        }
        if ticket < slot.weight {
            return Some((position, slot));
        }
        ticket -= slot.weight;
    }
    None
}

/// Two distinct draws by weight; the lower weighted cost wins, the first on a tie.
///
/// Not `cost / weight`: that would make the heavier endpoint win every idle
/// comparison, and as the draws already favour it, an idle tier with weights
/// `[1, 2, 3]` would send the first endpoint nothing.
fn p2c<'s, C: Candidate>(candidates: &[C], slots: &'s [Slot], total: u64) -> Option<&'s Slot> {
    let (first_at, first) = by_weight(slots, fastrand::u64(..total), None)?;
    let (_, second) = by_weight(slots, fastrand::u64(..total - first.weight), Some(first_at))?;
    let now = Instant::now();
    let cost =
        |slot: &Slot| candidates.get(slot.index).map_or(f64::INFINITY, |c| c.load().weighted_cost(now, slot.weight));
    Some(if cost(second) < cost(first) { second } else { first })
}

/// Weighted round robin over a cycle of `total` picks.
///
/// The cycle has `max(weight)` steps. At each step a slot of weight `w` is
/// present when `floor((k + phase) * w / max)` ticks up, which happens exactly
/// `w` times per cycle and evenly spaced (Bresenham), and the slots present at a
/// step are served in order. Phases spread the slots' light steps apart, so
/// `[1, 1, 100]` does not serve both light ones back to back. A ticket's place
/// in the cycle is found by binary search over steps: O(n log max), no state
/// beyond the shared counter, and every cycle is exact even under concurrency.
fn round_robin(slots: &[Slot], total: u64, ticket: u64) -> Option<&Slot> {
    let max = u128::from(slots.iter().map(|slot| slot.weight).max()?);
    let count = slots.len() as u128;
    let ticks = |position: usize, slot: &Slot, step: u128| {
        let phase = position as u128 * max / count;
        (step + phase) * u128::from(slot.weight) / max
    };
    // Presences in steps `0..step`.
    let served_before = |step: u128| -> u128 {
        slots.iter().enumerate().map(|(position, slot)| ticks(position, slot, step) - ticks(position, slot, 0)).sum()
    };
    let place = u128::from(ticket % total);
    // Invariant: served_before(low) <= place < served_before(high) (= total at `max`).
    let (mut low, mut high) = (0, max);
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if served_before(middle) <= place {
            low = middle;
        } else {
            high = middle;
        }
    }
    let rank = place - served_before(low);
    slots
        .iter()
        .enumerate()
        .filter(|&(position, slot)| ticks(position, slot, low + 1) > ticks(position, slot, low))
        .nth(usize::try_from(rank).ok()?)
        .map(|(_, slot)| slot)
}
