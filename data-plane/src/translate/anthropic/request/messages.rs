//! The OpenAI `messages` array as Anthropic's system prompt and alternating
//! user/assistant messages.

use serde_json::{Map, Value, json};

use crate::translate::TranslateError;
use crate::translate::anthropic::{invalid, quoted, unsupported};

/// One Anthropic message being assembled.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
}

/// `messages` -> (the joined system prompt, alternating Anthropic messages).
pub(super) fn conversation(messages: &[Value]) -> Result<(String, Vec<Value>), TranslateError> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let Some(role) = message.get("role").and_then(Value::as_str) else {
            return Err(invalid(&format!("{path}.role"), "a string is required"));
        };
        let content = message.get("content");
        match role {
            "system" | "developer" => {
                let blocks = content_blocks(content, &path, Part::Text)?;
                system.extend(blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).map(str::to_owned));
            }
            "user" => push(&mut turns, "user", content_blocks(content, &path, Part::User)?),
            "assistant" => {
                let mut blocks = content_blocks(content, &path, Part::Assistant)?;
                blocks.extend(tool_uses(message.get("tool_calls"), &path)?);
                push(&mut turns, "assistant", blocks);
            }
            "tool" => {
                let Some(id) = message.get("tool_call_id").and_then(Value::as_str) else {
                    return Err(invalid(&format!("{path}.tool_call_id"), "a string is required"));
                };
                let mut result = Map::new();
                result.insert("type".into(), "tool_result".into());
                result.insert("tool_use_id".into(), id.into());
                if let Some(content) = collapse(content_blocks(content, &path, Part::Text)?) {
                    result.insert("content".into(), content);
                }
                push(&mut turns, "user", vec![Value::Object(result)]);
            }
            "function" => return Err(unsupported(&format!("{path}.role"), "\"function\" (use tools)")),
            other => return Err(unsupported(&format!("{path}.role"), &quoted(other))),
        }
    }
    if turns.is_empty() {
        return Err(invalid("messages", "at least one user or assistant message is required"));
    }
    let turns = turns
        .into_iter()
        .map(|mut turn| {
            // Anthropic wants a user message's tool results before its other content.
            if turn.role == "user" {
                turn.blocks.sort_by_key(|b| b.get("type").and_then(Value::as_str) != Some("tool_result"));
            }
            json!({"role": turn.role, "content": collapse(turn.blocks)})
        })
        .collect();
    Ok((system.join("\n\n"), turns))
}

/// Appends to the last message when it has the same role (Anthropic wants
/// the roles to alternate); drops empty content.
fn push(turns: &mut Vec<Turn>, role: &'static str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.blocks.extend(blocks),
        _ => turns.push(Turn { role, blocks }),
    }
}

/// A lone text block as a plain string, anything else as the array (None when empty).
fn collapse(mut blocks: Vec<Value>) -> Option<Value> {
    match blocks.as_slice() {
        [] => None,
        [only] if only.get("type").and_then(Value::as_str) == Some("text") => {
            blocks.pop()?.get_mut("text").map(Value::take)
        }
        _ => Some(Value::Array(blocks)),
    }
}

/// Which content parts a message may hold.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    /// Text only (system, developer and tool messages).
    Text,
    /// Text and images.
    User,
    /// Text and refusals.
    Assistant,
}

/// A message's `content` (null, a string or an array of parts) as Anthropic content blocks.
fn content_blocks(content: Option<&Value>, path: &str, allowed: Part) -> Result<Vec<Value>, TranslateError> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![text_block(s)]),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(invalid(&format!("{path}.content"), "a string or an array of content parts is required"));
        }
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let path = format!("{path}.content[{j}]");
        let Some(kind) = part.get("type").and_then(Value::as_str) else {
            return Err(invalid(&format!("{path}.type"), "a string is required"));
        };
        let text_field = match (kind, allowed) {
            ("text", _) => "text",
            ("refusal", Part::Assistant) => "refusal",
            ("image_url", Part::User) => {
                blocks.push(image_block(part.get("image_url"), &path)?);
                continue;
            }
            _ => return Err(unsupported(&format!("{path}.type"), &quoted(kind))),
        };
        let Some(text) = part.get(text_field).and_then(Value::as_str) else {
            return Err(invalid(&format!("{path}.{text_field}"), "a string is required"));
        };
        // Anthropic refuses empty text blocks.
        if !text.is_empty() {
            blocks.push(text_block(text));
        }
    }
    Ok(blocks)
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// An `image_url` part: a base64 `data:` URL or an http(s) URL.
fn image_block(image_url: Option<&Value>, path: &str) -> Result<Value, TranslateError> {
    let url = match image_url {
        Some(Value::String(url)) => url.as_str(),
        Some(o) => match o.get("url").and_then(Value::as_str) {
            Some(url) => url,
            None => return Err(invalid(&format!("{path}.image_url.url"), "a string is required")),
        },
        None => return Err(invalid(&format!("{path}.image_url"), "an object with a url is required")),
    };
    if let Some(rest) = url.strip_prefix("data:") {
        let media_type = rest.split_once(',').and_then(|(meta, data)| Some((meta.strip_suffix(";base64")?, data)));
        return match media_type {
            Some((media_type, data)) => {
                Ok(json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}))
            }
            None => Err(unsupported(&format!("{path}.image_url.url"), "a data URL that is not base64")),
        };
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(invalid(&format!("{path}.image_url.url"), "an http(s) URL or a base64 data URL is required"))
}

/// An assistant's `tool_calls` as `tool_use` blocks.
fn tool_uses(tool_calls: Option<&Value>, path: &str) -> Result<Vec<Value>, TranslateError> {
    let calls = match tool_calls {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(invalid(&format!("{path}.tool_calls"), "an array is required")),
    };
    let mut blocks = Vec::with_capacity(calls.len());
    for (j, call) in calls.iter().enumerate() {
        let path = format!("{path}.tool_calls[{j}]");
        match call.get("type").and_then(Value::as_str) {
            None | Some("function") => {}
            Some(other) => return Err(unsupported(&format!("{path}.type"), &quoted(other))),
        }
        let Some(id) = call.get("id").and_then(Value::as_str) else {
            return Err(invalid(&format!("{path}.id"), "a string is required"));
        };
        let function = call.get("function");
        let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) else {
            return Err(invalid(&format!("{path}.function.name"), "a string is required"));
        };
        let arguments = function.and_then(|f| f.get("arguments")).and_then(Value::as_str).unwrap_or("");
        let input = if arguments.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(arguments) {
                Ok(input @ Value::Object(_)) => input,
                Ok(_) => return Err(invalid(&format!("{path}.function.arguments"), "a JSON object is required")),
                Err(e) => {
                    return Err(invalid(&format!("{path}.function.arguments"), &format!("not valid JSON ({e})")));
                }
            }
        };
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    Ok(blocks)
}
