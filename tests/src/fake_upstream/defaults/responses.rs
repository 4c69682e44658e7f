//! OpenAI's Responses API (`POST /v1/responses`): a `response` object whose
//! output is one `message` (or one `function_call`), or with `"stream": true`
//! the documented events, each with its `sequence_number`: `response.created`,
//! `response.in_progress`, `response.output_item.added`, then for text
//! `response.content_part.added`, `response.output_text.delta`s,
//! `response.output_text.done`, `response.content_part.done`, or for a call
//! `response.function_call_arguments.delta`s and `.done`; then
//! `response.output_item.done` and `response.completed`.

use serde_json::{Value, json};

use super::conversation::{Answer, Conversation, Tool, argument_pieces, image_type, text_of};
use super::{is_true, now, prompt_words};
use crate::fake_upstream::reply::{Chunk, Reply};

/// The conversation of a Responses request: the trailing
/// `function_call_output` items are its tool results, the last `user` item
/// its text and images.
fn conversation(body: &Value) -> Conversation<'_> {
    let mut conversation = Conversation::default();
    match body.get("input") {
        Some(Value::String(text)) => conversation.add_text(text),
        Some(Value::Array(items)) => {
            let kind = |item: &Value| item.get("type").and_then(Value::as_str).unwrap_or("message").to_owned();
            let outputs = items.iter().rev().take_while(|item| kind(item) == "function_call_output");
            let mut results: Vec<String> = outputs.map(|o| text_of(o.get("output").unwrap_or(&Value::Null))).collect();
            results.reverse();
            conversation.tool_results = results;
            let user = items.iter().rev().find(|item| item.get("role").and_then(Value::as_str) == Some("user"));
            match user.and_then(|user| user.get("content")) {
                Some(Value::Array(parts)) => {
                    for part in parts {
                        match part.get("type").and_then(Value::as_str) {
                            Some("input_text") => {
                                conversation.add_text(part.get("text").and_then(Value::as_str).unwrap_or(""));
                            }
                            Some("input_image") => {
                                let url = part.get("image_url").and_then(Value::as_str).unwrap_or("");
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
        _ => {}
    }
    let tools = body.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    conversation.tools = tools
        .iter()
        .filter(|tool| tool.get("type").and_then(Value::as_str) == Some("function"))
        .filter_map(|tool| Some(Tool { name: tool.get("name")?.as_str()?, parameters: tool.get("parameters") }))
        .collect();
    conversation
}

/// Numbers the events of a stream as they are written.
struct Events(Vec<Chunk>);

impl Events {
    fn push(&mut self, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.0.len());
        self.0.push(Chunk::bytes(format!("event: {kind}\ndata: {data}\n\n")));
    }
}

pub(super) fn create(body: &Value, model: &str, seq: u64) -> Reply {
    let answer = conversation(body).answer(model);
    let input_tokens = (prompt_words(body.get("instructions").unwrap_or(&Value::Null))
        + prompt_words(body.get("input").unwrap_or(&Value::Null)))
    .max(1);
    let output_tokens = answer.completion_tokens();
    let usage = json!({
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens
    });
    let id = format!("resp_fake{seq}");
    let created = now();
    let response = |status: &str, output: Vec<Value>, usage: Value| {
        let given = |key: &str, default: Value| body.get(key).cloned().unwrap_or(default);
        json!({
            "id": id,
            "object": "response",
            "created_at": created,
            "status": status,
            "background": false,
            "error": null,
            "incomplete_details": null,
            "instructions": given("instructions", Value::Null),
            "max_output_tokens": given("max_output_tokens", Value::Null),
            "model": model,
            "output": output,
            "parallel_tool_calls": given("parallel_tool_calls", json!(true)),
            "previous_response_id": given("previous_response_id", Value::Null),
            "reasoning": {"effort": null, "summary": null},
            "service_tier": "default",
            "store": given("store", json!(true)),
            "temperature": given("temperature", json!(1.0)),
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": given("tool_choice", json!("auto")),
            "tools": given("tools", json!([])),
            "top_p": given("top_p", json!(1.0)),
            "truncation": "disabled",
            "usage": usage,
            "user": null,
            "metadata": given("metadata", json!({}))
        })
    };
    let (item_id, call_id) = match answer {
        Answer::Text(_) => (format!("msg_fake{seq}"), String::new()),
        Answer::Call { .. } => (format!("fc_fake{seq}"), format!("call_fake{seq}_0")),
    };
    let text_part = |text: &str| json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
    let item = |status: &str| match &answer {
        Answer::Text(pieces) if status == "completed" => json!({
            "id": item_id, "type": "message", "status": status, "role": "assistant", "content": [text_part(&pieces.concat())]
        }),
        Answer::Text(_) => {
            json!({"id": item_id, "type": "message", "status": status, "role": "assistant", "content": []})
        }
        Answer::Call { name, arguments } => json!({
            "id": item_id,
            "type": "function_call",
            "status": status,
            "arguments": if status == "completed" { arguments.to_string() } else { String::new() },
            "call_id": call_id,
            "name": name
        }),
    };
    if !is_true(body, "/stream") {
        return Reply::json(200, response("completed", vec![item("completed")], usage));
    }
    let mut events = Events(Vec::new());
    events.push("response.created", json!({"response": response("in_progress", vec![], Value::Null)}));
    events.push("response.in_progress", json!({"response": response("in_progress", vec![], Value::Null)}));
    events.push("response.output_item.added", json!({"output_index": 0, "item": item("in_progress")}));
    match &answer {
        Answer::Text(pieces) => {
            let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
            let with = |extra: Value| {
                let mut data = at.clone();
                if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
                    data.extend(extra.clone());
                }
                data
            };
            events.push("response.content_part.added", with(json!({"part": text_part("")})));
            for piece in pieces {
                events.push("response.output_text.delta", with(json!({"delta": piece, "logprobs": []})));
            }
            let text = pieces.concat();
            events.push("response.output_text.done", with(json!({"text": text, "logprobs": []})));
            events.push("response.content_part.done", with(json!({"part": text_part(&text)})));
        }
        Answer::Call { name, arguments } => {
            let arguments = arguments.to_string();
            for piece in argument_pieces(&arguments) {
                events.push(
                    "response.function_call_arguments.delta",
                    json!({"item_id": item_id, "output_index": 0, "delta": piece}),
                );
            }
            events.push(
                "response.function_call_arguments.done",
                json!({"item_id": item_id, "output_index": 0, "name": name, "arguments": arguments}),
            );
        }
    }
    events.push("response.output_item.done", json!({"output_index": 0, "item": item("completed")}));
    events.push("response.completed", json!({"response": response("completed", vec![item("completed")], usage)}));
    Reply::sse(events.0)
}
