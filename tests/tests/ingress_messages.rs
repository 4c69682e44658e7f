#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Anthropic's Messages API as an ingress: `POST /v1/messages` served to an
//! OpenAI-compatible provider (translated both ways, streams included) and
//! to an `anthropic` provider (passed through as it came), with failover,
//! usage accounting and Anthropic-shaped errors.

use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_proxy::usage::{Source, Status};
use switchyard_tests::harness::*;
use switchyard_tests::{Chunk, FakeUpstream, Reply};

const ANTHROPIC_KEY: &str = "sk-ant-upstream-0123456789";
const OPENAI_KEY: &str = "sk-openai-upstream-0123456789";

fn yaml(openai: &FakeUpstream, anthropic: &FakeUpstream) -> String {
    format!(
        r#"
providers:
  - name: compat
    kind: openai-compatible
    base_url: {}
    timeout: {{connect: 2s, first_token: 5s, idle: 5s, total: 30s}}
    accounts: [{{name: c, api_key: "{OPENAI_KEY}"}}]
  - name: claude
    kind: anthropic
    base_url: http://{}
    timeout: {{connect: 2s, first_token: 5s, idle: 5s, total: 30s}}
    accounts: [{{name: a, api_key: "{ANTHROPIC_KEY}"}}]
models:
  - name: gpt
    targets: [{{provider: compat, model: gpt-4o-mini-2024-07-18}}]
  - name: sonnet
    targets: [{{provider: claude, model: claude-sonnet-4-5}}]
  - name: both
    targets: [{{provider: claude, model: claude-sonnet-4-5, priority: 1}}, {{provider: compat, model: gpt-4o-mini, priority: 2}}]
keys:
  - {{name: app, key: "{APP_KEY}"}}
"#,
        openai.base_url(),
        anthropic.addr()
    )
}

struct Setup {
    openai: FakeUpstream,
    anthropic: FakeUpstream,
    proxy: Proxy,
    capture: Arc<UsageCapture>,
}

async fn setup() -> Setup {
    let (openai, anthropic) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let capture = UsageCapture::new();
    let proxy = Proxy::start_capturing(&yaml(&openai, &anthropic), &capture).await;
    Setup { openai, anthropic, proxy, capture }
}

impl Setup {
    async fn messages(&self, body: &Value) -> reqwest::Response {
        client()
            .post(format!("{}/messages", self.proxy.url()))
            .header("x-api-key", APP_KEY)
            .header("anthropic-version", "2023-06-01")
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

fn ask(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello."}],
        "stream": stream
    })
}

/// `(event name, data)` of each SSE event.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or_default().to_owned();
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("null");
            (name, serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn an_openai_compatible_provider_answers_in_anthropics_shape() {
    let s = setup().await;
    let response = s.messages(&ask("gpt", false)).await;
    assert_eq!(response.status(), 200);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["type"], "message", "{message}");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "gpt", "the client's model is named back");
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["content"][0]["type"], "text");
    assert!(message["content"][0]["text"].as_str().unwrap().contains("Hello"), "{message}");
    assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0, "{message}");
    // The upstream got chat completions, with the system prompt first and the upstream model.
    let sent = &s.openai.requests()[0];
    assert_eq!(sent.uri.path(), "/v1/chat/completions");
    let chat = sent.json();
    assert_eq!(chat["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(chat["messages"][0], json!({"role": "system", "content": "Be brief."}));
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {OPENAI_KEY}").as_str()));
    let records = s.capture.wait_for(1).await;
    assert_eq!(records[0].status, Status::Ok);
    assert_eq!(records[0].source, Source::Reported);
    assert!(records[0].tokens.completion > 0);
}

#[tokio::test]
async fn a_translated_stream_is_anthropics_event_sequence() {
    let s = setup().await;
    let response = s.messages(&ask("gpt", true)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let body = response.text().await.unwrap();
    let events = events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{body}");
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"], "{body}");
    assert!(names.contains(&"content_block_start") && names.contains(&"content_block_delta"), "{body}");
    assert!(!body.contains("[DONE]") && !body.contains("chat.completion"), "nothing of the chat stream leaks: {body}");
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap_or_default())
        .collect();
    assert!(text.contains("Hello"), "{body}");
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0, "{body}");
    // The chat stream was asked for its usage, and the record has it.
    let chat = s.openai.requests()[0].json();
    assert_eq!(chat["stream_options"]["include_usage"], true);
    let records = s.capture.wait_for(1).await;
    assert_eq!((records[0].status, records[0].source), (Status::Ok, Source::Reported));
}

#[tokio::test]
async fn an_anthropic_provider_gets_the_request_as_it_came() {
    let s = setup().await;
    let answer = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Hi."}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 3}
    });
    s.anthropic.push(Reply::Json { status: 200, headers: vec![], body: answer.clone() });
    let mut request = ask("sonnet", false);
    request["top_k"] = json!(5);
    let response = s.messages(&request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), answer, "passed back untouched");
    let sent = &s.anthropic.requests()[0];
    assert_eq!(sent.uri.path(), "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    let mut expected = request.clone();
    expected["model"] = json!("claude-sonnet-4-5");
    assert_eq!(sent.json(), expected, "only the model changed");
    let records = s.capture.wait_for(1).await;
    assert_eq!((records[0].tokens.prompt, records[0].tokens.completion), (12, 3));
}

#[tokio::test]
async fn an_anthropic_stream_passes_byte_for_byte() {
    let s = setup().await;
    let raw = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi.\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let chunks = raw.split_inclusive("\n\n").map(|e| Chunk::Bytes(Bytes::copy_from_slice(e.as_bytes()))).collect();
    s.anthropic.push(Reply::Sse { status: 200, headers: vec![], chunks });
    let response = s.messages(&ask("sonnet", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), raw);
}

#[tokio::test]
async fn failover_from_anthropic_to_a_translated_provider_before_the_first_byte() {
    let s = setup().await;
    s.anthropic.push(Reply::Json {
        status: 529,
        headers: vec![],
        body: json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    });
    let response = s.messages(&ask("both", false)).await;
    assert_eq!(response.status(), 200);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["type"], "message", "{message}");
    assert_eq!(message["model"], "both");
    assert_eq!(s.anthropic.requests().len(), 1);
    assert_eq!(s.openai.requests()[0].uri.path(), "/v1/chat/completions");
}

#[tokio::test]
async fn upstream_and_gateway_errors_are_anthropic_shaped() {
    let s = setup().await;
    s.openai.push(Reply::error(400, "invalid_request_error", "max_tokens is too large"));
    let response = s.messages(&ask("gpt", false)).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"].as_str().unwrap().contains("max_tokens is too large"), "{error}");
    // What cannot be translated is refused before any upstream is asked, naming the field.
    let mut document = ask("gpt", false);
    document["messages"][0]["content"] = json!([{"type": "document", "source": {"type": "text", "data": "x"}}]);
    let response = s.messages(&document).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("messages[0].content[0].type"), "{error}");
    let response = s.messages(&ask("nope", false)).await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["type"], "not_found_error");
    assert_eq!(s.openai.requests().len(), 1);
}

#[tokio::test]
async fn a_stream_cut_midway_ends_with_an_anthropic_error_event() {
    let s = setup().await;
    let chunk = |content: &str| {
        let data = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
        Chunk::Bytes(Bytes::from(format!("data: {data}\n\n")))
    };
    s.openai.push(Reply::Sse { status: 200, headers: vec![], chunks: vec![chunk("Hel"), chunk("lo"), Chunk::Abort] });
    let body = s.messages(&ask("gpt", true)).await.text().await.unwrap();
    let events = events(&body);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{body}");
    assert_eq!(data["type"], "error");
    assert!(data["error"]["type"].is_string() && data["error"]["message"].is_string(), "{body}");
    assert!(events.iter().all(|(n, _)| n != "message_stop"), "{body}");
}

#[tokio::test]
async fn count_tokens_is_estimated_and_says_so() {
    let s = setup().await;
    let response = client()
        .post(format!("{}/messages/count_tokens", s.proxy.url()))
        .header("x-api-key", APP_KEY)
        .json(&json!({"model": "gpt", "messages": [{"role": "user", "content": "Hello there, how are you today?"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-token-count"], "estimated");
    let count: Value = response.json().await.unwrap();
    assert!(count["input_tokens"].as_u64().unwrap() > 5, "{count}");
    assert!(s.openai.requests().is_empty() && s.anthropic.requests().is_empty());
}
