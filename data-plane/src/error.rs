//! Every error the proxy itself answers with, and the one place it becomes an
//! HTTP response: in the shape of the API the request came in on
//! ([`Ingress`]); for OpenAI's, JSON `{"error": {"message", "type", "param",
//! "code"}}` with all four fields present (`ErrorResponse` in OpenAI's schema).
//! Messages never carry an upstream key or an upstream URL, and quote what a
//! client sent (model names, paths, methods) only up to [`MAX_ECHO`] characters.

use crate::body::{ProxyBody, full};
use crate::limit::Rate;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use std::sync::Arc;
use switchyard_proto::model::BudgetPeriod;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("Missing API key: pass it as 'Authorization: Bearer <key>', 'x-api-key', 'api-key' or '?api_key='.")]
    MissingKey,
    #[error("Incorrect API key provided.")]
    InvalidKey,
    #[error("This API key has expired.")]
    ExpiredKey,
    #[error("This API key is disabled.")]
    DisabledKey,
    /// The key's Runtime entry: its budget for the period is used up.
    #[error("The key '{key}' has used up its {}.", budget_words(*period))]
    OverBudget { key: Arc<str>, period: Option<BudgetPeriod> },
    /// The key's `rpm` or `tpm` (this node's share of it) is used up for now.
    #[error("Rate limit reached for the key '{key}': {}. Retry in {retry_after_secs} s.", rate_words(*unit, rate))]
    RateLimited { key: Arc<str>, unit: Unit, rate: Rate, retry_after_secs: u64, remaining: u64 },
    #[error("This API key may not use the model '{}'.", echo(.0))]
    ModelNotAllowed(String),
    #[error("The model '{}' does not exist or you do not have access to it.", echo(.0))]
    ModelNotFound(String),
    #[error("No model given, and no default model is configured.")]
    NoModel,
    #[error("We could not parse the JSON body of your request: {}", bounded(.0))]
    BadJson(String),
    #[error("{}", bounded(.0))]
    BadRequest(String),
    #[error("Request body is larger than the limit of {0} bytes.")]
    BodyTooLarge(u64),
    #[error("The request body did not arrive in time.")]
    BodyTimeout,
    #[error("The gateway is at its concurrency limit; retry shortly.")]
    Overloaded,
    /// The listener's bound on open connections (`--max-connections`): written raw, then the connection closes.
    #[error("The gateway has too many open connections; retry shortly.")]
    TooManyConnections,
    #[error("The gateway is out of memory for request bodies; retry shortly.")]
    BufferBudget,
    #[error("The gateway is not ready: it holds no configuration yet.")]
    NotReady,
    #[error(
        "The gateway has had no contact with its control plane for {0} s and refuses traffic (settings.snapshot.fail_closed_after)."
    )]
    Stale(u64),
    #[error("Unknown path: {}", echo(.0))]
    UnknownPath(String),
    /// A passthrough path that could leave the provider's base path (the path echoed is bounded).
    #[error("The path '{path}' cannot be passed on: {why}.")]
    BadPath { path: String, why: &'static str },
    /// A passthrough path the key's policy does not open; `fix` names the field to set.
    #[error("The key '{key}' may not call {method} /v1{path}: {fix}.")]
    PassthroughNotAllowed { key: Arc<str>, method: &'static str, path: String, fix: &'static str },
    #[error("Method {} is not allowed on this path.", echo(.0))]
    MethodNotAllowed(String),
    #[error("No enabled upstream account serves the model '{}'.", echo(.0))]
    NoEndpoint(String),
    #[error("Could not connect to the upstream provider '{0}'.")]
    UpstreamConnect(String),
    #[error("The upstream provider '{0}' did not answer in time.")]
    UpstreamTimeout(String),
    #[error("The upstream provider '{0}' failed: {1}")]
    Upstream(String, &'static str),
    /// A translated provider's own error answer (`kind` is the provider's API),
    /// with the message it gave when there was one, and the field (`param`)
    /// and error code it named; the status is the upstream's.
    #[error("{provider} ({kind}){}", message.as_deref().map_or_else(|| " answered with an error".to_owned(), |m| format!(": {}", bounded(m))))]
    UpstreamAnswer {
        status: StatusCode,
        provider: String,
        kind: &'static str,
        message: Option<String>,
        param: Option<Box<str>>,
        code: Option<Box<str>>,
    },
    #[error("The upstream provider '{0}' refused the gateway's credentials.")]
    UpstreamAuth(String),
    #[error("The gateway's account at the upstream provider '{0}' has no quota left.")]
    UpstreamQuota(String),
    #[error("{summary}")]
    AttemptsFailed { status: StatusCode, summary: String },
    /// Every attempt was refused with a 429 (or an exhausted quota, not all):
    /// retry after the shortest `Retry-After` the upstreams gave.
    #[error("{summary}")]
    UpstreamRateLimited { summary: String, retry_after_secs: Option<u64> },
    #[error("Every upstream endpoint of the model '{}' is failing; retry in {retry_after_secs} s.", echo(model))]
    AllOpen { model: String, retry_after_secs: u64 },
    /// An upstream answer (or SSE event) the gateway will not hold; the second field says why.
    #[error("The answer of the upstream provider '{0}' was refused: {1}.")]
    ResponseTooLarge(String, &'static str),
    /// A stream that broke after its first byte; the second field is the code.
    #[error("The stream from the upstream provider '{0}' ended early: {1}.")]
    StreamCut(String, &'static str),
}

impl ProxyError {
    /// [`ProxyError::BadPath`] for the client's `path`, echoed up to [`MAX_ECHO`] characters.
    pub fn bad_path(path: &str, why: crate::upstream::path::Unsafe) -> Self {
        ProxyError::BadPath { path: echo(path), why: why.as_str() }
    }

    pub fn status(&self) -> StatusCode {
        use ProxyError::*;
        match self {
            MissingKey | InvalidKey | ExpiredKey | DisabledKey => StatusCode::UNAUTHORIZED,
            ModelNotAllowed(_) | PassthroughNotAllowed { .. } => StatusCode::FORBIDDEN,
            OverBudget { .. } | RateLimited { .. } | UpstreamRateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ModelNotFound(_) | UnknownPath(_) => StatusCode::NOT_FOUND,
            NoModel | BadJson(_) | BadRequest(_) | BadPath { .. } => StatusCode::BAD_REQUEST,
            BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Overloaded | TooManyConnections | BufferBudget | NotReady | Stale(_) | NoEndpoint(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            UpstreamConnect(_) | Upstream(..) | UpstreamAuth(_) | UpstreamQuota(_) | ResponseTooLarge(..)
            | StreamCut(..) => StatusCode::BAD_GATEWAY,
            AttemptsFailed { status, .. } | UpstreamAnswer { status, .. } => *status,
            AllOpen { .. } => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// OpenAI's `type`.
    fn kind(&self) -> &'static str {
        use ProxyError::*;
        match self {
            MissingKey | InvalidKey | ExpiredKey | DisabledKey => "invalid_request_error",
            ModelNotAllowed(_) | PassthroughNotAllowed { .. } => "permission_error",
            OverBudget { .. } => "insufficient_quota",
            RateLimited { unit, .. } => unit.as_str(),
            UpstreamRateLimited { .. } => "rate_limit_exceeded",
            // A translated provider's refusal of the request is the client's to fix.
            UpstreamAnswer { status, .. } if status.as_u16() == 429 => "rate_limit_exceeded",
            UpstreamAnswer { status, .. } if status.is_client_error() => "invalid_request_error",
            ModelNotFound(_)
            | NoModel
            | BadJson(_)
            | BadRequest(_)
            | BodyTooLarge(_)
            | BodyTimeout
            | UnknownPath(_)
            | BadPath { .. }
            | MethodNotAllowed(_) => "invalid_request_error",
            Overloaded | TooManyConnections | BufferBudget | NotReady | Stale(_) | NoEndpoint(_) => {
                "service_unavailable"
            }
            UpstreamConnect(_)
            | UpstreamTimeout(_)
            | Upstream(..)
            | UpstreamAuth(_)
            | UpstreamQuota(_)
            | ResponseTooLarge(..)
            | StreamCut(..)
            | UpstreamAnswer { .. }
            | AttemptsFailed { .. }
            | AllOpen { .. } => "upstream_error",
        }
    }

    /// OpenAI's `code`: a stable, low-cardinality label (also used in metrics).
    pub fn code(&self) -> &'static str {
        use ProxyError::*;
        match self {
            MissingKey => "missing_api_key",
            InvalidKey => "invalid_api_key",
            ExpiredKey => "expired_api_key",
            DisabledKey => "disabled_api_key",
            ModelNotAllowed(_) => "model_not_allowed",
            OverBudget { .. } => "budget_exceeded",
            RateLimited { .. } | UpstreamRateLimited { .. } => "rate_limit_exceeded",
            ModelNotFound(_) => "model_not_found",
            NoModel => "model_required",
            BadJson(_) => "invalid_json",
            BadRequest(_) => "invalid_request",
            BodyTooLarge(_) => "body_too_large",
            BodyTimeout => "body_timeout",
            Overloaded => "overloaded",
            TooManyConnections => "too_many_connections",
            BufferBudget => "buffer_budget_exhausted",
            NotReady => "not_ready",
            Stale(_) => "snapshot_stale",
            UnknownPath(_) => "unknown_url",
            BadPath { .. } => "invalid_path",
            MethodNotAllowed(_) => "method_not_allowed",
            PassthroughNotAllowed { .. } => "passthrough_not_allowed",
            NoEndpoint(_) => "no_upstream_available",
            UpstreamConnect(_) => "upstream_connect_error",
            UpstreamTimeout(_) => "upstream_timeout",
            Upstream(..) | UpstreamAnswer { .. } => "upstream_error",
            UpstreamAuth(_) => "upstream_auth_error",
            ResponseTooLarge(..) => "upstream_response_too_large",
            StreamCut(_, code) => code,
            UpstreamQuota(_) => "upstream_quota_exhausted",
            AttemptsFailed { .. } => "upstream_attempts_failed",
            AllOpen { .. } => "upstream_unavailable",
        }
    }

    fn param(&self) -> Option<&'static str> {
        use ProxyError::*;
        match self {
            ModelNotAllowed(_) | ModelNotFound(_) | NoModel => Some("model"),
            _ => None,
        }
    }

    /// The body in OpenAI's shape, also used by streams that fail after their
    /// first byte; a translated provider's error carries its own `param` and `code`.
    pub fn body_json(&self) -> String {
        let (param, code) = match self {
            ProxyError::UpstreamAnswer { param, code, .. } => (param.as_deref(), code.as_deref()),
            _ => (self.param(), None),
        };
        serde_json::json!({
            "error": {"message": self.to_string(), "type": self.kind(), "param": param, "code": code.unwrap_or(self.code())}
        })
        .to_string()
    }

    /// The body in the shape of the client's API.
    pub fn body(&self, ingress: Ingress) -> String {
        match ingress {
            Ingress::OpenAi => self.body_json(),
            Ingress::Anthropic => {
                serde_json::json!({"type": "error", "error": {"type": self.anthropic_type(), "message": self.to_string()}})
                    .to_string()
            }
        }
    }

    /// Anthropic's error `type` for this error's status (docs.claude.com/en/api/errors):
    /// any other 4xx is `invalid_request_error`; the gateway's own 503s are `overloaded_error`.
    pub fn anthropic_type(&self) -> &'static str {
        anthropic_error_type(self.status())
    }

    /// The response: status, the body in the client's API's shape, and the
    /// headers that tell a client when to retry.
    pub fn into_response(self, ingress: Ingress) -> Response<ProxyBody> {
        let mut response = Response::new(full(Bytes::from(self.body(ingress))));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match &self {
            ProxyError::Overloaded | ProxyError::TooManyConnections | ProxyError::BufferBudget => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ProxyError::AllOpen { retry_after_secs, .. }
            | ProxyError::UpstreamRateLimited { retry_after_secs: Some(retry_after_secs), .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ProxyError::RateLimited { unit, rate, retry_after_secs, remaining, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                let (limit, left) = match unit {
                    Unit::Requests => (LIMIT_REQUESTS, REMAINING_REQUESTS),
                    Unit::Tokens => (LIMIT_TOKENS, REMAINING_TOKENS),
                };
                headers.insert(limit, HeaderValue::from(rate.burst));
                headers.insert(left, HeaderValue::from(*remaining));
            }
            _ => {}
        }
        response
    }
}

/// The API a client called, whose error shape it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// OpenAI's (`/v1/chat/completions`, `/v1/responses`, `/v1/embeddings`, ... and every passthrough path):
    /// `{"error": {"message", "type", "param", "code"}}`.
    OpenAi,
    /// Anthropic's Messages API (`/v1/messages`): `{"type": "error", "error": {"type", "message"}}`.
    Anthropic,
}

impl Ingress {
    /// The API of a request path (after `/v1`).
    pub fn of(api_path: &str) -> Self {
        match api_path {
            "/messages" | "/messages/count_tokens" => Ingress::Anthropic,
            _ => Ingress::OpenAi,
        }
    }
}

/// Anthropic's error `type` for an HTTP status.
pub fn anthropic_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// An error leaving the request path, and whether an endpoint's own
/// `switchyard_requests_total` series already counted it (a failed upstream
/// attempt); the boundary counts every other one once, unlabelled.
#[derive(Debug)]
pub struct Rejection {
    pub error: ProxyError,
    pub counted: bool,
}

impl Rejection {
    /// An error an upstream attempt's endpoint counters already hold.
    pub fn counted(error: ProxyError) -> Self {
        Self { error, counted: true }
    }
}

impl From<ProxyError> for Rejection {
    fn from(error: ProxyError) -> Self {
        Self { error, counted: false }
    }
}

/// The most characters of a client's model name, path or method an error message quotes.
pub const MAX_ECHO: usize = 128;

/// The most characters of a free-text message (a parse or translation error) a response carries.
pub const MAX_MESSAGE: usize = 1024;

/// `text` cut at [`MAX_MESSAGE`] characters (then `...`).
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_MESSAGE) {
        None => text.into(),
        Some((at, _)) => format!("{}...", &text[..at]).into(),
    }
}

/// The first [`MAX_ECHO`] characters of `text` (then `...`), control characters shown as `?`.
pub fn echo(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_ECHO).map(|c| if c.is_control() { '?' } else { c }).collect();
    if text.chars().nth(MAX_ECHO).is_some() {
        out.push_str("...");
    }
    out
}

/// OpenAI's rate-limit headers, on a rate-limit refusal: the requests (or
/// tokens) this node admits per minute for the key (its share), and how many are left.
const LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
const REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
const LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
const REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");

/// What a rate limit counts: `rpm` requests or `tpm` tokens (OpenAI's error `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Requests,
    Tokens,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Requests => "requests",
            Unit::Tokens => "tokens",
        }
    }
}

/// "budget for this month", "total budget".
fn budget_words(period: Option<BudgetPeriod>) -> &'static str {
    match period {
        Some(BudgetPeriod::Day) => "budget for today",
        Some(BudgetPeriod::Week) => "budget for this week",
        Some(BudgetPeriod::Month) => "budget for this month",
        Some(BudgetPeriod::Total) => "total budget",
        None => "budget for this period",
    }
}

/// "6 requests per minute" (one node), or with this node's share of a fleet's.
fn rate_words(unit: Unit, rate: &Rate) -> String {
    let units = match (unit, rate.per_minute) {
        (Unit::Requests, 1) => "request",
        (Unit::Tokens, 1) => "token",
        (unit, _) => unit.as_str(),
    };
    match rate.nodes {
        1 => format!("{} {units} per minute", rate.per_minute),
        n => format!("{} {units} per minute across {n} gateway nodes, {} on this one", rate.per_minute, rate.burst),
    }
}

#[cfg(test)]
mod tests;
