//! The one error for a request whose attempts all failed: 504 when they all
//! timed out; 429 `rate_limit_exceeded` when every upstream refused it for
//! now (429s; some may be out of quota, not all), with the shortest
//! `Retry-After` they gave, capped at the breaker's `max_cooldown` (the
//! longest a 429 holds its endpoint Open); 503 when they were all out of
//! quota; 502 otherwise. Its message lists each attempt: the endpoint, what
//! failed and, for an error answer, the provider's own message (scrubbed of
//! the account's key and bounded, see [`crate::upstream::refusal::message`]).

use super::Failed;
use crate::breaker::Failure;
use crate::error::ProxyError;
use http::StatusCode;
use switchyard_proto::model::BreakerPolicy;

/// One failed attempt, as the aggregate error tells it.
pub struct Attempted {
    failure: Failure,
    /// `{provider}/{account}: {reason}`, then ` ({provider's message})`.
    line: String,
}

impl Attempted {
    /// `failed`, an attempt at the endpoint `label` names.
    pub fn of(failed: &Failed, label: String) -> Self {
        let line = match &failed.detail {
            Some(detail) => format!("{label}: {} ({detail})", failed.reason),
            None => format!("{label}: {}", failed.reason),
        };
        Self { failure: failed.failure, line }
    }
}

pub fn aggregate(failures: &[Attempted], policy: &BreakerPolicy) -> ProxyError {
    let all = |f: fn(&Failure) -> bool| !failures.is_empty() && failures.iter().all(|a| f(&a.failure));
    let refused = |f: &Failure| matches!(f, Failure::RateLimited { .. } | Failure::Quota);
    let summary = |what: &str| {
        let list: Vec<&str> = failures.iter().map(|a| a.line.as_str()).collect();
        match failures.len() {
            1 => format!("The upstream attempt {what}: {}.", list[0]),
            n => format!("All {n} upstream attempts {what}: {}.", list.join("; ")),
        }
    };
    if all(|f| matches!(f, Failure::Timeout)) {
        return ProxyError::AttemptsFailed { status: StatusCode::GATEWAY_TIMEOUT, summary: summary("failed") };
    }
    let limited = failures.iter().any(|a| matches!(a.failure, Failure::RateLimited { .. }));
    if all(refused) && limited {
        let shortest = failures
            .iter()
            .filter_map(|a| match a.failure {
                Failure::RateLimited { retry_after } => retry_after,
                _ => None,
            })
            .min();
        let retry_after_secs = shortest.map(|d| d.min(policy.max_cooldown).as_secs_f64().ceil() as u64);
        let mut summary = summary("were rate limited");
        if let Some(secs) = retry_after_secs {
            summary.push_str(&format!(" Retry in {secs} s."));
        }
        return ProxyError::UpstreamRateLimited { summary, retry_after_secs };
    }
    let status = if all(refused) { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY };
    ProxyError::AttemptsFailed { status, summary: summary("failed") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn attempt(failure: Failure, line: &str) -> Attempted {
        Attempted { failure, line: line.to_owned() }
    }

    fn limited(secs: Option<u64>) -> Failure {
        Failure::RateLimited { retry_after: secs.map(Duration::from_secs) }
    }

    #[test]
    fn rate_limits_answer_429_with_the_shortest_retry_after_capped() {
        let policy = BreakerPolicy { max_cooldown: Duration::from_secs(60), ..BreakerPolicy::default() };
        let error = aggregate(
            &[attempt(limited(Some(30)), "a/k: HTTP 429 (slow down)"), attempt(limited(Some(7)), "b/k: HTTP 429")],
            &policy,
        );
        assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.code(), "rate_limit_exceeded");
        let ProxyError::UpstreamRateLimited { retry_after_secs, summary } = &error else { panic!("{error:?}") };
        assert_eq!(*retry_after_secs, Some(7));
        assert_eq!(
            summary,
            "All 2 upstream attempts were rate limited: a/k: HTTP 429 (slow down); b/k: HTTP 429. Retry in 7 s."
        );

        let capped = aggregate(&[attempt(limited(Some(3600)), "a"), attempt(Failure::Quota, "b")], &policy);
        assert!(matches!(capped, ProxyError::UpstreamRateLimited { retry_after_secs: Some(60), .. }), "{capped:?}");
        let unsaid = aggregate(&[attempt(limited(None), "a")], &policy);
        assert!(matches!(unsaid, ProxyError::UpstreamRateLimited { retry_after_secs: None, .. }), "{unsaid:?}");
    }

    #[test]
    fn other_failures_keep_502_503_504() {
        let policy = BreakerPolicy::default();
        let status = |failures: &[Attempted]| aggregate(failures, &policy).status().as_u16();
        assert_eq!(status(&[attempt(limited(Some(1)), "a"), attempt(Failure::Server, "b")]), 502);
        assert_eq!(status(&[attempt(Failure::Quota, "a"), attempt(Failure::Quota, "b")]), 503);
        assert_eq!(status(&[attempt(Failure::Timeout, "a")]), 504);
        assert_eq!(status(&[attempt(Failure::Connect, "a")]), 502);
    }
}
