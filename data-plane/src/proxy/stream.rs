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
use futures_util::{FutureExt, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub use crate::upstream::Upstream;

/// Most bytes gathered into one frame for the client.
const COALESCE_BYTES: usize = 64 * 1024;

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
    /// The upstream ended while chunks were being coalesced.
    ended: Option<Ended>,
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
    let state =
        State { upstream, parser, pending: first, idle, deadline, provider, ended: None, done: false, _tail: tail };
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
        match s.ended.take() {
            Some(Ended::Broken) => return s.fail("upstream_stream_broken"),
            Some(Ended::Clean) => return s.end(),
            None => {}
        }
        let wait = (Instant::now() + s.idle).min(s.deadline);
        let chunk = match tokio::time::timeout_at(wait, s.upstream.next()).await {
            Err(_) => {
                let total = Instant::now() >= s.deadline;
                let code = if total { "upstream_total_timeout" } else { "upstream_idle_timeout" };
                return s.fail(code);
            }
            Ok(Some(Ok(chunk))) => chunk,
            Ok(Some(Err(_))) => return s.fail("upstream_stream_broken"),
            Ok(None) => return s.end(),
        };
        // Whatever else the upstream has already delivered leaves in the same
        // frame: one write to the client instead of one per event.
        let (chunk, ended) = coalesce(&mut s.upstream, chunk);
        s.ended = ended;
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
                let mut out = BytesMut::with_capacity(events.iter().map(|e| e.raw.len()).sum());
                append(&mut out, events);
                return Some(Ok(Frame::data(out.freeze())));
            }
            Err(_) => return s.fail("upstream_stream_malformed"),
        }
    }
}

/// How the upstream body ended, seen while coalescing and reported on the next poll.
enum Ended {
    Clean,
    Broken,
}

/// Appends to `first` the chunks the upstream has ready now, without waiting,
/// up to [`COALESCE_BYTES`]; an end or error met on the way is returned too.
fn coalesce(upstream: &mut Upstream, first: Bytes) -> (Bytes, Option<Ended>) {
    let mut more: Option<BytesMut> = None;
    let mut len = first.len();
    let mut ended = None;
    while len < COALESCE_BYTES {
        match upstream.as_mut().next().now_or_never() {
            Some(Some(Ok(chunk))) => {
                len += chunk.len();
                more.get_or_insert_with(|| BytesMut::from(&first[..])).extend_from_slice(&chunk);
            }
            Some(Some(Err(_))) => {
                ended = Some(Ended::Broken);
                break;
            }
            Some(None) => {
                ended = Some(Ended::Clean);
                break;
            }
            None => break,
        }
    }
    (more.map_or(first, BytesMut::freeze), ended)
}

impl State {
    /// The upstream body ended: forward an unterminated last event, if any.
    fn end(&mut self) -> Option<Result<Frame<Bytes>, BoxError>> {
        self.done = true;
        let rest = self.parser.take().and_then(SseParser::finish);
        rest.map(|b| Ok(Frame::data(b)))
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Broken;

    fn upstream(items: Vec<Result<&'static [u8], Broken>>) -> Upstream {
        futures_util::stream::iter(items.into_iter().map(|r| r.map(Bytes::from_static))).boxed()
    }

    #[test]
    fn coalesce_gathers_what_is_ready_and_keeps_the_ending() {
        let mut up = upstream(vec![Ok(b"b"), Ok(b"c"), Err(Broken), Ok(b"never")]);
        let (bytes, ended) = coalesce(&mut up, Bytes::from_static(b"a"));
        assert_eq!(&bytes[..], b"abc");
        assert!(matches!(ended, Some(Ended::Broken)));

        let mut up = upstream(vec![Ok(b"b")]);
        let (bytes, ended) = coalesce(&mut up, Bytes::from_static(b"a"));
        assert_eq!(&bytes[..], b"ab");
        assert!(matches!(ended, Some(Ended::Clean)));

        let mut up: Upstream = futures_util::stream::pending().boxed();
        let (bytes, ended) = coalesce(&mut up, Bytes::from_static(b"a"));
        assert_eq!(&bytes[..], b"a");
        assert!(ended.is_none(), "nothing ready: the next poll waits");
    }

    #[test]
    fn coalescing_stops_at_its_bound() {
        static BIG: [u8; COALESCE_BYTES] = [b'x'; COALESCE_BYTES];
        let mut up = upstream(vec![Ok(&BIG), Ok(b"next")]);
        let (bytes, ended) = coalesce(&mut up, Bytes::from_static(b"a"));
        assert_eq!(bytes.len(), COALESCE_BYTES + 1);
        assert!(ended.is_none());
        assert_eq!(futures_util::FutureExt::now_or_never(up.next()), Some(Some(Ok(Bytes::from_static(b"next")))));
    }
}
