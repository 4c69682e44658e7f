//! What the whole answer and the stream share: the chat answer's usage and
//! logprobs as they parse, the ids, and the `response` object with its
//! output items in OpenAI's shapes.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Echo;

/// The `service_tier`s a `Response` may name (`ServiceTierResponses`).
const SERVICE_TIERS: [&str; 7] = ["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"];

/// A chat answer's `usage` (every count optional: providers leave some out or null).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(super) struct ChatUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl ChatUsage {
    /// As `ResponseUsage`.
    pub(super) fn responses(&self) -> Value {
        let input = self.prompt_tokens.unwrap_or(0);
        let output = self.completion_tokens.unwrap_or(0);
        let prompt = self.prompt_tokens_details.unwrap_or_default();
        let completion = self.completion_tokens_details.unwrap_or_default();
        json!({
            "input_tokens": input,
            "input_tokens_details": {
                "cached_tokens": prompt.cached_tokens.unwrap_or(0),
                "cache_write_tokens": prompt.cache_write_tokens.unwrap_or(0),
            },
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": completion.reasoning_tokens.unwrap_or(0)},
            "total_tokens": self.total_tokens.unwrap_or(input + output),
        })
    }
}

/// A choice's `logprobs` (`content` only; the refusal's are not carried).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ChatLogprobs {
    #[serde(default)]
    pub(super) content: Option<Vec<Value>>,
}

/// One chat token logprob as `LogProb` (in an `output_text` part).
pub(super) fn logprob(chat: &Value) -> Value {
    let bytes = |v: &Value| v.get("bytes").filter(|b| b.is_array()).cloned().unwrap_or_else(|| json!([]));
    let top: Vec<Value> = top_logprobs(chat)
        .map(|t| json!({"token": field(t, "token"), "logprob": field(t, "logprob"), "bytes": bytes(t)}))
        .collect();
    json!({"token": field(chat, "token"), "logprob": field(chat, "logprob"), "bytes": bytes(chat), "top_logprobs": top})
}

/// One chat token logprob as `ResponseLogProb` (in `output_text.delta` and `.done`).
pub(super) fn delta_logprob(chat: &Value) -> Value {
    let top: Vec<Value> =
        top_logprobs(chat).map(|t| json!({"token": field(t, "token"), "logprob": field(t, "logprob")})).collect();
    json!({"token": field(chat, "token"), "logprob": field(chat, "logprob"), "top_logprobs": top})
}

fn top_logprobs(chat: &Value) -> impl Iterator<Item = &Value> {
    chat.get("top_logprobs").and_then(Value::as_array).into_iter().flatten()
}

/// `token` and `logprob` as given, or the empty string and 0.
fn field(v: &Value, key: &str) -> Value {
    match (key, v.get(key)) {
        ("token", Some(token @ Value::String(_))) => token.clone(),
        ("logprob", Some(logprob @ Value::Number(_))) => logprob.clone(),
        ("token", _) => Value::String(String::new()),
        _ => json!(0),
    }
}

/// A chat `url_citation` annotation as the Responses one; other kinds have no counterpart.
pub(super) fn annotation(chat: &Value) -> Option<Value> {
    if chat.get("type").and_then(Value::as_str) != Some("url_citation") {
        return None;
    }
    let citation = chat.get("url_citation")?;
    Some(json!({
        "type": "url_citation",
        "url": citation.get("url").and_then(Value::as_str)?,
        "title": citation.get("title").and_then(Value::as_str).unwrap_or_default(),
        "start_index": citation.get("start_index").and_then(Value::as_u64)?,
        "end_index": citation.get("end_index").and_then(Value::as_u64)?,
    }))
}

/// The ids of one response and its items, from the chat answer's id.
#[derive(Debug, Clone)]
pub(super) struct Ids {
    base: String,
}

impl Ids {
    /// `chatcmpl-X` gives `X`; an answer without an id gets a random one.
    pub(super) fn new(chat_id: Option<&str>) -> Self {
        let base = chat_id.map(|id| id.strip_prefix("chatcmpl-").unwrap_or(id)).filter(|id| !id.is_empty());
        let base = match base {
            Some(base) => base.to_owned(),
            None => std::iter::repeat_with(fastrand::alphanumeric).take(24).collect(),
        };
        Self { base }
    }

    /// `resp_X`.
    pub(super) fn response(&self) -> String {
        format!("resp_{}", self.base)
    }

    /// `{prefix}_X_{output_index}` (`rs`, `msg`, `fc`).
    pub(super) fn item(&self, prefix: &str, output_index: usize) -> String {
        format!("{prefix}_{}_{output_index}", self.base)
    }
}

/// Where a response stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    InProgress,
    Completed,
    /// `incomplete_details.reason`: `max_output_tokens` or `content_filter`.
    Incomplete(&'static str),
    Failed,
}

impl Status {
    /// From the chat `finish_reason` (a stream without one ended with `[DONE]`: completed).
    pub(super) fn finished(reason: Option<&str>) -> Self {
        match reason {
            Some("length") => Self::Incomplete("max_output_tokens"),
            Some("content_filter") => Self::Incomplete("content_filter"),
            _ => Self::Completed,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Incomplete(_) => "incomplete",
            Self::Failed => "failed",
        }
    }

    /// The status of the last output item once the response has this status.
    pub(super) fn last_item(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            _ => "incomplete",
        }
    }
}

/// Everything of a `response` object but its status and output.
pub(super) struct Envelope<'a> {
    pub(super) echo: &'a Echo,
    pub(super) id: &'a str,
    pub(super) created_at: u64,
    /// The provider's, when the schema knows it.
    pub(super) service_tier: Option<&'a str>,
}

impl Envelope<'_> {
    /// The `response` object. `error`: `{code, message}` of a failed one.
    pub(super) fn object(
        &self,
        status: Status,
        output: Vec<Value>,
        usage: Option<Value>,
        error: Option<Value>,
    ) -> Value {
        let mut object = Map::new();
        object.insert("id".into(), self.id.into());
        object.insert("object".into(), "response".into());
        object.insert("created_at".into(), self.created_at.into());
        object.insert("status".into(), status.as_str().into());
        object.insert("background".into(), false.into());
        let completed_at = (status == Status::Completed).then(crate::wall::unix_secs);
        object.insert("completed_at".into(), completed_at.map_or(Value::Null, Value::from));
        object.insert("error".into(), error.unwrap_or(Value::Null));
        let incomplete = match status {
            Status::Incomplete(reason) => json!({"reason": reason}),
            _ => Value::Null,
        };
        object.insert("incomplete_details".into(), incomplete);
        object.insert("model".into(), self.echo.model.as_str().into());
        object.insert("output".into(), Value::Array(output));
        object.insert("previous_response_id".into(), Value::Null);
        object.insert("store".into(), false.into());
        for (key, value) in &self.echo.fields {
            object.insert(key.clone(), value.clone());
        }
        if let Some(tier) = self.service_tier.filter(|tier| SERVICE_TIERS.contains(tier)) {
            object.insert("service_tier".into(), tier.into());
        }
        if let Some(usage) = usage {
            object.insert("usage".into(), usage);
        }
        Value::Object(object)
    }
}

/// A `reasoning` item holding the text as one `reasoning_text` part (none
/// while there is no text: a streamed item is added empty).
pub(super) fn reasoning_item(id: &str, text: &str, status: &str) -> Value {
    let content = if text.is_empty() { Vec::new() } else { vec![reasoning_part(text)] };
    json!({
        "id": id,
        "type": "reasoning",
        "summary": [],
        "content": content,
        "status": status,
    })
}

pub(super) fn reasoning_part(text: &str) -> Value {
    json!({"type": "reasoning_text", "text": text})
}

/// An assistant `message` item.
pub(super) fn message_item(id: &str, content: Vec<Value>, status: &str) -> Value {
    json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
}

/// An `output_text` part.
pub(super) fn text_part(text: &str, annotations: &[Value], logprobs: &[Value]) -> Value {
    json!({"type": "output_text", "text": text, "annotations": annotations, "logprobs": logprobs})
}

pub(super) fn refusal_part(refusal: &str) -> Value {
    json!({"type": "refusal", "refusal": refusal})
}

/// A `function_call` item.
pub(super) fn call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    })
}

/// The text of an `error` member of a chat answer (`{"message": ...}` or a string).
pub(super) fn error_text(error: &Value) -> String {
    match error {
        Value::String(message) => message.clone(),
        _ => error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_owned),
    }
}
