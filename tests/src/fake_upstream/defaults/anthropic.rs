//! Anthropic's Messages API: `POST /v1/messages` answers a `message`, or with
//! `"stream": true` the documented events (`message_start`, then per content
//! block `content_block_start`, `content_block_delta`s and
//! `content_block_stop`, a `ping` after the first block's start, then
//! `message_delta` with the stop reason and usage, and `message_stop`);
//! `POST /v1/messages/count_tokens` its `input_tokens`; `GET /v1/models` (asked
//! with an `anthropic-version` header) Anthropic's model list.
//!
//! As Anthropic does, a request without `x-api-key` (or a bearer token) gets
//! 401 `authentication_error`, one without `anthropic-version` 400, and a body
//! that is not JSON, or lacks `model`, `messages` (or, for messages,
//! `max_tokens`), 400 `invalid_request_error`.

use serde_json::{Value, json};

use super::conversation::{Answer, Conversation, Tool, argument_pieces, text_of};
use super::{RecordedRequest, fails, is_true, json_object, prompt_words};
use crate::fake_upstream::reply::{Chunk, Reply};

pub(super) fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(status, json!({"type": "error", "error": {"type": kind, "message": message}}))
}

fn check_headers(request: &RecordedRequest) -> Result<(), Reply> {
    if request.header("x-api-key").is_none() && request.header("authorization").is_none() {
        return Err(error(401, "authentication_error", "x-api-key header is required"));
    }
    if request.header("anthropic-version").is_none() {
        return Err(error(400, "invalid_request_error", "anthropic-version: header is required"));
    }
    Ok(())
}

/// The body, with every one of `required` present and a string `model`.
fn checked_body(request: &RecordedRequest, required: &[&str]) -> Result<Value, Reply> {
    check_headers(request)?;
    let Some(body) = json_object(request) else {
        return Err(error(
            400,
            "invalid_request_error",
            "There was an error parsing the body of your request. Please check that it is valid JSON.",
        ));
    };
    if let Some(missing) = required.iter().find(|field| body.get(**field).is_none()) {
        return Err(error(400, "invalid_request_error", &format!("{missing}: Field required")));
    }
    if !body.get("model").is_some_and(Value::is_string) {
        return Err(error(400, "invalid_request_error", "model: Input should be a valid string"));
    }
    Ok(body)
}

/// The conversation of a Messages request: the last user message's text,
/// images and `tool_result` blocks, and the tools that have an `input_schema`.
fn conversation(body: &Value) -> Conversation<'_> {
    let mut conversation = Conversation::default();
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let user = messages.iter().rev().find(|message| message.get("role").and_then(Value::as_str) == Some("user"));
    match user.and_then(|user| user.get("content")) {
        Some(Value::Array(blocks)) => {
            for block in blocks {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => conversation.add_text(block.get("text").and_then(Value::as_str).unwrap_or("")),
                    Some("image") => {
                        let source = block.get("source").unwrap_or(&Value::Null);
                        let mime = match source.get("type").and_then(Value::as_str) {
                            Some("base64") => source.get("media_type").and_then(Value::as_str).unwrap_or("base64"),
                            _ => "url",
                        };
                        conversation.images.push(mime.to_owned());
                    }
                    Some("tool_result") => {
                        conversation.tool_results.push(text_of(block.get("content").unwrap_or(&Value::Null)));
                    }
                    _ => {}
                }
            }
        }
        Some(content) => conversation.add_text(&text_of(content)),
        None => {}
    }
    let tools = body.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    conversation.tools = tools
        .iter()
        .filter_map(|tool| {
            let parameters = tool.get("input_schema")?;
            Some(Tool { name: tool.get("name")?.as_str()?, parameters: Some(parameters) })
        })
        .collect();
    conversation
}

fn input_tokens(body: &Value) -> u64 {
    (prompt_words(body.get("system").unwrap_or(&Value::Null))
        + prompt_words(body.get("messages").unwrap_or(&Value::Null)))
    .max(1)
}

/// One content block of the answer, whole, with the pieces a stream sends.
struct Block {
    whole: Value,
    /// What `content_block_start` carries.
    start: Value,
    deltas: Vec<Value>,
}

fn text_block(pieces: &[String]) -> Block {
    Block {
        whole: json!({"type": "text", "text": pieces.concat()}),
        start: json!({"type": "text", "text": ""}),
        deltas: pieces.iter().map(|piece| json!({"type": "text_delta", "text": piece})).collect(),
    }
}

pub(super) fn messages(request: &RecordedRequest, seq: u64) -> Reply {
    let body = match checked_body(request, &["model", "max_tokens", "messages"]) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let model = body["model"].as_str().unwrap_or_default();
    if fails(model) {
        return error(500, "api_error", "Internal server error");
    }
    let answer = conversation(&body).answer(model);
    let (blocks, stop_reason) = match &answer {
        Answer::Text(pieces) => (vec![text_block(pieces)], "end_turn"),
        Answer::Call { name, arguments } => {
            let id = format!("toolu_fake{seq}_0");
            let lead = ["Let", " me", " use", &format!(" {name}.")].map(str::to_owned);
            let call = Block {
                whole: json!({"type": "tool_use", "id": id, "name": name, "input": arguments}),
                start: json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                deltas: argument_pieces(&arguments.to_string())
                    .iter()
                    .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                    .collect(),
            };
            (vec![text_block(&lead), call], "tool_use")
        }
    };
    let (input_tokens, output_tokens) = (input_tokens(&body), answer.completion_tokens());
    let message = |content: Vec<Value>, stop_reason: Value, output_tokens: u64| {
        json!({
            "id": format!("msg_fake{seq}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output_tokens,
                "service_tier": "standard"
            }
        })
    };
    if !is_true(&body, "/stream") {
        let content = blocks.into_iter().map(|block| block.whole).collect();
        return Reply::json(200, message(content, json!(stop_reason), output_tokens));
    }
    let event = |name: &str, data: Value| Chunk::bytes(format!("event: {name}\ndata: {data}\n\n"));
    let mut chunks =
        vec![event("message_start", json!({"type": "message_start", "message": message(vec![], Value::Null, 1)}))];
    for (index, block) in blocks.into_iter().enumerate() {
        chunks.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block.start}),
        ));
        if index == 0 {
            chunks.push(event("ping", json!({"type": "ping"})));
        }
        for delta in block.deltas {
            chunks.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        chunks.push(event("content_block_stop", json!({"type": "content_block_stop", "index": index})));
    }
    chunks.push(event(
        "message_delta",
        json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output_tokens}
        }),
    ));
    chunks.push(event("message_stop", json!({"type": "message_stop"})));
    Reply::sse(chunks)
}

pub(super) fn count_tokens(request: &RecordedRequest) -> Reply {
    match checked_body(request, &["model", "messages"]) {
        Ok(body) if fails(body["model"].as_str().unwrap_or_default()) => {
            error(500, "api_error", "Internal server error")
        }
        Ok(body) => Reply::json(200, json!({"input_tokens": input_tokens(&body)})),
        Err(reply) => reply,
    }
}

pub(super) fn models(request: &RecordedRequest) -> Reply {
    if let Err(reply) = check_headers(request) {
        return reply;
    }
    let model = |id: &str, name: &str, created: &str| json!({"type": "model", "id": id, "display_name": name, "created_at": created});
    Reply::json(
        200,
        json!({
            "data": [
                model("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
                model("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z")
            ],
            "has_more": false,
            "first_id": "claude-sonnet-4-5-20250929",
            "last_id": "claude-haiku-4-5-20251001"
        }),
    )
}
