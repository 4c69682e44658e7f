//! How an upstream says "not now" or "not this account": its `Retry-After`,
//! and OpenAI's `insufficient_quota` inside a 429.

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
}
