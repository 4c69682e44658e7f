//! The HTTP side: accepting connections (HTTP/1.1 and h2c), reading and recording
//! requests, and writing replies.

use std::collections::HashSet;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream;
use futures_util::task::AtomicWaker;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::{RecordedRequest, Reply, Shared, faults};
use crate::fake_upstream::reply::Chunk;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// Most a request body's buffer reserves up front from its `content-length`.
const MAX_PREALLOCATION: usize = 64 << 20;

pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owning the connection tasks here means aborting this task ends them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::trace!(%peer, "fake upstream: connection accepted");
                    let guard = ConnectionGuard::open(Arc::clone(&shared));
                    connections.spawn(serve_connection(stream, guard));
                }
                Err(err) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(%err, "fake upstream: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Counts a connection as open for as long as it lives.
struct ConnectionGuard(Arc<Shared>);

impl ConnectionGuard {
    fn open(shared: Arc<Shared>) -> ConnectionGuard {
        shared.connection_opened();
        ConnectionGuard(shared)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

/// What a connection's requests share with it.
struct Connection {
    /// A `Reply::Hangup` fires this; the connection is then dropped unanswered.
    hangup: Notify,
    /// Polls of the connection future begun, and finished (watchable), and the
    /// waker of its task: see [`Connection::written`].
    polls_started: AtomicU64,
    polls_finished: watch::Sender<u64>,
    waker: AtomicWaker,
}

impl Connection {
    /// Resolves once the connection has written out what its responses handed
    /// it so far: after a poll of the connection that began after this call
    /// (hyper's HTTP/1 and HTTP/2 connections write and flush their pending
    /// frames on every poll). Without it an HTTP/2 reset would discard the frames
    /// still queued, so `Chunk::Abort` could break a stream before its head.
    async fn written(&self) {
        let mut finished = self.polls_finished.subscribe();
        let target = self.polls_started.load(Ordering::SeqCst) + 1;
        // Make sure that poll happens.
        self.waker.wake();
        // The sender lives in `self`: this cannot fail.
        let _ = finished.wait_for(|finished| *finished >= target).await;
    }
}

async fn serve_connection(stream: TcpStream, guard: ConnectionGuard) {
    let _ = stream.set_nodelay(true);
    let shared = Arc::clone(&guard.0);
    let conn = Arc::new(Connection {
        hangup: Notify::new(),
        polls_started: AtomicU64::new(0),
        polls_finished: watch::Sender::new(0),
        waker: AtomicWaker::new(),
    });
    let service = {
        let conn = Arc::clone(&conn);
        service_fn(move |request| handle(Arc::clone(&shared), Arc::clone(&conn), request))
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if let Some(max) = guard.0.options().h2_max_streams {
        builder.http2().max_concurrent_streams(max);
    }
    let mut served = std::pin::pin!(builder.serve_connection(TokioIo::new(stream), service));
    let counted = std::future::poll_fn(|cx| {
        conn.waker.register(cx.waker());
        conn.polls_started.fetch_add(1, Ordering::SeqCst);
        let polled = served.as_mut().poll(cx);
        conn.polls_finished.send_modify(|finished| *finished += 1);
        polled
    });
    tokio::select! {
        served = counted => {
            if let Err(err) = served {
                tracing::debug!(%err, "fake upstream: connection ended with an error");
            }
        }
        () = conn.hangup.notified() => tracing::debug!("fake upstream: hung up"),
    }
    drop(guard);
}

async fn handle(
    shared: Arc<Shared>,
    conn: Arc<Connection>,
    request: Request<Incoming>,
) -> Result<Response<Tracked>, BoxError> {
    let (parts, body) = request.into_parts();
    let (seq, scripted) = shared.arrive(&parts);
    tracing::debug!(seq, method = %parts.method, uri = %parts.uri, version = ?parts.version, "fake upstream: request");
    let body = read_body(&shared, body).await?;
    let uri = parts.uri.path_and_query().map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
    let recorded = RecordedRequest { method: parts.method, uri, headers: parts.headers, body, version: parts.version };
    let reply = match scripted {
        Some(reply) => reply,
        None => faults::reply_for(&shared.faults, &recorded, seq, shared.options().api),
    };
    shared.record(seq, recorded);

    let mut reply = reply;
    loop {
        reply = match reply {
            Reply::Delay(delay, inner) => {
                tokio::time::sleep(delay).await;
                *inner
            }
            Reply::Hangup => {
                conn.hangup.notify_one();
                // The connection is dropped under this future.
                return std::future::pending().await;
            }
            Reply::Json { status, headers, body } => {
                let bytes = Bytes::from(serde_json::to_vec(&body)?);
                let defaults = [(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
                return respond(shared, status, &defaults, &headers, full(bytes));
            }
            Reply::Raw { status, headers, body } => return respond(shared, status, &[], &headers, full(body)),
            Reply::Sse { status, headers, chunks } => {
                let defaults = [
                    (CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
                    (http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                ];
                return respond(shared, status, &defaults, &headers, sse_body(chunks, conn));
            }
        };
    }
}

/// Reads the whole body, reporting its running length as it arrives.
async fn read_body(shared: &Shared, mut body: Incoming) -> Result<Bytes, hyper::Error> {
    let expected = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
    let mut buf = BytesMut::with_capacity(expected.min(MAX_PREALLOCATION));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
            shared.saw_body_bytes(buf.len());
        }
    }
    Ok(buf.freeze())
}

fn respond(
    shared: Arc<Shared>,
    status: u16,
    defaults: &[(HeaderName, HeaderValue)],
    headers: &[(String, String)],
    body: BoxBody,
) -> Result<Response<Tracked>, BoxError> {
    let mut response = Response::new(Tracked::new(body, shared));
    *response.status_mut() = StatusCode::from_u16(status)?;
    let map = response.headers_mut();
    for (name, value) in defaults {
        map.insert(name.clone(), value.clone());
    }
    // A scripted header replaces a default of the same name; repeats append.
    let mut seen = HashSet::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())?;
        let value = HeaderValue::from_str(value)?;
        if seen.insert(name.clone()) {
            map.insert(name, value);
        } else {
            map.append(name, value);
        }
    }
    Ok(response)
}

fn full(bytes: Bytes) -> BoxBody {
    Full::new(bytes).map_err(|never: Infallible| match never {}).boxed_unsync()
}

fn sse_body(chunks: Vec<Chunk>, conn: Arc<Connection>) -> BoxBody {
    let frames = stream::unfold((chunks.into_iter(), conn), |(mut chunks, conn)| async move {
        loop {
            match chunks.next()? {
                Chunk::Bytes(bytes) => return Some((Ok(Frame::data(bytes)), (chunks, conn))),
                Chunk::Forever(bytes) => {
                    let again: Vec<Chunk> = std::iter::once(Chunk::Forever(bytes.clone())).collect();
                    return Some((Ok(Frame::data(bytes)), (again.into_iter(), conn)));
                }
                Chunk::Sleep(duration) => tokio::time::sleep(duration).await,
                Chunk::Wait(notify) => notify.notified().await,
                Chunk::Abort => {
                    // Break after what came before has gone out, head included.
                    conn.written().await;
                    let err: BoxError = "FakeUpstream: Chunk::Abort".into();
                    return Some((Err(err), (Vec::new().into_iter(), conn)));
                }
                Chunk::Stall => std::future::pending::<()>().await,
            }
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

/// A response body that counts itself in `aborted_responses` when it is dropped
/// before its end.
pub(super) struct Tracked {
    inner: BoxBody,
    /// Sent to its end, or ended by the fake itself (`Chunk::Abort`).
    done: bool,
    shared: Arc<Shared>,
}

impl Tracked {
    fn new(inner: BoxBody, shared: Arc<Shared>) -> Tracked {
        let done = inner.is_end_stream();
        Tracked { inner, done, shared }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None | Some(Err(_))) => self.done = true,
            Poll::Ready(Some(Ok(_))) => self.done = self.inner.is_end_stream(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.done {
            tracing::debug!("fake upstream: response body dropped before its end");
            self.shared.response_aborted();
        }
    }
}
