use super::*;

#[test]
fn the_prompt_is_counted_as_the_request_a_completion_would_send() {
    let chat = json!({
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"}
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    });
    let translated = request(chat.to_string().as_bytes()).unwrap();
    assert_eq!(translated.ask, Ask::CountTokens);
    assert_eq!(translated.model, "gemini-2.5-flash");
    assert!(!translated.stream && !translated.include_usage);
    let sent: Value = serde_json::from_slice(&translated.body).unwrap();
    let generate = &sent["generateContentRequest"];
    assert_eq!(sent.as_object().unwrap().len(), 1, "{sent}");
    assert_eq!(generate["model"], "models/gemini-2.5-flash");
    assert_eq!(generate["systemInstruction"], json!({"parts": [{"text": "Be brief."}]}));
    assert_eq!(generate["contents"], json!([{"role": "user", "parts": [{"text": "Weather in Paris?"}]}]));
    assert_eq!(generate["tools"][0]["functionDeclarations"][0]["name"], "weather");
    // What a completion could not send, a count cannot either: the same client error.
    let image = json!({"model": "g", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}]}]});
    assert!(matches!(request(image.to_string().as_bytes()), Err(TranslateError::Request(_))));
}

#[test]
fn total_tokens_become_input_tokens() {
    let body = json!({"totalTokens": 31, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]});
    let out: Value = serde_json::from_slice(&response(body.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(out, json!({"input_tokens": 31}));
    // proto3 JSON leaves a zero out.
    assert_eq!(response(b"{}").unwrap(), br#"{"input_tokens":0}"#);
    for bad in [&b"[1]"[..], b"{\"totalTokens\":\"x\"}", b"not json"] {
        assert!(matches!(response(bad), Err(TranslateError::Response(_))), "{}", String::from_utf8_lossy(bad));
    }
}
