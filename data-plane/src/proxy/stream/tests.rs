use super::*;
use crate::proxy::drain::{DRAIN_BYTES, DRAIN_TIME};
use crate::upstream::Broken;
use crate::usage::sink::resolve;
use crate::usage::tap::{End, Text};
use crate::usage::{Draft, Mode, Source, Usage, UsageRecord};
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
    let tap = Tap::new(true, Text::Chat).checking(Some(End::Chat));
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
        tail: None,
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

/// What the client got, as text, and the record, for an upstream that sends `rest` after the first event.
async fn served(rest: Vec<&'static [u8]>) -> (String, UsageRecord) {
    let rest = futures_util::stream::iter(rest.into_iter().map(|b| Ok(Bytes::from_static(b))));
    let (client, mut rx) = stream(rest.boxed(), OnDisconnect::Close, Duration::from_secs(600));
    let text = client.collect().await.unwrap().to_bytes();
    (String::from_utf8(text.to_vec()).unwrap(), resolve(rx.recv().await.unwrap(), "x".into()))
}

/// The error event and `[DONE]` that end a stream cut short.
const BROKEN: &str = "data: {\"error\":{\"code\":\"upstream_stream_broken\",\"message\":\"The stream from the upstream provider 'main' ended early: upstream_stream_broken.\",\"param\":null,\"type\":\"upstream_error\"}}\n\ndata: [DONE]\n\n";

#[tokio::test(start_paused = true)]
async fn a_stream_closed_before_its_end_marker_ends_with_the_error_event() {
    let (text, r) = served(vec![CONTENT]).await;
    let one = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello there\"}}]}\n\n";
    assert_eq!(text, format!("{one}{one}{BROKEN}"));
    assert_eq!((r.status, r.source), (Status::StreamError, Source::Estimated));
    // A finish_reason is an end, even without [DONE].
    let (text, r) = served(vec![b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"]).await;
    assert!(text.ends_with("\"finish_reason\":\"stop\"}]}\n\n"), "{text}");
    assert_eq!(r.status, Status::Ok);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_event_ends_the_stream_and_never_reaches_the_client() {
    let (text, r) = served(vec![CONTENT, b"data: {\"choices\":[{\"delta\":{\"cont\n\n", USAGE]).await;
    let one = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello there\"}}]}\n\n";
    assert_eq!(text, format!("{one}{one}{BROKEN}"));
    assert_eq!(r.status, Status::StreamError);
    // Coalesced with good events in one chunk: those before it still go.
    let (text, _) = served(vec![b"data: {\"choices\":[{\"delta\":{\"content\":\"Hello there\"}}],\"usage\":null}\n\ndata: nope\n\ndata: [DONE]\n\n"]).await;
    assert_eq!(text, format!("{one}{one}{BROKEN}"));
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
