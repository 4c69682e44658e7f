//! The alert engine's clock: wall-clock Unix milliseconds, read once, then
//! advanced by tokio's monotonic clock, so paused-time tests drive quiet
//! periods and leases, and a wall-clock step never makes a condition look
//! older or younger than it is.

use crate::store::now_ms;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall_ms: i64,
    at: Instant,
}

impl Clock {
    pub fn new() -> Self {
        Self { wall_ms: now_ms(), at: Instant::now() }
    }

    /// Unix milliseconds now.
    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.at.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.wall_ms.saturating_add(elapsed)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn it_moves_with_tokio_time() {
        let clock = Clock::new();
        let start = clock.now_ms();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(clock.now_ms() - start, 3_600_000);
    }
}
