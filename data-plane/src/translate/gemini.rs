//! Google Gemini (`models.generateContent` / `models.streamGenerateContent`)
//! behind OpenAI's chat completions.
//!
//! Gemini 3 models reject a follow-up request whose `functionCall` parts lost
//! their `thoughtSignature`. The signature travels to the client as
//! `tool_calls[].extra_content.google.thought_signature` (what Google's own
//! OpenAI endpoint does) and comes back from there; an assistant turn whose
//! calls carry none gets Google's documented placeholder signature so that
//! clients which drop unknown fields still work.

use super::{StreamTranslator, TranslateError, Translated};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// Google's documented placeholder for a function call whose real thought
/// signature is unknown (history from another model or client).
const PLACEHOLDER_SIGNATURE: &str = "skip_thought_signature_validator";

/// The path (after the provider's base_url, which is like https://generativelanguage.googleapis.com)
/// for `model`: "/v1beta/models/{model}:generateContent", or for a stream
/// "/v1beta/models/{model}:streamGenerateContent?alt=sse". `model` is percent-encoded as a path
/// segment (a leading "models/" in the name is dropped).
pub fn path(model: &str, stream: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let model = model.strip_prefix("models/").unwrap_or(model);
    let mut out = String::from("/v1beta/models/");
    for b in model.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out.push_str(if stream { ":streamGenerateContent?alt=sse" } else { ":generateContent" });
    out
}

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
        "created": now(),
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

fn google_error(value: &Value) -> Option<String> {
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
enum Piece<'a> {
    Text(&'a str),
    Thought(&'a str),
    Call(Call<'a>),
}

struct Call<'a> {
    name: &'a str,
    arguments: String,
    signature: Option<&'a str>,
}

impl Call<'_> {
    /// The OpenAI tool call (`index`: its position among the choice's calls).
    fn openai(&self, index: usize) -> Value {
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
fn pieces(candidate: &Value) -> Result<Vec<Piece<'_>>, TranslateError> {
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

fn candidate_index(candidate: &Value, position: usize) -> u64 {
    candidate.get("index").and_then(Value::as_u64).unwrap_or(position as u64)
}

fn finish_reason(reason: Option<&str>, tool_calls: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some("SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY") => {
            "content_filter"
        }
        _ if tool_calls => "tool_calls",
        _ => "stop",
    }
}

fn usage(meta: &Value) -> Value {
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

fn completion_id(answer: &Map<String, Value>) -> String {
    match answer.get("responseId").and_then(Value::as_str).filter(|id| !id.is_empty()) {
        Some(id) => format!("chatcmpl-{id}"),
        None => format!("chatcmpl-{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..)),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Gemini's SSE (`streamGenerateContent?alt=sse`, one GenerateContentResponse
/// per event) as `chat.completion.chunk`s.
pub struct Stream {
    model: String,
    /// `modelVersion` has replaced the request's model.
    model_known: bool,
    include_usage: bool,
    /// Set by the first event (its `responseId`).
    id: Option<String>,
    created: u64,
    /// Per choice index: the role chunk was sent, tool calls so far.
    choices: BTreeMap<u64, ChoiceState>,
    finished: bool,
    usage: Option<Value>,
}

#[derive(Default)]
struct ChoiceState {
    started: bool,
    calls: usize,
}

impl Stream {
    /// A translator for one stream; `model` is the request's (until Gemini names its `modelVersion`).
    pub fn new(model: &str, include_usage: bool) -> Self {
        Stream {
            model: model.to_owned(),
            model_known: false,
            include_usage,
            id: None,
            created: now(),
            choices: BTreeMap::new(),
            finished: false,
            usage: None,
        }
    }

    fn chunk(&self, choices: Value, usage: Option<Value>) -> String {
        let mut chunk = Map::new();
        chunk.insert("id".into(), self.id.clone().unwrap_or_default().into());
        chunk.insert("object".into(), "chat.completion.chunk".into());
        chunk.insert("created".into(), self.created.into());
        chunk.insert("model".into(), self.model.clone().into());
        chunk.insert("choices".into(), choices);
        if self.include_usage {
            chunk.insert("usage".into(), usage.unwrap_or(Value::Null));
        }
        Value::Object(chunk).to_string()
    }

    /// A chunk for choice `index`, preceded by its role chunk the first time.
    fn push(&mut self, out: &mut Vec<String>, index: u64, delta: Value, finish: Option<&str>) {
        let state = self.choices.entry(index).or_default();
        if !state.started {
            state.started = true;
            let role = json!({"role": "assistant", "content": ""});
            let choice = json!([{"index": index, "delta": role, "logprobs": null, "finish_reason": null}]);
            out.push(self.chunk(choice, None));
        }
        let choice = json!([{"index": index, "delta": delta, "logprobs": null, "finish_reason": finish}]);
        out.push(self.chunk(choice, None));
    }
}

impl StreamTranslator for Stream {
    fn event(&mut self, _name: Option<&str>, data: &str) -> Result<Vec<String>, TranslateError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let event: Value = serde_json::from_str(data)
            .map_err(|e| TranslateError::Response(format!("a gemini stream event is not JSON: {e}")))?;
        if let Some(message) = google_error(&event) {
            return Err(TranslateError::Response(message));
        }
        let Some(event) = event.as_object() else {
            return Err(TranslateError::Response("a gemini stream event is not a JSON object".into()));
        };
        if self.id.is_none() {
            self.id = Some(completion_id(event));
        }
        if !self.model_known
            && let Some(version) = event.get("modelVersion").and_then(Value::as_str)
        {
            self.model = version.to_owned();
            self.model_known = true;
        }
        if let Some(meta) = event.get("usageMetadata").filter(|m| m.is_object()) {
            self.usage = Some(meta.clone());
        }
        let mut out = Vec::new();
        let candidates = event.get("candidates").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for (position, candidate) in candidates.iter().enumerate() {
            let index = candidate_index(candidate, position);
            for piece in pieces(candidate)? {
                let delta = match piece {
                    Piece::Text("") | Piece::Thought("") => continue,
                    Piece::Text(text) => json!({"content": text}),
                    Piece::Thought(text) => json!({"reasoning_content": text}),
                    Piece::Call(call) => {
                        let state = self.choices.entry(index).or_default();
                        let k = state.calls;
                        state.calls += 1;
                        let mut call = call.openai(k);
                        if let Some(call) = call.as_object_mut() {
                            call.insert("index".into(), k.into());
                        }
                        json!({"tool_calls": [call]})
                    }
                };
                self.push(&mut out, index, delta, None);
            }
            if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                let calls = self.choices.get(&index).is_some_and(|s| s.calls > 0);
                self.push(&mut out, index, json!({}), Some(finish_reason(Some(reason), calls)));
                self.finished = true;
            }
        }
        if candidates.is_empty() && event.get("promptFeedback").and_then(|f| f.get("blockReason")).is_some() {
            self.push(&mut out, 0, json!({}), Some("content_filter"));
            self.finished = true;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<String>, TranslateError> {
        if !self.finished {
            return Err(TranslateError::Response("the stream ended before a finish reason".into()));
        }
        Ok(match (&self.usage, self.include_usage) {
            (Some(meta), true) => vec![self.chunk(json!([]), Some(usage(meta)))],
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(openai: Value) -> Value {
        let translated = request(openai.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&translated.body).unwrap()
    }

    fn request_error(openai: Value) -> String {
        match request(openai.to_string().as_bytes()) {
            Err(TranslateError::Request(message)) => message,
            other => panic!("expected a request error, got {other:?}"),
        }
    }

    fn answer(gemini: Value) -> Value {
        serde_json::from_slice(&response(gemini.to_string().as_bytes(), "asked-model").unwrap()).unwrap()
    }

    #[test]
    fn system_messages_become_the_system_instruction() {
        let sent = translate(json!({"model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"}
        ]}));
        assert_eq!(sent["systemInstruction"], json!({"parts": [{"text": "Be brief.\n\nAnswer in French."}]}));
        assert_eq!(sent["contents"], json!([{"role": "user", "parts": [{"text": "Hello"}]}]));
        assert!(sent.get("model").is_none() && sent.get("generationConfig").is_none());
        let translated = request(br#"{"model":"g","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}"#).unwrap();
        assert_eq!((translated.model.as_str(), translated.stream, translated.include_usage), ("g", true, true));
        assert_eq!(request_error(json!({"messages": [{"role": "user", "content": "x"}]})), "model: required");
    }

    #[test]
    fn roles_map_and_consecutive_turns_merge() {
        let sent = translate(json!({"model": "m", "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
            {"role": "user", "content": "e"}
        ], "user": "u1", "store": false, "metadata": {"k": "v"}, "parallel_tool_calls": true, "modalities": ["text"]}));
        assert_eq!(
            sent["contents"],
            json!([
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
                {"role": "user", "parts": [{"text": "e"}]}
            ])
        );
        assert!(
            request_error(json!({"model": "m", "messages": [{"role": "function", "content": "x"}]}))
                .starts_with("messages[0].role: \"function\"")
        );
    }

    #[test]
    fn tool_calls_and_results_round_trip() {
        let sent = translate(json!({"model": "m", "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_b", "content": "{\"time\":\"12:00\"}"},
            {"role": "tool", "tool_call_id": "call_a", "content": "sunny"}
        ]}));
        assert_eq!(
            sent["contents"][1],
            json!({"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": PLACEHOLDER_SIGNATURE},
                {"functionCall": {"name": "time", "args": {"city": "Rome"}}}
            ]})
        );
        assert_eq!(
            sent["contents"][2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"name": "time", "response": {"time": "12:00"}}},
                {"functionResponse": {"name": "weather", "response": {"content": "sunny"}}}
            ]})
        );
        // A signature the client kept is sent back instead of the placeholder.
        let sent = translate(json!({"model": "m", "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": ""}, "extra_content": {"google": {"thought_signature": "c2ln"}}}]}
        ]}));
        assert_eq!(
            sent["contents"][1]["parts"][0],
            json!({"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"})
        );
        let unknown = request_error(json!({"model": "m", "messages": [
            {"role": "user", "content": "x"},
            {"role": "tool", "tool_call_id": "call_zz", "content": "r"}
        ]}));
        assert!(unknown.starts_with("messages[1].tool_call_id: \"call_zz\""), "{unknown}");
        let invalid = request_error(json!({"model": "m", "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}
        ]}));
        assert_eq!(invalid, "messages[1].tool_calls[0].function.arguments: not a JSON object");
    }

    #[test]
    fn images_and_audio_become_inline_or_file_data() {
        let sent = translate(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.WEBP?size=large"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/photo"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
        ]}]}));
        assert_eq!(
            sent["contents"][0]["parts"],
            json!([
                {"text": "What is this?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.WEBP?size=large"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photo"}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}
            ])
        );
        let err = request_error(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}]}]}));
        assert!(err.starts_with("messages[0].content[0].image_url.url:"), "{err}");
    }

    #[test]
    fn unsupported_parts_and_fields_are_named() {
        let err = request_error(json!({"model": "m", "messages": [
            {"role": "system", "content": "s"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "file", "file": {"file_id": "f"}}]}
        ]}));
        assert_eq!(err, "messages[2].content[1].type: \"file\" is not supported by gemini providers");
        let err = request_error(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "x", "format": "flac"}}]}]}));
        assert_eq!(err, "messages[0].content[0].input_audio.format: \"flac\" is not supported by gemini providers");
        let err =
            request_error(json!({"model": "m", "logprobs": true, "messages": [{"role": "user", "content": "x"}]}));
        assert!(err.starts_with("logprobs:"), "{err}");
    }

    #[test]
    fn generation_config_maps_sampling_format_and_reasoning() {
        let sent = translate(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0.5, "top_p": 0.9, "stop": "END", "n": 2,
            "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2, "logprobs": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
            "reasoning_effort": "medium"}));
        assert_eq!(
            sent["generationConfig"],
            json!({
                "maxOutputTokens": 20, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"], "candidateCount": 2,
                "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.2, "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object"},
                "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}
            })
        );
        let sent = translate(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5,
            "stop": ["a", "b"], "response_format": {"type": "json_object"}, "reasoning_effort": "high"}));
        assert_eq!(
            sent["generationConfig"],
            json!({"maxOutputTokens": 5, "stopSequences": ["a", "b"], "responseMimeType": "application/json",
                   "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": true}})
        );
        let low =
            translate(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"}));
        assert_eq!(low["generationConfig"]["thinkingConfig"]["thinkingBudget"], 1024);
    }

    #[test]
    fn tools_and_tool_choice() {
        let weather = json!({"type": "function", "function": {"name": "weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}}});
        let bare = json!({"type": "function", "function": {"name": "ping"}});
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [weather, bare]});
        let sent = translate(base.clone());
        assert_eq!(
            sent["tools"],
            json!([{"functionDeclarations": [
                {"name": "weather", "description": "Weather now", "parametersJsonSchema":
                    {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}},
                {"name": "ping"}
            ]}])
        );
        assert!(sent.get("toolConfig").is_none());
        for (choice, config) in [
            (json!("auto"), json!({"mode": "AUTO"})),
            (json!("none"), json!({"mode": "NONE"})),
            (json!("required"), json!({"mode": "ANY"})),
            (
                json!({"type": "function", "function": {"name": "ping"}}),
                json!({"mode": "ANY", "allowedFunctionNames": ["ping"]}),
            ),
        ] {
            let mut with_choice = base.clone();
            with_choice["tool_choice"] = choice;
            assert_eq!(translate(with_choice)["toolConfig"], json!({"functionCallingConfig": config}));
        }
        let mut custom = base;
        custom["tools"] = json!([{"type": "custom", "custom": {"name": "x"}}]);
        assert_eq!(request_error(custom), "tools[0].type: \"custom\" is not supported by gemini providers");
    }

    #[test]
    fn paths_encode_the_model() {
        assert_eq!(path("gemini-2.5-flash", false), "/v1beta/models/gemini-2.5-flash:generateContent");
        assert_eq!(path("models/gemini-2.5-pro", true), "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
        assert_eq!(path("my model/v1?x", false), "/v1beta/models/my%20model%2Fv1%3Fx:generateContent");
    }

    #[test]
    fn responses_map_text_thoughts_calls_and_usage() {
        let out = answer(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Let me think.", "thought": true},
                {"text": "It is "}, {"text": "sunny."},
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3,
                              "cachedContentTokenCount": 4, "totalTokenCount": 18},
            "modelVersion": "gemini-2.5-flash", "responseId": "abc"
        }));
        assert_eq!((out["id"].as_str(), out["object"].as_str()), (Some("chatcmpl-abc"), Some("chat.completion")));
        assert_eq!(out["model"], "gemini-2.5-flash");
        assert!(out["created"].as_u64().unwrap() > 1_700_000_000);
        let choice = &out["choices"][0];
        assert_eq!((choice["index"].as_u64(), choice["finish_reason"].as_str()), (Some(0), Some("tool_calls")));
        assert_eq!(choice["message"]["content"], "It is sunny.");
        assert_eq!(choice["message"]["reasoning_content"], "Let me think.");
        assert_eq!(choice["message"]["refusal"], Value::Null);
        let call = &choice["message"]["tool_calls"][0];
        assert!(call["id"].as_str().unwrap().starts_with("call_0"));
        assert_eq!(call["function"], json!({"name": "weather", "arguments": "{\"city\":\"Paris\"}"}));
        assert_eq!(call["extra_content"]["google"]["thought_signature"], "c2ln");
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
                   "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 3}})
        );

        let out = answer(json!({"candidates": [
            {"content": {"parts": [{"text": "a"}]}, "finishReason": "MAX_TOKENS"},
            {"content": {"parts": [{"text": "b"}]}, "finishReason": "SAFETY", "index": 1},
            {"finishReason": "MALFORMED_FUNCTION_CALL", "index": 2}
        ], "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 3}}));
        assert_eq!(out["model"], "asked-model");
        assert!(out["id"].as_str().unwrap().starts_with("chatcmpl-"));
        let reasons: Vec<_> = out["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["index"].clone(), c["finish_reason"].clone()))
            .collect();
        assert_eq!(
            reasons,
            [(json!(0), json!("length")), (json!(1), json!("content_filter")), (json!(2), json!("stop"))]
        );
        assert_eq!(out["choices"][2]["message"]["content"], Value::Null);
        assert!(out["choices"][0]["message"].get("reasoning_content").is_none());
        assert_eq!(out["usage"]["total_tokens"], 5);
        assert!(matches!(response(b"[1]", "m"), Err(TranslateError::Response(_))));
    }

    #[test]
    fn a_blocked_prompt_is_a_content_filter_choice() {
        let out = answer(json!({"promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}));
        assert_eq!(
            out["choices"],
            json!([{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null},
                    "logprobs": null, "finish_reason": "content_filter"}])
        );
        assert_eq!(out["usage"]["prompt_tokens"], 4);
        assert!(matches!(response(b"{}", "m"), Err(TranslateError::Response(_))));
    }

    fn run(stream: &mut Stream, events: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for event in events {
            out.extend(stream.event(None, &event.to_string()).unwrap());
        }
        out.extend(stream.finish().unwrap());
        out.iter().map(|chunk| serde_json::from_str(chunk).unwrap()).collect()
    }

    fn stream_events() -> Vec<Value> {
        let meta = |candidates: u64| json!({"promptTokenCount": 12, "candidatesTokenCount": candidates, "totalTokenCount": 12 + candidates});
        vec![
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking the"}]}, "index": 0}],
                   "usageMetadata": meta(2), "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": " weather"}]}, "index": 0}],
                   "usageMetadata": meta(3), "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "."}]}, "index": 0}],
                   "usageMetadata": meta(4), "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [
                       {"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]}, "index": 0}],
                   "usageMetadata": meta(9), "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 9, "thoughtsTokenCount": 6,
                                     "totalTokenCount": 27}, "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
        ]
    }

    #[test]
    fn a_stream_becomes_chunks_with_a_usage_chunk() {
        let chunks = run(&mut Stream::new("flash", true), &stream_events());
        for chunk in &chunks {
            assert_eq!(
                (chunk["id"].as_str(), chunk["object"].as_str()),
                (Some("chatcmpl-r9"), Some("chat.completion.chunk"))
            );
            assert_eq!(
                (chunk["model"].as_str(), chunk["created"].clone()),
                (Some("gemini-2.5-flash"), chunks[0]["created"].clone())
            );
        }
        let mut choices: Vec<Value> = chunks.iter().map(|c| c["choices"].clone()).collect();
        let call = &mut choices[4][0]["delta"]["tool_calls"][0];
        assert!(call["id"].as_str().unwrap().starts_with("call_0"));
        call["id"] = json!("ID");
        let choice = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
        let call = json!({"index": 0, "id": "ID", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}});
        assert_eq!(
            choices,
            [
                choice(json!({"role": "assistant", "content": ""}), Value::Null),
                choice(json!({"content": "Checking the"}), Value::Null),
                choice(json!({"content": " weather"}), Value::Null),
                choice(json!({"content": "."}), Value::Null),
                choice(json!({"tool_calls": [call]}), Value::Null),
                choice(json!({}), json!("tool_calls")),
                json!([]),
            ]
        );
        let last = chunks.last().unwrap();
        assert_eq!(
            last["usage"],
            json!({"prompt_tokens": 12, "completion_tokens": 15, "total_tokens": 27,
                   "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 6}})
        );
        assert!(chunks[..chunks.len() - 1].iter().all(|c| c["usage"].is_null() && c.get("usage").is_some()));
    }

    #[test]
    fn a_stream_without_usage_has_no_usage_member() {
        let chunks = run(&mut Stream::new("flash", false), &stream_events());
        assert_eq!(chunks.len(), 6);
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));
        assert_eq!(chunks[5]["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn a_stream_needs_a_finish_reason_and_reports_errors() {
        let mut stream = Stream::new("flash", true);
        let event = json!({"candidates": [{"content": {"parts": [{"text": "Hi", "thought": true}]}}]});
        let chunks = stream.event(None, &event.to_string()).unwrap();
        assert_eq!(chunks.len(), 2);
        assert!(chunks[1].contains(r#""reasoning_content":"Hi""#));
        assert_eq!(stream.finish(), Err(TranslateError::Response("the stream ended before a finish reason".into())));
        let error = r#"{"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}"#;
        assert_eq!(stream.event(None, error), Err(TranslateError::Response("INTERNAL: Internal error".into())));
        let mut blocked = Stream::new("flash", false);
        let chunks = run(&mut blocked, &[json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})]);
        assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "content_filter");
    }

    #[test]
    fn error_messages_from_objects_and_arrays() {
        let object =
            br#"{"error": {"code": 429, "message": "Quota exceeded for metric", "status": "RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(error_message(object).as_deref(), Some("RESOURCE_EXHAUSTED: Quota exceeded for metric"));
        let array = br#"[{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}]"#;
        assert_eq!(error_message(array).as_deref(), Some("INVALID_ARGUMENT: API key not valid."));
        assert_eq!(error_message(br#"{"error": {"code": 404, "message": "Not found"}}"#).as_deref(), Some("Not found"));
        assert_eq!(error_message(br#"{"message": "no"}"#), None);
        assert_eq!(error_message(b"<html>"), None);
    }
}
