//! OpenAI's chat completions (text and tool calls, whole or streamed) and
//! legacy completions, and the body checks every OpenAI endpoint shares.

use serde_json::{Value, json};

use super::conversation::{Answer, Conversation, Tool, argument_pieces, greeting, image_type, text_of};
use super::{RecordedRequest, fails, is_true, now, prompt_words};
use crate::fake_upstream::reply::{Chunk, Reply};

const FINGERPRINT: &str = "fp_fake";

/// Parses the body as a JSON object with a string `model`, or answers 400 as
/// OpenAI does; a model named `fail-…` gets OpenAI's 500.
pub(super) fn with_model(request: &RecordedRequest, answer: impl FnOnce(&Value, &str) -> Reply) -> Reply {
    let Some(body) = super::json_object(request) else {
        return Reply::error(
            400,
            "invalid_request_error",
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your \
             HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        );
    };
    match body.get("model").and_then(Value::as_str) {
        Some(model) if fails(model) => Reply::error(
            500,
            "server_error",
            "The server had an error while processing your request. Sorry about that!",
        ),
        Some(model) => answer(&body, model),
        None => Reply::error(400, "invalid_request_error", "you must provide a model parameter"),
    }
}

fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// The SSE reply for these chunk objects; with `include_usage`, every one gets
/// `"usage": null` and a last one with no choices carries `usage`.
fn stream(mut chunks: Vec<Value>, include_usage: bool, usage: Value) -> Reply {
    if include_usage {
        let mut last = chunks.last().cloned().unwrap_or_else(|| json!({}));
        for chunk in &mut chunks {
            chunk["usage"] = Value::Null;
        }
        last["choices"] = json!([]);
        last["usage"] = usage;
        chunks.push(last);
    }
    let events = chunks.iter().map(|chunk| Chunk::event(&chunk.to_string())).chain([Chunk::event("[DONE]")]);
    Reply::sse(events.collect())
}

/// The conversation of a chat request: the trailing `tool` messages are its
/// tool results, the last `user` message its text and images.
fn conversation(body: &Value) -> Conversation<'_> {
    let mut conversation = Conversation::default();
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let role = |message: &Value| message.get("role").and_then(Value::as_str).unwrap_or_default().to_owned();
    let tool_results = messages.iter().rev().take_while(|message| role(message) == "tool");
    let mut results: Vec<String> = tool_results.map(|m| text_of(m.get("content").unwrap_or(&Value::Null))).collect();
    results.reverse();
    conversation.tool_results = results;
    if let Some(user) = messages.iter().rev().find(|message| role(message) == "user") {
        match user.get("content") {
            Some(Value::Array(parts)) => {
                for part in parts {
                    match part.get("type").and_then(Value::as_str) {
                        Some("text") => conversation.add_text(part.get("text").and_then(Value::as_str).unwrap_or("")),
                        Some("image_url") => {
                            let url = part.pointer("/image_url/url").and_then(Value::as_str).unwrap_or("");
                            conversation.images.push(image_type(url));
                        }
                        _ => {}
                    }
                }
            }
            Some(content) => conversation.add_text(&text_of(content)),
            None => {}
        }
    }
    let tools = body.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    conversation.tools = tools
        .iter()
        .filter(|tool| tool.get("type").and_then(Value::as_str) == Some("function"))
        .filter_map(|tool| {
            let name = tool.pointer("/function/name").and_then(Value::as_str)?;
            Some(Tool { name, parameters: tool.pointer("/function/parameters") })
        })
        .collect();
    conversation
}

pub(super) fn chat(body: &Value, model: &str, seq: u64) -> Reply {
    let id = format!("chatcmpl-fake{seq}");
    let created = now();
    let answer = conversation(body).answer(model);
    let usage = usage(prompt_words(body.get("messages").unwrap_or(&Value::Null)).max(1), answer.completion_tokens());
    let call_id = format!("call_fake{seq}_0");
    if !is_true(body, "/stream") {
        let (message, finish_reason) = match &answer {
            Answer::Text(pieces) => {
                (json!({"role": "assistant", "content": pieces.concat(), "refusal": null, "annotations": []}), "stop")
            }
            Answer::Call { name, arguments } => (
                json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": arguments.to_string()}
                    }],
                    "refusal": null,
                    "annotations": []
                }),
                "tool_calls",
            ),
        };
        return Reply::json(
            200,
            json!({
                "id": id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT
            }),
        );
    }
    let chunk = |delta: Value, finish_reason: Value| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
        })
    };
    let mut chunks = Vec::new();
    match &answer {
        Answer::Text(pieces) => {
            chunks.push(chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null));
            chunks.extend(pieces.iter().map(|piece| chunk(json!({"content": piece}), Value::Null)));
            chunks.push(chunk(json!({}), json!("stop")));
        }
        Answer::Call { name, arguments } => {
            let head = json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}],
                "refusal": null
            });
            chunks.push(chunk(head, Value::Null));
            chunks.extend(argument_pieces(&arguments.to_string()).iter().map(|piece| {
                chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), Value::Null)
            }));
            chunks.push(chunk(json!({}), json!("tool_calls")));
        }
    }
    stream(chunks, is_true(body, "/stream_options/include_usage"), usage)
}

pub(super) fn completion(body: &Value, model: &str, seq: u64) -> Reply {
    let id = format!("cmpl-fake{seq}");
    let created = now();
    let pieces = greeting(model);
    let usage = usage(prompt_words(body.get("prompt").unwrap_or(&Value::Null)).max(1), pieces.len() as u64);
    let object = |text: &str, finish_reason: Value| {
        json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish_reason}]
        })
    };
    if !is_true(body, "/stream") {
        let mut object = object(&pieces.concat(), json!("stop"));
        object["usage"] = usage;
        return Reply::json(200, object);
    }
    let mut chunks: Vec<Value> = pieces.iter().map(|piece| object(piece, Value::Null)).collect();
    chunks.push(object("", json!("stop")));
    stream(chunks, is_true(body, "/stream_options/include_usage"), usage)
}
