//! Client keys: `Authorization: Bearer`, `x-api-key`, `api-key` or
//! `?api_key=`, looked up by SHA-256 in the Runtime; then the key's limits.

use crate::error::{ProxyError, Unit};
use crate::limit::{KeyLimit, Refused};
use crate::metrics::{Metrics, Refusal};
use crate::runtime::{KeyEntry, Runtime};
use http::HeaderMap;
use std::sync::Arc;
use switchyard_proto::model::KeyHash;

/// The key the client presented, in the order the forms are checked.
pub fn presented_key<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty());
    if let Some(auth) = header("authorization") {
        let (scheme, token) = auth.split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            return Some(token.trim());
        }
    }
    header("x-api-key").or_else(|| header("api-key")).or_else(|| query_key(query?))
}

fn query_key(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| pair.strip_prefix("api_key=")).filter(|k| !k.is_empty())
}

/// The query string without `api_key=...`: the client's credential never goes upstream.
pub fn strip_key_from_query(query: &str) -> Option<String> {
    let kept: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("api_key=")).collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

pub fn authenticate(
    rt: &Runtime,
    headers: &HeaderMap,
    query: Option<&str>,
    now_unix: i64,
) -> Result<Arc<KeyEntry>, ProxyError> {
    let key = presented_key(headers, query).ok_or(ProxyError::MissingKey)?;
    let entry = rt.key(&KeyHash::of(key)).ok_or(ProxyError::InvalidKey)?;
    if !entry.enabled {
        return Err(ProxyError::DisabledKey);
    }
    if entry.expires_unix.is_some_and(|t| t <= now_unix) {
        return Err(ProxyError::ExpiredKey);
    }
    Ok(entry.clone())
}

/// The key's limits, before anything is read: its budget (a key over budget
/// spends none of its rate), then whether a token of this node's share of its
/// `tpm` is left (the request's tokens are charged when it has ended: see
/// `limit`), then this node's share of its `rpm`, which every request with the
/// key takes one of. No lock, no allocation unless refused.
pub fn admit(rt: &Runtime, key: &KeyEntry, metrics: &Metrics) -> Result<(), ProxyError> {
    if key.over_budget {
        metrics.refuse(Refusal::OverBudget);
        return Err(ProxyError::OverBudget { key: key.name.clone(), period: key.budget_period });
    }
    let now = rt.clock.now();
    let refused = |unit, limit: &KeyLimit, refused: Refused| {
        metrics.refuse(Refusal::RateLimited);
        ProxyError::RateLimited {
            key: key.name.clone(),
            unit,
            rate: limit.rate,
            retry_after_secs: refused.retry_after_secs(),
            remaining: refused.remaining,
        }
    };
    if let Some(limit) = &key.token_limit {
        limit.limiter.check(&limit.rate, now).map_err(|r| refused(Unit::Tokens, limit, r))?;
    }
    if let Some(limit) = &key.rate_limit {
        limit.limiter.admit(&limit.rate, now).map_err(|r| refused(Unit::Requests, limit, r))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn all_four_forms() {
        assert_eq!(presented_key(&headers(&[("authorization", "Bearer k1")]), None), Some("k1"));
        assert_eq!(presented_key(&headers(&[("authorization", "bearer  k1 ")]), None), Some("k1"));
        assert_eq!(presented_key(&headers(&[("x-api-key", "k2")]), None), Some("k2"));
        assert_eq!(presented_key(&headers(&[("api-key", "k3")]), None), Some("k3"));
        assert_eq!(presented_key(&headers(&[]), Some("a=1&api_key=k4")), Some("k4"));
        assert_eq!(presented_key(&headers(&[("authorization", "Basic x")]), None), None);
        assert_eq!(presented_key(&headers(&[]), Some("api_key=")), None);
    }

    #[test]
    fn query_loses_the_key() {
        assert_eq!(strip_key_from_query("api_key=k&a=1").as_deref(), Some("a=1"));
        assert_eq!(strip_key_from_query("api_key=k"), None);
        assert_eq!(strip_key_from_query("a=1&b=2").as_deref(), Some("a=1&b=2"));
    }
}
