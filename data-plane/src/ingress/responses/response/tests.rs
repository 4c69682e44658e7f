//! Whole-answer translation, driven by OpenAI's documented chat completion examples.

use serde_json::{Value, json};

use super::*;
use crate::ingress::responses::request;

fn echo(body: Value) -> Echo {
    request(body.to_string().as_bytes()).unwrap().echo
}

/// The translated response, with `completed_at` (the wall clock) checked and removed.
fn translate(chat: Value, echo: &Echo) -> Value {
    let mut out: Value = serde_json::from_slice(&response(chat.to_string().as_bytes(), echo).unwrap()).unwrap();
    let completed_at = out.as_object_mut().unwrap().remove("completed_at").unwrap();
    match out["status"].as_str() {
        Some("completed") => assert!(completed_at.as_u64().unwrap() >= 1_741_570_283),
        _ => assert_eq!(completed_at, Value::Null),
    }
    out
}

fn usage() -> Value {
    json!({
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    })
}

#[test]
fn a_text_answer_is_a_completed_message() {
    let echo = echo(json!({"model": "gpt-4o", "instructions": "Be kind.", "input": "Hello", "temperature": 0.5}));
    let chat = json!({
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1_741_570_283,
        "model": "gpt-4o-2024-08-06",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?", "refusal": null,
                "annotations": []},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": usage(),
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035"
    });
    assert_eq!(
        translate(chat, &echo),
        json!({
            "id": "resp_B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "object": "response",
            "created_at": 1_741_570_283,
            "status": "completed",
            "background": false,
            "error": null,
            "incomplete_details": null,
            "instructions": "Be kind.",
            "max_output_tokens": null,
            "max_tool_calls": null,
            "model": "gpt-4o",
            "output": [{
                "id": "msg_B9MHDbslfkBeAs8l4bebGdFOJ6PeG_0",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello! How can I help you today?", "annotations": [],
                    "logprobs": []}]
            }],
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "reasoning": {"effort": null, "summary": null},
            "service_tier": "default",
            "store": false,
            "temperature": 0.5,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": null,
            "top_p": null,
            "truncation": "disabled",
            "usage": {
                "input_tokens": 1117,
                "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
                "output_tokens": 46,
                "output_tokens_details": {"reasoning_tokens": 12},
                "total_tokens": 1163
            },
            "metadata": {}
        })
    );
}

#[test]
fn reasoning_text_and_tool_calls_become_items_in_order() {
    let echo = echo(json!({"model": "deepseek-reasoner", "input": "Weather?",
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": true}]}));
    let chat = json!({
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1_741_570_283,
        "model": "deepseek-reasoner",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Let me check.",
                "reasoning_content": "The user wants weather in two cities.",
                "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]
            },
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20}
    });
    let out = translate(chat, &echo);
    assert_eq!(out["status"], json!("completed"));
    assert_eq!(
        out["output"],
        json!([
            {"id": "rs_abc_0", "type": "reasoning", "summary": [], "status": "completed",
             "content": [{"type": "reasoning_text", "text": "The user wants weather in two cities."}]},
            {"id": "msg_abc_1", "type": "message", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Let me check.", "annotations": [], "logprobs": []}]},
            {"id": "fc_abc_2", "type": "function_call", "status": "completed", "call_id": "call_1",
             "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"id": "fc_abc_3", "type": "function_call", "status": "completed", "call_id": "call_2",
             "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
        ])
    );
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 30})
    );
    assert_eq!(
        out["tools"],
        json!([{"type": "function", "name": "get_weather", "description": null, "parameters": {"type": "object"},
            "strict": true}])
    );
    // A tool call alone gives no empty message, and `reasoning` (vLLM's name) is read too.
    let chat = json!({"id": "chatcmpl-x", "created": 1_741_570_283, "choices": [{"index": 0, "message": {
        "role": "assistant", "content": null, "reasoning": "Think.",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]});
    let out = translate(chat, &echo);
    let types: Vec<&Value> = out["output"].as_array().unwrap().iter().map(|item| &item["type"]).collect();
    assert_eq!(types, [&json!("reasoning"), &json!("function_call")]);
}

#[test]
fn length_is_incomplete_with_the_last_item_incomplete() {
    let echo = echo(json!({"model": "m", "input": "Write a poem", "max_output_tokens": 16}));
    let chat = json!({
        "id": "chatcmpl-len",
        "created": 1_741_570_283,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Roses are red,",
            "reasoning_content": "A poem."}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 16, "total_tokens": 21}
    });
    let out = translate(chat, &echo);
    assert_eq!(out["status"], json!("incomplete"));
    assert_eq!(out["incomplete_details"], json!({"reason": "max_output_tokens"}));
    assert_eq!(out["max_output_tokens"], json!(16));
    assert_eq!(out["output"][0]["status"], json!("completed"));
    assert_eq!(out["output"][1]["status"], json!("incomplete"));
    assert_eq!(out["output"][1]["content"][0]["text"], json!("Roses are red,"));

    let chat = json!({"id": "chatcmpl-cf", "created": 1_741_570_283, "choices": [{"index": 0,
        "message": {"role": "assistant", "content": ""}, "finish_reason": "content_filter"}]});
    let out = translate(chat, &echo);
    assert_eq!(out["status"], json!("incomplete"));
    assert_eq!(out["incomplete_details"], json!({"reason": "content_filter"}));
    assert_eq!(out["output"][0]["status"], json!("incomplete"));
    assert!(out.get("usage").is_none(), "no usage given, none invented");
}

#[test]
fn refusals_annotations_and_logprobs_are_carried() {
    let echo = echo(json!({"model": "m", "input": "x", "include": ["message.output_text.logprobs"]}));
    let chat = json!({"id": "chatcmpl-r", "created": 1_741_570_283, "choices": [{"index": 0,
        "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."},
        "finish_reason": "stop"}]});
    let out = translate(chat, &echo);
    assert_eq!(out["output"][0]["content"], json!([{"type": "refusal", "refusal": "I can't help with that."}]));

    let chat = json!({"id": "chatcmpl-a", "created": 1_741_570_283, "choices": [{"index": 0,
        "message": {"role": "assistant", "content": "See example.com.", "annotations": [
            {"type": "url_citation", "url_citation": {"start_index": 4, "end_index": 15, "url": "https://example.com/",
                "title": "Example"}}]},
        "logprobs": {"content": [
            {"token": "See", "logprob": -0.1, "bytes": [83, 101, 101],
             "top_logprobs": [{"token": "See", "logprob": -0.1, "bytes": [83, 101, 101]},
                              {"token": "Look", "logprob": -2.5, "bytes": null}]}],
            "refusal": null},
        "finish_reason": "stop"}]});
    let out = translate(chat, &echo);
    assert_eq!(
        out["output"][0]["content"],
        json!([{
            "type": "output_text",
            "text": "See example.com.",
            "annotations": [{"type": "url_citation", "url": "https://example.com/", "title": "Example",
                "start_index": 4, "end_index": 15}],
            "logprobs": [{"token": "See", "logprob": -0.1, "bytes": [83, 101, 101], "top_logprobs": [
                {"token": "See", "logprob": -0.1, "bytes": [83, 101, 101]},
                {"token": "Look", "logprob": -2.5, "bytes": []}]}]
        }])
    );
}

#[test]
fn ids_come_from_the_chat_id_or_are_made() {
    let echo = echo(json!({"model": "m", "input": "x"}));
    let chat = json!({"id": "msg_01", "created": 1, "choices": [{"index": 0,
        "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]});
    let mut out: Value = serde_json::from_slice(&response(chat.to_string().as_bytes(), &echo).unwrap()).unwrap();
    assert_eq!(out["id"], json!("resp_msg_01"));
    assert_eq!(out["output"][0]["id"], json!("msg_msg_01_0"));
    assert_eq!(out["created_at"], json!(1));

    let chat = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
        "finish_reason": "stop"}]});
    out = serde_json::from_slice(&response(chat.to_string().as_bytes(), &echo).unwrap()).unwrap();
    let id = out["id"].as_str().unwrap();
    assert!(id.len() == "resp_".len() + 24 && id.starts_with("resp_"), "{id}");
    assert!(out["created_at"].as_u64().unwrap() > 1_700_000_000);
}

#[test]
fn answers_that_are_not_chat_completions_fail() {
    let echo = echo(json!({"model": "m", "input": "x"}));
    let fail = |chat: &[u8]| match response(chat, &echo) {
        Err(TranslateError::Response(message)) => message,
        other => panic!("expected a response error, got {other:?}"),
    };
    assert_eq!(fail(br#"{"error":{"message":"Overloaded","type":"server_error"}}"#), "Overloaded");
    assert_eq!(fail(br#"{"id":"x","choices":[]}"#), "a chat completion without choices");
    assert!(fail(b"nope").starts_with("a chat completion that does not parse"));
    assert_eq!(
        fail(br#"{"choices":[{"index":0,"message":{"tool_calls":[{"id":"c","type":"custom","custom":{}}]}}]}"#),
        "a chat completion with a custom tool call"
    );
}
