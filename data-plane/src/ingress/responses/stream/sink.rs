//! The SSE framing and numbering of the events.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::translate::TranslateError;

/// The delta events (`output_text`, `refusal`, `reasoning_text`, `function_call_arguments`).
#[derive(Serialize)]
struct DeltaEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<usize>,
    delta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<Vec<Value>>,
    sequence_number: u64,
}

/// The events written so far, numbered.
#[derive(Default)]
pub(super) struct Sink {
    out: Vec<u8>,
    sequence: u64,
}

impl Sink {
    /// `event: {kind}` with `fields` plus `type` and `sequence_number`.
    pub(super) fn event(&mut self, kind: &'static str, fields: Value) -> Result<(), TranslateError> {
        let mut event = match fields {
            Value::Object(fields) => fields,
            _ => Map::new(),
        };
        event.insert("type".into(), kind.into());
        event.insert("sequence_number".into(), self.sequence.into());
        self.write(kind, &event)
    }

    pub(super) fn delta(
        &mut self,
        kind: &'static str,
        item_id: &str,
        output_index: usize,
        content_index: Option<usize>,
        delta: &str,
        logprobs: Option<Vec<Value>>,
    ) -> Result<(), TranslateError> {
        let event =
            DeltaEvent { kind, item_id, output_index, content_index, delta, logprobs, sequence_number: self.sequence };
        self.write(kind, &event)
    }

    fn write(&mut self, kind: &str, event: &impl Serialize) -> Result<(), TranslateError> {
        let start = self.out.len();
        self.out.extend_from_slice(b"event: ");
        self.out.extend_from_slice(kind.as_bytes());
        self.out.extend_from_slice(b"\ndata: ");
        if let Err(e) = serde_json::to_writer(&mut self.out, event) {
            self.out.truncate(start);
            return Err(TranslateError::Response(format!("the {kind} event could not be written: {e}")));
        }
        self.out.extend_from_slice(b"\n\n");
        self.sequence += 1;
        Ok(())
    }

    pub(super) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}
