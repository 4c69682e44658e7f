//! `POST /v1/messages/count_tokens`, for a model the key may use, answered by
//! the provider where it has a count and by the gateway's estimate otherwise;
//! `x-switchyard-token-count` says which (`upstream` or `estimated`).
//!
//! The count goes through [`super::failover`] like any request, among the
//! route's endpoints that have a count: an `anthropic` provider gets the
//! client's body (its model rewritten) at its own `/v1/messages/count_tokens`,
//! with the headers `/v1/messages` gets; a `gemini` provider the prompt
//! translated as for `/v1/messages`, as `countTokens`
//! ([`crate::translate::gemini::count`]). A failed attempt counts against its
//! endpoint's breaker and moves on as any attempt does. The estimate answers
//! when no endpoint of the route has a count (OpenAI's API has none), and as
//! the last resort when the counts failed: every attempt failed, every
//! endpoint was open, or the last answer was a 404 (an Anthropic-compatible
//! server without the endpoint), a 429 or a 5xx. The provider's other error
//! answers (a 400 for a request it refuses) are the client's.
//!
//! A count is never billed: the request gets no usage record.

use super::forward::Request as Outgoing;
use super::payload::{JsonBody, Payload};
use super::{Call, auth, content_length, failover, json, json_response, request, route, translated_body};
use crate::body::ProxyBody;
use crate::error::{ProxyError, Rejection};
use crate::ingress::{Api, messages};
use crate::state::InflightGuard;
use crate::usage::Meter;
use crate::usage::estimate::prompt_tokens;
use crate::usage::tap::Text;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;

const SOURCE: HeaderName = HeaderName::from_static("x-switchyard-token-count");

pub(super) async fn count_tokens(
    call: &Call<'_>,
    req: Request<Incoming>,
    guard: InflightGuard,
) -> Result<Response<ProxyBody>, Rejection> {
    let Call { shared, rt, key, api_path } = *call;
    let (parts, body) = req.into_parts();
    let length = content_length(&parts.headers);
    let body = request::read(shared, body, length, rt.config.settings.limits.max_body).await?;
    let probe = json::probe(&body.bytes).map_err(ProxyError::BadJson)?;
    let route = route::resolve(rt, key, probe.model.as_ref().map(|(m, _)| m.as_str()))?;
    let api = Api::CountTokens;
    let (chat, estimate, back) = match api.request(&body.bytes) {
        Ok((inbound, back)) => {
            let tokens = prompt_tokens(&inbound.chat);
            (Ok(translated_body(shared, inbound.chat)?), Some(tokens), Some(back))
        }
        // What chat cannot express only Anthropic itself can count.
        Err(e) if route.tiers.iter().flatten().any(|e| api.native(e.provider.kind)) => (Err(e.to_string()), None, None),
        Err(e) => return Err(ProxyError::BadRequest(e.to_string()).into()),
    };
    let counted = route.tiers.iter().flatten().any(|e| api.reaches(e.provider.kind));
    if let (false, Some(tokens)) = (counted, estimate) {
        return Ok(estimated(tokens));
    }
    let native = JsonBody {
        body,
        model: probe.model.map(|(_, span)| span),
        insert_model: true,
        open: probe.open,
        usage_edit: None,
    };
    let query = parts.uri.query().and_then(auth::strip_key_from_query);
    let req = Outgoing {
        idempotent: true,
        method: parts.method,
        api_path,
        query: query.as_deref(),
        client_headers: &parts.headers,
        model_in_url: true,
        stream: false,
        accounted: false,
        asked: Some(api),
        back: back.as_ref(),
        text: Text::None,
        budget: &shared.bodies,
    };
    let answer = failover::run(call, &route, req, Payload::Ingress { native, chat }, guard, Meter::off()).await;
    let status = match &answer {
        Ok(response) => response.status(),
        Err(rejection) => rejection.error.status(),
    };
    match (answer, estimate) {
        (Ok(mut response), _) if status.is_success() => {
            response.headers_mut().insert(SOURCE, HeaderValue::from_static("upstream"));
            Ok(response)
        }
        (_, Some(tokens)) if falls_back(status) => {
            tracing::debug!(status = status.as_u16(), model = %route.name, "no upstream token count: estimated");
            Ok(estimated(tokens))
        }
        (answer, _) => answer,
    }
}

/// Whether a count that ended with `status` is answered by the estimate.
fn falls_back(status: StatusCode) -> bool {
    status == StatusCode::NOT_FOUND || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

fn estimated(tokens: u64) -> Response<ProxyBody> {
    let mut response = json_response(Bytes::from(messages::count_tokens_body(tokens)));
    response.headers_mut().insert(SOURCE, HeaderValue::from_static("estimated"));
    response
}
