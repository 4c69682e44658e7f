//! Passing an upstream response body through to the client as it arrives.
//!
//! SSE bodies go through the incremental parser and leave event by event
//! (never buffered whole); the first event was already awaited by
//! [`super::forward`] so that nothing reaches the client before the upstream
//! has produced something. Gaps longer than `idle` and streams longer than
//! `total` end with an OpenAI-style error event and `data: [DONE]`, never a
//! hang. Other bodies are forwarded chunk by chunk under the same deadlines.
//! Dropping the body (the client left) drops the upstream response, which
//! closes the upstream request.

use crate::balance::InFlight;
use crate::body::{BoxError, ProxyBody};
use crate::error::ProxyError;
use crate::runtime::Endpoint;
use crate::sse::{Event, SseParser};
use crate::state::InflightGuard;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Upstream body chunks.
pub type Upstream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// Largest single SSE event accepted from an upstream.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

/// Bookkeeping that ends with the body: in-flight counts and the duration metric.
pub struct Tail {
    pub _guard: InflightGuard,
    pub _inflight: InFlight,
    pub endpoint: Arc<Endpoint>,
    pub started: Instant,
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.endpoint.stats.duration.observe(self.started.elapsed());
    }
}

struct State {
    upstream: Upstream,
    /// `Some` for SSE bodies.
    parser: Option<SseParser>,
    /// Bytes ready for the client (the first events, already read).
    pending: Option<Bytes>,
    idle: Duration,
    deadline: Instant,
    provider: Arc<str>,
    done: bool,
    _tail: Tail,
}

/// Reads SSE from `upstream` until the first event carrying data, within
/// `deadline`. Returns the bytes read so far (comments included) and the parser.
pub async fn first_event(upstream: &mut Upstream, deadline: Instant) -> Result<(Bytes, SseParser), FirstEventError> {
    let mut parser = SseParser::new(MAX_EVENT_BYTES);
    let mut out = BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, upstream.next()).await {
            Err(_) => return Err(FirstEventError::Timeout),
            Ok(None) => return Err(FirstEventError::Ended),
            Ok(Some(Err(_))) => return Err(FirstEventError::Broken),
            Ok(Some(Ok(chunk))) => chunk,
        };
        let events = parser.push(&chunk).map_err(|_| FirstEventError::Broken)?;
        let has_data = events.iter().any(|e| e.data.is_some());
        append(&mut out, events);
        if has_data {
            return Ok((out.freeze(), parser));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstEventError {
    Timeout,
    Ended,
    Broken,
}

fn append(out: &mut BytesMut, events: Vec<Event>) {
    for e in events {
        out.extend_from_slice(&e.raw);
    }
}

/// The client's body: `first` (already read) then the rest of `upstream`.
pub fn body(
    upstream: Upstream,
    parser: Option<SseParser>,
    first: Option<Bytes>,
    idle: Duration,
    deadline: Instant,
    provider: Arc<str>,
    tail: Tail,
) -> ProxyBody {
    let state = State { upstream, parser, pending: first, idle, deadline, provider, done: false, _tail: tail };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        let item = next(&mut s).await?;
        Some((item, s))
    });
    StreamBody::new(stream).boxed_unsync()
}

async fn next(s: &mut State) -> Option<Result<Frame<Bytes>, BoxError>> {
    if let Some(bytes) = s.pending.take().filter(|b| !b.is_empty()) {
        return Some(Ok(Frame::data(bytes)));
    }
    if s.done {
        return None;
    }
    loop {
        let wait = (Instant::now() + s.idle).min(s.deadline);
        let chunk = match tokio::time::timeout_at(wait, s.upstream.next()).await {
            Err(_) => {
                let total = Instant::now() >= s.deadline;
                let code = if total { "upstream_total_timeout" } else { "upstream_idle_timeout" };
                return s.fail(code);
            }
            Ok(Some(Ok(chunk))) => chunk,
            Ok(Some(Err(_))) => return s.fail("upstream_stream_broken"),
            Ok(None) => {
                s.done = true;
                let rest = s.parser.take().and_then(SseParser::finish);
                return rest.map(|b| Ok(Frame::data(b)));
            }
        };
        let Some(parser) = s.parser.as_mut() else {
            return Some(Ok(Frame::data(chunk)));
        };
        match parser.push(&chunk) {
            Ok(events) if events.is_empty() => continue,
            Ok(events) if events.len() == 1 => {
                let raw = events.into_iter().next().map(|e| e.raw).unwrap_or_default();
                return Some(Ok(Frame::data(raw)));
            }
            Ok(events) => {
                let mut out = BytesMut::new();
                append(&mut out, events);
                return Some(Ok(Frame::data(out.freeze())));
            }
            Err(_) => return s.fail("upstream_stream_malformed"),
        }
    }
}

impl State {
    /// Ends the stream: an SSE error event and `[DONE]` for SSE, a broken body otherwise.
    fn fail(&mut self, code: &'static str) -> Option<Result<Frame<Bytes>, BoxError>> {
        self.done = true;
        tracing::warn!(provider = %self.provider, code, "upstream stream ended early");
        if self.parser.take().is_none() {
            return Some(Err(format!("upstream stream failed: {code}").into()));
        }
        let json = ProxyError::StreamCut(self.provider.to_string(), code).body_json();
        Some(Ok(Frame::data(Bytes::from(format!("data: {json}\n\ndata: [DONE]\n\n")))))
    }
}
