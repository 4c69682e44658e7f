//! One output item as it streams, and the events that close it.

use serde_json::{Value, json};

use super::sink::Sink;
use crate::ingress::responses::output::{
    call_item, delta_logprob, logprob, message_item, reasoning_item, reasoning_part, refusal_part, text_part,
};
use crate::translate::TranslateError;

/// One output item as it streams.
pub(super) enum Item {
    Reasoning { id: String, text: String },
    Message { id: String, text: Option<TextPart>, refusal: Option<(usize, String)> },
    Call { id: String, call_id: String, name: String, arguments: String },
}

/// The `output_text` part of a message item.
pub(super) struct TextPart {
    pub(super) content_index: usize,
    pub(super) text: String,
    pub(super) annotations: Vec<Value>,
    /// As the chat chunks gave them.
    pub(super) logprobs: Vec<Value>,
}

/// One item and, once it is done, its status.
pub(super) struct Slot {
    pub(super) item: Item,
    pub(super) done: Option<&'static str>,
}

impl Item {
    /// The item as `output_item.added`/`.done` and the response's `output` carry it.
    pub(super) fn value(&self, status: &str) -> Result<Value, TranslateError> {
        Ok(match self {
            Item::Reasoning { id, text } => reasoning_item(id, text, status),
            Item::Message { id, text, refusal } => {
                let mut parts = Vec::with_capacity(2);
                if let Some(part) = text {
                    let logprobs: Vec<Value> = part.logprobs.iter().map(logprob).collect();
                    parts.push((part.content_index, text_part(&part.text, &part.annotations, &logprobs)));
                }
                if let Some((index, refusal)) = refusal {
                    parts.push((*index, refusal_part(refusal)));
                }
                parts.sort_by_key(|(index, _)| *index);
                message_item(id, parts.into_iter().map(|(_, part)| part).collect(), status)
            }
            Item::Call { id, call_id, name, arguments } => call_item(id, call_id, name, arguments, status),
        })
    }
}

impl Slot {
    /// Closes the item at `index` (its `*.done`, `content_part.done` and
    /// `output_item.done`), once.
    pub(super) fn close(&mut self, index: usize, status: &'static str, sink: &mut Sink) -> Result<(), TranslateError> {
        if self.done.is_some() {
            return Ok(());
        }
        self.done = Some(status);
        match &self.item {
            Item::Reasoning { id, text } => {
                let done = json!({"item_id": id, "output_index": index, "content_index": 0, "text": text});
                sink.event("response.reasoning_text.done", done)?;
                let done = json!({"item_id": id, "output_index": index, "content_index": 0,
                    "part": reasoning_part(text)});
                sink.event("response.content_part.done", done)?;
            }
            Item::Message { id, text, refusal } => {
                let mut parts: Vec<(usize, bool)> = Vec::with_capacity(2);
                if let Some(part) = text {
                    parts.push((part.content_index, true));
                }
                if let Some((content_index, _)) = refusal {
                    parts.push((*content_index, false));
                }
                parts.sort_unstable();
                for (content_index, is_text) in parts {
                    match (is_text, text, refusal) {
                        (true, Some(part), _) => {
                            let logprobs: Vec<Value> = part.logprobs.iter().map(delta_logprob).collect();
                            let done = json!({"item_id": id, "output_index": index, "content_index": content_index,
                                "text": part.text, "logprobs": logprobs});
                            sink.event("response.output_text.done", done)?;
                            let logprobs: Vec<Value> = part.logprobs.iter().map(logprob).collect();
                            let part = text_part(&part.text, &part.annotations, &logprobs);
                            let done = json!({"item_id": id, "output_index": index, "content_index": content_index,
                                "part": part});
                            sink.event("response.content_part.done", done)?;
                        }
                        (false, _, Some((_, refusal))) => {
                            let done = json!({"item_id": id, "output_index": index, "content_index": content_index,
                                "refusal": refusal});
                            sink.event("response.refusal.done", done)?;
                            let done = json!({"item_id": id, "output_index": index, "content_index": content_index,
                                "part": refusal_part(refusal)});
                            sink.event("response.content_part.done", done)?;
                        }
                        _ => {}
                    }
                }
            }
            Item::Call { id, name, arguments, .. } => {
                let done = json!({"item_id": id, "output_index": index, "name": name, "arguments": arguments});
                sink.event("response.function_call_arguments.done", done)?;
            }
        }
        let item = self.item.value(status)?;
        sink.event("response.output_item.done", json!({"output_index": index, "item": item}))
    }
}
