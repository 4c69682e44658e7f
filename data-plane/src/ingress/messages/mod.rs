//! Anthropic's Messages API (`POST /v1/messages`) as an ingress, for
//! providers that speak chat completions: [`request`](fn@request) turns the
//! client's Messages request into a chat completions request,
//! [`response`](fn@response) a `chat.completion` into a `message`, [`Stream`]
//! chat chunks into Messages SSE events, and [`estimate_input_tokens`] answers
//! `POST /v1/messages/count_tokens` when the provider has no count.
//! Pure translation: no I/O.
//!
//! Shapes follow Anthropic's API reference: Messages
//! (<https://docs.anthropic.com/en/api/messages>), streaming
//! (<https://docs.anthropic.com/en/docs/build-with-claude/streaming>), tool
//! use (<https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use>),
//! extended thinking (<https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking>),
//! errors (<https://docs.anthropic.com/en/api/errors>).
//!
//! ## Request (Messages -> chat)
//!
//! | Messages | chat completions |
//! |---|---|
//! | `model` | `model` (answers name the client's model back) |
//! | `max_tokens` (required) | `max_completion_tokens` (OpenAI's current name; reasoning models refuse `max_tokens`) |
//! | `system`: a string or text blocks | a first `system` message, blocks joined by a blank line |
//! | user `text`, `image` blocks | a user message: a string for one text, else `text` / `image_url` parts (base64 sources as `data:` URLs, `url` sources as they are) |
//! | user `tool_result` (string or text/image blocks) | a `tool` message each (`tool_call_id`), before the turn's other content so they follow the assistant's `tool_calls`; texts joined by a newline; images (a `tool` message holds text only) go first in the user message after them; `is_error: true` prefixes the text with `Error: ` (is `Error` without text) |
//! | assistant `text` blocks | `content`, joined by a blank line |
//! | assistant `tool_use` | `tool_calls` (`input` as the `arguments` JSON text) |
//! | assistant `thinking`, `redacted_thinking` | dropped: chat has no field to send earlier reasoning back in |
//! | `cache_control`, `citations` on blocks | ignored (no chat counterpart; they change cost, not the answer) |
//! | `tools` (custom: `name`, `description`, `input_schema`, `strict`) | function tools (`parameters` = `input_schema`) |
//! | `tool_choice` `auto` / `any` / `tool` / `none` | `"auto"` / `"required"` / `{"type":"function",...}` / `"none"`; without tools `auto` and `none` are dropped, `any` and `tool` refused |
//! | `tool_choice.disable_parallel_tool_use: true` | `parallel_tool_calls: false` |
//! | `stop_sequences` | `stop` (passed as given; OpenAI takes at most 4) |
//! | `temperature`, `top_p` | the same |
//! | `top_k` | dropped: chat has no counterpart and OpenAI refuses unknown fields |
//! | `metadata.user_id` | `user` |
//! | `thinking: {type: enabled, budget_tokens}` | `reasoning_effort`: `low` below 4096, `medium` below 16384, else `high` (the inverse of the chat -> Anthropic budgets); a model without reasoning may refuse it, as Anthropic refuses thinking on such models |
//! | `thinking: {type: adaptive}` with `output_config.effort` | `reasoning_effort` `low` / `medium`; `high`, `xhigh`, `max` as `high`; no effort: the model's default |
//! | `thinking: {type: disabled}` | nothing |
//! | `output_config.format` / `output_format` `json_schema` | `response_format: {type: json_schema, json_schema: {name: "output", schema, strict: true}}` |
//! | `stream: true` | `stream: true`, `stream_options.include_usage: true` |
//! | server tools (`web_search_*`, `bash_*`, ...), `document`, `search_result`, `server_tool_use` blocks, `file` image sources, `mcp_servers` | refused: 400 naming the field (`messages[2].content[0].type: "document" is not supported ...`) |
//! | anything else (`service_tier`, `container`, ...) | ignored |
//!
//! ## Answer (chat -> Messages)
//!
//! | chat completions | Messages |
//! |---|---|
//! | `id` `chatcmpl-X` | `id` `msg_X` (random when the answer has none) |
//! | `reasoning_content` (DeepSeek, ...) or `reasoning` (vLLM, OpenRouter) | a `thinking` block first, with an empty `signature` (a chat provider signs nothing) |
//! | `content` (or `refusal`) | a `text` block (none when empty) |
//! | `tool_calls` | `tool_use` blocks: `input` parsed from `arguments` (empty: `{}`); arguments that are not a JSON object fail the answer (502): Anthropic's `input` is always an object and a client would run the tool on garbage. A stream passes the argument fragments through as `input_json_delta`s unchecked, as Anthropic streams them. A call without an id gets `toolu_<message>_<n>` |
//! | `finish_reason` `stop` | `end_turn`; `tool_use` when the answer called tools (some providers end tool calls with `stop`); `refusal` with a `refusal`; `stop_sequence` (and `stop_sequence` set) only when the provider names the matched stop string, as vLLM's `stop_reason` does: chat does not otherwise say whether a stop sequence ended the answer |
//! | `length` / `tool_calls` / `content_filter` | `max_tokens` / `tool_use` / `refusal` |
//! | `usage.prompt_tokens` minus `prompt_tokens_details.cached_tokens` | `usage.input_tokens` (Anthropic's excludes cache reads) |
//! | `prompt_tokens_details.cached_tokens` | `usage.cache_read_input_tokens` (`cache_creation_input_tokens` 0: chat does not report writes) |
//! | `usage.completion_tokens` | `usage.output_tokens`; without usage the output is estimated and the input 0 |
//!
//! ## Stream
//!
//! `message_start` (empty content; input tokens when the first chunk carries
//! usage, else 0) and `ping` on the first chunk (not on Azure's id-less
//! `prompt_filter_results` chunk); a block per run of thinking,
//! of text, and per tool call, started when the kind or the tool index
//! changes; `message_delta` (stop reason as above, cumulative usage from the
//! last usage chunk, else an estimate of `output_tokens`) and `message_stop`
//! after the chat stream's end. See [`Stream`].
//!
//! Layout: `request` (with the `system` and `messages` conversion under it),
//! `response` (also the blocks, usage and stop reason the stream shares),
//! `stream`, `count`; the error helpers below serve them all.

use serde_json::Value;

use crate::translate::TranslateError;

mod count;
mod request;
mod response;
mod stream;

pub use count::{count_request, count_tokens_body, estimate_input_tokens};
pub use request::request;
pub use response::response;
pub use stream::{MAX_PENDING_ARGUMENTS, Stream};

/// `{path}: {what} is not supported by chat-completions providers`.
fn unsupported(path: &str, what: &str) -> TranslateError {
    TranslateError::Request(format!("{path}: {what} is not supported by chat-completions providers"))
}

/// `{path}: {problem}`.
fn invalid(path: &str, problem: &str) -> TranslateError {
    TranslateError::Request(format!("{path}: {problem}"))
}

/// A string value as the JSON text a client would recognize (`"document"`).
fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}
