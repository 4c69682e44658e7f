//! Usage accounting: one [`UsageRecord`] per request an authenticated key
//! makes, whatever its ending, built without slowing the request.
//!
//! The request path carries a [`Meter`] from the moment the key is known. It
//! fills in what the request learns (route, endpoint, attempts, time to first
//! token) and is finished exactly once, by the code that ends the request, or
//! by its own drop when the client went away. Finishing hands a [`Draft`] (the
//! record, plus the raw bytes its tokens will be read from) to a bounded
//! channel with `try_send`: a full channel drops the record and counts it
//! (`switchyard_usage_dropped_total`), the request never waits. The sink task
//! ([`sink`]) turns drafts into records off the request path (parses the
//! reported usage, or runs the [`estimate`]or) and hands them to the sinks:
//! the local totals behind `switchyard_tokens_total` and `/status`, and any
//! extra [`UsageSink`] (tests; the control-plane reporter next).
//!
//! Which requests get a record, and how each ending is recorded:
//!
//! | ending | status | tokens |
//! |---|---|---|
//! | no key, or an unknown, expired or disabled key; `GET /v1/models`; `/healthz`, `/readyz`; refused before auth (`overloaded`, `not_ready`, `snapshot_stale`) | no record | |
//! | refused for the key: over budget, rate limited, bad JSON, unknown or forbidden model, body too large or too slow, method, every endpoint open | `rejected` | zero |
//! | an upstream error answer, every attempt failed | `upstream_error` (`timeout` when it timed out) | zero |
//! | a JSON answer | `ok` | its `usage`; estimated when it has none |
//! | a stream that ended | `ok` | the usage event; estimated without one |
//! | a stream that broke after its first event (also: closed before its end marker, an event that is not JSON; see [`tap::End`]) | `stream_error` (`timeout` for `idle`/`total`) | the usage event if it came, else estimated |
//! | the client left mid-stream (or accepted nothing for `limits.client_write_timeout`) | `client_closed` | `on_disconnect: close`: estimated from what was streamed plus the prompt; `drain`: the usage the upstream reports while drained, else estimated |
//! | the client left before the first token | `client_closed`, HTTP 499 | zero completion; the prompt estimated when a request was sent upstream |

pub mod estimate;
mod parse;
pub mod record;
mod scan;
pub mod sink;
pub mod tap;

pub use parse::MAX_TOKENS;
pub use record::{Source, Status, Tokens, UsageRecord};
pub use sink::{Totals, UsageSink};

use crate::budget::Held;
use crate::limit::{Clock, KeyLimit};
use crate::runtime::{Endpoint, RouteEntry};
use bytes::Bytes;
use estimate::Tally;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tap::Tap;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Drafts the channel holds before records are dropped.
pub const DEFAULT_CAPACITY: usize = 8192;

/// The largest `usage` object kept for a record (a real one is a few hundred
/// bytes); a larger one is ignored and the record estimated.
pub const MAX_USAGE_BYTES: usize = 4096;

/// Whether requests are accounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Records feed `switchyard_tokens_total`, `/status` and the extra sinks.
    #[default]
    On,
    /// No records, no `include_usage` injection, streams passed through
    /// untouched but for their integrity check (`--usage-sink none`: for
    /// measuring what accounting costs).
    Off,
}

/// The request path's end of the accounting: the channel and its counters.
pub struct Usage {
    tx: Option<mpsc::Sender<Draft>>,
    /// Wakes the sink task before its tick once a batch is waiting: while
    /// the channel has at most this many free slots.
    wake: tokio::sync::Notify,
    wake_below: usize,
    /// Records dropped because the channel was full (or closed at shutdown).
    pub dropped: AtomicU64,
    pub totals: Totals,
    /// Random per process start: the first half of every request id.
    boot: u32,
}

impl Usage {
    /// The accounting and, when on, the receiving end for the sink task.
    pub fn new(mode: Mode, capacity: usize) -> (Self, Option<mpsc::Receiver<Draft>>) {
        let (tx, rx) = match mode {
            Mode::On => {
                let (tx, rx) = mpsc::channel(capacity.max(1));
                (Some(tx), Some(rx))
            }
            Mode::Off => (None, None),
        };
        let usage = Self {
            tx,
            wake: tokio::sync::Notify::new(),
            wake_below: capacity.max(1) - sink::BATCH.min(capacity.max(1) / 2),
            dropped: AtomicU64::new(0),
            totals: Totals::default(),
            boot: fastrand::u32(..),
        };
        (usage, rx)
    }

    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// A meter for a request by the key named `key`, which arrived at `started`.
    pub fn meter(self: &Arc<Self>, key: &Arc<str>, config_version: u64, started: Instant, started_at_ms: i64) -> Meter {
        if self.tx.is_none() {
            return Meter { inner: None };
        }
        let record = UsageRecord {
            request_id: String::new(),
            started_at_ms,
            key: key.clone(),
            route: empty(),
            provider: empty(),
            account: empty(),
            upstream_model: empty(),
            status: Status::Ok,
            http_status: 200,
            attempts: 0,
            stream: false,
            tokens: Tokens::default(),
            source: Source::None,
            latency_us: 0,
            first_token_us: None,
            config_version,
        };
        Meter { inner: Some(Box::new(Inner { usage: self.clone(), record, started, request: None, charge: None })) }
    }

    /// Never waits, and does not wake the sink task (which looks every
    /// [`sink::TICK`]) until a batch of records is waiting: a wake-up of
    /// another thread per request would cost more than the record, and a
    /// batch bounds the records held in between.
    fn send(&self, draft: Draft) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(draft) {
            Ok(()) if tx.capacity() <= self.wake_below => self.wake.notify_one(),
            Ok(()) => {}
            Err(_) => {
                self.dropped.fetch_add(1, Relaxed);
            }
        }
    }

    /// `{boot}-{n}` for the `n`th record (numbered by the sink task).
    fn request_id(&self, n: u64) -> String {
        format!("{:08x}-{n:x}", self.boot)
    }
}

fn empty() -> Arc<str> {
    static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::from("")).clone()
}

/// A record on its way to the sink task, with the bytes its tokens come from.
pub struct Draft {
    pub record: UsageRecord,
    pub input: Input,
    /// The key's `tpm` limit, charged the record's tokens once they are known.
    pub charge: Option<(KeyLimit, Clock)>,
}

/// What the sink task reads the tokens from. The bodies kept for an
/// estimate keep their share of the body budget until the sink task has read
/// them: pending records cannot hold memory outside it.
#[derive(Default)]
pub struct Input {
    /// The upstream's `usage` object (a JSON answer's, or a stream's last),
    /// at most [`MAX_USAGE_BYTES`].
    pub usage: Option<Bytes>,
    /// Estimate when no usage is found (else the counts stay zero).
    pub estimate: bool,
    /// For the estimate: the request body (prompt), a JSON answer (completion),
    /// the streamed text (completion, reasoning).
    pub request: Option<Held>,
    pub response: Option<Held>,
    pub content: Tally,
    pub reasoning: Tally,
}

impl Input {
    /// Nothing to read: zero tokens.
    fn none() -> Self {
        Self::default()
    }
}

/// One request's record in the making. Every ending sends it exactly once:
/// one of the `finish` methods, or its drop, which means the client left
/// before the response started. A no-op when accounting is off.
pub struct Meter {
    inner: Option<Box<Inner>>,
}

struct Inner {
    usage: Arc<Usage>,
    record: UsageRecord,
    started: Instant,
    /// The request body, for a prompt estimate (with its budget share).
    request: Option<Held>,
    /// The key's `tpm` limit, to charge the tokens to.
    charge: Option<(KeyLimit, Clock)>,
}

impl Meter {
    /// A meter that records nothing.
    pub fn off() -> Self {
        Self { inner: None }
    }

    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// This request gets no record (served locally, like `GET /v1/models`).
    pub fn cancel(&mut self) {
        self.inner = None;
    }

    /// The request's tokens go against the key's `tpm` (`limit`) when its
    /// record is made: prompt plus completion, reported or estimated.
    pub fn charge_tokens(&mut self, limit: Option<&KeyLimit>, clock: Clock) {
        if let (Some(i), Some(limit)) = (&mut self.inner, limit) {
            i.charge = Some((limit.clone(), clock));
        }
    }

    pub fn stream(&mut self, stream: bool) {
        if let Some(i) = &mut self.inner {
            i.record.stream = stream;
        }
    }

    pub fn route(&mut self, route: &RouteEntry) {
        if let Some(i) = &mut self.inner {
            i.record.route = route.name.clone();
        }
    }

    /// The request body, kept (shared, not copied, still in the body budget) for a prompt estimate.
    pub fn request_body(&mut self, body: &Held) {
        if let Some(i) = &mut self.inner {
            i.request = Some(body.clone());
        }
    }

    /// An attempt goes to `endpoint`.
    pub fn attempt(&mut self, endpoint: &Endpoint) {
        if let Some(i) = &mut self.inner {
            i.record.attempts += 1;
            i.record.provider = endpoint.provider.name.clone();
            i.record.account = endpoint.account().name.clone();
            i.record.upstream_model = endpoint.upstream_model.clone();
        }
    }

    /// A stream's first event reached the proxy.
    pub fn first_token(&mut self) {
        if let Some(i) = &mut self.inner {
            i.record.first_token_us = Some(micros(i.started));
        }
    }

    /// Refused by the gateway: no upstream was asked (or all were open).
    pub fn reject(&mut self, http_status: u16) {
        self.finish(Status::Rejected, http_status, Input::none());
    }

    /// The attempts failed without an answer to pass on (`timeout`: they timed out).
    pub fn failed(&mut self, http_status: u16, timeout: bool) {
        self.finish(if timeout { Status::Timeout } else { Status::UpstreamError }, http_status, Input::none());
    }

    /// A whole answer: for a success, `usage` is its `usage` value (`None`:
    /// estimate from `body`); an error answer spent nothing.
    pub fn answered(&mut self, http_status: u16, usage: Option<Bytes>, body: &Held) {
        if !(200..300).contains(&http_status) {
            return self.finish(Status::UpstreamError, http_status, Input::none());
        }
        let input = match usage.filter(|u| u.len() <= MAX_USAGE_BYTES) {
            Some(value) => Input { usage: Some(value), ..Input::default() },
            None => {
                let request = self.inner.as_mut().and_then(|i| i.request.take());
                Input { estimate: true, request, response: Some(body.clone()), ..Input::default() }
            }
        };
        self.finish(Status::Ok, http_status, input);
    }

    /// A streamed answer (`tap`: what the stream told, `None` for a body that
    /// is not SSE) ended with `status`.
    pub fn streamed(&mut self, status: Status, http_status: u16, tap: Option<&mut Tap>) {
        let input = match tap {
            None => Input::none(),
            Some(tap) => Input {
                usage: tap.usage.take(),
                estimate: true,
                request: self.inner.as_mut().and_then(|i| i.request.take()),
                content: tap.content,
                reasoning: tap.reasoning,
                ..Input::default()
            },
        };
        self.finish(status, http_status, input);
    }

    fn finish(&mut self, status: Status, http_status: u16, input: Input) {
        let Some(mut inner) = self.inner.take() else { return };
        inner.record.status = status;
        inner.record.http_status = http_status;
        inner.record.latency_us = micros(inner.started);
        let usage = inner.usage.clone();
        usage.send(Draft { record: inner.record, input, charge: inner.charge });
    }
}

impl Drop for Meter {
    /// The client left before an answer: zero completion tokens; the prompt
    /// is estimated when a request went upstream (it may be billed).
    fn drop(&mut self) {
        let Some(inner) = &mut self.inner else { return };
        let input = if inner.record.attempts > 0 {
            Input { estimate: true, request: inner.request.take(), ..Input::default() }
        } else {
            Input::none()
        };
        self.finish(Status::ClientClosed, 499, input);
    }
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
