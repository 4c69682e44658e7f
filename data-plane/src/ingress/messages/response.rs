//! `chat.completion` -> Anthropic `message`, and the pieces the stream
//! shares: content blocks, usage, the stop reason and the message id.

use serde::Serialize;
use serde_json::Value;

use crate::translate::TranslateError;
use crate::usage::estimate;

#[cfg(test)]
mod tests;

/// Anthropic's `usage` (in a `message` and `message_start`).
/// `input_tokens` excludes cache reads, as Anthropic counts them.
/// Anthropic's schema requires `cache_creation`, `server_tool_use` and
/// `service_tier` (each may be null): a chat answer has no cache writes by
/// lifetime, no server tools and no Anthropic tier, so they are null.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(super) struct Usage {
    pub(super) input_tokens: u64,
    pub(super) cache_creation_input_tokens: u64,
    pub(super) cache_read_input_tokens: u64,
    pub(super) output_tokens: u64,
    pub(super) cache_creation: (),
    pub(super) server_tool_use: (),
    pub(super) service_tier: (),
}

impl Usage {
    /// A chat `usage` object (None for null or anything that is not an object).
    pub(super) fn from_chat(usage: &Value) -> Option<Usage> {
        let Value::Object(usage) = usage else { return None };
        let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
        let prompt = count(usage.get("prompt_tokens"));
        let cached = count(usage.get("prompt_tokens_details").and_then(|d| d.get("cached_tokens")));
        Some(Usage {
            input_tokens: prompt.saturating_sub(cached),
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: cached,
            output_tokens: count(usage.get("completion_tokens")),
            ..Usage::default()
        })
    }
}

/// A content block of a `message` (also a `content_block_start`'s block).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block {
    /// `citations` is always null (chat has no citations of documents), as
    /// Anthropic's schema requires it present.
    Text {
        text: String,
        citations: (),
    },
    /// Chat providers sign nothing: the signature is empty.
    Thinking {
        thinking: String,
        signature: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

#[derive(Serialize)]
struct Message<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block>,
    stop_reason: &'static str,
    stop_sequence: Option<String>,
    usage: Usage,
    /// No code execution container: null, as Anthropic's schema requires it present.
    container: (),
}

/// Why the answer ended, in Anthropic's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stop {
    pub(super) reason: &'static str,
    /// The stop sequence that matched, when the provider says (vLLM's `stop_reason`).
    pub(super) sequence: Option<String>,
}

impl Stop {
    /// A choice's `finish_reason` (and vLLM's `stop_reason`, the stop string
    /// that matched); `tool_calls`: the answer called tools; `refusal`: it
    /// carried a `refusal`.
    pub(super) fn new(finish_reason: Option<&str>, matched: Option<&Value>, tool_calls: bool, refusal: bool) -> Stop {
        let reason = match finish_reason {
            Some("length") => "max_tokens",
            Some("tool_calls" | "function_call") => "tool_use",
            Some("content_filter") => "refusal",
            // stop, null and anything else: some providers (Gemini's chat endpoint) end tool calls with `stop`.
            _ if refusal => "refusal",
            _ if tool_calls => "tool_use",
            _ => match matched.and_then(Value::as_str) {
                Some(sequence) if finish_reason == Some("stop") => {
                    return Stop { reason: "stop_sequence", sequence: Some(sequence.to_owned()) };
                }
                _ => "end_turn",
            },
        };
        Stop { reason, sequence: None }
    }
}

/// `msg_` and the chat id without its `chatcmpl-` prefix (random when the chat answer has none).
pub(super) fn message_id(chat_id: Option<&str>) -> String {
    match chat_id.map(|id| id.strip_prefix("chatcmpl-").unwrap_or(id)).filter(|id| !id.is_empty()) {
        Some(id) if id.starts_with("msg_") => id.to_owned(),
        Some(id) => format!("msg_{id}"),
        None => {
            let mut id = String::from("msg_");
            id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(24));
            id
        }
    }
}

/// A tool call's id, made from the message id and its position when the provider sent none.
pub(super) fn tool_use_id(id: Option<&str>, message_id: &str, position: usize) -> String {
    match id.filter(|id| !id.is_empty()) {
        Some(id) => id.to_owned(),
        None => format!("toolu_{}_{position}", message_id.strip_prefix("msg_").unwrap_or(message_id)),
    }
}

/// A tool call's `arguments` as the `input` object (empty arguments are `{}`).
fn tool_input(arguments: &str, path: &str) -> Result<Value, TranslateError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(input @ Value::Object(_)) => Ok(input),
        Ok(_) => Err(TranslateError::Response(format!("{path}: the tool call's arguments are not a JSON object"))),
        Err(e) => Err(TranslateError::Response(format!("{path}: the tool call's arguments are not valid JSON ({e})"))),
    }
}

/// A chat answer as text: a string, or the text of its parts (None when absent or empty).
fn text_of(value: Option<&Value>, part_field: &str) -> Option<String> {
    let text = match value? {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get(part_field).and_then(Value::as_str)).collect::<Vec<_>>().concat()
        }
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// A `chat.completion` -> an Anthropic `message` naming `model` (the client's).
pub fn response(chat: &[u8], model: &str) -> Result<Vec<u8>, TranslateError> {
    let completion: Value = serde_json::from_slice(chat)
        .map_err(|e| TranslateError::Response(format!("the chat answer is not JSON: {e}")))?;
    let Some(choice) = completion.get("choices").and_then(Value::as_array).and_then(|c| c.first()) else {
        return Err(TranslateError::Response("the chat answer has no choices".into()));
    };
    let Some(message) = choice.get("message").filter(|m| m.is_object()) else {
        return Err(TranslateError::Response("choices[0].message: an object is required".into()));
    };
    let id = message_id(completion.get("id").and_then(Value::as_str));

    let mut content = Vec::new();
    if let Some(thinking) = text_of(message.get("reasoning_content").or_else(|| message.get("reasoning")), "text") {
        content.push(Block::Thinking { thinking, signature: String::new() });
    }
    let refusal = text_of(message.get("refusal"), "refusal");
    if let Some(text) = text_of(message.get("content"), "text").or_else(|| refusal.clone()) {
        content.push(Block::Text { text, citations: () });
    }
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(TranslateError::Response("choices[0].message.tool_calls: an array is required".into())),
    };
    for (i, call) in calls.iter().enumerate() {
        let path = format!("choices[0].message.tool_calls[{i}]");
        let function = call.get("function");
        let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) else {
            return Err(TranslateError::Response(format!("{path}.function.name: a string is required")));
        };
        let arguments = function.and_then(|f| f.get("arguments")).and_then(Value::as_str).unwrap_or("");
        content.push(Block::ToolUse {
            id: tool_use_id(call.get("id").and_then(Value::as_str), &id, i),
            name: name.to_owned(),
            input: tool_input(arguments, &format!("{path}.function.arguments"))?,
        });
    }

    let stop = Stop::new(
        choice.get("finish_reason").and_then(Value::as_str),
        choice.get("stop_reason"),
        !calls.is_empty(),
        refusal.is_some(),
    );
    let usage = match completion.get("usage").and_then(Usage::from_chat) {
        Some(usage) => usage,
        // No usage reported: the answer's output estimated, the prompt unknown.
        None => Usage { output_tokens: estimate::response_tokens(chat).0, ..Usage::default() },
    };
    let message = Message {
        id,
        kind: "message",
        role: "assistant",
        model,
        content,
        stop_reason: stop.reason,
        stop_sequence: stop.sequence,
        usage,
        container: (),
    };
    serde_json::to_vec(&message)
        .map_err(|e| TranslateError::Response(format!("the translated answer could not be written: {e}")))
}
