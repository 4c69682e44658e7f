//! OpenAI chat completions request -> Gemini GenerateContentRequest.

use crate::translate::{Ask, TranslateError, Translated};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Google's documented placeholder for a function call whose real thought
/// signature is unknown (history from another model or client).
const PLACEHOLDER_SIGNATURE: &str = "skip_thought_signature_validator";

/// OpenAI chat completions request body -> Gemini GenerateContentRequest body
/// (the model goes in the URL, not the body: Translated.model carries it).
pub fn request(openai: &[u8]) -> Result<Translated, TranslateError> {
    let req: Value = serde_json::from_slice(openai).map_err(|e| bad(format!("the request body is not JSON: {e}")))?;
    let Some(req) = req.as_object() else { return Err(bad("the request body is not a JSON object")) };
    let model = match req.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(bad("model: required")),
    };
    reject_unsupported(req)?;
    let (system, contents) = contents(req)?;
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if let Some(system) = system {
        body.insert("systemInstruction".into(), json!({"parts": [{"text": system}]}));
    }
    if let Some(tools) = tools(req)? {
        body.insert("tools".into(), tools);
    }
    if let Some(config) = tool_config(req)? {
        body.insert("toolConfig".into(), config);
    }
    let config = generation_config(req)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Translated {
        body: Value::Object(body).to_string().into_bytes(),
        stream: req.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: req
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        model,
        ask: Ask::Chat,
    })
}

fn bad(message: impl Into<String>) -> TranslateError {
    TranslateError::Request(message.into())
}

fn unsupported(at: &str, what: &Value) -> TranslateError {
    bad(format!("{at}: {what} is not supported by gemini providers"))
}

/// A member that is present and not null.
fn given<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// Fields that would change the answer in a way Gemini cannot honour.
fn reject_unsupported(req: &Map<String, Value>) -> Result<(), TranslateError> {
    if req.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(bad("logprobs: not supported by gemini providers"));
    }
    for key in ["audio", "functions", "function_call", "web_search_options"] {
        if given(req, key).is_some() {
            return Err(bad(format!("{key}: not supported by gemini providers")));
        }
    }
    if let Some(modalities) = given(req, "modalities") {
        let text_only = modalities.as_array().is_some_and(|m| m.iter().all(|m| m == "text"));
        if !text_only {
            return Err(bad(format!("modalities: {modalities} is not supported by gemini providers (text only)")));
        }
    }
    Ok(())
}

/// `messages` -> (systemInstruction text, contents).
fn contents(req: &Map<String, Value>) -> Result<(Option<String>, Vec<Value>), TranslateError> {
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return Err(bad("messages: required (an array of messages)"));
    };
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // tool_call_id -> function name, from the assistant messages seen so far.
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Some(message) = message.as_object() else { return Err(bad(format!("{at}: not an object"))) };
        let (role, parts) = match message.get("role").and_then(Value::as_str).unwrap_or_default() {
            "system" | "developer" => {
                let text = text_of(message.get("content"), &at)?;
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            "user" => ("user", user_parts(message.get("content"), &at)?),
            "assistant" => ("model", assistant_parts(message, &at, &mut call_names)?),
            "tool" => ("user", vec![tool_part(message, &at, &call_names)?]),
            other => return Err(unsupported(&format!("{at}.role"), &Value::from(other))),
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    if turns.is_empty() {
        return Err(bad("messages: gemini providers need at least one user or assistant message"));
    }
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok((system, turns.into_iter().map(|(role, parts)| json!({"role": role, "parts": parts})).collect()))
}

/// The text of a system, developer or tool message: a string or text parts.
fn text_of(content: Option<&Value>, at: &str) -> Result<String, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default()),
                    _ => {
                        return Err(unsupported(
                            &format!("{at}.content[{j}].type"),
                            part.get("type").unwrap_or(&Value::Null),
                        ));
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(bad(format!("{at}.content: expected a string or an array of content parts"))),
    }
}

fn text_part(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"text": text}))
}

fn user_parts(content: Option<&Value>, at: &str) -> Result<Vec<Value>, TranslateError> {
    let parts = match content {
        Some(Value::Array(parts)) => parts,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Ok(text_part(&text_of(content, at)?).into_iter().collect());
        }
        Some(_) => return Err(bad(format!("{at}.content: expected a string or an array of content parts"))),
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let here = format!("{at}.content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("text") => out.extend(text_part(part.get("text").and_then(Value::as_str).unwrap_or_default())),
            Some("image_url") => out.push(image_part(part.get("image_url"), &format!("{here}.image_url"))?),
            Some("input_audio") => out.push(audio_part(part.get("input_audio"), &format!("{here}.input_audio"))?),
            _ => return Err(unsupported(&format!("{here}.type"), part.get("type").unwrap_or(&Value::Null))),
        }
    }
    Ok(out)
}

fn image_part(image: Option<&Value>, at: &str) -> Result<Value, TranslateError> {
    let url = match image {
        Some(Value::String(url)) => url.as_str(),
        Some(image) => image.get("url").and_then(Value::as_str).unwrap_or_default(),
        None => "",
    };
    if let Some(data_url) = url.strip_prefix("data:") {
        let Some((meta, data)) = data_url.split_once(',') else {
            return Err(bad(format!("{at}.url: a data URL without data")));
        };
        let Some(mime) = meta.strip_suffix(";base64").filter(|m| !m.is_empty()) else {
            return Err(bad(format!("{at}.url: gemini providers take base64 data URLs with a MIME type")));
        };
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(bad(format!("{at}.url: gemini providers take data: and http(s) URLs")));
    }
    let file = lower.split(['?', '#']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default();
    let mime = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "image/jpeg",
    };
    Ok(json!({"fileData": {"mimeType": mime, "fileUri": url}}))
}

fn audio_part(audio: Option<&Value>, at: &str) -> Result<Value, TranslateError> {
    let Some(data) = audio.and_then(|a| a.get("data")).and_then(Value::as_str) else {
        return Err(bad(format!("{at}.data: required")));
    };
    let format = audio.and_then(|a| a.get("format")).unwrap_or(&Value::Null);
    let mime = match format.as_str() {
        Some("wav") => "audio/wav",
        Some("mp3") => "audio/mp3",
        _ => return Err(unsupported(&format!("{at}.format"), format)),
    };
    Ok(json!({"inlineData": {"mimeType": mime, "data": data}}))
}

fn assistant_parts(
    message: &Map<String, Value>,
    at: &str,
    call_names: &mut HashMap<String, String>,
) -> Result<Vec<Value>, TranslateError> {
    let mut parts = Vec::new();
    match message.get("content") {
        Some(Value::Array(items)) => {
            for (j, item) in items.iter().enumerate() {
                let key = match item.get("type").and_then(Value::as_str) {
                    Some("text") => "text",
                    Some("refusal") => "refusal",
                    _ => {
                        return Err(unsupported(
                            &format!("{at}.content[{j}].type"),
                            item.get("type").unwrap_or(&Value::Null),
                        ));
                    }
                };
                parts.extend(text_part(item.get(key).and_then(Value::as_str).unwrap_or_default()));
            }
        }
        content => parts.extend(text_part(&text_of(content, at)?)),
    }
    let calls = match given(message, "tool_calls") {
        None => return Ok(parts),
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(bad(format!("{at}.tool_calls: expected an array"))),
    };
    let first_call = parts.len();
    let mut signed = false;
    for (k, call) in calls.iter().enumerate() {
        let here = format!("{at}.tool_calls[{k}]");
        if let Some(kind) = call.get("type").filter(|t| *t != "function") {
            return Err(unsupported(&format!("{here}.type"), kind));
        }
        let Some(name) = call.pointer("/function/name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
            return Err(bad(format!("{here}.function.name: required")));
        };
        let arguments = call.pointer("/function/arguments").and_then(Value::as_str).unwrap_or_default();
        let args = if arguments.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            match serde_json::from_str::<Value>(arguments) {
                Ok(args @ Value::Object(_)) => args,
                _ => return Err(bad(format!("{here}.function.arguments: not a JSON object"))),
            }
        };
        if let Some(id) = call.get("id").and_then(Value::as_str) {
            call_names.insert(id.to_owned(), name.to_owned());
        }
        let mut part = json!({"functionCall": {"name": name, "args": args}});
        if let Some(signature) = call.pointer("/extra_content/google/thought_signature").and_then(Value::as_str)
            && let Some(part) = part.as_object_mut()
        {
            part.insert("thoughtSignature".into(), signature.into());
            signed = true;
        }
        parts.push(part);
    }
    if !signed && let Some(part) = parts.get_mut(first_call).and_then(Value::as_object_mut) {
        part.insert("thoughtSignature".into(), PLACEHOLDER_SIGNATURE.into());
    }
    Ok(parts)
}

fn tool_part(
    message: &Map<String, Value>,
    at: &str,
    call_names: &HashMap<String, String>,
) -> Result<Value, TranslateError> {
    let Some(id) = message.get("tool_call_id").and_then(Value::as_str) else {
        return Err(bad(format!("{at}.tool_call_id: required")));
    };
    let Some(name) = call_names.get(id) else {
        return Err(bad(format!("{at}.tool_call_id: {id:?} is not a tool call of an earlier assistant message")));
    };
    let text = text_of(message.get("content"), at)?;
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object,
        _ => json!({"content": text}),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

fn generation_config(req: &Map<String, Value>) -> Result<Map<String, Value>, TranslateError> {
    let mut config = Map::new();
    if let Some(max) = given(req, "max_completion_tokens").or_else(|| given(req, "max_tokens")) {
        config.insert("maxOutputTokens".into(), max.clone());
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(value) = given(req, from) {
            config.insert(to.into(), value.clone());
        }
    }
    match given(req, "stop") {
        None => {}
        Some(stop @ Value::String(_)) => drop(config.insert("stopSequences".into(), json!([stop]))),
        Some(stop @ Value::Array(_)) => drop(config.insert("stopSequences".into(), stop.clone())),
        Some(_) => return Err(bad("stop: expected a string or an array of strings")),
    }
    if let Some(format) = given(req, "response_format") {
        let kind = format.get("type").unwrap_or(&Value::Null);
        match kind.as_str() {
            Some("text") => {}
            Some("json_object") => drop(config.insert("responseMimeType".into(), "application/json".into())),
            Some("json_schema") => {
                let Some(schema) = format.pointer("/json_schema/schema") else {
                    return Err(bad("response_format.json_schema.schema: required"));
                };
                config.insert("responseMimeType".into(), "application/json".into());
                config.insert("responseJsonSchema".into(), schema.clone());
            }
            _ => return Err(unsupported("response_format.type", kind)),
        }
    }
    if let Some(effort) = given(req, "reasoning_effort") {
        let budget = match effort.as_str() {
            Some("none") => 0,
            Some("minimal" | "low") => 1024,
            Some("medium") => 8192,
            Some("high" | "xhigh") => 24576,
            _ => return Err(unsupported("reasoning_effort", effort)),
        };
        let thinking = if budget == 0 {
            json!({"thinkingBudget": 0})
        } else {
            json!({"thinkingBudget": budget, "includeThoughts": true})
        };
        config.insert("thinkingConfig".into(), thinking);
    }
    Ok(config)
}

fn tools(req: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    let tools = match given(req, "tools") {
        None => return Ok(None),
        Some(Value::Array(tools)) if tools.is_empty() => return Ok(None),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(bad("tools: expected an array")),
    };
    let mut declarations = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let kind = tool.get("type").unwrap_or(&Value::Null);
        if kind != "function" {
            return Err(unsupported(&format!("tools[{i}].type"), kind));
        }
        let Some(name) = tool.pointer("/function/name").and_then(Value::as_str) else {
            return Err(bad(format!("tools[{i}].function.name: required")));
        };
        let mut declaration = Map::new();
        declaration.insert("name".into(), name.into());
        if let Some(description) = tool.pointer("/function/description").filter(|d| !d.is_null()) {
            declaration.insert("description".into(), description.clone());
        }
        // Full JSON Schema (additionalProperties, $defs, ...), unlike `parameters`' OpenAPI subset.
        if let Some(parameters) = tool.pointer("/function/parameters").filter(|p| !p.is_null()) {
            declaration.insert("parametersJsonSchema".into(), parameters.clone());
        }
        declarations.push(Value::Object(declaration));
    }
    Ok(Some(json!([{"functionDeclarations": declarations}])))
}

fn tool_config(req: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    let Some(choice) = given(req, "tool_choice") else { return Ok(None) };
    let config = match choice.as_str() {
        Some("auto") => json!({"mode": "AUTO"}),
        Some("none") => json!({"mode": "NONE"}),
        Some("required") => json!({"mode": "ANY"}),
        Some(_) => return Err(unsupported("tool_choice", choice)),
        None => match (choice.get("type").and_then(Value::as_str), choice.pointer("/function/name")) {
            (Some("function"), Some(Value::String(name))) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            _ => return Err(unsupported("tool_choice", choice)),
        },
    };
    Ok(Some(json!({"functionCallingConfig": config})))
}

#[cfg(test)]
mod tests;
