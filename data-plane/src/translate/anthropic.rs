//! Anthropic's Messages API (`POST /v1/messages`) behind the OpenAI chat
//! completions interface: [`request`] turns a chat completion request into a
//! Messages request, [`response`] a `message` into a `chat.completion`,
//! [`Stream`] Messages SSE events into `chat.completion.chunk` payloads, and
//! [`error_message`] reads Anthropic's error body.
//!
//! Request fields Anthropic has no use for but that change nothing in the
//! answer (penalties, `seed`, `logit_bias`, `store`, `service_tier`, ...)
//! are dropped; fields whose meaning would be lost (`n` > 1, `logprobs`,
//! `response_format: json_schema`, audio or file parts, the legacy
//! `function` role) are refused with a message naming the field.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{StreamTranslator, TranslateError, Translated};

/// `max_tokens` when neither the client nor the provider names one
/// (Anthropic requires it).
const DEFAULT_MAX_TOKENS: u32 = 4096;

// ---------------------------------------------------------------------------
// Request: OpenAI chat completion -> Anthropic Messages
// ---------------------------------------------------------------------------

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
    Ok(Translated { body, stream, include_usage, model: model.clone() })
}

/// `{path}: {what} is not supported by anthropic providers`.
fn unsupported(path: &str, what: &str) -> TranslateError {
    TranslateError::Request(format!("{path}: {what} is not supported by anthropic providers"))
}

/// `{path}: {problem}`.
fn invalid(path: &str, problem: &str) -> TranslateError {
    TranslateError::Request(format!("{path}: {problem}"))
}

/// A string value as the JSON text a client would recognize (`"input_audio"`).
fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
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

/// One Anthropic message being assembled.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
}

/// `messages` -> (the joined system prompt, alternating Anthropic messages).
fn conversation(messages: &[Value]) -> Result<(String, Vec<Value>), TranslateError> {
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

// ---------------------------------------------------------------------------
// Response: Anthropic message -> OpenAI chat.completion
// ---------------------------------------------------------------------------

/// Anthropic's `usage` (in a `message`, `message_start` or `message_delta`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct AnthropicUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Takes the counts `later` reports (a `message_delta` repeats or updates them).
    fn update(&mut self, later: AnthropicUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = later.cache_read_input_tokens.or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = later.cache_creation_input_tokens.or(self.cache_creation_input_tokens);
    }

    fn openai(self) -> Usage {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + cached + self.cache_creation_input_tokens.unwrap_or(0);
        let completion = self.output_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: PromptDetails { cached_tokens: cached },
            completion_tokens_details: CompletionDetails { reasoning_tokens: 0 },
        }
    }
}

#[derive(Deserialize)]
struct AnthropicMessage {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    model: String,
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: AnthropicUsage,
}

#[derive(Debug, Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Debug, Serialize)]
struct PromptDetails {
    cached_tokens: u64,
}

#[derive(Debug, Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [CompletionChoice; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct CompletionChoice {
    index: u32,
    message: CompletionMessage,
    /// Always null.
    logprobs: (),
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct CompletionMessage {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall>,
    /// Always null.
    refusal: (),
}

#[derive(Serialize)]
struct ToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall,
}

#[derive(Serialize)]
struct FunctionCall {
    name: String,
    arguments: String,
}

/// Anthropic Messages response (a `message` object) -> OpenAI `chat.completion` JSON bytes.
pub fn response(body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let message: AnthropicMessage = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Response(format!("the anthropic answer is not a message: {e}")))?;
    if message.kind != "message" {
        return Err(TranslateError::Response(format!(
            "the anthropic answer is a {}, not a message",
            quoted(&message.kind)
        )));
    }
    let mut text: Option<String> = None;
    let mut thinking: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in &message.content {
        let field = |name: &str| block.get(name).and_then(Value::as_str);
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.get_or_insert_default().push_str(field("text").unwrap_or("")),
            Some("thinking") => thinking.get_or_insert_default().push_str(field("thinking").unwrap_or("")),
            Some("tool_use") => {
                let (Some(id), Some(name)) = (field("id"), field("name")) else {
                    return Err(TranslateError::Response("an anthropic tool_use block without id or name".into()));
                };
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(ToolCall {
                    id: id.to_owned(),
                    kind: "function",
                    function: FunctionCall { name: name.to_owned(), arguments: input.to_string() },
                });
            }
            // redacted_thinking, server tool blocks: nothing an OpenAI client reads.
            _ => {}
        }
    }
    let completion = Completion {
        id: format!("chatcmpl-{}", message.id),
        object: "chat.completion",
        created: now(),
        model: &message.model,
        choices: [CompletionChoice {
            index: 0,
            message: CompletionMessage {
                role: "assistant",
                content: text,
                reasoning_content: thinking,
                tool_calls,
                refusal: (),
            },
            logprobs: (),
            finish_reason: finish_reason(message.stop_reason.as_deref()),
        }],
        usage: message.usage.openai(),
    };
    serde_json::to_vec(&completion)
        .map_err(|e| TranslateError::Response(format!("the translated answer could not be written: {e}")))
}

/// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        // end_turn, stop_sequence, pause_turn, null
        _ => "stop",
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The human text of an Anthropic error body `{"type":"error","error":{"type":..,"message":..}}`:
/// `Some("overloaded_error: Overloaded")`, or None when the body is not that shape.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if value.get("type").and_then(Value::as_str) != Some("error") {
        return None;
    }
    let error = value.get("error")?;
    let message = error.get("message").and_then(Value::as_str)?;
    Some(match error.get("type").and_then(Value::as_str) {
        Some(kind) => format!("{kind}: {message}"),
        None => message.to_owned(),
    })
}

// ---------------------------------------------------------------------------
// Stream: Anthropic SSE -> OpenAI chat.completion.chunk
// ---------------------------------------------------------------------------

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice>,
    /// Omitted without include_usage; `Some(None)` is the `"usage":null` of
    /// every chunk but the last, which OpenAI writes as the last member.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice {
    index: u32,
    delta: Delta,
    /// Always null.
    logprobs: (),
    finish_reason: Option<&'static str>,
}

#[derive(Default, Serialize)]
struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallChunk; 1]>,
}

#[derive(Serialize)]
struct ToolCallChunk {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionChunk,
}

#[derive(Serialize)]
struct FunctionChunk {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    arguments: String,
}

/// Anthropic SSE (message_start, content_block_start/delta/stop, message_delta, message_stop, ping, error)
/// -> OpenAI chat.completion.chunk payloads.
#[derive(Debug)]
pub struct Stream {
    include_usage: bool,
    /// `chatcmpl-` + the message id, from message_start.
    id: String,
    model: String,
    created: u64,
    started: bool,
    stopped: bool,
    usage: AnthropicUsage,
    finish_reason: &'static str,
    /// Anthropic content block index -> OpenAI tool call index.
    tool_calls: HashMap<u64, u32>,
}

impl Stream {
    /// `include_usage`: every chunk carries `"usage":null` and [`finish`](StreamTranslator::finish)
    /// adds the usage chunk.
    pub fn new(include_usage: bool) -> Self {
        Self {
            include_usage,
            id: String::new(),
            model: String::new(),
            created: 0,
            started: false,
            stopped: false,
            usage: AnthropicUsage::default(),
            finish_reason: "stop",
            tool_calls: HashMap::new(),
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<&'static str>) -> Result<String, TranslateError> {
        self.write(&Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: vec![ChunkChoice { index: 0, delta, logprobs: (), finish_reason }],
            usage: self.include_usage.then_some(None),
        })
    }

    fn write(&self, chunk: &Chunk<'_>) -> Result<String, TranslateError> {
        serde_json::to_string(chunk)
            .map_err(|e| TranslateError::Response(format!("the translated chunk could not be written: {e}")))
    }

    fn tool_call(&self, call: ToolCallChunk) -> Result<Vec<String>, TranslateError> {
        Ok(vec![self.chunk(Delta { tool_calls: Some([call]), ..Delta::default() }, None)?])
    }

    fn message_start(&mut self, event: &Value) -> Result<Vec<String>, TranslateError> {
        let message = event.get("message");
        let field = |name: &str| message.and_then(|m| m.get(name)).and_then(Value::as_str);
        let Some(id) = field("id") else {
            return Err(TranslateError::Response("an anthropic message_start without a message id".into()));
        };
        self.id = format!("chatcmpl-{id}");
        self.model = field("model").unwrap_or_default().to_owned();
        self.created = now();
        self.started = true;
        if let Some(usage) = message.and_then(|m| m.get("usage")) {
            self.usage.update(parse_usage(usage)?);
        }
        Ok(vec![self.chunk(Delta { role: Some("assistant"), content: Some(String::new()), ..Delta::default() }, None)?])
    }

    fn content_block_start(&mut self, event: &Value) -> Result<Vec<String>, TranslateError> {
        let block = event.get("content_block");
        let field = |name: &str| block.and_then(|b| b.get(name)).and_then(Value::as_str);
        match field("type") {
            Some("tool_use") => {
                let Some(index) = event.get("index").and_then(Value::as_u64) else {
                    return Err(TranslateError::Response("an anthropic content_block_start without an index".into()));
                };
                let (Some(id), Some(name)) = (field("id"), field("name")) else {
                    return Err(TranslateError::Response("an anthropic tool_use block without id or name".into()));
                };
                let call = u32::try_from(self.tool_calls.len()).unwrap_or(u32::MAX);
                self.tool_calls.insert(index, call);
                let chunk = ToolCallChunk {
                    index: call,
                    id: Some(id.to_owned()),
                    kind: Some("function"),
                    function: FunctionChunk { name: Some(name.to_owned()), arguments: String::new() },
                };
                self.tool_call(chunk)
            }
            // Blocks normally start empty; their text comes in deltas.
            Some("text") => self.text(field("text"), false),
            Some("thinking") => self.text(field("thinking"), true),
            _ => Ok(Vec::new()),
        }
    }

    fn content_block_delta(&mut self, event: &Value) -> Result<Vec<String>, TranslateError> {
        let delta = event.get("delta");
        let field = |name: &str| delta.and_then(|d| d.get(name)).and_then(Value::as_str);
        match field("type") {
            Some("text_delta") => self.text(field("text"), false),
            Some("thinking_delta") => self.text(field("thinking"), true),
            Some("input_json_delta") => {
                // Deltas of blocks that are not client tool calls (server tools) are dropped.
                let call = event.get("index").and_then(Value::as_u64).and_then(|i| self.tool_calls.get(&i));
                match (call, field("partial_json")) {
                    (Some(&index), Some(json)) if !json.is_empty() => {
                        let chunk = ToolCallChunk {
                            index,
                            id: None,
                            kind: None,
                            function: FunctionChunk { name: None, arguments: json.to_owned() },
                        };
                        self.tool_call(chunk)
                    }
                    _ => Ok(Vec::new()),
                }
            }
            // signature_delta, citations_delta
            _ => Ok(Vec::new()),
        }
    }

    /// A `content` (or, for thinking, `reasoning_content`) chunk; nothing for empty text.
    fn text(&self, text: Option<&str>, thinking: bool) -> Result<Vec<String>, TranslateError> {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return Ok(Vec::new());
        };
        let delta = if thinking {
            Delta { reasoning_content: Some(text.to_owned()), ..Delta::default() }
        } else {
            Delta { content: Some(text.to_owned()), ..Delta::default() }
        };
        Ok(vec![self.chunk(delta, None)?])
    }

    fn message_delta(&mut self, event: &Value) -> Result<Vec<String>, TranslateError> {
        if let Some(reason) = event.get("delta").and_then(|d| d.get("stop_reason")).and_then(Value::as_str) {
            self.finish_reason = finish_reason(Some(reason));
        }
        if let Some(usage) = event.get("usage") {
            self.usage.update(parse_usage(usage)?);
        }
        Ok(Vec::new())
    }
}

fn parse_usage(usage: &Value) -> Result<AnthropicUsage, TranslateError> {
    AnthropicUsage::deserialize(usage)
        .map_err(|e| TranslateError::Response(format!("an anthropic usage object that does not parse: {e}")))
}

impl StreamTranslator for Stream {
    fn event(&mut self, name: Option<&str>, data: &str) -> Result<Vec<String>, TranslateError> {
        let event: Value = serde_json::from_str(data)
            .map_err(|e| TranslateError::Response(format!("an anthropic stream event that is not JSON: {e}")))?;
        let kind = event.get("type").and_then(Value::as_str).or(name).unwrap_or_default();
        if kind == "error" {
            let text = error_message(data.as_bytes()).unwrap_or_else(|| data.to_owned());
            return Err(TranslateError::Response(text));
        }
        if self.stopped {
            return Ok(Vec::new());
        }
        let needs_start = matches!(
            kind,
            "content_block_start" | "content_block_delta" | "content_block_stop" | "message_delta" | "message_stop"
        );
        if needs_start && !self.started {
            return Err(TranslateError::Response(format!("an anthropic {kind} event before message_start")));
        }
        match kind {
            "message_start" => self.message_start(&event),
            "content_block_start" => self.content_block_start(&event),
            "content_block_delta" => self.content_block_delta(&event),
            "message_delta" => self.message_delta(&event),
            "message_stop" => {
                self.stopped = true;
                Ok(vec![self.chunk(Delta::default(), Some(self.finish_reason))?])
            }
            // content_block_stop, ping, and event types added later
            _ => Ok(Vec::new()),
        }
    }

    fn finish(&mut self) -> Result<Vec<String>, TranslateError> {
        if !self.stopped {
            return Err(TranslateError::Response("the stream ended before message_stop".into()));
        }
        if !self.include_usage {
            return Ok(Vec::new());
        }
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: Vec::new(),
            usage: Some(Some(self.usage.openai())),
        };
        Ok(vec![self.write(&chunk)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Value {
        let t = request(body.to_string().as_bytes(), None).unwrap();
        serde_json::from_slice(&t.body).unwrap()
    }

    fn refused(body: Value) -> String {
        match request(body.to_string().as_bytes(), None) {
            Err(TranslateError::Request(message)) => message,
            other => panic!("expected a request error, got {other:?}"),
        }
    }

    #[test]
    fn system_and_developer_messages_are_joined() {
        let out = translate(json!({
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hello"},
            ],
        }));
        assert_eq!(
            out,
            json!({
                "model": "claude-sonnet-4-5",
                "system": "You are terse.\n\nAnswer in French.",
                "messages": [{"role": "user", "content": "Hello"}],
                "max_tokens": 4096,
            })
        );
    }

    #[test]
    fn roles_merge_and_tool_calls_round_trip() {
        let out = translate(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "user", "content": [{"type": "text", "text": "Celsius please."}]},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
                {"role": "user", "content": "Thanks"},
            ],
        }));
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather in Paris and Rome?"},
                    {"type": "text", "text": "Celsius please."},
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
                    {"type": "text", "text": "Thanks"},
                ]},
            ])
        );
    }

    #[test]
    fn tool_results_go_before_text_in_a_merged_user_message() {
        let out = translate(json!({"model": "m", "messages": [
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}},
            ]},
            {"role": "user", "content": "meanwhile"},
            {"role": "tool", "tool_call_id": "c", "content": "done"},
        ]}));
        assert_eq!(out["messages"][0]["content"], json!([{"type": "tool_use", "id": "c", "name": "f", "input": {}}]));
        assert_eq!(
            out["messages"][1]["content"],
            json!([
                {"type": "tool_result", "tool_use_id": "c", "content": "done"},
                {"type": "text", "text": "meanwhile"},
            ])
        );
    }

    #[test]
    fn bad_tool_arguments_and_function_role_are_refused() {
        let message = refused(json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]},
        ]}));
        assert!(message.starts_with("messages[1].tool_calls[0].function.arguments: not valid JSON"), "{message}");
        let message = refused(json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "function", "name": "f", "content": "x"},
        ]}));
        assert!(message.starts_with("messages[1].role: \"function\""), "{message}");
    }

    #[test]
    fn images_base64_and_url() {
        let out = translate(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Compare"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        ]}]}));
        assert_eq!(
            out["messages"][0]["content"],
            json!([
                {"type": "text", "text": "Compare"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ])
        );
    }

    #[test]
    fn unsupported_part_names_its_path() {
        let message = refused(json!({"model": "m", "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "a"},
            {"role": "user", "content": [
                {"type": "text", "text": "listen"},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            ]},
        ]}));
        assert_eq!(message, "messages[2].content[1].type: \"input_audio\" is not supported by anthropic providers");
        let message = refused(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"file_id": "f"}},
        ]}]}));
        assert_eq!(message, "messages[0].content[0].type: \"file\" is not supported by anthropic providers");
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(matches!(request(b"{not json", None), Err(TranslateError::Request(_))));
        assert!(matches!(request(b"[]", None), Err(TranslateError::Request(_))));
        assert!(refused(json!({"model": "m"})).starts_with("messages:"));
        assert!(refused(json!({"model": "m", "messages": [], "n": 2})).starts_with("n:"));
        let user = json!([{"role": "user", "content": "hi"}]);
        assert!(refused(json!({"model": "m", "messages": user, "logprobs": true})).starts_with("logprobs:"));
        let schema = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}});
        let message = refused(json!({"model": "m", "messages": user, "response_format": schema}));
        assert_eq!(message, "response_format.type: \"json_schema\" is not supported by anthropic providers");
        // Harmless options pass.
        translate(
            json!({"model": "m", "messages": user, "n": 1, "logprobs": false, "seed": 7, "presence_penalty": 0.5,
            "response_format": {"type": "json_object"}, "modalities": ["text"], "store": true, "service_tier": "auto"}),
        );
    }

    #[test]
    fn max_tokens_default_and_override() {
        let user = json!([{"role": "user", "content": "hi"}]);
        let body = json!({"model": "m", "messages": user}).to_string();
        let max = |t: Translated| serde_json::from_slice::<Value>(&t.body).unwrap()["max_tokens"].clone();
        assert_eq!(max(request(body.as_bytes(), None).unwrap()), json!(4096));
        assert_eq!(max(request(body.as_bytes(), Some(1000)).unwrap()), json!(1000));
        let body = json!({"model": "m", "messages": user, "max_tokens": 50}).to_string();
        assert_eq!(max(request(body.as_bytes(), Some(1000)).unwrap()), json!(50));
        let body = json!({"model": "m", "messages": user, "max_tokens": 50, "max_completion_tokens": 70}).to_string();
        assert_eq!(max(request(body.as_bytes(), Some(1000)).unwrap()), json!(70));
        // Thinking needs room beyond its budget.
        let out = translate(json!({"model": "m", "messages": user, "max_tokens": 500, "reasoning_effort": "medium"}));
        assert_eq!(out["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
        assert_eq!(out["max_tokens"], json!(4596));
    }

    #[test]
    fn sampling_stop_stream_and_user() {
        let t = request(
            json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}], "temperature": 1.7,
                "top_p": 0.9, "stop": "END", "stream": true, "stream_options": {"include_usage": true}, "user": "u-1"})
            .to_string()
            .as_bytes(),
            None,
        )
        .unwrap();
        assert!(t.stream && t.include_usage);
        assert_eq!(t.model, "claude-x");
        let out: Value = serde_json::from_slice(&t.body).unwrap();
        assert_eq!(out["temperature"], json!(1.0));
        assert_eq!(out["top_p"], json!(0.9));
        assert_eq!(out["stop_sequences"], json!(["END"]));
        assert_eq!(out["stream"], json!(true));
        assert_eq!(out["metadata"], json!({"user_id": "u-1"}));
        let out = translate(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b"]}));
        assert_eq!(out["stop_sequences"], json!(["a", "b"]));
    }

    #[test]
    fn tools_and_tool_choice_variants() {
        let with = |extra: Value| {
            let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [
                {"type": "function", "function": {"name": "f", "description": "does f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                {"type": "function", "function": {"name": "g"}},
            ]});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            translate(body)
        };
        let out = with(json!({}));
        assert_eq!(
            out["tools"],
            json!([
                {"name": "f", "description": "does f", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
                {"name": "g", "input_schema": {"type": "object", "properties": {}}},
            ])
        );
        assert!(out.get("tool_choice").is_none());
        assert_eq!(with(json!({"tool_choice": "auto"}))["tool_choice"], json!({"type": "auto"}));
        assert_eq!(with(json!({"tool_choice": "required"}))["tool_choice"], json!({"type": "any"}));
        assert_eq!(with(json!({"tool_choice": "none"}))["tool_choice"], json!({"type": "none"}));
        assert_eq!(
            with(json!({"tool_choice": {"type": "function", "function": {"name": "g"}}}))["tool_choice"],
            json!({"type": "tool", "name": "g"})
        );
        assert_eq!(
            with(json!({"parallel_tool_calls": false}))["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        assert_eq!(
            with(json!({"tool_choice": "required", "parallel_tool_calls": false}))["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(with(json!({"parallel_tool_calls": true})).get("tool_choice"), None);
    }

    fn completion(body: Value) -> Value {
        serde_json::from_slice(&response(body.to_string().as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn response_with_text_tool_use_and_thinking() {
        let out = completion(json!({
            "id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [
                {"type": "thinking", "thinking": "The user wants weather.", "signature": "sig"},
                {"type": "text", "text": "Let me check "},
                {"type": "text", "text": "that."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"location": "Paris"}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 100, "output_tokens": 40, "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 50},
        }));
        assert!(out["created"].as_u64().unwrap() > 1_700_000_000);
        assert_eq!(
            out,
            json!({
                "id": "chatcmpl-msg_01Aq9w938a90dw8q",
                "object": "chat.completion",
                "created": out["created"],
                "model": "claude-sonnet-4-5-20250929",
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Let me check that.",
                        "reasoning_content": "The user wants weather.",
                        "tool_calls": [{"id": "toolu_01A", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}],
                        "refusal": null,
                    },
                    "logprobs": null,
                    "finish_reason": "tool_calls",
                }],
                "usage": {
                    "prompt_tokens": 2150, "completion_tokens": 40, "total_tokens": 2190,
                    "prompt_tokens_details": {"cached_tokens": 2000},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            })
        );
    }

    #[test]
    fn response_stop_reasons_and_empty_content() {
        let with = |stop: Value| {
            completion(json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "c", "content": [],
                "stop_reason": stop, "usage": {"input_tokens": 3, "output_tokens": 0}}))
        };
        for (stop, finish) in [
            (json!("end_turn"), "stop"),
            (json!("stop_sequence"), "stop"),
            (json!("max_tokens"), "length"),
            (json!("tool_use"), "tool_calls"),
            (json!("refusal"), "content_filter"),
            (json!("pause_turn"), "stop"),
            (Value::Null, "stop"),
        ] {
            let out = with(stop.clone());
            assert_eq!(out["choices"][0]["finish_reason"], json!(finish), "{stop}");
            assert_eq!(out["choices"][0]["message"], json!({"role": "assistant", "content": null, "refusal": null}));
            assert_eq!(out["usage"]["prompt_tokens_details"], json!({"cached_tokens": 0}));
            assert_eq!(out["usage"]["total_tokens"], json!(3));
        }
    }

    #[test]
    fn response_that_is_not_a_message_is_refused() {
        for body in
            [&br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#[..], b"nope", b"{}"]
        {
            assert!(matches!(response(body), Err(TranslateError::Response(_))));
        }
    }

    #[test]
    fn error_message_extraction() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#;
        assert_eq!(error_message(body).as_deref(), Some("overloaded_error: Overloaded"));
        assert_eq!(error_message(br#"{"error":{"message":"x"}}"#), None);
        assert_eq!(error_message(b"<html>bad gateway</html>"), None);
    }

    /// Anthropic's documented streaming example with a tool call (text, then a
    /// tool_use block filled by input_json_delta), with a ping and thinking added.
    const EVENTS: &[(&str, &str)] = &[
        (
            "message_start",
            r#"{"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-1-20250805","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2,"cache_read_input_tokens":100,"cache_creation_input_tokens":10},"content":[],"stop_reason":null}}"#,
        ),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Need the weather."}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        ),
        ("ping", r#"{"type": "ping"}"#),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Okay"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":", let's check."}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\"}"}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ];

    fn run(include_usage: bool) -> (Vec<String>, Vec<String>) {
        let mut stream = Stream::new(include_usage);
        let mut chunks = Vec::new();
        for (name, data) in EVENTS {
            chunks.extend(stream.event(Some(name), data).unwrap());
        }
        (chunks, stream.finish().unwrap())
    }

    fn parse(chunk: &str) -> Value {
        serde_json::from_str(chunk).unwrap()
    }

    #[test]
    fn stream_translates_the_documented_example() {
        let (chunks, last) = run(true);
        let deltas: Vec<(Value, Value)> = chunks
            .iter()
            .map(|c| {
                let c = parse(c);
                assert_eq!(c["id"], json!("chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U"));
                assert_eq!(c["object"], json!("chat.completion.chunk"));
                assert_eq!(c["model"], json!("claude-opus-4-1-20250805"));
                assert_eq!(c["choices"][0]["index"], json!(0));
                assert_eq!(c["choices"][0]["logprobs"], Value::Null);
                assert_eq!(c["usage"], Value::Null);
                (c["choices"][0]["delta"].clone(), c["choices"][0]["finish_reason"].clone())
            })
            .collect();
        let tool = |call: Value| json!({"tool_calls": [call]});
        assert_eq!(
            deltas,
            vec![
                (json!({"role": "assistant", "content": ""}), Value::Null),
                (json!({"reasoning_content": "Need the weather."}), Value::Null),
                (json!({"content": "Okay"}), Value::Null),
                (json!({"content": ", let's check."}), Value::Null),
                (
                    tool(json!({"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}})),
                    Value::Null
                ),
                (tool(json!({"index": 0, "function": {"arguments": "{\"location\":"}})), Value::Null),
                (tool(json!({"index": 0, "function": {"arguments": " \"San Francisco, CA\"}"}})), Value::Null),
                (json!({}), json!("tool_calls")),
            ]
        );
        // OpenAI's layout: `"usage":null` is the last member, which is what the usage tap expects.
        assert!(chunks.iter().all(|c| c.ends_with(r#","usage":null}"#)), "{chunks:?}");
        assert_eq!(last.len(), 1);
        let last = parse(&last[0]);
        assert_eq!(last["id"], json!("chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U"));
        assert_eq!(last["choices"], json!([]));
        assert_eq!(
            last["usage"],
            json!({"prompt_tokens": 582, "completion_tokens": 89, "total_tokens": 671,
                "prompt_tokens_details": {"cached_tokens": 100}, "completion_tokens_details": {"reasoning_tokens": 0}})
        );
    }

    #[test]
    fn stream_without_include_usage_has_no_usage() {
        let (chunks, last) = run(false);
        assert_eq!(chunks.len(), 8);
        assert!(last.is_empty());
        for chunk in &chunks {
            assert!(parse(chunk).get("usage").is_none(), "{chunk}");
        }
    }

    #[test]
    fn second_tool_call_gets_the_next_index() {
        let mut stream = Stream::new(false);
        stream.event(Some("message_start"), EVENTS[0].1).unwrap();
        let start = |i: u32, id: &str| {
            format!(
                r#"{{"type":"content_block_start","index":{i},"content_block":{{"type":"tool_use","id":"{id}","name":"f","input":{{}}}}}}"#
            )
        };
        stream.event(None, &start(0, "a")).unwrap();
        let second = stream.event(None, &start(1, "b")).unwrap();
        assert_eq!(parse(&second[0])["choices"][0]["delta"]["tool_calls"][0]["index"], json!(1));
        let delta =
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#;
        let out = stream.event(None, delta).unwrap();
        assert_eq!(
            parse(&out[0])["choices"][0]["delta"]["tool_calls"][0],
            json!({"index": 1, "function": {"arguments": "{}"}})
        );
    }

    #[test]
    fn stream_without_message_stop_fails_at_finish() {
        let mut stream = Stream::new(true);
        for (name, data) in &EVENTS[..EVENTS.len() - 1] {
            stream.event(Some(name), data).unwrap();
        }
        assert_eq!(stream.finish(), Err(TranslateError::Response("the stream ended before message_stop".into())));
        assert!(Stream::new(false).finish().is_err());
    }

    #[test]
    fn error_event_fails_the_stream() {
        let mut stream = Stream::new(false);
        stream.event(Some("message_start"), EVENTS[0].1).unwrap();
        let error = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            stream.event(Some("error"), error),
            Err(TranslateError::Response("overloaded_error: Overloaded".into()))
        );
    }

    #[test]
    fn unknown_events_are_ignored_and_content_before_start_fails() {
        let mut stream = Stream::new(false);
        assert_eq!(stream.event(Some("something_new"), r#"{"type":"something_new"}"#), Ok(Vec::new()));
        assert!(matches!(
            stream.event(Some("message_stop"), r#"{"type":"message_stop"}"#),
            Err(TranslateError::Response(_))
        ));
    }
}
