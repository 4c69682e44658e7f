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
use crate::ingress::{Api, Back};
use crate::runtime::{Endpoint, ProviderEntry};
use crate::sse::Event;
use crate::sse::bounded::{Events, EventsError};
use crate::translate::{self, Adapter, Op, Route, Translated};
use crate::upstream::refusal::{self, is_quota, retry_after};
use crate::upstream::scrub;
use crate::upstream::{self, OutgoingBody, SendError, headers::forwardable_response_headers};
use crate::usage::tap::{self, End, Text};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use std::time::Duration;
use switchyard_proto::model::ProviderKind;
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
    /// The request came in another client API ([`crate::ingress`]).
    pub asked: Option<Api>,
    /// How a translated answer goes back into that API (`None` when the
    /// request could not be translated: only providers that speak it take it).
    pub back: Option<&'a Back>,
    /// Where answers read whole and large SSE events are held.
    pub budget: &'a BodyBudget,
}

impl Request<'_> {
    /// The path an attempt sends to: the client's API's own for a provider
    /// that speaks it (`native`), its translation's for the others (chat
    /// completions for a translated client API).
    pub fn path_for(&self, native: bool) -> &str {
        match self.asked {
            Some(api) if native => api.path(),
            Some(api) => api.translated_path(),
            None => self.api_path,
        }
    }

    /// Where an attempt's streamed text is.
    pub fn text_for(&self, native: bool) -> Text {
        match self.asked {
            Some(Api::CountTokens) => Text::None,
            Some(_) if native => Text::None,
            Some(_) => Text::Chat,
            None => self.text,
        }
    }
}

/// An upstream answer that may go to the client.
pub enum Answer {
    /// An SSE stream whose first events were read; `end`: the integrity rule
    /// it is held to ([`crate::usage::tap`]; `None` for a translated
    /// provider's, whose translator judges it, and for APIs the tap does not know).
    Sse { upstream: Upstream, parser: Events, first: Vec<Event>, end: Option<End> },
    /// A body read whole (validated JSON, or an error status's body), with its budget share.
    Full(Held),
    /// Passed through as it arrives (audio, files).
    Passthrough(Upstream),
    /// The gateway's own refusal: this endpoint cannot take the request as asked.
    Refused(ProxyError),
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
    /// The provider's own message, for an error answer (scrubbed, bounded).
    pub detail: Option<String>,
    pub status: StatusCode,
    pub outcome: Result<Answered, ProxyError>,
}

/// One attempt: build the upstream request, send it, judge the answer.
/// `native`: the provider speaks the client's API ([`Request::path_for`]).
pub async fn attempt(
    endpoint: &Endpoint,
    req: &Request<'_>,
    body: OutBody,
    deadline: Instant,
    native: bool,
) -> Result<Answered, Failed> {
    let started = Instant::now();
    let t = endpoint.provider.timeouts;
    let deadline = deadline.min(started + t.total);
    let first_deadline = if req.stream { (started + t.first_token).min(deadline) } else { deadline };
    let Prepared { adapter, url, headers, body } = match prepare(endpoint, req, body, native) {
        Ok(prepared) => prepared,
        Err(error) => return Ok(refused(error, started)),
    };
    let at = Attempt { endpoint, req, adapter: adapter.as_ref(), native, started, deadline, first_deadline };
    let (status, response_headers, upstream) = at.send(url, headers, body).await?;
    let client_headers = forwardable_response_headers(&response_headers);
    if !status.is_success() {
        return at.error_status(status, &response_headers, client_headers, upstream).await;
    }
    let content_type = response_headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let content_type = content_type.trim_start().to_ascii_lowercase();
    if content_type.starts_with("text/event-stream") {
        return at.sse(status, client_headers, upstream).await;
    }
    if content_type.starts_with("application/json") || content_type.is_empty() {
        return at.json(status, client_headers, upstream).await;
    }
    let answer = Answer::Passthrough(scrub::stream(upstream, &endpoint.account().scrub));
    Ok(Answered { status, headers: client_headers, answer, healthy: true, latency: started.elapsed(), usage: None })
}

/// The upstream request, in the provider's API.
struct Prepared {
    /// The translation, for providers that speak another API.
    adapter: Option<(Adapter, Translated)>,
    url: String,
    headers: HeaderMap,
    body: OutgoingBody,
}

/// Headers, URL and body for `endpoint`; an error is the client's (the endpoint cannot take it).
fn prepare(endpoint: &Endpoint, req: &Request<'_>, body: OutBody, native: bool) -> Result<Prepared, ProxyError> {
    let provider = &endpoint.provider;
    let api_path = req.path_for(native);
    let mut headers = upstream::request_headers(req.client_headers, provider, endpoint.account());
    // Providers that speak another API get the request in theirs (and answer in OpenAI's below).
    let route = if native { Route::Native } else { Adapter::for_request(provider, api_path) };
    let (adapter, body) = match route {
        Route::Native => (None, body),
        Route::Unsupported(why) => return Err(ProxyError::BadRequest(why)),
        Route::Translated(adapter, op) => {
            let (translated, body) = translate_request(adapter, op, provider, body)?;
            adapter.headers(&mut headers);
            (Some((adapter, translated)), body)
        }
    };
    let url = match &adapter {
        Some((adapter, translated)) => adapter.url(&provider.base_url, translated),
        // Messages and its token count, to a provider that speaks them.
        None if native && provider.kind == ProviderKind::Anthropic => {
            translate::anthropic_native(&provider.base_url, api_path, &mut headers)
        }
        // The path was checked already; an azure deployment named `..` ends here.
        None => upstream::url(provider, api_path, req.model_in_url.then_some(&*endpoint.upstream_model), req.query)
            .map_err(|why| ProxyError::bad_path(api_path, why))?,
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
    Ok(Prepared { adapter, url, headers, body })
}

/// What judging one attempt's answer reads.
struct Attempt<'a> {
    endpoint: &'a Endpoint,
    req: &'a Request<'a>,
    adapter: Option<&'a (Adapter, Translated)>,
    /// The provider speaks the client's API ([`Request::path_for`]).
    native: bool,
    started: Instant,
    /// The attempt's end: the request's deadline or the provider's `total`, whichever is first.
    deadline: Instant,
    /// The first token's (streams) or else `deadline`.
    first_deadline: Instant,
}

impl Attempt<'_> {
    fn provider(&self) -> String {
        self.endpoint.provider.name.to_string()
    }

    fn timed_out(&self, reason: &str) -> Failed {
        let error = ProxyError::UpstreamTimeout(self.provider());
        failed(Failure::Timeout, reason, StatusCode::GATEWAY_TIMEOUT, error)
    }

    /// Sends the request and waits for the response head, until the first deadline.
    async fn send(
        &self,
        url: String,
        headers: HeaderMap,
        body: OutgoingBody,
    ) -> Result<(StatusCode, HeaderMap, Upstream), Failed> {
        let provider = &self.endpoint.provider;
        let sent = upstream::send(provider, self.req.method.clone(), url, headers, body);
        match tokio::time::timeout_at(self.first_deadline, sent).await {
            Ok(Ok(response)) => Ok(response),
            // The connect timeout: nothing was sent.
            Ok(Err(SendError::Timeout)) => Err(Failed { unsent: true, ..self.timed_out("timed out") }),
            Err(_) => Err(self.timed_out("timed out")),
            Ok(Err(e)) => {
                let account = &self.endpoint.account().name;
                tracing::debug!(provider = %provider.name, %account, error = %e, "upstream request failed");
                Err(if matches!(e, SendError::Connect(_)) {
                    let error = ProxyError::UpstreamConnect(self.provider());
                    Failed { unsent: true, ..failed(Failure::Connect, "connect error", StatusCode::BAD_GATEWAY, error) }
                } else {
                    let error = ProxyError::Upstream(self.provider(), "the connection failed");
                    failed(Failure::Connect, "connection failed", StatusCode::BAD_GATEWAY, error)
                })
            }
        }
    }

    /// A non-2xx answer: the breaker's lesson, and the (scrubbed, translated) body if it reaches the client.
    async fn error_status(
        &self,
        status: StatusCode,
        response_headers: &HeaderMap,
        mut client_headers: HeaderMap,
        upstream: Upstream,
    ) -> Result<Answered, Failed> {
        let raw = answer::read_bounded(upstream, self.deadline, MAX_ERROR_BODY).await.unwrap_or_default();
        let raw = scrub::bytes(raw, &self.endpoint.account().scrub);
        let body = match self.adapter {
            Some((adapter, _)) => {
                client_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Bytes::from(adapter.error(&self.endpoint.provider, status, &raw).body_json())
            }
            None => raw.clone(),
        };
        let answered = Answered {
            status,
            headers: client_headers,
            answer: Answer::Full(Held::unreserved(body)),
            healthy: false,
            latency: self.started.elapsed(),
            usage: None,
        };
        let http = format!("HTTP {}", status.as_u16());
        let quota = || failed(Failure::Quota, "out of quota", status, ProxyError::UpstreamQuota(self.provider()));
        let detail = match self.adapter {
            Some((adapter, _)) => adapter.error_message(&raw),
            None => refusal::message(&raw),
        };
        let passed_on = |failure, answered| Failed {
            failure,
            unsent: false,
            reason: http.clone(),
            detail: detail.clone(),
            status,
            outcome: Ok(answered),
        };
        match status.as_u16() {
            // The body may quote the gateway's key, and the client cannot fix it anyway.
            401 | 403 => Err(failed(Failure::Auth, &http, status, ProxyError::UpstreamAuth(self.provider()))),
            402 => Err(quota()),
            429 if is_quota(&raw) => Err(quota()),
            429 => Err(passed_on(Failure::RateLimited { retry_after: retry_after(response_headers) }, answered)),
            500..=599 => Err(passed_on(Failure::Server, answered)),
            _ => Ok(answered),
        }
    }

    /// A stream: translated and scrubbed, judged by its first event.
    async fn sse(&self, status: StatusCode, mut headers: HeaderMap, upstream: Upstream) -> Result<Answered, Failed> {
        let upstream = match self.adapter {
            Some((adapter, translated)) => adapter.stream(upstream, translated, self.req.budget),
            None => upstream,
        };
        let mut upstream = scrub::stream(upstream, &self.endpoint.account().scrub);
        let end = if self.adapter.is_some() { None } else { End::for_path(self.req.path_for(self.native)) };
        match stream::first_event(&mut upstream, self.first_deadline, self.req.budget).await {
            // Nothing reached the client yet: another endpoint may answer.
            Ok((first, _)) if end.is_some() && tap::malformed(&first) => {
                let error = ProxyError::Upstream(self.provider(), "its stream sent an event that is not JSON");
                Err(failed(Failure::Malformed, "malformed stream event", StatusCode::BAD_GATEWAY, error))
            }
            Ok((first, parser)) => {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                let answer = Answer::Sse { upstream, parser, first, end };
                let latency = self.started.elapsed();
                Ok(Answered { status, headers, answer, healthy: true, latency, usage: None })
            }
            Err(FirstEventError::Timeout) => Err(self.timed_out("no first token in time")),
            Err(FirstEventError::Ended | FirstEventError::Broken) => {
                let error = ProxyError::Upstream(self.provider(), "the stream ended before its first event");
                Err(failed(Failure::Server, "stream broke before its first event", StatusCode::BAD_GATEWAY, error))
            }
            Err(FirstEventError::TooLarge(e)) => self.too_large(e),
        }
    }

    /// A JSON answer: read whole, translated, scrubbed and validated, its `usage` found.
    async fn json(&self, status: StatusCode, headers: HeaderMap, mut upstream: Upstream) -> Result<Answered, Failed> {
        let latency = self.started.elapsed();
        let budget = self.req.budget;
        let (body, mut reserved) = match answer::read(&mut upstream, self.deadline, budget).await {
            Ok(read) => read,
            Err(ReadError::Timeout) => return Err(self.timed_out("timed out")),
            Err(ReadError::Broken) => {
                let error = ProxyError::Upstream(self.provider(), "the response was cut off");
                return Err(failed(Failure::Server, "body cut off", StatusCode::BAD_GATEWAY, error));
            }
            Err(ReadError::TooLarge) => return self.too_large(EventsError::TooLarge),
            Err(ReadError::Budget) => return self.too_large(EventsError::Budget),
        };
        let translated = translate_answer(self.adapter, body);
        let usage_estimated = translated.as_ref().is_ok_and(|(_, estimated)| *estimated);
        let body = translated.map(|(body, _)| scrub::bytes(body, &self.endpoint.account().scrub));
        // A translation may have grown it.
        let over = |b: &Bytes| b.len() > FREE_BYTES && budget.reserve(&mut reserved, b.len()).is_err();
        if body.as_ref().is_ok_and(over) {
            return self.too_large(EventsError::Budget);
        }
        let Ok((span, body)) = body.and_then(|body| Ok((usage_span(&body)?, body))) else {
            let why = match self.adapter {
                None => "the response was not valid JSON",
                Some(_) => "the response was not the provider's documented JSON",
            };
            let error = ProxyError::Upstream(self.provider(), why);
            return Err(failed(Failure::Malformed, "invalid JSON", StatusCode::BAD_GATEWAY, error));
        };
        // A translation's own estimate is not the provider's count: accounting estimates it again.
        let usage = span
            .filter(|span| self.req.accounted && !usage_estimated && span.len() <= crate::usage::MAX_USAGE_BYTES)
            .map(|span| Bytes::copy_from_slice(&body[span]));
        let answer = Answer::Full(Held::new(body, reserved));
        Ok(Answered { status, headers, answer, healthy: true, latency, usage })
    }

    /// An answer or event larger than the gateway holds: 502 and a log line.
    /// Over a cap the endpoint is at fault (a failure, retried like a 5xx); a
    /// full body budget is the gateway's own limit (the endpoint is not blamed,
    /// nothing is retried).
    #[allow(clippy::result_large_err, reason = "a failed attempt is moved once, on the cold path")]
    fn too_large(&self, why: EventsError) -> Result<Answered, Failed> {
        let (reason, what) = match why {
            EventsError::Budget => (
                "body budget exhausted",
                "the gateway's memory budget for buffered bodies (limits.max_buffered_bodies) is used up",
            ),
            EventsError::TooLarge => {
                ("answer too large", "it exceeds the gateway's size limit for one answer or event")
            }
            EventsError::Malformed => ("malformed stream", "it is not a valid event stream"),
        };
        tracing::warn!(provider = %self.endpoint.provider.name, reason, "upstream answer refused");
        let error = ProxyError::ResponseTooLarge(self.provider(), what);
        match why {
            EventsError::Budget => Ok(refused(error, self.started)),
            _ => Err(failed(Failure::Malformed, reason, StatusCode::BAD_GATEWAY, error)),
        }
    }
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
    op: Op,
    provider: &ProviderEntry,
    body: OutBody,
) -> Result<(Translated, OutBody), ProxyError> {
    let OutBody::Parts(parts) = body else {
        return Err(ProxyError::BadRequest("a JSON request body is required".into()));
    };
    let joined: Vec<u8> = parts.concat();
    let mut translated = adapter.request(op, provider, &joined).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let body = OutBody::Parts(vec![Bytes::from(std::mem::take(&mut translated.body))]);
    Ok((translated, body))
}

/// A whole answer in OpenAI's shape (translated when the provider speaks
/// another API), and whether its `usage` is the translation's estimate.
fn translate_answer(adapter: Option<&(Adapter, Translated)>, body: Bytes) -> Result<(Bytes, bool), ()> {
    match adapter {
        None => Ok((body, false)),
        Some((adapter, translated)) => match adapter.response(&body, translated) {
            Ok(answer) => Ok((Bytes::from(answer.body), answer.usage_estimated)),
            Err(e) => {
                tracing::debug!(error = %e, "an answer that could not be translated");
                Err(())
            }
        },
    }
}

/// A request this endpoint cannot take, answered as the client's error (the endpoint is not at fault).
fn refused(error: ProxyError, started: Instant) -> Answered {
    Answered {
        status: error.status(),
        headers: HeaderMap::new(),
        answer: Answer::Refused(error),
        healthy: false,
        latency: started.elapsed(),
        usage: None,
    }
}

fn failed(failure: Failure, reason: &str, status: StatusCode, error: ProxyError) -> Failed {
    Failed { failure, unsent: false, reason: reason.to_owned(), detail: None, status, outcome: Err(error) }
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
}
