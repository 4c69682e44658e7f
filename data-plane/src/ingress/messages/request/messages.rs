//! Anthropic's `system` and `messages` as chat messages: the system prompt
//! first, each user turn's `tool_result` blocks as `tool` messages right
//! after the assistant message that called them, then the rest of the turn.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::ingress::messages::{invalid, quoted, unsupported};
use crate::translate::TranslateError;

/// `system` and `messages` -> chat messages.
pub(super) fn conversation(system: Option<&Value>, messages: &[Value]) -> Result<Vec<Value>, TranslateError> {
    if messages.is_empty() {
        return Err(invalid("messages", "at least one message is required"));
    }
    let mut out = Vec::with_capacity(messages.len() + 1);
    if let Some(system) = system_prompt(system)? {
        out.push(json!({"role": "system", "content": system}));
    }
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let Value::Object(message) = message else {
            return Err(invalid(&path, "an object is required"));
        };
        let blocks = blocks(message.get("content"), &path)?;
        match message.get("role").and_then(Value::as_str) {
            Some("user") => user(&blocks, &path, &mut out)?,
            Some("assistant") => out.extend(assistant(&blocks, &path)?),
            Some(other) => return Err(unsupported(&format!("{path}.role"), &quoted(other))),
            None => return Err(invalid(&format!("{path}.role"), "a string is required")),
        }
    }
    Ok(out)
}

/// `system`: a string or text blocks, joined by a blank line (None when empty).
fn system_prompt(system: Option<&Value>) -> Result<Option<String>, TranslateError> {
    let blocks = match system {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => return Ok((!s.is_empty()).then(|| s.clone())),
        Some(Value::Array(blocks)) => blocks,
        Some(_) => return Err(invalid("system", "a string or an array of text blocks is required")),
    };
    let mut texts = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        let path = format!("system[{i}]");
        match block_type(block, &path)? {
            "text" => texts.push(text(block, &path)?),
            other => return Err(unsupported(&format!("{path}.type"), &quoted(other))),
        }
    }
    let texts: Vec<&str> = texts.into_iter().filter(|t| !t.is_empty()).collect();
    Ok((!texts.is_empty()).then(|| texts.join("\n\n")))
}

/// A message's `content`: a string is one text block.
fn blocks<'a>(content: Option<&'a Value>, path: &str) -> Result<Cow<'a, [Value]>, TranslateError> {
    match content {
        Some(Value::String(s)) => Ok(Cow::Owned(vec![json!({"type": "text", "text": s})])),
        Some(Value::Array(blocks)) => Ok(Cow::Borrowed(blocks)),
        _ => Err(invalid(&format!("{path}.content"), "a string or an array of content blocks is required")),
    }
}

fn block_type<'a>(block: &'a Value, path: &str) -> Result<&'a str, TranslateError> {
    block.get("type").and_then(Value::as_str).ok_or_else(|| invalid(&format!("{path}.type"), "a string is required"))
}

fn text<'a>(block: &'a Value, path: &str) -> Result<&'a str, TranslateError> {
    block.get("text").and_then(Value::as_str).ok_or_else(|| invalid(&format!("{path}.text"), "a string is required"))
}

/// A user turn: its tool results as `tool` messages, then one user message
/// with the rest (images from tool results first: a `tool` message holds text only).
fn user(blocks: &[Value], path: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let mut tool_images = Vec::new();
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, block) in blocks.iter().enumerate() {
        let path = format!("{path}.content[{j}]");
        match block_type(block, &path)? {
            "text" => {
                let text = text(block, &path)?;
                if !text.is_empty() {
                    parts.push(json!({"type": "text", "text": text}));
                }
            }
            "image" => parts.push(image(block, &path)?),
            "tool_result" => out.push(tool_result(block, &path, &mut tool_images)?),
            other => return Err(unsupported(&format!("{path}.type"), &quoted(other))),
        }
    }
    tool_images.extend(parts);
    let parts = tool_images;
    match parts.as_slice() {
        [] => {}
        [only] if only.get("type").and_then(Value::as_str) == Some("text") => {
            out.push(json!({"role": "user", "content": only["text"]}));
        }
        _ => out.push(json!({"role": "user", "content": parts})),
    }
    Ok(())
}

/// A `tool_result` block as a `tool` message; its images go to `images`.
fn tool_result(block: &Value, path: &str, images: &mut Vec<Value>) -> Result<Value, TranslateError> {
    let Some(id) = block.get("tool_use_id").and_then(Value::as_str) else {
        return Err(invalid(&format!("{path}.tool_use_id"), "a string is required"));
    };
    let mut texts: Vec<&str> = Vec::new();
    match block.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => texts.push(s),
        Some(Value::Array(items)) => {
            for (k, item) in items.iter().enumerate() {
                let path = format!("{path}.content[{k}]");
                match block_type(item, &path)? {
                    "text" => texts.push(text(item, &path)?),
                    "image" => images.push(image(item, &path)?),
                    other => return Err(unsupported(&format!("{path}.type"), &quoted(other))),
                }
            }
        }
        Some(_) => {
            return Err(invalid(&format!("{path}.content"), "a string or an array of content blocks is required"));
        }
    }
    let mut content = texts.join("\n");
    match block.get("is_error") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        // Chat has no error flag on a tool result: the model reads it in the text.
        Some(Value::Bool(true)) if content.is_empty() => content.push_str("Error"),
        Some(Value::Bool(true)) => content.insert_str(0, "Error: "),
        Some(_) => return Err(invalid(&format!("{path}.is_error"), "a boolean is required")),
    }
    Ok(json!({"role": "tool", "tool_call_id": id, "content": content}))
}

/// An `image` block as an `image_url` part (base64 sources as a `data:` URL).
fn image(block: &Value, path: &str) -> Result<Value, TranslateError> {
    let source = block.get("source");
    let field = |name: &str| source.and_then(|s| s.get(name)).and_then(Value::as_str);
    let url = match field("type") {
        Some("base64") => {
            let Some(media_type) = field("media_type") else {
                return Err(invalid(&format!("{path}.source.media_type"), "a string is required"));
            };
            let Some(data) = field("data") else {
                return Err(invalid(&format!("{path}.source.data"), "a string is required"));
            };
            format!("data:{media_type};base64,{data}")
        }
        Some("url") => match field("url") {
            Some(url) => url.to_owned(),
            None => return Err(invalid(&format!("{path}.source.url"), "a string is required")),
        },
        Some(other) => return Err(unsupported(&format!("{path}.source.type"), &quoted(other))),
        None => return Err(invalid(&format!("{path}.source.type"), "a string is required")),
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// An assistant turn as one assistant message (None when nothing is left:
/// thinking blocks are dropped).
fn assistant(blocks: &[Value], path: &str) -> Result<Option<Value>, TranslateError> {
    let mut texts: Vec<&str> = Vec::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let path = format!("{path}.content[{j}]");
        match block_type(block, &path)? {
            "text" => {
                let text = text(block, &path)?;
                if !text.is_empty() {
                    texts.push(text);
                }
            }
            "tool_use" => calls.push(tool_call(block, &path)?),
            // The model's earlier reasoning: chat has no field to send it back in.
            "thinking" | "redacted_thinking" => {}
            other => return Err(unsupported(&format!("{path}.type"), &quoted(other))),
        }
    }
    if texts.is_empty() && calls.is_empty() {
        return Ok(None);
    }
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    message.insert("content".into(), if texts.is_empty() { Value::Null } else { texts.join("\n\n").into() });
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    Ok(Some(Value::Object(message)))
}

/// A `tool_use` block as a chat tool call (`input` as the `arguments` JSON text).
fn tool_call(block: &Value, path: &str) -> Result<Value, TranslateError> {
    let Some(id) = block.get("id").and_then(Value::as_str) else {
        return Err(invalid(&format!("{path}.id"), "a string is required"));
    };
    let Some(name) = block.get("name").and_then(Value::as_str) else {
        return Err(invalid(&format!("{path}.name"), "a string is required"));
    };
    let arguments = match block.get("input") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(input @ Value::Object(_)) => input.to_string(),
        Some(_) => return Err(invalid(&format!("{path}.input"), "an object is required")),
    };
    Ok(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}))
}
