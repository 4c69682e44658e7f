#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Stream integrity on the OpenAI-compatible path (issue 21), end to end: a
//! stream the upstream closes before its end, or with an event that is not
//! JSON, never reaches the client as a good answer (it ends with the
//! `upstream_stream_broken` error event and `[DONE]`, is recorded as a
//! `stream_error`, counted in `switchyard_streams_cut_total` and against the
//! endpoint's breaker); a malformed first event fails over; the same rule
//! holds for `/v1/responses` and `/v1/messages` passed through, and for a
//! chat stream translated into another client API. Attempts that all got
//! 429 answer 429 with the shortest `Retry-After`; other aggregates keep each
//! provider's message; a translated provider's 400 is `invalid_request_error`
//! with its `param` and `code`.

use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_proxy::usage::{Mode, Status};
use switchyard_tests::fake_upstream::faults::GARBLED_EVENT;
use switchyard_tests::harness::*;
use switchyard_tests::{Chunk, FakeUpstream, Reply, schema};

/// Providers `a` (openai-compatible, priority 0) and `b` (priority 1) behind
/// `m`; `a` alone behind `solo` and, for its `cut-` and `garbled-` models,
/// `cut` and `garbled`; `claude` (anthropic) behind `sonnet` and `msgs`
/// (`/v1/messages` passed through); `oai` (openai) behind `resp` (`/v1/responses` passed through).
fn yaml(a: &FakeUpstream, b: &FakeUpstream) -> String {
    let (a_url, b_url, origin) = (a.base_url(), b.base_url(), format!("http://{}", a.addr()));
    format!(
        r#"
providers:
  - {{name: a, kind: openai-compatible, base_url: "{a_url}", timeout: {{first_token: 5s, idle: 5s, total: 30s}}, accounts: [{{name: k, api_key: "sk-upstream-a-000000"}}]}}
  - {{name: b, kind: openai-compatible, base_url: "{b_url}", timeout: {{first_token: 5s, idle: 5s, total: 30s}}, accounts: [{{name: k, api_key: "sk-upstream-b-000000"}}]}}
  - {{name: oai, kind: openai, base_url: "{a_url}", accounts: [{{name: k, api_key: "sk-upstream-o-000000"}}]}}
  - {{name: claude, kind: anthropic, base_url: "{origin}", accounts: [{{name: k, api_key: "sk-ant-upstream-000000"}}]}}
  - {{name: gem, kind: gemini, base_url: "{origin}", accounts: [{{name: k, api_key: "AIza-upstream-000000"}}]}}
models:
  - {{name: m, targets: [{{provider: a, model: up-a, priority: 0}}, {{provider: b, model: up-b, priority: 1}}]}}
  - {{name: solo, targets: [{{provider: a, model: up-a}}]}}
  - {{name: cut, targets: [{{provider: a, model: cut-up}}]}}
  - {{name: garbled, targets: [{{provider: a, model: garbled-up}}]}}
  - {{name: resp, targets: [{{provider: oai, model: gpt-4o}}]}}
  - {{name: msgs, targets: [{{provider: claude, model: claude-sonnet-4-5}}]}}
  - {{name: sonnet, targets: [{{provider: claude, model: claude-sonnet-4-5}}]}}
  - {{name: flash, targets: [{{provider: gem, model: gemini-2.5-flash}}]}}
keys:
  - {{name: app, key: "{APP_KEY}"}}
settings:
  breaker: {{consecutive_failures: 2, cooldown: 30s, max_cooldown: 5m}}
  retry: {{max_attempts: 2}}
"#
    )
}

struct Setup {
    a: FakeUpstream,
    b: FakeUpstream,
    proxy: Proxy,
    capture: Arc<UsageCapture>,
}

async fn setup() -> Setup {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let capture = UsageCapture::new();
    let proxy = Proxy::start_capturing(&yaml(&a, &b), &capture).await;
    Setup { a, b, proxy, capture }
}

impl Setup {
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        client().post(format!("{}{path}", self.proxy.url())).bearer_auth(APP_KEY).json(body).send().await.unwrap()
    }

    async fn chat(&self, model: &str, stream: bool) -> reqwest::Response {
        self.post("/chat/completions", &chat_body(model, stream)).await
    }

    async fn metrics(&self) -> String {
        client().get(format!("{}/metrics", self.proxy.admin_url())).send().await.unwrap().text().await.unwrap()
    }

    async fn breaker(&self, model: &str, provider: &str) -> Value {
        let status = self.proxy.status().await;
        let endpoints = status["endpoints"].as_array().unwrap();
        endpoints.iter().find(|e| e["model"] == model && e["provider"] == provider).unwrap()["breaker"].clone()
    }
}

fn chunk(delta: Value, finish_reason: Value) -> String {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up-a",
           "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]})
    .to_string()
}

/// A chat stream of these events, without `[DONE]` (closed cleanly after them).
fn events(data: &[String]) -> Reply {
    Reply::sse(data.iter().map(|d| Chunk::event(d)).collect())
}

/// The `data:` payloads of an SSE body.
fn data_lines(body: &str) -> Vec<&str> {
    body.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).collect()
}

/// Asserts the body ends with the gateway's error event, then `[DONE]`.
fn assert_cut(text: &str) {
    let lines = data_lines(text);
    assert_eq!(lines.last(), Some(&"[DONE]"), "{text}");
    let error: Value = serde_json::from_str(lines[lines.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], "upstream_stream_broken", "{text}");
    schema::validate("ErrorResponse", &error).unwrap();
}

fn cut_metric(model: &str, reason: &str, n: u64) -> String {
    format!("switchyard_streams_cut_total{{model=\"{model}\",provider=\"a\",account=\"k\",reason=\"{reason}\"}} {n}\n")
}

#[tokio::test]
async fn a_stream_closed_before_its_end_ends_with_the_error_event_and_counts_against_the_endpoint() {
    let s = setup().await;
    for n in 1..=2 {
        s.a.push(events(&[
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": "Hel"}), Value::Null),
        ]));
        let response = s.chat("solo", true).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.contains("\"content\":\"Hel\""), "the partial answer is passed: {text}");
        assert_cut(&text);
        assert!(s.metrics().await.contains(&cut_metric("solo", "truncated", n)), "{}", s.metrics().await);
    }
    let records = s.capture.wait_for(2).await;
    assert!(records.iter().all(|r| (r.status, r.http_status) == (Status::StreamError, 200)), "{records:?}");
    // Two failures in a row (consecutive_failures: 2) opened a's breaker.
    let breaker = s.breaker("solo", "a").await;
    assert_eq!((&breaker["state"], &breaker["reason"]), (&json!("open"), &json!("consecutive_failures")), "{breaker}");

    // A complete stream is untouched and counts as a success.
    let response = s.chat("m", true).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n") && !text.contains("error"), "{text}");
}

#[tokio::test]
async fn the_fakes_cut_model_is_cut_and_a_finish_reason_without_done_is_an_end() {
    let s = setup().await;
    let text = s.chat("cut", true).await.text().await.unwrap();
    assert!(text.contains("Hello") && !text.contains("\"finish_reason\":\"stop\""), "{text}");
    assert_cut(&text);
    // The last chunk has its finish_reason; only [DONE] is missing: a complete answer.
    s.a.push(events(&[chunk(json!({"content": "Hi"}), Value::Null), chunk(json!({}), json!("stop"))]));
    let text = s.chat("solo", true).await.text().await.unwrap();
    let last = data_lines(&text).last().map(|l| serde_json::from_str::<Value>(l).unwrap());
    assert_eq!(last.unwrap()["choices"][0]["finish_reason"], "stop", "{text}");
    assert!(!text.contains("error"), "{text}");
    let records = s.capture.wait_for(2).await;
    assert_eq!((records[0].status, records[1].status), (Status::StreamError, Status::Ok));
}

#[tokio::test]
async fn an_event_that_is_not_json_never_reaches_the_client() {
    let s = setup().await;
    let text = s.chat("garbled", true).await.text().await.unwrap();
    assert!(!text.contains("unterminated"), "the malformed event is not passed: {text}");
    assert!(text.contains("\"role\":\"assistant\""), "the events before it are: {text}");
    assert!(!text.contains("Hello"), "nor what follows it: {text}");
    assert_cut(&text);
    // Every data line the client got parses.
    for line in data_lines(&text).into_iter().filter(|l| *l != "[DONE]") {
        serde_json::from_str::<Value>(line).unwrap();
    }
    assert_eq!(s.capture.only().await.status, Status::StreamError);
    assert!(s.metrics().await.contains(&cut_metric("garbled", "malformed", 1)));
    assert!(GARBLED_EVENT.starts_with("data: {"));
}

#[tokio::test]
async fn a_malformed_first_event_fails_over() {
    let s = setup().await;
    s.a.push(Reply::sse(vec![Chunk::bytes(Bytes::from_static(b"data: {\"id\": oops}\n\n"))]));
    let response = s.chat("m", true).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("up-b") && text.ends_with("data: [DONE]\n\n"), "served by b: {text}");
    let record = s.capture.only().await;
    assert_eq!((record.status, record.attempts, &*record.provider), (Status::Ok, 2, "b"));
}

#[tokio::test]
async fn integrity_is_checked_with_accounting_off() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let proxy = Proxy::start_with(&yaml(&a, &b), |o| o.usage.mode = Mode::Off).await;
    let text = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat_body("cut", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_cut(&text);
}

#[tokio::test]
async fn responses_and_messages_passed_through_need_their_end_events() {
    let s = setup().await;
    let named = |events: &[(&str, Value)]| {
        let chunks =
            events.iter().map(|(name, data)| Chunk::Bytes(Bytes::from(format!("event: {name}\ndata: {data}\n\n"))));
        Reply::sse(chunks.collect())
    };
    s.a.push(named(&[
        ("response.created", json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1"}})),
        (
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "sequence_number": 1, "delta": "Hel"}),
        ),
    ]));
    let text =
        s.post("/responses", &json!({"model": "resp", "input": "hi", "stream": true})).await.text().await.unwrap();
    assert!(text.contains("\"delta\":\"Hel\""), "{text}");
    assert_cut(&text);

    s.a.push(named(&[
        ("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 1, "output_tokens": 1}}})),
        ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}})),
    ]));
    let body =
        json!({"model": "msgs", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let text = s.post("/messages", &body).await.text().await.unwrap();
    assert!(text.contains("Hel"), "{text}");
    assert!(
        text.ends_with("\n\n") && text.contains("event: error\ndata: {\"error\":{"),
        "Anthropic's error event: {text}"
    );
    let records = s.capture.wait_for(2).await;
    assert!(records.iter().all(|r| r.status == Status::StreamError), "{records:?}");

    // Complete ones pass untouched.
    let text =
        s.post("/responses", &json!({"model": "resp", "input": "hi", "stream": true})).await.text().await.unwrap();
    assert!(text.contains("response.completed") && !text.contains("upstream_stream_broken"), "{text}");
}

#[tokio::test]
async fn a_chat_stream_translated_into_messages_is_checked_too() {
    let s = setup().await;
    s.a.push(events(&[chunk(json!({"role": "assistant", "content": "Hel"}), Value::Null)]));
    let body =
        json!({"model": "solo", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let text = s.post("/messages", &body).await.text().await.unwrap();
    assert!(text.contains("Hel"), "{text}");
    assert!(text.contains("event: error") && !text.contains("message_stop"), "never claimed complete: {text}");
    assert_eq!(s.capture.only().await.status, Status::StreamError);
}

#[tokio::test]
async fn attempts_that_all_got_429_answer_429_with_the_shortest_retry_after() {
    let s = setup().await;
    let limited = |secs: &str, message: &str| Reply::Json {
        status: 429,
        headers: vec![("retry-after".into(), secs.into())],
        body: json!({"error": {"message": message, "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
    };
    s.a.push(limited("30", "a is busy"));
    s.b.push(limited("7", "b is busy"));
    let response = s.chat("m", false).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    schema::validate("ErrorResponse", &body).unwrap();
    assert_eq!(
        (&body["error"]["type"], &body["error"]["code"]),
        (&json!("rate_limit_exceeded"), &json!("rate_limit_exceeded"))
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("a/k: HTTP 429 (a is busy)") && message.contains("b/k: HTTP 429 (b is busy)"),
        "{message}"
    );
    assert_eq!(s.capture.only().await.http_status, 429);

    // Both endpoints are now Open for their 429s: the next request is refused
    // before any attempt, still as 429 with the time until the first reopens.
    let response = s.chat("m", false).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=7).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    schema::validate("ErrorResponse", &body).unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().contains("rate limited"), "{body}");
}

#[tokio::test]
async fn other_aggregates_stay_502_and_keep_each_providers_message_scrubbed() {
    let s = setup().await;
    s.a.push(Reply::error(500, "server_error", "a broke, key sk-upstream-a-000000"));
    s.b.push(Reply::Json { status: 429, headers: vec![("retry-after".into(), "1".into())], body: json!({}) });
    let response = s.chat("m", false).await;
    assert_eq!(response.status(), 502);
    assert!(response.headers().get("retry-after").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_attempts_failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("All 2 upstream attempts failed: a/k: HTTP 500 (a broke, key [redacted]); b/k: HTTP 429"),
        "{message}"
    );
    assert!(!message.contains("sk-upstream"), "{message}");
}

#[tokio::test]
async fn a_translated_providers_400_is_invalid_request_error_with_its_param_and_code() {
    let s = setup().await;
    s.a.push(Reply::json(
        400,
        json!({"error": {"code": 400, "message": "Invalid value at 'generation_config.temperature' (TYPE_FLOAT)", "status": "INVALID_ARGUMENT",
               "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "generation_config.temperature", "description": "Invalid value"}]}]}}),
    ));
    let response = s.chat("flash", false).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    schema::validate("ErrorResponse", &body).unwrap();
    let error = &body["error"];
    assert_eq!(error["type"], "invalid_request_error", "{body}");
    assert_eq!(
        (&error["param"], &error["code"]),
        (&json!("generation_config.temperature"), &json!("INVALID_ARGUMENT"))
    );
    assert!(error["message"].as_str().unwrap().contains("Invalid value at"), "{body}");

    s.a.push(Reply::json(
        400,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}}),
    ));
    let body: Value = s.chat("sonnet", false).await.json().await.unwrap();
    assert_eq!(
        (&body["error"]["type"], &body["error"]["code"]),
        (&json!("invalid_request_error"), &json!("invalid_request_error"))
    );
}
