//! The client side of one worker: a connection (HTTP/1.1 or a share of an
//! h2c connection), sending one request and reading its answer to the end.

use super::Plan;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchyard_tests::load::mix::Kind;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A short description of an error and its causes.
pub(super) fn reason(context: &str, err: &dyn Error) -> String {
    let mut reason = format!("{context}: {err}");
    let mut source = err.source();
    while let Some(err) = source {
        reason.push_str(": ");
        reason.push_str(&err.to_string());
        source = err.source();
    }
    reason
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

pub(super) async fn connect(addr: SocketAddr) -> Result<TokioIo<TcpStream>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|err| reason("connect", &err))?;
    stream.set_nodelay(true).map_err(|err| reason("connect", &err))?;
    Ok(TokioIo::new(stream))
}

/// One h2c connection that some workers share, (re)connected on demand.
pub(super) struct H2Connection {
    pub(super) sender: tokio::sync::Mutex<Option<http2::SendRequest<Full<Bytes>>>>,
}

impl H2Connection {
    /// A sender on the open connection, or on a new one if there is none.
    async fn sender(&self, addr: SocketAddr) -> Result<http2::SendRequest<Full<Bytes>>, String> {
        let mut sender = self.sender.lock().await;
        if let Some(sender) = sender.as_ref()
            && !sender.is_closed()
        {
            return Ok(sender.clone());
        }
        let (new, connection) = http2::handshake(TokioExecutor::new(), connect(addr).await?)
            .await
            .map_err(|err| reason("h2 handshake", &err))?;
        tokio::spawn(connection);
        *sender = Some(new.clone());
        Ok(new)
    }
}

/// A worker's way to send requests: its own HTTP/1.1 keep-alive connection,
/// or its handle on a shared h2c one. Either is opened on first use and
/// reopened when the server closes it.
pub(super) enum Connection {
    Http1(Option<http1::SendRequest<Full<Bytes>>>),
    Http2(Arc<H2Connection>, Option<http2::SendRequest<Full<Bytes>>>),
}

impl Connection {
    async fn send(&mut self, plan: &Plan, mut request: Request<Full<Bytes>>) -> Result<Response<Incoming>, String> {
        match self {
            Connection::Http1(slot) => {
                if let Some(sender) = slot.as_mut()
                    && sender.ready().await.is_err()
                {
                    *slot = None;
                }
                let sender = match slot {
                    Some(sender) => sender,
                    None => {
                        let (sender, connection) = http1::handshake(connect(plan.addr).await?)
                            .await
                            .map_err(|err| reason("handshake", &err))?;
                        tokio::spawn(connection);
                        slot.insert(sender)
                    }
                };
                *request.uri_mut() = plan.path.clone();
                request.headers_mut().insert(HOST, plan.host.clone());
                sender.send_request(request).await.map_err(|err| reason("request", &err))
            }
            Connection::Http2(shared, slot) => {
                if let Some(sender) = slot.as_mut()
                    && sender.ready().await.is_err()
                {
                    *slot = None;
                }
                let sender = match slot {
                    Some(sender) => sender,
                    None => slot.insert(shared.sender(plan.addr).await?),
                };
                *request.uri_mut() = plan.url.clone();
                sender.send_request(request).await.map_err(|err| reason("request", &err))
            }
        }
    }
}

/// How a request went, when it went as its kind wants.
pub(super) struct Answer {
    /// The first `data:` frame (streams).
    pub(super) ttft: Option<Duration>,
    /// The client left mid-stream: the connection must not be reused.
    pub(super) left: bool,
}

/// The largest error body read for checking.
pub(super) const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sends one request of `kind` and reads the response as that kind wants (to
/// the end, or for `Disconnect` to the first `data:` frame).
pub(super) async fn send(
    connection: &mut Connection,
    plan: &Plan,
    kind: Kind,
    start: Instant,
) -> Result<Answer, String> {
    let mut request = Request::new(Full::new(plan.bodies[kind.index()].clone()));
    *request.method_mut() = Method::POST;
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, plan.content_type.clone());
    if let Some(authorization) = &plan.authorization {
        headers.insert(AUTHORIZATION, authorization.clone());
    }
    let response = connection.send(plan, request).await?;
    let status = response.status();
    let wanted = if kind == Kind::Error { status.is_server_error() } else { status.is_success() };
    let mut body = response.into_body();
    let mut ttft = None;
    // The last bytes of a stream (for its `[DONE]`), or an error body.
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| reason("body", &err))?;
        let Some(data) = frame.data_ref() else { continue };
        if kind.stream() && ttft.is_none() && contains(data, b"data:") {
            ttft = Some(start.elapsed());
            if kind == Kind::Disconnect && wanted {
                return Ok(Answer { ttft, left: true });
            }
        }
        match kind {
            Kind::Stream => {
                kept.extend_from_slice(data);
                kept.drain(..kept.len().saturating_sub(DONE.len()));
            }
            Kind::Error if kept.len() < MAX_ERROR_BODY => kept.extend_from_slice(data),
            _ => {}
        }
    }
    if !wanted {
        return Err(format!("status {}", status.as_u16()));
    }
    match kind {
        Kind::Stream if kept != DONE => Err("a stream that did not end with data: [DONE]".into()),
        Kind::Disconnect => Err("a stream that ended before its first data frame".into()),
        Kind::Error if !is_openai_error(&kept) => {
            Err(format!("status {} without an OpenAI error body", status.as_u16()))
        }
        _ => Ok(Answer { ttft, left: false }),
    }
}

pub(super) const DONE: &[u8] = b"data: [DONE]\n\n";

/// `{"error": {"message": "...", ...}}`.
pub(super) fn is_openai_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["error"]["message"].is_string())
}
