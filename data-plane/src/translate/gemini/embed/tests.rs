use super::*;

fn translate(openai: Value) -> (Value, Translated) {
    let translated = request(openai.to_string().as_bytes()).unwrap();
    (serde_json::from_slice(&translated.body).unwrap(), translated)
}

fn request_error(openai: Value) -> String {
    match request(openai.to_string().as_bytes()) {
        Err(TranslateError::Request(message)) => message,
        other => panic!("expected a request error, got {other:?}"),
    }
}

fn answer(body: Value, ask: Ask) -> (Value, bool) {
    let answer = response(body.to_string().as_bytes(), "gemini-embedding-001", ask).unwrap();
    (serde_json::from_slice(&answer.body).unwrap(), answer.usage_estimated)
}

#[test]
fn each_input_becomes_one_request_of_the_batch() {
    let (sent, translated) = translate(json!({
        "model": "gemini-embedding-001", "input": ["first text", "second"], "dimensions": 256, "user": "u1"
    }));
    assert_eq!(
        sent,
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "first text"}]}, "outputDimensionality": 256},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "second"}]}, "outputDimensionality": 256}
        ]})
    );
    assert_eq!(translated.model, "gemini-embedding-001");
    assert!(!translated.stream);
    let Ask::Embeddings { inputs, base64, estimated_tokens } = translated.ask else { panic!("{:?}", translated.ask) };
    assert_eq!((inputs, base64), (2, false));
    assert_eq!(estimated_tokens, crate::usage::estimate::text_tokens("first text") + 1);

    // One string is a batch of one; no dimensions, no outputDimensionality.
    let (sent, translated) = translate(json!({"model": "models/e", "input": "hello", "encoding_format": "base64"}));
    assert_eq!(sent, json!({"requests": [{"model": "models/e", "content": {"parts": [{"text": "hello"}]}}]}));
    assert!(matches!(translated.ask, Ask::Embeddings { inputs: 1, base64: true, .. }));
}

#[test]
fn token_ids_and_malformed_inputs_are_refused_naming_the_field() {
    for input in [json!([1, 2, 3]), json!([[1, 2], [3]])] {
        let message = request_error(json!({"model": "e", "input": input}));
        assert!(message.starts_with("input: token ids are not supported by gemini providers"), "{message}");
    }
    assert_eq!(request_error(json!({"model": "e"})), "input: required");
    assert_eq!(request_error(json!({"model": "e", "input": []})), "input: must not be an empty array");
    assert_eq!(request_error(json!({"model": "e", "input": ""})), "input: must not be an empty string");
    assert_eq!(request_error(json!({"model": "e", "input": ["a", ""]})), "input[1]: must not be an empty string");
    assert_eq!(request_error(json!({"model": "e", "input": ["a", {"x": 1}]})), "input[1]: {\"x\":1} is not a string");
    assert_eq!(request_error(json!({"model": "e", "input": 7})), "input: 7 is not a string or an array of strings");
    assert_eq!(request_error(json!({"input": "a"})), "model: required");
    assert_eq!(
        request_error(json!({"model": "e", "input": "a", "dimensions": 0})),
        "dimensions: a positive integer is required"
    );
    assert_eq!(
        request_error(json!({"model": "e", "input": "a", "encoding_format": "int8"})),
        "encoding_format: \"int8\" is not one of \"float\", \"base64\""
    );
}

#[test]
fn embeddings_come_back_as_openais_list_with_the_reported_usage() {
    let ask = Ask::Embeddings { inputs: 2, base64: false, estimated_tokens: 99 };
    let body = json!({
        "embeddings": [{"values": [0.1, -0.25, 3]}, {"values": [0.0023064255, 1e-7]}],
        "usageMetadata": {"promptTokenCount": 7, "promptTokenDetails": [{"modality": "TEXT", "tokenCount": 7}]}
    });
    let (list, estimated) = answer(body, ask);
    assert_eq!(
        list,
        json!({
            "object": "list",
            "data": [
                {"object": "embedding", "index": 0, "embedding": [0.1, -0.25, 3.0]},
                {"object": "embedding", "index": 1, "embedding": [0.0023064255, 1e-7]}
            ],
            "model": "gemini-embedding-001",
            "usage": {"prompt_tokens": 7, "total_tokens": 7}
        })
    );
    assert!(!estimated);
}

#[test]
fn without_usage_metadata_the_estimate_is_stated_and_flagged() {
    let ask = Ask::Embeddings { inputs: 1, base64: false, estimated_tokens: 5 };
    let (list, estimated) = answer(json!({"embeddings": [{"values": [0.5]}]}), ask);
    assert_eq!(list["usage"], json!({"prompt_tokens": 5, "total_tokens": 5}));
    assert!(estimated);
}

#[test]
fn base64_is_little_endian_f32_as_openai_sends_it() {
    let ask = Ask::Embeddings { inputs: 1, base64: true, estimated_tokens: 1 };
    let (list, _) = answer(json!({"embeddings": [{"values": [1.0, -2.5, 0.1]}]}), ask);
    let encoded = list["data"][0]["embedding"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    let floats: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(floats, [1.0, -2.5, 0.1f32]);
    // 1.0f32 is 00 00 80 3f: the first four bytes.
    assert!(encoded.starts_with("AACAP"), "{encoded}");
}

#[test]
fn answers_that_do_not_match_the_request_are_refused() {
    let ask = Ask::Embeddings { inputs: 2, base64: false, estimated_tokens: 1 };
    for body in [
        json!({"embeddings": [{"values": [0.1]}]}),
        json!({"embeddings": [{"values": [0.1]}, {"values": []}]}),
        json!({"embeddings": [{"values": [0.1]}, {"values": ["x"]}]}),
        json!({"error": {"code": 500, "message": "x", "status": "INTERNAL"}}),
        json!([1]),
    ] {
        let result = response(body.to_string().as_bytes(), "m", ask);
        assert!(matches!(result, Err(TranslateError::Response(_))), "{body}: {result:?}");
    }
    assert!(response(b"{}", "m", Ask::Chat).is_err());
}
