//! Where translation meets an attempt ([`crate::proxy::forward`]): which
//! requests a provider kind translates, the upstream URL and body, error
//! bodies made OpenAI-shaped, whole answers translated, and streams wrapped
//! so that OpenAI SSE comes out of them.

use super::{Answer, Ask, Op, StreamTranslator, TranslateError, Translated, anthropic, gemini};
use crate::budget::BodyBudget;
use crate::error::ProxyError;
use crate::runtime::ProviderEntry;
use crate::sse::bounded::Events;
use crate::upstream::{Broken, Upstream};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use switchyard_proto::model::ProviderKind;

/// The `anthropic-version` header sent: the Messages API version translated to.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A Messages API request passed to an `anthropic` provider as it came
/// (`/v1/messages` and `/v1/messages/count_tokens` ingress, `api_path` being
/// the path after `/v1`): its URL, and the `anthropic-version` header the
/// API requires when the client sent none (a client's own, and its
/// `anthropic-beta`, go as they are).
pub fn anthropic_native(base_url: &str, api_path: &str, headers: &mut http::HeaderMap) -> String {
    let version = http::HeaderName::from_static("anthropic-version");
    if !headers.contains_key(&version) {
        headers.insert(version, http::HeaderValue::from_static(ANTHROPIC_VERSION));
    }
    anthropic_url(base_url, api_path)
}

/// `{base}/v1/messages`, for a base URL given with or without its `/v1`.
fn messages_url(base_url: &str) -> String {
    anthropic_url(base_url, "/messages")
}

/// `{base}/v1{api_path}`, for a base URL given with or without its `/v1`.
fn anthropic_url(base_url: &str, api_path: &str) -> String {
    format!("{}/v1{api_path}", base_url.trim_end_matches("/v1"))
}

/// A provider kind that needs translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    Anthropic,
    Gemini,
}

/// What [`Adapter::for_request`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The provider speaks OpenAI: nothing to translate.
    Native,
    Translated(Adapter, Op),
    /// The provider cannot serve this path (the client's error message).
    Unsupported(String),
}

impl Adapter {
    /// How `provider` serves `api_path` (the path after `/v1`; for
    /// `/messages/count_tokens`, the count asked of a provider that does not
    /// speak Anthropic's API).
    pub fn for_request(provider: &ProviderEntry, api_path: &str) -> Route {
        let (adapter, serves) = match provider.kind {
            ProviderKind::Anthropic => (Adapter::Anthropic, "only /v1/chat/completions"),
            ProviderKind::Gemini => (Adapter::Gemini, "only /v1/chat/completions and /v1/embeddings"),
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Azure
                if api_path == "/messages/count_tokens" =>
            {
                return Route::Unsupported(format!("{} providers have no token count", provider.kind.as_str()));
            }
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Azure => return Route::Native,
        };
        match (adapter, api_path) {
            (_, "/chat/completions") => Route::Translated(adapter, Op::Chat),
            (Adapter::Gemini, "/embeddings") => Route::Translated(adapter, Op::Embeddings),
            (Adapter::Gemini, "/messages/count_tokens") => Route::Translated(adapter, Op::CountTokens),
            _ => Route::Unsupported(format!(
                "/v1{api_path} is not available on {} providers ({serves})",
                provider.kind.as_str()
            )),
        }
    }

    /// The client's (already spliced) OpenAI body, for the provider's `op`.
    pub fn request(self, op: Op, provider: &ProviderEntry, openai: &[u8]) -> Result<Translated, TranslateError> {
        match (self, op) {
            (Adapter::Anthropic, Op::Chat) => anthropic::request(openai, provider.default_max_tokens),
            (Adapter::Gemini, Op::Chat) => gemini::request(openai),
            (Adapter::Gemini, Op::Embeddings) => gemini::embed::request(openai),
            (Adapter::Gemini, Op::CountTokens) => gemini::count::request(openai),
            (Adapter::Anthropic, _) => Err(TranslateError::Request("anthropic providers take only chat".into())),
        }
    }

    /// The upstream URL for a translated request to a provider at `base_url`
    /// (with or without the API version it names: `/v1`, `/v1beta`).
    pub fn url(self, base_url: &str, translated: &Translated) -> String {
        match self {
            Adapter::Anthropic => messages_url(base_url),
            Adapter::Gemini => {
                let origin = base_url.trim_end_matches("/v1beta").trim_end_matches("/v1");
                let method = match translated.ask {
                    Ask::Chat => gemini::chat_method(translated.stream),
                    Ask::Embeddings { .. } => "batchEmbedContents",
                    Ask::CountTokens => "countTokens",
                };
                format!("{origin}{}", gemini::path(&translated.model, method))
            }
        }
    }

    /// Headers the provider requires besides its auth (already set).
    pub fn headers(self, headers: &mut http::HeaderMap) {
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        if self == Adapter::Anthropic {
            let version = http::HeaderValue::from_static(ANTHROPIC_VERSION);
            headers.insert(http::HeaderName::from_static("anthropic-version"), version);
        }
    }

    /// A whole answer in the shape its request came in: a `chat.completion`,
    /// OpenAI's embeddings list, or Anthropic's token count.
    pub fn response(self, body: &[u8], translated: &Translated) -> Result<Answer, TranslateError> {
        match (self, translated.ask) {
            (Adapter::Anthropic, _) => anthropic::response(body).map(Answer::reported),
            (Adapter::Gemini, Ask::Chat) => gemini::response(body, &translated.model).map(Answer::reported),
            (Adapter::Gemini, ask @ Ask::Embeddings { .. }) => gemini::embed::response(body, &translated.model, ask),
            (Adapter::Gemini, Ask::CountTokens) => gemini::count::response(body).map(Answer::reported),
        }
    }

    /// An upstream error answer as the gateway's error (OpenAI-shaped when it
    /// reaches the client): the provider's message, and the field it names
    /// (`param`) and its own error code, when its body has them.
    pub fn error(self, provider: &ProviderEntry, status: http::StatusCode, body: &[u8]) -> ProxyError {
        let (message, (param, code)) = match self {
            Adapter::Anthropic => (anthropic::error_message(body), anthropic::error_fields(body)),
            Adapter::Gemini => (gemini::error_message(body), gemini::error_fields(body)),
        };
        ProxyError::UpstreamAnswer {
            status,
            provider: provider.name.to_string(),
            kind: provider.kind.as_str(),
            message,
            param,
            code,
        }
    }

    /// The provider's own message in an error body, bounded (for the error
    /// that lists every failed attempt).
    pub fn error_message(self, body: &[u8]) -> Option<String> {
        let message = match self {
            Adapter::Anthropic => anthropic::error_message(body),
            Adapter::Gemini => gemini::error_message(body),
        };
        crate::upstream::refusal::detail(&message?)
    }

    /// The provider's SSE stream as OpenAI's (its events capped and, while
    /// large, held in `budget`).
    pub fn stream(self, upstream: Upstream, translated: &Translated, budget: &BodyBudget) -> Upstream {
        let translator: Box<dyn StreamTranslator> = match self {
            Adapter::Anthropic => Box::new(anthropic::Stream::new(translated.include_usage)),
            Adapter::Gemini => Box::new(gemini::Stream::new(&translated.model, translated.include_usage)),
        };
        Box::pin(Translating { upstream, parser: Events::new(budget), translator, out: VecDeque::new(), ended: false })
    }
}

/// An upstream stream re-framed: provider events in, OpenAI `data:` events out,
/// `data: [DONE]` once the provider said it was complete. A provider error
/// event, an event that does not parse, or an end before completion break the
/// stream (as a cut upstream would).
struct Translating {
    upstream: Upstream,
    parser: Events,
    translator: Box<dyn StreamTranslator>,
    out: VecDeque<Result<Bytes, Broken>>,
    ended: bool,
}

fn frame(payloads: Vec<String>) -> Option<Bytes> {
    if payloads.is_empty() {
        return None;
    }
    let mut out = BytesMut::new();
    for p in payloads {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(p.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    Some(out.freeze())
}

impl Translating {
    fn chunk(&mut self, chunk: &[u8]) {
        let events = match self.parser.push(chunk) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(code = e.code(), "translated upstream stream refused");
                return self.fail(e.code());
            }
        };
        let mut payloads = Vec::new();
        for event in events {
            let Some(data) = &event.data else { continue };
            match self.translator.event(event.event.as_deref(), data) {
                Ok(more) => payloads.extend(more),
                Err(e) => {
                    if let Some(bytes) = frame(payloads) {
                        self.out.push_back(Ok(bytes));
                    }
                    return self.fail(&e.to_string());
                }
            }
        }
        if let Some(bytes) = frame(payloads) {
            self.out.push_back(Ok(bytes));
        }
    }

    fn end(&mut self) {
        match self.translator.finish() {
            Ok(payloads) => {
                let mut bytes = BytesMut::new();
                if let Some(last) = frame(payloads) {
                    bytes.extend_from_slice(&last);
                }
                bytes.extend_from_slice(b"data: [DONE]\n\n");
                self.out.push_back(Ok(bytes.freeze()));
            }
            Err(e) => self.fail(&e.to_string()),
        }
    }

    fn fail(&mut self, why: &str) {
        tracing::debug!(error = why, "translated stream broke");
        self.out.push_back(Err(Broken));
        self.ended = true;
    }
}

impl Stream for Translating {
    type Item = Result<Bytes, Broken>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Poll::Ready(Some(item));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            match self.upstream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => self.chunk(&chunk),
                Poll::Ready(Some(Err(Broken))) => self.fail("the upstream stream broke"),
                Poll::Ready(None) => {
                    self.ended = true;
                    self.end();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(model: &str, stream: bool) -> Translated {
        Translated { body: Vec::new(), stream, include_usage: false, model: model.into(), ask: Ask::Chat }
    }

    #[test]
    fn urls_with_or_without_the_version_in_the_base() {
        let t = translated("claude-sonnet-4-5", false);
        for base in ["https://api.anthropic.com", "https://api.anthropic.com/v1"] {
            assert_eq!(Adapter::Anthropic.url(base, &t), "https://api.anthropic.com/v1/messages");
        }
        for base in ["https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com/v1beta"] {
            assert_eq!(
                Adapter::Gemini.url(base, &translated("gemini-2.5-flash", true)),
                "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
            );
        }
    }

    #[test]
    fn gemini_embeddings_and_counts_have_their_own_methods() {
        let base = "https://generativelanguage.googleapis.com/v1beta";
        let mut t = translated("gemini-embedding-001", false);
        t.ask = Ask::Embeddings { inputs: 1, base64: false, estimated_tokens: 1 };
        assert_eq!(
            Adapter::Gemini.url(base, &t),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
        t.ask = Ask::CountTokens;
        assert_eq!(
            Adapter::Gemini.url(base, &t),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:countTokens"
        );
        let mut headers = http::HeaderMap::new();
        assert_eq!(
            anthropic_native("https://api.anthropic.com/v1", "/messages/count_tokens", &mut headers),
            "https://api.anthropic.com/v1/messages/count_tokens"
        );
        assert_eq!(headers["anthropic-version"], ANTHROPIC_VERSION);
    }

    async fn run(events: &str) -> Vec<Result<Bytes, Broken>> {
        use futures_util::StreamExt;
        let upstream: Upstream = Box::pin(futures_util::stream::iter([Ok(Bytes::from(events.to_owned()))]));
        let budget = BodyBudget::new();
        budget.resize(1 << 20);
        Adapter::Anthropic.stream(upstream, &translated("m", false), &budget).collect().await
    }

    #[tokio::test]
    async fn streams_are_reframed_and_end_with_done_only_when_complete() {
        let complete = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",",
            "\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,",
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},",
            "\"usage\":{\"output_tokens\":2}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let out = run(complete).await;
        let text: String = out.iter().map(|c| String::from_utf8_lossy(c.as_ref().unwrap()).into_owned()).collect();
        assert!(text.starts_with("data: {"), "{text}");
        assert!(text.contains("\"content\":\"hi\""), "{text}");
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

        // Cut before message_stop: the stream breaks, no [DONE].
        let cut = &complete[..complete.find("event: message_delta").unwrap()];
        let out = run(cut).await;
        assert_eq!(out.last(), Some(&Err(Broken)));
        assert!(out.iter().filter_map(|c| c.as_ref().ok()).all(|c| !String::from_utf8_lossy(c).contains("[DONE]")));
    }
}
