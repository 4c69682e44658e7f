use super::*;

fn answer(gemini: Value) -> Value {
    serde_json::from_slice(&response(gemini.to_string().as_bytes(), "asked-model").unwrap()).unwrap()
}

#[test]
fn responses_map_text_thoughts_calls_and_usage() {
    let out = answer(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me think.", "thought": true},
            {"text": "It is "}, {"text": "sunny."},
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3,
                          "cachedContentTokenCount": 4, "totalTokenCount": 18},
        "modelVersion": "gemini-2.5-flash", "responseId": "abc"
    }));
    assert_eq!((out["id"].as_str(), out["object"].as_str()), (Some("chatcmpl-abc"), Some("chat.completion")));
    assert_eq!(out["model"], "gemini-2.5-flash");
    assert!(out["created"].as_u64().unwrap() > 1_700_000_000);
    let choice = &out["choices"][0];
    assert_eq!((choice["index"].as_u64(), choice["finish_reason"].as_str()), (Some(0), Some("tool_calls")));
    assert_eq!(choice["message"]["content"], "It is sunny.");
    assert_eq!(choice["message"]["reasoning_content"], "Let me think.");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_0"));
    assert_eq!(call["function"], json!({"name": "weather", "arguments": "{\"city\":\"Paris\"}"}));
    assert_eq!(call["extra_content"]["google"]["thought_signature"], "c2ln");
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
               "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 3}})
    );

    let out = answer(json!({"candidates": [
        {"content": {"parts": [{"text": "a"}]}, "finishReason": "MAX_TOKENS"},
        {"content": {"parts": [{"text": "b"}]}, "finishReason": "SAFETY", "index": 1},
        {"finishReason": "MALFORMED_FUNCTION_CALL", "index": 2}
    ], "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 3}}));
    assert_eq!(out["model"], "asked-model");
    assert!(out["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let reasons: Vec<_> =
        out["choices"].as_array().unwrap().iter().map(|c| (c["index"].clone(), c["finish_reason"].clone())).collect();
    assert_eq!(reasons, [(json!(0), json!("length")), (json!(1), json!("content_filter")), (json!(2), json!("stop"))]);
    assert_eq!(out["choices"][2]["message"]["content"], Value::Null);
    assert!(out["choices"][0]["message"].get("reasoning_content").is_none());
    assert_eq!(out["usage"]["total_tokens"], 5);
    assert!(matches!(response(b"[1]", "m"), Err(TranslateError::Response(_))));
}

#[test]
fn a_blocked_prompt_is_a_content_filter_choice() {
    let out = answer(json!({"promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}));
    assert_eq!(
        out["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null},
                "logprobs": null, "finish_reason": "content_filter"}])
    );
    assert_eq!(out["usage"]["prompt_tokens"], 4);
    assert!(matches!(response(b"{}", "m"), Err(TranslateError::Response(_))));
}

#[test]
fn error_messages_from_objects_and_arrays() {
    let object = br#"{"error": {"code": 429, "message": "Quota exceeded for metric", "status": "RESOURCE_EXHAUSTED"}}"#;
    assert_eq!(error_message(object).as_deref(), Some("RESOURCE_EXHAUSTED: Quota exceeded for metric"));
    let array = br#"[{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}]"#;
    assert_eq!(error_message(array).as_deref(), Some("INVALID_ARGUMENT: API key not valid."));
    assert_eq!(error_message(br#"{"error": {"code": 404, "message": "Not found"}}"#).as_deref(), Some("Not found"));
    assert_eq!(error_message(br#"{"message": "no"}"#), None);
    assert_eq!(error_message(b"<html>"), None);
}

#[test]
fn error_fields_name_the_field_and_the_status() {
    let body = br#"{"error": {"code": 400, "message": "Invalid value at 'generation_config.temperature'", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "generation_config.temperature", "description": "Invalid value"}]}]}}"#;
    assert_eq!(
        super::error_fields(body),
        (Some("generation_config.temperature".into()), Some("INVALID_ARGUMENT".into()))
    );
    assert_eq!(
        super::error_fields(br#"[{"error": {"code": 404, "message": "x", "status": "NOT_FOUND"}}]"#),
        (None, Some("NOT_FOUND".into()))
    );
    assert_eq!(super::error_fields(b"<html>"), (None, None));
}
