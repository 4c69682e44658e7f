//! One send path for both upstream clients: reqwest over HTTP/1.1 (the
//! default), or the HTTP/2 pool ([`super::h2pool`]) for `http2: true`.

use super::body::OutgoingBody;
use super::error::SendError;
use super::h2pool::H2Pool;
use super::provider::ProviderEntry;
use super::{Broken, Upstream};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, Method, Request, StatusCode, Uri, Version};
use std::sync::Arc;

/// A provider's upstream client; cloning shares its connections.
#[derive(Clone)]
pub enum Client {
    /// HTTP/1.1 only (an https upstream never negotiates h2 onto one connection).
    Http1(reqwest::Client),
    Http2(Arc<H2Pool>),
}

/// Sends one request to `provider` and returns the response head and body.
pub async fn send(
    provider: &ProviderEntry,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: OutgoingBody,
) -> Result<(StatusCode, HeaderMap, Upstream), SendError> {
    match &provider.client {
        Client::Http1(client) => {
            let body = match body {
                OutgoingBody::Empty => reqwest::Body::from(Bytes::new()),
                body => reqwest::Body::wrap(body),
            };
            let sent = client.request(method, url).headers(headers).body(body).send().await;
            let mut response = sent.map_err(reqwest_error)?;
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            // The error's detail (which may name the URL) is not needed: a broken body is a broken body.
            let upstream = response.bytes_stream().map(|chunk| chunk.map_err(|_| Broken)).boxed();
            Ok((status, headers, upstream))
        }
        Client::Http2(pool) => {
            let uri = Uri::try_from(url).map_err(|_| SendError::Other("invalid upstream URL".into()))?;
            let mut request = Request::new(body);
            *request.method_mut() = method;
            *request.uri_mut() = uri;
            *request.headers_mut() = headers;
            *request.version_mut() = Version::HTTP_2;
            pool.send(request).await
        }
    }
}

fn reqwest_error(e: reqwest::Error) -> SendError {
    let e = e.without_url();
    if e.is_timeout() {
        SendError::Timeout
    } else if e.is_connect() {
        SendError::Connect(e.into())
    } else {
        SendError::Other(e.into())
    }
}
