//! Anthropic's Messages API (`POST /v1/messages`) behind the OpenAI chat
//! completions interface: [`request`](fn@request) turns a chat completion request into a
//! Messages request, [`response`](fn@response) a `message` into a `chat.completion`,
//! [`Stream`] Messages SSE events into `chat.completion.chunk` payloads, and
//! [`error_message`] reads Anthropic's error body.
//!
//! Request fields Anthropic has no use for but that change nothing in the
//! answer (penalties, `seed`, `logit_bias`, `store`, `service_tier`, ...)
//! are dropped; fields whose meaning would be lost (`n` > 1, `logprobs`,
//! `response_format: json_schema`, audio or file parts, the legacy
//! `function` role) are refused with a message naming the field.
//!
//! Layout: `request` (with the `messages` conversion under it), `response`
//! (also `error_message` and the usage and finish reason the stream shares),
//! `stream`; the error and clock helpers below serve them all.

use serde_json::Value;

use super::TranslateError;

mod request;
mod response;
mod stream;

pub use request::request;
pub use response::{error_fields, error_message, response};
pub use stream::Stream;

/// `{path}: {what} is not supported by anthropic providers`.
fn unsupported(path: &str, what: &str) -> TranslateError {
    TranslateError::Request(format!("{path}: {what} is not supported by anthropic providers"))
}

/// `{path}: {problem}`.
fn invalid(path: &str, problem: &str) -> TranslateError {
    TranslateError::Request(format!("{path}: {problem}"))
}

/// A string value as the JSON text a client would recognize (`"input_audio"`).
fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}
