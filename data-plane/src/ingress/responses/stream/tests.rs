//! Stream translation: the event sequence for text, reasoning, interleaved
//! tool calls, refusals, length, a usage chunk with empty choices, and a cut.

use serde_json::{Value, json};

use super::*;
use crate::ingress::responses::request;

fn echo(body: Value) -> Echo {
    request(body.to_string().as_bytes()).unwrap().echo
}

fn plain_echo() -> Echo {
    echo(json!({"model": "m", "input": "x", "stream": true}))
}

/// Splits framed SSE into (event name, data), checking the framing.
fn events(sse: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(text.is_empty() || text.ends_with("\n\n"), "{text:?}");
    text.split_terminator("\n\n")
        .map(|frame| {
            let (name, data) = frame.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap().to_owned();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], json!(name), "the event name is the data's type");
            (name, data)
        })
        .collect()
}

/// Runs `chunks` then `finish`; checks that sequence numbers count from 0.
fn run(echo: Echo, chunks: &[Value]) -> Vec<Value> {
    let mut stream = Stream::new(echo);
    let mut sse = Vec::new();
    for chunk in chunks {
        sse.extend(stream.chunk(&chunk.to_string()).unwrap());
    }
    sse.extend(stream.finish().unwrap());
    numbered(&sse)
}

fn numbered(sse: &[u8]) -> Vec<Value> {
    let events: Vec<Value> = events(sse).into_iter().map(|(_, data)| data).collect();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], json!(i), "{event}");
    }
    events
}

/// The events without `sequence_number` and with the response objects replaced by their status.
fn outline(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|event| {
            let mut event = event.clone();
            let object = event.as_object_mut().unwrap();
            object.remove("sequence_number");
            if let Some(response) = object.get_mut("response") {
                *response = response["status"].clone();
            }
            event
        })
        .collect()
}

fn chunk(delta: Value, finish_reason: Value) -> Value {
    json!({
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1_694_268_190,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        "usage": null
    })
}

/// The last chunk of a stream that asked for usage.
fn usage_chunk() -> Value {
    json!({
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1_694_268_190,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
            "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}}
    })
}

fn text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

#[test]
fn a_text_stream_is_the_documented_sequence() {
    let echo = echo(json!({"model": "gpt-4o-mini", "input": "Hello", "stream": true}));
    let events = run(
        echo,
        &[
            chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null),
            chunk(json!({"content": "Hello"}), Value::Null),
            chunk(json!({"content": " there"}), Value::Null),
            chunk(json!({}), json!("stop")),
            usage_chunk(),
        ],
    );
    let message = |status: &str, content: Value| json!({"id": "msg_123_0", "type": "message", "status": status, "role": "assistant", "content": content});
    let at = json!({"item_id": "msg_123_0", "output_index": 0, "content_index": 0});
    let with = |kind: &str, extra: Value| {
        let mut event = at.clone();
        event["type"] = json!(kind);
        for (key, value) in extra.as_object().unwrap() {
            event[key] = value.clone();
        }
        event
    };
    assert_eq!(
        outline(&events),
        vec![
            json!({"type": "response.created", "response": "in_progress"}),
            json!({"type": "response.in_progress", "response": "in_progress"}),
            json!({"type": "response.output_item.added", "output_index": 0, "item": message("in_progress", json!([]))}),
            with("response.content_part.added", json!({"part": text("")})),
            with("response.output_text.delta", json!({"delta": "Hello", "logprobs": []})),
            with("response.output_text.delta", json!({"delta": " there", "logprobs": []})),
            with("response.output_text.done", json!({"text": "Hello there", "logprobs": []})),
            with("response.content_part.done", json!({"part": text("Hello there")})),
            json!({"type": "response.output_item.done", "output_index": 0,
                "item": message("completed", json!([text("Hello there")]))}),
            json!({"type": "response.completed", "response": "completed"}),
        ]
    );

    let created = &events[0]["response"];
    assert_eq!(created["id"], json!("resp_123"));
    assert_eq!(created["created_at"], json!(1_694_268_190));
    assert_eq!(created["output"], json!([]));
    assert_eq!(created["completed_at"], Value::Null);
    assert!(created.get("usage").is_none());
    let completed = &events[9]["response"];
    assert_eq!(completed["id"], json!("resp_123"));
    assert_eq!(completed["model"], json!("gpt-4o-mini"));
    assert_eq!(completed["output"], json!([message("completed", json!([text("Hello there")]))]));
    assert!(completed["completed_at"].as_u64().unwrap() > 1_694_268_190);
    assert_eq!(
        completed["usage"],
        json!({"input_tokens": 9, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
            "output_tokens": 12, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 21})
    );
}

#[test]
fn reasoning_then_text_closes_the_reasoning_item_first() {
    let echo = echo(json!({"model": "m", "input": "Hi", "stream": true}));
    let events = run(
        echo,
        &[
            chunk(json!({"role": "assistant", "reasoning_content": "Think"}), Value::Null),
            chunk(json!({"reasoning_content": "ing."}), Value::Null),
            chunk(json!({"content": "Hi!"}), Value::Null),
            chunk(json!({}), json!("stop")),
            usage_chunk(),
        ],
    );
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        events[2]["item"],
        json!({"id": "rs_123_0", "type": "reasoning", "summary": [], "status": "in_progress", "content": []})
    );
    assert_eq!(
        events[4],
        json!({"type": "response.reasoning_text.delta", "item_id": "rs_123_0", "output_index": 0, "content_index": 0,
            "delta": "Think", "sequence_number": 4})
    );
    assert_eq!(events[6]["text"], json!("Thinking."));
    assert_eq!(
        events[8]["item"],
        json!({"id": "rs_123_0", "type": "reasoning", "summary": [], "status": "completed",
            "content": [{"type": "reasoning_text", "text": "Thinking."}]})
    );
    assert_eq!(events[9]["output_index"], json!(1));
    assert_eq!(events[11]["item_id"], json!("msg_123_1"));
    let output = &events[15]["response"]["output"];
    assert_eq!(output[0]["content"][0]["text"], json!("Thinking."));
    assert_eq!(output[1]["content"][0]["text"], json!("Hi!"));
}

#[test]
fn interleaved_tool_calls_each_get_an_item() {
    let echo = echo(json!({"model": "m", "input": "Weather?", "stream": true,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": true}]}));
    let call = |index: u32, id: Option<&str>, name: Option<&str>, arguments: &str| {
        let mut call = json!({"index": index, "function": {"arguments": arguments}});
        if let Some(id) = id {
            call["id"] = json!(id);
            call["type"] = json!("function");
        }
        if let Some(name) = name {
            call["function"]["name"] = json!(name);
        }
        chunk(json!({"tool_calls": [call]}), Value::Null)
    };
    let events = run(
        echo,
        &[
            chunk(json!({"role": "assistant", "content": "Checking."}), Value::Null),
            call(0, Some("call_a"), Some("get_weather"), ""),
            call(1, Some("call_b"), Some("get_weather"), "{\"city\":"),
            call(0, None, None, "{\"city\":"),
            call(0, None, None, "\"Paris\"}"),
            call(1, None, None, "\"Rome\"}"),
            chunk(json!({}), json!("tool_calls")),
            usage_chunk(),
        ],
    );
    let summary: Vec<Value> = outline(&events)
        .into_iter()
        .filter(|e| {
            e["type"].as_str().unwrap().contains("function_call") || e["type"].as_str().unwrap().contains("item")
        })
        .collect();
    let item = |index: usize, call_id: &str, arguments: &str, status: &str| {
        json!({"id": format!("fc_123_{index}"), "type": "function_call", "status": status, "arguments": arguments,
            "call_id": call_id, "name": "get_weather"})
    };
    let delta = |index: usize, delta: &str| {
        json!({"type": "response.function_call_arguments.delta", "item_id": format!("fc_123_{index}"),
            "output_index": index, "delta": delta})
    };
    assert_eq!(
        summary,
        vec![
            json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "msg_123_0",
                "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
            // The message closes when the first call starts.
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"id": "msg_123_0",
                "type": "message", "status": "completed", "role": "assistant", "content": [text("Checking.")]}}),
            json!({"type": "response.output_item.added", "output_index": 1, "item": item(1, "call_a", "", "in_progress")}),
            json!({"type": "response.output_item.added", "output_index": 2, "item": item(2, "call_b", "", "in_progress")}),
            delta(2, "{\"city\":"),
            delta(1, "{\"city\":"),
            delta(1, "\"Paris\"}"),
            delta(2, "\"Rome\"}"),
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_123_1", "output_index": 1,
                "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}),
            json!({"type": "response.output_item.done", "output_index": 1,
                "item": item(1, "call_a", "{\"city\":\"Paris\"}", "completed")}),
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_123_2", "output_index": 2,
                "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}),
            json!({"type": "response.output_item.done", "output_index": 2,
                "item": item(2, "call_b", "{\"city\":\"Rome\"}", "completed")}),
        ]
    );
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], json!("response.completed"));
    assert_eq!(
        completed["response"]["output"],
        json!([
            {"id": "msg_123_0", "type": "message", "status": "completed", "role": "assistant",
             "content": [text("Checking.")]},
            item(1, "call_a", "{\"city\":\"Paris\"}", "completed"),
            item(2, "call_b", "{\"city\":\"Rome\"}", "completed"),
        ])
    );
    assert_eq!(completed["response"]["usage"]["total_tokens"], json!(21));
}

#[test]
fn a_call_named_late_is_announced_with_its_buffered_arguments() {
    let echo = echo(json!({"model": "m", "input": "x", "stream": true}));
    let events = run(
        echo,
        &[
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_z", "function": {"arguments": "{\"a\""}}]}),
                Value::Null,
            ),
            chunk(json!({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ":1}"}}]}), Value::Null),
            chunk(json!({}), json!("tool_calls")),
        ],
    );
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[2]["item"]["arguments"], json!(""));
    assert_eq!(events[2]["item"]["name"], json!("f"));
    assert_eq!(events[3]["delta"], json!("{\"a\":1}"));
    assert_eq!(events[4]["arguments"], json!("{\"a\":1}"));

    let mut stream = Stream::new(plain_echo());
    stream
        .chunk(
            &chunk(json!({"tool_calls": [{"index": 0, "id": "c", "function": {"arguments": "{}"}}]}), Value::Null)
                .to_string(),
        )
        .unwrap();
    assert_eq!(stream.finish(), Err(TranslateError::Response("the tool call c never named its function".into())));
}

#[test]
fn a_call_waiting_for_its_name_takes_no_output_index() {
    // Call 0 comes without a name; call 1 is named at once, then call 0 is named:
    // items are added at output indexes 0, 1 in that order (call 1 first).
    let call = |index: u32, name: Value, arguments: &str| {
        chunk(
            json!({"tool_calls": [{"index": index, "function": {"name": name, "arguments": arguments}}]}),
            Value::Null,
        )
    };
    let events = run(
        plain_echo(),
        &[
            call(0, Value::Null, "{\"a\""),
            call(1, json!("g"), "{}"),
            call(0, json!("f"), ":1}"),
            chunk(json!({}), json!("tool_calls")),
        ],
    );
    let added: Vec<(&Value, &Value)> = events
        .iter()
        .filter(|e| e["type"] == json!("response.output_item.added"))
        .map(|e| (&e["output_index"], &e["item"]["name"]))
        .collect();
    assert_eq!(added, [(&json!(0), &json!("g")), (&json!(1), &json!("f"))]);
    let completed = events.last().unwrap();
    let output: Vec<(&Value, &Value)> =
        completed["response"]["output"].as_array().unwrap().iter().map(|i| (&i["name"], &i["arguments"])).collect();
    assert_eq!(output, [(&json!("g"), &json!("{}")), (&json!("f"), &json!("{\"a\":1}"))]);

    let mut stream = Stream::new(plain_echo());
    let long = "x".repeat(MAX_UNNAMED_ARGUMENTS + 1);
    assert!(matches!(stream.chunk(&call(0, Value::Null, &long).to_string()), Err(TranslateError::Response(_))));
}

#[test]
fn length_ends_with_response_incomplete() {
    let echo = echo(json!({"model": "m", "input": "Poem", "stream": true, "max_output_tokens": 16}));
    let events = run(
        echo,
        &[
            chunk(json!({"role": "assistant", "content": "Roses are"}), Value::Null),
            chunk(json!({}), json!("length")),
            usage_chunk(),
        ],
    );
    let done = &events[events.len() - 2];
    assert_eq!(done["type"], json!("response.output_item.done"));
    assert_eq!(done["item"]["status"], json!("incomplete"));
    let last = events.last().unwrap();
    assert_eq!(last["type"], json!("response.incomplete"));
    assert_eq!(last["response"]["status"], json!("incomplete"));
    assert_eq!(last["response"]["incomplete_details"], json!({"reason": "max_output_tokens"}));
    assert_eq!(last["response"]["output"][0]["status"], json!("incomplete"));
    assert_eq!(last["response"]["completed_at"], Value::Null);
    assert_eq!(last["response"]["usage"]["output_tokens"], json!(12));
}

#[test]
fn refusals_stream_as_a_refusal_part() {
    let echo = echo(json!({"model": "m", "input": "x", "stream": true}));
    let events = run(
        echo,
        &[
            chunk(json!({"role": "assistant", "content": null, "refusal": "I can't"}), Value::Null),
            chunk(json!({"refusal": " help."}), Value::Null),
            chunk(json!({}), json!("stop")),
        ],
    );
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.refusal.delta",
            "response.refusal.delta",
            "response.refusal.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[3]["part"], json!({"type": "refusal", "refusal": ""}));
    assert_eq!(events[6]["refusal"], json!("I can't help."));
    assert_eq!(events[8]["item"]["content"], json!([{"type": "refusal", "refusal": "I can't help."}]));

    // Text, then a refusal: the refusal is the message's second part.
    let events = run(
        plain_echo(),
        &[
            chunk(json!({"content": "Well"}), Value::Null),
            chunk(json!({"refusal": "No."}), Value::Null),
            chunk(json!({}), json!("stop")),
        ],
    );
    let added: Vec<(&Value, &Value)> = events
        .iter()
        .filter(|e| e["type"] == json!("response.content_part.added"))
        .map(|e| (&e["content_index"], &e["part"]["type"]))
        .collect();
    assert_eq!(added, [(&json!(0), &json!("output_text")), (&json!(1), &json!("refusal"))]);
    assert_eq!(
        events.last().unwrap()["response"]["output"][0]["content"],
        json!([text("Well"), {"type": "refusal", "refusal": "No."}])
    );
}

#[test]
fn logprobs_and_citations_ride_on_the_text() {
    let echo = echo(json!({"model": "m", "input": "x", "stream": true, "include": ["message.output_text.logprobs"]}));
    let mut first = chunk(json!({"role": "assistant", "content": "Hi"}), Value::Null);
    first["choices"][0]["logprobs"] = json!({"content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105],
        "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}]}], "refusal": null});
    let citation = chunk(
        json!({"annotations": [{"type": "url_citation", "url_citation": {"url": "https://example.com/", "title": "Ex",
            "start_index": 0, "end_index": 2}}]}),
        Value::Null,
    );
    let events = run(echo, &[first, citation, chunk(json!({}), json!("stop"))]);
    let delta = events.iter().find(|e| e["type"] == json!("response.output_text.delta")).unwrap();
    assert_eq!(
        delta["logprobs"],
        json!([{"token": "Hi", "logprob": -0.5, "top_logprobs": [{"token": "Hi", "logprob": -0.5}]}])
    );
    let added = events.iter().find(|e| e["type"] == json!("response.output_text.annotation.added")).unwrap();
    let annotation = json!({"type": "url_citation", "url": "https://example.com/", "title": "Ex", "start_index": 0,
        "end_index": 2});
    assert_eq!(
        *added,
        json!({"type": "response.output_text.annotation.added", "item_id": "msg_123_0", "output_index": 0,
            "content_index": 0, "annotation_index": 0, "annotation": annotation, "sequence_number": added["sequence_number"]})
    );
    let part = &events.last().unwrap()["response"]["output"][0]["content"][0];
    assert_eq!(part["annotations"], json!([annotation]));
    assert_eq!(
        part["logprobs"],
        json!([{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": [{"token": "Hi", "logprob": -0.5,
            "bytes": [72, 105]}]}])
    );
}

#[test]
fn a_cut_stream_ends_with_error_then_response_failed() {
    let echo = echo(json!({"model": "m", "input": "x", "stream": true}));
    let mut stream = Stream::new(echo);
    let mut sse = Vec::new();
    for c in [
        chunk(json!({"role": "assistant", "content": "Partial"}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "f", "arguments": "{\"a\""}}]}),
            Value::Null,
        ),
    ] {
        sse.extend(stream.chunk(&c.to_string()).unwrap());
    }
    sse.extend(stream.error("timeout", "The stream from the upstream provider 'p' ended early: timeout."));
    let events = numbered(&sse);
    let n = events.len();
    assert_eq!(
        events[n - 2],
        json!({"type": "error", "code": "timeout", "param": null, "sequence_number": n - 2,
            "message": "The stream from the upstream provider 'p' ended early: timeout.",
            "error": {"type": "timeout", "code": "timeout", "param": null,
                "message": "The stream from the upstream provider 'p' ended early: timeout."}})
    );
    let failed = &events[n - 1];
    assert_eq!(failed["type"], json!("response.failed"));
    let response = &failed["response"];
    assert_eq!(response["id"], json!("resp_123"));
    assert_eq!(response["status"], json!("failed"));
    assert_eq!(
        response["error"],
        json!({"code": "server_error", "message": "The stream from the upstream provider 'p' ended early: timeout."})
    );
    assert_eq!(
        response["output"],
        json!([
            {"id": "msg_123_0", "type": "message", "status": "completed", "role": "assistant",
             "content": [text("Partial")]},
            {"id": "fc_123_1", "type": "function_call", "status": "incomplete", "arguments": "{\"a\"",
             "call_id": "call_1", "name": "f"},
        ])
    );
    // The stream is over: nothing more is written.
    assert!(stream.error("x", "y").is_empty());
    assert_eq!(stream.finish(), Ok(Vec::new()));
    assert_eq!(stream.chunk(&usage_chunk().to_string()), Ok(Vec::new()));

    let mut stream = Stream::new(plain_echo());
    let events = numbered(&stream.error("rate_limit_exceeded", "Slow down."));
    assert_eq!(events[1]["response"]["error"], json!({"code": "rate_limit_exceeded", "message": "Slow down."}));
    assert_eq!(events[1]["response"]["output"], json!([]));
}

#[test]
fn broken_streams_fail() {
    let mut stream = Stream::new(plain_echo());
    assert_eq!(stream.finish(), Err(TranslateError::Response("the stream ended before its first chunk".into())));
    assert!(
        matches!(stream.chunk("nope"), Err(TranslateError::Response(m)) if m.starts_with("a chat completion chunk"))
    );
    assert_eq!(
        stream.chunk(r#"{"error":{"message":"Internal error","type":"server_error"}}"#),
        Err(TranslateError::Response("Internal error".into()))
    );
}

#[test]
fn a_stream_without_finish_reason_completes_at_done() {
    let events = run(plain_echo(), &[chunk(json!({"content": "ok"}), Value::Null)]);
    assert_eq!(events.last().unwrap()["type"], json!("response.completed"));
    assert_eq!(events.last().unwrap()["response"]["output"][0]["status"], json!("completed"));
}

#[test]
fn azures_unnamed_prompt_filter_chunk_starts_nothing() {
    let filter = json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]});
    let events = run(plain_echo(), &[filter, chunk(json!({"role": "assistant", "content": "Hi"}), json!("stop"))]);
    let created = &events[0]["response"];
    assert_eq!(events[0]["type"], json!("response.created"));
    assert_eq!(created["id"], json!("resp_123"), "named from the first chunk that has an id");
    assert_eq!(created["created_at"], json!(1_694_268_190), "not the filter chunk's created: 0");
    assert_eq!(events.last().unwrap()["response"]["output"][0]["id"], json!("msg_123_0"));
}
