//! One attempt against one endpoint: build the upstream request, send it
//! under the provider's timeouts, and judge the answer before anything
//! reaches the client: a stream must produce its first event, a JSON body
//! must be complete and valid. [`super::failover`] decides what to do with a
//! failed attempt. Everything the upstream sends has the account's key
//! masked ([`crate::upstream::scrub`]).

use super::answer::{self, MAX_ERROR_BODY, ReadError};
use super::payload::OutBody;
use super::stream::{self, FirstEventError, Upstream};
use crate::breaker::Failure;
use crate::budget::{BodyBudget, FREE_BYTES, Held};
use crate::error::ProxyError;
use crate::runtime::{Endpoint, ProviderEntry};
use crate::sse::Event;
use crate::sse::bounded::{Events, EventsError};
use crate::translate::{Adapter, Route, Translated};
use crate::upstream::scrub;
use crate::upstream::{self, OutgoingBody, SendError, headers::forwardable_response_headers};
use crate::usage::tap::Text;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use std::time::Duration;
use tokio::time::Instant;

/// What every attempt of one request sends, apart from the body.
pub struct Request<'a> {
    pub method: Method,
    /// The path after `/v1`, e.g. `/chat/completions`.
    pub api_path: &'a str,
    /// The client's query without its `api_key`.
    pub query: Option<&'a str>,
    pub client_headers: &'a HeaderMap,
    /// The body names a model (Azure puts the deployment in the URL then).
    pub model_in_url: bool,
    /// The client asked for a stream: the first-token deadline applies.
    pub stream: bool,
    /// Sending it twice does no harm (inference, passthrough GETs): see [`super::failover`].
    pub idempotent: bool,
    /// Usage accounting is on: read `usage` from JSON answers.
    pub accounted: bool,
    /// Where streamed text is (for the estimate); `Text::None` also means the
    /// path takes no `stream_options` (nothing is injected).
    pub text: Text,
    /// Where answers read whole and large SSE events are held.
    pub budget: &'a BodyBudget,
}

/// An upstream answer that may go to the client.
pub enum Answer {
    /// An SSE stream whose first events were read.
    Sse { upstream: Upstream, parser: Events, first: Vec<Event> },
    /// A body read whole (validated JSON, or an error status's body), with its budget share.
    Full(Held),
    /// Passed through as it arrives (audio, files).
    Passthrough(Upstream),
    /// The gateway's own refusal (an error body): this endpoint cannot take the request as asked.
    Refused(Bytes),
}

pub struct Answered {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub answer: Answer,
    /// Whether the answer says the endpoint works (`false`: a client error, which says nothing).
    pub healthy: bool,
    /// Time to the first byte (non-streams) or first event (streams).
    pub latency: Duration,
    /// A valid JSON answer's `usage` value, copied (when accounting is on).
    pub usage: Option<Bytes>,
}

/// A failed attempt: what the breaker learns, why (for the aggregate error),
/// and what the client gets if it is not retried.
pub struct Failed {
    pub failure: Failure,
    /// The request provably never reached the upstream (no connection was made).
    pub unsent: bool,
    pub reason: String,
    pub status: StatusCode,
    pub outcome: Result<Answered, ProxyError>,
}

pub async fn attempt(
    endpoint: &Endpoint,
    req: &Request<'_>,
    body: OutBody,
    deadline: Instant,
) -> Result<Answered, Failed> {
    let started = Instant::now();
    let provider = &endpoint.provider;
    let account = endpoint.account();
    let secret = &account.scrub;
    let t = provider.timeouts;
    let deadline = deadline.min(started + t.total);
    let first_deadline = if req.stream { (started + t.first_token).min(deadline) } else { deadline };

    let mut headers = upstream::request_headers(req.client_headers, provider, account);
    // Providers that speak another API get the request in theirs (and answer in OpenAI's below).
    let (adapter, body) = match Adapter::for_request(provider, req.api_path) {
        Route::Native => (None, body),
        Route::Unsupported(why) => return Ok(refused(ProxyError::BadRequest(why), started)),
        Route::Translated(adapter) => match translate_request(adapter, provider, body) {
            Ok((translated, body)) => {
                adapter.headers(&mut headers);
                (Some((adapter, translated)), body)
            }
            Err(error) => return Ok(refused(error, started)),
        },
    };
    let url = match &adapter {
        Some((adapter, translated)) => adapter.url(&provider.base_url, translated),
        None => {
            let model = req.model_in_url.then_some(&*endpoint.upstream_model);
            match upstream::url(provider, req.api_path, model, req.query) {
                Ok(url) => url,
                // The path was checked already; an azure deployment named `..` ends here.
                Err(why) => return Ok(refused(ProxyError::bad_path(req.api_path, why), started)),
            }
        }
    };
    let body = match body {
        OutBody::Empty => OutgoingBody::Empty,
        OutBody::Parts(parts) => {
            let len: usize = parts.iter().map(Bytes::len).sum();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            OutgoingBody::Parts(parts.into())
        }
        OutBody::Stream(incoming) => {
            if let Some(len) = req.client_headers.get(header::CONTENT_LENGTH) {
                headers.insert(header::CONTENT_LENGTH, len.clone());
            }
            OutgoingBody::Stream(incoming)
        }
    };
    let name = || provider.name.to_string();
    let sent = upstream::send(provider, req.method.clone(), url, headers, body);
    let (status, response_headers, mut upstream) = match tokio::time::timeout_at(first_deadline, sent).await {
        Ok(Err(SendError::Timeout)) => {
            let error = ProxyError::UpstreamTimeout(name());
            return Err(Failed {
                unsent: true,
                ..failed(Failure::Timeout, "timed out", StatusCode::GATEWAY_TIMEOUT, error)
            });
        }
        Err(_) => {
            return Err(failed(
                Failure::Timeout,
                "timed out",
                StatusCode::GATEWAY_TIMEOUT,
                ProxyError::UpstreamTimeout(name()),
            ));
        }
        Ok(Err(e)) => {
            tracing::debug!(provider = %provider.name, account = %account.name, error = %e, "upstream request failed");
            return Err(if matches!(e, SendError::Connect(_)) {
                let error = ProxyError::UpstreamConnect(name());
                Failed { unsent: true, ..failed(Failure::Connect, "connect error", StatusCode::BAD_GATEWAY, error) }
            } else {
                let error = ProxyError::Upstream(name(), "the connection failed");
                failed(Failure::Connect, "connection failed", StatusCode::BAD_GATEWAY, error)
            });
        }
        Ok(Ok(response)) => response,
    };

    let mut client_headers = forwardable_response_headers(&response_headers);
    if !status.is_success() {
        let retry_after = retry_after(&response_headers);
        let raw = answer::read_bounded(upstream, deadline, MAX_ERROR_BODY).await.unwrap_or_default();
        let raw = scrub::bytes(raw, secret);
        let body = match &adapter {
            Some((adapter, _)) => {
                client_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                adapter.error_body(provider, &raw)
            }
            None => raw.clone(),
        };
        let answered = |healthy| Answered {
            status,
            headers: client_headers,
            answer: Answer::Full(Held::unreserved(body.clone())),
            healthy,
            latency: started.elapsed(),
            usage: None,
        };
        let http = format!("HTTP {}", status.as_u16());
        return match status.as_u16() {
            // The body may quote the gateway's key, and the client cannot fix it anyway.
            401 | 403 => Err(failed(Failure::Auth, &http, status, ProxyError::UpstreamAuth(name()))),
            402 => Err(failed(Failure::Quota, "out of quota", status, ProxyError::UpstreamQuota(name()))),
            429 if is_quota(&raw) => {
                Err(failed(Failure::Quota, "out of quota", status, ProxyError::UpstreamQuota(name())))
            }
            429 => Err(Failed {
                failure: Failure::RateLimited { retry_after },
                unsent: false,
                reason: http,
                status,
                outcome: Ok(answered(false)),
            }),
            500..=599 => Err(Failed {
                failure: Failure::Server,
                unsent: false,
                reason: http,
                status,
                outcome: Ok(answered(false)),
            }),
            _ => Ok(answered(false)),
        };
    }

    let content_type = response_headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let content_type = content_type.trim_start().to_ascii_lowercase();
    if content_type.starts_with("text/event-stream") {
        if let Some((adapter, translated)) = &adapter {
            upstream = adapter.stream(upstream, translated, req.budget);
        }
        let mut upstream = scrub::stream(upstream, secret);
        return match stream::first_event(&mut upstream, first_deadline, req.budget).await {
            Ok((first, parser)) => {
                client_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                let answer = Answer::Sse { upstream, parser, first };
                let latency = started.elapsed();
                Ok(Answered { status, headers: client_headers, answer, healthy: true, latency, usage: None })
            }
            Err(FirstEventError::Timeout) => Err(failed(
                Failure::Timeout,
                "no first token in time",
                StatusCode::GATEWAY_TIMEOUT,
                ProxyError::UpstreamTimeout(name()),
            )),
            Err(FirstEventError::Ended | FirstEventError::Broken) => {
                let error = ProxyError::Upstream(name(), "the stream ended before its first event");
                Err(failed(Failure::Server, "stream broke before its first event", StatusCode::BAD_GATEWAY, error))
            }
            Err(FirstEventError::TooLarge(e)) => too_large(provider, started, e),
        };
    }
    if content_type.starts_with("application/json") || content_type.is_empty() {
        let latency = started.elapsed();
        return match answer::read(&mut upstream, deadline, req.budget).await {
            Err(ReadError::Timeout) => Err(failed(
                Failure::Timeout,
                "timed out",
                StatusCode::GATEWAY_TIMEOUT,
                ProxyError::UpstreamTimeout(name()),
            )),
            Err(ReadError::Broken) => Err(failed(
                Failure::Server,
                "body cut off",
                StatusCode::BAD_GATEWAY,
                ProxyError::Upstream(name(), "the response was cut off"),
            )),
            Err(ReadError::TooLarge) => too_large(provider, started, EventsError::TooLarge),
            Err(ReadError::Budget) => too_large(provider, started, EventsError::Budget),
            Ok((body, mut reserved)) => {
                let body = translate_answer(adapter.as_ref(), body).map(|body| scrub::bytes(body, secret));
                // A translation may have grown it.
                let over = |b: &Bytes| b.len() > FREE_BYTES && req.budget.reserve(&mut reserved, b.len()).is_err();
                if body.as_ref().is_ok_and(over) {
                    return too_large(provider, started, EventsError::Budget);
                }
                match body.and_then(|body| Ok((usage_span(&body)?, body))) {
                    Err(()) => Err(failed(
                        Failure::Malformed,
                        "invalid JSON",
                        StatusCode::BAD_GATEWAY,
                        ProxyError::Upstream(
                            name(),
                            match adapter {
                                None => "the response was not valid JSON",
                                Some(_) => "the response was not the provider's documented JSON",
                            },
                        ),
                    )),
                    Ok((span, body)) => {
                        let usage = span
                            .filter(|span| req.accounted && span.len() <= crate::usage::MAX_USAGE_BYTES)
                            .map(|span| Bytes::copy_from_slice(&body[span]));
                        let answer = Answer::Full(Held::new(body, reserved));
                        Ok(Answered { status, headers: client_headers, answer, healthy: true, latency, usage })
                    }
                }
            }
        };
    }
    let answer = Answer::Passthrough(scrub::stream(upstream, secret));
    Ok(Answered { status, headers: client_headers, answer, healthy: true, latency: started.elapsed(), usage: None })
}

#[derive(serde::Deserialize)]
struct WithUsage<'a> {
    #[serde(borrow, default)]
    usage: Option<&'a serde_json::value::RawValue>,
}

/// Validates a JSON answer and finds its top-level `usage` value: the one
/// parse the validation needed anyway, so accounting adds nothing to it.
fn usage_span(body: &[u8]) -> Result<Option<std::ops::Range<usize>>, ()> {
    let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    match serde_json::from_slice::<WithUsage<'_>>(body)
        .map_err(|_| ())
        .and_then(|w| if object { Ok(w) } else { Err(()) })
    {
        Ok(w) => Ok(w.usage.map(|raw| {
            let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
            start..start + raw.get().len()
        })),
        // Valid JSON that is not an object (or repeats `usage`).
        Err(_) => serde_json::from_slice::<serde::de::IgnoredAny>(body).map(|_| None).map_err(|_| ()),
    }
}

/// The client's OpenAI body in the provider's API, and what to send.
fn translate_request(
    adapter: Adapter,
    provider: &ProviderEntry,
    body: OutBody,
) -> Result<(Translated, OutBody), ProxyError> {
    let OutBody::Parts(parts) = body else {
        return Err(ProxyError::BadRequest("a JSON request body is required".into()));
    };
    let joined: Vec<u8> = parts.concat();
    let mut translated = adapter.request(provider, &joined).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let body = OutBody::Parts(vec![Bytes::from(std::mem::take(&mut translated.body))]);
    Ok((translated, body))
}

/// A whole answer in OpenAI's shape (translated when the provider speaks another API).
fn translate_answer(adapter: Option<&(Adapter, Translated)>, body: Bytes) -> Result<Bytes, ()> {
    match adapter {
        None => Ok(body),
        Some((adapter, translated)) => match adapter.response(&body, translated) {
            Ok(openai) => Ok(Bytes::from(openai)),
            Err(e) => {
                tracing::debug!(error = %e, "an answer that could not be translated");
                Err(())
            }
        },
    }
}

/// A request this endpoint cannot take, answered as the client's error (the endpoint is not at fault).
fn refused(error: ProxyError, started: Instant) -> Answered {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Answered {
        status: error.status(),
        headers,
        answer: Answer::Refused(Bytes::from(error.body_json())),
        healthy: false,
        latency: started.elapsed(),
        usage: None,
    }
}

/// An answer or event larger than the gateway holds: 502 and a log line.
/// Over a cap the endpoint is at fault (a failure, retried like a 5xx); a
/// full body budget is the gateway's own limit (the endpoint is not blamed,
/// nothing is retried).
#[allow(clippy::result_large_err)] // What `attempt` itself returns.
fn too_large(provider: &ProviderEntry, started: Instant, why: EventsError) -> Result<Answered, Failed> {
    let (reason, what) = match why {
        EventsError::Budget => (
            "body budget exhausted",
            "the gateway's memory budget for buffered bodies (limits.max_buffered_bodies) is used up",
        ),
        EventsError::TooLarge => ("answer too large", "it exceeds the gateway's size limit for one answer or event"),
        EventsError::Malformed => ("malformed stream", "it is not a valid event stream"),
    };
    tracing::warn!(provider = %provider.name, reason, "upstream answer refused");
    let error = ProxyError::ResponseTooLarge(provider.name.to_string(), what);
    match why {
        EventsError::Budget => Ok(refused(error, started)),
        _ => Err(failed(Failure::Malformed, reason, StatusCode::BAD_GATEWAY, error)),
    }
}

fn failed(failure: Failure, reason: &str, status: StatusCode, error: ProxyError) -> Failed {
    Failed { failure, unsent: false, reason: reason.to_owned(), status, outcome: Err(error) }
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// OpenAI signals an exhausted account with a 429 whose code is `insufficient_quota`.
fn is_quota(body: &[u8]) -> bool {
    body.windows(b"insufficient_quota".len()).any(|w| w == b"insufficient_quota")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_found_while_validating() {
        let body = br#"{"id":"x","choices":[{"message":{"content":"\"usage\":1"}}],"usage":{"prompt_tokens":3}}"#;
        let span = usage_span(body).unwrap().unwrap();
        assert_eq!(&body[span], br#"{"prompt_tokens":3}"#);
        assert_eq!(usage_span(br#"{"usage":null}"#), Ok(None));
        assert_eq!(usage_span(b"[1]"), Ok(None));
        assert_eq!(usage_span(br#"{"usage":1,"usage":2}"#), Ok(None));
        assert_eq!(usage_span(b"{"), Err(()));
    }

    #[test]
    fn retry_after_in_both_forms() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
