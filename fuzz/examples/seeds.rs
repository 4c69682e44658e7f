//! Writes the checked-in seed corpora, fuzz/corpus/<target>/: real SSE
//! streams (OpenAI, Anthropic, Gemini), chat bodies, the example
//! gateway.yaml and packed snapshots made from it.
//!
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds
//!
//! The fuzz targets never need it: run-ci.sh fuzzes from the files it wrote.

use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use switchyard_fuzz::Cut;
use switchyard_proto::document::{self, Resolver};
use switchyard_proto::model::{AccountRef, KeyRuntime, RuntimeState};
use switchyard_proto::pb;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(ROOT).join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus folder");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

/// SSE events, `event:` named when a name is given.
fn sse(events: &[(Option<&str>, Value)]) -> String {
    let mut out = String::new();
    for (name, data) in events {
        if let Some(name) = name {
            out.push_str(&format!("event: {name}\n"));
        }
        out.push_str(&format!("data: {data}\n\n"));
    }
    out
}

fn openai_stream() -> String {
    let chunk = |delta: Value, finish: Value, usage: Value| {
        let choices = if delta.is_null() {
            json!([])
        } else {
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}])
        };
        json!({"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
               "created": 1741570283, "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_eb9dce56a8",
               "choices": choices, "usage": usage})
    };
    let mut out = sse(&[
        (None, chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null, Value::Null)),
        (None, chunk(json!({"content": "你好！👋"}), Value::Null, Value::Null)),
        (None, chunk(json!({}), json!("stop"), Value::Null)),
        (
            None,
            chunk(Value::Null, Value::Null, json!({"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29})),
        ),
    ]);
    out.push_str(": keep-alive\n\ndata: [DONE]\n\n");
    out
}

fn anthropic_stream() -> String {
    let usage = json!({"input_tokens": 472, "output_tokens": 2, "cache_read_input_tokens": 100});
    sse(&[
        (
            Some("message_start"),
            json!({"type": "message_start", "message": {"id": "msg_014p7gG3wDgGV9EUtLvnow3U",
            "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": usage}}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "thinking", "thinking": ""}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Need the weather."}}),
        ),
        (Some("content_block_stop"), json!({"type": "content_block_stop", "index": 0})),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "text", "text": ""}}),
        ),
        (Some("ping"), json!({"type": "ping"})),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "text_delta", "text": "こんにちは！😀"}}),
        ),
        (Some("content_block_stop"), json!({"type": "content_block_stop", "index": 1})),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": "{\"location\":"}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": " \"Paris\"}"}}),
        ),
        (Some("content_block_stop"), json!({"type": "content_block_stop", "index": 2})),
        (
            Some("message_delta"),
            json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 89}}),
        ),
        (Some("message_stop"), json!({"type": "message_stop"})),
    ])
}

fn anthropic_error_stream() -> String {
    sse(&[
        (
            Some("message_start"),
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "claude-haiku-4-5", "content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        ),
        (Some("error"), json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
    ])
}

fn gemini_stream() -> String {
    let meta = |n: u64| json!({"promptTokenCount": 12, "candidatesTokenCount": n, "totalTokenCount": 12 + n});
    let event = |parts: Value, finish: Option<&str>, n: u64| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
        }
        (
            None,
            json!({"candidates": [candidate], "usageMetadata": meta(n), "modelVersion": "gemini-2.5-flash",
                      "responseId": "r9"}),
        )
    };
    sse(&[
        event(json!([{"text": "Checking the", "thought": true}]), None, 2),
        event(json!([{"text": " weather ☀️"}]), None, 3),
        event(
            json!([{"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}]),
            None,
            9,
        ),
        event(json!([{"text": ""}]), Some("STOP"), 9),
    ])
}

fn gemini_blocked_stream() -> String {
    sse(&[(None, json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}))])
}

fn chat_bodies() -> Vec<(&'static str, Value)> {
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    vec![
        ("simple", json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]})),
        (
            "stream",
            json!({"model": "smart", "stream": true, "stream_options": {"include_usage": false},
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "temperature": 0.2, "max_tokens": 64, "stop": ["\n\n"], "user": "u-1"}),
        ),
        (
            "tools",
            json!({"model": "claude-sonnet-4-5", "stream": true, "tools": tools, "tool_choice": "auto",
            "reasoning_effort": "low", "messages": [
                {"role": "developer", "content": "Use tools."},
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21°C"}]}),
        ),
        (
            "json_mode",
            json!({"model": "gemini-2.5-flash", "n": 1, "top_p": 0.9, "seed": 7,
            "response_format": {"type": "json_object"}, "max_completion_tokens": 300,
            "messages": [{"role": "user", "content": "{\"model\":\"not this one\"}"}]}),
        ),
    ]
}

/// `/v1/messages`, `/v1/responses` and count_tokens bodies, for the ingress translators.
fn ingress_bodies() -> Vec<(&'static str, Value)> {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    vec![
        (
            "messages-tools",
            json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": true,
            "system": [{"type": "text", "text": "Be brief."}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{"name": "get_weather", "description": "Weather by city", "input_schema": schema}],
            "tool_choice": {"type": "auto"}, "stop_sequences": ["END"], "temperature": 0.5,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "Use the tool.", "signature": "sig"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}]}),
        ),
        (
            "responses-tools",
            json!({"model": "gpt-4o-mini", "instructions": "Be brief.", "stream": true, "max_output_tokens": 64,
            "tools": [{"type": "function", "name": "get_weather", "parameters": schema, "strict": true}],
            "tool_choice": "auto", "text": {"format": {"type": "json_object"}}, "reasoning": {"effort": "low"},
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}]},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]}),
        ),
        ("responses-text", json!({"model": "gpt-4o-mini", "input": "Hello!", "store": false})),
        (
            "count",
            json!({"model": "claude-sonnet-4-5", "system": "Be brief.",
            "messages": [{"role": "user", "content": "Say hello to the whole world"}]}),
        ),
    ]
}

/// Chat chunk payloads, one per line, for the client API streams: text,
/// reasoning, two tool calls, a stop and usage; and one ended by an error chunk.
fn chat_chunk_lines() -> Vec<(&'static str, String)> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1741570283, "model": "gpt-4o",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let call = |index: u32, id: Value, name: Value, arguments: &str| {
        json!({"tool_calls": [{"index": index, "id": id, "type": "function",
               "function": {"name": name, "arguments": arguments}}]})
    };
    let usage = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1741570283,
        "model": "gpt-4o", "choices": [],
        "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}});
    let lines = |chunks: Vec<Value>| chunks.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    let full = vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"reasoning_content": "Think."}), Value::Null),
        chunk(json!({"content": "你好！"}), Value::Null),
        chunk(call(0, json!("call_1"), json!("get_weather"), "{\"city\""), Value::Null),
        chunk(call(1, json!("call_2"), json!("get_time"), "{}"), Value::Null),
        chunk(call(0, Value::Null, Value::Null, ":\"Paris\"}"), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        usage.clone(),
    ];
    let cut = vec![
        chunk(json!({"role": "assistant", "content": "Hel"}), Value::Null),
        json!({"error": {"message": "overloaded", "type": "server_error"}}),
    ];
    let late_name = vec![
        chunk(call(0, json!("call_1"), Value::Null, "{\"city\""), Value::Null),
        chunk(call(1, json!("call_2"), json!("get_time"), "{}"), Value::Null),
        chunk(call(0, Value::Null, json!("get_weather"), ":\"Paris\"}"), Value::Null),
        chunk(json!({}), json!("tool_calls")),
    ];
    let length = vec![chunk(json!({"content": "Hello"}), json!("length")), usage];
    vec![("full", format!("{}\n[DONE]", lines(full))), ("error", lines(cut)), ("length", lines(length)), ("late-name", lines(late_name))]
}

/// Bodies as a client may spell them, for the model-field extractor.
const PROBE_BODIES: &[&str] = &[
    " {\"model\" : \"smart\", \"stream\":true, \"stream_options\": null}",
    "{\"mod\\u0065l\":\"a\\\"b\",\"x\":[1,2,{\"model\":\"keep\"}],\"stream\":false}",
    "{\"model\":null,\"stream\":true,\"stream_options\":{ }}",
    "{\"stream\":true,\"stream_options\":{\"include_usage\":null,\"continuous_usage_stats\":true}}",
    "{}",
];

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = GzEncoder::new(Vec::new(), Compression::default());
    out.write_all(bytes).expect("writing into a Vec");
    out.finish().expect("writing into a Vec")
}

/// The packed target's first byte: bit 0 (the rest is to be gzipped), bits
/// 1-2 (the type), bits 3-7 (log2 of the bound).
fn packed_flags(gzipped_by_target: bool, kind: u8, log2_max: u8) -> u8 {
    u8::from(gzipped_by_target) | kind << 1 | log2_max << 3
}

fn example_yaml() -> (String, PathBuf) {
    let path = Path::new(ROOT).join("../deploy/examples/gateway.yaml");
    (std::fs::read_to_string(&path).expect("deploy/examples/gateway.yaml"), path)
}

fn main() {
    // SSE parser: each stream whole, cut small, and under a small bound; CRLF and a BOM.
    let streams = [("openai", openai_stream()), ("anthropic", anthropic_stream()), ("gemini", gemini_stream())];
    for (name, stream) in &streams {
        write("sse", &format!("{name}-whole"), &Cut::encode(0, &[], stream.as_bytes()));
        write("sse", &format!("{name}-cut"), &Cut::encode(0, &[7, 1, 0, 33, 2], stream.as_bytes()));
        write("sse", &format!("{name}-bound"), &Cut::encode(0x80 | 40, &[64, 3], stream.as_bytes()));
        let crlf = format!("\u{feff}{}", stream.replace('\n', "\r\n"));
        write("sse", &format!("{name}-crlf-bom"), &Cut::encode(0, &[5, 1, 2], crlf.as_bytes()));
    }

    // Translated streams: flags bit 0 include_usage, bit 1 the upstream breaks at the end.
    for (target, name, stream) in [
        ("anthropic_stream", "complete", anthropic_stream()),
        ("anthropic_stream", "error", anthropic_error_stream()),
        ("gemini_stream", "complete", gemini_stream()),
        ("gemini_stream", "blocked", gemini_blocked_stream()),
    ] {
        write(target, &format!("{name}-usage"), &Cut::encode(1, &[], stream.as_bytes()));
        write(target, &format!("{name}-cut"), &Cut::encode(0, &[17, 1, 90], stream.as_bytes()));
        write(target, &format!("{name}-broken"), &Cut::encode(3, &[40], stream.as_bytes()));
    }

    for (name, body) in chat_bodies() {
        let text = serde_json::to_vec_pretty(&body).expect("JSON");
        for target in ["json_probe", "anthropic_request", "gemini_request"] {
            write(target, name, &text);
        }
    }
    for (name, body) in ingress_bodies() {
        write("ingress_request", name, &serde_json::to_vec_pretty(&body).expect("JSON"));
    }
    // Client API streams: flags bit 0, the upstream breaks after the last line.
    for (name, lines) in chat_chunk_lines() {
        for target in ["messages_stream", "responses_stream"] {
            for (suffix, flags) in [("", 0u8), ("-broken", 1)] {
                let mut seed = vec![flags];
                seed.extend_from_slice(lines.as_bytes());
                write(target, &format!("{name}{suffix}"), &seed);
            }
        }
    }
    for (i, body) in PROBE_BODIES.iter().enumerate() {
        write("json_probe", &format!("spelled-{i}"), body.as_bytes());
    }

    // gateway.yaml: the example as it is (its ${env:...} are refused) and as
    // the control plane gets it from syctl (resolved, here to literal keys).
    let (text, path) = example_yaml();
    write("document", "example", text.as_bytes());
    let env: HashMap<String, String> =
        ["OPENAI_KEY_A", "OPENAI_KEY_B", "DEEPSEEK_KEY", "OPENROUTER_KEY", "APP1_KEY", "BATCH_KEY"]
            .iter()
            .map(|name| (name.to_string(), format!("sk-{}-0123456789abcdef", name.to_lowercase())))
            .collect();
    let mut resolved = text.clone();
    for (name, value) in &env {
        resolved = resolved.replace(&format!("${{env:{name}}}"), value);
    }
    write("document", "example-resolved", resolved.as_bytes());
    let fixture = Path::new(ROOT).join("../proto/tests/fixtures/full.yaml");
    write("document", "full", &std::fs::read(fixture).expect("proto/tests/fixtures/full.yaml"));

    // Packed snapshots: the example's config, and a runtime overlay.
    let resolver = Resolver::with_env(env).relative_to(path.parent().expect("a folder"));
    let config = document::parse(&text, &resolver).unwrap_or_else(|e| panic!("the example: {e}"));
    let config = pb::Config::from(&config).encode_to_vec();
    let mut runtime = RuntimeState::default();
    runtime.drained_accounts.insert(AccountRef { provider: "openai".into(), account: "team-b".into() });
    runtime.keys.insert("app1".into(), KeyRuntime { remaining_budget_micros: Some(12_500_000), nodes: 2 });
    let runtime = pb::Runtime::from(&runtime).encode_to_vec();
    for (name, kind, encoded) in [("config", 0, &config), ("runtime", 1, &runtime)] {
        let mut packed = vec![packed_flags(false, kind, 16)];
        packed.extend(gzip(encoded));
        write("packed", &format!("{name}-gzip"), &packed);
        let mut plain = vec![packed_flags(true, kind, 16)];
        plain.extend_from_slice(encoded);
        write("packed", &format!("{name}-message"), &plain);
        let mut over = vec![packed_flags(false, 2, 6)];
        over.extend(gzip(encoded));
        write("packed", &format!("{name}-over-bound"), &over);
    }
    println!("seeds written under {ROOT}/corpus");
}
