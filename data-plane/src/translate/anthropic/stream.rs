//! Anthropic Messages SSE events -> OpenAI `chat.completion.chunk` payloads.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::response::{AnthropicUsage, Usage, error_message, finish_reason};
use crate::translate::{StreamTranslator, TranslateError};

#[cfg(test)]
mod tests;

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
        self.created = crate::wall::unix_secs();
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
