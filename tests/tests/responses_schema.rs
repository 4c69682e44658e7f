#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Responses ingress's translations checked against OpenAI's published
//! schemas: the client bodies are real `CreateResponse`s, what goes upstream
//! is a valid `CreateChatCompletionRequest`, and what comes back (a
//! `Response`, and every streaming event against its own event schema and
//! `ResponseStreamEvent`) validates, for text, reasoning, refusals, citations,
//! logprobs, interleaved tool calls, length, a cut stream and a refusal event.

use serde_json::{Value, json};
use switchyard_proxy::ingress::ClientStream;
use switchyard_proxy::ingress::responses::{Echo, Stream, request, response};
use switchyard_tests::schema::validate;

fn valid(schema: &str, value: &Value) {
    if let Err(errors) = validate(schema, value) {
        panic!("not a valid {schema}: {errors:#?}\n{value:#}");
    }
}

/// A `CreateResponse` (checked) -> its echo, with the chat body checked.
fn translate(body: Value) -> Echo {
    valid("CreateResponse", &body);
    let request = request(body.to_string().as_bytes()).unwrap();
    let chat: Value = serde_json::from_slice(&request.inbound.chat).unwrap();
    valid("CreateChatCompletionRequest", &chat);
    request.echo
}

const WEATHER: &str = r#"{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
    "additionalProperties": false}"#;

fn full_request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "instructions": "Be terse.",
        "input": [
            {"role": "developer", "content": "Use the tools."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Weather here?"},
                {"type": "input_image", "image_url": "https://example.com/sky.png", "detail": "low"},
            ]},
            {"type": "function_call", "call_id": "call_0", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"},
            {"type": "function_call_output", "call_id": "call_0", "output": "3C"},
            {"type": "message", "role": "assistant", "id": "msg_0", "status": "completed",
             "content": [{"type": "output_text", "text": "It is 3C.", "annotations": [], "logprobs": []}]},
            {"role": "user", "content": "And in Paris and Rome?"},
        ],
        "tools": [{"type": "function", "name": "get_weather", "description": "Current weather",
            "parameters": serde_json::from_str::<Value>(WEATHER).unwrap(), "strict": true}],
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "max_output_tokens": 1000,
        "temperature": 0.7,
        "top_p": 0.9,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "include": ["reasoning.encrypted_content"],
        "metadata": {"team": "search"},
        "user": "user-1",
        "store": false,
        "stream": stream,
    })
}

fn completion(mut message: Value, finish_reason: &str) -> Value {
    // The schema wants `refusal` present, null when there is none.
    if message.get("refusal").is_none() {
        message["refusal"] = Value::Null;
    }
    let completion = json!({
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1_741_570_283,
        "model": "claude-sonnet-4-5",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
            "prompt_tokens_details": {"cached_tokens": 1024}, "completion_tokens_details": {"reasoning_tokens": 12}},
    });
    valid("CreateChatCompletionResponse", &completion);
    completion
}

fn answer(echo: &Echo, completion: &Value) -> Value {
    let out: Value = serde_json::from_slice(&response(completion.to_string().as_bytes(), echo).unwrap()).unwrap();
    valid("Response", &out);
    out
}

#[test]
fn translated_requests_are_valid_chat_requests() {
    translate(full_request(false));
    translate(full_request(true));
    translate(json!({"model": "m", "input": "Hi"}));
    translate(json!({
        "model": "m",
        "input": [{"role": "user", "content": [
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}]}],
        "text": {"format": {"type": "json_schema", "name": "report", "strict": true,
            "schema": serde_json::from_str::<Value>(WEATHER).unwrap()}},
        "tools": [{"type": "function", "name": "f", "parameters": null, "strict": null}],
        "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]},
        "include": ["message.output_text.logprobs"],
        "top_logprobs": 2,
    }));
}

#[test]
fn whole_answers_are_valid_responses() {
    let echo = translate(full_request(false));
    let text = answer(&echo, &completion(json!({"role": "assistant", "content": "Sunny.", "refusal": null}), "stop"));
    assert_eq!(text["status"], json!("completed"));

    let calls = completion(
        json!({"role": "assistant", "content": "Checking both.", "reasoning_content": "Two cities.",
        "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
        ]}),
        "tool_calls",
    );
    assert_eq!(answer(&echo, &calls)["output"].as_array().unwrap().len(), 4);

    let cut = answer(&echo, &completion(json!({"role": "assistant", "content": "Sun"}), "length"));
    assert_eq!(cut["incomplete_details"], json!({"reason": "max_output_tokens"}));
    answer(&echo, &completion(json!({"role": "assistant", "content": null, "refusal": "No."}), "stop"));
    answer(&echo, &completion(json!({"role": "assistant", "content": ""}), "content_filter"));

    let echo = translate(json!({"model": "m", "input": "x", "include": ["message.output_text.logprobs"]}));
    let mut cited = completion(
        json!({"role": "assistant", "content": "See it.", "annotations": [{"type": "url_citation",
            "url_citation": {"start_index": 0, "end_index": 3, "url": "https://example.com/", "title": "Ex"}}]}),
        "stop",
    );
    cited["choices"][0]["logprobs"] = json!({"content": [{"token": "See", "logprob": -0.1, "bytes": [83, 101, 101],
        "top_logprobs": [{"token": "See", "logprob": -0.1, "bytes": null}]}], "refusal": null});
    valid("CreateChatCompletionResponse", &cited);
    answer(&echo, &cited);
}

fn chunk(delta: Value, finish_reason: Value) -> Value {
    let chunk = json!({
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1_694_268_190,
        "model": "claude-sonnet-4-5",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        "usage": null,
    });
    valid("CreateChatCompletionStreamResponse", &chunk);
    chunk
}

fn usage_chunk() -> Value {
    let chunk = json!({
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1_694_268_190,
        "model": "claude-sonnet-4-5",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
    });
    valid("CreateChatCompletionStreamResponse", &chunk);
    chunk
}

/// The schema of each event type.
fn event_schema(kind: &str) -> &'static str {
    match kind {
        "response.created" => "ResponseCreatedEvent",
        "response.in_progress" => "ResponseInProgressEvent",
        "response.completed" => "ResponseCompletedEvent",
        "response.incomplete" => "ResponseIncompleteEvent",
        "response.failed" => "ResponseFailedEvent",
        "error" => "ResponseErrorEvent",
        "response.output_item.added" => "ResponseOutputItemAddedEvent",
        "response.output_item.done" => "ResponseOutputItemDoneEvent",
        "response.content_part.added" => "ResponseContentPartAddedEvent",
        "response.content_part.done" => "ResponseContentPartDoneEvent",
        "response.output_text.delta" => "ResponseTextDeltaEvent",
        "response.output_text.done" => "ResponseTextDoneEvent",
        "response.output_text.annotation.added" => "ResponseOutputTextAnnotationAddedEvent",
        "response.refusal.delta" => "ResponseRefusalDeltaEvent",
        "response.refusal.done" => "ResponseRefusalDoneEvent",
        "response.reasoning_text.delta" => "ResponseReasoningTextDeltaEvent",
        "response.reasoning_text.done" => "ResponseReasoningTextDoneEvent",
        "response.function_call_arguments.delta" => "ResponseFunctionCallArgumentsDeltaEvent",
        "response.function_call_arguments.done" => "ResponseFunctionCallArgumentsDoneEvent",
        other => panic!("an event type the translation should not write: {other}"),
    }
}

/// Checks every event of `sse` against its schema; returns the event types.
fn valid_events(sse: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(sse).unwrap();
    let mut kinds = Vec::new();
    for (i, frame) in text.split_terminator("\n\n").enumerate() {
        let (name, data) = frame.split_once('\n').unwrap();
        let name = name.strip_prefix("event: ").unwrap();
        let event: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(event["type"], json!(name));
        assert_eq!(event["sequence_number"], json!(i));
        valid(event_schema(name), &event);
        valid("ResponseStreamEvent", &event);
        kinds.push(name.to_owned());
    }
    kinds
}

fn stream(echo: Echo, chunks: &[Value]) -> (Stream, Vec<u8>) {
    let mut stream = Stream::new(echo);
    let mut sse = Vec::new();
    for chunk in chunks {
        sse.extend(stream.chunk(&chunk.to_string()).unwrap());
    }
    (stream, sse)
}

fn call(index: u32, id: Option<&str>, arguments: &str) -> Value {
    let mut call = json!({"index": index, "function": {"arguments": arguments}});
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
        call["function"]["name"] = json!("get_weather");
    }
    chunk(json!({"tool_calls": [call]}), Value::Null)
}

#[test]
fn streamed_events_are_valid_events() {
    let (mut s, mut sse) = stream(
        translate(full_request(true)),
        &[
            chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null),
            chunk(json!({"reasoning_content": "Two cities."}), Value::Null),
            chunk(json!({"content": "Checking "}), Value::Null),
            chunk(json!({"content": "both."}), Value::Null),
            call(0, Some("call_1"), ""),
            call(1, Some("call_2"), "{\"city\":"),
            call(0, None, "{\"city\":\"Paris\"}"),
            call(1, None, "\"Rome\"}"),
            chunk(json!({}), json!("tool_calls")),
            usage_chunk(),
        ],
    );
    sse.extend(s.finish().unwrap());
    let kinds = valid_events(&sse);
    assert_eq!(kinds.first().map(String::as_str), Some("response.created"));
    assert_eq!(kinds.last().map(String::as_str), Some("response.completed"));
    assert_eq!(kinds.iter().filter(|k| *k == "response.output_item.done").count(), 4);

    // Refusal, citation and logprobs; then length.
    let echo = translate(json!({"model": "m", "input": "x", "stream": true,
        "include": ["message.output_text.logprobs"]}));
    let mut first = chunk(json!({"role": "assistant", "content": "See"}), Value::Null);
    first["choices"][0]["logprobs"] = json!({"content": [{"token": "See", "logprob": -0.1, "bytes": [83, 101, 101],
        "top_logprobs": [{"token": "See", "logprob": -0.1, "bytes": null}]}], "refusal": null});
    valid("CreateChatCompletionStreamResponse", &first);
    let (mut s, mut sse) = stream(
        echo,
        &[
            first,
            chunk(
                json!({"annotations": [{"type": "url_citation", "url_citation": {"start_index": 0, "end_index": 3,
                "url": "https://example.com/", "title": "Ex"}}]}),
                Value::Null,
            ),
            chunk(json!({"refusal": "But no more."}), Value::Null),
            chunk(json!({}), json!("length")),
            usage_chunk(),
        ],
    );
    sse.extend(s.finish().unwrap());
    let kinds = valid_events(&sse);
    assert!(kinds.contains(&"response.output_text.annotation.added".to_owned()));
    assert!(kinds.contains(&"response.refusal.done".to_owned()));
    assert_eq!(kinds.last().map(String::as_str), Some("response.incomplete"));
}

#[test]
fn a_cut_stream_ends_with_valid_error_and_failed_events() {
    let (mut s, mut sse) = stream(
        translate(full_request(true)),
        &[
            chunk(json!({"role": "assistant", "reasoning_content": "Hm"}), Value::Null),
            chunk(json!({"content": "Partial"}), Value::Null),
            call(0, Some("call_1"), "{\"ci"),
        ],
    );
    sse.extend(s.error("upstream_error", "The stream from the upstream provider 'p' ended early: upstream_error."));
    let kinds = valid_events(&sse);
    assert_eq!(kinds[kinds.len() - 2..], ["error".to_owned(), "response.failed".to_owned()]);

    // A break before any chunk still gives valid events.
    let mut s = Stream::new(translate(json!({"model": "m", "input": "x", "stream": true})));
    assert_eq!(valid_events(&s.error("rate_limit_exceeded", "Slow down.")), ["error", "response.failed"]);
}

#[test]
fn the_schema_check_catches_what_clients_would_reject() {
    let echo = translate(json!({"model": "m", "input": "x"}));
    let good = answer(&echo, &completion(json!({"role": "assistant", "content": "ok"}), "stop"));
    let mut bad = good.clone();
    bad["output"][0]["content"][0].as_object_mut().unwrap().remove("logprobs");
    assert!(validate("Response", &bad).is_err());
    let mut bad = good.clone();
    bad.as_object_mut().unwrap().remove("tools");
    assert_eq!(validate("Response", &bad).unwrap_err(), ["$.tools: required property is missing"]);
    let mut bad = good;
    bad["usage"]["input_tokens_details"].as_object_mut().unwrap().remove("cache_write_tokens");
    assert!(validate("Response", &bad).is_err());
}
