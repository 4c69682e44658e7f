#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Client keys in every form, keys never crossing, and every error the proxy
//! produces: its status and an OpenAI-shaped body.

use serde_json::{Value, json};
use std::time::Duration;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, Reply, schema};

async fn setup() -> (FakeUpstream, Proxy) {
    let main = FakeUpstream::start().await;
    let proxy = Proxy::start(&gateway_yaml(&main.base_url(), &main.base_url())).await;
    (main, proxy)
}

fn chat(model: &str) -> Value {
    chat_body(model, false)
}

/// Asserts an OpenAI-shaped error with this status and code.
async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    schema::validate("ErrorResponse", &body).unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    body
}

#[tokio::test]
async fn every_key_form_authenticates_and_none_reaches_the_upstream() {
    let (main, proxy) = setup().await;
    let url = format!("{}/chat/completions", proxy.url());
    let forms = [
        client().post(&url).header("authorization", format!("Bearer {APP_KEY}")),
        client().post(&url).header("x-api-key", APP_KEY),
        client().post(&url).header("api-key", APP_KEY),
        client().post(format!("{url}?api_key={APP_KEY}")),
    ];
    for request in forms {
        let response = request.json(&chat("smart")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(!text.contains(UPSTREAM_KEY_A));
    }
    for seen in main.requests() {
        let all = format!("{:?} {:?} {}", seen.uri, seen.headers, String::from_utf8_lossy(&seen.body));
        assert!(!all.contains(APP_KEY), "client key leaked upstream: {all}");
        assert_eq!(seen.header("authorization"), Some(format!("Bearer {UPSTREAM_KEY_A}").as_str()));
        assert!(seen.header("x-api-key").is_none() && seen.header("api-key").is_none());
    }
}

#[tokio::test]
async fn bad_keys_are_refused() {
    let (main, proxy) = setup().await;
    let url = format!("{}/chat/completions", proxy.url());
    expect_error(client().post(&url).json(&chat("smart")).send().await.unwrap(), 401, "missing_api_key").await;
    expect_error(
        client().post(&url).bearer_auth("sk-wrong-0123456789").json(&chat("smart")).send().await.unwrap(),
        401,
        "invalid_api_key",
    )
    .await;
    expect_error(
        client().post(&url).bearer_auth(EXPIRED_KEY).json(&chat("smart")).send().await.unwrap(),
        401,
        "expired_api_key",
    )
    .await;
    expect_error(
        client().post(&url).bearer_auth(DISABLED_KEY).json(&chat("smart")).send().await.unwrap(),
        401,
        "disabled_api_key",
    )
    .await;
    expect_error(client().get(format!("{}/models", proxy.url())).send().await.unwrap(), 401, "missing_api_key").await;
    assert!(main.requests().is_empty());
}

#[tokio::test]
async fn the_upstream_key_never_comes_back() {
    let (main, proxy) = setup().await;
    let url = format!("{}/chat/completions", proxy.url());
    // Any other error body that quotes it is scrubbed.
    main.push(Reply::error(400, "invalid_request_error", &format!("bad request for key {UPSTREAM_KEY_A}")));
    let response = client().post(&url).bearer_auth(APP_KEY).json(&chat("smart")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(!text.contains(UPSTREAM_KEY_A) && text.contains("[redacted]"), "{text}");
    // An upstream 401 quoting our key: the client gets a gateway error instead.
    main.push(Reply::error(401, "invalid_request_error", &format!("Incorrect API key provided: {UPSTREAM_KEY_A}")));
    let body = expect_error(
        client().post(&url).bearer_auth(APP_KEY).json(&chat("smart")).send().await.unwrap(),
        502,
        "upstream_attempts_failed",
    )
    .await;
    assert_eq!(body["error"]["message"], "The upstream attempt failed: main/a: HTTP 401.");
    assert!(!body.to_string().contains(UPSTREAM_KEY_A));
}

#[tokio::test]
async fn routing_errors() {
    let (_main, proxy) = setup().await;
    let url = format!("{}/chat/completions", proxy.url());
    let body = expect_error(
        client().post(&url).bearer_auth(APP_KEY).json(&chat("gpt-5")).send().await.unwrap(),
        404,
        "model_not_found",
    )
    .await;
    assert_eq!(body["error"]["param"], "model");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    expect_error(
        client().post(&url).bearer_auth(LIMITED_KEY).json(&chat("router-model")).send().await.unwrap(),
        403,
        "model_not_allowed",
    )
    .await;
    expect_error(
        client()
            .post(&url)
            .bearer_auth(APP_KEY)
            .header("content-type", "application/json")
            .body("{\"model\":")
            .send()
            .await
            .unwrap(),
        400,
        "invalid_json",
    )
    .await;
    expect_error(
        client().post(&url).bearer_auth(APP_KEY).json(&json!({"model": 5})).send().await.unwrap(),
        400,
        "invalid_json",
    )
    .await;
    expect_error(client().get(&url).bearer_auth(APP_KEY).send().await.unwrap(), 405, "method_not_allowed").await;
}

#[tokio::test]
async fn no_model_and_no_default_is_a_400() {
    let main = FakeUpstream::start().await;
    let yaml = gateway_yaml(&main.base_url(), &main.base_url()).replace("  default_model: gpt-4o-mini\n", "");
    let proxy = Proxy::start(&yaml).await;
    let url = format!("{}/chat/completions", proxy.url());
    let body = expect_error(
        client().post(&url).bearer_auth(APP_KEY).json(&json!({"messages": []})).send().await.unwrap(),
        400,
        "model_required",
    )
    .await;
    assert_eq!(body["error"]["param"], "model");
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_being_read() {
    let (main, proxy) = setup().await;
    let url = format!("{}/chat/completions", proxy.url());
    // Declared too large: 413 at once, though the client never sends the body.
    let mut stream = tokio::net::TcpStream::connect(proxy.handle().addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {APP_KEY}\r\ncontent-type: application/json\r\ncontent-length: 50000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"));
    // Chunked, without a length: refused once it passes the limit.
    let big = vec![b' '; 2 << 20];
    let body = [b"{\"model\":\"smart\",\"x\":\"".as_slice(), &big, b"\"}"].concat();
    let chunks = futures_util::stream::iter(
        body.chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
    );
    let response = client().post(&url).bearer_auth(APP_KEY).body(reqwest::Body::wrap_stream(chunks)).send().await;
    if let Ok(response) = response {
        expect_error(response, 413, "body_too_large").await;
    }
    assert!(main.requests().is_empty());
}

#[tokio::test]
async fn over_the_concurrency_limit_is_a_503_at_once() {
    let main = FakeUpstream::start().await;
    let yaml = gateway_yaml(&main.base_url(), &main.base_url()).replace("max_concurrency: 64", "max_concurrency: 1");
    let proxy = Proxy::start(&yaml).await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    main.push(Reply::Sse {
        status: 200,
        headers: vec![],
        chunks: vec![switchyard_tests::Chunk::event("{}"), switchyard_tests::Chunk::Wait(gate.clone())],
    });
    let url = format!("{}/chat/completions", proxy.url());
    let mut body = chat("smart");
    body["stream"] = json!(true);
    let held = client().post(&url).bearer_auth(APP_KEY).json(&body).send().await.unwrap();
    assert_eq!(held.status(), 200);
    let refused = client().post(&url).bearer_auth(APP_KEY).json(&chat("smart")).send().await.unwrap();
    let retry_after = refused.headers().get("retry-after").cloned();
    expect_error(refused, 503, "overloaded").await;
    assert_eq!(retry_after.unwrap(), "1");
    gate.notify_one();
    held.bytes().await.unwrap();
    // The slot is free again once the stream ended.
    assert_eq!(client().post(&url).bearer_auth(APP_KEY).json(&chat("smart")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn slow_clients_cannot_hold_a_connection() {
    let main = FakeUpstream::start().await;
    let yaml = gateway_yaml(&main.base_url(), &main.base_url());
    let proxy = Proxy::start_with(&yaml, |o| {
        o.header_timeout = Duration::from_millis(300);
        o.body_timeout = Duration::from_millis(300);
    })
    .await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Headers that never finish: the connection is closed.
    let mut stream = tokio::net::TcpStream::connect(proxy.handle().addr).await.unwrap();
    stream.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("closed by the proxy")
        .unwrap_or(0);
    assert!(n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"), "{}", String::from_utf8_lossy(&buf[..n]));
    // A body that never finishes: 408.
    let mut stream = tokio::net::TcpStream::connect(proxy.handle().addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {APP_KEY}\r\ncontent-length: 100\r\n\r\n{{\"model\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"));
}

#[tokio::test]
async fn upstream_failures_are_gateway_errors() {
    let (main, proxy) = setup().await;
    let url = format!("{}/chat/completions", proxy.url());
    for _ in 0..3 {
        main.push(Reply::Hangup);
    }
    let response = client().post(&url).bearer_auth(APP_KEY).json(&chat("smart")).send().await.unwrap();
    let body = expect_error(response, 502, "upstream_attempts_failed").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("All 3 upstream attempts failed: main/a: "), "{message}");
    // A dead upstream: nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/v1", dead.local_addr().unwrap());
    drop(dead);
    let proxy = Proxy::start(&gateway_yaml(&dead_url, &dead_url)).await;
    let body = expect_error(
        client()
            .post(format!("{}/chat/completions", proxy.url()))
            .bearer_auth(APP_KEY)
            .json(&chat("smart"))
            .send()
            .await
            .unwrap(),
        502,
        "upstream_attempts_failed",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "All 3 upstream attempts failed: main/a: connect error; main/a: connect error; main/a: connect error."
    );
    assert!(!body.to_string().contains("127.0.0.1"), "no upstream URL in errors: {body}");
    let metrics = client().get(format!("{}/metrics", proxy.admin_url())).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics
            .contains(r#"switchyard_requests_total{model="gpt-4o-mini",provider="main",account="a",status="502"} 3"#),
        "failures count on their endpoint:\n{metrics}"
    );
}

#[tokio::test]
async fn unknown_paths_and_admin_endpoints() {
    let (_main, proxy) = setup().await;
    let admin = proxy.admin_url();
    assert_eq!(client().get(format!("{admin}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client().get(format!("{admin}/readyz")).send().await.unwrap().status(), 200);
    let base = format!("http://{}", proxy.handle().addr);
    assert_eq!(client().get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client().get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    let _ = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat("smart"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await;
    let metrics = client().get(format!("{admin}/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "switchyard_requests_total",
        "switchyard_tokens_total",
        "switchyard_request_duration_seconds",
        "switchyard_first_token_seconds",
        "switchyard_inflight_requests",
        "switchyard_breaker_state",
        "switchyard_failovers_total",
        "switchyard_snapshot_age_seconds",
        "switchyard_telemetry_dropped_total",
    ] {
        assert!(metrics.contains(&format!("# TYPE {name} ")), "{name} missing from:\n{metrics}");
    }
    assert!(
        metrics
            .contains(r#"switchyard_requests_total{model="gpt-4o-mini",provider="main",account="a",status="200"} 1"#),
        "{metrics}"
    );
    let status = proxy.status().await;
    assert_eq!(status["ready"], true);
    assert_eq!(status["config"]["version"], 1);
    let endpoint = status["endpoints"].as_array().unwrap().iter().find(|e| e["model"] == "gpt-4o-mini").unwrap();
    assert_eq!(endpoint["requests"], 1);
    assert!(!status.to_string().contains(UPSTREAM_KEY_A));
}

#[tokio::test]
async fn refusals_are_counted_once_and_quote_the_client_briefly() {
    let main = FakeUpstream::start().await;
    let yaml = gateway_yaml(&main.base_url(), &main.base_url())
        .replace(r#"- {name: b, api_key: ""#, r#"- {name: b, enabled: false, api_key: ""#);
    let proxy = Proxy::start(&yaml).await;
    let url = format!("{}/chat/completions", proxy.url());
    // Every account of the model is disabled: a 503 before any endpoint.
    let body = expect_error(
        client().post(&url).bearer_auth(APP_KEY).json(&chat("router-model")).send().await.unwrap(),
        503,
        "no_upstream_available",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("'router-model'"), "{body}");
    // A model name of 100,000 characters is quoted, cut, in the error.
    let long = "m".repeat(100_000);
    let body = expect_error(
        client().post(&url).bearer_auth(APP_KEY).json(&chat(&long)).send().await.unwrap(),
        404,
        "model_not_found",
    )
    .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.len() < 300 && message.contains("mmm..."), "{message}");
    let body = expect_error(
        client().request(reqwest::Method::PATCH, &url).bearer_auth(APP_KEY).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("PATCH"), "{body}");
    let metrics = client().get(format!("{}/metrics", proxy.admin_url())).send().await.unwrap().text().await.unwrap();
    for status in [503, 404, 405] {
        let line = format!(r#"switchyard_requests_total{{model="",provider="",account="",status="{status}"}} 1"#);
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn errors_on_the_messages_api_are_anthropic_shaped() {
    let (main, proxy) = setup().await;
    let url = format!("{}/messages", proxy.url());
    let body = json!({"model": "smart", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let response = client().post(&url).header("x-api-key", "sk-wrong").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["type"], "authentication_error", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("Incorrect API key"), "{error}");
    let response = client().post(&url).header("x-api-key", APP_KEY).body("{").send().await.unwrap();
    let status = response.status();
    let error: Value = response.json().await.unwrap();
    assert!(
        status.is_client_error() && error["type"] == "error" && error["error"]["type"].is_string(),
        "{status} {error}"
    );
    assert!(main.requests().is_empty());
}
