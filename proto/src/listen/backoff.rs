//! Accept errors (out of file descriptors and the like): a bounded
//! exponential pause before the next accept, reset by the next success, and
//! a warning at most every [`LOG_EVERY`] that says how many it stands for.

use std::io;
use std::time::Duration;
use tokio::time::Instant;

const FIRST: Duration = Duration::from_millis(10);
const CAP: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    logged_at: Option<Instant>,
    /// Errors since the last warning, not logged.
    unlogged: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST, logged_at: None, unlogged: 0 }
    }
}

/// Errors that belong to one connection that went away before it was
/// accepted: the listener itself is fine, the next accept goes at once.
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted)
}

impl Backoff {
    /// How long to pause after this error; logs it unless one was logged in the last [`LOG_EVERY`].
    pub(crate) fn failed(&mut self, listener: &str, e: &io::Error) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(CAP);
        let now = Instant::now();
        if self.logged_at.is_none_or(|at| now.duration_since(at) >= LOG_EVERY) {
            tracing::warn!(
                listener,
                error = %e,
                retry_in_ms = pause.as_millis() as u64,
                not_logged = self.unlogged,
                "accept failed; pausing the listener"
            );
            self.logged_at = Some(now);
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
        pause
    }

    pub(crate) fn succeeded(&mut self) {
        self.next = FIRST;
    }

    #[cfg(test)]
    fn unlogged(&self) -> u64 {
        self.unlogged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::other("Too many open files (os error 24)")
    }

    #[tokio::test(start_paused = true)]
    async fn pauses_double_up_to_the_cap_and_reset_on_success() {
        let mut b = Backoff::default();
        let pauses: Vec<_> = (0..9).map(|_| b.failed("api", &emfile()).as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed("api", &emfile()), FIRST);
    }

    #[tokio::test(start_paused = true)]
    async fn logs_once_per_interval_and_counts_the_rest() {
        let mut b = Backoff::default();
        b.failed("api", &emfile());
        for _ in 0..5 {
            b.failed("api", &emfile());
        }
        assert_eq!(b.unlogged(), 5);
        tokio::time::advance(LOG_EVERY).await;
        b.failed("api", &emfile());
        assert_eq!(b.unlogged(), 0, "logged again after the interval");
    }

    #[test]
    fn a_vanished_client_is_transient_and_out_of_files_is_not() {
        assert!(is_transient(&io::Error::from(io::ErrorKind::ConnectionAborted)));
        assert!(!is_transient(&emfile()));
    }
}
