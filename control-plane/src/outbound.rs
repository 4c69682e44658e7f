//! The control plane's own outbound HTTP calls (provider probes, balance
//! polls, alert deliveries): a client built like the data plane's for a
//! provider, and what they may say when they fail. Webhook URLs carry access tokens, API
//! keys and proxy URLs are credentials, and reqwest's own messages quote the
//! URL: errors are built from the innermost cause, on one line, bounded, with
//! every secret the caller names replaced.

use std::error::Error as _;
use std::time::Duration;
use switchyard_proto::model::Provider;

/// Longest error text returned.
pub const ERROR_LEN: usize = 200;
/// Most of a response body read (for an error message or a provider's answer).
pub const BODY_LIMIT: usize = 16 << 10;

/// `text` without any of `secrets`, on one line, at most [`ERROR_LEN`] characters.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        text = text.replace(s, "<redacted>");
    }
    match text.char_indices().nth(ERROR_LEN) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// What went wrong with a request, from its innermost cause, scrubbed.
pub fn describe(e: &reqwest::Error, secrets: &[&str]) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    let mut cause: Option<&dyn std::error::Error> = None;
    let mut next = e.source();
    while let Some(source) = next {
        cause = Some(source);
        next = source.source();
    }
    match cause {
        Some(cause) => scrub(&format!("{what}: {cause}"), secrets),
        None => what.to_owned(),
    }
}

/// Up to [`BODY_LIMIT`] bytes of the body; whatever arrived when reading fails.
pub async fn body(response: reqwest::Response) -> Vec<u8> {
    body_up_to(response, BODY_LIMIT).await.0
}

/// Up to `limit` bytes of the body, and whether it was whole (neither longer
/// nor cut short by a failed read).
pub async fn body_up_to(mut response: reqwest::Response, limit: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - out.len();
                out.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    return (out, false);
                }
            }
            Ok(None) => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

/// The message of an OpenAI/Anthropic/Gemini-style error body, if any.
pub fn upstream_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = value.pointer("/error/message").or_else(|| value.get("message")).or_else(|| value.get("error"))?;
    message.as_str().map(str::to_owned)
}

/// A client like the data plane's for `p`: its proxy (or none), its connect
/// timeout (at most `timeout`), HTTP/1.1 or HTTP/2; every request ends within
/// `timeout`; redirects are not followed.
pub fn provider_client(p: &Provider, connect: Duration, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect.min(timeout))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false);
    builder = match (p.http2, p.base_url.starts_with("http://")) {
        (true, true) => builder.http2_prior_knowledge(),
        (true, false) => builder,
        (false, _) => builder.http1_only(),
    };
    builder = match &p.proxy {
        // reqwest's message would quote the proxy URL, credentials included.
        Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.expose()).map_err(|_| "invalid proxy URL".to_owned())?),
        None => builder.no_proxy(),
    };
    builder.build().map_err(|_| "cannot build an HTTP client".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_secrets_and_bounds_the_text() {
        let text = scrub("bad key sk-secret-123 at\nhttp://x", &["sk-secret-123"]);
        assert_eq!(text, "bad key <redacted> at http://x");
        assert!(scrub(&"x".repeat(1000), &[]).len() <= ERROR_LEN + 3);
    }
}
