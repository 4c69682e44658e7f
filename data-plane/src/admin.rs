//! The admin listener: `/metrics` (Prometheus), `/status` (JSON), `/healthz`, `/readyz`.
//! With an ops token (`--ops-token-file`), `/metrics` and `/status` answer
//! only requests that bear it; the probes stay open.

use crate::body::{ProxyBody, full};
use crate::state::Shared;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use switchyard_proto::ops_token::{self, OpsToken};

/// `ops`: the token `/metrics` and `/status` require, if any.
pub async fn handle(shared: Arc<Shared>, ops: Option<Arc<OpsToken>>, req: Request<Incoming>) -> Response<ProxyBody> {
    let path = req.uri().path();
    if let (Some(token), "/metrics" | "/status") = (&ops, path)
        && let Err(refusal) = token.admit(req.headers())
    {
        let mut response = reply(StatusCode::UNAUTHORIZED, "text/plain", refusal.body().into());
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(ops_token::CHALLENGE));
        return response;
    }
    match path {
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok".into()),
        "/readyz" if shared.ready() => reply(StatusCode::OK, "text/plain", "ready".into()),
        "/readyz" => reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "not ready".into()),
        "/metrics" => {
            let rt = shared.runtime.load();
            let age = rt.as_ref().map(|_| shared.staleness());
            let mut text = shared.metrics.render(rt.as_deref(), age, &shared.usage, shared.telemetry.as_deref());
            switchyard_proto::listen::render_metrics(&mut text, "switchyard", &shared.connections);
            crate::tls::render_metrics(&mut text, &shared.tls);
            reply(StatusCode::OK, "text/plain; version=0.0.4", text)
        }
        "/status" => reply(StatusCode::OK, "application/json", status(&shared).to_string()),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found".into()),
    }
}

/// Snapshot version and age, per-endpoint state and counters, keys refusing
/// traffic now (over budget or out of rate), uptime.
pub fn status(shared: &Shared) -> serde_json::Value {
    let rt = shared.runtime.load();
    let config = rt.as_ref().map(|rt| {
        serde_json::json!({
            "version": rt.version,
            "hash": rt.hash.to_string(),
            "applied_seconds_ago": rt.applied_at.elapsed().as_secs_f64(),
            "stale_seconds": shared.staleness().as_secs_f64(),
            "runtime_version": rt.overlay.version,
        })
    });
    let endpoints: Vec<_> = rt
        .as_ref()
        .map(|rt| {
            rt.every_endpoint()
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "model": &*e.route,
                        "provider": &*e.provider.name,
                        "account": &*e.account().name,
                        "upstream_model": &*e.upstream_model,
                        "enabled": e.enabled(),
                        "breaker": breaker(&e.breaker.snapshot()),
                        "requests": e.stats.total(),
                        "errors": e.stats.errors(),
                        "success_rate": success_rate(e.stats.total(), e.stats.errors()),
                        "inflight": e.load.inflight(),
                        "latency_ms": e.load.latency().map(|d| d.as_secs_f64() * 1e3),
                        "health_check": shared
                            .metrics
                            .health_checks
                            .for_endpoint(&e.provider.name, &e.account().name, &e.upstream_model)
                            .map(|last| last_check(&last)),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "ready": shared.ready(),
        "draining": shared.draining.load(Relaxed),
        "uptime_seconds": shared.started.elapsed().as_secs_f64(),
        "inflight": shared.metrics.inflight.load(Relaxed),
        "config": config,
        "last_config_error": shared.last_reload_error.load().as_deref().map(String::as_str),
        "endpoints": endpoints,
        "health_checks": health_checks(&shared.metrics.health_checks),
        "limited_keys": rt.as_deref().map(limited_keys).unwrap_or_default(),
        "usage": usage(&shared.usage),
        "buffered_bodies": buffered(&shared.bodies),
        "telemetry": shared.telemetry.as_deref().map(telemetry),
        "tls": tls(&shared.tls),
    })
}

/// Each TLS listener's serving certificate, its reloads and handshake failures; null without TLS.
fn tls(listeners: &[Arc<crate::tls::ServerTls>]) -> serde_json::Value {
    if listeners.is_empty() {
        return serde_json::Value::Null;
    }
    let by_port = listeners.iter().map(|t| {
        let certs = t.certs();
        let serving = certs.serving();
        let value = serde_json::json!({
            "cert": certs.files().cert.display().to_string(),
            "key": certs.files().key.display().to_string(),
            "fingerprint_sha256": serving.fingerprint,
            "not_after": serving.not_after.map(|t| t.to_string()),
            "loaded_seconds_ago": serving.loaded_at.elapsed().as_secs_f64(),
            "reloads": certs.reloads(),
            "reload_errors": certs.reload_errors(),
            "last_reload_error": certs.last_error().as_deref().map(String::as_str),
            "handshake_timeouts": t.handshake_timeouts(),
            "handshake_errors": t.handshake_errors(),
        });
        (t.port().name().to_owned(), value)
    });
    serde_json::Value::Object(by_port.collect())
}

/// The body budget (`limits.max_buffered_bodies`): what is reserved of it now.
fn buffered(budget: &crate::budget::BodyBudget) -> serde_json::Value {
    let (reserved, budget) = budget.usage();
    serde_json::json!({"reserved_bytes": reserved, "budget_bytes": budget})
}

/// The reporter's queue: batches not yet acked by a control plane, and what was lost.
fn telemetry(queue: &crate::telemetry::queue::Queue) -> serde_json::Value {
    let depth = queue.depth();
    serde_json::json!({
        "connected": queue.connected.load(Relaxed),
        "queued_batches": depth.batches,
        "queued_bytes": depth.bytes,
        "queued_items": depth.items,
        "acked_batches": queue.acked.load(Relaxed),
        "dropped": queue.dropped.load(Relaxed),
    })
}

/// Usage accounting since start: records by source and ending, tokens by
/// kind, records dropped because the sink's channel was full.
fn usage(usage: &crate::usage::Usage) -> serde_json::Value {
    let t = &usage.totals;
    let tokens: serde_json::Map<String, serde_json::Value> = crate::usage::sink::KINDS
        .iter()
        .enumerate()
        .map(|(i, kind)| ((*kind).to_owned(), t.tokens(i).into()))
        .collect();
    serde_json::json!({
        "enabled": usage.enabled(),
        "records": t.records.load(Relaxed),
        "reported": t.reported.load(Relaxed),
        "estimated": t.estimated.load(Relaxed),
        "client_closed": t.client_closed.load(Relaxed),
        "tokens": tokens,
        "dropped": usage.dropped.load(Relaxed),
    })
}

/// Keys that would be refused now: over budget, or no request of their rpm share left.
fn limited_keys(rt: &crate::runtime::Runtime) -> Vec<serde_json::Value> {
    let now = rt.clock.now();
    let mut out: Vec<_> = rt
        .keys()
        .filter_map(|k| {
            let remaining = k.rate_limit.as_ref().map(|l| l.limiter.remaining(&l.rate, now));
            let tokens = k.token_limit.as_ref().map(|l| l.limiter.remaining(&l.rate, now));
            (k.over_budget || remaining == Some(0) || tokens == Some(0)).then(|| {
                let rate = k.rate_limit.as_ref().map(|l| l.rate);
                let token_rate = k.token_limit.as_ref().map(|l| l.rate);
                serde_json::json!({
                    "name": &*k.name,
                    "over_budget": k.over_budget,
                    "nodes": rate.or(token_rate).map(|r| r.nodes),
                    "rpm": rate.map(|r| r.per_minute),
                    "share": rate.map(|r| r.burst),
                    "remaining_requests": remaining,
                    "tpm": token_rate.map(|r| r.per_minute),
                    "token_share": token_rate.map(|r| r.burst),
                    "remaining_tokens": tokens,
                })
            })
        })
        .collect();
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    out
}

/// The last active health check of every checked account (or upstream model).
fn health_checks(board: &crate::health::Board) -> Vec<serde_json::Value> {
    board
        .all()
        .into_iter()
        .map(|(key, last)| {
            let mut value = last_check(&last);
            value["provider"] = (*key.provider).into();
            value["account"] = (*key.account).into();
            value["model"] = key.model.as_deref().into();
            value
        })
        .collect()
}

fn last_check(last: &crate::health::LastCheck) -> serde_json::Value {
    serde_json::json!({
        "request": last.request.as_str(),
        "result": last.result.as_str(),
        "reason": last.reason,
        "latency_ms": last.latency.as_secs_f64() * 1e3,
        "checked_at_unix_ms": last.at_unix_ms,
        "checked_seconds_ago": last.at.elapsed().as_secs_f64(),
    })
}

fn breaker(s: &crate::breaker::Snapshot) -> serde_json::Value {
    serde_json::json!({
        "state": s.state.as_str(),
        "reason": s.reason.map(|r| r.as_str()),
        "reopen_in_seconds": s.reopen_in.map(|d| d.as_secs_f64()),
        "consecutive_failures": s.consecutive_failures,
        "window_requests": s.window_requests,
        "window_failures": s.window_failures,
    })
}

fn success_rate(total: u64, errors: u64) -> Option<f64> {
    (total > 0).then(|| (total - errors.min(total)) as f64 / total as f64)
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
