#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Upstream kinds and transport: Azure's URL and auth, an outbound proxy,
//! streams that fail before and after their first event, and timeouts.

use bytes::Bytes;
use serde_json::Value;
use switchyard_tests::harness::*;
use switchyard_tests::{Chunk, FakeUpstream, Reply, eventually_value, schema};

fn chat(model: &str, stream: bool) -> Value {
    chat_body(model, stream)
}

fn one_provider(provider: &str) -> String {
    format!(
        r#"
providers:
{provider}
models:
  - name: m
    targets: [{{provider: p, model: deploy-1}}]
keys:
  - {{name: app, key: "{APP_KEY}"}}
"#
    )
}

#[tokio::test]
async fn azure_gets_its_deployment_url_and_api_key_header() {
    let azure = FakeUpstream::start().await;
    let provider = format!(
        "  - {{name: p, kind: azure, base_url: \"http://{}\", api_version: \"2024-10-21\", accounts: [{{name: a, api_key: \"{UPSTREAM_KEY_A}\"}}]}}",
        azure.addr()
    );
    let proxy = Proxy::start(&one_provider(&provider)).await;
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat("m", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &azure.requests()[0];
    assert_eq!(seen.uri.path(), "/openai/deployments/deploy-1/chat/completions");
    assert_eq!(seen.uri.query(), Some("api-version=2024-10-21"));
    assert_eq!(seen.header("api-key"), Some(UPSTREAM_KEY_A));
    assert!(seen.header("authorization").is_none());
}

#[tokio::test]
async fn an_outbound_proxy_carries_the_provider_traffic() {
    let forward_proxy = FakeUpstream::start().await;
    let provider = format!(
        "  - {{name: p, kind: openai-compatible, base_url: \"http://upstream.invalid/v1\", proxy: \"http://{}\", accounts: [{{name: a, api_key: \"{UPSTREAM_KEY_A}\"}}]}}",
        forward_proxy.addr()
    );
    let proxy = Proxy::start(&one_provider(&provider)).await;
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat("m", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &forward_proxy.requests()[0];
    assert_eq!(seen.header("host"), Some("upstream.invalid"), "the request for the provider went through the proxy");
    assert_eq!(seen.uri.path(), "/v1/chat/completions");
}

async fn setup_with_timeouts() -> (FakeUpstream, Proxy) {
    let main = FakeUpstream::start().await;
    let yaml = gateway_yaml(&main.base_url(), &main.base_url()).replace(
        "timeout: {connect: 2s, first_token: 5s, idle: 5s, total: 30s}",
        "timeout: {connect: 2s, first_token: 300ms, idle: 300ms, total: 30s}",
    );
    (main, Proxy::start(&yaml).await)
}

#[tokio::test]
async fn a_stream_that_breaks_before_its_first_event_is_a_clean_error() {
    // One endpoint, retried up to max_attempts (3): each attempt fails the same way.
    let (main, proxy) = setup_with_timeouts().await;
    let url = format!("{}/chat/completions", proxy.url());
    for _ in 0..3 {
        let chunks = vec![Chunk::Bytes(Bytes::from_static(b": ping\n\n")), Chunk::Abort];
        main.push(Reply::Sse { status: 200, headers: vec![], chunks });
    }
    let response = client().post(&url).bearer_auth(APP_KEY).json(&chat("smart", true)).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["content-type"], "application/json", "nothing was streamed");
    let body: Value = response.json().await.unwrap();
    schema::validate("ErrorResponse", &body).unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("main/a: stream broke before its first event"),
        "{body}"
    );
    // No first event within first_token: 504, nothing streamed.
    for _ in 0..3 {
        main.push(Reply::Sse { status: 200, headers: vec![], chunks: vec![Chunk::Stall] });
    }
    let response = client().post(&url).bearer_auth(APP_KEY).json(&chat("smart", true)).send().await.unwrap();
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_attempts_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("main/a: no first token in time"), "{body}");
}

#[tokio::test]
async fn a_stream_that_breaks_or_stalls_later_ends_with_an_error_event_and_done() {
    let (main, proxy) = setup_with_timeouts().await;
    let url = format!("{}/chat/completions", proxy.url());
    for (last, code) in [(Chunk::Abort, "upstream_stream_broken"), (Chunk::Stall, "upstream_idle_timeout")] {
        main.push(Reply::Sse { status: 200, headers: vec![], chunks: vec![Chunk::event("{\"n\":1}"), last] });
        let response = client().post(&url).bearer_auth(APP_KEY).json(&chat("smart", true)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3, "{text}");
        assert_eq!(events[0], "data: {\"n\":1}");
        let error: Value = serde_json::from_str(events[1].strip_prefix("data: ").unwrap()).unwrap();
        schema::validate("ErrorResponse", &error).unwrap();
        assert_eq!(error["error"]["code"], code);
        assert_eq!(events[2], "data: [DONE]");
    }
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_closes_the_upstream_request() {
    let (main, proxy) = setup_with_timeouts().await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    main.push(Reply::Sse {
        status: 200,
        headers: vec![],
        chunks: vec![Chunk::event("{\"n\":1}"), Chunk::Wait(gate.clone())],
    });
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat("smart", true))
        .send()
        .await
        .unwrap();
    let mut stream = futures_util::StreamExt::boxed(response.bytes_stream());
    futures_util::StreamExt::next(&mut stream).await.unwrap().unwrap();
    drop(stream);
    let what = "the upstream response closed after the client left";
    eventually_value(what, async || main.aborted_responses(), |n| *n == 1).await;
}
