//! `chat.completion.chunk`s -> the Responses streaming events (the order is
//! in the module doc of [`super`]).

use serde::Deserialize;
use serde_json::{Value, json};

use super::Echo;
use super::output::{
    ChatLogprobs, ChatUsage, Envelope, Ids, Status, annotation, delta_logprob, error_text, reasoning_part,
    refusal_part, text_part,
};
use crate::ingress::ClientStream;
use crate::translate::TranslateError;

mod item;
mod sink;

use item::{Item, Slot, TextPart};
use sink::Sink;

#[cfg(test)]
mod tests;

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    created: Option<u64>,
    #[serde(default)]
    choices: Option<Vec<ChunkChoice>>,
    #[serde(default)]
    usage: Option<ChatUsage>,
    #[serde(default)]
    service_tier: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<ChatLogprobs>,
}

#[derive(Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    /// Some providers (vLLM, OpenRouter) name it `reasoning`.
    #[serde(default)]
    reasoning: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(default)]
    annotations: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// The most bytes of arguments held for a tool call that has not named its function.
const MAX_UNNAMED_ARGUMENTS: usize = 4 << 20;

/// A tool call seen in the chunks that has not named its function yet.
struct Unnamed {
    /// The chunk's tool call index.
    key: u32,
    call_id: Option<String>,
    arguments: String,
}

/// Set by the first chunk.
struct Started {
    ids: Ids,
    id: String,
    created_at: u64,
}

/// Chat chunks -> Responses events: created and in progress at the first
/// chunk, each output item added, filled and done, then completed,
/// incomplete or (for a break) failed.
pub struct Stream {
    echo: Echo,
    sink: Sink,
    started: Option<Started>,
    items: Vec<Slot>,
    /// The open reasoning or message item.
    current: Option<usize>,
    /// Open tool calls: the chunk's tool call index -> the item.
    calls: Vec<(u32, usize)>,
    /// Tool calls that have not named their function yet (no item until they do).
    unnamed: Vec<Unnamed>,
    finish_reason: Option<String>,
    usage: Option<ChatUsage>,
    service_tier: Option<String>,
    /// The terminal event was written.
    ended: bool,
}

impl Stream {
    /// `echo`: from the request, see [`request`](fn@super::request).
    pub fn new(echo: Echo) -> Self {
        Self {
            echo,
            sink: Sink::default(),
            started: None,
            items: Vec::new(),
            current: None,
            calls: Vec::new(),
            unnamed: Vec::new(),
            finish_reason: None,
            usage: None,
            service_tier: None,
            ended: false,
        }
    }

    fn envelope<'a>(&'a self, started: &'a Started) -> Envelope<'a> {
        Envelope {
            echo: &self.echo,
            id: &started.id,
            created_at: started.created_at,
            service_tier: self.service_tier.as_deref(),
        }
    }

    fn begin(&mut self, chunk: &Chunk) -> Result<(), TranslateError> {
        let ids = Ids::new(chunk.id.as_deref());
        let started =
            Started { id: ids.response(), ids, created_at: chunk.created.unwrap_or_else(crate::wall::unix_secs) };
        let response = self.envelope(&started).object(Status::InProgress, Vec::new(), None, None);
        self.sink.event("response.created", json!({"response": response}))?;
        let response = self.envelope(&started).object(Status::InProgress, Vec::new(), None, None);
        self.sink.event("response.in_progress", json!({"response": response}))?;
        self.started = Some(started);
        Ok(())
    }

    fn ids(&self) -> Result<&Ids, TranslateError> {
        match &self.started {
            Some(started) => Ok(&started.ids),
            None => Err(TranslateError::Response("an event before the first chunk".into())),
        }
    }

    /// Adds an item, announcing it (`output_item.added`) unless it is a tool
    /// call still without a name; returns its output index.
    fn add(&mut self, item: Item) -> Result<usize, TranslateError> {
        let index = self.items.len();
        let value = item.value("in_progress")?;
        self.sink.event("response.output_item.added", json!({"output_index": index, "item": value}))?;
        self.items.push(Slot { item, done: None });
        Ok(index)
    }

    /// The open reasoning (`reasoning`) or message item, closing the other
    /// kind; a new one when none is open.
    fn current(&mut self, reasoning: bool) -> Result<usize, TranslateError> {
        if let Some(index) = self.current {
            let same = matches!(
                (&self.items[index].item, reasoning),
                (Item::Reasoning { .. }, true) | (Item::Message { .. }, false)
            );
            if same {
                return Ok(index);
            }
            self.close_current()?;
        }
        let next = self.items.len();
        let index = if reasoning {
            let id = self.ids()?.item("rs", next);
            let index = self.add(Item::Reasoning { id: id.clone(), text: String::new() })?;
            let added = json!({"item_id": id, "output_index": index, "content_index": 0, "part": reasoning_part("")});
            self.sink.event("response.content_part.added", added)?;
            index
        } else {
            let id = self.ids()?.item("msg", next);
            self.add(Item::Message { id, text: None, refusal: None })?
        };
        self.current = Some(index);
        Ok(index)
    }

    fn close_current(&mut self) -> Result<(), TranslateError> {
        match self.current.take() {
            Some(index) => self.close(index, "completed"),
            None => Ok(()),
        }
    }

    fn reasoning(&mut self, delta: &str) -> Result<(), TranslateError> {
        let index = self.current(true)?;
        if let Item::Reasoning { id, text } = &mut self.items[index].item {
            text.push_str(delta);
            self.sink.delta("response.reasoning_text.delta", id, index, Some(0), delta, None)?;
        }
        Ok(())
    }

    /// The open message's `output_text` part, added when it has none yet.
    fn text_part(&mut self) -> Result<(usize, &mut TextPart, &str), TranslateError> {
        let index = self.current(false)?;
        let Slot { item: Item::Message { id, text, refusal }, .. } = &mut self.items[index] else {
            return Err(TranslateError::Response("the open item is not a message".into()));
        };
        if text.is_none() {
            // After a refusal part, if there is one.
            let content_index = usize::from(refusal.is_some());
            let part = text_part("", &[], &[]);
            let added = json!({"item_id": id, "output_index": index, "content_index": content_index, "part": part});
            self.sink.event("response.content_part.added", added)?;
            *text =
                Some(TextPart { content_index, text: String::new(), annotations: Vec::new(), logprobs: Vec::new() });
        }
        match text {
            Some(part) => Ok((index, part, id)),
            None => Err(TranslateError::Response("the message has no text part".into())),
        }
    }

    fn text(&mut self, delta: &str, logprobs: Vec<Value>) -> Result<(), TranslateError> {
        let (index, part, id) = self.text_part()?;
        part.text.push_str(delta);
        let content_index = part.content_index;
        let deltas: Vec<Value> = logprobs.iter().map(delta_logprob).collect();
        part.logprobs.extend(logprobs);
        if delta.is_empty() {
            return Ok(());
        }
        let id = id.to_owned();
        self.sink.delta("response.output_text.delta", &id, index, Some(content_index), delta, Some(deltas))
    }

    fn annotations(&mut self, annotations: &[Value]) -> Result<(), TranslateError> {
        for annotation in annotations.iter().filter_map(annotation) {
            let (index, part, id) = self.text_part()?;
            let event = json!({
                "item_id": id,
                "output_index": index,
                "content_index": part.content_index,
                "annotation_index": part.annotations.len(),
                "annotation": annotation,
            });
            part.annotations.push(annotation);
            self.sink.event("response.output_text.annotation.added", event)?;
        }
        Ok(())
    }

    fn refusal(&mut self, delta: &str) -> Result<(), TranslateError> {
        let index = self.current(false)?;
        let Slot { item: Item::Message { id, text, refusal }, .. } = &mut self.items[index] else {
            return Ok(());
        };
        if refusal.is_none() {
            // After the text part, if there is one.
            let content_index = usize::from(text.is_some());
            let added =
                json!({"item_id": id, "output_index": index, "content_index": content_index, "part": refusal_part("")});
            self.sink.event("response.content_part.added", added)?;
            *refusal = Some((content_index, String::new()));
        }
        let Some((content_index, all)) = refusal else {
            return Ok(());
        };
        all.push_str(delta);
        self.sink.delta("response.refusal.delta", id, index, Some(*content_index), delta, None)
    }

    fn tool_call(&mut self, call: ToolCallDelta) -> Result<(), TranslateError> {
        let key = call.index.unwrap_or(0);
        let (name, arguments) = match call.function {
            Some(function) => (function.name.filter(|n| !n.is_empty()), function.arguments.unwrap_or_default()),
            None => (None, String::new()),
        };
        if let Some(&(_, index)) = self.calls.iter().find(|(k, _)| *k == key) {
            let Item::Call { id, arguments: all, .. } = &mut self.items[index].item else {
                return Err(TranslateError::Response("a tool call's item is not a function call".into()));
            };
            all.push_str(&arguments);
            if arguments.is_empty() {
                return Ok(());
            }
            return self.sink.delta("response.function_call_arguments.delta", id, index, None, &arguments, None);
        }
        // Not announced yet: held until it names its function, so that items
        // are added in the order of their output indexes.
        let at = match self.unnamed.iter().position(|u| u.key == key) {
            Some(at) => at,
            None => {
                self.unnamed.push(Unnamed { key, call_id: None, arguments: String::new() });
                self.unnamed.len() - 1
            }
        };
        let waiting = &mut self.unnamed[at];
        if waiting.call_id.is_none() {
            waiting.call_id = call.id.filter(|id| !id.is_empty());
        }
        waiting.arguments.push_str(&arguments);
        if waiting.arguments.len() > MAX_UNNAMED_ARGUMENTS {
            return Err(TranslateError::Response(format!(
                "a tool call sent more than {MAX_UNNAMED_ARGUMENTS} bytes of arguments before naming its function"
            )));
        }
        let Some(name) = name else { return Ok(()) };
        let waiting = self.unnamed.remove(at);
        self.close_current()?;
        let next = self.items.len();
        let ids = self.ids()?;
        let id = ids.item("fc", next);
        let call_id = waiting.call_id.unwrap_or_else(|| ids.item("call", next));
        let index = self.add(Item::Call { id: id.clone(), call_id, name, arguments: String::new() })?;
        self.calls.push((key, index));
        if waiting.arguments.is_empty() {
            return Ok(());
        }
        // The arguments that came before the name, as its first delta.
        if let Item::Call { arguments: all, .. } = &mut self.items[index].item {
            all.push_str(&waiting.arguments);
        }
        self.sink.delta("response.function_call_arguments.delta", &id, index, None, &waiting.arguments, None)
    }

    fn close(&mut self, index: usize, status: &'static str) -> Result<(), TranslateError> {
        match self.items.get_mut(index) {
            Some(slot) => slot.close(index, status, &mut self.sink),
            None => Ok(()),
        }
    }

    /// The output so far; items not done yet are `incomplete`.
    fn output(&self) -> Result<Vec<Value>, TranslateError> {
        self.items.iter().map(|slot| slot.item.value(slot.done.unwrap_or("incomplete"))).collect()
    }
}

impl ClientStream for Stream {
    fn chunk(&mut self, data: &str) -> Result<Vec<u8>, TranslateError> {
        if self.ended {
            return Ok(Vec::new());
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| TranslateError::Response(format!("a chat completion chunk that does not parse: {e}")))?;
        if let Some(error) = &chunk.error {
            return Err(TranslateError::Response(error_text(error)));
        }
        if self.started.is_none() {
            // Azure's first chunk (its prompt_filter_results) has no id, no choices and
            // `created: 0`: the response starts with the next, which names the answer.
            let unnamed = chunk.id.as_deref().is_none_or(str::is_empty);
            if unnamed && chunk.choices.as_ref().is_none_or(Vec::is_empty) && chunk.usage.is_none() {
                return Ok(Vec::new());
            }
            self.begin(&chunk)?;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        if chunk.service_tier.is_some() {
            self.service_tier = chunk.service_tier;
        }
        // Only the first choice: the request never asks for more.
        for choice in chunk.choices.into_iter().flatten().filter(|c| c.index == 0) {
            let delta = choice.delta.unwrap_or_default();
            let reasoning = delta.reasoning_content.or(match delta.reasoning {
                Some(Value::String(text)) => Some(text),
                _ => None,
            });
            if let Some(reasoning) = reasoning.filter(|r| !r.is_empty()) {
                self.reasoning(&reasoning)?;
            }
            let logprobs = choice.logprobs.and_then(|l| l.content).unwrap_or_default();
            let content = delta.content.unwrap_or_default();
            if !content.is_empty() || !logprobs.is_empty() {
                self.text(&content, logprobs)?;
            }
            if let Some(annotations) = delta.annotations.filter(|a| !a.is_empty()) {
                self.annotations(&annotations)?;
            }
            if let Some(refusal) = delta.refusal.filter(|r| !r.is_empty()) {
                self.refusal(&refusal)?;
            }
            for call in delta.tool_calls.into_iter().flatten() {
                self.tool_call(call)?;
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        Ok(self.sink.take())
    }

    fn finish(&mut self) -> Result<Vec<u8>, TranslateError> {
        if self.ended {
            return Ok(Vec::new());
        }
        if self.started.is_none() {
            return Err(TranslateError::Response("the stream ended before its first chunk".into()));
        }
        if let Some(unnamed) = self.unnamed.first() {
            let call = unnamed.call_id.as_deref().unwrap_or("without an id");
            return Err(TranslateError::Response(format!("the tool call {call} never named its function")));
        }
        let status = Status::finished(self.finish_reason.as_deref());
        let last = self.items.len().checked_sub(1);
        let mut open: Vec<usize> = self.current.take().into_iter().chain(self.calls.iter().map(|&(_, i)| i)).collect();
        open.sort_unstable();
        for index in open {
            let item_status = if Some(index) == last { status.last_item() } else { "completed" };
            self.close(index, item_status)?;
        }
        self.calls.clear();
        let output = self.output()?;
        let usage = self.usage.map(|u| u.responses());
        let kind = match status {
            Status::Incomplete(_) => "response.incomplete",
            _ => "response.completed",
        };
        let Some(started) = &self.started else {
            return Ok(Vec::new());
        };
        let response = self.envelope(started).object(status, output, usage, None);
        self.sink.event(kind, json!({"response": response}))?;
        self.ended = true;
        Ok(self.sink.take())
    }

    fn error(&mut self, kind: &str, message: &str) -> Vec<u8> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        let mut out = self.sink.take();
        let error = json!({
            "code": kind,
            "message": message,
            "param": null,
            "error": {"type": kind, "code": kind, "message": message, "param": null},
        });
        if self.sink.event("error", error).is_ok() {
            out.extend(self.sink.take());
        }
        let started = match self.started.take() {
            Some(started) => started,
            None => {
                let ids = Ids::new(None);
                Started { id: ids.response(), ids, created_at: crate::wall::unix_secs() }
            }
        };
        let code = if kind.contains("rate_limit") { "rate_limit_exceeded" } else { "server_error" };
        let error = json!({"code": code, "message": message});
        let output = self.output().unwrap_or_default();
        let usage = self.usage.map(|u| u.responses());
        let response = self.envelope(&started).object(Status::Failed, output, usage, Some(error));
        if self.sink.event("response.failed", json!({"response": response})).is_ok() {
            out.extend(self.sink.take());
        }
        self.started = Some(started);
        out
    }
}
