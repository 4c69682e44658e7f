//! Stream translation, driven by Anthropic's documented streaming example.

use serde_json::json;

use super::*;

/// Anthropic's documented streaming example with a tool call (text, then a
/// tool_use block filled by input_json_delta), with a ping and thinking added.
const EVENTS: &[(&str, &str)] = &[
    (
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-1-20250805","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2,"cache_read_input_tokens":100,"cache_creation_input_tokens":10},"content":[],"stop_reason":null}}"#,
    ),
    (
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
    ),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Need the weather."}}"#,
    ),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#,
    ),
    ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
    ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#),
    ("ping", r#"{"type": "ping"}"#),
    ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Okay"}}"#),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":", let's check."}}"#,
    ),
    ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
    (
        "content_block_start",
        r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}"#,
    ),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
    ),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}"#,
    ),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\"}"}}"#,
    ),
    ("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
    (
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
    ),
    ("message_stop", r#"{"type":"message_stop"}"#),
];

fn run(include_usage: bool) -> (Vec<String>, Vec<String>) {
    let mut stream = Stream::new(include_usage);
    let mut chunks = Vec::new();
    for (name, data) in EVENTS {
        chunks.extend(stream.event(Some(name), data).unwrap());
    }
    (chunks, stream.finish().unwrap())
}

fn parse(chunk: &str) -> Value {
    serde_json::from_str(chunk).unwrap()
}

#[test]
fn stream_translates_the_documented_example() {
    let (chunks, last) = run(true);
    let deltas: Vec<(Value, Value)> = chunks
        .iter()
        .map(|c| {
            let c = parse(c);
            assert_eq!(c["id"], json!("chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U"));
            assert_eq!(c["object"], json!("chat.completion.chunk"));
            assert_eq!(c["model"], json!("claude-opus-4-1-20250805"));
            assert_eq!(c["choices"][0]["index"], json!(0));
            assert_eq!(c["choices"][0]["logprobs"], Value::Null);
            assert_eq!(c["usage"], Value::Null);
            (c["choices"][0]["delta"].clone(), c["choices"][0]["finish_reason"].clone())
        })
        .collect();
    let tool = |call: Value| json!({"tool_calls": [call]});
    assert_eq!(
        deltas,
        vec![
            (json!({"role": "assistant", "content": ""}), Value::Null),
            (json!({"reasoning_content": "Need the weather."}), Value::Null),
            (json!({"content": "Okay"}), Value::Null),
            (json!({"content": ", let's check."}), Value::Null),
            (
                tool(json!({"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                    "function": {"name": "get_weather", "arguments": ""}})),
                Value::Null
            ),
            (tool(json!({"index": 0, "function": {"arguments": "{\"location\":"}})), Value::Null),
            (tool(json!({"index": 0, "function": {"arguments": " \"San Francisco, CA\"}"}})), Value::Null),
            (json!({}), json!("tool_calls")),
        ]
    );
    // OpenAI's layout: `"usage":null` is the last member, which is what the usage tap expects.
    assert!(chunks.iter().all(|c| c.ends_with(r#","usage":null}"#)), "{chunks:?}");
    assert_eq!(last.len(), 1);
    let last = parse(&last[0]);
    assert_eq!(last["id"], json!("chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U"));
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 582, "completion_tokens": 89, "total_tokens": 671,
            "prompt_tokens_details": {"cached_tokens": 100}, "completion_tokens_details": {"reasoning_tokens": 0}})
    );
}

#[test]
fn stream_without_include_usage_has_no_usage() {
    let (chunks, last) = run(false);
    assert_eq!(chunks.len(), 8);
    assert!(last.is_empty());
    for chunk in &chunks {
        assert!(parse(chunk).get("usage").is_none(), "{chunk}");
    }
}

#[test]
fn second_tool_call_gets_the_next_index() {
    let mut stream = Stream::new(false);
    stream.event(Some("message_start"), EVENTS[0].1).unwrap();
    let start = |i: u32, id: &str| {
        format!(
            r#"{{"type":"content_block_start","index":{i},"content_block":{{"type":"tool_use","id":"{id}","name":"f","input":{{}}}}}}"#
        )
    };
    stream.event(None, &start(0, "a")).unwrap();
    let second = stream.event(None, &start(1, "b")).unwrap();
    assert_eq!(parse(&second[0])["choices"][0]["delta"]["tool_calls"][0]["index"], json!(1));
    let delta = r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#;
    let out = stream.event(None, delta).unwrap();
    assert_eq!(
        parse(&out[0])["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 1, "function": {"arguments": "{}"}})
    );
}

#[test]
fn stream_without_message_stop_fails_at_finish() {
    let mut stream = Stream::new(true);
    for (name, data) in &EVENTS[..EVENTS.len() - 1] {
        stream.event(Some(name), data).unwrap();
    }
    assert_eq!(stream.finish(), Err(TranslateError::Response("the stream ended before message_stop".into())));
    assert!(Stream::new(false).finish().is_err());
}

#[test]
fn error_event_fails_the_stream() {
    let mut stream = Stream::new(false);
    stream.event(Some("message_start"), EVENTS[0].1).unwrap();
    let error = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert_eq!(
        stream.event(Some("error"), error),
        Err(TranslateError::Response("overloaded_error: Overloaded".into()))
    );
}

#[test]
fn unknown_events_are_ignored_and_content_before_start_fails() {
    let mut stream = Stream::new(false);
    assert_eq!(stream.event(Some("something_new"), r#"{"type":"something_new"}"#), Ok(Vec::new()));
    assert!(matches!(
        stream.event(Some("message_stop"), r#"{"type":"message_stop"}"#),
        Err(TranslateError::Response(_))
    ));
}
