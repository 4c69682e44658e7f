//! A minimal OpenAI-compatible upstream for benchmarks, as fast as it can be:
//! every reply is precomputed at start-up and nothing is recorded.
//!
//! ```text
//! bench-upstream [--listen ADDR] [--events N] [--event-delay-us N] [--slow-event-delay-us N]
//!                [--max-streams N]
//! ```
//!
//! Prints its base URL (`http://IP:PORT`) on the first stdout line, then serves
//! HTTP/1.1 (keep-alive) and h2c until SIGTERM or SIGINT.
//!
//! - Any `POST` has its body read to the end. If it contains `"stream":true` (or
//!   `"stream": true`) the reply is an SSE stream of `--events` `chat.completion.chunk`
//!   events, one body frame each, `--event-delay-us` apart, then `data: [DONE]`;
//!   otherwise a fixed `chat.completion` with usage. A body with `"bench":"slow"`
//!   gets its stream paced `--slow-event-delay-us` apart (a client can leave while
//!   it is still being sent); one with `"bench":"error"` gets a 500 with an
//!   OpenAI-shaped error body (`loadgen --mix` sends both).
//! - `GET /v1/models` returns a small fixed model list; anything else is a 404.

use std::convert::Infallible;
use std::error::Error;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

#[derive(Parser)]
#[command(name = "bench-upstream", about = "A minimal, fast OpenAI-compatible upstream for benchmarks")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// `chat.completion.chunk` events per streamed reply (before `data: [DONE]`).
    #[arg(long, default_value_t = 20)]
    events: usize,
    /// Delay between two streamed events, in microseconds.
    #[arg(long, default_value_t = 0)]
    event_delay_us: u64,
    /// Delay between two streamed events for a `"bench":"slow"` request, in microseconds.
    #[arg(long, default_value_t = 2000)]
    slow_event_delay_us: u64,
    /// The h2 server's max concurrent streams per connection.
    #[arg(long, default_value_t = 100)]
    max_streams: u32,
}

/// Every reply, built once and leaked so the bodies are `Bytes::from_static`
/// (cloning one is a copy of a pointer, no shared refcount between cores).
struct Replies {
    completion: Bytes,
    events: &'static [Bytes],
    models: Bytes,
    error: Bytes,
    event_delay: Option<Duration>,
    slow_event_delay: Duration,
}

const ID: &str = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG";
const MODEL: &str = "gpt-4o-mini-2024-07-18";
const FINGERPRINT: &str = "fp_06737a9306";
const CREATED: u64 = 1_741_570_283;
const USAGE: &str = r#"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#;
const WORDS: [&str; 8] = [" The", " quick", " brown", " fox", " jumps", " over", " the", " dog"];

fn leak(bytes: Vec<u8>) -> Bytes {
    Bytes::from_static(Box::leak(bytes.into_boxed_slice()))
}

fn completion() -> Bytes {
    let body = format!(
        r#"{{"id":"{ID}","object":"chat.completion","created":{CREATED},"model":"{MODEL}","choices":[{{"index":0,"message":{{"role":"assistant","content":"Hello! The quick brown fox jumps over the lazy dog. How can I help you today?","refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],"usage":{USAGE},"service_tier":"default","system_fingerprint":"{FINGERPRINT}"}}"#
    );
    leak(body.into_bytes())
}

/// `n` SSE events: the role chunk, content chunks, the finish chunk and (as
/// OpenAI sends with `stream_options.include_usage`) the usage chunk; then `[DONE]`.
fn events(n: usize) -> &'static [Bytes] {
    let chunk = |choices: &str, usage: &str| {
        let event = format!(
            r#"data: {{"id":"{ID}","object":"chat.completion.chunk","created":{CREATED},"model":"{MODEL}","service_tier":"default","system_fingerprint":"{FINGERPRINT}","choices":{choices},"usage":{usage}}}"#
        ) + "\n\n";
        leak(event.into_bytes())
    };
    let delta = |delta: &str, finish: &str| {
        format!(r#"[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]"#)
    };
    let mut events: Vec<Bytes> = (0..n)
        .map(|i| {
            if n >= 2 && i == n - 1 {
                chunk("[]", USAGE)
            } else if n >= 3 && i == n - 2 {
                chunk(&delta("{}", r#""stop""#), "null")
            } else if i == 0 {
                chunk(&delta(r#"{"role":"assistant","content":"","refusal":null}"#, "null"), "null")
            } else {
                let word = WORDS[(i - 1) % WORDS.len()];
                chunk(&delta(&format!(r#"{{"content":"{word}"}}"#), "null"), "null")
            }
        })
        .collect();
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    Box::leak(events.into_boxed_slice())
}

fn error() -> Bytes {
    let body = r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#;
    Bytes::from_static(body.as_bytes())
}

fn models() -> Bytes {
    let list = r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},{"id":"text-embedding-3-small","object":"model","created":1705948997,"owned_by":"system"}]}"#;
    Bytes::from_static(list.as_bytes())
}

/// A reply body: one precomputed buffer, or precomputed SSE events sent one
/// frame each, optionally paced.
enum Reply {
    Full(Option<Bytes>),
    Events { events: &'static [Bytes], next: usize, pacer: Option<Pacer> },
}

/// Holds each event after the first back until `delay` after the previous one.
struct Pacer {
    delay: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Reply::Full(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            Reply::Events { events, next, pacer } => {
                let Some(event) = events.get(*next) else { return Poll::Ready(None) };
                if *next > 0
                    && let Some(pacer) = pacer
                {
                    if !pacer.armed {
                        let deadline = Instant::now() + pacer.delay;
                        pacer.sleep.as_mut().reset(deadline);
                        pacer.armed = true;
                    }
                    ready!(pacer.sleep.as_mut().poll(cx));
                    pacer.armed = false;
                }
                *next += 1;
                Poll::Ready(Some(Ok(Frame::data(event.clone()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Reply::Full(bytes) => bytes.is_none(),
            Reply::Events { events, next, .. } => *next >= events.len(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Reply::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64)),
            Reply::Events { .. } => SizeHint::default(),
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: Reply) -> Response<Reply> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

fn wants_stream(body: &[u8]) -> bool {
    contains(body, br#""stream":true"#) || contains(body, br#""stream": true"#)
}

async fn handle(replies: &'static Replies, request: Request<Incoming>) -> Result<Response<Reply>, hyper::Error> {
    if request.method() == Method::POST {
        let body = request.into_body().collect().await?.to_bytes();
        if contains(&body, br#""bench":"error""#) {
            let error = Reply::Full(Some(replies.error.clone()));
            return Ok(reply(StatusCode::INTERNAL_SERVER_ERROR, "application/json", error));
        }
        if !wants_stream(&body) {
            return Ok(reply(StatusCode::OK, "application/json", Reply::Full(Some(replies.completion.clone()))));
        }
        let delay =
            if contains(&body, br#""bench":"slow""#) { Some(replies.slow_event_delay) } else { replies.event_delay };
        let pacer = delay.map(|delay| Pacer { delay, sleep: Box::pin(tokio::time::sleep(delay)), armed: false });
        let mut response =
            reply(StatusCode::OK, "text/event-stream", Reply::Events { events: replies.events, next: 0, pacer });
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(response);
    }
    if request.method() == Method::GET && request.uri().path() == "/v1/models" {
        return Ok(reply(StatusCode::OK, "application/json", Reply::Full(Some(replies.models.clone()))));
    }
    Ok(reply(StatusCode::NOT_FOUND, "text/plain", Reply::Full(None)))
}

async fn serve(builder: &'static auto::Builder<TokioExecutor>, replies: &'static Replies, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(replies, request));
    // A client going away mid-request is no news for a benchmark upstream.
    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
}

/// Resolves on the first SIGTERM or SIGINT; the handlers are installed before
/// this returns, so a signal sent right after start-up is not missed.
fn shutdown() -> io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let replies: &'static Replies = Box::leak(Box::new(Replies {
        completion: completion(),
        events: events(args.events),
        models: models(),
        error: error(),
        event_delay: (args.event_delay_us > 0).then(|| Duration::from_micros(args.event_delay_us)),
        slow_event_delay: Duration::from_micros(args.slow_event_delay_us),
    }));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(args.max_streams);
    let builder: &'static auto::Builder<TokioExecutor> = Box::leak(Box::new(builder));

    let listener = TcpListener::bind(args.listen).await?;
    let shutdown = shutdown()?;
    println!("http://{}", listener.local_addr()?);

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve(builder, replies, stream));
                }
                Err(err) => {
                    // Out of file descriptors, most likely: let some connections close.
                    eprintln!("bench-upstream: accept: {err}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}
