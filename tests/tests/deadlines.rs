#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The response path against hostile clients and upstreams: a client that
//! stops reading loses its stream and its concurrency slot by `timeout.total`
//! and by `limits.client_write_timeout`; usage records waiting for the sink
//! keep their bodies inside `limits.max_buffered_bodies`; upstream answers
//! and SSE events beyond the budget or their caps get a 502; the account's
//! key echoed by an upstream never reaches the client; absurd token counts
//! are clamped. The timer logic itself is unit-tested on paused time
//! (`data-plane/src/proxy/stream.rs`, `outlet.rs`).

use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use switchyard_proxy::usage::{MAX_TOKENS, Source, Status};
use switchyard_tests::eventually;
use switchyard_tests::harness::*;
use switchyard_tests::{Chunk, FakeUpstream, Reply};
use tokio::io::AsyncWriteExt;

const MAIN_TIMEOUT: &str = "timeout: {connect: 2s, first_token: 5s, idle: 5s, total: 30s}";
const LIMITS: &str = "limits: {max_body: 1MiB, max_concurrency: 64, max_buffered_bodies: 64MiB}";

/// The harness's config with `main`'s timeouts and the limits replaced (and
/// one attempt per request, never retried, so an upstream's answer is what
/// the client gets).
async fn start(timeout: &str, limits: &str) -> (FakeUpstream, Proxy, Arc<UsageCapture>) {
    start_capturing(timeout, limits, UsageCapture::new()).await
}

async fn start_capturing(
    timeout: &str,
    limits: &str,
    capture: Arc<UsageCapture>,
) -> (FakeUpstream, Proxy, Arc<UsageCapture>) {
    let upstream = FakeUpstream::start().await;
    let yaml = gateway_yaml(&upstream.base_url(), &upstream.base_url())
        .replace(MAIN_TIMEOUT, timeout)
        .replace(LIMITS, &format!("{limits}\n  retry: {{max_attempts: 1, on: []}}"));
    let proxy = Proxy::start_capturing(&yaml, &capture).await;
    (upstream, proxy, capture)
}

/// An endless stream of 64 KiB events: more than any socket buffer holds.
fn endless() -> Reply {
    let event = format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n", "word ".repeat(13_000));
    Reply::sse(vec![Chunk::Forever(Bytes::from(event))])
}

/// Sends a streamed chat request over a bare socket with a tiny receive
/// buffer, and never reads a byte of the answer.
async fn ask_and_stop_reading(proxy: &Proxy) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(proxy.handle().addr).await.unwrap();
    let body = chat_body("smart", true).to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: proxy\r\nauthorization: Bearer {APP_KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

async fn inflight(proxy: &Proxy) -> i64 {
    proxy.status().await["inflight"].as_i64().unwrap()
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_its_slot_at_timeout_total() {
    let timeout = "timeout: {connect: 2s, first_token: 5s, idle: 5s, total: 2s}";
    let limits = "limits: {max_body: 1MiB, max_concurrency: 64, max_buffered_bodies: 64MiB, client_write_timeout: 1h}";
    let (upstream, proxy, capture) = start(timeout, limits).await;
    upstream.push(endless());
    let _socket = ask_and_stop_reading(&proxy).await;

    // The record is made when the stream ends, which only `total` can do here.
    let r = capture.only().await;
    assert_eq!((r.status, r.http_status, r.source), (Status::Timeout, 200, Source::Estimated));
    assert!(r.tokens.completion > 0, "what was streamed is estimated");
    eventually("the slot is free again", async || inflight(&proxy).await == 0).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), upstream.wait_for_aborted_responses(1)).await;
    assert!(closed.is_ok(), "the upstream request was closed");
}

#[tokio::test]
async fn a_client_that_accepts_nothing_is_let_go_after_the_write_timeout() {
    // `total` (30 s) is far beyond the 10 s the test waits: the write timeout ends it.
    let limits = "limits: {max_body: 1MiB, max_concurrency: 64, max_buffered_bodies: 64MiB, client_write_timeout: 1s}";
    let (upstream, proxy, capture) = start(MAIN_TIMEOUT, limits).await;
    upstream.push(endless());
    let _socket = ask_and_stop_reading(&proxy).await;

    let r = capture.only().await;
    assert_eq!((r.status, r.http_status, r.source), (Status::ClientClosed, 200, Source::Estimated));
    eventually("the slot is free again", async || inflight(&proxy).await == 0).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), upstream.wait_for_aborted_responses(1)).await;
    assert!(closed.is_ok(), "on_disconnect: close closed the upstream request");
}

/// A chat request whose one message is about `size` bytes of text.
fn big_request(size: usize) -> Value {
    json!({"model": "smart", "messages": [{"role": "user", "content": "word ".repeat(size / 5)}]})
}

async fn buffered(proxy: &Proxy) -> (u64, u64) {
    let b = proxy.status().await["buffered_bodies"].clone();
    (b["reserved_bytes"].as_u64().unwrap(), b["budget_bytes"].as_u64().unwrap())
}

#[tokio::test]
async fn records_waiting_for_the_sink_keep_their_bodies_in_the_budget() {
    let limits = "limits: {max_body: 512KiB, max_concurrency: 64, max_buffered_bodies: 768KiB}";
    let (upstream, proxy, capture) = start_capturing(MAIN_TIMEOUT, limits, UsageCapture::held()).await;
    let chat =
        |body: Value| client().post(format!("{}/chat/completions", proxy.url())).bearer_auth(APP_KEY).json(&body);

    // The first record's batch is held in the sink: the records after it wait in the channel.
    assert_eq!(chat(chat_body("smart", false)).send().await.unwrap().status(), 200);
    capture.wait_for_batches(1).await;
    // An answer without usage: its record keeps the request body for the prompt estimate.
    let no_usage = json!({"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]});
    upstream.push(Reply::json(200, no_usage.clone()));
    assert_eq!(chat(big_request(450 << 10)).send().await.unwrap().status(), 200);

    assert_eq!(inflight(&proxy).await, 0);
    let refused = chat(big_request(450 << 10)).send().await.unwrap();
    assert_eq!(refused.status(), 503, "the waiting record's body still counts");
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "buffer_budget_exhausted");
    let (reserved, budget) = buffered(&proxy).await;
    assert_eq!(budget, 768 << 10);
    assert!(reserved >= 450 << 10, "{reserved}");

    capture.release();
    eventually("the budget is free once the records are read", async || buffered(&proxy).await.0 == 0).await;
    upstream.push(Reply::json(200, no_usage));
    assert_eq!(chat(big_request(450 << 10)).send().await.unwrap().status(), 200);
}

async fn chat_error(proxy: &Proxy, stream: bool) -> (u16, Value) {
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat_body("smart", stream))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn answers_and_events_beyond_the_budget_or_their_cap_are_a_502() {
    let small = "limits: {max_body: 64KiB, max_concurrency: 64, max_buffered_bodies: 1MiB}";
    let (upstream, proxy, _) = start(MAIN_TIMEOUT, small).await;
    let padded = |n: usize| format!("{{\"id\":\"c\",\"pad\":\"{}\"}}", "x".repeat(n));
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    upstream.push(Reply::Raw { status: 200, headers, body: Bytes::from(padded(2 << 20)) });
    let (status, error) = chat_error(&proxy, false).await;
    assert_eq!(status, 502);
    assert_eq!(error["error"]["code"], "upstream_response_too_large");
    assert!(error["error"]["message"].as_str().unwrap().contains("max_buffered_bodies"), "{error}");

    upstream.push(Reply::sse(vec![Chunk::event(&padded(2 << 20))]));
    let (status, error) = chat_error(&proxy, true).await;
    assert_eq!((status, &error["error"]["code"]), (502, &json!("upstream_response_too_large")));

    // After the first event, the stream ends with an error event instead.
    upstream.push(Reply::sse(vec![Chunk::event("{\"choices\":[]}"), Chunk::event(&padded(2 << 20))]));
    let text = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat_body("smart", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let end = &text[text.len().saturating_sub(400)..];
    assert!(end.contains("\"code\":\"upstream_buffer_budget_exhausted\""), "{end}");
    assert!(end.ends_with("data: [DONE]\n\n"), "{end}");
    eventually("nothing stays reserved", async || buffered(&proxy).await.0 == 0).await;

    // With room in the budget, an event is still capped (4 MiB).
    let (upstream, proxy, _) = start(MAIN_TIMEOUT, LIMITS).await;
    upstream.push(Reply::sse(vec![Chunk::event(&padded(5 << 20))]));
    let (status, error) = chat_error(&proxy, true).await;
    assert_eq!((status, &error["error"]["code"]), (502, &json!("upstream_response_too_large")));
}

#[tokio::test]
async fn an_upstream_echoing_the_key_has_it_scrubbed_from_answers_and_streams() {
    let (upstream, proxy, _) = start(MAIN_TIMEOUT, LIMITS).await;
    let echo = json!({"id": "c", "object": "chat.completion", "headers": {"authorization": format!("Bearer {UPSTREAM_KEY_A}")},
        "choices": [{"index": 0, "message": {"role": "assistant", "content": UPSTREAM_KEY_A}, "finish_reason": "stop"}]});
    upstream.push(Reply::json(200, echo));
    let text = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat_body("smart", false))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(UPSTREAM_KEY_A), "{text}");
    assert_eq!(text.matches("Bearer [redacted]").count(), 1, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "[redacted]");

    // The key split across chunks, which arrive apart.
    let (head, tail) = UPSTREAM_KEY_A.split_at(9);
    let pause = || Chunk::Sleep(Duration::from_millis(30));
    upstream.push(Reply::sse(vec![
        Chunk::event("{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}"),
        Chunk::bytes(format!("data: {{\"echo\":\"Bearer {head}")),
        pause(),
        Chunk::bytes(format!("{tail}\"}}\n\ndata: {{\"again\":\"{UPSTREAM_KEY_A}\"}}\n\n")),
        pause(),
        Chunk::event("[DONE]"),
    ]));
    let text = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat_body("smart", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(UPSTREAM_KEY_A) && !text.contains(tail), "{text}");
    assert!(text.contains("data: {\"echo\":\"Bearer [redacted]\"}\n\ndata: {\"again\":\"[redacted]\"}\n\n"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}

#[tokio::test]
async fn absurd_token_counts_are_clamped() {
    let (upstream, proxy, capture) = start(MAIN_TIMEOUT, LIMITS).await;
    let answer = json!({"id": "c", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": u64::MAX, "completion_tokens": 1e30, "prompt_tokens_details": {"cached_tokens": u64::MAX}}});
    upstream.push(Reply::json(200, answer));
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat_body("smart", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let r = capture.only().await;
    assert_eq!(r.source, Source::Reported);
    assert_eq!((r.tokens.prompt, r.tokens.completion, r.tokens.cached), (MAX_TOKENS, MAX_TOKENS, MAX_TOKENS));
}
