//! Anthropic's stream events, framed as SSE (`event: NAME\ndata: JSON\n\n`,
//! the name repeating the payload's `type`).

use serde::Serialize;

use crate::ingress::messages::response::{Block, Usage};
use crate::translate::TranslateError;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Event<'a> {
    MessageStart { message: StartMessage<'a> },
    Ping,
    ContentBlockStart { index: u32, content_block: Block },
    ContentBlockDelta { index: u32, delta: Delta<'a> },
    ContentBlockStop { index: u32 },
    MessageDelta { delta: MessageDelta<'a>, usage: DeltaUsage },
    MessageStop,
    Error { error: ErrorBody<'a> },
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::Ping => "ping",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
            Event::Error { .. } => "error",
        }
    }

    /// Appends the framed event to `out`.
    pub(super) fn write(&self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.name().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        serde_json::to_writer(&mut *out, self)
            .map_err(|e| TranslateError::Response(format!("the translated event could not be written: {e}")))?;
        out.extend_from_slice(b"\n\n");
        Ok(())
    }
}

/// `message_start`'s message: no content yet, no stop reason.
#[derive(Serialize)]
pub(super) struct StartMessage<'a> {
    pub(super) id: &'a str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) role: &'static str,
    pub(super) model: &'a str,
    pub(super) content: [Block; 0],
    pub(super) stop_reason: Option<&'static str>,
    pub(super) stop_sequence: Option<&'static str>,
    pub(super) usage: Usage,
    /// Always null (see `Message`).
    pub(super) container: (),
}

/// A `content_block_delta`'s delta (`text_delta`, `thinking_delta`, `input_json_delta`).
#[derive(Serialize)]
#[serde(tag = "type")]
pub(super) enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
pub(super) struct MessageDelta<'a> {
    pub(super) stop_reason: &'static str,
    pub(super) stop_sequence: Option<&'a str>,
}

/// `message_delta`'s cumulative usage: all of it when the provider reported
/// usage, else only the estimated `output_tokens`.
#[derive(Serialize)]
pub(super) struct DeltaUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cache_creation_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cache_read_input_tokens: Option<u64>,
    pub(super) output_tokens: u64,
}

#[derive(Serialize)]
pub(super) struct ErrorBody<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'a str,
    pub(super) message: &'a str,
}
