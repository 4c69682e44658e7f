//! Faults steered by the requested model's name, so that tests driven from
//! outside the process (the SDK tests, through `fake-upstream`) can ask for
//! them. On top of the default answers ([`super::defaults`]):
//!
//! * `cut-…` ([`CUT_PREFIX`]): a streamed answer ends, the connection closed
//!   cleanly, before its end: the first event that ends it (a chat chunk with
//!   a `finish_reason`, `[DONE]`, `response.completed`, `message_stop`) and
//!   everything after it are never sent.
//! * `garbled-…` ([`GARBLED_PREFIX`]): a streamed answer has, after its first
//!   event, an event whose `data:` is not JSON ([`GARBLED_EVENT`]).
//! * `busy-…` ([`BUSY_PREFIX`]): the first request for each such name is
//!   answered 429 with `Retry-After: 1` (OpenAI's rate-limit error, or
//!   Anthropic's on `/v1/messages`); the next ones as usual.
//!
//! The model is read from the body's `model`; what is not streamed is answered as usual.

use std::collections::HashSet;

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::reply::{Chunk, Reply};
use super::{Api, RecordedRequest, defaults};

pub const CUT_PREFIX: &str = "cut-";
pub const GARBLED_PREFIX: &str = "garbled-";
pub const BUSY_PREFIX: &str = "busy-";

/// The event a `garbled-…` stream sends after its first one: JSON cut short.
pub const GARBLED_EVENT: &str =
    "data: {\"id\": \"garbled\", \"choices\": [{\"delta\": {\"content\": \"unterminated\n\n";

/// Most `busy-…` names remembered (a test fake; past it, names are answered as usual).
const MAX_BUSY: usize = 10_000;

/// What the faults remember: the `busy-…` names asked for already.
#[derive(Default)]
pub(crate) struct Faults {
    busy: Mutex<HashSet<String>>,
}

impl Faults {
    /// Whether `model` is asked for the first time (and now remembered).
    fn first_time(&self, model: &str) -> bool {
        let mut busy = self.busy.lock();
        busy.len() < MAX_BUSY && busy.insert(model.to_owned())
    }
}

/// The default answer to `request`, with the fault its model asks for.
pub(super) fn reply_for(faults: &Faults, request: &RecordedRequest, seq: u64, api: Api) -> Reply {
    let body: Option<Value> = serde_json::from_slice(&request.body).ok();
    let model = body.as_ref().and_then(|b| b.get("model")).and_then(Value::as_str).unwrap_or_default();
    if model.starts_with(BUSY_PREFIX) && faults.first_time(model) {
        return busy(request);
    }
    let reply = defaults::reply_for(request, seq, api);
    match reply {
        Reply::Sse { status, headers, chunks } if model.starts_with(CUT_PREFIX) => {
            let chunks = chunks.into_iter().take_while(|c| !ends(c)).collect();
            Reply::Sse { status, headers, chunks }
        }
        Reply::Sse { status, headers, mut chunks } if model.starts_with(GARBLED_PREFIX) => {
            chunks.insert(1.min(chunks.len()), Chunk::Bytes(Bytes::from_static(GARBLED_EVENT.as_bytes())));
            Reply::Sse { status, headers, chunks }
        }
        other => other,
    }
}

/// Whether this chunk holds the event that ends its stream.
fn ends(chunk: &Chunk) -> bool {
    let Chunk::Bytes(bytes) = chunk else { return false };
    let text = String::from_utf8_lossy(bytes);
    ["\"finish_reason\":\"", "data: [DONE]", "\"type\":\"response.completed\"", "event: message_stop"]
        .iter()
        .any(|marker| text.contains(marker))
}

/// A 429 in the shape of the request's API.
fn busy(request: &RecordedRequest) -> Reply {
    let body = if request.uri.path() == "/v1/messages" {
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your rate limit"}})
    } else {
        json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})
    };
    Reply::Json { status: 429, headers: vec![("retry-after".into(), "1".into())], body }
}
