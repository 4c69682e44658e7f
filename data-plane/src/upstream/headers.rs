//! Which headers cross the proxy, in each direction.

use http::{HeaderMap, HeaderName, header};

/// Never forwarded in either direction (RFC 9110 §7.6.1), plus `Connection`'s own list.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Client headers that must not reach the upstream: its credentials, what
/// identifies it to OpenAI, and what the proxy sets itself. `Accept-Encoding`
/// is dropped so upstream bodies arrive as identity, which the proxy reads.
const CLIENT_ONLY: [&str; 11] = [
    "authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "cookie",
    "host",
    "content-length",
    "accept-encoding",
    "openai-organization",
    "openai-project",
    "expect",
];

/// Upstream response headers the client must not see: cookies and account identity.
const UPSTREAM_ONLY: [&str; 5] = ["set-cookie", "openai-organization", "openai-project", "content-length", "alt-svc"];

fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn filtered(headers: &HeaderMap, drop: &[&str]) -> HeaderMap {
    let listed = connection_listed(headers);
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(name) || drop.contains(&n) || listed.iter().any(|l| l == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

pub fn forwardable_request_headers(client: &HeaderMap) -> HeaderMap {
    filtered(client, &CLIENT_ONLY)
}

/// Response headers for the client; `Content-Length` is recomputed downstream.
pub fn forwardable_response_headers(upstream: &HeaderMap) -> HeaderMap {
    filtered(upstream, &UPSTREAM_ONLY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn credentials_and_hop_by_hop_stay_behind() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer client"),
            ("x-api-key", "client"),
            ("api-key", "client"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("accept-encoding", "gzip"),
            ("content-type", "application/json"),
            ("openai-beta", "assistants=v2"),
            ("x-stainless-lang", "python"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let out = forwardable_request_headers(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type", "openai-beta", "x-stainless-lang"]);
    }
}
