//! What the control plane's own outbound HTTP calls (provider probes, alert
//! deliveries) may say when they fail. Webhook URLs carry access tokens, API
//! keys and proxy URLs are credentials, and reqwest's own messages quote the
//! URL: errors are built from the innermost cause, on one line, bounded, with
//! every secret the caller names replaced.

use std::error::Error as _;

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
pub async fn body(mut response: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = BODY_LIMIT - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= BODY_LIMIT {
            break;
        }
    }
    out
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
