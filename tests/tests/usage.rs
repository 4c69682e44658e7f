#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Usage accounting end to end: every ending of a request makes one record
//! with the right status and tokens (reported, estimated or none); streamed
//! usage asked for on the client's behalf is read and then removed byte for
//! byte; the local totals feed `switchyard_tokens_total` and `/status`; a full
//! channel drops records and counts them without slowing a request.
//! Client disconnects are in `usage_disconnect.rs`.

use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_proxy::usage::{Source, Status, Tokens, UsageRecord, estimate};
use switchyard_tests::fake_upstream::openai::{ChatStream, Format};
use switchyard_tests::harness::*;
use switchyard_tests::{Chunk, FakeUpstream, Reply};

/// The harness's config, with `fields` added to the provider `main`.
fn yaml(upstream: &FakeUpstream, fields: &str) -> String {
    let yaml = gateway_yaml(&upstream.base_url(), &upstream.base_url());
    let anchor = "  - name: main\n    kind: openai-compatible\n";
    assert!(yaml.contains(anchor));
    yaml.replace(anchor, &format!("{anchor}{fields}"))
}

async fn start(fields: &str) -> (FakeUpstream, Proxy, Arc<UsageCapture>) {
    let upstream = FakeUpstream::start().await;
    let capture = UsageCapture::new();
    let proxy = Proxy::start_capturing(&yaml(&upstream, fields), &capture).await;
    (upstream, proxy, capture)
}

async fn post(proxy: &Proxy, path: &str, body: &Value) -> reqwest::Response {
    client().post(format!("{}{path}", proxy.url())).bearer_auth(APP_KEY).json(body).send().await.unwrap()
}

/// The prompt of [`chat_body`]'s request, as the estimator counts it.
fn prompt_estimate(body: &Value) -> u64 {
    estimate::prompt_tokens(body.to_string().as_bytes())
}

const USAGE: &str = r#"{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":192,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#;
const TOKENS: Tokens = Tokens { prompt: 2006, completion: 300, cached: 1920, reasoning: 192 };

fn assert_served(r: &UsageRecord, stream: bool) {
    assert_eq!(&*r.key, "app");
    assert_eq!(&*r.route, "gpt-4o-mini", "the route's name, not the alias asked for");
    assert_eq!((&*r.provider, &*r.account, &*r.upstream_model), ("main", "a", "gpt-4o-mini-2024-07-18"));
    assert_eq!((r.attempts, r.stream, r.config_version), (1, stream, 1));
    assert!(r.latency_us > 0);
    assert!(r.started_at_ms > 1_700_000_000_000);
    assert!(!r.request_id.is_empty());
}

#[tokio::test]
async fn a_json_answer_is_counted_exactly() {
    let (upstream, proxy, capture) = start("").await;
    let usage: Value = serde_json::from_str(USAGE).unwrap();
    upstream.push(Reply::json(
        200,
        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "usage"}, "finish_reason": "stop"}],
               "usage": usage}),
    ));
    let response = post(&proxy, "/chat/completions", &chat_body("smart", false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 1920, "the answer is untouched");
    let r = capture.only().await;
    assert_served(&r, false);
    assert_eq!((r.status, r.http_status, r.source, r.tokens), (Status::Ok, 200, Source::Reported, TOKENS));
    assert_eq!(r.first_token_us, None);
}

#[tokio::test]
async fn embeddings_count_their_prompt() {
    let (_upstream, proxy, capture) = start("").await;
    let body = json!({"model": "text-embedding-3-small", "input": ["one two three", "four"]});
    assert_eq!(post(&proxy, "/embeddings", &body).await.status(), 200);
    let r = capture.only().await;
    assert_eq!((r.source, r.tokens), (Source::Reported, Tokens { prompt: 4, ..Tokens::default() }));
}

/// The client did not ask for usage: the proxy asks for it, reads it, and
/// the client gets exactly the stream without it, in both JSON styles.
#[tokio::test]
async fn injected_stream_usage_is_counted_and_removed_byte_for_byte() {
    for format in [Format::Compact, Format::Spaced] {
        let (upstream, proxy, capture) = start("").await;
        let completion =
            ChatStream::new(format, &["Hello", " \"usage\":null", " 世界"], serde_json::from_str(USAGE).unwrap());
        upstream.push(completion.reply(true));
        let request = chat_body("smart", true);
        let response = post(&proxy, "/chat/completions", &request).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert_eq!(text, completion.body(false), "{format:?}: the stream as if usage had not been asked for");

        let sent = upstream.requests()[0].json();
        assert_eq!(sent["stream_options"], json!({"include_usage": true}));
        let mut unchanged = sent.clone();
        unchanged.as_object_mut().unwrap().remove("stream_options");
        unchanged["model"] = json!("smart");
        assert_eq!(unchanged, request, "nothing else changed");

        let r = capture.only().await;
        assert_served(&r, true);
        assert_eq!((r.status, r.http_status, r.source, r.tokens), (Status::Ok, 200, Source::Reported, TOKENS));
        assert!(r.first_token_us.is_some_and(|t| t <= r.latency_us));
    }
}

/// The same completion through a provider that is never asked for usage
/// gives the client the same bytes: the comparison without injection.
#[tokio::test]
async fn never_mode_sends_no_stream_options_and_estimates() {
    let (upstream, proxy, capture) = start("    stream_usage: never\n").await;
    let completion = ChatStream::new(Format::Compact, &["Hello", " \"usage\":null", " 世界"], json!({}));
    upstream.push(completion.reply(false));
    let request = chat_body("smart", true);
    let text = post(&proxy, "/chat/completions", &request).await.text().await.unwrap();
    assert_eq!(text, completion.body(false));
    assert!(upstream.requests()[0].json().get("stream_options").is_none());

    let r = capture.only().await;
    assert_served(&r, true);
    assert_eq!((r.status, r.source), (Status::Ok, Source::Estimated));
    let streamed = estimate::text_tokens("Hello \"usage\":null 世界");
    assert_eq!(r.tokens, Tokens { prompt: prompt_estimate(&request), completion: streamed, cached: 0, reasoning: 0 });
}

#[tokio::test]
async fn a_client_that_asked_for_usage_gets_everything_untouched() {
    let (upstream, proxy, capture) = start("").await;
    let completion = ChatStream::new(Format::Compact, &["Hi"], serde_json::from_str(USAGE).unwrap());
    upstream.push(completion.reply(true));
    let mut request = chat_body("smart", true);
    request["stream_options"] = json!({"include_usage": true});
    let text = post(&proxy, "/chat/completions", &request).await.text().await.unwrap();
    assert_eq!(text, completion.body(true));
    assert_eq!(upstream.requests()[0].json()["stream_options"], json!({"include_usage": true}));
    let r = capture.only().await;
    assert_eq!((r.source, r.tokens), (Source::Reported, TOKENS));
}

#[tokio::test]
async fn existing_stream_options_are_amended() {
    let (upstream, proxy, capture) = start("").await;
    let mut request = chat_body("smart", true);
    request["stream_options"] = json!({"include_usage": false, "continuous_usage_stats": false});
    let text = post(&proxy, "/chat/completions", &request).await.text().await.unwrap();
    assert!(!text.contains("usage"), "{text}");
    assert_eq!(
        upstream.requests()[0].json()["stream_options"],
        json!({"include_usage": true, "continuous_usage_stats": false})
    );
    // The fake's default stream: its usage counts the prompt's words, 3 completion tokens.
    let r = capture.only().await;
    assert_eq!((r.source, r.tokens.prompt, r.tokens.completion), (Source::Reported, 1, 3));
}

#[tokio::test]
async fn completions_streams_are_injected_too() {
    let (upstream, proxy, capture) = start("").await;
    let request = json!({"model": "smart", "prompt": "Say this is a test", "stream": true});
    let text = post(&proxy, "/completions", &request).await.text().await.unwrap();
    assert!(!text.contains("usage") && text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(upstream.requests()[0].json()["stream_options"]["include_usage"], true);
    let r = capture.only().await;
    assert_eq!((r.source, r.tokens.prompt, r.tokens.completion), (Source::Reported, 5, 3));
}

#[tokio::test]
async fn a_cut_stream_is_estimated() {
    let (upstream, proxy, capture) = start("").await;
    let completion = ChatStream::new(Format::Compact, &["The quick brown", " fox jumps"], json!({}));
    let mut events = completion.events(true);
    events.truncate(3);
    let mut chunks: Vec<Chunk> = events.iter().map(|e| Chunk::event(e)).collect();
    chunks.push(Chunk::Abort);
    upstream.push(Reply::sse(chunks));
    let request = chat_body("smart", true);
    let text = post(&proxy, "/chat/completions", &request).await.text().await.unwrap();
    assert!(text.contains("upstream_stream_broken") && !text.contains("\"usage\""), "{text}");
    let r = capture.only().await;
    assert_eq!((r.status, r.http_status, r.source), (Status::StreamError, 200, Source::Estimated));
    let streamed = estimate::text_tokens("The quick brown fox jumps");
    assert_eq!(r.tokens, Tokens { prompt: prompt_estimate(&request), completion: streamed, cached: 0, reasoning: 0 });
}

#[tokio::test]
async fn a_json_answer_without_usage_is_estimated() {
    let (upstream, proxy, capture) = start("").await;
    upstream.push(Reply::json(
        200,
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "你好世界"}}]}),
    ));
    let request = chat_body("smart", false);
    assert_eq!(post(&proxy, "/chat/completions", &request).await.status(), 200);
    let r = capture.only().await;
    assert_eq!(r.source, Source::Estimated);
    assert_eq!(r.tokens, Tokens { prompt: prompt_estimate(&request), completion: 4, cached: 0, reasoning: 0 });
}

#[tokio::test]
async fn failures_and_refusals_are_recorded_without_tokens() {
    let (upstream, proxy, capture) = start("").await;
    // An upstream error answer is passed through (400: not retried).
    upstream.push(Reply::error(400, "invalid_request_error", "bad"));
    assert_eq!(post(&proxy, "/chat/completions", &chat_body("smart", false)).await.status(), 400);
    // Every attempt fails.
    for _ in 0..3 {
        upstream.push(Reply::error(500, "server_error", "boom"));
    }
    assert_eq!(post(&proxy, "/chat/completions", &chat_body("smart", false)).await.status(), 502);
    // Refused before any upstream call: an unknown model, a forbidden one, bad JSON.
    assert_eq!(post(&proxy, "/chat/completions", &chat_body("nope", false)).await.status(), 404);
    let bad = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let forbidden = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(LIMITED_KEY)
        .json(&chat_body("router-model", false));
    assert_eq!(forbidden.send().await.unwrap().status(), 403);
    // No record: no key, an unknown key, the model list.
    let url = format!("{}/chat/completions", proxy.url());
    assert_eq!(client().post(&url).json(&chat_body("smart", false)).send().await.unwrap().status(), 401);
    assert_eq!(client().post(&url).bearer_auth("sk-nobody-000000000000").send().await.unwrap().status(), 401);
    assert_eq!(
        client().get(format!("{}/models", proxy.url())).bearer_auth(APP_KEY).send().await.unwrap().status(),
        200
    );

    let records = capture.wait_for(5).await;
    let summary: Vec<_> =
        records.iter().map(|r| (r.status, r.http_status, r.attempts, &*r.key, &*r.route, r.source)).collect();
    assert_eq!(
        summary,
        [
            (Status::UpstreamError, 400, 1, "app", "gpt-4o-mini", Source::None),
            (Status::UpstreamError, 502, 3, "app", "gpt-4o-mini", Source::None),
            (Status::Rejected, 404, 0, "app", "", Source::None),
            (Status::Rejected, 400, 0, "app", "", Source::None),
            (Status::Rejected, 403, 0, "limited", "", Source::None),
        ]
    );
    assert!(records.iter().all(|r| r.tokens == Tokens::default()));
    // Nothing else arrives.
    post(&proxy, "/embeddings", &json!({"model": "text-embedding-3-small", "input": "x"})).await;
    assert_eq!(capture.wait_for(6).await.len(), 6);
}

#[tokio::test]
async fn rate_limited_requests_are_recorded_as_rejected() {
    let upstream = FakeUpstream::start().await;
    let capture = UsageCapture::new();
    let yaml = yaml(&upstream, "")
        .replace(&format!("{{name: app, key: \"{APP_KEY}\"}}"), &format!("{{name: app, key: \"{APP_KEY}\", rpm: 1}}"));
    let proxy = Proxy::start_capturing(&yaml, &capture).await;
    assert_eq!(post(&proxy, "/chat/completions", &chat_body("smart", false)).await.status(), 200);
    assert_eq!(post(&proxy, "/chat/completions", &chat_body("smart", false)).await.status(), 429);
    let records = capture.wait_for(2).await;
    assert_eq!((records[1].status, records[1].http_status, records[1].attempts), (Status::Rejected, 429, 0));
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test]
async fn totals_feed_metrics_and_status() {
    let (upstream, proxy, capture) = start("").await;
    for _ in 0..2 {
        upstream.push(ChatStream::new(Format::Compact, &["a"], serde_json::from_str(USAGE).unwrap()).reply(true));
        post(&proxy, "/chat/completions", &chat_body("smart", true)).await.text().await.unwrap();
    }
    upstream.push(Reply::sse(vec![Chunk::event(r#"{"choices":[{"delta":{"content":"cut"}}]}"#), Chunk::Abort]));
    post(&proxy, "/chat/completions", &chat_body("smart", true)).await.text().await.unwrap();
    let records = capture.wait_for(3).await;
    let estimated = records[2].tokens;

    let metrics = client().get(format!("{}/metrics", proxy.admin_url())).send().await.unwrap().text().await.unwrap();
    let series = |kind: &str, n: u64| {
        format!(
            "switchyard_tokens_total{{model=\"gpt-4o-mini\",provider=\"main\",account=\"a\",kind=\"{kind}\"}} {n}\n"
        )
    };
    for (kind, n) in [
        ("prompt", 2 * 2006 + estimated.prompt),
        ("completion", 2 * 300 + estimated.completion),
        ("cached", 2 * 1920),
        ("reasoning", 2 * 192),
    ] {
        assert!(metrics.contains(&series(kind, n)), "{kind} {n} in {metrics}");
    }
    assert!(metrics.contains("switchyard_usage_dropped_total 0\n"));

    let status = proxy.status().await;
    let usage = &status["usage"];
    assert_eq!(usage["records"], 3);
    assert_eq!((usage["reported"].as_u64(), usage["estimated"].as_u64()), (Some(2), Some(1)));
    assert_eq!(usage["tokens"]["cached"], 2 * 1920);
    assert_eq!(usage["dropped"], 0);
}

/// A sink that cannot keep up fills the channel: records are dropped and
/// counted, and requests go on as if nothing happened.
#[tokio::test]
async fn a_full_channel_drops_and_counts_without_slowing_requests() {
    let upstream = FakeUpstream::start().await;
    let capture = UsageCapture::held();
    let sink: Arc<dyn switchyard_proxy::usage::UsageSink> = capture.clone();
    let proxy = Proxy::start_with(&yaml(&upstream, ""), |o| {
        o.usage.capacity = 2;
        o.usage.sinks.push(sink);
    })
    .await;
    // The first record reaches the sink, which holds it.
    assert_eq!(post(&proxy, "/chat/completions", &chat_body("smart", false)).await.status(), 200);
    capture.wait_for_batches(1).await;
    // Two fit in the channel; the rest are dropped. None of the requests waits.
    for _ in 0..10 {
        assert_eq!(post(&proxy, "/chat/completions", &chat_body("smart", false)).await.status(), 200);
    }
    let status = proxy.status().await;
    assert_eq!(status["usage"]["dropped"], 8);
    let metrics = client().get(format!("{}/metrics", proxy.admin_url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_usage_dropped_total 8\n"), "{metrics}");
    capture.release();
    assert_eq!(capture.wait_for(3).await.len(), 3);
}

#[tokio::test]
async fn accounting_off_leaves_streams_alone() {
    let upstream = FakeUpstream::start().await;
    let proxy = Proxy::start_with(&yaml(&upstream, ""), |o| o.usage.mode = switchyard_proxy::usage::Mode::Off).await;
    let completion = ChatStream::new(Format::Compact, &["Hi"], serde_json::from_str(USAGE).unwrap());
    upstream.push(completion.reply(true));
    let text = post(&proxy, "/chat/completions", &chat_body("smart", true)).await.text().await.unwrap();
    assert_eq!(text, completion.body(true), "nothing stripped, nothing injected");
    assert!(upstream.requests()[0].json().get("stream_options").is_none());
    assert_eq!(proxy.status().await["usage"]["enabled"], false);
}
