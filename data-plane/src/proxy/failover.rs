//! Retries and failover across a route's endpoints.
//!
//! Each attempt picks an endpoint from the lowest priority tier that still
//! has an admitted one (breaker Closed, or a HalfOpen probe), preferring
//! endpoints this request has not tried, among those that can answer the
//! client's API at all (only `anthropic` and `gemini` ones count tokens). A failed attempt (connect error,
//! timeout before the first token, 429, 5xx, invalid JSON, a stream that broke
//! before its first event, a refused key or exhausted quota) teaches the
//! breaker and, when `settings.retry.on` allows it, moves on, within
//! `max_attempts` and `timeout.total`. Nothing has reached the client yet at
//! that point: once a first byte is sent there is no retry. A passthrough
//! POST or DELETE (which may create or delete the account's objects) moves
//! on only when the upstream provably did not act on it: no connection was
//! made, or it answered 429 or refused the key; after a 5xx, a timeout or a
//! broken connection its own answer is the client's. When the attempts are
//! spent, the client gets one error listing each of them ([`aggregate`]).
//!
//! Every way out finishes the request's usage [`Meter`]: here for refusals,
//! failures and JSON answers, in [`super::stream`] for streamed bodies. An
//! error is returned, never answered here: [`super::handle`] answers it.

use super::Call;
use super::forward::{self, Answer, Answered, Failed, Request};
use super::payload::Payload;
use super::stream::{self, Accounting, Source, Tail};
use crate::balance;
use crate::body::ProxyBody;
use crate::breaker::{Failure, Permit};
use crate::budget::Held;
use crate::error::{Ingress, ProxyError, Rejection};
use crate::ingress::{Api, Back};
use crate::runtime::{Endpoint, ProviderEntry, RouteEntry};
use crate::state::InflightGuard;
use crate::usage::Meter;
use crate::usage::tap::{Tap, Text};
use bytes::Bytes;
use http::{Response, StatusCode};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use switchyard_proto::model::{BreakerPolicy, RetryCondition, StreamUsage};
use tokio::time::Instant;

mod aggregate;
use aggregate::{Attempted, aggregate};

pub async fn run(
    call: &Call<'_>,
    route: &RouteEntry,
    req: Request<'_>,
    mut payload: Payload,
    guard: InflightGuard,
    mut meter: Meter,
) -> Result<Response<ProxyBody>, Rejection> {
    let (shared, settings) = (call.shared, &call.rt.config.settings);
    let started = Instant::now();
    // No attempt outlives the route's longest total timeout.
    let deadline = started + route_total(route);
    // Tried endpoints, by address (compared, never dereferenced).
    let mut tried: Vec<usize> = Vec::new();
    let mut failures: Vec<Attempted> = Vec::new();
    // Attempts that went to an endpoint already tried.
    let mut repeats = 0;

    for n in 0..settings.retry.max_attempts {
        let Some((endpoint, permit)) = choose(route, &tried, req.asked) else {
            if n == 0 {
                let error = all_open(route);
                meter.reject(error.status().as_u16());
                return Err(error.into());
            }
            break;
        };
        let native = req.asked.is_some_and(|api| api.native(endpoint.provider.kind));
        if let (false, Payload::Ingress { chat: Err(why), .. }) = (native, &payload) {
            // The client's error: this endpoint would need the request as chat completions.
            let error = ProxyError::BadRequest(why.clone());
            meter.reject(error.status().as_u16());
            return Err(error.into());
        }
        let Some((body, injected)) = payload.for_endpoint(&endpoint.upstream_model, inject(&req, &endpoint), native)
        else {
            break;
        };
        let id = Arc::as_ptr(&endpoint) as usize;
        if tried.contains(&id) {
            // The same endpoint again: pause first, unless that would pass the deadline.
            let pause = backoff(repeats);
            repeats += 1;
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        meter.attempt(&endpoint);
        if n > 0 {
            shared.metrics.failovers.fetch_add(1, Relaxed);
        }
        tried.push(id);
        let inflight = endpoint.load.start();
        let ending = |meter| Ending {
            meter,
            injected,
            text: req.text_for(native),
            back: req.back.filter(|_| !native).cloned(),
            ingress: Ingress::of(req.api_path),
        };
        match forward::attempt(&endpoint, &req, body, deadline, native).await {
            Ok(answered) => {
                if !matches!(answered.answer, Answer::Refused(_)) {
                    endpoint.stats.count(answered.status.as_u16());
                }
                let streamed = matches!(answered.answer, Answer::Sse { .. } | Answer::Passthrough(_));
                // A streamed body's permit is settled when it ends ([`stream::Tail`]).
                let permit = match (answered.healthy, streamed) {
                    (true, true) => Some(permit),
                    (true, false) => {
                        permit.success();
                        None
                    }
                    (false, _) => {
                        permit.neutral();
                        None
                    }
                };
                if answered.healthy {
                    endpoint.load.observe(answered.latency);
                }
                if req.stream && matches!(answered.answer, Answer::Sse { .. }) {
                    endpoint.stats.first_token.observe(answered.latency);
                }
                let tail = Tail::new(guard, inflight, endpoint.clone(), started, permit, &settings.breaker);
                return respond(answered, deadline, tail, ending(meter));
            }
            Err(failed) => {
                endpoint.stats.count(failed.status.as_u16());
                permit.failure(failed.failure, &settings.breaker);
                let label = format!("{}/{}", endpoint.provider.name, endpoint.account().name);
                tracing::warn!(endpoint = %label, model = %route.name, attempt = n + 1, reason = %failed.reason, "upstream attempt failed");
                failures.push(Attempted::of(&failed, label));
                let retry =
                    retryable(failed.failure, &settings.retry.on) && payload.resendable() && may_resend(&req, &failed);
                if !retry {
                    return finish(failed, &endpoint, deadline, (guard, started), &settings.breaker, ending(meter));
                }
            }
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let error = aggregate(&failures, &settings.breaker);
    let status = error.status();
    meter.failed(status.as_u16(), status == StatusCode::GATEWAY_TIMEOUT);
    // Each attempt was counted under its endpoint; with none, this is a refusal of its own.
    Err(if failures.is_empty() { error.into() } else { Rejection::counted(error) })
}

/// The first pause before trying an endpoint again, doubled for each further repeat up to [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The pause before the `repeat`-th (from 0) attempt on an endpoint this
/// request already tried: between half and all of the doubled step, so that
/// clients failing together do not retry together. Moving on to another
/// endpoint never waits; a 429's `Retry-After` holds its endpoint Open (the
/// breaker) rather than making the request wait.
fn backoff(repeat: u32) -> Duration {
    let step = BACKOFF_BASE.saturating_mul(1 << repeat.min(16)).min(BACKOFF_MAX);
    let half = step / 2;
    half + Duration::from_micros(fastrand::u64(0..=half.as_micros() as u64))
}

/// Whether this attempt asks for stream usage on the client's behalf: a
/// stream on a path that takes `stream_options`, accounting on, and the
/// provider's `stream_usage: inject`.
fn inject(req: &Request<'_>, endpoint: &Endpoint) -> bool {
    req.accounted && req.stream && req.text != Text::None && endpoint.provider.stream_usage == StreamUsage::Inject
}

/// What the answer's accounting needs.
struct Ending {
    meter: Meter,
    /// This attempt's body had `include_usage` injected.
    injected: bool,
    /// How the answer goes back into the client's API, when it is chat completions translated from it.
    back: Option<Back>,
    /// The client's API, for the shape of an error that ends a stream.
    ingress: Ingress,
    text: Text,
}

/// The longest `total` among the route's providers.
fn route_total(route: &RouteEntry) -> std::time::Duration {
    route.tiers.iter().flatten().map(|e| e.provider.timeouts.total).max().unwrap_or_default()
}

/// An admitted endpoint that can answer `asked` (all can answer chat
/// completions): lowest tier first, untried ones first.
fn choose(route: &RouteEntry, tried: &[usize], asked: Option<Api>) -> Option<(Arc<Endpoint>, Permit)> {
    let untried = |e: &Arc<Endpoint>| !tried.contains(&(Arc::as_ptr(e) as usize));
    let reaches = |e: &Arc<Endpoint>| asked.is_none_or(|api| api.reaches(e.provider.kind));
    for fresh_only in [true, false] {
        for tier in &route.tiers {
            // A lost race for a probe slot makes the breaker inadmissible; pick again.
            for _ in 0..tier.len() {
                let eligible = |e: &Arc<Endpoint>| {
                    e.enabled() && reaches(e) && e.breaker.admittable() && (!fresh_only || untried(e))
                };
                let Some(i) = balance::pick(route.strategy, tier, &route.cursor, eligible) else { break };
                if let Some(permit) = tier[i].breaker.admit() {
                    return Some((tier[i].clone(), permit));
                }
            }
        }
        if tried.is_empty() {
            break;
        }
    }
    None
}

fn retryable(failure: Failure, on: &[RetryCondition]) -> bool {
    let condition = match failure {
        // Another account may well have a working key or quota left.
        Failure::Auth | Failure::Quota => return true,
        Failure::Connect => RetryCondition::Connect,
        Failure::Timeout => RetryCondition::Timeout,
        Failure::RateLimited { .. } => RetryCondition::RateLimited,
        Failure::Server | Failure::Malformed => RetryCondition::ServerError,
    };
    on.contains(&condition)
}

/// Whether the request may go to another endpoint after `failed`: an
/// idempotent one always; a passthrough POST or DELETE only when the upstream
/// provably did not act on it (never sent, or refused: 429, a refused key, no quota).
fn may_resend(req: &Request<'_>, failed: &Failed) -> bool {
    req.idempotent
        || failed.unsent
        || matches!(failed.failure, Failure::RateLimited { .. } | Failure::Auth | Failure::Quota)
}

/// At once when every endpoint is Open, with the earliest reopen: 429 when
/// they were all opened by the upstreams' 429s (the client's SDK retries
/// after `Retry-After`, as it would have for the upstreams' own answers),
/// else 503.
fn all_open(route: &RouteEntry) -> ProxyError {
    if route.tiers.iter().flatten().all(|e| !e.enabled()) {
        return ProxyError::NoEndpoint(route.name.to_string());
    }
    let now = Instant::now();
    let open = || route.tiers.iter().flatten().filter(|e| e.enabled());
    let reopen = open().filter_map(|e| e.breaker.reopen_at()).min();
    let secs = reopen.map_or(1, |at| at.saturating_duration_since(now).as_secs_f64().ceil() as u64).max(1);
    if open().all(|e| e.breaker.opened_rate_limited()) {
        let summary = format!(
            "Every upstream endpoint of the model '{}' is rate limited; retry in {secs} s.",
            crate::error::echo(&route.name)
        );
        return ProxyError::UpstreamRateLimited { summary, retry_after_secs: Some(secs) };
    }
    ProxyError::AllOpen { model: route.name.to_string(), retry_after_secs: secs }
}

/// The last attempt's own answer, when it is not retried (its permit settled already).
#[allow(clippy::result_large_err)] // Rejection carries the upstream's message, param and code; one per failed request
fn finish(
    failed: Failed,
    endpoint: &Arc<Endpoint>,
    deadline: Instant,
    (guard, started): (InflightGuard, Instant),
    policy: &BreakerPolicy,
    mut ending: Ending,
) -> Result<Response<ProxyBody>, Rejection> {
    match failed.outcome {
        Ok(answered) => {
            let inflight = endpoint.load.start();
            let tail = Tail::new(guard, inflight, endpoint.clone(), started, None, policy);
            respond(answered, deadline, tail, ending)
        }
        Err(error) => {
            let status = error.status().as_u16();
            ending.meter.failed(status, matches!(error, ProxyError::UpstreamTimeout(_)));
            // The endpoint counted the attempt.
            Err(Rejection::counted(error))
        }
    }
}

/// The response for an answer that goes to the client (its body streamed by
/// [`stream::body`] or whole, translated back into the client's API when it
/// came in another); the gateway's own refusal is an error.
#[allow(clippy::result_large_err)] // Rejection carries the upstream's message, param and code; one per failed request
fn respond(
    answered: Answered,
    deadline: Instant,
    tail: Tail,
    ending: Ending,
) -> Result<Response<ProxyBody>, Rejection> {
    let provider = &tail.endpoint.provider;
    let (t, on_disconnect, client_write) = (provider.timeouts, provider.on_disconnect, provider.client_write);
    let Ending { mut meter, injected, text, back, ingress } = ending;
    let http_status = answered.status.as_u16();
    let mut headers = answered.headers;
    let body = match answered.answer {
        Answer::Full(body) => {
            meter.answered(http_status, answered.usage, &body);
            let body = match &back {
                Some(back) => translate_back(back, answered.status, body, &mut headers, provider)?,
                None => body,
            };
            drop(tail);
            super::outlet::whole(body, client_write)
        }
        Answer::Refused(error) => {
            meter.reject(http_status);
            return Err(error.into());
        }
        Answer::Sse { upstream, parser, first, end } => {
            meter.first_token();
            // Integrity is checked whether or not usage is accounted.
            let text = if meter.is_on() { text } else { Text::None };
            let tap = (meter.is_on() || end.is_some()).then(|| Tap::new(injected, text).checking(end));
            let account = Accounting { meter, tap, on_disconnect, http_status };
            let client = back.map(|back| (back.stream(), back));
            let source = Source { upstream, events: Some(parser), first, ingress, client };
            stream::body(source, t.idle, deadline, tail, account)
        }
        Answer::Passthrough(upstream) => {
            let account = Accounting { meter, tap: None, on_disconnect, http_status };
            let source = Source { upstream, events: None, first: Vec::new(), ingress, client: None };
            stream::body(source, t.total, deadline, tail, account)
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = answered.status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// A whole chat-completions answer in the client's API: a success
/// translated (keeping its budget share), an error as the gateway's error in
/// the client's shape (Anthropic's for `/v1/messages`).
#[allow(clippy::result_large_err)] // Rejection carries the upstream's message, param and code; one per failed request
fn translate_back(
    back: &Back,
    status: StatusCode,
    body: Held,
    headers: &mut http::HeaderMap,
    provider: &ProviderEntry,
) -> Result<Held, Rejection> {
    if !status.is_success() {
        let body = serde_json::from_slice::<serde_json::Value>(&body.bytes).unwrap_or_default();
        let error = &body["error"];
        let error = ProxyError::UpstreamAnswer {
            status,
            provider: provider.name.to_string(),
            kind: provider.kind.as_str(),
            message: error["message"].as_str().map(str::to_owned),
            param: error["param"].as_str().map(|p| crate::error::echo(p).into()),
            code: text_or_number(&error["code"]).map(|c| crate::error::echo(&c).into()),
        };
        return Err(Rejection::counted(error));
    }
    match back.response(&body.bytes) {
        Ok(translated) => {
            headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            Ok(body.replace(Bytes::from(translated)))
        }
        Err(e) => {
            tracing::warn!(provider = %provider.name, error = %e, "an answer that could not be translated back");
            let why = "its answer could not be translated into the client's API";
            Err(Rejection::counted(ProxyError::Upstream(provider.name.to_string(), why)))
        }
    }
}

/// An error `code`, which some providers give as a number.
fn text_or_number(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_bounded() {
        for (repeat, step) in [(0, 100), (1, 200), (2, 400), (3, 800), (4, 1600), (5, 2000), (40, 2000)] {
            let step = Duration::from_millis(step);
            for _ in 0..200 {
                let pause = backoff(repeat);
                assert!(pause >= step / 2 && pause <= step, "repeat {repeat}: {pause:?}");
            }
        }
        let pauses: std::collections::HashSet<Duration> = (0..50).map(|_| backoff(3)).collect();
        assert!(pauses.len() > 10, "jittered: {pauses:?}");
    }
}
