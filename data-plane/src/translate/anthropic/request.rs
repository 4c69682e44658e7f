//! OpenAI chat completion request -> Anthropic Messages request: the body's
//! options here, the `messages` array in `messages`.

use serde_json::{Map, Value, json};

use super::{invalid, quoted, unsupported};
use crate::translate::{Ask, TranslateError, Translated};

mod messages;

use messages::conversation;

#[cfg(test)]
mod tests;

/// `max_tokens` when neither the client nor the provider names one
/// (Anthropic requires it).
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// OpenAI chat completions request body -> Anthropic Messages request body.
/// `default_max_tokens`: the provider's setting, used when the client gives neither
/// `max_completion_tokens` nor `max_tokens` (Anthropic requires `max_tokens`; without
/// either and without a default, 4096).
pub fn request(openai: &[u8], default_max_tokens: Option<u32>) -> Result<Translated, TranslateError> {
    let value: Value = serde_json::from_slice(openai)
        .map_err(|e| TranslateError::Request(format!("the request body is not valid JSON: {e}")))?;
    let Value::Object(body) = value else {
        return Err(invalid("the request body", "a JSON object is required"));
    };
    let Some(Value::String(model)) = body.get("model") else {
        return Err(invalid("model", "a string is required"));
    };
    let Some(Value::Array(messages)) = body.get("messages") else {
        return Err(invalid("messages", "an array of messages is required"));
    };
    refuse_unsupported_options(&body)?;

    let (system, turns) = conversation(messages)?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage =
        body.get("stream_options").and_then(|o| o.get("include_usage")).and_then(Value::as_bool).unwrap_or(false);

    let mut out = Map::new();
    out.insert("model".into(), Value::String(model.clone()));
    if !system.is_empty() {
        out.insert("system".into(), Value::String(system));
    }
    out.insert("messages".into(), Value::Array(turns));

    let mut max_tokens = requested_max_tokens(&body)?.or(default_max_tokens).unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(budget) = thinking_budget(&body)? {
        if max_tokens <= budget {
            max_tokens = budget.saturating_add(max_tokens);
        }
        out.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
    }
    out.insert("max_tokens".into(), max_tokens.into());

    if let Some(t) = number(&body, "temperature")? {
        out.insert("temperature".into(), json!(t.min(1.0)));
    }
    if let Some(p) = number(&body, "top_p")? {
        out.insert("top_p".into(), json!(p));
    }
    if let Some(stop) = stop_sequences(&body)? {
        out.insert("stop_sequences".into(), stop);
    }
    if stream {
        out.insert("stream".into(), Value::Bool(true));
    }
    match body.get("user") {
        None | Some(Value::Null) => {}
        Some(Value::String(user)) => {
            out.insert("metadata".into(), json!({"user_id": user}));
        }
        Some(_) => return Err(invalid("user", "a string is required")),
    }
    if let Some(tools) = tools(&body)? {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = tool_choice(&body)? {
            out.insert("tool_choice".into(), choice);
        }
    }

    let body = serde_json::to_vec(&Value::Object(out))
        .map_err(|e| TranslateError::Request(format!("the translated request could not be written: {e}")))?;
    Ok(Translated { body, stream, include_usage, model: model.clone(), ask: Ask::Chat })
}

/// Options with no Anthropic counterpart whose loss would change the answer.
fn refuse_unsupported_options(body: &Map<String, Value>) -> Result<(), TranslateError> {
    match body.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(n) if n.as_u64().is_some() => return Err(unsupported("n", "more than one choice")),
        Some(_) => return Err(invalid("n", "a positive integer is required")),
    }
    if body.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(unsupported("logprobs", "true"));
    }
    match body.get("response_format") {
        None | Some(Value::Null) => {}
        Some(format) => match format.get("type").and_then(Value::as_str) {
            Some("text" | "json_object") => {}
            Some(other) => return Err(unsupported("response_format.type", &quoted(other))),
            None => return Err(invalid("response_format.type", "a string is required")),
        },
    }
    if let Some(Value::Array(modalities)) = body.get("modalities") {
        for (i, m) in modalities.iter().enumerate() {
            if m.as_str() != Some("text") {
                return Err(unsupported(&format!("modalities[{i}]"), &m.to_string()));
            }
        }
    }
    Ok(())
}

/// `max_completion_tokens`, else `max_tokens`.
fn requested_max_tokens(body: &Map<String, Value>) -> Result<Option<u32>, TranslateError> {
    for key in ["max_completion_tokens", "max_tokens"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => {
                return match v.as_u64().filter(|&n| n > 0).and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => Ok(Some(n)),
                    None => Err(invalid(key, "a positive integer is required")),
                };
            }
        }
    }
    Ok(None)
}

/// `reasoning_effort` as an extended thinking budget (None: no thinking).
fn thinking_budget(body: &Map<String, Value>) -> Result<Option<u32>, TranslateError> {
    match body.get("reasoning_effort") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(effort)) => match effort.as_str() {
            "none" => Ok(None),
            // Anthropic's smallest budget is 1024.
            "minimal" | "low" => Ok(Some(1024)),
            "medium" => Ok(Some(4096)),
            "high" => Ok(Some(16384)),
            other => Err(unsupported("reasoning_effort", &quoted(other))),
        },
        Some(_) => Err(invalid("reasoning_effort", "a string is required")),
    }
}

fn number(body: &Map<String, Value>, key: &str) -> Result<Option<f64>, TranslateError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| invalid(key, "a number is required")),
    }
}

/// `stop` (a string or an array of strings) as `stop_sequences`.
fn stop_sequences(body: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    match body.get("stop") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(json!([s]))),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            Ok((!items.is_empty()).then(|| Value::Array(items.clone())))
        }
        Some(_) => Err(invalid("stop", "a string or an array of strings is required")),
    }
}

/// `tools` (functions only) as Anthropic tool definitions; None when there are none.
fn tools(body: &Map<String, Value>) -> Result<Option<Vec<Value>>, TranslateError> {
    let tools = match body.get("tools") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(tools)) if tools.is_empty() => return Ok(None),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(invalid("tools", "an array is required")),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(other) => return Err(unsupported(&format!("{path}.type"), &quoted(other))),
            None => return Err(invalid(&format!("{path}.type"), "a string is required")),
        }
        let function = tool.get("function");
        let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) else {
            return Err(invalid(&format!("{path}.function.name"), "a string is required"));
        };
        let mut def = Map::new();
        def.insert("name".into(), name.into());
        if let Some(description) = function.and_then(|f| f.get("description")).and_then(Value::as_str) {
            def.insert("description".into(), description.into());
        }
        let schema = match function.and_then(|f| f.get("parameters")) {
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(schema) => schema.clone(),
        };
        def.insert("input_schema".into(), schema);
        out.push(Value::Object(def));
    }
    Ok(Some(out))
}

/// `tool_choice` and `parallel_tool_calls` as Anthropic's `tool_choice`.
fn tool_choice(body: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    let mut choice = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            other => return Err(unsupported("tool_choice", &quoted(other))),
        },
        Some(Value::Object(o)) => match o.get("type").and_then(Value::as_str) {
            Some("function") => match o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str) {
                Some(name) => Some(json!({"type": "tool", "name": name})),
                None => return Err(invalid("tool_choice.function.name", "a string is required")),
            },
            Some(other) => return Err(unsupported("tool_choice.type", &quoted(other))),
            None => return Err(invalid("tool_choice.type", "a string is required")),
        },
        Some(_) => return Err(invalid("tool_choice", "a string or an object is required")),
    };
    if body.get("parallel_tool_calls").and_then(Value::as_bool) == Some(false) {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        // `none` takes no options: no tool is called at all.
        if choice.get("type").and_then(Value::as_str) != Some("none")
            && let Some(o) = choice.as_object_mut()
        {
            o.insert("disable_parallel_tool_use".into(), Value::Bool(true));
        }
    }
    Ok(choice)
}
