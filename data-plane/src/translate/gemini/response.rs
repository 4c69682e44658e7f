//! GenerateContentResponse -> OpenAI `chat.completion`, Google error bodies, and the
//! output pieces the stream shares (parts, finish reasons, usage, ids).

use crate::translate::TranslateError;
use serde_json::{Map, Value, json};

/// A GenerateContentResponse -> OpenAI `chat.completion` JSON bytes. `model`: the request's model
/// (Gemini answers with `modelVersion`; use it when present, else `model`).
pub fn response(body: &[u8], model: &str) -> Result<Vec<u8>, TranslateError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Response(format!("the gemini response is not JSON: {e}")))?;
    if let Some(message) = google_error(&answer) {
        return Err(TranslateError::Response(message));
    }
    let Some(answer) = answer.as_object() else {
        return Err(TranslateError::Response("the gemini response is not a JSON object".into()));
    };
    let model = answer.get("modelVersion").and_then(Value::as_str).filter(|m| !m.is_empty()).unwrap_or(model);
    let candidates = answer.get("candidates").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut choices = Vec::with_capacity(candidates.len().max(1));
    for (position, candidate) in candidates.iter().enumerate() {
        let mut text: Option<String> = None;
        let mut reasoning: Option<String> = None;
        let mut tool_calls = Vec::new();
        for piece in pieces(candidate)? {
            match piece {
                Piece::Text(t) => text.get_or_insert_default().push_str(t),
                Piece::Thought(t) => reasoning.get_or_insert_default().push_str(t),
                Piece::Call(call) => tool_calls.push(call.openai(tool_calls.len())),
            }
        }
        let reason = finish_reason(candidate.get("finishReason").and_then(Value::as_str), !tool_calls.is_empty());
        let mut message = json!({"role": "assistant", "content": text, "refusal": null});
        if let Some(message) = message.as_object_mut() {
            if let Some(reasoning) = reasoning {
                message.insert("reasoning_content".into(), reasoning.into());
            }
            if !tool_calls.is_empty() {
                message.insert("tool_calls".into(), Value::Array(tool_calls));
            }
        }
        let index = candidate_index(candidate, position);
        choices.push(json!({"index": index, "message": message, "logprobs": null, "finish_reason": reason}));
    }
    if choices.is_empty() {
        if answer.get("promptFeedback").and_then(|f| f.get("blockReason")).is_none() {
            return Err(TranslateError::Response("the gemini response has no candidates".into()));
        }
        let message = json!({"role": "assistant", "content": null, "refusal": null});
        choices.push(json!({"index": 0, "message": message, "logprobs": null, "finish_reason": "content_filter"}));
    }
    let mut out = json!({
        "id": completion_id(answer),
        "object": "chat.completion",
        "created": crate::wall::unix_secs(),
        "model": model,
        "choices": choices,
    });
    if let (Some(out), Some(meta)) = (out.as_object_mut(), answer.get("usageMetadata").filter(|m| m.is_object())) {
        out.insert("usage".into(), usage(meta));
    }
    Ok(out.to_string().into_bytes())
}

/// The text of a Google error body `{"error":{"code":..,"message":..,"status":..}}`:
/// `Some("RESOURCE_EXHAUSTED: Quota exceeded ...")`, None when not that shape (it may also be a
/// JSON array holding one such object).
pub fn error_message(body: &[u8]) -> Option<String> {
    google_error(&serde_json::from_slice(body).ok()?)
}

/// The `param` and `code` an OpenAI-shaped error carries for Google's error
/// body: the first field a `google.rpc.BadRequest` detail names
/// (`fieldViolations[].field`), and the error's `status` (`INVALID_ARGUMENT`, ...).
pub fn error_fields(body: &[u8]) -> (Option<Box<str>>, Option<Box<str>>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return (None, None) };
    let value = match &value {
        Value::Array(items) if items.len() == 1 => &items[0],
        other => other,
    };
    let error = &value["error"];
    let details = error["details"].as_array().map(Vec::as_slice).unwrap_or_default();
    let param = details
        .iter()
        .filter_map(|d| d["fieldViolations"].as_array()?.iter().find_map(|v| v["field"].as_str()))
        .find(|f| !f.is_empty());
    let code = error["status"].as_str().filter(|s| !s.is_empty());
    (param.map(|p| crate::error::echo(p).into()), code.map(|c| crate::error::echo(c).into()))
}

pub(super) fn google_error(value: &Value) -> Option<String> {
    let value = match value {
        Value::Array(items) if items.len() == 1 => &items[0],
        other => other,
    };
    let error = value.get("error")?.as_object()?;
    let message = error.get("message").and_then(Value::as_str).filter(|m| !m.is_empty());
    match (error.get("status").and_then(Value::as_str).filter(|s| !s.is_empty()), message) {
        (Some(status), Some(message)) => Some(format!("{status}: {message}")),
        (None, Some(message)) => Some(message.to_owned()),
        (Some(status), None) => Some(status.to_owned()),
        (None, None) => None,
    }
}

/// One meaningful part of a candidate's content.
pub(super) enum Piece<'a> {
    Text(&'a str),
    Thought(&'a str),
    Call(Call<'a>),
}

pub(super) struct Call<'a> {
    name: &'a str,
    arguments: String,
    signature: Option<&'a str>,
}

impl Call<'_> {
    /// The OpenAI tool call (`index`: its position among the choice's calls).
    pub(super) fn openai(&self, index: usize) -> Value {
        let id = format!("call_{index}{:012x}", fastrand::u64(..) >> 16);
        let mut call =
            json!({"id": id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}});
        if let (Some(signature), Some(call)) = (self.signature, call.as_object_mut()) {
            call.insert("extra_content".into(), json!({"google": {"thought_signature": signature}}));
        }
        call
    }
}

/// The text, thought and functionCall parts of a candidate, in order (others are skipped).
pub(super) fn pieces(candidate: &Value) -> Result<Vec<Piece<'_>>, TranslateError> {
    let parts = candidate.pointer("/content/parts").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        if let Some(call) = part.get("functionCall") {
            let Some(name) = call.get("name").and_then(Value::as_str) else {
                return Err(TranslateError::Response("a gemini functionCall without a name".into()));
            };
            let arguments = match call.get("args") {
                None | Some(Value::Null) => "{}".to_owned(),
                Some(args) => args.to_string(),
            };
            let signature = part.get("thoughtSignature").and_then(Value::as_str);
            out.push(Piece::Call(Call { name, arguments, signature }));
        } else if let Some(text) = part.get("text").and_then(Value::as_str) {
            let thought = part.get("thought").and_then(Value::as_bool) == Some(true);
            out.push(if thought { Piece::Thought(text) } else { Piece::Text(text) });
        }
    }
    Ok(out)
}

pub(super) fn candidate_index(candidate: &Value, position: usize) -> u64 {
    candidate.get("index").and_then(Value::as_u64).unwrap_or(position as u64)
}

pub(super) fn finish_reason(reason: Option<&str>, tool_calls: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some("SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY") => {
            "content_filter"
        }
        _ if tool_calls => "tool_calls",
        _ => "stop",
    }
}

pub(super) fn usage(meta: &Value) -> Value {
    let count = |key: &str| meta.get(key).and_then(Value::as_u64).unwrap_or(0);
    let (prompt, thoughts) = (count("promptTokenCount"), count("thoughtsTokenCount"));
    let completion = count("candidatesTokenCount") + thoughts;
    let total = meta.get("totalTokenCount").and_then(Value::as_u64).unwrap_or(prompt + completion);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": count("cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    })
}

pub(super) fn completion_id(answer: &Map<String, Value>) -> String {
    match answer.get("responseId").and_then(Value::as_str).filter(|id| !id.is_empty()) {
        Some(id) => format!("chatcmpl-{id}"),
        None => format!("chatcmpl-{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..)),
    }
}

#[cfg(test)]
mod tests;
