//! Response translation and error bodies.

use super::*;

fn completion(body: Value) -> Value {
    serde_json::from_slice(&response(body.to_string().as_bytes()).unwrap()).unwrap()
}

#[test]
fn response_with_text_tool_use_and_thinking() {
    let out = completion(json!({
        "id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "The user wants weather.", "signature": "sig"},
            {"type": "text", "text": "Let me check "},
            {"type": "text", "text": "that."},
            {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"location": "Paris"}},
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 40, "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 50},
    }));
    assert!(out["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        out,
        json!({
            "id": "chatcmpl-msg_01Aq9w938a90dw8q",
            "object": "chat.completion",
            "created": out["created"],
            "model": "claude-sonnet-4-5-20250929",
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me check that.",
                    "reasoning_content": "The user wants weather.",
                    "tool_calls": [{"id": "toolu_01A", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}],
                    "refusal": null,
                },
                "logprobs": null,
                "finish_reason": "tool_calls",
            }],
            "usage": {
                "prompt_tokens": 2150, "completion_tokens": 40, "total_tokens": 2190,
                "prompt_tokens_details": {"cached_tokens": 2000},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        })
    );
}

#[test]
fn response_stop_reasons_and_empty_content() {
    let with = |stop: Value| {
        completion(json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "c", "content": [],
            "stop_reason": stop, "usage": {"input_tokens": 3, "output_tokens": 0}}))
    };
    for (stop, finish) in [
        (json!("end_turn"), "stop"),
        (json!("stop_sequence"), "stop"),
        (json!("max_tokens"), "length"),
        (json!("tool_use"), "tool_calls"),
        (json!("refusal"), "content_filter"),
        (json!("pause_turn"), "stop"),
        (Value::Null, "stop"),
    ] {
        let out = with(stop.clone());
        assert_eq!(out["choices"][0]["finish_reason"], json!(finish), "{stop}");
        assert_eq!(out["choices"][0]["message"], json!({"role": "assistant", "content": null, "refusal": null}));
        assert_eq!(out["usage"]["prompt_tokens_details"], json!({"cached_tokens": 0}));
        assert_eq!(out["usage"]["total_tokens"], json!(3));
    }
}

#[test]
fn response_that_is_not_a_message_is_refused() {
    for body in [&br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#[..], b"nope", b"{}"]
    {
        assert!(matches!(response(body), Err(TranslateError::Response(_))));
    }
}

#[test]
fn error_message_extraction() {
    let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#;
    assert_eq!(error_message(body).as_deref(), Some("overloaded_error: Overloaded"));
    assert_eq!(error_message(br#"{"error":{"message":"x"}}"#), None);
    assert_eq!(error_message(b"<html>bad gateway</html>"), None);
}

#[test]
fn error_fields_carry_the_error_type_as_code() {
    let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}"#;
    assert_eq!(super::error_fields(body), (None, Some("invalid_request_error".into())));
    assert_eq!(super::error_fields(b"nope"), (None, None));
}
