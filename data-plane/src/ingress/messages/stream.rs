//! `chat.completion.chunk` payloads -> Anthropic's Messages stream:
//! `message_start`, `ping`, then per content block `content_block_start`,
//! `content_block_delta`s and `content_block_stop` (index 0, 1, ... in order,
//! one block open at a time), then `message_delta` (stop reason, usage) and
//! `message_stop`; or an `error` event that ends it
//! (<https://docs.anthropic.com/en/docs/build-with-claude/streaming>).
//!
//! A block starts when the kind of content changes (thinking, text, a tool
//! call) or the tool call's index does; empty deltas start nothing, so an
//! answer without text has no block. Tool calls stream live one after the
//! other; a provider that interleaves two calls' fragments gets the second
//! call held back (up to [`MAX_PENDING_ARGUMENTS`]) until the first call's
//! arguments close as a JSON object, then streamed from what it had (see
//! `tools`). The closing `message_delta` waits for the end of the chat stream
//! ([`ClientStream::finish`]), since chat sends its usage chunk after the
//! chunk with the `finish_reason`; content after the `finish_reason` is
//! ignored, usage is not.

use serde_json::Value;

use super::response::{Block, Stop, Usage, message_id, tool_use_id};
use crate::ingress::ClientStream;
use crate::translate::TranslateError;
use crate::usage::estimate::Tally;

mod events;
mod tools;

use events::{Delta, DeltaUsage, ErrorBody, Event, MessageDelta, StartMessage};
use tools::{JsonEnd, State, ToolCall};

#[cfg(test)]
mod tests;

/// The most bytes of tool call arguments held back while another call's
/// block is open (a provider that interleaves its calls' fragments).
pub const MAX_PENDING_ARGUMENTS: usize = 4 << 20;

/// Which kind of block is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    /// The tool call at this position in `tools`.
    Tool(usize),
}

/// Chat chunks -> Anthropic Messages SSE events, for one answer.
#[derive(Debug)]
pub struct Stream {
    /// The client's model, named in `message_start`.
    model: String,
    /// The message id (from the first chunk's id).
    id: String,
    started: bool,
    /// `message_stop` or `error` was written: nothing more is.
    done: bool,
    /// The index the next block gets; the open block's is one less.
    next_index: u32,
    open: Option<Open>,
    /// In order of their first fragment.
    tools: Vec<ToolCall>,
    pending_bytes: usize,
    /// The choice's `finish_reason` and vLLM's `stop_reason` (the stop string
    /// that matched), once a `finish_reason` came.
    finish: Option<(String, Value)>,
    refusal: bool,
    /// The last usage the provider reported.
    usage: Option<Usage>,
    /// The output so far, for `output_tokens` when no usage is reported.
    output: Tally,
}

impl Stream {
    /// `model`: the model the client named.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            id: String::new(),
            started: false,
            done: false,
            next_index: 0,
            open: None,
            tools: Vec::new(),
            pending_bytes: 0,
            finish: None,
            refusal: false,
            usage: None,
            output: Tally::default(),
        }
    }

    /// `message_start` (its input tokens when the first chunk carries usage, else 0) and a `ping`.
    fn start(&mut self, chunk: Option<&Value>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        self.started = true;
        self.id = message_id(chunk.and_then(|c| c.get("id")).and_then(Value::as_str));
        let known = chunk.and_then(|c| c.get("usage")).and_then(Usage::from_chat);
        let usage = Usage { output_tokens: 0, ..known.unwrap_or_default() };
        let message = StartMessage {
            id: &self.id,
            kind: "message",
            role: "assistant",
            model: &self.model,
            content: [],
            stop_reason: None,
            stop_sequence: None,
            usage,
            container: (),
        };
        Event::MessageStart { message }.write(out)?;
        Event::Ping.write(out)
    }

    /// The open block's index.
    fn index(&self) -> u32 {
        self.next_index.saturating_sub(1)
    }

    fn open_block(&mut self, open: Open, block: Block, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        Event::ContentBlockStart { index: self.next_index, content_block: block }.write(out)?;
        self.next_index += 1;
        self.open = Some(open);
        Ok(())
    }

    /// Stops the open block.
    fn close(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let Some(open) = self.open.take() else { return Ok(()) };
        if let Open::Tool(slot) = open
            && let Some(tool) = self.tools.get_mut(slot)
        {
            tool.state = State::Closed;
        }
        Event::ContentBlockStop { index: self.index() }.write(out)
    }

    /// Starts the first waiting tool call's block with what it has received.
    /// False when none waits.
    fn open_next_tool(&mut self, out: &mut Vec<u8>) -> Result<bool, TranslateError> {
        let Some(slot) = self.tools.iter().position(|t| matches!(t.state, State::Pending(_))) else {
            return Ok(false);
        };
        let tool = &mut self.tools[slot];
        let State::Pending(arguments) = std::mem::replace(&mut tool.state, State::Open) else {
            return Ok(false);
        };
        self.pending_bytes -= arguments.len();
        let block =
            Block::ToolUse { id: tool.id.clone(), name: tool.name.clone(), input: Value::Object(Default::default()) };
        self.open_block(Open::Tool(slot), block, out)?;
        if !arguments.is_empty() {
            Event::ContentBlockDelta { index: self.index(), delta: Delta::InputJson { partial_json: &arguments } }
                .write(out)?;
        }
        Ok(true)
    }

    /// Stops the open block and writes every waiting tool call as a whole block.
    fn close_all(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        self.close(out)?;
        while self.open_next_tool(out)? {
            self.close(out)?;
        }
        Ok(())
    }

    /// Moves on to waiting tool calls once the open block may close: it is
    /// text or thinking, or a tool call whose arguments are a whole object.
    fn advance(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        while self.tools.iter().any(|t| matches!(t.state, State::Pending(_))) {
            if let Some(Open::Tool(slot)) = self.open
                && !self.tools[slot].end.complete()
            {
                return Ok(());
            }
            self.close(out)?;
            self.open_next_tool(out)?;
        }
        Ok(())
    }

    /// Text or thinking: in the open block of its kind, or a new one.
    fn text(&mut self, kind: Open, text: &str, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.open != Some(kind) {
            self.close_all(out)?;
            let block = match kind {
                Open::Thinking => Block::Thinking { thinking: String::new(), signature: String::new() },
                _ => Block::Text { text: String::new(), citations: () },
            };
            self.open_block(kind, block, out)?;
        }
        self.output.text(text);
        let delta = match kind {
            Open::Thinking => Delta::Thinking { thinking: text },
            _ => Delta::Text { text },
        };
        Event::ContentBlockDelta { index: self.index(), delta }.write(out)
    }

    /// One entry of a delta's `tool_calls` (`position`: its place in that array).
    fn tool_call(&mut self, call: &Value, position: usize, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let chat_index = call.get("index").and_then(Value::as_u64).unwrap_or(position as u64);
        let function = call.get("function");
        let arguments = function.and_then(|f| f.get("arguments")).and_then(Value::as_str).unwrap_or("");
        let slot = match self.tools.iter().position(|t| t.chat_index == chat_index) {
            Some(slot) => slot,
            None => {
                let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) else {
                    return Err(TranslateError::Response(format!(
                        "the chat stream's tool call {chat_index} has no function name in its first chunk"
                    )));
                };
                let id = tool_use_id(call.get("id").and_then(Value::as_str), &self.id, self.tools.len());
                self.output.text(name);
                self.tools.push(ToolCall {
                    chat_index,
                    id,
                    name: name.to_owned(),
                    state: State::Pending(String::new()),
                    end: JsonEnd::default(),
                });
                self.tools.len() - 1
            }
        };
        self.output.text(arguments);
        let index = self.index();
        let tool = &mut self.tools[slot];
        tool.end.feed(arguments);
        match &mut tool.state {
            _ if arguments.is_empty() => {}
            State::Open => {
                Event::ContentBlockDelta { index, delta: Delta::InputJson { partial_json: arguments } }.write(out)?;
            }
            State::Pending(buffer) => {
                buffer.push_str(arguments);
                self.pending_bytes += arguments.len();
                if self.pending_bytes > MAX_PENDING_ARGUMENTS {
                    return Err(TranslateError::Response(format!(
                        "the chat stream interleaves tool calls with more than {MAX_PENDING_ARGUMENTS} bytes of arguments waiting"
                    )));
                }
            }
            State::Closed => {
                return Err(TranslateError::Response(format!(
                    "the chat stream's tool call {chat_index} continued after other content"
                )));
            }
        }
        self.advance(out)
    }

    fn delta(&mut self, choice: &Value, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let delta = choice.get("delta");
        let text = |name: &str| delta.and_then(|d| d.get(name)).and_then(Value::as_str).filter(|t| !t.is_empty());
        if let Some(thinking) = text("reasoning_content").or_else(|| text("reasoning")) {
            self.text(Open::Thinking, thinking, out)?;
        }
        if let Some(content) = text("content") {
            self.text(Open::Text, content, out)?;
        }
        if let Some(refusal) = text("refusal") {
            self.refusal = true;
            self.text(Open::Text, refusal, out)?;
        }
        if let Some(Value::Array(calls)) = delta.and_then(|d| d.get("tool_calls")) {
            for (position, call) in calls.iter().enumerate() {
                self.tool_call(call, position, out)?;
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.close_all(out)?;
            self.finish = Some((reason.to_owned(), choice.get("stop_reason").cloned().unwrap_or(Value::Null)));
        }
        Ok(())
    }
}

impl ClientStream for Stream {
    fn chunk(&mut self, data: &str) -> Result<Vec<u8>, TranslateError> {
        if self.done {
            return Ok(Vec::new());
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| TranslateError::Response(format!("a chat stream chunk that is not JSON: {e}")))?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_owned);
            return Err(TranslateError::Response(message));
        }
        let choices = chunk.get("choices").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        let usage = chunk.get("usage").and_then(Usage::from_chat);
        let mut out = Vec::new();
        if !self.started {
            // Azure's first chunk (its prompt_filter_results) has no id and no choices:
            // the message starts with the next, which names the answer's id.
            if choices.is_empty()
                && usage.is_none()
                && chunk.get("id").and_then(Value::as_str).is_none_or(str::is_empty)
            {
                return Ok(out);
            }
            self.start(Some(&chunk), &mut out)?;
        }
        if usage.is_some() {
            self.usage = usage;
        }
        // One answer: the first choice (the gateway never asks for `n`); nothing after its finish_reason.
        let choice = choices.iter().find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0);
        if let Some(choice) = choice
            && self.finish.is_none()
        {
            self.delta(choice, &mut out)?;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<u8>, TranslateError> {
        if self.done {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        if !self.started {
            self.start(None, &mut out)?;
        }
        self.close_all(&mut out)?;
        let (reason, matched) = match &self.finish {
            Some((reason, matched)) => (Some(reason.as_str()), Some(matched)),
            None => (None, None),
        };
        let stop = Stop::new(reason, matched, !self.tools.is_empty(), self.refusal);
        let usage = match self.usage {
            Some(u) => DeltaUsage {
                input_tokens: Some(u.input_tokens),
                cache_creation_input_tokens: Some(u.cache_creation_input_tokens),
                cache_read_input_tokens: Some(u.cache_read_input_tokens),
                output_tokens: u.output_tokens,
            },
            None => DeltaUsage {
                input_tokens: None,
                cache_creation_input_tokens: None,
                cache_read_input_tokens: None,
                output_tokens: self.output.tokens(),
            },
        };
        let delta = MessageDelta { stop_reason: stop.reason, stop_sequence: stop.sequence.as_deref() };
        Event::MessageDelta { delta, usage }.write(&mut out)?;
        Event::MessageStop.write(&mut out)?;
        self.done = true;
        Ok(out)
    }

    fn error(&mut self, kind: &str, message: &str) -> Vec<u8> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        let mut out = Vec::new();
        // Writing two strings into a Vec cannot fail; an empty event is the fallback.
        let event = Event::Error { error: ErrorBody { kind, message } };
        if event.write(&mut out).is_err() {
            out.clear();
        }
        out
    }
}
