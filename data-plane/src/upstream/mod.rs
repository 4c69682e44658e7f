//! Building the upstream request for OpenAI-speaking providers (`openai`,
//! `openai-compatible`, `azure`): URL, auth, and which client headers may
//! travel; and sending it ([`send`]) with the provider's client: reqwest over
//! HTTP/1.1, or the HTTP/2 pool ([`h2pool`]). What it reaches is a prepared
//! [`provider::ProviderEntry`]; what comes back has the account's key masked
//! (the `scrub` module). Translation for other kinds arrives with its own adapters.

pub mod body;
pub mod client;
mod connect;
mod error;
pub mod h2pool;
pub mod headers;
pub mod path;
pub mod provider;
pub mod refusal;
pub(crate) mod scrub;

pub use body::OutgoingBody;
pub use client::{Client, send};
pub use error::SendError;

/// Upstream response body chunks.
pub type Upstream = Pin<Box<dyn Stream<Item = Result<Bytes, Broken>> + Send>>;

/// An upstream body that failed mid-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broken;

use bytes::Bytes;
use futures_util::Stream;
use http::HeaderMap;
use provider::{AccountEntry, ProviderEntry};
use std::pin::Pin;
use switchyard_proto::model::ProviderKind;

/// The upstream URL for `api_path` (the path after `/v1`, e.g. `/chat/completions`).
/// `query` has already lost the client's `api_key`. Refused unless the
/// result stays under the provider's base path: `api_path` must pass
/// [`path::check`], and an azure deployment may not be a dot segment.
pub fn url(
    provider: &ProviderEntry,
    api_path: &str,
    model: Option<&str>,
    query: Option<&str>,
) -> Result<String, path::Unsafe> {
    let azure = (provider.kind == ProviderKind::Azure).then(|| provider.api_version.as_deref().unwrap_or_default());
    join(&provider.base_url, azure, api_path, model, query)
}

/// [`url`] for a base URL (without a trailing `/`) and, for azure, its `api-version`.
fn join(
    base_url: &str,
    azure_version: Option<&str>,
    api_path: &str,
    model: Option<&str>,
    query: Option<&str>,
) -> Result<String, path::Unsafe> {
    path::check(api_path)?;
    let mut url = String::with_capacity(base_url.len() + api_path.len() + 64);
    url.push_str(base_url);
    let mut query_parts: Vec<&str> = Vec::new();
    let api_version;
    if let Some(version) = azure_version {
        // https://{resource}.openai.azure.com/openai/deployments/{deployment}/chat/completions?api-version=...
        url.push_str("/openai");
        if let Some(deployment) = model {
            match deployment {
                "" => return Err(path::Unsafe::EmptySegment),
                "." | ".." => return Err(path::Unsafe::DotSegment),
                _ => {}
            }
            url.push_str("/deployments/");
            url.push_str(&percent_encode_segment(deployment));
        }
        api_version = format!("api-version={version}");
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
    Ok(url)
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

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://upstream.example/tenant/v1";

    /// The URL as reqwest and the HTTP/2 pool will read it: under the base path, same origin.
    fn assert_under_base(url: &str, base: &str) {
        let (parsed, base) = (url::Url::parse(url).unwrap(), url::Url::parse(base).unwrap());
        assert_eq!(parsed.origin(), base.origin(), "{url}");
        let prefix = format!("{}/", base.path());
        assert!(parsed.path().starts_with(&prefix), "{url} left {prefix}: {}", parsed.path());
        assert!(!parsed.path()[prefix.len()..].split('/').any(|s| s.is_empty() || s == "." || s == ".."), "{url}");
    }

    #[test]
    fn joins_plain_paths() {
        let url = join(BASE, None, "/files/file-1/content", None, Some("limit=2")).unwrap();
        assert_eq!(url, "https://upstream.example/tenant/v1/files/file-1/content?limit=2");
        let url = join("https://r.openai.azure.com", Some("2024-10-21"), "/chat/completions", Some("gpt 4o"), None);
        assert_eq!(
            url.unwrap(),
            "https://r.openai.azure.com/openai/deployments/gpt%204o/chat/completions?api-version=2024-10-21"
        );
    }

    #[test]
    fn hostile_paths_never_leave_the_base_path() {
        for path in
            ["/../admin", "/%2e%2e/admin", "/.%2E/admin", "/a/../../etc/passwd", "/..;/x", "//evil.example/x", "*"]
        {
            assert!(join(BASE, None, path, None, None).is_err(), "{path}");
        }
        for deployment in ["..", ".", ""] {
            let joined = join("https://r.openai.azure.com", Some("v"), "/chat/completions", Some(deployment), None);
            assert!(joined.is_err(), "deployment {deployment:?}");
        }
        // Every path of up to three pieces from a hostile alphabet: refused, or joined under the base.
        let pieces =
            ["/", ".", "..", "%2e", "%2E", "%2f", "%5c", "\\", ";", "%", "%25", "?", "#", "a", "%3b", "@", ":", "%00"];
        let mut joined = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let path = format!("/{a}{b}{c}");
                    if let Ok(url) = join(BASE, None, &path, None, None) {
                        assert_under_base(&url, BASE);
                        joined += 1;
                    }
                }
            }
        }
        assert!(joined > 100, "the alphabet has harmless paths too ({joined})");
        let deployments = ["..%2f", "a/../..", "%2e%2e", "../x", "..\\"];
        for deployment in deployments {
            let url = join(BASE, Some("v"), "/chat/completions", Some(deployment), None).unwrap();
            assert_under_base(&url, BASE);
        }
    }
}
