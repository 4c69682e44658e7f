//! Request translation: messages, content parts, options and refusals.

use super::*;

fn translate(body: Value) -> Value {
    let t = request(body.to_string().as_bytes(), None).unwrap();
    serde_json::from_slice(&t.body).unwrap()
}

fn refused(body: Value) -> String {
    match request(body.to_string().as_bytes(), None) {
        Err(TranslateError::Request(message)) => message,
        other => panic!("expected a request error, got {other:?}"),
    }
}

#[test]
fn system_and_developer_messages_are_joined() {
    let out = translate(json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
        ],
    }));
    assert_eq!(
        out,
        json!({
            "model": "claude-sonnet-4-5",
            "system": "You are terse.\n\nAnswer in French.",
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 4096,
        })
    );
}

#[test]
fn roles_merge_and_tool_calls_round_trip() {
    let out = translate(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "user", "content": [{"type": "text", "text": "Celsius please."}]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
            {"role": "user", "content": "Thanks"},
        ],
    }));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Paris and Rome?"},
                {"type": "text", "text": "Celsius please."},
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
                {"type": "text", "text": "Thanks"},
            ]},
        ])
    );
}

#[test]
fn tool_results_go_before_text_in_a_merged_user_message() {
    let out = translate(json!({"model": "m", "messages": [
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}},
        ]},
        {"role": "user", "content": "meanwhile"},
        {"role": "tool", "tool_call_id": "c", "content": "done"},
    ]}));
    assert_eq!(out["messages"][0]["content"], json!([{"type": "tool_use", "id": "c", "name": "f", "input": {}}]));
    assert_eq!(
        out["messages"][1]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "c", "content": "done"},
            {"type": "text", "text": "meanwhile"},
        ])
    );
}

#[test]
fn bad_tool_arguments_and_function_role_are_refused() {
    let message = refused(json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]},
    ]}));
    assert!(message.starts_with("messages[1].tool_calls[0].function.arguments: not valid JSON"), "{message}");
    let message = refused(json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "function", "name": "f", "content": "x"},
    ]}));
    assert!(message.starts_with("messages[1].role: \"function\""), "{message}");
}

#[test]
fn images_base64_and_url() {
    let out = translate(json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]}]}));
    assert_eq!(
        out["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Compare"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        ])
    );
}

#[test]
fn unsupported_part_names_its_path() {
    let message = refused(json!({"model": "m", "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a"},
        {"role": "user", "content": [
            {"type": "text", "text": "listen"},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        ]},
    ]}));
    assert_eq!(message, "messages[2].content[1].type: \"input_audio\" is not supported by anthropic providers");
    let message = refused(json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "f"}},
    ]}]}));
    assert_eq!(message, "messages[0].content[0].type: \"file\" is not supported by anthropic providers");
}

#[test]
fn malformed_requests_are_refused() {
    assert!(matches!(request(b"{not json", None), Err(TranslateError::Request(_))));
    assert!(matches!(request(b"[]", None), Err(TranslateError::Request(_))));
    assert!(refused(json!({"model": "m"})).starts_with("messages:"));
    assert!(refused(json!({"model": "m", "messages": [], "n": 2})).starts_with("n:"));
    let user = json!([{"role": "user", "content": "hi"}]);
    assert!(refused(json!({"model": "m", "messages": user, "logprobs": true})).starts_with("logprobs:"));
    let schema = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}});
    let message = refused(json!({"model": "m", "messages": user, "response_format": schema}));
    assert_eq!(message, "response_format.type: \"json_schema\" is not supported by anthropic providers");
    // Harmless options pass.
    translate(json!({"model": "m", "messages": user, "n": 1, "logprobs": false, "seed": 7, "presence_penalty": 0.5,
        "response_format": {"type": "json_object"}, "modalities": ["text"], "store": true, "service_tier": "auto"}));
}

#[test]
fn max_tokens_default_and_override() {
    let user = json!([{"role": "user", "content": "hi"}]);
    let body = json!({"model": "m", "messages": user}).to_string();
    let max = |t: Translated| serde_json::from_slice::<Value>(&t.body).unwrap()["max_tokens"].clone();
    assert_eq!(max(request(body.as_bytes(), None).unwrap()), json!(4096));
    assert_eq!(max(request(body.as_bytes(), Some(1000)).unwrap()), json!(1000));
    let body = json!({"model": "m", "messages": user, "max_tokens": 50}).to_string();
    assert_eq!(max(request(body.as_bytes(), Some(1000)).unwrap()), json!(50));
    let body = json!({"model": "m", "messages": user, "max_tokens": 50, "max_completion_tokens": 70}).to_string();
    assert_eq!(max(request(body.as_bytes(), Some(1000)).unwrap()), json!(70));
    // Thinking needs room beyond its budget.
    let out = translate(json!({"model": "m", "messages": user, "max_tokens": 500, "reasoning_effort": "medium"}));
    assert_eq!(out["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
    assert_eq!(out["max_tokens"], json!(4596));
}

#[test]
fn sampling_stop_stream_and_user() {
    let t = request(
        json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}], "temperature": 1.7,
            "top_p": 0.9, "stop": "END", "stream": true, "stream_options": {"include_usage": true}, "user": "u-1"})
        .to_string()
        .as_bytes(),
        None,
    )
    .unwrap();
    assert!(t.stream && t.include_usage);
    assert_eq!(t.model, "claude-x");
    let out: Value = serde_json::from_slice(&t.body).unwrap();
    assert_eq!(out["temperature"], json!(1.0));
    assert_eq!(out["top_p"], json!(0.9));
    assert_eq!(out["stop_sequences"], json!(["END"]));
    assert_eq!(out["stream"], json!(true));
    assert_eq!(out["metadata"], json!({"user_id": "u-1"}));
    let out = translate(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b"]}));
    assert_eq!(out["stop_sequences"], json!(["a", "b"]));
}

#[test]
fn tools_and_tool_choice_variants() {
    let with = |extra: Value| {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [
            {"type": "function", "function": {"name": "f", "description": "does f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "g"}},
        ]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        translate(body)
    };
    let out = with(json!({}));
    assert_eq!(
        out["tools"],
        json!([
            {"name": "f", "description": "does f", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
            {"name": "g", "input_schema": {"type": "object", "properties": {}}},
        ])
    );
    assert!(out.get("tool_choice").is_none());
    assert_eq!(with(json!({"tool_choice": "auto"}))["tool_choice"], json!({"type": "auto"}));
    assert_eq!(with(json!({"tool_choice": "required"}))["tool_choice"], json!({"type": "any"}));
    assert_eq!(with(json!({"tool_choice": "none"}))["tool_choice"], json!({"type": "none"}));
    assert_eq!(
        with(json!({"tool_choice": {"type": "function", "function": {"name": "g"}}}))["tool_choice"],
        json!({"type": "tool", "name": "g"})
    );
    assert_eq!(
        with(json!({"parallel_tool_calls": false}))["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        with(json!({"tool_choice": "required", "parallel_tool_calls": false}))["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    assert_eq!(with(json!({"parallel_tool_calls": true})).get("tool_choice"), None);
}
