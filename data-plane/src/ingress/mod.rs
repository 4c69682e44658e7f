//! The client APIs served besides OpenAI's chat completions: Anthropic's
//! Messages (`POST /v1/messages`) and OpenAI's Responses (`POST /v1/responses`).
//!
//! Each is translated to chat completions on the way in and back on the way
//! out, so routing, failover, breakers, key limits and usage accounting stay
//! one path: the proxy sees a chat-completions request, and the answer (a
//! `chat.completion`, or `chat.completion.chunk` events ending with a usage
//! chunk, as [`crate::translate`] also produces for translated providers)
//! is turned into the client's API at the edge. A provider that speaks the
//! client's API natively (an `anthropic` provider for `/v1/messages`, an
//! `openai` one for `/v1/responses`) gets the client's body as it came and
//! streams back byte for byte instead.
//!
//! Each API module offers the same things: `request` (the client's body in,
//! an [`Inbound`] out), `response` (a whole `chat.completion` in, the
//! client's answer out) and a [`ClientStream`]. An API whose answer repeats
//! fields of its request (OpenAI's `Response` echoes `instructions`, `tools`,
//! `tool_choice`, `temperature`, ..., and the schema requires them) also
//! returns them beside the [`Inbound`] from `request`, and its `response` and
//! stream take them in place of the model name, as a `chat.completion` does
//! not carry them (see [`responses::Echo`]).

use crate::translate::TranslateError;

pub mod messages;
pub mod responses;

use std::sync::Arc;

/// A client's request as chat completions.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The chat-completions JSON body, naming the client's `model` as given.
    /// A stream always asks for `stream_options.include_usage` (the client's
    /// API reports usage at the end of a stream, so the chat stream must too).
    pub chat: Vec<u8>,
    /// The client asked for a stream.
    pub stream: bool,
    /// The model the client named (answers name it back).
    pub model: String,
}

/// Turns chat-completion chunks into the client's API's SSE events, one
/// chunk at a time. Everything returned is framed SSE, ready for the client
/// (`event: NAME\ndata: JSON\n\n`).
pub trait ClientStream: Send {
    /// One `chat.completion.chunk` (the `data:` payload; `[DONE]` is never passed).
    fn chunk(&mut self, data: &str) -> Result<Vec<u8>, TranslateError>;
    /// The chat stream ended after `[DONE]`: the closing events.
    fn finish(&mut self) -> Result<Vec<u8>, TranslateError>;
    /// The stream broke after it started: the error event the client's API
    /// documents, which ends the stream (`kind`: the error's type in that API,
    /// e.g. `overloaded_error`; `message`: a sentence for the client).
    fn error(&mut self, kind: &str, message: &str) -> Vec<u8>;
}

/// A client API served by translation (or natively, by providers that speak it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Anthropic's Messages API: `POST /v1/messages`.
    Messages,
    /// OpenAI's Responses API: `POST /v1/responses`.
    Responses,
    /// Anthropic's token count, `POST /v1/messages/count_tokens`: asked of
    /// `anthropic` providers as it came and of `gemini` ones translated
    /// (`countTokens`); the other kinds have no count (see [`Api::reaches`]).
    CountTokens,
}

impl Api {
    /// The API served at `api_path` (the path after `/v1`), if it is one of these.
    pub fn of(api_path: &str) -> Option<Self> {
        match api_path {
            "/messages" => Some(Api::Messages),
            "/responses" => Some(Api::Responses),
            "/messages/count_tokens" => Some(Api::CountTokens),
            _ => None,
        }
    }

    /// The path after `/v1`.
    pub fn path(self) -> &'static str {
        match self {
            Api::Messages => "/messages",
            Api::Responses => "/responses",
            Api::CountTokens => "/messages/count_tokens",
        }
    }

    /// The path a provider that does not speak this API is asked (its
    /// translation's, [`crate::translate::Adapter::for_request`]): chat
    /// completions, or for the token count the count itself.
    pub fn translated_path(self) -> &'static str {
        match self {
            Api::Messages | Api::Responses => "/chat/completions",
            Api::CountTokens => Api::CountTokens.path(),
        }
    }

    /// Whether a provider of `kind` can answer this API at all (natively or
    /// translated); endpoints that cannot are not tried.
    pub fn reaches(self, kind: switchyard_proto::model::ProviderKind) -> bool {
        use switchyard_proto::model::ProviderKind;
        match self {
            Api::Messages | Api::Responses => true,
            Api::CountTokens => matches!(kind, ProviderKind::Anthropic | ProviderKind::Gemini),
        }
    }

    /// Whether a provider of `kind` speaks this API itself (then it gets the
    /// client's body as it came, and its answer goes back untouched).
    pub fn native(self, kind: switchyard_proto::model::ProviderKind) -> bool {
        use switchyard_proto::model::ProviderKind;
        match self {
            Api::Messages | Api::CountTokens => kind == ProviderKind::Anthropic,
            Api::Responses => kind == ProviderKind::OpenAi,
        }
    }

    /// The client's body as chat completions, and what its answer's way back needs.
    pub fn request(self, body: &[u8]) -> Result<(Inbound, Back), TranslateError> {
        match self {
            Api::Messages => {
                let inbound = messages::request(body)?;
                let back = Back::Messages { model: inbound.model.clone() };
                Ok((inbound, back))
            }
            Api::Responses => {
                let request = responses::request(body)?;
                Ok((request.inbound, Back::Responses(Arc::new(request.echo))))
            }
            Api::CountTokens => {
                let (chat, model) = messages::count_request(body)?;
                Ok((Inbound { chat, stream: false, model: model.clone() }, Back::CountTokens { model }))
            }
        }
    }
}

/// What turning a chat answer back into the client's API needs: the model
/// the client named (Messages), or the request fields a `Response` repeats.
#[derive(Debug, Clone, PartialEq)]
pub enum Back {
    Messages {
        model: String,
    },
    Responses(Arc<responses::Echo>),
    /// A translated count's answer is already Anthropic's (`{"input_tokens": N}`):
    /// only an error answer is turned into the client's shape.
    CountTokens {
        model: String,
    },
}

impl Back {
    pub fn api(&self) -> Api {
        match self {
            Back::Messages { .. } => Api::Messages,
            Back::Responses(_) => Api::Responses,
            Back::CountTokens { .. } => Api::CountTokens,
        }
    }

    /// A whole `chat.completion` as the client's answer.
    pub fn response(&self, chat: &[u8]) -> Result<Vec<u8>, TranslateError> {
        match self {
            Back::Messages { model } => messages::response(chat, model),
            Back::Responses(echo) => responses::response(chat, echo),
            Back::CountTokens { .. } => Ok(chat.to_vec()),
        }
    }

    /// The translator of a chat stream into the client's events (a count is
    /// never a stream; one that came as chat chunks would be a message).
    pub fn stream(&self) -> Box<dyn ClientStream> {
        match self {
            Back::Messages { model } | Back::CountTokens { model } => Box::new(messages::Stream::new(model)),
            Back::Responses(echo) => Box::new(responses::Stream::new(echo.as_ref().clone())),
        }
    }

    /// The `kind` [`ClientStream::error`] takes for `error`: Anthropic's error
    /// type, or OpenAI's error code.
    pub fn error_kind(&self, error: &crate::error::ProxyError) -> &'static str {
        match self {
            Back::Messages { .. } | Back::CountTokens { .. } => error.anthropic_type(),
            Back::Responses(_) => error.code(),
        }
    }
}
