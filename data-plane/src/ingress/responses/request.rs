//! `CreateResponse` -> chat completions request: the options and what is
//! refused here, `input` in `input`, tools, `tool_choice` and `text` in
//! `tools`.

use serde_json::{Map, Value, json};

use super::{Echo, invalid, quoted, untranslatable};
use crate::ingress::Inbound;
use crate::translate::TranslateError;

mod input;
mod tools;

#[cfg(test)]
mod tests;

/// A `CreateResponse` as chat completions, and what its answer echoes.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub inbound: Inbound,
    /// For [`response`](fn@super::response) and [`Stream::new`](super::Stream::new).
    pub echo: Echo,
}

/// Why stored state cannot be used.
const NO_STORAGE: &str = "this gateway stores no responses, conversations or prompts for providers that speak \
     chat completions; send the whole conversation in `input`";

/// `CreateResponse` body -> chat completions body. Errors name the field.
pub fn request(body: &[u8]) -> Result<Request, TranslateError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Request(format!("the request body is not valid JSON: {e}")))?;
    let Value::Object(body) = value else {
        return Err(invalid("the request body", "a JSON object is required"));
    };
    let Some(Value::String(model)) = body.get("model") else {
        return Err(invalid("model", "a string is required"));
    };
    refuse_stateful(&body)?;
    refuse_openai_only(&body)?;
    let logprobs = include_logprobs(&body)?;

    let mut chat = Map::new();
    let mut echo = Map::new();
    chat.insert("model".into(), model.as_str().into());

    let mut messages = Vec::new();
    match body.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => messages.push(json!({"role": "system", "content": text})),
        Some(_) => return Err(invalid("instructions", "a string is required")),
    }
    echo.insert("instructions".into(), body.get("instructions").cloned().unwrap_or(Value::Null));
    messages.extend(input::messages(body.get("input"))?);
    if messages.is_empty() {
        return Err(invalid("input", "at least one input item (or `instructions`) is required"));
    }
    chat.insert("messages".into(), Value::Array(messages));

    tools::translate(&body, &mut chat, &mut echo)?;

    if let Some(n) = positive_integer(&body, "max_output_tokens")? {
        chat.insert("max_completion_tokens".into(), n.into());
    }
    echo.insert("max_output_tokens".into(), body.get("max_output_tokens").cloned().unwrap_or(Value::Null));
    match body.get("max_tool_calls") {
        None | Some(Value::Null) => echo.insert("max_tool_calls".into(), Value::Null),
        Some(n) if n.is_u64() => echo.insert("max_tool_calls".into(), n.clone()),
        Some(_) => return Err(invalid("max_tool_calls", "a non-negative integer is required")),
    };
    for key in ["temperature", "top_p"] {
        let value = number(&body, key)?;
        if let Some(value) = value {
            chat.insert(key.into(), value.clone());
        }
        echo.insert(key.into(), value.cloned().unwrap_or(Value::Null));
    }
    let top_logprobs = match body.get("top_logprobs") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_u64().filter(|&n| n <= 20) {
            Some(n) => Some(n),
            None => return Err(invalid("top_logprobs", "an integer from 0 to 20 is required")),
        },
    };
    if logprobs || top_logprobs.is_some_and(|n| n > 0) {
        chat.insert("logprobs".into(), Value::Bool(true));
        if let Some(n) = top_logprobs {
            chat.insert("top_logprobs".into(), n.into());
        }
    }
    echo.insert("top_logprobs".into(), top_logprobs.map_or(Value::Null, Value::from));

    reasoning(&body, &mut chat, &mut echo)?;
    for key in ["user", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "service_tier"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(value)) => {
                chat.insert(key.into(), value.as_str().into());
                // Free text is echoed; the answer's `service_tier` is the provider's.
                if matches!(key, "user" | "safety_identifier" | "prompt_cache_key") {
                    echo.insert(key.into(), value.as_str().into());
                }
            }
            Some(_) => return Err(invalid(key, "a string is required")),
        }
    }
    match body.get("prompt_cache_options") {
        None | Some(Value::Null) => {}
        Some(options @ Value::Object(_)) => {
            chat.insert("prompt_cache_options".into(), options.clone());
        }
        Some(_) => return Err(invalid("prompt_cache_options", "an object is required")),
    }
    echo.insert("metadata".into(), metadata(&body)?);
    echo.insert("truncation".into(), "disabled".into());

    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(invalid("stream", "a boolean is required")),
    };
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }

    let chat = serde_json::to_vec(&Value::Object(chat))
        .map_err(|e| TranslateError::Request(format!("the translated request could not be written: {e}")))?;
    Ok(Request {
        inbound: Inbound { chat, stream, model: model.clone() },
        echo: Echo { model: model.clone(), fields: echo },
    })
}

/// What needs a stored response, conversation, prompt or a background run.
fn refuse_stateful(body: &Map<String, Value>) -> Result<(), TranslateError> {
    for key in ["previous_response_id", "conversation", "prompt"] {
        if !matches!(body.get(key), None | Some(Value::Null)) {
            return Err(untranslatable(key, "a stored response, conversation or prompt", NO_STORAGE));
        }
    }
    if body.get("background").and_then(Value::as_bool) == Some(true) {
        let why = "background responses are stored and polled, and this gateway stores none; stream instead";
        return Err(untranslatable("background", "true", why));
    }
    match body.get("store") {
        None | Some(Value::Null | Value::Bool(false)) => Ok(()),
        Some(Value::Bool(true)) => Err(untranslatable(
            "store",
            "true",
            "this gateway stores no responses for providers that speak chat completions; omit `store` or set it to false",
        )),
        Some(_) => Err(invalid("store", "a boolean is required")),
    }
}

/// What only OpenAI runs.
fn refuse_openai_only(body: &Map<String, Value>) -> Result<(), TranslateError> {
    match body.get("truncation") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "disabled" => {}
        Some(Value::String(t)) if t == "auto" => {
            return Err(untranslatable("truncation", "\"auto\"", "chat completions cannot drop input to fit"));
        }
        Some(_) => return Err(invalid("truncation", "\"auto\" or \"disabled\" is required")),
    }
    if !matches!(body.get("moderation"), None | Some(Value::Null)) {
        return Err(untranslatable("moderation", "moderation", "it runs only at OpenAI"));
    }
    match body.get("context_management") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(entries)) if entries.is_empty() => Ok(()),
        Some(_) => Err(untranslatable("context_management", "compaction", "it runs only at OpenAI")),
    }
}

/// Checks `include`; true when it asks for `message.output_text.logprobs`.
fn include_logprobs(body: &Map<String, Value>) -> Result<bool, TranslateError> {
    let items = match body.get("include") {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("include", "an array of strings is required")),
    };
    let mut logprobs = false;
    for (i, item) in items.iter().enumerate() {
        let path = format!("include[{i}]");
        match item.as_str() {
            Some("message.output_text.logprobs") => logprobs = true,
            // Reasoning comes back as plain text; there is nothing to encrypt.
            Some("reasoning.encrypted_content") => {}
            Some(
                what @ ("file_search_call.results"
                | "web_search_call.results"
                | "web_search_call.action.sources"
                | "code_interpreter_call.outputs"
                | "computer_call_output.output.image_url"),
            ) => {
                return Err(untranslatable(&path, &quoted(what), "built-in tools run only at OpenAI"));
            }
            Some(what @ "message.input_image.image_url") => {
                return Err(untranslatable(&path, &quoted(what), "input items are not stored"));
            }
            Some(other) => return Err(invalid(&path, &format!("{} is not a known include value", quoted(other)))),
            None => return Err(invalid(&path, "a string is required")),
        }
    }
    Ok(logprobs)
}

/// `reasoning` -> `reasoning_effort`; echoes `{effort, summary}`.
fn reasoning(
    body: &Map<String, Value>,
    chat: &mut Map<String, Value>,
    echo: &mut Map<String, Value>,
) -> Result<(), TranslateError> {
    let reasoning = match body.get("reasoning") {
        None | Some(Value::Null) => {
            echo.insert("reasoning".into(), json!({"effort": null, "summary": null}));
            return Ok(());
        }
        Some(Value::Object(reasoning)) => reasoning,
        Some(_) => return Err(invalid("reasoning", "an object is required")),
    };
    let field = |key: &str| -> Result<Option<&str>, TranslateError> {
        match reasoning.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(&format!("reasoning.{key}"), "a string is required")),
        }
    };
    if let Some(mode) = field("mode")?.filter(|&mode| mode != "standard") {
        return Err(untranslatable("reasoning.mode", &quoted(mode), "chat completions has only the standard mode"));
    }
    if let Some(context) = field("context")?.filter(|&context| context == "all_turns") {
        let why = "reasoning items in `input` are not sent back to the provider";
        return Err(untranslatable("reasoning.context", &quoted(context), why));
    }
    let effort = field("effort")?;
    if let Some(effort) = effort {
        chat.insert("reasoning_effort".into(), effort.into());
    }
    let summary = field("summary")?.or(field("generate_summary")?);
    echo.insert("reasoning".into(), json!({"effort": effort, "summary": summary}));
    Ok(())
}

/// `metadata`: an object of strings (`{}` when absent).
fn metadata(body: &Map<String, Value>) -> Result<Value, TranslateError> {
    match body.get("metadata") {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::Object(pairs)) if pairs.values().all(Value::is_string) => Ok(Value::Object(pairs.clone())),
        Some(_) => Err(invalid("metadata", "an object of strings is required")),
    }
}

fn positive_integer(body: &Map<String, Value>, key: &str) -> Result<Option<u64>, TranslateError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            v.as_u64().filter(|&n| n > 0).map(Some).ok_or_else(|| invalid(key, "a positive integer is required"))
        }
    }
}

/// A number, as given (so `1` stays `1`).
fn number<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a Value>, TranslateError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) if v.is_number() => Ok(Some(v)),
        Some(_) => Err(invalid(key, "a number is required")),
    }
}
