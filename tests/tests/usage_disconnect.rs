#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A client that leaves mid-stream, by the provider's `on_disconnect`:
//! `close` closes the upstream request at once (the fake upstream sees its
//! response abandoned) and records an estimate of what was streamed plus the
//! prompt; `drain` stops forwarding but reads the upstream to its end and
//! records the exact usage it reports. Either way the status is
//! `client_closed`; a client gone before the first token pays no completion.
//! The drain's time and byte bounds are unit-tested on paused time in
//! `data-plane/src/proxy/stream.rs`.

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use switchyard_proxy::usage::{Source, Status, Tokens, estimate};
use switchyard_tests::fake_upstream::openai::{ChatStream, Format};
use switchyard_tests::harness::*;
use switchyard_tests::{Chunk, FakeUpstream, Reply, stays};

const USAGE: &str = r#"{"prompt_tokens":31,"completion_tokens":250,"total_tokens":281,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":64}}"#;

async fn start(on_disconnect: &str) -> (FakeUpstream, Proxy, Arc<UsageCapture>) {
    let upstream = FakeUpstream::start().await;
    let yaml = gateway_yaml(&upstream.base_url(), &upstream.base_url());
    let anchor = "  - name: main\n    kind: openai-compatible\n";
    let yaml = yaml.replace(anchor, &format!("{anchor}    on_disconnect: {on_disconnect}\n"));
    let capture = UsageCapture::new();
    let proxy = Proxy::start_capturing(&yaml, &capture).await;
    (upstream, proxy, capture)
}

/// A stream that sends its first two chunks, waits for the returned gate,
/// then sends the rest with the usage chunk.
fn gated(completion: &ChatStream) -> (Reply, Arc<tokio::sync::Notify>) {
    let gate = Arc::new(tokio::sync::Notify::new());
    let events = completion.events(true);
    let mut chunks: Vec<Chunk> = events[..2].iter().map(|e| Chunk::event(e)).collect();
    chunks.push(Chunk::Wait(gate.clone()));
    chunks.extend(events[2..].iter().map(|e| Chunk::event(e)));
    (Reply::sse(chunks), gate)
}

/// Opens a stream, reads its first frame, and hangs up.
async fn read_first_and_leave(proxy: &Proxy, request: &Value) -> String {
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    drop(stream);
    String::from_utf8(first.to_vec()).unwrap()
}

#[tokio::test]
async fn close_stops_the_upstream_within_a_second_and_estimates() {
    let (upstream, proxy, capture) = start("close").await;
    let completion =
        ChatStream::new(Format::Compact, &["Once upon a time", " in a village"], serde_json::from_str(USAGE).unwrap());
    let (reply, _gate) = gated(&completion);
    upstream.push(reply);
    let request = chat_body("smart", true);
    let first = read_first_and_leave(&proxy, &request).await;
    assert!(!first.contains("usage"), "stripped as usual: {first}");

    let closed = tokio::time::timeout(Duration::from_secs(1), upstream.wait_for_aborted_responses(1)).await;
    assert!(closed.is_ok(), "the upstream request was not closed within a second");

    let r = capture.only().await;
    assert_eq!((r.status, r.http_status, r.source), (Status::ClientClosed, 200, Source::Estimated));
    // Streamed before the client left: the role chunk and the first piece.
    let streamed = estimate::text_tokens("Once upon a time");
    let prompt = estimate::prompt_tokens(request.to_string().as_bytes());
    assert_eq!(r.tokens, Tokens { prompt, completion: streamed, cached: 0, reasoning: 0 });
    assert!(r.first_token_us.is_some());
}

#[tokio::test]
async fn drain_reads_on_for_the_exact_usage() {
    let (upstream, proxy, capture) = start("drain").await;
    let completion =
        ChatStream::new(Format::Compact, &["Once upon a time", " in a village"], serde_json::from_str(USAGE).unwrap());
    let (reply, gate) = gated(&completion);
    upstream.push(reply);
    read_first_and_leave(&proxy, &chat_body("smart", true)).await;
    // The upstream goes on generating after the client left: no record while it does.
    stays("still draining: no record", Duration::from_millis(100), async || capture.records().is_empty()).await;
    gate.notify_one();

    let r = capture.only().await;
    assert_eq!((r.status, r.source), (Status::ClientClosed, Source::Reported));
    assert_eq!(r.tokens, Tokens { prompt: 31, completion: 250, cached: 0, reasoning: 64 });
    assert_eq!(upstream.aborted_responses(), 0, "read to its end, not abandoned");
}

#[tokio::test]
async fn a_client_gone_before_the_first_token_pays_no_completion() {
    for mode in ["close", "drain"] {
        let (upstream, proxy, capture) = start(mode).await;
        let gate = Arc::new(tokio::sync::Notify::new());
        upstream.push(Reply::sse(vec![Chunk::Wait(gate.clone()), Chunk::event(r#"{"choices":[]}"#)]));
        let request = chat_body("smart", true);
        let gone = client()
            .post(format!("{}/chat/completions", proxy.url()))
            .bearer_auth(APP_KEY)
            .json(&request)
            .timeout(Duration::from_millis(300))
            .send()
            .await;
        assert!(gone.is_err(), "{mode}: the client gave up waiting");

        let r = capture.only().await;
        assert_eq!((r.status, r.http_status, r.attempts), (Status::ClientClosed, 499, 1), "{mode}");
        assert_eq!(r.source, Source::Estimated, "{mode}: the prompt reached the upstream");
        let prompt = estimate::prompt_tokens(request.to_string().as_bytes());
        assert_eq!(r.tokens, Tokens { prompt, ..Tokens::default() }, "{mode}");
        assert_eq!(r.first_token_us, None);
        let closed = tokio::time::timeout(Duration::from_secs(1), upstream.wait_for_aborted_responses(1)).await;
        assert!(closed.is_ok(), "{mode}: the upstream request was closed");
        gate.notify_one();
    }
}

#[tokio::test]
async fn a_stream_read_to_its_end_is_not_a_disconnect() {
    let (upstream, proxy, capture) = start("drain").await;
    let completion = ChatStream::new(Format::Spaced, &["a", "b"], serde_json::from_str(USAGE).unwrap());
    upstream.push(completion.reply(true));
    let text = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&json!({"model": "smart", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, completion.body(false));
    let r = capture.only().await;
    assert_eq!((r.status, r.source, r.tokens.completion), (Status::Ok, Source::Reported, 250));
}

#[tokio::test]
async fn a_stream_being_drained_at_shutdown_still_gets_its_exact_usage() {
    let (upstream, mut proxy, capture) = start("drain").await;
    let completion =
        ChatStream::new(Format::Compact, &["Once upon a time", " in a village"], serde_json::from_str(USAGE).unwrap());
    let (reply, gate) = gated(&completion);
    upstream.push(reply);
    read_first_and_leave(&proxy, &chat_body("smart", true)).await;
    // SIGTERM while the upstream still generates for the client that left.
    let stopping = tokio::spawn(proxy.handle.take().unwrap().shutdown());
    let what = "shutdown waits for the drain (within the grace period), which makes no record yet";
    stays(what, Duration::from_millis(200), async || !stopping.is_finished() && capture.records().is_empty()).await;
    gate.notify_one();
    stopping.await.unwrap();
    let r = capture.only().await;
    assert_eq!((r.status, r.source), (Status::ClientClosed, Source::Reported));
    assert_eq!(r.tokens, Tokens { prompt: 31, completion: 250, cached: 0, reasoning: 64 });
}
