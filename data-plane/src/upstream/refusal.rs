//! How an upstream says "not now" or "not this account": its `Retry-After`,
//! OpenAI's `insufficient_quota` inside a 429, and the message of an error
//! answer (for the error that lists every failed attempt).

use http::{HeaderMap, header};
use std::time::Duration;

/// `Retry-After` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// OpenAI signals an exhausted account with a 429 whose code is `insufficient_quota`.
pub fn is_quota(body: &[u8]) -> bool {
    body.windows(b"insufficient_quota".len()).any(|w| w == b"insufficient_quota")
}

/// The most characters of a provider's message an aggregate error keeps per attempt.
pub const MAX_DETAIL: usize = 200;

/// The provider's own words in an error body (scrubbed already): the
/// `error.message` of OpenAI's, Anthropic's and Gemini's shapes (Gemini's
/// also as a one-element array), a string `error` or `message`; else the
/// body itself when it is short text and not markup. See [`detail`].
pub fn message(body: &[u8]) -> Option<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        let text = std::str::from_utf8(body).ok()?.trim();
        return (text.len() <= 2 * MAX_DETAIL && !text.starts_with('<')).then(|| detail(text)).flatten();
    };
    let value = match &value {
        serde_json::Value::Array(items) if items.len() == 1 => &items[0],
        other => other,
    };
    let error = &value["error"];
    let text = error["message"].as_str().or_else(|| error.as_str()).or_else(|| value["message"].as_str())?;
    detail(text)
}

/// `text` for an error message: control characters as spaces, at most
/// [`MAX_DETAIL`] characters (then `...`); `None` when nothing is left.
pub fn detail(text: &str) -> Option<String> {
    let text = text.trim();
    let mut out: String = text.chars().take(MAX_DETAIL).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().nth(MAX_DETAIL).is_some() {
        out.push_str("...");
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn retry_after_in_both_forms_and_quota_in_the_body() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
        assert!(is_quota(br#"{"error":{"code":"insufficient_quota"}}"#));
        assert!(!is_quota(br#"{"error":{"code":"rate_limit_exceeded"}}"#));
    }

    #[test]
    fn messages_of_every_shape_bounded() {
        let openai = br#"{"error":{"message":"boom\nagain","type":"server_error","param":null,"code":null}}"#;
        assert_eq!(message(openai).as_deref(), Some("boom again"));
        let anthropic = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(message(anthropic).as_deref(), Some("Overloaded"));
        let gemini = br#"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#;
        assert_eq!(message(gemini).as_deref(), Some("The model is overloaded."));
        assert_eq!(message(br#"{"error":"upstream timeout"}"#).as_deref(), Some("upstream timeout"));
        assert_eq!(message(b"Bad Gateway").as_deref(), Some("Bad Gateway"));
        assert_eq!(message(b"<html><body>502</body></html>"), None);
        assert_eq!(message(b"{}"), None);
        assert_eq!(message(b""), None);
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(500));
        assert_eq!(message(long.as_bytes()).map(|m| m.chars().count()), Some(MAX_DETAIL + 3));
    }
}
