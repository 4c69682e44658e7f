//! Streams: chat chunks in, Anthropic's event sequence out, checked event by
//! event and by rebuilding the message the way Anthropic's SDKs accumulate it.

use serde_json::json;

use super::*;
use crate::usage::estimate;

/// A chunk as OpenAI writes them (`usage: null` in every chunk but the last).
fn chunk(delta: Value, finish_reason: Value) -> String {
    json!({"id": "chatcmpl-abc123", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}], "usage": null})
    .to_string()
}

fn usage_chunk(prompt: u64, cached: u64, completion: u64) -> String {
    json!({"id": "chatcmpl-abc123", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1", "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}})
    .to_string()
}

fn tool(index: u64, id: Option<&str>, name: Option<&str>, arguments: &str) -> Value {
    let mut function = json!({"arguments": arguments});
    if let Some(name) = name {
        function["name"] = json!(name);
    }
    let mut call = json!({"index": index, "function": function});
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
    }
    call
}

/// The SSE text as (event name, data), checking the framing: every event is
/// `event: NAME\ndata: JSON\n\n` and its data's `type` is its name.
fn events(sse: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(text.is_empty() || text.ends_with("\n\n"), "{text:?}");
    text.split_terminator("\n\n")
        .map(|event| {
            let (name, data) = event.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], json!(name), "{event}");
            (name.to_owned(), data)
        })
        .collect()
}

fn run(chunks: &[String]) -> Vec<(String, Value)> {
    let mut stream = Stream::new("claude-sonnet-4-5");
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(stream.chunk(chunk).unwrap());
    }
    out.extend(stream.finish().unwrap());
    assert!(stream.finish().unwrap().is_empty(), "nothing after message_stop");
    events(&out)
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

/// The message an Anthropic SDK accumulates, checking the sequence's rules on
/// the way: message_start then ping first, blocks indexed 0, 1, ... with one
/// open at a time, deltas only to the open block and of its kind, and
/// message_delta then message_stop last.
fn accumulate(events: &[(String, Value)]) -> Value {
    assert_eq!(names(&events[..2]), ["message_start", "ping"]);
    let mut message = events[0].1["message"].clone();
    assert_eq!(message["content"], json!([]));
    assert_eq!(message["stop_reason"], Value::Null);
    let mut content: Vec<Value> = Vec::new();
    let mut open: Option<usize> = None;
    let mut json_text = String::new();
    let n = events.len();
    assert_eq!(names(&events[n - 2..]), ["message_delta", "message_stop"]);
    for (name, data) in &events[2..n - 2] {
        let index = data["index"].as_u64().unwrap() as usize;
        match name.as_str() {
            "content_block_start" => {
                assert_eq!((open, index), (None, content.len()), "blocks start in order, one at a time");
                content.push(data["content_block"].clone());
                open = Some(index);
                json_text.clear();
            }
            "content_block_delta" => {
                assert_eq!(open, Some(index), "a delta goes to the open block");
                let block = &mut content[index];
                let delta = &data["delta"];
                match (block["type"].as_str().unwrap(), delta["type"].as_str().unwrap()) {
                    ("text", "text_delta") => {
                        block["text"] =
                            json!(format!("{}{}", block["text"].as_str().unwrap(), delta["text"].as_str().unwrap()))
                    }
                    ("thinking", "thinking_delta") => {
                        block["thinking"] = json!(format!(
                            "{}{}",
                            block["thinking"].as_str().unwrap(),
                            delta["thinking"].as_str().unwrap()
                        ))
                    }
                    ("tool_use", "input_json_delta") => json_text.push_str(delta["partial_json"].as_str().unwrap()),
                    other => panic!("a delta of the wrong kind: {other:?}"),
                }
            }
            "content_block_stop" => {
                assert_eq!(open.take(), Some(index));
                if content[index]["type"] == json!("tool_use") && !json_text.is_empty() {
                    content[index]["input"] = serde_json::from_str(&json_text).unwrap();
                }
            }
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(open, None, "every block stopped before message_delta");
    let delta = &events[n - 2].1;
    message["content"] = Value::Array(content);
    message["stop_reason"] = delta["delta"]["stop_reason"].clone();
    message["stop_sequence"] = delta["delta"]["stop_sequence"].clone();
    for (key, value) in delta["usage"].as_object().unwrap() {
        message["usage"][key] = value.clone();
    }
    message
}

#[test]
fn text_stream_is_anthropics_sequence() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null),
        chunk(json!({"content": "Hello"}), Value::Null),
        chunk(json!({"content": "!"}), Value::Null),
        chunk(json!({}), json!("stop")),
        usage_chunk(25, 0, 15),
    ]);
    let expected = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_abc123", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null, "container": null,
                "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0, "cache_creation": null, "server_tool_use": null, "service_tier": null}}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "", "citations": null}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 15}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let expected: Vec<(String, Value)> = expected.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
    assert_eq!(events, expected);
}

#[test]
fn the_exact_bytes_of_an_event() {
    let mut stream = Stream::new("m");
    let out = stream.chunk(&chunk(json!({"content": "Hi"}), Value::Null)).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.ends_with(concat!(
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\",\"citations\":null}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        )),
        "{text}"
    );
    assert!(text.starts_with("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_abc123\",\"type\":\"message\""));
}

#[test]
fn thinking_then_text_then_tool_calls() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": null, "reasoning_content": ""}), Value::Null),
        chunk(json!({"reasoning_content": "Need the "}), Value::Null),
        chunk(json!({"reasoning_content": "weather."}), Value::Null),
        chunk(json!({"content": "Checking."}), Value::Null),
        chunk(json!({"tool_calls": [tool(0, Some("call_1"), Some("get_weather"), "")]}), Value::Null),
        chunk(json!({"tool_calls": [tool(0, None, None, "{\"city\":")]}), Value::Null),
        chunk(json!({"tool_calls": [tool(0, None, None, " \"Paris\"}")]}), Value::Null),
        chunk(json!({"tool_calls": [tool(1, Some("call_2"), Some("get_time"), "{\"tz\":\"CET\"}")]}), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        usage_chunk(2100, 2000, 60),
    ]);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(events[2].1["content_block"], json!({"type": "thinking", "thinking": "", "signature": ""}));
    assert_eq!(
        events[9].1["content_block"],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}})
    );
    assert_eq!(events[10].1["delta"], json!({"type": "input_json_delta", "partial_json": "{\"city\":"}));
    let message = accumulate(&events);
    assert_eq!(
        message["content"],
        json!([
            {"type": "thinking", "thinking": "Need the weather.", "signature": ""},
            {"type": "text", "text": "Checking.", "citations": null},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {"tz": "CET"}},
        ])
    );
    assert_eq!(message["stop_reason"], json!("tool_use"));
    assert_eq!(
        message["usage"],
        json!({"input_tokens": 100, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2000, "output_tokens": 60, "cache_creation": null, "server_tool_use": null, "service_tier": null})
    );
}

/// The stream and the whole answer for the same content agree.
#[test]
fn stream_and_whole_answer_agree() {
    let events = run(&[
        chunk(json!({"role": "assistant", "reasoning": "Think."}), Value::Null),
        chunk(json!({"content": "Answer "}), Value::Null),
        chunk(json!({"content": "now."}), Value::Null),
        chunk(json!({"tool_calls": [tool(0, Some("c1"), Some("f"), "{\"a\":1}")]}), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        usage_chunk(10, 0, 5),
    ]);
    let streamed = accumulate(&events);
    let whole = json!({"id": "chatcmpl-abc123", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "reasoning": "Think.", "content": "Answer now.",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}});
    let whole: Value = serde_json::from_slice(
        &crate::ingress::messages::response(whole.to_string().as_bytes(), "claude-sonnet-4-5").unwrap(),
    )
    .unwrap();
    assert_eq!(streamed, whole);
}

#[test]
fn interleaved_tool_calls_become_consecutive_blocks() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": null}), Value::Null),
        // Both calls announced in one chunk, then their arguments interleaved.
        chunk(
            json!({"tool_calls": [tool(0, Some("a"), Some("read"), ""), tool(1, Some("b"), Some("read"), "")]}),
            Value::Null,
        ),
        chunk(json!({"tool_calls": [tool(0, None, None, "{\"path\":")]}), Value::Null),
        chunk(json!({"tool_calls": [tool(1, None, None, "{\"path\":\"b.rs\"")]}), Value::Null),
        chunk(json!({"tool_calls": [tool(0, None, None, "\"a.rs\"}")]}), Value::Null),
        chunk(json!({"tool_calls": [tool(1, None, None, "}")]}), Value::Null),
        // A third call, complete in one chunk (Gemini's and Ollama's way).
        chunk(json!({"tool_calls": [tool(2, Some("c"), Some("ls"), "{}")]}), Value::Null),
        chunk(json!({}), json!("tool_calls")),
    ]);
    let message = accumulate(&events);
    assert_eq!(
        message["content"],
        json!([
            {"type": "tool_use", "id": "a", "name": "read", "input": {"path": "a.rs"}},
            {"type": "tool_use", "id": "b", "name": "read", "input": {"path": "b.rs"}},
            {"type": "tool_use", "id": "c", "name": "ls", "input": {}},
        ])
    );
    // The first call streamed live; the second started once the first's arguments closed, with what it had.
    let deltas: Vec<(u64, &str)> = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, d)| (d["index"].as_u64().unwrap(), d["delta"]["partial_json"].as_str().unwrap()))
        .collect();
    assert_eq!(deltas, [(0, "{\"path\":"), (0, "\"a.rs\"}"), (1, "{\"path\":\"b.rs\""), (1, "}"), (2, "{}")]);
}

#[test]
fn sequential_tool_calls_stream_live() {
    let mut stream = Stream::new("m");
    stream.chunk(&chunk(json!({"tool_calls": [tool(0, Some("a"), Some("f"), "{\"x\":1}")]}), Value::Null)).unwrap();
    // The next call's first chunk closes the first call's block and starts its own at once.
    let out = events(
        &stream.chunk(&chunk(json!({"tool_calls": [tool(1, Some("b"), Some("g"), "{\"y\"")]}), Value::Null)).unwrap(),
    );
    assert_eq!(names(&out), ["content_block_stop", "content_block_start", "content_block_delta"]);
    assert_eq!((out[0].1["index"].clone(), out[1].1["index"].clone()), (json!(0), json!(1)));
    assert_eq!(out[2].1["delta"]["partial_json"], json!("{\"y\""));
}

#[test]
fn a_call_without_arguments_waits_for_the_stream_to_say_it_ended() {
    let events = run(&[
        chunk(json!({"tool_calls": [tool(0, Some("a"), Some("now"), "")]}), Value::Null),
        chunk(json!({"tool_calls": [tool(1, Some("b"), Some("f"), "{\"q\":2}")]}), Value::Null),
        chunk(json!({}), json!("tool_calls")),
    ]);
    let message = accumulate(&events);
    assert_eq!(
        message["content"],
        json!([
            {"type": "tool_use", "id": "a", "name": "now", "input": {}},
            {"type": "tool_use", "id": "b", "name": "f", "input": {"q": 2}},
        ])
    );
}

#[test]
fn azures_prompt_filter_chunk_does_not_start_the_message() {
    let filter = json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]});
    let mut stream = Stream::new("m");
    assert!(stream.chunk(&filter.to_string()).unwrap().is_empty());
    let events = events(&stream.chunk(&chunk(json!({"role": "assistant", "content": ""}), Value::Null)).unwrap());
    assert_eq!(names(&events), ["message_start", "ping"]);
    assert_eq!(events[0].1["message"]["id"], json!("msg_abc123"));
}

#[test]
fn no_text_at_all() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({}), json!("stop")),
        usage_chunk(7, 0, 0),
    ]);
    assert_eq!(names(&events), ["message_start", "ping", "message_delta", "message_stop"]);
    assert_eq!(accumulate(&events)["content"], json!([]));
}

#[test]
fn usage_in_the_finish_chunk_and_usage_on_every_chunk() {
    // finish_reason and usage in one chunk (vLLM, Gemini); an earlier usage is replaced by the last.
    let mut last = serde_json::from_str::<Value>(&chunk(json!({"content": "b"}), json!("length"))).unwrap();
    last["usage"] = json!({"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11});
    let mut first =
        serde_json::from_str::<Value>(&chunk(json!({"role": "assistant", "content": "a"}), Value::Null)).unwrap();
    first["usage"] = json!({"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10});
    let events = run(&[first.to_string(), last.to_string()]);
    // message_start carries the input tokens the first chunk reported.
    assert_eq!(events[0].1["message"]["usage"]["input_tokens"], json!(9));
    let message = accumulate(&events);
    assert_eq!(message["content"], json!([{"type": "text", "text": "ab", "citations": null}]));
    assert_eq!(message["stop_reason"], json!("max_tokens"));
    assert_eq!(message["usage"]["output_tokens"], json!(2));
}

#[test]
fn without_usage_output_tokens_are_estimated() {
    let events = run(&[chunk(json!({"content": "The quick brown fox"}), Value::Null), chunk(json!({}), json!("stop"))]);
    let delta = &events[events.len() - 2].1;
    let expected = estimate::text_tokens("The quick brown fox");
    assert!(expected > 0);
    assert_eq!(delta["usage"], json!({"output_tokens": expected}));
}

#[test]
fn matched_stop_refusal_and_content_after_finish() {
    let mut stop = serde_json::from_str::<Value>(&chunk(json!({}), json!("stop"))).unwrap();
    stop["choices"][0]["stop_reason"] = json!("END");
    let events = run(&[
        chunk(json!({"content": "x"}), Value::Null),
        stop.to_string(),
        chunk(json!({"content": "late"}), Value::Null),
    ]);
    let message = accumulate(&events);
    assert_eq!((&message["stop_reason"], &message["stop_sequence"]), (&json!("stop_sequence"), &json!("END")));
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "x", "citations": null}]),
        "nothing after finish_reason"
    );

    let events = run(&[chunk(json!({"refusal": "I can't."}), Value::Null), chunk(json!({}), json!("stop"))]);
    let message = accumulate(&events);
    assert_eq!(message["content"], json!([{"type": "text", "text": "I can't.", "citations": null}]));
    assert_eq!(message["stop_reason"], json!("refusal"));
}

#[test]
fn a_stream_cut_midway_ends_with_an_error_event() {
    let mut stream = Stream::new("m");
    let mut out = stream.chunk(&chunk(json!({"content": "Hel"}), Value::Null)).unwrap();
    out.extend(stream.error("overloaded_error", "Overloaded"));
    let events = events(&out);
    assert_eq!(names(&events), ["message_start", "ping", "content_block_start", "content_block_delta", "error"]);
    assert_eq!(events[4].1, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    assert!(String::from_utf8(out).unwrap().ends_with(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
    ));
    // The error ended it.
    assert!(stream.chunk(&chunk(json!({"content": "lo"}), Value::Null)).unwrap().is_empty());
    assert!(stream.finish().unwrap().is_empty());
    assert!(stream.error("api_error", "again").is_empty());
}

#[test]
fn an_error_before_any_chunk_is_the_only_event() {
    let mut stream = Stream::new("m");
    let events = events(&stream.error("api_error", "upstream \"closed\""));
    assert_eq!(
        events,
        [(
            "error".to_owned(),
            json!({"type": "error", "error": {"type": "api_error", "message": "upstream \"closed\""}})
        )]
    );
}

#[test]
fn an_empty_chat_stream_is_still_a_whole_message() {
    let events = run(&[]);
    assert_eq!(names(&events), ["message_start", "ping", "message_delta", "message_stop"]);
    assert!(events[0].1["message"]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(events[2].1["delta"]["stop_reason"], json!("end_turn"));
}

#[test]
fn broken_chunks_fail() {
    let mut stream = Stream::new("m");
    assert!(
        matches!(stream.chunk("{"), Err(TranslateError::Response(m)) if m.starts_with("a chat stream chunk that is not JSON"))
    );
    let error = json!({"error": {"message": "The server had an error", "type": "server_error"}}).to_string();
    assert_eq!(stream.chunk(&error), Err(TranslateError::Response("The server had an error".into())));
    assert_eq!(
        stream.chunk(&chunk(json!({"tool_calls": [tool(0, Some("a"), None, "{}")]}), Value::Null)),
        Err(TranslateError::Response("the chat stream's tool call 0 has no function name in its first chunk".into()))
    );

    // A call that continues after text closed its block.
    let mut stream = Stream::new("m");
    stream.chunk(&chunk(json!({"tool_calls": [tool(0, Some("a"), Some("f"), "{\"x\":")]}), Value::Null)).unwrap();
    stream.chunk(&chunk(json!({"content": "oops"}), Value::Null)).unwrap();
    // An empty fragment for it is harmless; more arguments are not.
    assert!(stream.chunk(&chunk(json!({"tool_calls": [tool(0, None, None, "")]}), Value::Null)).is_ok());
    assert_eq!(
        stream.chunk(&chunk(json!({"tool_calls": [tool(0, None, None, "1}")]}), Value::Null)),
        Err(TranslateError::Response("the chat stream's tool call 0 continued after other content".into()))
    );
}

#[test]
fn waiting_arguments_are_bounded() {
    let mut stream = Stream::new("m");
    stream.chunk(&chunk(json!({"tool_calls": [tool(0, Some("a"), Some("f"), "{\"x\":")]}), Value::Null)).unwrap();
    let big = "x".repeat(MAX_PENDING_ARGUMENTS / 2 + 1);
    let second =
        chunk(json!({"tool_calls": [tool(1, Some("b"), Some("g"), &format!("{{\"s\":\"{big}"))]}), Value::Null);
    stream.chunk(&second).unwrap();
    let more = chunk(json!({"tool_calls": [tool(1, None, None, &big)]}), Value::Null);
    assert!(matches!(stream.chunk(&more), Err(TranslateError::Response(m)) if m.contains("interleaves tool calls")));
}

#[test]
fn json_end_follows_strings_and_nesting() {
    let mut end = JsonEnd::default();
    for piece in ["{\"a\": \"}", "\\\"]{", "\", \"b\": [1, {\"c\"", ": 2}]", "}"] {
        assert!(!end.complete(), "{piece}");
        end.feed(piece);
    }
    assert!(end.complete());
    assert!(!JsonEnd::default().complete());
}
