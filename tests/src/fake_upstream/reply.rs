//! What the fake answers: [`Reply`] and the pieces of a streamed body, [`Chunk`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::Notify;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A JSON response (`content-type: application/json` unless `headers` says
    /// otherwise).
    Json { status: u16, headers: Vec<(String, String)>, body: serde_json::Value },
    /// A response with exactly this body and only the given headers (plus
    /// `content-length`).
    Raw { status: u16, headers: Vec<(String, String)>, body: Bytes },
    /// An SSE response (content-type text/event-stream) whose body is sent chunk by chunk exactly as given.
    Sse { status: u16, headers: Vec<(String, String)>, chunks: Vec<Chunk> },
    /// Wait before answering with the inner reply (latency).
    Delay(Duration, Box<Reply>),
    /// Close the connection without answering (for HTTP/2 the whole connection,
    /// every stream on it included).
    Hangup,
}

/// One step of an [`Reply::Sse`] body.
#[derive(Clone, Debug)]
pub enum Chunk {
    /// Written as one body frame.
    Bytes(Bytes),
    Sleep(Duration),
    /// Pause until the test calls `notify_one()` (a call made earlier is
    /// remembered, as `Notify` does).
    Wait(Arc<Notify>),
    /// End the body with an error: the connection breaks mid-stream (HTTP/1.1
    /// closes the connection before the last chunk, HTTP/2 resets the stream).
    Abort,
    /// Never send anything more: the stream hangs.
    Stall,
    /// These bytes as one frame, again and again for as long as the peer
    /// reads (the chunks after it are never reached): an endless stream.
    Forever(Bytes),
}

impl Reply {
    /// A JSON response without extra headers.
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::Json { status, headers: Vec::new(), body }
    }

    /// An OpenAI-shaped error: `{"error": {"message", "type", "param": null, "code": null}}`.
    pub fn error(status: u16, type_: &str, message: &str) -> Reply {
        Reply::json(status, json!({"error": {"message": message, "type": type_, "param": null, "code": null}}))
    }

    /// A 200 SSE response with one `data:` event per string, then `data: [DONE]`.
    pub fn sse_events(events: &[&str]) -> Reply {
        let chunks = events.iter().map(|data| Chunk::event(data)).chain([Chunk::event("[DONE]")]).collect();
        Reply::sse(chunks)
    }

    /// A 200 SSE response with these chunks and no extra headers.
    pub fn sse(chunks: Vec<Chunk>) -> Reply {
        Reply::Sse { status: 200, headers: Vec::new(), chunks }
    }

    /// `reply`, answered after `delay`.
    pub fn delayed(delay: Duration, reply: Reply) -> Reply {
        Reply::Delay(delay, Box::new(reply))
    }
}

impl Chunk {
    /// `data: {data}\n\n` as one frame.
    pub fn event(data: &str) -> Chunk {
        Chunk::Bytes(Bytes::from(format!("data: {data}\n\n")))
    }

    /// These bytes as one frame.
    pub fn bytes(bytes: impl Into<Bytes>) -> Chunk {
        Chunk::Bytes(bytes.into())
    }
}
