//! One check's request, in the provider's API, and the judgement of its answer.
//!
//! `models` asks for the model list: `GET {base_url}/models` (openai,
//! openai-compatible), `GET {base_url}/openai/models?api-version=...` (azure),
//! `GET /v1/models` with `anthropic-version` (anthropic), `GET /v1beta/models`
//! (gemini). `chat` asks one upstream model for one token: a chat completion
//! with `max_completion_tokens: 1` (openai) or `max_tokens: 1` (the
//! OpenAI-compatible kinds, azure at its deployment), and for anthropic and
//! gemini the same request through their adapter (a Messages call with
//! `max_tokens: 1`, a `generateContent` with `maxOutputTokens: 1`), so the
//! check takes the path real traffic takes.
//!
//! Each goes with the provider's static headers and the account's auth, and
//! nothing of the client's. The answer is judged as an attempt's would be
//! ([`crate::proxy`]): 401/403 auth, 402 or `insufficient_quota` quota, 429
//! rate limited (with its `Retry-After`), 5xx and broken bodies server
//! errors; a 2xx must carry JSON (read up to [`MAX_BODY`]; a longer model
//! list is taken as it is). Any other status is the check's own problem
//! (`rejected`): the endpoint's breaker learns nothing from it.

use crate::breaker::Failure;
use crate::health_board::CheckResult;
use crate::runtime::{AccountEntry, ProviderEntry};
use crate::translate::Adapter;
use crate::upstream::{self, OutgoingBody, SendError, Upstream, refusal};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use std::collections::VecDeque;
use switchyard_proto::model::{HealthRequest, ProviderKind};

/// A 2xx body is read (and must be JSON) up to this size; past it the status alone decides.
pub const MAX_BODY: usize = 1 << 20;
/// An error body is read up to this size, to tell quota from rate limiting.
const MAX_ERROR_BODY: usize = 16 * 1024;
/// What a `chat` check says.
const PROMPT: &str = "ping";

/// What to check: an account, for `models`, or one of its upstream models, for `chat`.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub provider: &'a ProviderEntry,
    pub account: &'a AccountEntry,
    pub ask: Ask<'a>,
}

/// The question a check asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask<'a> {
    Models,
    /// One token from this upstream model.
    Chat(&'a str),
}

impl Ask<'_> {
    pub fn request(self) -> HealthRequest {
        match self {
            Ask::Models => HealthRequest::Models,
            Ask::Chat(_) => HealthRequest::Chat,
        }
    }
}

/// What the endpoint's breaker learns from one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Failed(Failure),
    /// The answer says nothing about the endpoint.
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub result: CheckResult,
    /// Short, for `/status`: never a body, a URL or a key.
    pub reason: Option<String>,
}

impl Outcome {
    fn new(verdict: Verdict, result: CheckResult, reason: impl Into<String>) -> Self {
        Self { verdict, result, reason: Some(reason.into()) }
    }

    pub fn healthy() -> Self {
        Self { verdict: Verdict::Healthy, result: CheckResult::Ok, reason: None }
    }

    pub fn timed_out() -> Self {
        Self::new(Verdict::Failed(Failure::Timeout), CheckResult::Timeout, "timed out")
    }

    fn server(reason: impl Into<String>) -> Self {
        Self::new(Verdict::Failed(Failure::Server), CheckResult::ServerError, reason)
    }
}

/// Sends the check and judges its answer (the caller bounds it in time).
pub async fn run(target: Target<'_>) -> Outcome {
    let Some((method, url, headers, body)) = build(target) else {
        return Outcome::new(
            Verdict::Neutral,
            CheckResult::Rejected,
            "the check cannot be expressed for this provider",
        );
    };
    match upstream::send(target.provider, method, url, headers, body).await {
        Ok((status, headers, body)) => judge(status, &headers, body).await,
        Err(SendError::Timeout) => Outcome::timed_out(),
        Err(SendError::Connect(_)) => {
            Outcome::new(Verdict::Failed(Failure::Connect), CheckResult::Connect, "connect error")
        }
        Err(SendError::Other(_)) => {
            Outcome::new(Verdict::Failed(Failure::Connect), CheckResult::Connect, "connection failed")
        }
    }
}

/// Method, URL, headers and body of the check; `None` when a URL cannot be built
/// (an azure deployment named `..`).
fn build(t: Target<'_>) -> Option<(Method, String, HeaderMap, OutgoingBody)> {
    let (provider, base) = (t.provider, t.provider.base_url.as_str());
    let mut headers = upstream::request_headers(&HeaderMap::new(), provider, t.account);
    let adapter = match provider.kind {
        ProviderKind::Anthropic => Some(Adapter::Anthropic),
        ProviderKind::Gemini => Some(Adapter::Gemini),
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Azure => None,
    };
    match t.ask {
        Ask::Models => {
            let url = match provider.kind {
                // As `Adapter::url` reads a base URL: with or without the API version it names.
                ProviderKind::Anthropic => format!("{}/v1/models", base.trim_end_matches("/v1")),
                ProviderKind::Gemini => {
                    format!("{}/v1beta/models", base.trim_end_matches("/v1beta").trim_end_matches("/v1"))
                }
                _ => upstream::url(provider, "/models", None, None).ok()?,
            };
            if let Some(adapter) = adapter {
                adapter.headers(&mut headers);
                headers.remove(header::CONTENT_TYPE);
            }
            Some((Method::GET, url, headers, OutgoingBody::Empty))
        }
        Ask::Chat(model) => {
            let limit = if provider.kind == ProviderKind::OpenAi { "max_completion_tokens" } else { "max_tokens" };
            let mut chat = serde_json::json!({
                "model": model,
                "messages": [{"role": "user", "content": PROMPT}],
                "stream": false,
            });
            chat[limit] = 1.into();
            let chat = chat.to_string().into_bytes();
            let (url, body) = match adapter {
                Some(adapter) => {
                    let translated = adapter.request(crate::translate::Op::Chat, provider, &chat).ok()?;
                    adapter.headers(&mut headers);
                    (adapter.url(base, &translated), translated.body)
                }
                None => {
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    (upstream::url(provider, "/chat/completions", Some(model), None).ok()?, chat)
                }
            };
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            Some((Method::POST, url, headers, OutgoingBody::Parts(VecDeque::from([Bytes::from(body)]))))
        }
    }
}

async fn judge(status: StatusCode, headers: &HeaderMap, body: Upstream) -> Outcome {
    let http = format!("HTTP {}", status.as_u16());
    if status.is_success() {
        return match read(body, MAX_BODY).await {
            Read::Whole(bytes) if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() => Outcome::healthy(),
            Read::Whole(_) => Outcome::new(Verdict::Failed(Failure::Malformed), CheckResult::Malformed, "not JSON"),
            Read::Longer => Outcome::healthy(),
            Read::Broken => Outcome::server("the answer was cut off"),
        };
    }
    let failed = |failure, result| Outcome::new(Verdict::Failed(failure), result, http.clone());
    match status.as_u16() {
        401 | 403 => failed(Failure::Auth, CheckResult::Auth),
        402 => failed(Failure::Quota, CheckResult::Quota),
        429 => match read(body, MAX_ERROR_BODY).await {
            Read::Whole(b) if refusal::is_quota(&b) => failed(Failure::Quota, CheckResult::Quota),
            _ => failed(Failure::RateLimited { retry_after: refusal::retry_after(headers) }, CheckResult::RateLimited),
        },
        500..=599 => Outcome::server(http),
        _ => Outcome::new(Verdict::Neutral, CheckResult::Rejected, http),
    }
}

enum Read {
    Whole(Bytes),
    /// Longer than the limit: not read further.
    Longer,
    Broken,
}

async fn read(mut body: Upstream, max: usize) -> Read {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { return Read::Broken };
        if out.len() + chunk.len() > max {
            return Read::Longer;
        }
        out.extend_from_slice(&chunk);
    }
    Read::Whole(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Overlay, prepare};
    use futures_util::stream;
    use std::sync::Arc;
    use std::time::Duration;
    use switchyard_proto::document::{self, Resolver};

    const YAML: &str = r#"
providers:
  - {name: oai, kind: openai, base_url: "https://api.openai.example/v1", headers: {X-Team: t1}, accounts: [{name: a, api_key: "sk-oai-0000000000"}]}
  - {name: compat, kind: openai-compatible, base_url: "http://compat.example/api/v1/", accounts: [{name: a, api_key: "sk-compat-00000000"}]}
  - {name: az, kind: azure, base_url: "https://r.openai.azure.com", api_version: "2024-10-21", accounts: [{name: a, api_key: "az-key-0000000000"}]}
  - {name: claude, kind: anthropic, base_url: "https://api.anthropic.example/v1", accounts: [{name: a, api_key: "sk-ant-0000000000"}]}
  - {name: gem, kind: gemini, base_url: "https://gemini.example/v1beta", accounts: [{name: a, api_key: "gem-key-000000000"}]}
"#;

    fn runtime() -> crate::runtime::Runtime {
        let config = document::parse(YAML, &Resolver::process()).unwrap();
        prepare(Arc::new(config), 1, Arc::new(Overlay::default()), None, None).unwrap()
    }

    /// Method, URL, the headers named, and the body as JSON (null when empty).
    fn built(provider: &str, ask: Ask<'_>) -> (Method, String, Vec<(String, String)>, serde_json::Value) {
        let rt = runtime();
        let p = rt.provider(provider).unwrap();
        let (method, url, headers, body) = build(Target { provider: p, account: &p.accounts[0], ask }).unwrap();
        let mut named: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .filter(|(k, _)| k != "content-length")
            .collect();
        named.sort();
        let body = match body {
            OutgoingBody::Empty => serde_json::Value::Null,
            OutgoingBody::Parts(parts) => {
                serde_json::from_slice(&parts.iter().flatten().copied().collect::<Vec<u8>>()).unwrap()
            }
            OutgoingBody::Stream(_) => panic!("a check never streams its body"),
        };
        (method, url, named, body)
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn models_asks_each_kind_for_its_model_list() {
        let (m, url, headers, body) = built("oai", Ask::Models);
        assert_eq!(
            (m, url.as_str(), body),
            (Method::GET, "https://api.openai.example/v1/models", serde_json::Value::Null)
        );
        assert_eq!(headers, h(&[("authorization", "Bearer sk-oai-0000000000"), ("x-team", "t1")]));
        assert_eq!(built("compat", Ask::Models).1, "http://compat.example/api/v1/models");
        let (_, url, headers, _) = built("az", Ask::Models);
        assert_eq!(url, "https://r.openai.azure.com/openai/models?api-version=2024-10-21");
        assert_eq!(headers, h(&[("api-key", "az-key-0000000000")]));
        let (_, url, headers, _) = built("claude", Ask::Models);
        assert_eq!(url, "https://api.anthropic.example/v1/models");
        assert_eq!(headers, h(&[("anthropic-version", "2023-06-01"), ("x-api-key", "sk-ant-0000000000")]));
        let (_, url, headers, _) = built("gem", Ask::Models);
        assert_eq!(url, "https://gemini.example/v1beta/models");
        assert_eq!(headers, h(&[("x-goog-api-key", "gem-key-000000000")]));
    }

    #[test]
    fn chat_asks_one_token_in_each_kind_s_api() {
        let messages = serde_json::json!([{"role": "user", "content": "ping"}]);
        let (m, url, headers, body) = built("oai", Ask::Chat("gpt-4o-mini"));
        assert_eq!((m, url.as_str()), (Method::POST, "https://api.openai.example/v1/chat/completions"));
        let expected = serde_json::json!({"model": "gpt-4o-mini", "messages": messages, "stream": false, "max_completion_tokens": 1});
        assert_eq!(body, expected);
        assert!(headers.contains(&("content-type".into(), "application/json".into())));
        let (_, _, _, body) = built("compat", Ask::Chat("llama"));
        assert_eq!(body, serde_json::json!({"model": "llama", "messages": messages, "stream": false, "max_tokens": 1}));
        let (_, url, _, body) = built("az", Ask::Chat("my-deployment"));
        assert_eq!(
            url,
            "https://r.openai.azure.com/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(body["max_tokens"], 1);
        let (_, url, headers, body) = built("claude", Ask::Chat("claude-haiku"));
        assert_eq!(url, "https://api.anthropic.example/v1/messages");
        assert!(headers.contains(&("anthropic-version".into(), "2023-06-01".into())));
        assert_eq!((&body["model"], &body["max_tokens"]), (&"claude-haiku".into(), &1.into()));
        assert_eq!(body["messages"][0]["role"], "user");
        let (_, url, _, body) = built("gem", Ask::Chat("gemini-2.0-flash"));
        assert_eq!(url, "https://gemini.example/v1beta/models/gemini-2.0-flash:generateContent");
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 1);
    }

    fn body(parts: &[&'static [u8]], broken: bool) -> Upstream {
        let mut items: Vec<Result<Bytes, upstream::Broken>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        if broken {
            items.push(Err(upstream::Broken));
        }
        Box::pin(stream::iter(items))
    }

    async fn judged(status: u16, headers: &[(&'static str, &'static str)], parts: &[&'static [u8]]) -> Outcome {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_static(v));
        }
        judge(StatusCode::from_u16(status).unwrap(), &map, body(parts, false)).await
    }

    #[tokio::test]
    async fn answers_are_judged_as_an_attempt_s_would_be() {
        let ok = judged(200, &[], &[br#"{"object":"list","#, br#""data":[]}"#]).await;
        assert_eq!(ok, Outcome::healthy());
        let not_json = judged(200, &[], &[b"<html>"]).await;
        assert_eq!((not_json.verdict, not_json.result), (Verdict::Failed(Failure::Malformed), CheckResult::Malformed));
        let cut = judge(StatusCode::OK, &HeaderMap::new(), body(&[b"{\"da"], true)).await;
        assert_eq!((cut.verdict, cut.result), (Verdict::Failed(Failure::Server), CheckResult::ServerError));
        // A model list past the limit: the status decides.
        let long: &'static [u8] = Box::leak(vec![b' '; MAX_BODY + 1].into_boxed_slice());
        assert_eq!(judged(200, &[], &[b"[", long]).await, Outcome::healthy());

        type Case = (u16, &'static [(&'static str, &'static str)], &'static [u8], Verdict, CheckResult);
        let cases: [Case; 8] = [
            (401, &[], b"{}", Verdict::Failed(Failure::Auth), CheckResult::Auth),
            (403, &[], b"{}", Verdict::Failed(Failure::Auth), CheckResult::Auth),
            (402, &[], b"{}", Verdict::Failed(Failure::Quota), CheckResult::Quota),
            (
                429,
                &[],
                br#"{"error":{"code":"insufficient_quota"}}"#,
                Verdict::Failed(Failure::Quota),
                CheckResult::Quota,
            ),
            (
                429,
                &[("retry-after", "12")],
                b"{}",
                Verdict::Failed(Failure::RateLimited { retry_after: Some(Duration::from_secs(12)) }),
                CheckResult::RateLimited,
            ),
            (503, &[], b"{}", Verdict::Failed(Failure::Server), CheckResult::ServerError),
            (404, &[], b"{}", Verdict::Neutral, CheckResult::Rejected),
            (400, &[], b"{}", Verdict::Neutral, CheckResult::Rejected),
        ];
        for (status, headers, text, verdict, result) in cases {
            let outcome = judged(status, headers, &[text]).await;
            assert_eq!((outcome.verdict, outcome.result), (verdict, result), "HTTP {status}");
            assert_eq!(outcome.reason, Some(format!("HTTP {status}")));
        }
    }
}
