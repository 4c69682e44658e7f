//! One attempt against one endpoint: build the upstream request, send it
//! under the provider's timeouts, and turn the answer into the client's
//! response. Nothing is sent to the client before the upstream has answered
//! (for streams: before its first event), so a failure up to that point is
//! still a clean error response.

use super::stream::{self, FirstEventError, Tail, Upstream};
use crate::body::{ProxyBody, full};
use crate::error::ProxyError;
use crate::runtime::Endpoint;
use crate::state::InflightGuard;
use crate::upstream::{self, headers::forwardable_response_headers};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use hyper::body::{Frame, Incoming, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::time::Instant;

/// Upstream error bodies are read up to this size (to scrub them) and cut beyond.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What to send upstream.
pub struct Attempt<'a> {
    pub method: Method,
    /// The path after `/v1`, e.g. `/chat/completions`.
    pub api_path: &'a str,
    /// The client's query without its `api_key`.
    pub query: Option<&'a str>,
    pub client_headers: &'a HeaderMap,
    pub body: OutBody,
    /// The upstream model this request is for (Azure puts it in the URL).
    pub model: Option<&'a str>,
    /// The client asked for a stream (`"stream": true`): the first-token deadline applies.
    pub stream: bool,
}

pub enum OutBody {
    Empty,
    /// A buffered body, possibly spliced: sent with an exact Content-Length.
    Parts(Vec<Bytes>),
    /// The client's body, streamed through unbuffered (uploads).
    Stream(Incoming),
}

/// Sends `attempt` to `endpoint`. Failures are counted on the endpoint and
/// answered as errors here; a response means the upstream answered.
pub async fn forward(endpoint: Arc<Endpoint>, attempt: Attempt<'_>, guard: InflightGuard) -> Response<ProxyBody> {
    match send(endpoint.clone(), attempt, guard).await {
        Ok(response) => response,
        Err(e) => {
            endpoint.stats.count(e.status().as_u16());
            e.into_response()
        }
    }
}

async fn send(
    endpoint: Arc<Endpoint>,
    attempt: Attempt<'_>,
    mut guard: InflightGuard,
) -> Result<Response<ProxyBody>, ProxyError> {
    guard.attach(&endpoint);
    let started = Instant::now();
    let provider = &endpoint.provider;
    let account = endpoint.account();
    let t = provider.timeouts;
    let total_deadline = started + t.total;
    let first_deadline = if attempt.stream { (started + t.first_token).min(total_deadline) } else { total_deadline };

    let url = upstream::url(provider, attempt.api_path, attempt.model, attempt.query);
    let mut headers = upstream::request_headers(attempt.client_headers, provider, account);
    let body = match attempt.body {
        OutBody::Empty => reqwest::Body::from(Bytes::new()),
        OutBody::Parts(parts) => {
            let len: usize = parts.iter().map(Bytes::len).sum();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            reqwest::Body::wrap(Parts(parts.into()))
        }
        OutBody::Stream(incoming) => {
            if let Some(len) = attempt.client_headers.get(header::CONTENT_LENGTH) {
                headers.insert(header::CONTENT_LENGTH, len.clone());
            }
            reqwest::Body::wrap(incoming)
        }
    };
    let request = provider.client.request(attempt.method, url).headers(headers).body(body);
    let sent = tokio::time::timeout_at(first_deadline, request.send()).await;
    let response = match sent {
        Err(_) => return Err(ProxyError::UpstreamTimeout(provider.name.to_string())),
        Ok(Err(e)) => {
            let e = e.without_url();
            tracing::warn!(provider = %provider.name, account = %account.name, error = %e, "upstream request failed");
            return Err(if e.is_connect() {
                ProxyError::UpstreamConnect(provider.name.to_string())
            } else if e.is_timeout() {
                ProxyError::UpstreamTimeout(provider.name.to_string())
            } else {
                ProxyError::Upstream(provider.name.to_string(), "the request could not be completed")
            });
        }
        Ok(Ok(response)) => response,
    };

    let status = response.status();
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        // Its body may quote the gateway's key; the client cannot fix it anyway.
        tracing::error!(provider = %provider.name, account = %account.name, status = status.as_u16(), "upstream refused the account's credentials");
        return Err(ProxyError::UpstreamAuth(provider.name.to_string()));
    }
    endpoint.stats.count(status.as_u16());
    let mut client_headers = forwardable_response_headers(response.headers());
    let tail = Tail { _guard: guard, endpoint: endpoint.clone(), started };

    if !status.is_success() {
        let body = read_error_body(response, total_deadline).await;
        let body = scrub(&body, account.secret.expose());
        return Ok(respond(status, client_headers, full(body)));
    }

    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    let mut upstream: Upstream = response.bytes_stream().boxed();
    let body = if is_sse {
        let (first, parser) =
            stream::first_event(&mut upstream, first_deadline.min(total_deadline)).await.map_err(|e| match e {
                FirstEventError::Timeout => ProxyError::UpstreamTimeout(provider.name.to_string()),
                FirstEventError::Ended | FirstEventError::Broken => {
                    ProxyError::Upstream(provider.name.to_string(), "the stream ended before its first event")
                }
            })?;
        endpoint.stats.first_token.observe(started.elapsed());
        client_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        stream::body(upstream, Some(parser), Some(first), t.idle, total_deadline, provider.name.clone(), tail)
    } else {
        stream::body(upstream, None, None, t.total, total_deadline, provider.name.clone(), tail)
    };
    Ok(respond(status, client_headers, body))
}

fn respond(status: StatusCode, headers: HeaderMap, body: ProxyBody) -> Response<ProxyBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

async fn read_error_body(response: reqwest::Response, deadline: Instant) -> Bytes {
    let mut stream = response.bytes_stream();
    let mut out = Vec::new();
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            let room = MAX_ERROR_BODY - out.len();
            out.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if out.len() >= MAX_ERROR_BODY {
                break;
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, read).await;
    Bytes::from(out)
}

/// `body` with every occurrence of `secret` masked.
fn scrub(body: &Bytes, secret: &str) -> Bytes {
    if secret.len() < 4 || !body.windows(secret.len()).any(|w| w == secret.as_bytes()) {
        return body.clone();
    }
    let text = String::from_utf8_lossy(body).replace(secret, "[redacted]");
    Bytes::from(text)
}

/// A buffered body in slices, with its exact length as the size hint.
struct Parts(VecDeque<Bytes>);

impl hyper::body::Body for Parts {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_masks_the_key() {
        let body = Bytes::from_static(b"{\"error\":\"bad key sk-secret-123 given\"}");
        assert_eq!(scrub(&body, "sk-secret-123"), Bytes::from_static(b"{\"error\":\"bad key [redacted] given\"}"));
        assert_eq!(scrub(&body, "other-key"), body);
    }
}
