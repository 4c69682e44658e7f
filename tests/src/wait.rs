//! Waiting for something to have happened: the test kit's one polling helper.
//!
//! Tests never sleep and then assert; they poll the condition they mean with
//! [`eventually`] (or [`eventually_some`], [`eventually_value`]), which checks at
//! once, then every [`INTERVAL`], and panics naming what it waited for (and the
//! last value it saw) once the deadline passes. The deadline is a safety bound
//! against a hang, never an assertion about speed: [`TIMEOUT`] by default,
//! another with [`within`].
//!
//! Deadline and interval are tokio time, so under paused time (`start_paused`)
//! a condition that never holds fails as soon as the runtime idles past the
//! deadline instead of after it in real time. A check that itself hangs (a
//! request that never answers) is cut off at the deadline too.

use std::fmt::Debug;
use std::time::Duration;
use tokio::time::Instant;

/// The default bound on a wait: generous, so a loaded machine does not fail a test.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a wait pauses between two checks.
pub const INTERVAL: Duration = Duration::from_millis(10);

/// A wait with its own bound: `within(Duration::from_secs(60)).eventually(..)`.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    timeout: Duration,
}

/// A wait bounded by `timeout` instead of [`TIMEOUT`].
pub fn within(timeout: Duration) -> Wait {
    Wait { timeout }
}

/// Polls `check` until it holds (for up to [`TIMEOUT`]).
pub async fn eventually(what: &str, check: impl AsyncFnMut() -> bool) {
    within(TIMEOUT).eventually(what, check).await
}

/// Polls `check` until it gives a value, and returns it (for up to [`TIMEOUT`]).
pub async fn eventually_some<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    within(TIMEOUT).eventually_some(what, check).await
}

/// Polls `observe` until `done` holds for what it saw, and returns that (for up
/// to [`TIMEOUT`]); the panic shows the last value seen.
pub async fn eventually_value<T: Debug>(
    what: &str,
    observe: impl AsyncFnMut() -> T,
    done: impl FnMut(&T) -> bool,
) -> T {
    within(TIMEOUT).eventually_value(what, observe, done).await
}

impl Wait {
    /// Polls `check` until it holds.
    pub async fn eventually(self, what: &str, mut check: impl AsyncFnMut() -> bool) {
        self.poll(what, async || if check().await { Ok(()) } else { Err(None) }).await
    }

    /// Polls `check` until it gives a value, and returns it.
    pub async fn eventually_some<T>(self, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
        self.poll(what, async || check().await.ok_or(None)).await
    }

    /// Polls `observe` until `done` holds for what it saw, and returns that.
    pub async fn eventually_value<T: Debug>(
        self,
        what: &str,
        mut observe: impl AsyncFnMut() -> T,
        mut done: impl FnMut(&T) -> bool,
    ) -> T {
        self.poll(what, async || {
            let seen = observe().await;
            if done(&seen) { Ok(seen) } else { Err(Some(format!("{seen:#?}"))) }
        })
        .await
    }

    /// Runs `attempt` until it succeeds; each failure may say what it saw.
    async fn poll<T>(self, what: &str, mut attempt: impl AsyncFnMut() -> Result<T, Option<String>>) -> T {
        let deadline = Instant::now() + self.timeout;
        let mut last = None;
        loop {
            match tokio::time::timeout_at(deadline, attempt()).await {
                Ok(Ok(value)) => return value,
                Ok(Err(seen)) => last = seen.or(last),
                Err(_) => self.expired(what, last.as_deref(), " (the last check was still running)"),
            }
            // No check is started that would have no time left to answer.
            if Instant::now() + INTERVAL >= deadline {
                self.expired(what, last.as_deref(), "");
            }
            tokio::time::sleep(INTERVAL).await;
        }
    }

    fn expired(self, what: &str, last: Option<&str>, note: &str) -> ! {
        match last {
            Some(seen) => panic!("never within {:?}: {what}{note}; last seen: {seen}", self.timeout),
            None => panic!("never within {:?}: {what}{note}", self.timeout),
        }
    }
}

/// Checks `check` throughout `window` and panics the first time it fails: for
/// "this does not happen", once the test has made sure it would have by now.
/// The window is the one place a test waits a set time; keep it short.
pub async fn stays(what: &str, window: Duration, mut check: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + window;
    loop {
        let held = match tokio::time::timeout_at(end + TIMEOUT, check()).await {
            Ok(held) => held,
            Err(_) => panic!("the check did not answer: {what}"),
        };
        assert!(held, "no longer so: {what}");
        if Instant::now() >= end {
            return;
        }
        tokio::time::sleep(INTERVAL.min(end - Instant::now())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::panic::AssertUnwindSafe;
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

    #[tokio::test(start_paused = true)]
    async fn returns_once_the_condition_holds() {
        let calls = AtomicU32::new(0);
        eventually("the third call", async || calls.fetch_add(1, Relaxed) == 2).await;
        assert_eq!(calls.load(Relaxed), 3);
        let n = eventually_some("a value", async || (calls.fetch_add(1, Relaxed) >= 5).then_some(7)).await;
        assert_eq!(n, 7);
        let seen = eventually_value("ten", async || calls.fetch_add(1, Relaxed), |n| *n >= 10).await;
        assert_eq!(seen, 10);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "never within 10s: the sky falls; last seen: 41")]
    async fn times_out_with_what_and_the_last_value_seen() {
        let calls = AtomicU32::new(0);
        // Paused time: the 10 s pass at once, each check 10 ms apart.
        eventually_value("the sky falls", async || calls.fetch_add(1, Relaxed).min(41), |_| false).await;
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "never within 2s: an answer (the last check was still running)")]
    async fn a_check_that_hangs_ends_at_the_deadline() {
        within(Duration::from_secs(2)).eventually("an answer", async || std::future::pending().await).await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_bound_is_the_one_given() {
        let start = Instant::now();
        let waited = within(Duration::from_secs(60)).eventually("never", async || false);
        assert!(AssertUnwindSafe(waited).catch_unwind().await.is_err(), "it gave up");
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_secs(59) && elapsed <= Duration::from_secs(60), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn stays_checks_throughout_the_window() {
        let calls = AtomicU32::new(0);
        stays("still quiet", Duration::from_millis(100), async || {
            calls.fetch_add(1, Relaxed);
            true
        })
        .await;
        assert!(calls.load(Relaxed) >= 10, "checked every 10 ms: {calls:?}");
        let calls = AtomicU32::new(0);
        let broke = stays("quiet", Duration::from_secs(1), async || calls.fetch_add(1, Relaxed) < 3);
        assert!(AssertUnwindSafe(broke).catch_unwind().await.is_err());
        assert_eq!(calls.load(Relaxed), 4, "it stopped at the first failed check");
    }
}
