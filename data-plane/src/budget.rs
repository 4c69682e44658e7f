//! The global memory budget for buffered bodies (`limits.max_buffered_bodies`),
//! counted in KiB: request bodies read for routing and resending, upstream
//! answers read whole, an upstream SSE event while it is larger than
//! [`FREE_BYTES`], and the bytes a usage record keeps for its estimate until
//! the sink task has read them. Every buffer the data plane fills from a
//! client or an upstream is either bounded by a small constant or reserved
//! here first; a reservation that does not fit fails at once (never waits).

use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A buffer up to this size needs no reservation (a typical SSE event, an
/// error body): the few that exist per request are bounded by it.
pub const FREE_BYTES: usize = 64 * 1024;

/// The budget; clones share it.
#[derive(Clone)]
pub struct BodyBudget(Arc<Inner>);

struct Inner {
    semaphore: Arc<Semaphore>,
    total_kib: AtomicU64,
    /// Permits a shrink could not forget because they were in use: forgotten
    /// as they come back, at the next reservation.
    owed_kib: AtomicU64,
}

/// A reservation (`None`: nothing reserved), released when dropped.
pub type Reserved = Option<OwnedSemaphorePermit>;

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new()
    }
}

impl BodyBudget {
    /// An empty budget, until [`BodyBudget::resize`]d.
    pub fn new() -> Self {
        let inner =
            Inner { semaphore: Arc::new(Semaphore::new(0)), total_kib: AtomicU64::new(0), owed_kib: AtomicU64::new(0) };
        Self(Arc::new(inner))
    }

    /// Follows a config change of the budget.
    pub fn resize(&self, bytes: u64) {
        let new = bytes.div_ceil(1024).min(Semaphore::MAX_PERMITS as u64);
        let old = self.0.total_kib.swap(new, Relaxed);
        if new > old {
            // What an earlier shrink still owes cancels out first.
            let owed = self.0.owed_kib.load(Relaxed);
            let paid = owed.min(new - old);
            self.0.owed_kib.fetch_sub(paid, Relaxed);
            self.0.semaphore.add_permits(usize::try_from(new - old - paid).unwrap_or(usize::MAX));
        } else if old > new {
            self.0.owed_kib.fetch_add(old - new, Relaxed);
            self.settle();
        }
    }

    /// Forgets what a shrink still owes, as far as permits are free now.
    fn settle(&self) {
        let owed = self.0.owed_kib.load(Relaxed);
        if owed > 0 {
            let forgotten = self.0.semaphore.forget_permits(usize::try_from(owed).unwrap_or(usize::MAX));
            self.0.owed_kib.fetch_sub(forgotten as u64, Relaxed);
        }
    }

    /// Grows `held` to cover `bytes` in all, without waiting; `Err` when the
    /// budget cannot cover them now (`held` is left as it was).
    pub fn reserve(&self, held: &mut Reserved, bytes: usize) -> Result<(), Exhausted> {
        let want = u32::try_from(bytes.div_ceil(1024)).map_err(|_| Exhausted)?;
        let have = held.as_ref().map_or(0, |p| u32::try_from(p.num_permits()).unwrap_or(u32::MAX));
        if want <= have {
            return Ok(());
        }
        self.settle();
        let more = self.0.semaphore.clone().try_acquire_many_owned(want - have).map_err(|_| Exhausted)?;
        match held {
            Some(permit) => permit.merge(more),
            None => *held = Some(more),
        }
        Ok(())
    }

    /// Bytes reserved now, and the budget's size.
    pub fn usage(&self) -> (u64, u64) {
        let total = self.0.total_kib.load(Relaxed);
        let owed = self.0.owed_kib.load(Relaxed);
        let free = self.0.semaphore.available_permits() as u64;
        ((total + owed).saturating_sub(free) * 1024, total * 1024)
    }
}

/// The budget cannot cover a reservation now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

/// Bytes and their share of the budget, shared by their clones (a request
/// body kept for resending and for the usage record's prompt estimate): the
/// reservation ends when the last clone is dropped.
#[derive(Clone)]
pub struct Held {
    pub bytes: Bytes,
    _reserved: Option<Arc<OwnedSemaphorePermit>>,
}

impl Held {
    pub fn new(bytes: Bytes, reserved: Reserved) -> Self {
        Self { bytes, _reserved: reserved.map(Arc::new) }
    }

    /// Other bytes in place of these (a translation of them, about as large),
    /// under the same reservation.
    pub fn replace(self, bytes: Bytes) -> Self {
        Self { bytes, _reserved: self._reserved }
    }

    /// Bytes that need no reservation (small, or bounded by their own cap).
    pub fn unreserved(bytes: Bytes) -> Self {
        Self { bytes, _reserved: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_grow_fail_without_waiting_and_end_with_their_last_holder() {
        let budget = BodyBudget::new();
        budget.resize(10 * 1024);
        let mut a = None;
        budget.reserve(&mut a, 4 * 1024).unwrap();
        budget.reserve(&mut a, 6 * 1024 + 1).unwrap();
        assert_eq!(budget.usage(), (7 * 1024, 10 * 1024));
        let mut b = None;
        assert_eq!(budget.reserve(&mut b, 4 * 1024), Err(Exhausted));
        assert!(b.is_none());
        let held = Held::new(Bytes::from_static(b"x"), a.take());
        let copy = held.clone();
        drop(held);
        assert_eq!(budget.usage().0, 7 * 1024, "a clone still holds it");
        drop(copy);
        assert_eq!(budget.usage().0, 0);
    }

    #[test]
    fn a_shrink_below_what_is_in_use_is_settled_as_permits_come_back() {
        let budget = BodyBudget::new();
        budget.resize(8 * 1024);
        let mut a = None;
        budget.reserve(&mut a, 6 * 1024).unwrap();
        budget.resize(4 * 1024);
        assert_eq!(budget.usage(), (6 * 1024, 4 * 1024));
        drop(a);
        let mut b = None;
        assert_eq!(budget.reserve(&mut b, 5 * 1024), Err(Exhausted), "the budget is 4 KiB now");
        budget.reserve(&mut b, 4 * 1024).unwrap();
        assert_eq!(budget.usage(), (4 * 1024, 4 * 1024));
        drop(b);
        budget.resize(6 * 1024);
        let mut c = None;
        budget.reserve(&mut c, 6 * 1024).unwrap();
        assert_eq!(budget.usage(), (6 * 1024, 6 * 1024));
    }
}
