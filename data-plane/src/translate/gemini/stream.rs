//! Gemini's SSE stream -> OpenAI `chat.completion.chunk` events.

use super::response::{Piece, candidate_index, completion_id, finish_reason, google_error, pieces, usage};
use crate::translate::{StreamTranslator, TranslateError};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

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
            created: crate::wall::unix_secs(),
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
mod tests;
