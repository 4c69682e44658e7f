//! `input` (a string, or message, function call, function call output and
//! reasoning items) as chat-completions `messages`.

use serde_json::{Map, Value, json};

use crate::ingress::responses::{invalid, quoted, untranslatable};
use crate::translate::TranslateError;

/// `input` -> chat messages, in order.
pub(super) fn messages(input: Option<&Value>) -> Result<Vec<Value>, TranslateError> {
    let items = match input {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) => return Ok(vec![json!({"role": "user", "content": text})]),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("input", "a string or an array of input items is required")),
    };
    let mut messages = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("input[{i}]");
        let Some(item) = item.as_object() else {
            return Err(invalid(&path, "an object is required"));
        };
        match item.get("type").and_then(Value::as_str) {
            Some("message") => messages.push(message(item, &path)?),
            None if item.contains_key("role") => messages.push(message(item, &path)?),
            Some("function_call") => function_call(&mut messages, item, &path)?,
            Some("function_call_output") => messages.push(function_call_output(item, &path)?),
            // The provider's reasoning is not sent back (see the module doc).
            Some("reasoning") => {}
            Some("item_reference") => {
                return Err(untranslatable(&path, "an item_reference", "this gateway stores no items"));
            }
            Some(other) => {
                let why = "only messages, function calls and their outputs have a chat-completions form";
                return Err(untranslatable(&format!("{path}.type"), &quoted(other), why));
            }
            None => return Err(invalid(&format!("{path}.type"), "a string is required")),
        }
    }
    Ok(messages)
}

/// Which content parts a role may hold.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    User,
    Assistant,
    /// `system` and `developer`: text only.
    System,
}

/// A message item (`EasyInputMessage`, `InputMessage` or an `OutputMessage` sent back).
fn message(item: &Map<String, Value>, path: &str) -> Result<Value, TranslateError> {
    let (role, chat_role) = match item.get("role").and_then(Value::as_str) {
        Some("user") => (Role::User, "user"),
        Some("assistant") => (Role::Assistant, "assistant"),
        Some("system" | "developer") => (Role::System, "system"),
        Some(other) => return Err(invalid(&format!("{path}.role"), &format!("{} is not a role", quoted(other)))),
        None => return Err(invalid(&format!("{path}.role"), "a string is required")),
    };
    let parts = match item.get("content") {
        Some(Value::String(text)) => return Ok(json!({"role": chat_role, "content": text})),
        Some(Value::Array(parts)) => parts,
        _ => return Err(invalid(&format!("{path}.content"), "a string or an array of content parts is required")),
    };
    let mut out = Vec::with_capacity(parts.len());
    let mut refusal: Option<String> = None;
    for (j, part) in parts.iter().enumerate() {
        let path = format!("{path}.content[{j}]");
        let Some(kind) = part.get("type").and_then(Value::as_str) else {
            return Err(invalid(&format!("{path}.type"), "a string is required"));
        };
        match (kind, role) {
            ("input_text" | "output_text", _) => {
                let Some(text) = part.get("text").and_then(Value::as_str) else {
                    return Err(invalid(&format!("{path}.text"), "a string is required"));
                };
                out.push(json!({"type": "text", "text": text}));
            }
            ("refusal", Role::Assistant) => {
                let Some(text) = part.get("refusal").and_then(Value::as_str) else {
                    return Err(invalid(&format!("{path}.refusal"), "a string is required"));
                };
                refusal.get_or_insert_default().push_str(text);
            }
            ("input_image", Role::User) => out.push(image(part, &path)?),
            ("input_file", Role::User) => out.push(file(part, &path)?),
            _ => {
                let why = format!("a {chat_role} message of chat completions cannot hold it");
                return Err(untranslatable(&format!("{path}.type"), &quoted(kind), &why));
            }
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), chat_role.into());
    let content = match out.as_mut_slice() {
        // An assistant message of only a refusal has no content.
        [] if refusal.is_some() => Value::Null,
        [] => return Err(invalid(&format!("{path}.content"), "at least one content part is required")),
        _ => Value::Array(out),
    };
    message.insert("content".into(), content);
    if let Some(refusal) = refusal {
        message.insert("refusal".into(), refusal.into());
    }
    Ok(Value::Object(message))
}

/// `input_image` -> an `image_url` part.
fn image(part: &Value, path: &str) -> Result<Value, TranslateError> {
    let Some(url) = part.get("image_url").and_then(Value::as_str) else {
        if part.get("file_id").is_some_and(Value::is_string) {
            let why = "uploaded files cannot be read by this model's provider; send the image as `image_url` \
                 (a URL or a data: URL)";
            return Err(untranslatable(&format!("{path}.file_id"), "an image file_id", why));
        }
        return Err(invalid(&format!("{path}.image_url"), "a string is required"));
    };
    let mut image = Map::new();
    image.insert("url".into(), url.into());
    match part.get("detail") {
        None | Some(Value::Null) => {}
        Some(Value::String(detail)) if matches!(detail.as_str(), "auto" | "low" | "high") => {
            image.insert("detail".into(), detail.as_str().into());
        }
        Some(Value::String(detail)) => {
            let why = "chat completions knows only \"auto\", \"low\" and \"high\"";
            return Err(untranslatable(&format!("{path}.detail"), &quoted(detail), why));
        }
        Some(_) => return Err(invalid(&format!("{path}.detail"), "a string is required")),
    }
    Ok(json!({"type": "image_url", "image_url": image}))
}

/// `input_file` with inline `file_data` -> a `file` part.
fn file(part: &Value, path: &str) -> Result<Value, TranslateError> {
    for (key, what) in [("file_id", "a file_id"), ("file_url", "a file_url")] {
        if part.get(key).is_some_and(Value::is_string) {
            let why = "this model's provider cannot fetch files; send the file inline as `file_data`";
            return Err(untranslatable(&format!("{path}.{key}"), what, why));
        }
    }
    let Some(data) = part.get("file_data").and_then(Value::as_str) else {
        return Err(invalid(&format!("{path}.file_data"), "a string is required"));
    };
    let mut file = Map::new();
    file.insert("file_data".into(), data.into());
    if let Some(name) = part.get("filename").and_then(Value::as_str) {
        file.insert("filename".into(), name.into());
    }
    Ok(json!({"type": "file", "file": file}))
}

/// A `function_call` item: a tool call of the assistant message just before
/// it, or of a new assistant message.
fn function_call(messages: &mut Vec<Value>, item: &Map<String, Value>, path: &str) -> Result<(), TranslateError> {
    let field = |key: &str| {
        item.get(key).and_then(Value::as_str).ok_or_else(|| invalid(&format!("{path}.{key}"), "a string is required"))
    };
    let (call_id, name, arguments) = (field("call_id")?, field("name")?, field("arguments")?);
    if item.get("namespace").is_some_and(Value::is_string) {
        let why = "namespaced tools cannot be declared in chat completions";
        return Err(untranslatable(&format!("{path}.namespace"), "a namespace", why));
    }
    let call = json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}});
    if let Some(Value::Object(last)) = messages.last_mut()
        && last.get("role").and_then(Value::as_str) == Some("assistant")
    {
        match last.get_mut("tool_calls") {
            Some(Value::Array(calls)) => calls.push(call),
            _ => {
                last.insert("tool_calls".into(), Value::Array(vec![call]));
            }
        }
        return Ok(());
    }
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    Ok(())
}

/// A `function_call_output` item -> a `tool` message.
fn function_call_output(item: &Map<String, Value>, path: &str) -> Result<Value, TranslateError> {
    let Some(call_id) = item.get("call_id").and_then(Value::as_str) else {
        return Err(invalid(&format!("{path}.call_id"), "a string is required"));
    };
    let content = match item.get("output") {
        Some(Value::String(text)) => Value::String(text.clone()),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let path = format!("{path}.output[{j}]");
                match part.get("type").and_then(Value::as_str) {
                    Some("input_text") => match part.get("text").and_then(Value::as_str) {
                        Some(text) => out.push(json!({"type": "text", "text": text})),
                        None => return Err(invalid(&format!("{path}.text"), "a string is required")),
                    },
                    Some(other) => {
                        let why = "a chat-completions tool message holds text only";
                        return Err(untranslatable(&format!("{path}.type"), &quoted(other), why));
                    }
                    None => return Err(invalid(&format!("{path}.type"), "a string is required")),
                }
            }
            if out.is_empty() { Value::String(String::new()) } else { Value::Array(out) }
        }
        _ => return Err(invalid(&format!("{path}.output"), "a string or an array of content parts is required")),
    };
    Ok(json!({"role": "tool", "tool_call_id": call_id, "content": content}))
}
