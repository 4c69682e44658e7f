//! Passing an upstream response body through to the client as it arrives.
//!
//! SSE bodies go through the incremental parser and leave event by event
//! (never buffered whole); the first event was already awaited by
//! [`super::forward`] so that nothing reaches the client before the upstream
//! has produced something. Gaps longer than `idle` and streams longer than
//! `total` end with an OpenAI-style error event and `data: [DONE]`, never a
//! hang. Other bodies are forwarded chunk by chunk under the same deadlines.
//!
//! Accounting: every SSE event passes the usage [`Tap`] (which tallies the
//! text, keeps the usage event, and removes what an injected `include_usage`
//! added), and the stream's end finishes its [`Meter`]. Dropping the body (the
//! client left) is an ending too, handled by the provider's `on_disconnect`:
//! `close` drops the upstream response at once, which closes the upstream
//! request (generation and spend stop), and records an estimate; `drain`
//! hands the upstream to a task that reads on without forwarding
//! ([`super::drain`]), for the usage the upstream reports.

use super::drain::Drained;
use crate::balance::InFlight;
use crate::body::{BoxError, ProxyBody};
use crate::error::ProxyError;
use crate::runtime::Endpoint;
use crate::sse::{Event, SseParser};
use crate::state::InflightGuard;
use crate::usage::tap::Tap;
use crate::usage::{Meter, Status};
use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::model::OnDisconnect;
use tokio::time::Instant;

pub use crate::upstream::Upstream;

/// Most bytes gathered into one frame for the client.
const COALESCE_BYTES: usize = 64 * 1024;

/// Largest single SSE event accepted from an upstream.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

/// Bookkeeping that ends with the body: in-flight counts, the duration
/// metric, and the request body's share of the body budget (kept for a
/// prompt estimate).
pub struct Tail {
    pub _guard: InflightGuard,
    pub _inflight: InFlight,
    pub endpoint: Arc<Endpoint>,
    pub started: Instant,
    pub _body: Option<super::request::Buffered>,
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.endpoint.stats.duration.observe(self.started.elapsed());
    }
}

/// The body's usage accounting.
pub struct Accounting {
    pub meter: Meter,
    /// `Some` for SSE bodies when accounting is on.
    pub tap: Option<Tap>,
    pub on_disconnect: OnDisconnect,
    /// The status the client got.
    pub http_status: u16,
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
    /// The stream ended (and its usage was recorded).
    done: bool,
    account: Accounting,
    tail: Option<Tail>,
}

/// Reads SSE from `upstream` until the first event carrying data, within
/// `deadline`. Returns the events read so far (comments included) and the parser.
pub async fn first_event(
    upstream: &mut Upstream,
    deadline: Instant,
) -> Result<(Vec<Event>, SseParser), FirstEventError> {
    let mut parser = SseParser::new(MAX_EVENT_BYTES);
    let mut out = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, upstream.next()).await {
            Err(_) => return Err(FirstEventError::Timeout),
            Ok(None) => return Err(FirstEventError::Ended),
            Ok(Some(Err(_))) => return Err(FirstEventError::Broken),
            Ok(Some(Ok(chunk))) => chunk,
        };
        let events = parser.push(&chunk).map_err(|_| FirstEventError::Broken)?;
        let has_data = events.iter().any(|e| e.data.is_some());
        out.extend(events);
        if has_data {
            return Ok((out, parser));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstEventError {
    Timeout,
    Ended,
    Broken,
}

/// The events' bytes for the client: through the tap when there is one.
fn forward(tap: Option<&mut Tap>, events: Vec<Event>) -> Option<Bytes> {
    if let Some(tap) = tap {
        return tap.forward(events);
    }
    if events.len() == 1 {
        return events.into_iter().next().map(|e| e.raw);
    }
    let mut out = BytesMut::with_capacity(events.iter().map(|e| e.raw.len()).sum());
    for e in events {
        out.extend_from_slice(&e.raw);
    }
    (!out.is_empty()).then(|| out.freeze())
}

/// The client's body: the `first` events (already read) then the rest of `upstream`.
#[allow(clippy::too_many_arguments)]
pub fn body(
    upstream: Upstream,
    parser: Option<SseParser>,
    first: Vec<Event>,
    idle: Duration,
    deadline: Instant,
    provider: Arc<str>,
    tail: Tail,
    mut account: Accounting,
) -> ProxyBody {
    let pending = forward(account.tap.as_mut(), first);
    let state = State {
        upstream,
        parser,
        pending,
        idle,
        deadline,
        provider,
        ended: None,
        done: false,
        account,
        tail: Some(tail),
    };
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
            Ok(events) => match forward(s.account.tap.as_mut(), events) {
                Some(bytes) => return Some(Ok(Frame::data(bytes))),
                None => continue,
            },
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
        self.finish(Status::Ok);
        let rest = self.parser.take().and_then(SseParser::finish);
        rest.map(|b| Ok(Frame::data(b)))
    }

    /// Ends the stream: an SSE error event and `[DONE]` for SSE, a broken body otherwise.
    fn fail(&mut self, code: &'static str) -> Option<Result<Frame<Bytes>, BoxError>> {
        let timeout = matches!(code, "upstream_idle_timeout" | "upstream_total_timeout");
        self.finish(if timeout { Status::Timeout } else { Status::StreamError });
        tracing::warn!(provider = %self.provider, code, "upstream stream ended early");
        if self.parser.take().is_none() {
            return Some(Err(format!("upstream stream failed: {code}").into()));
        }
        let json = ProxyError::StreamCut(self.provider.to_string(), code).body_json();
        Some(Ok(Frame::data(Bytes::from(format!("data: {json}\n\ndata: [DONE]\n\n")))))
    }

    /// Records the stream's usage, once.
    fn finish(&mut self, status: Status) {
        self.done = true;
        let a = &mut self.account;
        a.meter.streamed(status, a.http_status, a.tap.as_mut());
    }
}

impl Drop for State {
    /// The body was dropped before its end: the client left.
    fn drop(&mut self) {
        if self.done || !self.account.meter.is_on() {
            return;
        }
        let a = &mut self.account;
        // `[DONE]` was handed over already: the client got the whole answer.
        if a.tap.as_ref().is_some_and(|t| t.done) {
            return self.finish(Status::Ok);
        }
        let drain = a.on_disconnect == OnDisconnect::Drain && a.tap.is_some() && self.parser.is_some();
        if let (true, Ok(runtime)) = (drain, tokio::runtime::Handle::try_current())
            && let (Some(parser), Some(tap)) = (self.parser.take(), a.tap.take())
        {
            self.done = true;
            let drained = Drained {
                upstream: std::mem::replace(&mut self.upstream, futures_util::stream::empty().boxed()),
                parser,
                tap,
                meter: std::mem::replace(&mut a.meter, Meter::off()),
                http_status: a.http_status,
                idle: self.idle,
                deadline: self.deadline,
                _tail: self.tail.take(),
            };
            runtime.spawn(drained.run());
            return;
        }
        // `close`: the upstream response is dropped with `self`, right after this.
        self.finish(Status::ClientClosed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::drain::{DRAIN_BYTES, DRAIN_TIME};
    use crate::upstream::Broken;
    use crate::usage::sink::resolve;
    use crate::usage::tap::Text;
    use crate::usage::{Draft, Mode, Source, Usage};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

    const CONTENT: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hello there\"}}],\"usage\":null}\n\n";
    const USAGE: &[u8] =
        b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":9}}\n\ndata: [DONE]\n\n";

    fn metered() -> (Meter, tokio::sync::mpsc::Receiver<Draft>) {
        let (usage, rx) = Usage::new(Mode::On, 8);
        let mut meter = Arc::new(usage).meter(&Arc::from("app"), 1, Instant::now(), 0);
        meter.request_body(&Bytes::from_static(br#"{"messages":[{"role":"user","content":"Hi"}]}"#));
        (meter, rx.unwrap())
    }

    /// A client left after the first event; the upstream sends `rest`.
    fn left(rest: Upstream, on_disconnect: OnDisconnect) -> (State, tokio::sync::mpsc::Receiver<Draft>) {
        let (meter, rx) = metered();
        let mut tap = Tap::new(true, Text::Chat);
        let mut parser = SseParser::new(MAX_EVENT_BYTES);
        let pending = tap.forward(parser.push(CONTENT).unwrap());
        let account = Accounting { meter, tap: Some(tap), on_disconnect, http_status: 200 };
        let state = State {
            upstream: rest,
            parser: Some(parser),
            pending,
            idle: Duration::from_secs(3600),
            deadline: Instant::now() + Duration::from_secs(600),
            provider: Arc::from("main"),
            ended: None,
            done: false,
            account,
            tail: None,
        };
        (state, rx)
    }

    /// Sets its flag when dropped: the upstream request was closed.
    struct Closed(Arc<AtomicBool>);
    impl Drop for Closed {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }

    fn stalled(flag: &Arc<AtomicBool>) -> Upstream {
        let guard = Closed(flag.clone());
        futures_util::stream::pending::<Result<Bytes, Broken>>()
            .map(move |x| {
                let _ = &guard;
                x
            })
            .boxed()
    }

    #[tokio::test]
    async fn close_drops_the_upstream_and_estimates_what_was_streamed() {
        let closed = Arc::new(AtomicBool::new(false));
        let (state, mut rx) = left(stalled(&closed), OnDisconnect::Close);
        drop(state);
        assert!(closed.load(SeqCst), "the upstream response is dropped with the body");
        let r = resolve(rx.try_recv().unwrap(), "x".into());
        assert_eq!((r.status, r.source), (Status::ClientClosed, Source::Estimated));
        assert_eq!(r.tokens.completion, crate::usage::estimate::text_tokens("Hello there"));
        assert_eq!(r.tokens.prompt, 3 + 3 + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn drain_reads_the_reported_usage() {
        let rest = futures_util::stream::iter([Ok(Bytes::from_static(CONTENT)), Ok(Bytes::from_static(USAGE))]);
        let (state, mut rx) = left(rest.chain(futures_util::stream::pending()).boxed(), OnDisconnect::Drain);
        drop(state);
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!((r.status, r.source), (Status::ClientClosed, Source::Reported));
        assert_eq!((r.tokens.prompt, r.tokens.completion), (7, 9));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_its_time_bound() {
        let closed = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let (state, mut rx) = left(stalled(&closed), OnDisconnect::Drain);
        drop(state);
        assert!(!closed.load(SeqCst), "still draining");
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!(start.elapsed(), DRAIN_TIME);
        assert!(closed.load(SeqCst));
        assert_eq!((r.status, r.source), (Status::ClientClosed, Source::Estimated));
        assert_eq!(r.tokens.completion, crate::usage::estimate::text_tokens("Hello there"));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_its_byte_bound() {
        let content = futures_util::stream::repeat_with(|| Ok(Bytes::from_static(CONTENT)));
        let (state, mut rx) = left(content.boxed(), OnDisconnect::Drain);
        drop(state);
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!(r.source, Source::Estimated);
        let events = DRAIN_BYTES.div_ceil(CONTENT.len()) as u64 + 1;
        let mut tally = crate::usage::estimate::Tally::default();
        for _ in 0..events {
            tally.text("Hello there");
        }
        assert_eq!(r.tokens.completion, tally.tokens());
    }

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
