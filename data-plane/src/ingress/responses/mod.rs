//! OpenAI's Responses API (`POST /v1/responses`) served by providers that
//! speak only chat completions: [`request`](fn@request) turns a
//! `CreateResponse` body into a chat-completions request (and the [`Echo`]
//! the answer repeats), [`response`](fn@response) a `chat.completion` into a
//! `response` object, and [`Stream`] `chat.completion.chunk`s into the
//! Responses streaming events. Pure translation: no I/O, no state kept
//! between requests.
//!
//! The gateway stores nothing, so whatever needs a stored response, prompt,
//! conversation or file is refused with a message naming the field (HTTP
//! 400), as is everything that runs only at OpenAI (built-in tools,
//! moderation, compaction). Nothing is dropped that would change the answer
//! without the client being told.
//!
//! # Request: `CreateResponse` -> chat completions
//!
//! | Responses | chat completions |
//! |---|---|
//! | `model` | `model` (also the answer's `model`) |
//! | `instructions` | a leading `system` message |
//! | `input` as a string | one `user` message |
//! | `input[]` message, role `user` / `assistant` | a message of that role |
//! | `input[]` message, role `system` / `developer` | a `system` message (every chat provider knows `system`) |
//! | content `input_text` / `output_text` | `text` parts (a lone string stays a string) |
//! | content `input_image` with `image_url` (URL or `data:` URL), `detail` low/high/auto | an `image_url` part; `detail: "original"` and `file_id` images: 400 (no file store) |
//! | content `input_file` with `file_data` | a `file` part; `file_id` / `file_url`: 400 |
//! | content `refusal` (assistant) | the assistant message's `refusal` |
//! | `input[]` `function_call` | a `tool_calls` entry (`id` = `call_id`) of the assistant message before it, or of a new one; consecutive calls share one message |
//! | `input[]` `function_call_output` | a `tool` message (`tool_call_id` = `call_id`); text parts only |
//! | `input[]` `reasoning` | dropped: chat completions takes no reasoning back, and providers reject or ignore it |
//! | `input[]` `item_reference`, and every other item type (built-in tool calls, MCP, compaction, custom tools) | 400 naming `input[i]` / `input[i].type` |
//! | `tools[]` `function` (`name`, `description`, `parameters`, `strict`) | a `function` tool; `output_schema` is not sent (chat has no place for it); `defer_loading: true` and `programmatic` callers: 400 |
//! | `tools[]` of any other type (`web_search`, `file_search`, `computer_use_preview`, `code_interpreter`, `mcp`, `custom`, ...) | 400 naming `tools[i].type` |
//! | `tool_choice` `none` / `auto` / `required`, `{type: function, name}`, `allowed_tools` of functions | the chat spelling; other types: 400 |
//! | `parallel_tool_calls` | `parallel_tool_calls` (sent only with tools, as chat requires) |
//! | `max_output_tokens` | `max_completion_tokens` |
//! | `temperature`, `top_p`, `user`, `safety_identifier`, `prompt_cache_key`, `prompt_cache_retention`, `prompt_cache_options`, `service_tier` | the same field |
//! | `top_logprobs`, `include: ["message.output_text.logprobs"]` | `logprobs: true` (+ `top_logprobs`); the answer's logprobs fill `output_text.logprobs` |
//! | `text.format` `json_schema` / `json_object` / `text` | `response_format` (`text`: none) |
//! | `text.verbosity` | `verbosity` |
//! | `reasoning.effort` | `reasoning_effort`; `summary` is echoed (the provider's reasoning comes back as reasoning text) |
//! | `reasoning.mode` other than `standard`, `reasoning.context: "all_turns"` | 400 (earlier reasoning is not sent back, see above) |
//! | `metadata` | echoed only: it tags stored responses, and chat completions accepts it only with `store` |
//! | `max_tool_calls` | echoed only: it bounds built-in tool calls, which are refused |
//! | `stream: true` | `stream: true` and `stream_options.include_usage: true` |
//! | `stream_options.include_obfuscation` | accepted; no `obfuscation` field is added |
//! | `store` absent, null or `false` | accepted; the answer says `store: false` |
//! | `store: true` | 400: the gateway stores no responses (SDKs omit `store`, so the default call is served) |
//! | `previous_response_id`, `conversation`, `prompt` | 400: no stored responses, conversations or prompts; send the whole conversation in `input` |
//! | `background: true` | 400: background responses are stored and polled |
//! | `include` `reasoning.encrypted_content` | accepted; reasoning items carry plain reasoning text and no encrypted content |
//! | `include` of built-in tool outputs, `message.input_image.image_url`, unknown values | 400 naming `include[i]` |
//! | `truncation: "auto"`, `moderation`, `context_management` | 400: only OpenAI does them |
//!
//! # Answer: `chat.completion` -> `response`
//!
//! | chat completions | Responses |
//! |---|---|
//! | `id` (`chatcmpl-X`) | `id` `resp_X`; item ids `rs_X_i`, `msg_X_i`, `fc_X_i` (`i`: the output index) |
//! | `created` | `created_at`; `completed_at` is the translation's wall clock |
//! | `finish_reason` `stop` / `tool_calls` | `status: "completed"` |
//! | `finish_reason` `length` | `status: "incomplete"`, `incomplete_details.reason: "max_output_tokens"`, the last output item `incomplete` |
//! | `finish_reason` `content_filter` | `status: "incomplete"`, `incomplete_details.reason: "content_filter"` |
//! | `message.reasoning_content` (or `reasoning`) | a `reasoning` item, the text as one `reasoning_text` content part, `summary: []` |
//! | `message.content`, `annotations` (`url_citation`), `logprobs` | a `message` item with one `output_text` part (`annotations`, `logprobs`) |
//! | `message.refusal` | a `refusal` part of the message item |
//! | `message.tool_calls[]` | `function_call` items (`call_id` = the call's id) |
//! | `usage.prompt_tokens`, `prompt_tokens_details.cached_tokens` | `input_tokens`, `input_tokens_details.cached_tokens` (`cache_write_tokens`: the detail if given, else 0) |
//! | `usage.completion_tokens`, `completion_tokens_details.reasoning_tokens`, `total_tokens` | `output_tokens`, `output_tokens_details.reasoning_tokens`, `total_tokens` |
//! | `service_tier` | `service_tier` (when it is one the schema knows) |
//! | (the request) | `instructions`, `tools`, `tool_choice`, `parallel_tool_calls`, `temperature`, `top_p`, `top_logprobs`, `max_output_tokens`, `max_tool_calls`, `reasoning`, `text`, `truncation`, `user`, `safety_identifier`, `prompt_cache_key`, `metadata`, as the client sent them (`null` or the API's default when it did not); `store: false`, `background: false`, `previous_response_id: null` |
//!
//! # Stream: chunks -> events
//!
//! Every event is framed `event: TYPE\ndata: JSON\n\n` and numbered by
//! `sequence_number` from 0. The first chunk sends `response.created` and
//! `response.in_progress` (status `in_progress`, no output). Reasoning deltas
//! open a `reasoning` item (`output_item.added`, `content_part.added` of a
//! `reasoning_text` part, `reasoning_text.delta`...); text deltas a `message`
//! item (`output_item.added`, `content_part.added`, `output_text.delta`...,
//! `output_text.annotation.added` for citations), refusal deltas a `refusal`
//! part of it (`refusal.delta`); each tool call (by its chunk `index`, so
//! calls may interleave) a `function_call` item (`output_item.added`,
//! `function_call_arguments.delta`...). A reasoning or message item is
//! closed (`*.done`, `content_part.done`, `output_item.done`) when the
//! other kind or a tool call starts; tool calls stay open until the end.
//! After `[DONE]` ([`ClientStream::finish`]) every open item is closed in
//! output order and `response.completed` (or `response.incomplete`, as for a
//! whole answer) carries the whole response with usage, which comes in the
//! last chunk with empty `choices`.
//!
//! A stream that breaks ([`ClientStream::error`]) ends with an `error`
//! event, then `response.failed` (status `failed`, the output so far with
//! unfinished items `incomplete`, `error: {code, message}`). `response.failed`
//! is the terminal event the Responses docs define for a response that failed
//! after it was created, and clients that parse the stream themselves (Codex)
//! wait for a terminal event; the `error` event (`ResponseErrorEvent`: `code`
//! is the gateway's `kind`, `message`, `param: null`) also carries them as an
//! `error` object, the key the official SDKs raise on mid-stream.
//! `response.failed`'s `error.code` is `rate_limit_exceeded` for a rate
//! limit and `server_error` otherwise, the codes `ResponseErrorCode` allows.

use serde_json::{Map, Value};

use crate::translate::TranslateError;

mod output;
mod request;
mod response;
mod stream;

pub use request::{Request, request};
pub use response::response;
pub use stream::Stream;

/// What a `response` object repeats from its request (the schema requires
/// `instructions`, `tools`, `tool_choice`, `temperature`, `top_p`,
/// `parallel_tool_calls` and `metadata`), as [`request`](fn@request) read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Echo {
    /// The model the client named.
    model: String,
    /// The echoed fields, in their Responses spelling.
    fields: Map<String, Value>,
}

impl Echo {
    /// The model the client named.
    pub fn model(&self) -> &str {
        &self.model
    }
}

/// `{path}: {what} cannot be translated to chat completions: {why}`.
fn untranslatable(path: &str, what: &str, why: &str) -> TranslateError {
    TranslateError::Request(format!("{path}: {what} cannot be translated to chat completions: {why}"))
}

/// `{path}: {problem}`.
fn invalid(path: &str, problem: &str) -> TranslateError {
    TranslateError::Request(format!("{path}: {problem}"))
}

/// A string value as the JSON text a client would recognize (`"web_search"`).
fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}
