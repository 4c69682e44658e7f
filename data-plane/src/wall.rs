//! Wall-clock (Unix) time, for what leaves the process: record and event
//! timestamps, key expiry, answers' `created`. Durations and deadlines use
//! tokio's clock instead, so paused-time tests drive them.

/// Unix milliseconds now.
pub fn unix_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Unix seconds now.
pub fn unix_secs() -> u64 {
    u64::try_from(unix_ms() / 1000).unwrap_or(0)
}
