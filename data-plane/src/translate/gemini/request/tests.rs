use super::*;

fn translate(openai: Value) -> Value {
    let translated = request(openai.to_string().as_bytes()).unwrap();
    serde_json::from_slice(&translated.body).unwrap()
}

fn request_error(openai: Value) -> String {
    match request(openai.to_string().as_bytes()) {
        Err(TranslateError::Request(message)) => message,
        other => panic!("expected a request error, got {other:?}"),
    }
}

#[test]
fn system_messages_become_the_system_instruction() {
    let sent = translate(json!({"model": "m", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hello"}
    ]}));
    assert_eq!(sent["systemInstruction"], json!({"parts": [{"text": "Be brief.\n\nAnswer in French."}]}));
    assert_eq!(sent["contents"], json!([{"role": "user", "parts": [{"text": "Hello"}]}]));
    assert!(sent.get("model").is_none() && sent.get("generationConfig").is_none());
    let translated = request(br#"{"model":"g","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}"#).unwrap();
    assert_eq!((translated.model.as_str(), translated.stream, translated.include_usage), ("g", true, true));
    assert_eq!(request_error(json!({"messages": [{"role": "user", "content": "x"}]})), "model: required");
}

#[test]
fn roles_map_and_consecutive_turns_merge() {
    let sent = translate(json!({"model": "m", "messages": [
        {"role": "user", "content": "a"},
        {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
        {"role": "user", "content": "e"}
    ], "user": "u1", "store": false, "metadata": {"k": "v"}, "parallel_tool_calls": true, "modalities": ["text"]}));
    assert_eq!(
        sent["contents"],
        json!([
            {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
            {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
            {"role": "user", "parts": [{"text": "e"}]}
        ])
    );
    assert!(
        request_error(json!({"model": "m", "messages": [{"role": "function", "content": "x"}]}))
            .starts_with("messages[0].role: \"function\"")
    );
}

#[test]
fn tool_calls_and_results_round_trip() {
    let sent = translate(json!({"model": "m", "messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{\"city\":\"Rome\"}"}}
        ]},
        {"role": "tool", "tool_call_id": "call_b", "content": "{\"time\":\"12:00\"}"},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"}
    ]}));
    assert_eq!(
        sent["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": PLACEHOLDER_SIGNATURE},
            {"functionCall": {"name": "time", "args": {"city": "Rome"}}}
        ]})
    );
    assert_eq!(
        sent["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "time", "response": {"time": "12:00"}}},
            {"functionResponse": {"name": "weather", "response": {"content": "sunny"}}}
        ]})
    );
    // A signature the client kept is sent back instead of the placeholder.
    let sent = translate(json!({"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": ""}, "extra_content": {"google": {"thought_signature": "c2ln"}}}]}
    ]}));
    assert_eq!(
        sent["contents"][1]["parts"][0],
        json!({"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"})
    );
    let unknown = request_error(json!({"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "call_zz", "content": "r"}
    ]}));
    assert!(unknown.starts_with("messages[1].tool_call_id: \"call_zz\""), "{unknown}");
    let invalid = request_error(json!({"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}
    ]}));
    assert_eq!(invalid, "messages[1].tool_calls[0].function.arguments: not a JSON object");
}

#[test]
fn images_and_audio_become_inline_or_file_data() {
    let sent = translate(json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.WEBP?size=large"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/photo"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    ]}]}));
    assert_eq!(
        sent["contents"][0]["parts"],
        json!([
            {"text": "What is this?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.WEBP?size=large"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photo"}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}
        ])
    );
    let err = request_error(json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}]}]}));
    assert!(err.starts_with("messages[0].content[0].image_url.url:"), "{err}");
}

#[test]
fn unsupported_parts_and_fields_are_named() {
    let err = request_error(json!({"model": "m", "messages": [
        {"role": "system", "content": "s"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "file", "file": {"file_id": "f"}}]}
    ]}));
    assert_eq!(err, "messages[2].content[1].type: \"file\" is not supported by gemini providers");
    let err = request_error(json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "x", "format": "flac"}}]}]}));
    assert_eq!(err, "messages[0].content[0].input_audio.format: \"flac\" is not supported by gemini providers");
    let err = request_error(json!({"model": "m", "logprobs": true, "messages": [{"role": "user", "content": "x"}]}));
    assert!(err.starts_with("logprobs:"), "{err}");
}

#[test]
fn generation_config_maps_sampling_format_and_reasoning() {
    let sent = translate(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0.5, "top_p": 0.9, "stop": "END", "n": 2,
        "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2, "logprobs": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
        "reasoning_effort": "medium"}));
    assert_eq!(
        sent["generationConfig"],
        json!({
            "maxOutputTokens": 20, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"], "candidateCount": 2,
            "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.2, "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}
        })
    );
    let sent = translate(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5,
        "stop": ["a", "b"], "response_format": {"type": "json_object"}, "reasoning_effort": "high"}));
    assert_eq!(
        sent["generationConfig"],
        json!({"maxOutputTokens": 5, "stopSequences": ["a", "b"], "responseMimeType": "application/json",
               "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": true}})
    );
    let low =
        translate(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"}));
    assert_eq!(low["generationConfig"]["thinkingConfig"]["thinkingBudget"], 1024);
}

#[test]
fn tools_and_tool_choice() {
    let weather = json!({"type": "function", "function": {"name": "weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}}});
    let bare = json!({"type": "function", "function": {"name": "ping"}});
    let base = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [weather, bare]});
    let sent = translate(base.clone());
    assert_eq!(
        sent["tools"],
        json!([{"functionDeclarations": [
            {"name": "weather", "description": "Weather now", "parametersJsonSchema":
                {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}},
            {"name": "ping"}
        ]}])
    );
    assert!(sent.get("toolConfig").is_none());
    for (choice, config) in [
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("none"), json!({"mode": "NONE"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "function", "function": {"name": "ping"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["ping"]}),
        ),
    ] {
        let mut with_choice = base.clone();
        with_choice["tool_choice"] = choice;
        assert_eq!(translate(with_choice)["toolConfig"], json!({"functionCallingConfig": config}));
    }
    let mut custom = base;
    custom["tools"] = json!([{"type": "custom", "custom": {"name": "x"}}]);
    assert_eq!(request_error(custom), "tools[0].type: \"custom\" is not supported by gemini providers");
}
