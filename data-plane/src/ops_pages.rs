//! The main port's own pages, answered before authentication (like
//! `/healthz`): `GET /health` (status, version, uptime and per-endpoint
//! counters and breaker states: provider, account and model names, never a
//! key or an upstream URL), `GET /` (name, version, links), `GET
//! /openapi.json` (the OpenAPI 3.1 description of this API, the static
//! `data-plane/openapi.json`) and `GET /docs` (a self-contained page,
//! `data-plane/docs.html`, that renders it without any outside script).

use crate::body::{ProxyBody, full};
use crate::breaker::State;
use crate::error::ProxyError;
use crate::state::Shared;
use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};

/// The OpenAPI description of the data plane's API.
pub const OPENAPI: &str = include_str!("../openapi.json");
/// The page that renders it.
pub const DOCS: &str = include_str!("../docs.html");
/// switchyard-proxy's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `/docs` may do: its own inline script and style, and fetch `openapi.json` from here.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                           connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The answer when `path` is one of these pages; `None` for every other path.
pub fn answer(shared: &Shared, method: &Method, path: &str) -> Option<Result<Response<ProxyBody>, ProxyError>> {
    let page = match path {
        "/health" | "/" | "/openapi.json" | "/docs" => path,
        _ => return None,
    };
    if method != Method::GET && method != Method::HEAD {
        return Some(Err(ProxyError::MethodNotAllowed(method.to_string())));
    }
    Some(Ok(match page {
        "/health" => {
            let (status, body) = health(shared);
            reply(status, "application/json", Bytes::from(body.to_string()))
        }
        "/" => reply(StatusCode::OK, "application/json", Bytes::from(index().to_string())),
        "/openapi.json" => reply(StatusCode::OK, "application/json", Bytes::from_static(OPENAPI.as_bytes())),
        _ => {
            let mut page = reply(StatusCode::OK, "text/html; charset=utf-8", Bytes::from_static(DOCS.as_bytes()));
            page.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_POLICY));
            page
        }
    }))
}

/// `GET /`: what this is, and where to look next.
pub fn index() -> serde_json::Value {
    serde_json::json!({
        "name": "switchyard-proxy",
        "description": "Switchyard's data plane: an OpenAI-compatible LLM gateway",
        "version": VERSION,
        "links": {"health": "/health", "docs": "/docs", "openapi": "/openapi.json", "models": "/v1/models"},
    })
}

/// `GET /health`: 200 while serving (`ok`, or `degraded` when an enabled
/// endpoint's breaker is not closed), 503 `unavailable` otherwise.
pub fn health(shared: &Shared) -> (StatusCode, serde_json::Value) {
    let rt = shared.runtime.load();
    let endpoints: Vec<(serde_json::Value, bool)> = rt
        .as_ref()
        .map(|rt| {
            rt.endpoints
                .iter()
                .map(|e| {
                    let state = e.breaker.snapshot().state;
                    let (requests, errors) = (e.stats.total(), e.stats.errors());
                    let value = serde_json::json!({
                        "model": &*e.route,
                        "provider": &*e.provider.name,
                        "account": &*e.account().name,
                        "upstream_model": &*e.upstream_model,
                        "enabled": e.enabled(),
                        "breaker": state.as_str(),
                        "requests": requests,
                        "errors": errors,
                        "success_rate": (requests > 0)
                            .then(|| (requests - errors.min(requests)) as f64 / requests as f64),
                    });
                    (value, e.enabled() && state != State::Closed)
                })
                .collect()
        })
        .unwrap_or_default();
    let (status, word) = if !shared.ready() {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    } else if endpoints.iter().any(|(_, degraded)| *degraded) {
        (StatusCode::OK, "degraded")
    } else {
        (StatusCode::OK, "ok")
    };
    let body = serde_json::json!({
        "status": word,
        "version": VERSION,
        "uptime_seconds": shared.started.elapsed().as_secs_f64(),
        "config_version": rt.as_ref().map(|rt| rt.version),
        "endpoints": endpoints.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
    });
    (status, body)
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<ProxyBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn spec() -> Value {
        serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
    }

    /// Every `$ref` in `value`, as its schema or response name.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_description_is_openapi_3_1_and_every_reference_resolves() {
        let spec = spec();
        assert_eq!(spec["openapi"], "3.1.0");
        assert!(spec["info"]["title"].is_string() && spec["info"]["version"].is_string());
        let mut all = Vec::new();
        refs(&spec, &mut all);
        assert!(all.len() > 20, "{all:?}");
        for r in all {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r}: only local references"));
            assert!(spec.pointer(pointer).is_some(), "{r} does not resolve");
        }
        // Every operation: an id, a summary, at least one response with a description.
        let mut ids = std::collections::HashSet::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(["get", "post", "delete"].contains(&method.as_str()), "{method} {path}");
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "{method} {path}: duplicate id");
                assert!(op["summary"].is_string(), "{method} {path}");
                let responses = op["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{method} {path}");
            }
        }
    }

    #[test]
    fn every_path_the_gateway_routes_is_described() {
        // The main port's routing (proxy::serve and serve_key, and the pages above).
        let routed = [
            ("post", "/v1/chat/completions"),
            ("post", "/v1/completions"),
            ("post", "/v1/embeddings"),
            ("get", "/v1/models"),
            ("get", "/v1/models/{model}"),
            ("post", "/v1/responses"),
            ("post", "/v1/messages"),
            ("post", "/v1/messages/count_tokens"),
            ("get", "/health"),
            ("get", "/"),
            ("get", "/openapi.json"),
            ("get", "/docs"),
            ("get", "/healthz"),
            ("get", "/readyz"),
        ];
        let spec = spec();
        for (method, path) in routed {
            assert!(spec["paths"][path][method].is_object(), "{method} {path} is not described");
        }
        let described: usize = spec["paths"].as_object().unwrap().values().map(|i| i.as_object().unwrap().len()).sum();
        assert_eq!(described, routed.len(), "the description lists an operation the gateway does not route");
        // The pages answered before authentication say so.
        for path in ["/health", "/", "/openapi.json", "/docs", "/healthz", "/readyz"] {
            assert_eq!(spec["paths"][path]["get"]["security"], serde_json::json!([]), "{path}");
        }
    }

    #[test]
    fn the_docs_page_is_self_contained() {
        assert!(DOCS.starts_with("<!doctype html>"));
        assert!(DOCS.contains("fetch(\"openapi.json\""));
        // No outside script, style or font: the page renders on a machine without internet.
        for outside in ["<script src", "<link", "@import", "http://", "https://"] {
            assert!(!DOCS.contains(outside), "docs.html refers to something outside: {outside}");
        }
        // The spec's text goes in as text, never as markup.
        assert!(!DOCS.contains("innerHTML") && !DOCS.contains("insertAdjacentHTML") && !DOCS.contains("eval("));
    }
}
