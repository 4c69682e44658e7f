//! The default answers of each API, read straight from `reply_for`.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, Version};
use serde_json::{Value, json};

use super::reply_for;
use crate::fake_upstream::Api;
use crate::fake_upstream::RecordedRequest;
use crate::fake_upstream::reply::{Chunk, Reply};
use crate::schema;

fn request(method: Method, uri: &str, headers: &[(&'static str, &str)], body: &Value) -> RecordedRequest {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    RecordedRequest {
        method,
        uri: uri.parse::<Uri>().unwrap(),
        headers: map,
        body: Bytes::from(body.to_string()),
        version: Version::HTTP_11,
    }
}

fn post(uri: &str, body: &Value) -> Reply {
    reply_for(&request(Method::POST, uri, &[], body), 7, Api::All)
}

const ANTHROPIC: [(&str, &str); 2] = [("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")];

fn anthropic(uri: &str, body: &Value) -> Reply {
    reply_for(&request(Method::POST, uri, &ANTHROPIC, body), 7, Api::All)
}

fn gemini(uri: &str, body: &Value) -> Reply {
    reply_for(&request(Method::POST, uri, &[("x-goog-api-key", "AIza")], body), 7, Api::All)
}

fn json_of(reply: Reply) -> (u16, Value) {
    match reply {
        Reply::Json { status, body, .. } => (status, body),
        other => panic!("not JSON: {other:?}"),
    }
}

/// The SSE body as written.
fn sse_text(reply: Reply) -> String {
    let Reply::Sse { status: 200, chunks, .. } = reply else { panic!("not a 200 SSE reply: {reply:?}") };
    chunks
        .into_iter()
        .map(|chunk| match chunk {
            Chunk::Bytes(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            other => panic!("unexpected chunk {other:?}"),
        })
        .collect()
}

/// `(event name or "", data)` of each event of an SSE body (LF or CRLF).
fn sse_events(text: &str) -> Vec<(String, Value)> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let name = event.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or_default().to_owned();
            let data = event.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let data = if data == "[DONE]" { json!("[DONE]") } else { serde_json::from_str(data).unwrap() };
            (name, data)
        })
        .collect()
}

fn weather_tools_openai() -> Value {
    json!([{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

#[test]
fn chat_calls_the_tool_when_asked() {
    let body = json!({
        "model": "gpt-x",
        "messages": [{"role": "user", "content": "Weather in Paris? Use the tool."}],
        "tools": weather_tools_openai()
    });
    let (status, answer) = json_of(post("/v1/chat/completions", &body));
    assert_eq!(status, 200);
    schema::validate("CreateChatCompletionResponse", &answer).unwrap();
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!((call["id"].as_str(), call["type"].as_str()), (Some("call_fake7_0"), Some("function")));
    assert_eq!(call["function"]["name"], "weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "fake"})
    );

    // Without the phrase the tools are only offered.
    let mut plain = body.clone();
    plain["messages"][0]["content"] = json!("Hi");
    assert_eq!(json_of(post("/v1/chat/completions", &plain)).1["choices"][0]["message"]["content"], "Hello from gpt-x");
}

#[test]
fn a_streamed_chat_tool_call_assembles_to_the_arguments() {
    let body = json!({
        "model": "gpt-x", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "use the tool"}], "tools": weather_tools_openai()
    });
    let events = sse_events(&sse_text(post("/v1/chat/completions", &body)));
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<&Value> = events.iter().map(|(_, data)| data).filter(|d| d.is_object()).collect();
    for chunk in &chunks {
        schema::validate("CreateChatCompletionStreamResponse", chunk).unwrap();
    }
    let head = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!((head["id"].as_str(), head["function"]["name"].as_str()), (Some("call_fake7_0"), Some("weather")));
    let arguments: String = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls/0/function/arguments").and_then(Value::as_str))
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&arguments).unwrap(), json!({"city": "fake"}));
    let finish = chunks.iter().find_map(|c| c.pointer("/choices/0/finish_reason").and_then(Value::as_str));
    assert_eq!(finish, Some("tool_calls"));
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"].as_u64().unwrap(), 1 + arguments.len().div_ceil(10) as u64);
}

#[test]
fn chat_answers_a_tool_result_and_notes_images() {
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "use the tool"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny, 21 C"}
    ], "tools": weather_tools_openai()});
    let (_, answer) = json_of(post("/v1/chat/completions", &body));
    assert_eq!(answer["choices"][0]["message"]["content"], "Tool result: sunny, 21 C");
    assert_eq!(answer["usage"]["completion_tokens"], 5);

    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    ]}]});
    let (_, answer) = json_of(post("/v1/chat/completions", &body));
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello from m. I see 1 image: image/png");
}

#[test]
fn models_named_fail_get_a_server_error_in_their_apis_shape() {
    let chat = json!({"model": "fail-gpt", "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = json_of(post("/v1/chat/completions", &chat));
    assert_eq!((status, body["error"]["type"].as_str()), (500, Some("server_error")));
    let (status, body) = json_of(post("/v1/responses", &json!({"model": "fail-gpt", "input": "hi"})));
    assert_eq!((status, body["error"]["type"].as_str()), (500, Some("server_error")));
    let messages = json!({"model": "fail-claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = json_of(anthropic("/v1/messages", &messages));
    assert_eq!(status, 500);
    assert_eq!(body, json!({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}));
    let contents = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let (status, body) = json_of(gemini("/v1beta/models/fail-gemini:generateContent", &contents));
    assert_eq!(
        (status, body["error"]["status"].as_str(), body["error"]["code"].as_u64()),
        (500, Some("INTERNAL"), Some(500))
    );
}

#[test]
fn anthropic_messages_answer_a_message() {
    let body = json!({"model": "claude-x", "max_tokens": 100, "system": "Be brief.",
                      "messages": [{"role": "user", "content": "Say hello please"}]});
    let (status, message) = json_of(anthropic("/v1/messages", &body));
    assert_eq!(status, 200);
    assert_eq!(
        message,
        json!({
            "id": "msg_fake7", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Hello from claude-x"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": 3, "service_tier": "standard"}
        })
    );
    let (status, count) = json_of(anthropic("/v1/messages/count_tokens", &body));
    assert_eq!((status, count), (200, json!({"input_tokens": 5})));
}

#[test]
fn anthropic_refuses_as_anthropic_does() {
    let body = json!({"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let (status, error) = json_of(reply_for(
        &request(Method::POST, "/v1/messages", &[("anthropic-version", "2023-06-01")], &body),
        0,
        Api::All,
    ));
    assert_eq!((status, error["error"]["type"].as_str()), (401, Some("authentication_error")));
    let (status, error) =
        json_of(reply_for(&request(Method::POST, "/v1/messages", &[("x-api-key", "k")], &body), 0, Api::All));
    assert_eq!((status, error["error"]["message"].as_str()), (400, Some("anthropic-version: header is required")));
    let mut no_max = body.clone();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let (status, error) = json_of(anthropic("/v1/messages", &no_max));
    assert_eq!((status, error["error"]["message"].as_str()), (400, Some("max_tokens: Field required")));
    assert_eq!(error["type"], "error");
}

#[test]
fn an_anthropic_stream_is_the_documented_event_sequence() {
    let body = json!({"model": "claude-x", "max_tokens": 100, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let events = sse_events(&sse_text(anthropic("/v1/messages", &body)));
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str());
    }
    let start = &events[0].1["message"];
    assert_eq!((start["content"].clone(), start["stop_reason"].clone()), (json!([]), Value::Null));
    assert_eq!(start["usage"]["input_tokens"], 1);
    let text: String = events.iter().filter_map(|(_, d)| d.pointer("/delta/text").and_then(Value::as_str)).collect();
    assert_eq!(text, "Hello from claude-x");
    assert_eq!(events[7].1["delta"], json!({"stop_reason": "end_turn", "stop_sequence": null}));
    assert_eq!(events[7].1["usage"], json!({"output_tokens": 3}));
}

#[test]
fn anthropic_uses_the_tool_whole_and_streamed() {
    let tools = json!([{"name": "weather", "description": "Weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}}}]);
    let mut body = json!({"model": "claude-x", "max_tokens": 100, "tools": tools,
                          "messages": [{"role": "user", "content": [{"type": "text", "text": "Please use the tool."}]}]});
    let (_, message) = json_of(anthropic("/v1/messages", &body));
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(message["content"][0], json!({"type": "text", "text": "Let me use weather."}));
    assert_eq!(
        message["content"][1],
        json!({"type": "tool_use", "id": "toolu_fake7_0", "name": "weather", "input": {"city": "fake"}})
    );

    body["stream"] = json!(true);
    let events = sse_events(&sse_text(anthropic("/v1/messages", &body)));
    let starts: Vec<&Value> = events.iter().filter(|(n, _)| n == "content_block_start").map(|(_, d)| d).collect();
    assert_eq!(
        starts[1]["content_block"],
        json!({"type": "tool_use", "id": "toolu_fake7_0", "name": "weather", "input": {}})
    );
    let json: String = events
        .iter()
        .filter(|(_, d)| d["index"] == 1 && d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), json!({"city": "fake"}));
    assert_eq!(events[events.len() - 2].1["delta"]["stop_reason"], "tool_use");

    // The tool's result comes back in the next user turn, an image beside it.
    let body = json!({"model": "claude-x", "max_tokens": 100, "tools": tools, "messages": [
        {"role": "user", "content": "use the tool"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}
        ]}
    ]});
    let (_, message) = json_of(anthropic("/v1/messages", &body));
    assert_eq!(message["content"][0]["text"], "Tool result: sunny");
}

#[test]
fn anthropic_models_answer_with_the_version_header() {
    let (status, list) = json_of(reply_for(&request(Method::GET, "/v1/models", &ANTHROPIC, &Value::Null), 0, Api::All));
    assert_eq!((status, list["has_more"].as_bool()), (200, Some(false)));
    assert_eq!(list["data"][0]["type"], "model");
    let (_, openai) = json_of(reply_for(&request(Method::GET, "/v1/models", &[], &Value::Null), 0, Api::All));
    assert_eq!(openai["object"], "list");
}

#[test]
fn gemini_generates_content_whole_and_streamed() {
    let body = json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Say hi"}, {"inlineData": {"mimeType": "image/webp", "data": "UklG"}}]}]
    });
    let (status, answer) = json_of(gemini("/v1beta/models/gemini-x:generateContent", &body));
    assert_eq!(status, 200);
    assert_eq!(
        answer["candidates"][0]["content"],
        json!({"parts": [{"text": "Hello from gemini-x. I see 1 image: image/webp"}], "role": "model"})
    );
    assert_eq!(answer["candidates"][0]["finishReason"], "STOP");
    assert_eq!(answer["usageMetadata"]["promptTokenCount"], 4);
    assert_eq!(answer["usageMetadata"]["candidatesTokenCount"], 4);
    assert_eq!(answer["usageMetadata"]["totalTokenCount"], 8);
    assert_eq!(
        (answer["modelVersion"].as_str(), answer["responseId"].as_str()),
        (Some("gemini-x"), Some("fakeResponse7"))
    );

    let text = sse_text(gemini("/v1beta/models/gemini%2Dx:streamGenerateContent?alt=sse", &body));
    assert!(text.ends_with("}\r\n\r\n") && !text.contains("[DONE]"), "{text}");
    let events = sse_events(&text);
    assert_eq!(events.len(), 4);
    assert!(events[..3].iter().all(|(_, e)| e["candidates"][0].get("finishReason").is_none()));
    assert_eq!(events[3].1["candidates"][0]["finishReason"], "STOP");
    assert_eq!(events[3].1["usageMetadata"]["candidatesTokenCount"], 4);
    assert_eq!(events[3].1["modelVersion"], "gemini-x");

    let (status, array) = json_of(gemini("/v1beta/models/gemini-x:streamGenerateContent", &body));
    assert_eq!((status, array.as_array().map(Vec::len)), (200, Some(4)));
}

#[test]
fn gemini_calls_functions_and_reads_their_responses() {
    let tools = json!([{"functionDeclarations": [{"name": "weather", "parametersJsonSchema": {
        "type": "object", "properties": {"city": {"type": "string"}}}}]}]);
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "use the tool"}]}], "tools": tools});
    let (_, answer) = json_of(gemini("/v1beta/models/g:generateContent", &body));
    assert_eq!(
        answer["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"name": "weather", "args": {"city": "fake"}}}])
    );
    let body = json!({"contents": [
        {"role": "user", "parts": [{"text": "use the tool"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"content": "rain"}}}]}
    ], "tools": tools});
    let (_, answer) = json_of(gemini("/v1beta/models/g:generateContent", &body));
    assert_eq!(answer["candidates"][0]["content"]["parts"][0]["text"], "Tool result: rain");
}

#[test]
fn gemini_counts_embeds_lists_and_refuses_without_a_key() {
    let contents = json!({"contents": [{"role": "user", "parts": [{"text": "one two three"}]}]});
    let (_, count) = json_of(gemini("/v1beta/models/g:countTokens", &contents));
    assert_eq!(count["totalTokens"], 3);
    let (_, one) = json_of(gemini(
        "/v1beta/models/e:embedContent",
        &json!({"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 4}),
    ));
    assert_eq!(one["embedding"]["values"].as_array().unwrap().len(), 4);
    let batch = json!({"requests": [{"model": "models/e", "content": {"parts": [{"text": "a"}]}}, {"model": "models/e", "content": {"parts": [{"text": "b"}]}}]});
    let (_, many) = json_of(gemini("/v1beta/models/e:batchEmbedContents", &batch));
    assert_eq!(many["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(many["embeddings"][0]["values"], json!(super::embeddings::vector("a", 8)));
    assert_eq!(many["usageMetadata"]["promptTokenCount"], 2);
    let (status, list) =
        json_of(reply_for(&request(Method::GET, "/v1beta/models?key=AIza", &[], &Value::Null), 0, Api::All));
    assert_eq!((status, list["models"][0]["name"].as_str()), (200, Some("models/gemini-2.5-flash")));
    let (status, refusal) = json_of(post("/v1beta/models/g:generateContent", &contents));
    assert_eq!((status, refusal["error"]["status"].as_str()), (403, Some("PERMISSION_DENIED")));
}

#[test]
fn responses_answer_a_response_object() {
    let body = json!({"model": "gpt-x", "instructions": "Be brief.", "input": "Say hi"});
    let (status, response) = json_of(post("/v1/responses", &body));
    assert_eq!(status, 200);
    assert_eq!((response["object"].as_str(), response["status"].as_str()), (Some("response"), Some("completed")));
    assert_eq!((response["id"].as_str(), response["instructions"].as_str()), (Some("resp_fake7"), Some("Be brief.")));
    assert_eq!(
        response["output"],
        json!([{"id": "msg_fake7", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hello from gpt-x"}]}])
    );
    assert_eq!(
        response["usage"],
        json!({"input_tokens": 4, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3,
               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7})
    );
}

#[test]
fn responses_call_functions_and_read_their_outputs() {
    let tools = json!([{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let body = json!({"model": "gpt-x", "tools": tools, "input": [{"role": "user", "content": [{"type": "input_text", "text": "use the tool"}]}]});
    let (_, response) = json_of(post("/v1/responses", &body));
    assert_eq!(
        response["output"],
        json!([{"id": "fc_fake7", "type": "function_call", "status": "completed", "arguments": "{\"city\":\"fake\"}",
                "call_id": "call_fake7_0", "name": "weather"}])
    );
    let body = json!({"model": "gpt-x", "tools": tools, "input": [
        {"role": "user", "content": "use the tool"},
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "cloudy"}
    ]});
    let (_, response) = json_of(post("/v1/responses", &body));
    assert_eq!(response["output"][0]["content"][0]["text"], "Tool result: cloudy");
}

#[test]
fn a_responses_stream_is_the_documented_event_sequence() {
    let body = json!({"model": "gpt-x", "input": "hi", "stream": true});
    let events = sse_events(&sse_text(post("/v1/responses", &body)));
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    for (n, (name, data)) in events.iter().enumerate() {
        assert_eq!((data["type"].as_str(), data["sequence_number"].as_u64()), (Some(name.as_str()), Some(n as u64)));
    }
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    assert_eq!(events[0].1["response"]["usage"], Value::Null);
    assert_eq!(events[7].1["text"], "Hello from gpt-x");
    let done = &events[10].1["response"];
    assert_eq!((done["status"].as_str(), done["usage"]["output_tokens"].as_u64()), (Some("completed"), Some(3)));

    let tools = json!([{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let body = json!({"model": "gpt-x", "input": "use the tool", "tools": tools, "stream": true});
    let events = sse_events(&sse_text(post("/v1/responses", &body)));
    assert_eq!(events[2].1["item"]["type"], "function_call");
    assert_eq!(events[2].1["item"]["arguments"], "");
    let arguments: String = events
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    let done = events.iter().find(|(n, _)| n == "response.function_call_arguments.done").unwrap();
    assert_eq!((done.1["arguments"].as_str(), done.1["name"].as_str()), (Some(arguments.as_str()), Some("weather")));
    assert_eq!(events.last().unwrap().1["response"]["output"][0]["arguments"], arguments);
}

#[test]
fn a_fake_of_one_api_refuses_the_others_endpoints_as_its_provider_would() {
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let responses = json!({"model": "m", "input": "hi"});
    let messages = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let contents = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let headers = [("x-api-key", "k"), ("anthropic-version", "2023-06-01"), ("x-goog-api-key", "k")];
    let ask = |api: Api, method: Method, uri: &str, body: &Value| {
        let (status, body) = json_of(reply_for(&request(method, uri, &headers, body), 0, api));
        (status, body)
    };
    let gemini_uri = "/v1beta/models/g:generateContent";
    for (api, open) in [
        (Api::Openai, [true, true, false, false]),
        (Api::OpenaiCompatible, [true, false, false, false]),
        (Api::Anthropic, [false, false, true, false]),
        (Api::Gemini, [false, false, false, true]),
        (Api::All, [true, true, true, true]),
    ] {
        let statuses = [
            ask(api, Method::POST, "/v1/chat/completions", &chat).0,
            ask(api, Method::POST, "/v1/responses", &responses).0,
            ask(api, Method::POST, "/v1/messages", &messages).0,
            ask(api, Method::POST, gemini_uri, &contents).0,
        ];
        assert_eq!(statuses, open.map(|open| if open { 200 } else { 404 }), "{api:?}");
    }
    let (_, refusal) = ask(Api::OpenaiCompatible, Method::POST, "/v1/responses", &responses);
    assert_eq!(refusal["error"]["message"], "Invalid URL (POST /v1/responses)");
    let (_, refusal) = ask(Api::Anthropic, Method::POST, "/v1/chat/completions", &chat);
    assert_eq!(refusal["error"]["type"], "not_found_error");
    // Each lists its own models, and paths no API knows are still echoed.
    assert!(ask(Api::Gemini, Method::GET, "/v1/models", &Value::Null).1["models"].is_array());
    assert_eq!(ask(Api::Anthropic, Method::GET, "/v1/models", &Value::Null).1["data"][0]["type"], "model");
    assert_eq!(ask(Api::Anthropic, Method::GET, "/v1/files", &Value::Null).1["echo"]["path"], "/v1/files");
}
