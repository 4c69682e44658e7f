//! Translation between OpenAI's chat completions and providers that speak
//! another API (`anthropic`, `gemini`). The proxy stays OpenAI-shaped from end
//! to end: a translated request leaves as the provider's JSON, and its answer
//! comes back through these functions as the exact bytes OpenAI would have
//! sent (a `chat.completion` object, or `chat.completion.chunk` events with
//! `"usage": null` in every chunk and a last usage chunk when
//! `stream_options.include_usage` was asked for), so everything after
//! (validation, first-event wait, usage accounting, the removal of injected
//! usage) treats it as an OpenAI answer.
//!
//! Each provider module offers the same four things: `request` (OpenAI body
//! in, already naming the upstream model, provider body out), `response` (the
//! provider's whole answer in, a `chat.completion` out), `error_message`
//! (the text of the provider's error body) and a [`StreamTranslator`].
//! Gemini also serves OpenAI's embeddings (`gemini::embed`) and Anthropic's
//! token count (`gemini::count`); [`Op`] says which of these a request is.

mod adapter;
pub mod anthropic;
pub mod gemini;

pub use adapter::{Adapter, Route, anthropic_native};

/// Which of a provider's operations a translated request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A completion (Anthropic's Messages, Gemini's `generateContent`): the
    /// answer comes back as a `chat.completion` or its chunks.
    Chat,
    /// OpenAI's `POST /v1/embeddings` (Gemini's `batchEmbedContents`): the
    /// answer comes back as OpenAI's embeddings list.
    Embeddings,
    /// Anthropic's `POST /v1/messages/count_tokens`, its prompt given as chat
    /// completions (Gemini's `countTokens`): the answer comes back as
    /// Anthropic's `{"input_tokens": N}`.
    CountTokens,
}

/// What a translated request asked, as its answer's translation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Chat,
    /// Embeddings of `inputs` texts, to be sent back as base64 when `base64`;
    /// `estimated_tokens` (the gateway's estimate of the input) is the usage
    /// stated when the provider reports none.
    Embeddings {
        inputs: usize,
        base64: bool,
        estimated_tokens: u64,
    },
    CountTokens,
}

/// A whole answer translated.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub body: Vec<u8>,
    /// The `usage` in `body` is the gateway's estimate, not the provider's
    /// count (accounting then estimates as for an answer without usage).
    pub usage_estimated: bool,
}

impl Answer {
    fn reported(body: Vec<u8>) -> Self {
        Self { body, usage_estimated: false }
    }
}

/// An OpenAI request translated for a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The provider's JSON request body (taken out to be sent; the rest is
    /// what the answer's translation needs).
    pub body: Vec<u8>,
    /// The client asked for a stream.
    pub stream: bool,
    /// `stream_options.include_usage` was set (by the client, or injected by
    /// the gateway): the translated stream ends with a usage chunk.
    pub include_usage: bool,
    /// The upstream model (the request's `model`).
    pub model: String,
    /// What it asks for.
    pub ask: Ask,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The client's request cannot be expressed for this provider (HTTP 400;
    /// the message names the field, e.g. "messages[2].content[0].type: ...").
    #[error("{0}")]
    Request(String),
    /// The provider's answer is not what its API documents (HTTP 502).
    #[error("{0}")]
    Response(String),
}

/// Turns a provider's SSE stream into OpenAI `chat.completion.chunk` events,
/// one upstream event at a time. Returned strings are the `data:` payloads
/// (JSON, without `data: ` and without the blank line); the caller frames
/// them and adds `data: [DONE]` after [`finish`](Self::finish).
pub trait StreamTranslator: Send {
    /// One upstream event (`event:` name, `data:` text).
    fn event(&mut self, name: Option<&str>, data: &str) -> Result<Vec<String>, TranslateError>;
    /// The upstream stream ended: whatever is still owed (the usage chunk).
    /// An error when the stream ended before the provider said it was complete.
    fn finish(&mut self) -> Result<Vec<String>, TranslateError>;
}
