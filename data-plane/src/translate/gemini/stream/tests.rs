use super::*;

fn run(stream: &mut Stream, events: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for event in events {
        out.extend(stream.event(None, &event.to_string()).unwrap());
    }
    out.extend(stream.finish().unwrap());
    out.iter().map(|chunk| serde_json::from_str(chunk).unwrap()).collect()
}

fn stream_events() -> Vec<Value> {
    let meta = |candidates: u64| json!({"promptTokenCount": 12, "candidatesTokenCount": candidates, "totalTokenCount": 12 + candidates});
    vec![
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking the"}]}, "index": 0}],
               "usageMetadata": meta(2), "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": " weather"}]}, "index": 0}],
               "usageMetadata": meta(3), "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "."}]}, "index": 0}],
               "usageMetadata": meta(4), "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [
                   {"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]}, "index": 0}],
               "usageMetadata": meta(9), "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
               "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 9, "thoughtsTokenCount": 6,
                                 "totalTokenCount": 27}, "modelVersion": "gemini-2.5-flash", "responseId": "r9"}),
    ]
}

#[test]
fn a_stream_becomes_chunks_with_a_usage_chunk() {
    let chunks = run(&mut Stream::new("flash", true), &stream_events());
    for chunk in &chunks {
        assert_eq!(
            (chunk["id"].as_str(), chunk["object"].as_str()),
            (Some("chatcmpl-r9"), Some("chat.completion.chunk"))
        );
        assert_eq!(
            (chunk["model"].as_str(), chunk["created"].clone()),
            (Some("gemini-2.5-flash"), chunks[0]["created"].clone())
        );
    }
    let mut choices: Vec<Value> = chunks.iter().map(|c| c["choices"].clone()).collect();
    let call = &mut choices[4][0]["delta"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_0"));
    call["id"] = json!("ID");
    let choice =
        |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let call = json!({"index": 0, "id": "ID", "type": "function",
        "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}});
    assert_eq!(
        choices,
        [
            choice(json!({"role": "assistant", "content": ""}), Value::Null),
            choice(json!({"content": "Checking the"}), Value::Null),
            choice(json!({"content": " weather"}), Value::Null),
            choice(json!({"content": "."}), Value::Null),
            choice(json!({"tool_calls": [call]}), Value::Null),
            choice(json!({}), json!("tool_calls")),
            json!([]),
        ]
    );
    let last = chunks.last().unwrap();
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 15, "total_tokens": 27,
               "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 6}})
    );
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c["usage"].is_null() && c.get("usage").is_some()));
}

#[test]
fn a_stream_without_usage_has_no_usage_member() {
    let chunks = run(&mut Stream::new("flash", false), &stream_events());
    assert_eq!(chunks.len(), 6);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn a_stream_needs_a_finish_reason_and_reports_errors() {
    let mut stream = Stream::new("flash", true);
    let event = json!({"candidates": [{"content": {"parts": [{"text": "Hi", "thought": true}]}}]});
    let chunks = stream.event(None, &event.to_string()).unwrap();
    assert_eq!(chunks.len(), 2);
    assert!(chunks[1].contains(r#""reasoning_content":"Hi""#));
    assert_eq!(stream.finish(), Err(TranslateError::Response("the stream ended before a finish reason".into())));
    let error = r#"{"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}"#;
    assert_eq!(stream.event(None, error), Err(TranslateError::Response("INTERNAL: Internal error".into())));
    let mut blocked = Stream::new("flash", false);
    let chunks = run(&mut blocked, &[json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})]);
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "content_filter");
}
