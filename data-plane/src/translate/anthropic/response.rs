//! Anthropic `message` -> OpenAI `chat.completion`, the error body's text, and
//! the usage and finish reason the stream translator shares.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::quoted;
use crate::translate::TranslateError;

#[cfg(test)]
mod tests;

/// Anthropic's `usage` (in a `message`, `message_start` or `message_delta`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(super) struct AnthropicUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Takes the counts `later` reports (a `message_delta` repeats or updates them).
    pub(super) fn update(&mut self, later: AnthropicUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = later.cache_read_input_tokens.or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = later.cache_creation_input_tokens.or(self.cache_creation_input_tokens);
    }

    pub(super) fn openai(self) -> Usage {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + cached + self.cache_creation_input_tokens.unwrap_or(0);
        let completion = self.output_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: PromptDetails { cached_tokens: cached },
            completion_tokens_details: CompletionDetails { reasoning_tokens: 0 },
        }
    }
}

#[derive(Deserialize)]
struct AnthropicMessage {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    model: String,
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: AnthropicUsage,
}

#[derive(Debug, Serialize)]
pub(super) struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Debug, Serialize)]
struct PromptDetails {
    cached_tokens: u64,
}

#[derive(Debug, Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [CompletionChoice; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct CompletionChoice {
    index: u32,
    message: CompletionMessage,
    /// Always null.
    logprobs: (),
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct CompletionMessage {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall>,
    /// Always null.
    refusal: (),
}

#[derive(Serialize)]
struct ToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall,
}

#[derive(Serialize)]
struct FunctionCall {
    name: String,
    arguments: String,
}

/// Anthropic Messages response (a `message` object) -> OpenAI `chat.completion` JSON bytes.
pub fn response(body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let message: AnthropicMessage = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Response(format!("the anthropic answer is not a message: {e}")))?;
    if message.kind != "message" {
        return Err(TranslateError::Response(format!(
            "the anthropic answer is a {}, not a message",
            quoted(&message.kind)
        )));
    }
    let mut text: Option<String> = None;
    let mut thinking: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in &message.content {
        let field = |name: &str| block.get(name).and_then(Value::as_str);
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.get_or_insert_default().push_str(field("text").unwrap_or("")),
            Some("thinking") => thinking.get_or_insert_default().push_str(field("thinking").unwrap_or("")),
            Some("tool_use") => {
                let (Some(id), Some(name)) = (field("id"), field("name")) else {
                    return Err(TranslateError::Response("an anthropic tool_use block without id or name".into()));
                };
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(ToolCall {
                    id: id.to_owned(),
                    kind: "function",
                    function: FunctionCall { name: name.to_owned(), arguments: input.to_string() },
                });
            }
            // redacted_thinking, server tool blocks: nothing an OpenAI client reads.
            _ => {}
        }
    }
    let completion = Completion {
        id: format!("chatcmpl-{}", message.id),
        object: "chat.completion",
        created: crate::wall::unix_secs(),
        model: &message.model,
        choices: [CompletionChoice {
            index: 0,
            message: CompletionMessage {
                role: "assistant",
                content: text,
                reasoning_content: thinking,
                tool_calls,
                refusal: (),
            },
            logprobs: (),
            finish_reason: finish_reason(message.stop_reason.as_deref()),
        }],
        usage: message.usage.openai(),
    };
    serde_json::to_vec(&completion)
        .map_err(|e| TranslateError::Response(format!("the translated answer could not be written: {e}")))
}

/// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
pub(super) fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        // end_turn, stop_sequence, pause_turn, null
        _ => "stop",
    }
}

/// The human text of an Anthropic error body `{"type":"error","error":{"type":..,"message":..}}`:
/// `Some("overloaded_error: Overloaded")`, or None when the body is not that shape.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if value.get("type").and_then(Value::as_str) != Some("error") {
        return None;
    }
    let error = value.get("error")?;
    let message = error.get("message").and_then(Value::as_str)?;
    Some(match error.get("type").and_then(Value::as_str) {
        Some(kind) => format!("{kind}: {message}"),
        None => message.to_owned(),
    })
}

/// The `param` and `code` an OpenAI-shaped error carries for Anthropic's
/// error body: no field is named; the code is Anthropic's error `type`
/// (`invalid_request_error`, `overloaded_error`, ...).
pub fn error_fields(body: &[u8]) -> (Option<Box<str>>, Option<Box<str>>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return (None, None) };
    let code = value.pointer("/error/type").and_then(Value::as_str).filter(|t| !t.is_empty());
    (None, code.map(|c| crate::error::echo(c).into()))
}
