//! A scripted fake upstream speaking OpenAI's, Anthropic's and Gemini's APIs: a real HTTP server (HTTP/1.1 and
//! h2c on the same port) bound to `127.0.0.1:0`.
//!
//! Every request is read to its end (the body is counted as it arrives, see
//! [`FakeUpstream::wait_for_body_bytes`]), recorded, and answered by the
//! [`Options::respond`] responder when it has an answer, else with the next
//! [`Reply`] queued by [`FakeUpstream::push`], or, when the queue is empty, by the
//! default behaviour below.
//!
//! # Default behaviour
//!
//! Answers look like each provider's own (the shapes of its published API) and
//! echo what was asked; every one carries an `x-request-id: req_fake{N}` header,
//! `N` being the request's arrival number (0, 1, ...). One server answers every
//! API, so one fake can stand behind providers of every kind.
//!
//! * `POST /v1/chat/completions`: a `chat.completion` whose single choice says
//!   `"Hello from {model}"` with `finish_reason: "stop"`, `model` being the model
//!   received. With `"stream": true`, an SSE stream of `chat.completion.chunk`s: a
//!   role chunk, the content in three chunks (`"Hello"`, `" from"`, `" {model}"`),
//!   a chunk with `finish_reason: "stop"`, then `data: [DONE]`. With
//!   `stream_options.include_usage: true` every chunk also carries `"usage": null`
//!   and a last chunk with `"choices": []` carries the usage.
//! * `POST /v1/completions`: the same as a `text_completion` (streamed the same way).
//! * `POST /v1/embeddings`: one 8-float embedding per input (a string, a list of
//!   strings, a list of token ids, or a list of lists of token ids); `dimensions`
//!   changes the length and `encoding_format: "base64"` encodes little-endian
//!   `f32`s as OpenAI does.
//! * `GET /v1/models`: a list of two models, `gpt-4o-mini` and
//!   `text-embedding-3-small` (Anthropic's list when asked with an
//!   `anthropic-version` header).
//! * `POST /v1/responses`: OpenAI's Responses API, a `response` object or its
//!   event stream.
//! * `POST /v1/messages` and `/v1/messages/count_tokens`: Anthropic's Messages
//!   API, a `message` or its event stream (checking `x-api-key`,
//!   `anthropic-version`, `max_tokens` as Anthropic does).
//! * `POST /{version}/models/{model}:generateContent`, `:streamGenerateContent`
//!   (`?alt=sse`), `:countTokens`, `:embedContent`, `:batchEmbedContents` and
//!   `GET /{version}/models`: Gemini's API (checking for an API key).
//! * anything else: `200 {"echo": {"method", "path", "query", "body_bytes", "content_type"}}`
//!   (`query` and `content_type` are `null` when absent).
//!
//! [`Options::api`] narrows this to one provider's API ([`Api`]): the others'
//! endpoints then answer 404.
//!
//! What the chat-like APIs say follows the conversation, the same in each API:
//! when tools are offered and the last user turn says "use the tool", a call of
//! the first tool (arguments made up from its schema, streamed in pieces);
//! when the last turn carries tool results, `"Tool result: {result}"`; when the
//! last user turn holds images, the greeting names their types (see
//! `defaults/conversation.rs`). A model named `fail-…` ([`FAIL_PREFIX`]) is
//! answered 500 in its API's error shape, so failover can be driven from
//! outside the process (e.g. by `fake-upstream` and the SDK tests); models
//! named `cut-…`, `garbled-…` and `busy-…` get broken streams and 429s
//! ([`faults`]).
//!
//! Usage is deterministic: `prompt_tokens` is the number of whitespace-separated
//! words in the prompt's text (messages' text content, `prompt`, `input`,
//! `system`, Gemini's parts; a token id counts one), at least 1;
//! `completion_tokens` is one per streamed text piece, 3 for the greeting
//! ([`COMPLETION_TOKENS`]), and for a tool call one plus one per argument piece.
//!
//! The JSON endpoints answer a body that is not a JSON object with 400
//! `invalid_request_error`, and one without a string `model` likewise.
//!
//! [`Options`] caps the streams of each HTTP/2 connection (as real upstreams
//! do); each [`RecordedRequest`] keeps its HTTP version, and
//! [`FakeUpstream::accepted_connections`] counts the connections ever accepted.
//!
//! [`openai::ChatStream`] writes one streamed completion in both of the forms
//! OpenAI sends it (with and without `stream_options.include_usage`), byte for
//! byte, in OpenAI's compact JSON or with spaces. [`FakeUpstream::aborted_responses`]
//! and [`FakeUpstream::wait_for_aborted_responses`] tell when the proxy hung up
//! on a response before its end.

mod defaults;
pub mod faults;
pub mod openai;
mod reply;
mod server;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use defaults::{COMPLETION_TOKENS, FAIL_PREFIX};
pub use reply::{Chunk, Reply};

/// How a [`FakeUpstream`] serves; `Options::default()` is what [`FakeUpstream::start`] uses.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// SETTINGS_MAX_CONCURRENT_STREAMS of each HTTP/2 connection: a client
    /// opening more streams at once gets them refused (`REFUSED_STREAM`).
    /// `None`: hyper's default (200).
    pub h2_max_streams: Option<u32>,
    /// Answers the requests it recognises (by method, path and headers) before
    /// the scripted queue and the defaults are looked at; those it does not
    /// (`None`) go on as usual. E.g. a provider's balance endpoints next to its
    /// chat completions ([`crate::fake_balance`]).
    pub respond: Option<Responder>,
    /// Whose API the default answers speak.
    pub api: Api,
}

/// Answers a request by its head, or passes (`None`).
pub type RespondFn = dyn Fn(&http::request::Parts) -> Option<Reply> + Send + Sync;

/// See [`Options::respond`].
#[derive(Clone)]
pub struct Responder(pub Arc<RespondFn>);

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Responder")
    }
}

/// Whose API a fake's default answers speak. A request for one of another
/// provider's endpoints gets a 404 in this API's error shape, as the real
/// provider would answer it (paths no API knows are echoed whatever this is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// Every API at once (one fake behind providers of every kind).
    #[default]
    All,
    /// OpenAI's: chat completions, completions, embeddings, models, Responses.
    Openai,
    /// An OpenAI-compatible server's: OpenAI's without the Responses API.
    OpenaiCompatible,
    /// Anthropic's: Messages, count_tokens, models.
    Anthropic,
    /// Gemini's: generateContent and the rest under `/{version}/models`.
    Gemini,
}

/// A running fake upstream. Dropping it stops the server and every connection it
/// holds.
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: http::Method,
    /// Path and query as received (for HTTP/2 without the scheme and authority).
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
    pub version: http::Version,
}

impl RecordedRequest {
    /// The body parsed as JSON; panics (failing the test) when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.body) {
            Ok(value) => value,
            Err(err) => panic!(
                "recorded {} {} body is not JSON ({err}): {:?}",
                self.method,
                self.uri,
                String::from_utf8_lossy(&self.body)
            ),
        }
    }

    /// The first value of header `name` (case-insensitive), if present and
    /// visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// State shared by the handle, the accept loop, connections and response bodies.
pub(crate) struct Shared {
    queue: Mutex<VecDeque<Reply>>,
    /// Completed reads with their arrival numbers, kept sorted by arrival.
    requests: Mutex<Vec<(u64, RecordedRequest)>>,
    next_seq: AtomicU64,
    /// The most body bytes any single request has received so far.
    body_high_water: watch::Sender<usize>,
    open_connections: AtomicUsize,
    accepted_connections: AtomicUsize,
    aborted_responses: AtomicUsize,
    /// The same count, to wait on.
    aborted: watch::Sender<usize>,
    options: Options,
    faults: faults::Faults,
}

impl Shared {
    fn new(options: Options) -> Shared {
        Shared {
            queue: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            next_seq: AtomicU64::new(0),
            body_high_water: watch::Sender::new(0),
            open_connections: AtomicUsize::new(0),
            accepted_connections: AtomicUsize::new(0),
            aborted_responses: AtomicUsize::new(0),
            aborted: watch::Sender::new(0),
            options,
            faults: faults::Faults::default(),
        }
    }

    /// Numbers a newly arrived request and hands it its reply: the
    /// responder's, else the next scripted one (else `None`: the default).
    pub(crate) fn arrive(&self, parts: &http::request::Parts) -> (u64, Option<Reply>) {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        if let Some(reply) = self.options.respond.as_ref().and_then(|r| (r.0)(parts)) {
            return (seq, Some(reply));
        }
        (seq, self.queue.lock().pop_front())
    }

    pub(crate) fn saw_body_bytes(&self, n: usize) {
        self.body_high_water.send_if_modified(|high| {
            let higher = n > *high;
            if higher {
                *high = n;
            }
            higher
        });
    }

    pub(crate) fn record(&self, seq: u64, request: RecordedRequest) {
        let mut requests = self.requests.lock();
        let at = requests.partition_point(|(s, _)| *s < seq);
        requests.insert(at, (seq, request));
    }

    pub(crate) fn connection_opened(&self) {
        self.accepted_connections.fetch_add(1, Ordering::SeqCst);
        self.open_connections.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    pub(crate) fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn response_aborted(&self) {
        let n = self.aborted_responses.fetch_add(1, Ordering::SeqCst) + 1;
        self.aborted.send_replace(n);
    }
}

impl FakeUpstream {
    /// Binds `127.0.0.1:0` and spawns the server on the current Tokio runtime.
    /// Panics if the port cannot be bound.
    pub async fn start() -> FakeUpstream {
        Self::start_with(Options::default()).await
    }

    /// [`FakeUpstream::start`] with `options`.
    pub async fn start_with(options: Options) -> FakeUpstream {
        match Self::start_on_with(SocketAddr::from(([127, 0, 0, 1], 0)), options).await {
            Ok(upstream) => upstream,
            Err(err) => panic!("FakeUpstream: cannot bind 127.0.0.1:0: {err}"),
        }
    }

    /// Binds `addr` and spawns the server on the current Tokio runtime.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeUpstream> {
        Self::start_on_with(addr, Options::default()).await
    }

    /// [`FakeUpstream::start_on`] with `options`.
    pub async fn start_on_with(addr: SocketAddr, options: Options) -> std::io::Result<FakeUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(options));
        let accept = tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(%addr, "fake upstream listening");
        Ok(FakeUpstream { addr, shared, accept })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, what a provider's `base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request whose body has been read to its end, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().iter().map(|(_, request)| request.clone()).collect()
    }

    /// Queues a reply: each arriving request takes the next one; when the queue is
    /// empty the default behaviour answers.
    pub fn push(&self, reply: Reply) {
        self.shared.queue.lock().push_back(reply);
    }

    /// Resolves once some request has received at least `n` body bytes, whether
    /// it is still arriving or already complete (a high-water mark since start).
    /// Used to prove an upload reaches the upstream before the client finished it.
    pub async fn wait_for_body_bytes(&self, n: usize) {
        let mut high = self.shared.body_high_water.subscribe();
        // The sender lives in `shared`, which `self` keeps alive: this cannot fail.
        let _ = high.wait_for(|high| *high >= n).await;
    }

    /// TCP connections currently open.
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections.load(Ordering::SeqCst)
    }

    /// TCP connections accepted since start, open or not.
    pub fn accepted_connections(&self) -> usize {
        self.shared.accepted_connections.load(Ordering::SeqCst)
    }

    /// Responses whose body was dropped before its end because the peer went
    /// away (a [`Chunk::Abort`] is the fake's own doing and does not count).
    pub fn aborted_responses(&self) -> usize {
        self.shared.aborted_responses.load(Ordering::SeqCst)
    }

    /// Resolves once at least `n` responses have been aborted by the peer
    /// (see [`FakeUpstream::aborted_responses`]).
    pub async fn wait_for_aborted_responses(&self, n: usize) {
        let mut aborted = self.shared.aborted.subscribe();
        // The sender lives in `shared`, which `self` keeps alive: this cannot fail.
        let _ = aborted.wait_for(|a| *a >= n).await;
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        // The accept task owns the connection tasks: aborting it ends them all.
        self.accept.abort();
    }
}

impl std::fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("addr", &self.addr)
            .field("queued", &self.shared.queue.lock().len())
            .field("requests", &self.shared.requests.lock().len())
            .field("open_connections", &self.open_connections())
            .finish()
    }
}
