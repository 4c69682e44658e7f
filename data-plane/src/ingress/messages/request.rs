//! Anthropic Messages request -> chat completions request: the body's
//! options here, `system` and `messages` in `messages`.

use serde_json::{Map, Value, json};

use super::{invalid, quoted, unsupported};
use crate::ingress::Inbound;
use crate::translate::TranslateError;

mod messages;

use messages::conversation;

#[cfg(test)]
mod tests;

/// Anthropic Messages request body -> chat completions request body (see the
/// module doc for what each field becomes).
pub fn request(body: &[u8]) -> Result<Inbound, TranslateError> {
    let body = parse(body)?;
    let mut chat = prompt(&body)?;
    let model = body.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();

    let max_tokens = match body.get("max_tokens") {
        None | Some(Value::Null) => return Err(invalid("max_tokens", "a positive integer is required")),
        Some(v) => {
            v.as_u64().filter(|&n| n > 0).ok_or_else(|| invalid("max_tokens", "a positive integer is required"))?
        }
    };
    chat.insert("max_completion_tokens".into(), max_tokens.into());
    for key in ["temperature", "top_p"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(v @ Value::Number(_)) => {
                chat.insert(key.into(), v.clone());
            }
            Some(_) => return Err(invalid(key, "a number is required")),
        }
    }
    match body.get("top_k") {
        // No chat completions counterpart (OpenAI refuses unknown fields): dropped.
        None | Some(Value::Null) | Some(Value::Number(_)) => {}
        Some(_) => return Err(invalid("top_k", "a number is required")),
    }
    if let Some(stop) = stop_sequences(&body)? {
        chat.insert("stop".into(), stop);
    }
    if let Some(user) = user_id(&body)? {
        chat.insert("user".into(), user.into());
    }
    if let Some(effort) = reasoning_effort(&body)? {
        chat.insert("reasoning_effort".into(), effort.into());
    }
    if let Some(format) = response_format(&body)? {
        chat.insert("response_format".into(), format);
    }
    if let Some(Value::Array(servers)) = body.get("mcp_servers")
        && !servers.is_empty()
    {
        return Err(unsupported("mcp_servers", "an MCP server"));
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("stream", "a boolean is required")),
    };
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }

    let chat = serde_json::to_vec(&Value::Object(chat))
        .map_err(|e| TranslateError::Request(format!("the translated request could not be written: {e}")))?;
    Ok(Inbound { chat, stream, model })
}

/// The body as a JSON object.
pub(super) fn parse(body: &[u8]) -> Result<Map<String, Value>, TranslateError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(_) => Err(invalid("the request body", "a JSON object is required")),
        Err(e) => Err(TranslateError::Request(format!("the request body is not valid JSON: {e}"))),
    }
}

/// What the model reads, as chat fields: `model`, `messages` (with `system`),
/// `tools` and `tool_choice`. Shared with the token count, whose requests
/// carry these and no generation options.
pub(super) fn prompt(body: &Map<String, Value>) -> Result<Map<String, Value>, TranslateError> {
    let Some(Value::String(model)) = body.get("model") else {
        return Err(invalid("model", "a string is required"));
    };
    let Some(Value::Array(messages)) = body.get("messages") else {
        return Err(invalid("messages", "an array of messages is required"));
    };
    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model.clone()));
    chat.insert("messages".into(), Value::Array(conversation(body.get("system"), messages)?));
    let tools = tools(body)?;
    if let Some(choice) = tool_choice(body, !tools.is_empty())? {
        for (key, value) in choice {
            chat.insert(key.into(), value);
        }
    }
    if !tools.is_empty() {
        chat.insert("tools".into(), Value::Array(tools));
    }
    Ok(chat)
}

/// `stop_sequences` as `stop` (None when there are none).
fn stop_sequences(body: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    match body.get("stop_sequences") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            Ok((!items.is_empty()).then(|| Value::Array(items.clone())))
        }
        Some(_) => Err(invalid("stop_sequences", "an array of strings is required")),
    }
}

/// `metadata.user_id`, chat's `user`.
fn user_id(body: &Map<String, Value>) -> Result<Option<&str>, TranslateError> {
    match body.get("metadata") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(metadata)) => match metadata.get("user_id") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(user)) => Ok(Some(user)),
            Some(_) => Err(invalid("metadata.user_id", "a string is required")),
        },
        Some(_) => Err(invalid("metadata", "an object is required")),
    }
}

/// `thinking` (with `output_config.effort` for adaptive thinking) as
/// `reasoning_effort`; None without thinking.
fn reasoning_effort(body: &Map<String, Value>) -> Result<Option<&'static str>, TranslateError> {
    let thinking = match body.get("thinking") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(thinking)) => thinking,
        Some(_) => return Err(invalid("thinking", "an object is required")),
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(None),
        Some("enabled") => {
            let Some(budget) = thinking.get("budget_tokens").and_then(Value::as_u64) else {
                return Err(invalid("thinking.budget_tokens", "a positive integer is required"));
            };
            // The inverse of the chat -> Anthropic translation's budgets (low 1024, medium 4096, high 16384).
            Ok(Some(match budget {
                ..4096 => "low",
                4096..16384 => "medium",
                _ => "high",
            }))
        }
        Some("adaptive") => {
            let effort = body.get("output_config").and_then(|c| c.get("effort"));
            match effort {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(effort)) => match effort.as_str() {
                    "low" => Ok(Some("low")),
                    "medium" => Ok(Some("medium")),
                    // The highest effort every chat reasoning model takes.
                    "high" | "xhigh" | "max" => Ok(Some("high")),
                    other => Err(unsupported("output_config.effort", &quoted(other))),
                },
                Some(_) => Err(invalid("output_config.effort", "a string is required")),
            }
        }
        Some(other) => Err(unsupported("thinking.type", &quoted(other))),
        None => Err(invalid("thinking.type", "a string is required")),
    }
}

/// Structured outputs (`output_config.format`, or the beta's `output_format`)
/// as a strict `json_schema` response format.
fn response_format(body: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    let (path, format) = match (body.get("output_config").and_then(|c| c.get("format")), body.get("output_format")) {
        (Some(format), _) if !format.is_null() => ("output_config.format", format),
        (_, Some(format)) if !format.is_null() => ("output_format", format),
        _ => return Ok(None),
    };
    match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => {}
        Some(other) => return Err(unsupported(&format!("{path}.type"), &quoted(other))),
        None => return Err(invalid(&format!("{path}.type"), "a string is required")),
    }
    let Some(schema @ Value::Object(_)) = format.get("schema") else {
        return Err(invalid(&format!("{path}.schema"), "a JSON schema object is required"));
    };
    Ok(Some(json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}})))
}

/// `tools` (custom tools only) as chat function tools.
fn tools(body: &Map<String, Value>) -> Result<Vec<Value>, TranslateError> {
    let tools = match body.get("tools") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(invalid("tools", "an array is required")),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        match tool.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "custom" => {}
            // Anthropic's server and client-defined tools (web_search_*, bash_*, text_editor_*, computer_*, ...).
            Some(Value::String(kind)) => return Err(unsupported(&format!("{path}.type"), &quoted(kind))),
            Some(_) => return Err(invalid(&format!("{path}.type"), "a string is required")),
        }
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            return Err(invalid(&format!("{path}.name"), "a string is required"));
        };
        let Some(schema @ Value::Object(_)) = tool.get("input_schema") else {
            return Err(invalid(&format!("{path}.input_schema"), "a JSON schema object is required"));
        };
        let mut function = Map::new();
        function.insert("name".into(), name.into());
        match tool.get("description") {
            None | Some(Value::Null) => {}
            Some(Value::String(description)) => {
                function.insert("description".into(), description.as_str().into());
            }
            Some(_) => return Err(invalid(&format!("{path}.description"), "a string is required")),
        }
        function.insert("parameters".into(), schema.clone());
        if let Some(strict @ Value::Bool(_)) = tool.get("strict") {
            function.insert("strict".into(), strict.clone());
        }
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

/// `tool_choice` as chat's `tool_choice` and `parallel_tool_calls`. Without
/// tools chat takes neither: `auto` and `none` mean nothing then, `any` and
/// `tool` cannot be honoured.
fn tool_choice(
    body: &Map<String, Value>,
    has_tools: bool,
) -> Result<Option<Vec<(&'static str, Value)>>, TranslateError> {
    let choice = match body.get("tool_choice") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(choice)) => choice,
        Some(_) => return Err(invalid("tool_choice", "an object is required")),
    };
    let kind = match choice.get("type").and_then(Value::as_str) {
        Some(kind) => kind,
        None => return Err(invalid("tool_choice.type", "a string is required")),
    };
    let chat = match kind {
        "auto" => json!("auto"),
        "any" => json!("required"),
        "none" => json!("none"),
        "tool" => match choice.get("name").and_then(Value::as_str) {
            Some(name) => json!({"type": "function", "function": {"name": name}}),
            None => return Err(invalid("tool_choice.name", "a string is required")),
        },
        other => return Err(unsupported("tool_choice.type", &quoted(other))),
    };
    if !has_tools {
        return match kind {
            "auto" | "none" => Ok(None),
            _ => Err(invalid("tool_choice.type", &format!("{} requires tools", quoted(kind)))),
        };
    }
    let mut out = vec![("tool_choice", chat)];
    match choice.get("disable_parallel_tool_use") {
        None | Some(Value::Null) => {}
        // `none` calls no tool at all, and chat refuses the option with it on some providers.
        Some(Value::Bool(true)) if kind != "none" => out.push(("parallel_tool_calls", Value::Bool(false))),
        Some(Value::Bool(_)) => {}
        Some(_) => return Err(invalid("tool_choice.disable_parallel_tool_use", "a boolean is required")),
    }
    Ok(Some(out))
}
