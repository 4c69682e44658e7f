//! Whole answers: a `chat.completion` in, an Anthropic `message` out.

use serde_json::json;

use super::*;

fn message(chat: Value) -> Value {
    serde_json::from_slice(&response(chat.to_string().as_bytes(), "claude-sonnet-4-5").unwrap()).unwrap()
}

fn failed(chat: Value) -> String {
    match response(chat.to_string().as_bytes(), "m") {
        Err(TranslateError::Response(message)) => message,
        other => panic!("expected a response error, got {other:?}"),
    }
}

fn completion(message: Value, finish_reason: Value) -> Value {
    json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion", "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}},
    })
}

#[test]
fn text_answer() {
    let out = message(completion(
        json!({"role": "assistant", "content": "Hello! How can I help?", "refusal": null, "annotations": []}),
        json!("stop"),
    ));
    assert_eq!(
        out,
        json!({
            "id": "msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hello! How can I help?", "citations": null}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "container": null,
            "usage": {"input_tokens": 19, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 10, "cache_creation": null, "server_tool_use": null, "service_tier": null},
        })
    );
}

#[test]
fn reasoning_text_and_tool_calls_with_cached_usage() {
    let mut chat = completion(
        json!({
            "role": "assistant",
            "reasoning_content": "The user wants the weather in two cities.",
            "content": "Checking both.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
            ],
        }),
        json!("tool_calls"),
    );
    chat["usage"] = json!({"prompt_tokens": 2100, "completion_tokens": 60, "total_tokens": 2160,
        "prompt_tokens_details": {"cached_tokens": 2000}, "completion_tokens_details": {"reasoning_tokens": 20}});
    let out = message(chat);
    assert_eq!(
        out["content"],
        json!([
            {"type": "thinking", "thinking": "The user wants the weather in two cities.", "signature": ""},
            {"type": "text", "text": "Checking both.", "citations": null},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
        ])
    );
    assert_eq!(out["stop_reason"], json!("tool_use"));
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 100, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2000, "output_tokens": 60, "cache_creation": null, "server_tool_use": null, "service_tier": null})
    );
}

#[test]
fn stop_reasons() {
    let text = json!({"role": "assistant", "content": "x"});
    let call = json!({"role": "assistant", "content": null,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]});
    let stop = |message: &Value, finish: Value| {
        let out = self::message(completion(message.clone(), finish));
        (out["stop_reason"].clone(), out["stop_sequence"].clone())
    };
    assert_eq!(stop(&text, json!("stop")), (json!("end_turn"), Value::Null));
    assert_eq!(stop(&text, Value::Null), (json!("end_turn"), Value::Null));
    assert_eq!(stop(&text, json!("length")), (json!("max_tokens"), Value::Null));
    assert_eq!(stop(&text, json!("content_filter")), (json!("refusal"), Value::Null));
    assert_eq!(stop(&call, json!("tool_calls")), (json!("tool_use"), Value::Null));
    // Gemini's chat endpoint ends tool calls with "stop".
    assert_eq!(stop(&call, json!("stop")), (json!("tool_use"), Value::Null));
    assert_eq!(stop(&call, json!("length")), (json!("max_tokens"), Value::Null));

    // vLLM names the stop string that matched.
    let mut vllm = completion(text.clone(), json!("stop"));
    vllm["choices"][0]["stop_reason"] = json!("END");
    let out = message(vllm.clone());
    assert_eq!((&out["stop_reason"], &out["stop_sequence"]), (&json!("stop_sequence"), &json!("END")));
    // A stop token id is not a stop sequence.
    vllm["choices"][0]["stop_reason"] = json!(128009);
    assert_eq!(message(vllm)["stop_reason"], json!("end_turn"));
}

#[test]
fn refusal_is_text_with_the_refusal_stop_reason() {
    let out = message(completion(
        json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
        json!("stop"),
    ));
    assert_eq!(out["content"], json!([{"type": "text", "text": "I can't help with that.", "citations": null}]));
    assert_eq!(out["stop_reason"], json!("refusal"));
}

#[test]
fn empty_answer_has_no_blocks_and_reasoning_field_is_read() {
    let out = message(completion(json!({"role": "assistant", "content": ""}), json!("stop")));
    assert_eq!(out["content"], json!([]));
    let out = message(completion(json!({"role": "assistant", "content": "4", "reasoning": "2+2"}), json!("stop")));
    assert_eq!(
        out["content"],
        json!([{"type": "thinking", "thinking": "2+2", "signature": ""}, {"type": "text", "text": "4", "citations": null}])
    );
}

#[test]
fn ids_without_prefix_or_missing() {
    let mut chat = completion(
        json!({"role": "assistant", "content": "x",
        "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        json!("tool_calls"),
    );
    chat["id"] = json!("gen-123");
    let out = message(chat.clone());
    assert_eq!(out["id"], json!("msg_gen-123"));
    assert_eq!(out["content"][1]["id"], json!("toolu_gen-123_0"));

    chat.as_object_mut().unwrap().remove("id");
    let id = message(chat)["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("msg_") && id.len() == 28 && id[4..].chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
}

#[test]
fn without_usage_the_output_is_estimated() {
    let mut chat = completion(json!({"role": "assistant", "content": "The quick brown fox jumps."}), json!("stop"));
    chat.as_object_mut().unwrap().remove("usage");
    let usage = &message(chat.clone())["usage"];
    let expected = estimate::response_tokens(chat.to_string().as_bytes()).0;
    assert!(expected > 0);
    assert_eq!(
        usage,
        &json!({"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": expected, "cache_creation": null, "server_tool_use": null, "service_tier": null})
    );
}

#[test]
fn arguments_that_are_not_an_object_fail_the_answer() {
    let call = |arguments: &str| {
        completion(
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "f", "arguments": arguments}},
            ]}),
            json!("tool_calls"),
        )
    };
    assert!(
        failed(call("{\"city\": \"Par")).starts_with(
            "choices[0].message.tool_calls[1].function.arguments: the tool call's arguments are not valid JSON ("
        ),
        "{}",
        failed(call("{\"city\": \"Par"))
    );
    assert_eq!(
        failed(call("[1, 2]")),
        "choices[0].message.tool_calls[1].function.arguments: the tool call's arguments are not a JSON object"
    );
    assert_eq!(message(call("  "))["content"][1], json!({"type": "tool_use", "id": "b", "name": "f", "input": {}}));
}

#[test]
fn answers_that_are_not_a_completion_fail() {
    assert!(failed(json!("x")).contains("no choices"));
    assert_eq!(failed(json!({"choices": []})), "the chat answer has no choices");
    assert_eq!(failed(json!({"choices": [{"index": 0}]})), "choices[0].message: an object is required");
    assert_eq!(
        failed(json!({"choices": [{"message": {"tool_calls": [{"function": {}}]}}]})),
        "choices[0].message.tool_calls[0].function.name: a string is required"
    );
    assert!(
        matches!(response(b"<html>", "m"), Err(TranslateError::Response(m)) if m.starts_with("the chat answer is not JSON"))
    );
}
