//! Realistic OpenAI chat completion streams in the two forms one completion
//! takes: without `stream_options.include_usage`, and with it (a `usage` member
//! ending every chunk, `null` but in a last chunk with no choices that carries
//! the counts). A proxy that asks for usage on the client's behalf must turn
//! the second into the first, byte for byte.

use serde_json::Value;

use super::reply::{Chunk, Reply};

/// How the JSON is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenAI's own bytes: `{"id":"chatcmpl-…",…,"usage":null}`.
    Compact,
    /// Python's `json.dumps` defaults, as some compatible servers write:
    /// `{"id": "chatcmpl-…", …, "usage": null}`.
    Spaced,
}

/// One streamed chat completion.
#[derive(Clone, Debug)]
pub struct ChatStream {
    pub format: Format,
    pub model: String,
    /// The content deltas, in order.
    pub pieces: Vec<String>,
    /// The usage object of the last chunk (with `include_usage`).
    pub usage: Value,
}

impl ChatStream {
    pub fn new(format: Format, pieces: &[&str], usage: Value) -> ChatStream {
        ChatStream {
            format,
            model: "gpt-4o-mini-2024-07-18".to_owned(),
            pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
            usage,
        }
    }

    /// The `data:` payloads, `[DONE]` last.
    pub fn events(&self, include_usage: bool) -> Vec<String> {
        let f = self.format;
        let s = |v: &str| Value::String(v.to_owned()).to_string();
        let choice = |delta: Vec<(&str, String)>, finish: &str| {
            format!(
                "[{}]",
                object(
                    f,
                    &[
                        ("index", "0".into()),
                        ("delta", object(f, &delta)),
                        ("logprobs", "null".into()),
                        ("finish_reason", finish.to_owned())
                    ]
                )
            )
        };
        let chunk = |choices: String, usage: Option<String>| {
            let mut members = vec![
                ("id", s("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG")),
                ("object", s("chat.completion.chunk")),
                ("created", "1741570283".to_owned()),
                ("model", s(&self.model)),
                ("service_tier", s("default")),
                ("system_fingerprint", s("fp_06737a9306")),
                ("choices", choices),
            ];
            if let Some(usage) = usage {
                members.push(("usage", usage));
            }
            object(f, &members)
        };
        let null = || include_usage.then(|| "null".to_owned());
        let mut events = vec![chunk(
            choice(vec![("role", s("assistant")), ("content", s("")), ("refusal", "null".into())], "null"),
            null(),
        )];
        for piece in &self.pieces {
            events.push(chunk(choice(vec![("content", s(piece))], "null"), null()));
        }
        events.push(chunk(choice(vec![], &s("stop")), null()));
        if include_usage {
            events.push(chunk("[]".to_owned(), Some(render(f, &self.usage))));
        }
        events.push("[DONE]".to_owned());
        events
    }

    /// The whole SSE body.
    pub fn body(&self, include_usage: bool) -> String {
        self.events(include_usage).iter().map(|e| format!("data: {e}\n\n")).collect()
    }

    /// The SSE reply, one event per body frame.
    pub fn reply(&self, include_usage: bool) -> Reply {
        Reply::sse(self.events(include_usage).iter().map(|e| Chunk::event(e)).collect())
    }
}

/// `{"a":1,"b":2}` or `{"a": 1, "b": 2}`, members in the order given.
fn object(format: Format, members: &[(&str, String)]) -> String {
    let (colon, comma) = match format {
        Format::Compact => (":", ","),
        Format::Spaced => (": ", ", "),
    };
    let inner: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\"{colon}{v}")).collect();
    format!("{{{}}}", inner.join(comma))
}

fn render(format: Format, value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let members: Vec<(&str, String)> = map.iter().map(|(k, v)| (k.as_str(), render(format, v))).collect();
            object(format, &members)
        }
        Value::Array(items) => {
            let sep = if format == Format::Spaced { ", " } else { "," };
            format!("[{}]", items.iter().map(|v| render(format, v)).collect::<Vec<_>>().join(sep))
        }
        other => other.to_string(),
    }
}
