//! `on_disconnect: drain`: a stream whose client left is read on, forwarding
//! nothing, so the usage the upstream reports at its end can be recorded
//! exactly; bounded in time and bytes, after which it is closed and its usage
//! estimated. Run by the stream's own task, whose in-flight counts last
//! until the drain ends.

use crate::sse::bounded::Events;
use crate::upstream::Upstream;
use crate::usage::tap::Tap;
use crate::usage::{Meter, Status};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::Instant;

/// `on_disconnect: drain` reads an abandoned stream for at most this long
/// (and never past the request's `timeout.total`)...
pub const DRAIN_TIME: Duration = Duration::from_secs(30);
/// ...and at most this many bytes, then closes it and estimates.
pub const DRAIN_BYTES: usize = 1 << 20;

/// A stream whose client left, read on (`on_disconnect: drain`) for its usage.
pub struct Drained {
    pub upstream: Upstream,
    pub events: Events,
    pub tap: Tap,
    pub meter: Meter,
    pub http_status: u16,
    pub idle: Duration,
    pub deadline: Instant,
}

impl Drained {
    /// Reads to the end (a second at most past `[DONE]`, so the connection
    /// can be reused), or until [`DRAIN_TIME`] (or `total`), an `idle` gap or
    /// [`DRAIN_BYTES`]; forwards nothing; records what the tap found (the
    /// reported usage, else an estimate that includes the drained text).
    pub async fn run(mut self) {
        let limit = (Instant::now() + DRAIN_TIME).min(self.deadline);
        let mut read = 0;
        while read < DRAIN_BYTES {
            let gap = if self.tap.done { Duration::from_secs(1) } else { self.idle };
            let wait = (Instant::now() + gap).min(limit);
            let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(wait, self.upstream.next()).await else { break };
            read += chunk.len();
            let Ok(events) = self.events.push(&chunk) else { break };
            for event in &events {
                self.tap.observe(event);
            }
        }
        tracing::debug!(read, reported = self.tap.usage.is_some(), "drained a stream the client left");
        self.meter.streamed(Status::ClientClosed, self.http_status, Some(&mut self.tap));
    }
}
