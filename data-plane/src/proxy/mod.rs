//! The request path, in order:
//! `admit (concurrency) -> auth (client key) -> read body (limits, budget,
//! timeout) -> parse (model, stream) -> route (model -> endpoints) -> pick an
//! endpoint -> forward (upstream request, response or stream back)`.
//!
//! Each request loads the current [`Runtime`] once and uses it to its end.
//! Errors become responses in one place: [`ProxyError::into_response`].

mod auth;
mod forward;
mod json;
mod request;
mod route;
mod stream;

use crate::body::{ProxyBody, full};
use crate::error::ProxyError;
use crate::runtime::Runtime;
use crate::state::{InflightGuard, Shared};
use bytes::Bytes;
use forward::{Attempt, OutBody, forward};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use std::sync::Arc;

/// Serves one client request; never fails (errors are responses).
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ProxyBody> {
    match serve(&shared, req).await {
        Ok(response) => response,
        Err(e) => {
            shared.metrics.reject(e.status().as_u16());
            tracing::debug!(code = e.code(), status = e.status().as_u16(), "request refused");
            e.into_response()
        }
    }
}

async fn serve(shared: &Arc<Shared>, req: Request<Incoming>) -> Result<Response<ProxyBody>, ProxyError> {
    let path = req.uri().path();
    match path {
        "/healthz" => return Ok(text(StatusCode::OK, "ok")),
        "/readyz" if shared.ready() => return Ok(text(StatusCode::OK, "ready")),
        "/readyz" => return Ok(text(StatusCode::SERVICE_UNAVAILABLE, "not ready")),
        _ => {}
    }
    // Both `/v1/chat/completions` and `/chat/completions`.
    let api_path = match path.strip_prefix("/v1") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
        _ => path.to_owned(),
    };
    let rt = shared.runtime.load_full().ok_or(ProxyError::NotReady)?;
    let guard = InflightGuard::admit(shared, rt.config.settings.limits.max_concurrency)?;
    let now = unix_now();
    let key = auth::authenticate(&rt, req.headers(), req.uri().query(), now)?;

    match api_path.as_str() {
        "/models" => {
            require_method(&req, &Method::GET)?;
            Ok(json_response(key.models_json.clone()))
        }
        p if p.starts_with("/models/") => {
            require_method(&req, &Method::GET)?;
            model_object(&rt, &key, &p["/models/".len()..])
        }
        "/chat/completions" | "/completions" | "/embeddings" => {
            require_method(&req, &Method::POST)?;
            routed_json(shared, &rt, &key, req, &api_path, guard).await
        }
        "" | "/" => Err(ProxyError::UnknownPath(path.to_owned())),
        _ => passthrough(shared, &rt, &key, req, &api_path, guard).await,
    }
}

/// Chat, completions, embeddings: a JSON body routed on its `model`.
async fn routed_json(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    key: &crate::runtime::KeyEntry,
    req: Request<Incoming>,
    api_path: &str,
    guard: InflightGuard,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (parts, body) = req.into_parts();
    let body = request::read(shared, body, content_length(&parts.headers), rt.config.settings.limits.max_body).await?;
    let probe = json::probe(&body.bytes).map_err(ProxyError::BadJson)?;
    let resolved = route::resolve(rt, key, probe.model.as_ref().map(|(m, _)| m.as_str()))?;
    let endpoint = resolved.pick().ok_or_else(|| ProxyError::NoEndpoint(resolved.name()))?;
    openai_like(&endpoint)?;
    let upstream_model = endpoint.upstream_model.clone();
    let out = match &probe.model {
        Some((m, _)) if *m == *upstream_model => vec![body.bytes.clone()],
        Some((_, span)) => json::splice(&body.bytes, span.clone(), &upstream_model).to_vec(),
        None => json::insert_model(&body.bytes, &upstream_model),
    };
    let query = parts.uri.query().and_then(auth::strip_key_from_query);
    let attempt = Attempt {
        method: parts.method,
        api_path,
        query: query.as_deref(),
        client_headers: &parts.headers,
        body: OutBody::Parts(out),
        model: Some(&upstream_model),
        stream: probe.stream,
    };
    Ok(forward(endpoint, attempt, guard).await)
}

/// Any other `/v1/*`: JSON bodies with a `model` are routed (and rewritten)
/// like the rest; other bodies (file and audio uploads) stream through
/// unbuffered to the default model's endpoint.
async fn passthrough(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    key: &crate::runtime::KeyEntry,
    req: Request<Incoming>,
    api_path: &str,
    guard: InflightGuard,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    let has_body =
        content_length(&parts.headers).is_some_and(|n| n > 0) || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let query = parts.uri.query().and_then(auth::strip_key_from_query);

    let (resolved, buffered) = if let Some(incoming) = body.take_if(|_| is_json && has_body) {
        let body =
            request::read(shared, incoming, content_length(&parts.headers), rt.config.settings.limits.max_body).await?;
        let probe = json::probe(&body.bytes).map_err(ProxyError::BadJson)?;
        let resolved = route::resolve(rt, key, probe.model.as_ref().map(|(m, _)| m.as_str()))?;
        (resolved, Some((body, probe)))
    } else {
        (route::resolve(rt, key, None)?, None)
    };
    let endpoint = resolved.pick().ok_or_else(|| ProxyError::NoEndpoint(resolved.name()))?;
    openai_like(&endpoint)?;
    let upstream_model = endpoint.upstream_model.clone();
    let (out_body, stream, model_in_body) = match buffered {
        Some((body, probe)) => {
            let parts_out = match &probe.model {
                Some((m, _)) if *m == *upstream_model => vec![body.bytes.clone()],
                Some((_, span)) => json::splice(&body.bytes, span.clone(), &upstream_model).to_vec(),
                None => vec![body.bytes.clone()],
            };
            (OutBody::Parts(parts_out), probe.stream, probe.model.is_some())
        }
        None => match body.filter(|_| has_body) {
            Some(incoming) => (OutBody::Stream(incoming), false, false),
            None => (OutBody::Empty, false, false),
        },
    };
    let attempt = Attempt {
        method: parts.method,
        api_path,
        query: query.as_deref(),
        client_headers: &parts.headers,
        body: out_body,
        // Azure needs a deployment in the URL only for model-bearing calls.
        model: model_in_body.then_some(&*upstream_model),
        stream,
    };
    Ok(forward(endpoint, attempt, guard).await)
}

/// `GET /v1/models/{id}`: the model object, if this key may use it.
fn model_object(rt: &Runtime, key: &crate::runtime::KeyEntry, id: &str) -> Result<Response<ProxyBody>, ProxyError> {
    let route = rt.route(id).ok_or_else(|| ProxyError::ModelNotFound(id.to_owned()))?;
    if !key.may_use(route) {
        return Err(ProxyError::ModelNotFound(id.to_owned()));
    }
    let body = serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": "switchyard"});
    Ok(json_response(Bytes::from(body.to_string())))
}

fn openai_like(endpoint: &crate::runtime::Endpoint) -> Result<(), ProxyError> {
    if endpoint.provider.kind.is_openai_like() {
        return Ok(());
    }
    Err(ProxyError::BadRequest(format!(
        "The provider '{}' is of kind {}, which this gateway cannot serve yet.",
        endpoint.provider.name,
        endpoint.provider.kind.as_str()
    )))
}

fn require_method(req: &Request<Incoming>, method: &Method) -> Result<(), ProxyError> {
    if req.method() == method { Ok(()) } else { Err(ProxyError::MethodNotAllowed(req.method().to_string())) }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn json_response(body: Bytes) -> Response<ProxyBody> {
    let mut response = Response::new(full(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(full(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}
