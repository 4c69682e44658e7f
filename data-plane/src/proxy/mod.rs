//! The request path, in order:
//! `admit (concurrency) -> auth (client key) -> key limits (spend budget, rpm)
//! -> read body (limits, memory budget, timeout) -> parse (model, stream) ->
//! route (model -> endpoints) -> pick an endpoint -> forward (upstream request,
//! response or stream back)`.
//!
//! Each request loads the current [`Runtime`] once and uses it to its end.
//! Every step returns its error; [`handle`] is the one place an error becomes
//! a response (in the shape of the client's API, [`Ingress`]) and is counted
//! in `switchyard_requests_total`.
//! Once the key is known the request carries a usage [`Meter`]: an error
//! returned from here finishes it as a refusal; the attempts and the answer
//! finish it otherwise (see [`crate::usage`]).

mod answer;
mod auth;
mod count;
mod drain;
mod failover;
mod forward;
pub(crate) mod json;
mod outlet;
mod passthrough;
mod payload;
mod request;
mod route;
mod stream;

use crate::body::{ProxyBody, full};
use crate::error::{Ingress, ProxyError, Rejection};
use crate::ingress::Api;
use crate::runtime::{KeyEntry, Runtime};
use crate::state::{InflightGuard, Shared};
use crate::usage::Meter;
use crate::usage::tap::Text;
use bytes::Bytes;
use forward::Request as Outgoing;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use payload::{JsonBody, Payload};
use request::Buffered;
use std::sync::Arc;

/// Serves one client request; never fails (errors are responses).
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ProxyBody> {
    let ingress = Ingress::of(api_path(req.uri().path()));
    match serve(&shared, req).await {
        Ok(response) => response,
        Err(Rejection { error, counted }) => {
            let status = error.status().as_u16();
            if !counted {
                shared.metrics.reject(status);
            }
            tracing::debug!(code = error.code(), status, "request refused");
            error.into_response(ingress)
        }
    }
}

/// The path after `/v1`: both `/v1/chat/completions` and `/chat/completions` are served.
fn api_path(path: &str) -> &str {
    match path.strip_prefix("/v1") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    }
}

/// One request by a known key, as every step after authentication reads it.
struct Call<'a> {
    shared: &'a Arc<Shared>,
    rt: &'a Arc<Runtime>,
    key: &'a KeyEntry,
    /// The path after `/v1`, e.g. `/chat/completions`.
    api_path: &'a str,
}

async fn serve(shared: &Arc<Shared>, req: Request<Incoming>) -> Result<Response<ProxyBody>, Rejection> {
    let path = req.uri().path();
    if let Some(page) = crate::ops_pages::answer(shared, req.method(), path) {
        return page.map_err(Into::into);
    }
    match path {
        "/healthz" => return Ok(text(StatusCode::OK, "ok")),
        "/readyz" if shared.ready() => return Ok(text(StatusCode::OK, "ready")),
        "/readyz" => return Ok(text(StatusCode::SERVICE_UNAVAILABLE, "not ready")),
        _ => {}
    }
    let api_path = api_path(path).to_owned();
    let rt = shared.runtime.load_full().ok_or(ProxyError::NotReady)?;
    if shared.closed_by_staleness(&rt) {
        return Err(ProxyError::Stale(shared.staleness().as_secs()).into());
    }
    let guard = InflightGuard::admit(shared, rt.config.settings.limits.max_concurrency)?;
    let arrived = tokio::time::Instant::now();
    let now_ms = crate::wall::unix_ms();
    let now = now_ms / 1000;
    let key = auth::authenticate(&rt, req.headers(), req.uri().query(), now)?;
    let mut meter = shared.usage.meter(&key.name, rt.version, arrived, now_ms);
    let call = Call { shared, rt: &rt, key: &key, api_path: &api_path };
    let served = serve_key(&call, req, guard, &mut meter).await;
    if let Err(e) = &served {
        // A no-op once the meter went on to the attempts, which finish it themselves.
        meter.reject(e.error.status().as_u16());
    }
    served
}

/// A request by a known key; an error here is recorded as a refusal.
async fn serve_key(
    call: &Call<'_>,
    req: Request<Incoming>,
    guard: InflightGuard,
    meter: &mut Meter,
) -> Result<Response<ProxyBody>, Rejection> {
    let Call { shared, rt, key, api_path } = *call;
    auth::admit(rt, key, &shared.metrics)?;
    meter.charge_tokens(key.token_limit.as_ref(), rt.clock);
    match api_path {
        "/models" => {
            meter.cancel();
            require_method(&req, &Method::GET)?;
            Ok(json_response(key.models_json.clone()))
        }
        p if p.starts_with("/models/") => {
            meter.cancel();
            require_method(&req, &Method::GET)?;
            Ok(model_object(rt, key, &p["/models/".len()..])?)
        }
        "/chat/completions" | "/completions" | "/embeddings" => {
            require_method(&req, &Method::POST)?;
            proxied(call, req, Kind::Inference, guard, meter).await
        }
        "/messages/count_tokens" => {
            // A count is not billed.
            meter.cancel();
            require_method(&req, &Method::POST)?;
            count::count_tokens(call, req, guard).await
        }
        "/messages" | "/responses" => {
            require_method(&req, &Method::POST)?;
            let api = Api::of(api_path).ok_or_else(|| ProxyError::UnknownPath(api_path.to_owned()))?;
            proxied(call, req, Kind::Api(api), guard, meter).await
        }
        "" | "/" => Err(ProxyError::UnknownPath(req.uri().path().to_owned()).into()),
        _ => {
            passthrough::admit(key, req.method(), req.uri().path(), api_path)?;
            proxied(call, req, Kind::Passthrough, guard, meter).await
        }
    }
}

/// How a path's request body is treated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Chat, completions, embeddings: always a JSON body, routed on its
    /// `model` (the default model is written in when it names none).
    Inference,
    /// Any other `/v1/*`: a JSON body with a `model` is routed and rewritten
    /// the same way; other bodies (file and audio uploads) stream through
    /// unbuffered to the default model's endpoint.
    Passthrough,
    /// Another client API ([`crate::ingress`]): routed on its `model`, sent
    /// as it came to providers that speak it and as chat completions to the others.
    Api(Api),
}

/// Read, route and send on: the request goes to [`failover::run`].
async fn proxied(
    call: &Call<'_>,
    req: Request<Incoming>,
    kind: Kind,
    guard: InflightGuard,
    meter: &mut Meter,
) -> Result<Response<ProxyBody>, Rejection> {
    let Call { shared, rt, key, api_path } = *call;
    let (parts, body) = req.into_parts();
    let length = content_length(&parts.headers);
    let has_body = length.is_some_and(|n| n > 0) || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));

    let max_body = rt.config.settings.limits.max_body;
    let mut back = None;
    let (route, payload, stream, model_in_url) = if let Kind::Api(api) = kind {
        let body = request::read(shared, body, length, max_body).await?;
        let probe = json::probe(&body.bytes).map_err(ProxyError::BadJson)?;
        let route = route::resolve(rt, key, probe.model.as_ref().map(|(m, _)| m.as_str()))?;
        let chat = match api.request(&body.bytes) {
            Ok((inbound, way_back)) => {
                back = Some(way_back);
                let chat = translated_body(shared, inbound.chat)?;
                meter.request_body(&chat.body);
                Ok(chat)
            }
            // What chat cannot express only a provider that speaks the client's API can take.
            Err(e) if route.tiers.iter().flatten().any(|e| api.native(e.provider.kind)) => {
                meter.request_body(&body);
                Err(e.to_string())
            }
            Err(e) => return Err(ProxyError::BadRequest(e.to_string()).into()),
        };
        let stream = probe.stream;
        meter.stream(stream);
        let native = JsonBody {
            body,
            model: probe.model.map(|(_, span)| span),
            insert_model: true,
            open: probe.open,
            usage_edit: None,
        };
        (route, Payload::Ingress { native, chat }, stream, true)
    } else if kind == Kind::Inference || (is_json && has_body) {
        let body = request::read(shared, body, length, max_body).await?;
        meter.request_body(&body);
        let probe = json::probe(&body.bytes).map_err(ProxyError::BadJson)?;
        meter.stream(probe.stream);
        let route = route::resolve(rt, key, probe.model.as_ref().map(|(m, _)| m.as_str()))?;
        let inference = kind == Kind::Inference;
        // Azure needs a deployment in the URL only for model-bearing calls.
        let model_in_url = inference || probe.model.is_some();
        let payload = Payload::Json(JsonBody {
            body,
            model: probe.model.map(|(_, span)| span),
            insert_model: inference,
            open: probe.open,
            usage_edit: probe.usage_edit,
        });
        (route, payload, probe.stream, model_in_url)
    } else {
        let route = route::resolve(rt, key, None)?;
        let payload = if has_body { Payload::Stream(Some(body)) } else { Payload::Empty };
        (route, payload, false, false)
    };
    meter.route(&route);
    let query = parts.uri.query().and_then(auth::strip_key_from_query);
    // Inference is the documented failover; a passthrough POST or DELETE may create or delete objects.
    let idempotent = kind != Kind::Passthrough || parts.method == Method::GET;
    let req = Outgoing {
        idempotent,
        method: parts.method,
        api_path,
        query: query.as_deref(),
        client_headers: &parts.headers,
        model_in_url,
        stream,
        accounted: meter.is_on(),
        asked: match kind {
            Kind::Api(api) => Some(api),
            _ => None,
        },
        back: back.as_ref(),
        text: Text::for_path(api_path),
        budget: &shared.bodies,
    };
    let meter = std::mem::replace(meter, Meter::off());
    failover::run(call, &route, req, payload, guard, meter).await
}

/// A client API's chat translation, held under the body budget like the body it came from.
fn translated_body(shared: &Shared, chat: Vec<u8>) -> Result<JsonBody, ProxyError> {
    let mut reserved = None;
    shared.bodies.reserve(&mut reserved, chat.len()).map_err(|_| ProxyError::BufferBudget)?;
    let body = Buffered::new(Bytes::from(chat), reserved);
    let probe = json::probe(&body.bytes).map_err(ProxyError::BadJson)?;
    Ok(JsonBody {
        body,
        model: probe.model.map(|(_, span)| span),
        insert_model: true,
        open: probe.open,
        usage_edit: None,
    })
}

/// `GET /v1/models/{id}`: the model object, if this key may use it (a
/// route or alias, a direct call's name, a name a wildcard route serves).
fn model_object(rt: &Runtime, key: &KeyEntry, id: &str) -> Result<Response<ProxyBody>, ProxyError> {
    let owned_by = route::owner(rt, key, id).ok_or_else(|| ProxyError::ModelNotFound(id.to_owned()))?;
    let body = serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": owned_by});
    Ok(json_response(Bytes::from(body.to_string())))
}

fn require_method(req: &Request<Incoming>, method: &Method) -> Result<(), ProxyError> {
    if req.method() == method { Ok(()) } else { Err(ProxyError::MethodNotAllowed(req.method().to_string())) }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
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
