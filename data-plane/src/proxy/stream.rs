//! Passing an upstream response body through to the client as it arrives.
//!
//! Each body is pumped by a task of its own ([`Pump`]) into an [`Outlet`]
//! that the client's body reads from: the task owns the upstream, the
//! deadlines, the usage record and the request's in-flight slot, so they
//! hold whether or not the client reads. SSE bodies go through the
//! incremental parser and leave event by event (never buffered whole; an
//! event is capped, and held in the body budget while large); the first
//! event was already awaited by [`super::forward`] so that nothing reaches
//! the client before the upstream has produced something. Gaps longer than
//! `idle` and streams longer than `total` end with an OpenAI-style error
//! event and `data: [DONE]`, never a hang; other bodies are forwarded chunk
//! by chunk under the same deadlines and end broken instead. A client that
//! takes nothing for `limits.client_write_timeout` while there is something
//! for it is treated as gone, and its body ends broken.
//!
//! Accounting: every SSE event passes the usage [`Tap`] (which tallies the
//! text, keeps the usage object, and removes what an injected `include_usage`
//! added), and the stream's end finishes its [`Meter`]. A client that left
//! (its body dropped, or stalled) is an ending too, handled by the provider's
//! `on_disconnect`: `close` drops the upstream response at once, which closes
//! the upstream request (generation and spend stop), and records an estimate;
//! `drain` reads on without forwarding ([`super::drain`]), for the usage the
//! upstream reports.

use super::drain::Drained;
use super::outlet::{self, Outlet, Stop};
use crate::balance::InFlight;
use crate::body::ProxyBody;
use crate::budget::BodyBudget;
use crate::error::{Ingress, ProxyError};
use crate::ingress::{Back, ClientStream};
use crate::runtime::Endpoint;
use crate::sse::Event;
use crate::sse::bounded::{Events, EventsError};
use crate::state::InflightGuard;
use crate::usage::tap::Tap;
use crate::usage::{Meter, Status};
use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::model::OnDisconnect;
use tokio::time::Instant;

pub use crate::upstream::Upstream;

/// Most bytes gathered into one frame for the client.
const COALESCE_BYTES: usize = 64 * 1024;

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

/// The body's usage accounting.
pub struct Accounting {
    pub meter: Meter,
    /// `Some` for SSE bodies when accounting is on.
    pub tap: Option<Tap>,
    pub on_disconnect: OnDisconnect,
    /// The status the client got.
    pub http_status: u16,
}

/// Reads SSE from `upstream` until the first event carrying data, within
/// `deadline`. Returns the events read so far (comments included) and the parser.
pub async fn first_event(
    upstream: &mut Upstream,
    deadline: Instant,
    budget: &BodyBudget,
) -> Result<(Vec<Event>, Events), FirstEventError> {
    let mut parser = Events::new(budget);
    let mut out = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, upstream.next()).await {
            Err(_) => return Err(FirstEventError::Timeout),
            Ok(None) => return Err(FirstEventError::Ended),
            Ok(Some(Err(_))) => return Err(FirstEventError::Broken),
            Ok(Some(Ok(chunk))) => chunk,
        };
        let events = parser.push(&chunk).map_err(|e| match e {
            EventsError::Malformed => FirstEventError::Broken,
            EventsError::TooLarge | EventsError::Budget => FirstEventError::TooLarge(e),
        })?;
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
    /// The event is over the cap, or the body budget cannot hold it.
    TooLarge(EventsError),
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

/// What a streamed body is read from, and in which API it leaves.
pub struct Source {
    pub upstream: Upstream,
    /// The SSE parser, for streams (`None`: bytes passed through as they come).
    pub events: Option<Events>,
    /// The events already read (to judge the stream's start).
    pub first: Vec<Event>,
    /// The client's API, for the error event that ends a stream cut short.
    pub ingress: Ingress,
    /// Turns the chat chunks into the client's API's events (a client API
    /// translated to chat completions; the [`Back`] names its error kinds);
    /// `None`: the events pass as they are.
    pub client: Option<(Box<dyn ClientStream>, Back)>,
}

/// The client's body: the `first` events (already read) then the rest of
/// `upstream` (SSE when `events` is given), pumped by a task of its own, with
/// `idle` allowed between chunks and nothing after `deadline`.
pub fn body(source: Source, idle: Duration, deadline: Instant, tail: Tail, account: Accounting) -> ProxyBody {
    let Source { upstream, events, first, ingress, client } = source;
    let provider = tail.endpoint.provider.name.clone();
    let (outlet, body) = outlet::pair(tail.endpoint.provider.client_write);
    let pump = Pump { upstream, events, idle, deadline, provider, account, ingress, client, _tail: Some(tail) };
    tokio::spawn(pump.run(outlet, first));
    body
}

/// Everything a streamed body holds, owned by its task.
struct Pump {
    upstream: Upstream,
    /// `Some` for SSE bodies.
    events: Option<Events>,
    idle: Duration,
    deadline: Instant,
    provider: Arc<str>,
    account: Accounting,
    ingress: Ingress,
    client: Option<(Box<dyn ClientStream>, Back)>,
    _tail: Option<Tail>,
}

/// How a pumped body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The upstream body ended.
    Ended,
    /// Cut short: the code says why.
    Failed(&'static str),
    /// The client's body was dropped.
    Left,
    /// The client took nothing for `client_write_timeout`.
    Stalled,
}

impl From<Stop> for Ending {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Gone => Ending::Left,
            Stop::Stalled => Ending::Stalled,
            Stop::Deadline => Ending::Failed("upstream_total_timeout"),
        }
    }
}

impl Pump {
    async fn run(mut self, mut outlet: Outlet, first: Vec<Event>) {
        let ending = match self.outgoing(first) {
            Ok(pending) => self.pass(&mut outlet, pending).await,
            Err(code) => Ending::Failed(code),
        };
        match ending {
            Ending::Ended => {
                // An unterminated last event, if any; for a client API, the events owed after the chat stream.
                let last = self.events.take().and_then(Events::finish);
                let last = match self.client.as_mut() {
                    None => Ok(last),
                    Some((client, _)) => client.finish().map(|b| (!b.is_empty()).then(|| Bytes::from(b))),
                };
                match last {
                    Ok(last) => {
                        self.finish(Status::Ok);
                        outlet.close(last);
                    }
                    Err(_) => self.cut(outlet, "upstream_stream_broken"),
                }
            }
            Ending::Failed(code) => self.cut(outlet, code),
            Ending::Left => self.left().await,
            Ending::Stalled => {
                tracing::warn!(provider = %self.provider, "the client accepted nothing for limits.client_write_timeout; stream ended");
                outlet.abort("the client stopped reading");
                self.left().await;
            }
        }
        // Dropping `self` closes the upstream request and frees the in-flight slot.
    }

    /// Ends a stream cut short (`code` says why): with the error event of the
    /// client's API when it is an event stream, broken otherwise.
    fn cut(&mut self, outlet: Outlet, code: &'static str) {
        let timeout = matches!(code, "upstream_idle_timeout" | "upstream_total_timeout");
        self.finish(if timeout { Status::Timeout } else { Status::StreamError });
        tracing::warn!(provider = %self.provider, code, "upstream stream ended early");
        if self.events.take().is_none() {
            return outlet.abort("upstream stream failed");
        }
        let error = ProxyError::StreamCut(self.provider.to_string(), code);
        let last = match (self.client.as_mut(), self.ingress) {
            (Some((client, back)), _) => client.error(back.error_kind(&error), &error.to_string()),
            (None, Ingress::Anthropic) => {
                format!("event: error\ndata: {}\n\n", error.body(Ingress::Anthropic)).into_bytes()
            }
            (None, Ingress::OpenAi) => format!("data: {}\n\ndata: [DONE]\n\n", error.body_json()).into_bytes(),
        };
        outlet.close(Some(Bytes::from(last)));
    }

    /// The events' bytes for the client: tapped, and turned into the client's
    /// API's events when there is a [`ClientStream`]; `Err` (a code) when
    /// they cannot be.
    fn outgoing(&mut self, events: Vec<Event>) -> Result<Option<Bytes>, &'static str> {
        let tap = self.account.tap.as_mut();
        let Some((client, _)) = self.client.as_mut() else { return Ok(forward(tap, events)) };
        let mut tap = tap;
        let mut out = Vec::new();
        for event in events {
            if let Some(tap) = tap.as_deref_mut() {
                tap.observe(&event);
            }
            match event.data.as_deref() {
                // `[DONE]`: the closing events come at the body's end ([`Pump::run`]).
                None | Some("[DONE]") => {}
                Some(data) => out.extend(client.chunk(data).map_err(|_| "upstream_stream_untranslatable")?),
            }
        }
        Ok((!out.is_empty()).then(|| Bytes::from(out)))
    }

    /// Forwards the upstream to the client until one of them ends it.
    async fn pass(&mut self, outlet: &mut Outlet, pending: Option<Bytes>) -> Ending {
        if let Some(bytes) = pending.filter(|b| !b.is_empty())
            && let Err(stop) = outlet.send(bytes, Some(self.deadline)).await
        {
            return stop.into();
        }
        loop {
            let wait = (Instant::now() + self.idle).min(self.deadline);
            let next = tokio::select! {
                biased;
                next = tokio::time::timeout_at(wait, self.upstream.next()) => next,
                () = outlet.gone() => return Ending::Left,
            };
            let chunk = match next {
                Err(_) if Instant::now() >= self.deadline => return Ending::Failed("upstream_total_timeout"),
                Err(_) => return Ending::Failed("upstream_idle_timeout"),
                Ok(Some(Ok(chunk))) => chunk,
                Ok(Some(Err(_))) => return Ending::Failed("upstream_stream_broken"),
                Ok(None) => return Ending::Ended,
            };
            // Whatever else the upstream has already delivered leaves in the same
            // frame: one write to the client instead of one per event.
            let (chunk, ended) = coalesce(&mut self.upstream, chunk);
            let bytes = match self.events.as_mut() {
                None => Some(chunk),
                Some(events) => match events.push(&chunk).map_err(|e| e.code()).and_then(|e| self.outgoing(e)) {
                    Ok(bytes) => bytes,
                    Err(code) => return Ending::Failed(code),
                },
            };
            if let Some(bytes) = bytes
                && let Err(stop) = outlet.send(bytes, Some(self.deadline)).await
            {
                return stop.into();
            }
            match ended {
                Some(Ended::Broken) => return Ending::Failed("upstream_stream_broken"),
                Some(Ended::Clean) => return Ending::Ended,
                None => {}
            }
        }
    }

    /// The client left (or stalled) before the end, by `on_disconnect`.
    async fn left(&mut self) {
        let a = &mut self.account;
        if !a.meter.is_on() {
            return;
        }
        // `[DONE]` was handed over already: the client got the whole answer.
        if a.tap.as_ref().is_some_and(|t| t.done) {
            return self.finish(Status::Ok);
        }
        if a.on_disconnect == OnDisconnect::Drain
            && let (Some(events), Some(tap)) = (self.events.take(), a.tap.take())
        {
            let drained = Drained {
                upstream: std::mem::replace(&mut self.upstream, futures_util::stream::empty().boxed()),
                events,
                tap,
                meter: std::mem::replace(&mut a.meter, Meter::off()),
                http_status: a.http_status,
                idle: self.idle,
                deadline: self.deadline,
            };
            // The in-flight slot stays taken until the drain ends.
            return drained.run().await;
        }
        // `close`: the upstream response is dropped with `self`, right after this.
        self.finish(Status::ClientClosed);
    }

    /// Records the stream's usage (once: a finished meter is off).
    fn finish(&mut self, status: Status) {
        let a = &mut self.account;
        a.meter.streamed(status, a.http_status, a.tap.as_mut());
    }
}

impl Drop for Pump {
    /// Dropped unfinished (the runtime shut down under it): the client is gone.
    fn drop(&mut self) {
        self.finish(Status::ClientClosed);
    }
}

/// How the upstream body ended, seen while coalescing and reported after the chunk.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::drain::{DRAIN_BYTES, DRAIN_TIME};
    use crate::upstream::Broken;
    use crate::usage::sink::resolve;
    use crate::usage::tap::Text;
    use crate::usage::{Draft, Mode, Source, Usage};
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

    const CONTENT: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hello there\"}}],\"usage\":null}\n\n";
    const USAGE: &[u8] =
        b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":9}}\n\ndata: [DONE]\n\n";
    const WRITE: Duration = Duration::from_secs(30);

    fn metered() -> (Meter, tokio::sync::mpsc::Receiver<Draft>) {
        let (usage, rx) = Usage::new(Mode::On, 8);
        let mut meter = Arc::new(usage).meter(&Arc::from("app"), 1, Instant::now(), 0);
        let body = Bytes::from_static(br#"{"messages":[{"role":"user","content":"Hi"}]}"#);
        meter.request_body(&crate::budget::Held::unreserved(body));
        (meter, rx.unwrap())
    }

    /// A stream whose first event (`CONTENT`) is ready for the client; the
    /// upstream then sends `rest`. Its task runs; the client's body is returned.
    fn stream(
        rest: Upstream,
        on_disconnect: OnDisconnect,
        total: Duration,
    ) -> (ProxyBody, tokio::sync::mpsc::Receiver<Draft>) {
        let (meter, rx) = metered();
        let tap = Tap::new(true, Text::Chat);
        let budget = BodyBudget::new();
        budget.resize(1 << 20);
        let mut events = Events::new(&budget);
        let first = events.push(CONTENT).unwrap();
        let account = Accounting { meter, tap: Some(tap), on_disconnect, http_status: 200 };
        let pump = Pump {
            upstream: rest,
            events: Some(events),
            idle: Duration::from_secs(3600),
            deadline: Instant::now() + total,
            provider: Arc::from("main"),
            account,
            ingress: Ingress::OpenAi,
            client: None,
            _tail: None,
        };
        let (outlet, client) = outlet::pair(WRITE);
        tokio::spawn(pump.run(outlet, first));
        (client, rx)
    }

    /// Sets its flag when dropped: the upstream request was closed.
    struct Closed(Arc<AtomicBool>);
    impl Drop for Closed {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }

    /// `upstream`, setting `flag` once it is dropped.
    fn watched(upstream: Upstream, flag: &Arc<AtomicBool>) -> Upstream {
        let guard = Closed(flag.clone());
        upstream
            .map(move |x| {
                let _ = &guard;
                x
            })
            .boxed()
    }

    fn stalled(flag: &Arc<AtomicBool>) -> Upstream {
        watched(futures_util::stream::pending().boxed(), flag)
    }

    /// An upstream that always has more content ready.
    fn endless(flag: &Arc<AtomicBool>) -> Upstream {
        watched(futures_util::stream::repeat_with(|| Ok(Bytes::from_static(CONTENT))).boxed(), flag)
    }

    #[tokio::test(start_paused = true)]
    async fn close_drops_the_upstream_and_estimates_what_was_streamed() {
        let closed = Arc::new(AtomicBool::new(false));
        let (client, mut rx) = stream(stalled(&closed), OnDisconnect::Close, Duration::from_secs(600));
        let start = Instant::now();
        drop(client);
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!(start.elapsed(), Duration::ZERO, "at once");
        assert!(closed.load(SeqCst), "the upstream response is dropped with the body");
        assert_eq!((r.status, r.source), (Status::ClientClosed, Source::Estimated));
        assert_eq!(r.tokens.completion, crate::usage::estimate::text_tokens("Hello there"));
        assert_eq!(r.tokens.prompt, 3 + 3 + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_reads_gets_the_stream_and_its_end() {
        let rest = futures_util::stream::iter([Ok(Bytes::from_static(CONTENT)), Ok(Bytes::from_static(USAGE))]);
        let (client, mut rx) = stream(rest.boxed(), OnDisconnect::Close, Duration::from_secs(600));
        let text = client.collect().await.unwrap().to_bytes();
        let one = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello there\"}}]}\n\n";
        assert_eq!(String::from_utf8(text.to_vec()).unwrap(), format!("{one}{one}data: [DONE]\n\n"));
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!((r.status, r.source, r.tokens.completion), (Status::Ok, Source::Reported, 9));
    }

    #[tokio::test(start_paused = true)]
    async fn total_holds_against_a_client_that_stopped_reading() {
        let closed = Arc::new(AtomicBool::new(false));
        // The write timeout is longer than what is left of `total`.
        let (client, mut rx) = stream(endless(&closed), OnDisconnect::Close, Duration::from_secs(10));
        let start = Instant::now();
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert!(closed.load(SeqCst), "the upstream request is closed at the deadline");
        assert_eq!((r.status, r.source), (Status::Timeout, Source::Estimated));
        assert!(r.tokens.completion > 0);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn total_and_idle_hold_while_the_upstream_is_silent_and_nobody_reads() {
        let closed = Arc::new(AtomicBool::new(false));
        let (_client, mut rx) = stream(stalled(&closed), OnDisconnect::Close, Duration::from_secs(10));
        let start = Instant::now();
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert!(closed.load(SeqCst));
        assert_eq!(r.status, Status::Timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_accepts_nothing_is_let_go_after_the_write_timeout() {
        let closed = Arc::new(AtomicBool::new(false));
        let (mut client, mut rx) = stream(endless(&closed), OnDisconnect::Close, Duration::from_secs(600));
        let start = Instant::now();
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!(start.elapsed(), WRITE);
        assert!(closed.load(SeqCst));
        assert_eq!((r.status, r.http_status, r.source), (Status::ClientClosed, 200, Source::Estimated));
        // What was handed over is still there, then the body breaks.
        let mut frames = Vec::new();
        while let Some(frame) = client.frame().await {
            frames.push(frame.is_ok());
        }
        assert_eq!(frames.last(), Some(&false));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_reads_the_reported_usage() {
        let rest = futures_util::stream::iter([Ok(Bytes::from_static(CONTENT)), Ok(Bytes::from_static(USAGE))]);
        let gate = Arc::new(tokio::sync::Notify::new());
        let wait = gate.clone();
        // The upstream goes on only once the client has left.
        let later = futures_util::stream::once(async move { wait.notified().await }).filter_map(|()| async { None });
        let (client, mut rx) = stream(
            later.chain(rest).chain(futures_util::stream::pending()).boxed(),
            OnDisconnect::Drain,
            Duration::from_secs(600),
        );
        drop(client);
        gate.notify_one();
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!((r.status, r.source), (Status::ClientClosed, Source::Reported));
        assert_eq!((r.tokens.prompt, r.tokens.completion), (7, 9));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_its_time_bound() {
        let closed = Arc::new(AtomicBool::new(false));
        let (client, mut rx) = stream(stalled(&closed), OnDisconnect::Drain, Duration::from_secs(600));
        let start = Instant::now();
        drop(client);
        tokio::task::yield_now().await;
        assert!(!closed.load(SeqCst), "still draining");
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!(start.elapsed(), DRAIN_TIME);
        assert!(closed.load(SeqCst));
        assert_eq!((r.status, r.source), (Status::ClientClosed, Source::Estimated));
        assert_eq!(r.tokens.completion, crate::usage::estimate::text_tokens("Hello there"));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_its_byte_bound() {
        let closed = Arc::new(AtomicBool::new(false));
        let (client, mut rx) = stream(endless(&closed), OnDisconnect::Drain, Duration::from_secs(600));
        drop(client);
        let r = resolve(rx.recv().await.unwrap(), "x".into());
        assert_eq!(r.source, Source::Estimated);
        // The first event, what reached the outlet before the client left, then at least DRAIN_BYTES.
        let mut tally = crate::usage::estimate::Tally::default();
        tally.text("Hello there");
        let per_event = tally.tokens();
        assert!(r.tokens.completion >= per_event * (DRAIN_BYTES / CONTENT.len()) as u64, "{}", r.tokens.completion);
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
