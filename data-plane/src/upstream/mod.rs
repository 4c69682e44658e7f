//! Building the upstream request for OpenAI-speaking providers (`openai`,
//! `openai-compatible`, `azure`): URL, auth, and which client headers may
//! travel; and sending it ([`send`]) with the provider's client: reqwest over
//! HTTP/1.1, or the HTTP/2 pool ([`h2pool`]). Translation for other kinds
//! arrives with its own adapters.

pub mod body;
pub mod client;
mod connect;
mod error;
pub mod h2pool;
pub mod headers;

pub use body::OutgoingBody;
pub use client::{Client, send};
pub use error::SendError;

/// Upstream response body chunks.
pub type Upstream = Pin<Box<dyn Stream<Item = Result<Bytes, Broken>> + Send>>;

/// An upstream body that failed mid-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broken;

use crate::runtime::{AccountEntry, ProviderEntry};
use bytes::Bytes;
use futures_util::Stream;
use http::HeaderMap;
use std::pin::Pin;
use switchyard_proto::model::ProviderKind;

/// The upstream URL for `api_path` (the path after `/v1`, e.g. `/chat/completions`).
/// `query` has already lost the client's `api_key`.
pub fn url(provider: &ProviderEntry, api_path: &str, model: Option<&str>, query: Option<&str>) -> String {
    let mut url = String::with_capacity(provider.base_url.len() + api_path.len() + 64);
    url.push_str(&provider.base_url);
    let mut query_parts: Vec<&str> = Vec::new();
    let api_version;
    if provider.kind == ProviderKind::Azure {
        // https://{resource}.openai.azure.com/openai/deployments/{deployment}/chat/completions?api-version=...
        url.push_str("/openai");
        if let Some(deployment) = model {
            url.push_str("/deployments/");
            url.push_str(&percent_encode_segment(deployment));
        }
        api_version = format!("api-version={}", provider.api_version.as_deref().unwrap_or_default());
        query_parts.push(&api_version);
    }
    url.push_str(api_path);
    if let Some(q) = query {
        query_parts.push(q);
    }
    if !query_parts.is_empty() {
        url.push('?');
        url.push_str(&query_parts.join("&"));
    }
    url
}

/// Headers for the upstream: the client's minus credentials and hop-by-hop,
/// plus the provider's static headers and the account's auth.
pub fn request_headers(client: &HeaderMap, provider: &ProviderEntry, account: &AccountEntry) -> HeaderMap {
    let mut out = headers::forwardable_request_headers(client);
    for (name, value) in &provider.headers {
        out.insert(name.clone(), value.clone());
    }
    out.insert(account.auth.0.clone(), account.auth.1.clone());
    out
}

fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
