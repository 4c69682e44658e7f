#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Passthrough (the `/v1/*` paths the gateway does not serve itself): hostile
//! paths and methods are refused before anything reaches the upstream, each
//! key reaches only what its passthrough policy opens, and a non-idempotent
//! request that may have reached an upstream is never sent to another.

use serde_json::{Value, json};
use std::time::Duration;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `passthrough: {methods: [GET], paths: [/files, /batches]}`.
const READER_KEY: &str = "sk-client-reader-0123456789";
/// `passthrough: {paths: [/]}`: every path, so a refusal below is the path's own.
const OPEN_KEY: &str = "sk-client-open-0123456789";

/// Providers `a` (priority 0) and `b` (priority 1) behind model `m`, the default.
fn yaml(a: &str, b: &str) -> String {
    format!(
        r#"
providers:
  - {{name: a, kind: openai-compatible, base_url: "{a}", timeout: {{connect: 2s, total: 1s}}, accounts: [{{name: k, api_key: sk-upstream-a-000000}}]}}
  - {{name: b, kind: openai-compatible, base_url: "{b}", accounts: [{{name: k, api_key: sk-upstream-b-000000}}]}}
models:
  - {{name: m, targets: [{{provider: a, model: up-a, priority: 0}}, {{provider: b, model: up-b, priority: 1}}]}}
keys:
  - {{name: app, key: "{APP_KEY}"}}
  - {{name: files, key: "{FILES_KEY}", passthrough: {{paths: [/files]}}}}
  - {{name: reader, key: "{READER_KEY}", passthrough: {{methods: [GET], paths: [/files, /batches]}}}}
  - {{name: open, key: "{OPEN_KEY}", passthrough: {{paths: [/]}}}}
settings:
  default_model: m
  breaker: {{consecutive_failures: 100}}
"#
    )
}

async fn setup() -> (FakeUpstream, FakeUpstream, Proxy) {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let proxy = Proxy::start(&yaml(&a.base_url(), &b.base_url())).await;
    (a, b, proxy)
}

/// One HTTP/1.1 request written byte for byte (no client library normalises
/// the target), answered on a closed connection: status and JSON body.
async fn raw(proxy: &Proxy, method: &str, target: &str, key: &str) -> (u16, Value) {
    let mut tcp = tokio::net::TcpStream::connect(proxy.handle().addr).await.unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let body =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {target}: body not JSON ({e}): {answer}"));
    (status, body)
}

async fn send(proxy: &Proxy, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> reqwest::Response {
    let request = client().request(method, format!("{}{path}", proxy.url())).bearer_auth(key);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

fn assert_error(body: &Value, type_: &str, code: &str) {
    let error = &body["error"];
    assert_eq!(error["type"], type_, "{body}");
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].is_string() && error.get("param").is_some(), "{body}");
}

#[tokio::test]
async fn hostile_paths_are_refused_before_the_upstream() {
    let (a, b, proxy) = setup().await;
    let long = format!("/v1/{}../admin", "a/".repeat(2000));
    let hostile = [
        "/v1/../admin",
        "/v1/%2e%2e/admin",
        "/v1/%2E%2E/admin",
        "/v1/.%2e/admin",
        "/v1/%2e./admin",
        "/v1/foo/../../../etc/passwd",
        "/v1/./files",
        "/v1/files/.",
        "/v1/files/..;/admin",
        "/v1/files/%2f..%2fadmin",
        "/v1/files/%2F..%2Fadmin",
        "/v1/files/%5c..%5cadmin",
        "/v1/files\\..\\admin",
        "/v1/files/%252e%252e/admin",
        "/v1/files/x%00",
        "/v1/files/x%0d%0aHost:%20evil",
        "/v1/files/%zz",
        "/v1//admin",
        "/v1/files//x",
        "/v1/files/",
        "/../admin",
        "/%2e%2e/admin",
        &long,
    ];
    for path in hostile {
        let (status, body) = raw(&proxy, "GET", path, OPEN_KEY).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_error(&body, "invalid_request_error", "invalid_path");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.len() < 300, "the echoed path is bounded: {message}");
    }
    assert!(a.requests().is_empty() && b.requests().is_empty(), "nothing reached an upstream");

    // A plain path (an id with an escaped character) goes through as written.
    let (status, body) = raw(&proxy, "GET", "/v1/files/file-a%3Ab/content", OPEN_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(a.requests()[0].uri.path(), "/v1/files/file-a%3Ab/content");
}

#[tokio::test]
async fn only_get_post_and_delete_are_passed_through() {
    let (a, b, proxy) = setup().await;
    for (method, target) in [
        ("OPTIONS", "*"),
        ("OPTIONS", "/v1/files"),
        ("PUT", "/v1/files/file-1"),
        ("PATCH", "/v1/files/file-1"),
        ("TRACE", "/v1/files"),
        ("CONNECT", "/v1/files"),
        ("PROPFIND", "/v1/files"),
    ] {
        let (status, body) = raw(&proxy, method, target, OPEN_KEY).await;
        assert_eq!(status, 405, "{method} {target}: {body}");
        assert_error(&body, "invalid_request_error", "method_not_allowed");
    }
    assert!(a.requests().is_empty() && b.requests().is_empty(), "nothing reached an upstream");
    for method in [reqwest::Method::GET, reqwest::Method::POST, reqwest::Method::DELETE] {
        let response = send(&proxy, method.clone(), "/files/file-1", OPEN_KEY, None).await;
        assert_eq!(response.status(), 200, "{method}");
    }
    assert_eq!(a.requests().len(), 3);
}

#[tokio::test]
async fn the_default_policy_serves_model_endpoints_only() {
    let (a, _b, proxy) = setup().await;
    for (method, path) in [
        (reqwest::Method::GET, "/files"),
        (reqwest::Method::DELETE, "/files/file-1"),
        (reqwest::Method::GET, "/files/file-1/content"),
        (reqwest::Method::GET, "/batches"),
        (reqwest::Method::POST, "/fine_tuning/jobs"),
        (reqwest::Method::GET, "/assistants"),
        (reqwest::Method::GET, "/vector_stores"),
        (reqwest::Method::GET, "/organization/users"),
        (reqwest::Method::GET, "/responses/resp_1"),
        (reqwest::Method::DELETE, "/responses/resp_1"),
        (reqwest::Method::GET, "/chat/completions/chatcmpl-1"),
        (reqwest::Method::GET, "/moderations"),
    ] {
        let response = send(&proxy, method.clone(), path, APP_KEY, None).await;
        assert_eq!(response.status(), 403, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_error(&body, "permission_error", "passthrough_not_allowed");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("keys[].passthrough.paths"), "the message names the field to set: {message}");
    }
    assert!(a.requests().is_empty(), "no refused request reached the upstream");

    // Model endpoints: a JSON model is routed (and rewritten), uploads go to the default model.
    let response =
        send(&proxy, reqwest::Method::POST, "/moderations", APP_KEY, Some(json!({"model": "m", "input": "hi"}))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(a.requests()[0].uri.path(), "/v1/moderations");
    assert_eq!(a.requests()[0].json()["model"], "up-a");
    let form = "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm\r\n--b--\r\n";
    let response = client()
        .post(format!("{}/audio/transcriptions", proxy.url()))
        .bearer_auth(APP_KEY)
        .header("content-type", "multipart/form-data; boundary=b")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(a.requests()[1].uri.path(), "/v1/audio/transcriptions");
    let response =
        send(&proxy, reqwest::Method::POST, "/images/generations", APP_KEY, Some(json!({"model": "m", "prompt": "x"})))
            .await;
    assert_eq!(response.status(), 200);
    assert_eq!(a.requests().len(), 3);
}

#[tokio::test]
async fn a_key_policy_opens_paths_and_methods() {
    let (a, _b, proxy) = setup().await;
    for (method, path) in [
        (reqwest::Method::GET, "/files"),
        (reqwest::Method::GET, "/files/file-1/content"),
        (reqwest::Method::DELETE, "/files/file-1"),
    ] {
        let response = send(&proxy, method.clone(), path, FILES_KEY, None).await;
        assert_eq!(response.status(), 200, "{method} {path}");
        assert_eq!(a.requests().last().unwrap().uri.path(), format!("/v1{path}"));
    }
    // A prefix covers whole segments only; other paths stay closed.
    for path in ["/filesystem", "/batches"] {
        let response = send(&proxy, reqwest::Method::GET, path, FILES_KEY, None).await;
        assert_eq!(response.status(), 403, "{path}");
    }
    // The model endpoints stay open beside the policy's paths.
    let response =
        send(&proxy, reqwest::Method::POST, "/moderations", FILES_KEY, Some(json!({"model": "m", "input": "x"}))).await;
    assert_eq!(response.status(), 200);

    // Methods narrow what the paths open.
    let response = send(&proxy, reqwest::Method::GET, "/batches/batch_1", READER_KEY, None).await;
    assert_eq!(response.status(), 200);
    let response = send(&proxy, reqwest::Method::DELETE, "/files/file-1", READER_KEY, None).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_error(&body, "permission_error", "passthrough_not_allowed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("keys[].passthrough.methods"), "{message}");
    assert_eq!(a.requests().len(), 5);
}

#[tokio::test]
async fn a_non_idempotent_passthrough_is_not_resent_after_it_may_have_arrived() {
    let (a, b, proxy) = setup().await;
    // A 5xx on a POST: the upstream may have acted on it; its answer is the client's.
    a.push(Reply::error(500, "server_error", "boom"));
    let body = json!({"model": "m", "prompt": "a cat"});
    let response = send(&proxy, reqwest::Method::POST, "/images/generations", APP_KEY, Some(body)).await;
    assert_eq!(response.status(), 500);
    assert_eq!((a.requests().len(), b.requests().len()), (1, 0), "sent once");
    // Likewise a DELETE.
    a.push(Reply::error(503, "server_error", "busy"));
    let response = send(&proxy, reqwest::Method::DELETE, "/files/file-1", FILES_KEY, None).await;
    assert_eq!(response.status(), 503);
    assert_eq!((a.requests().len(), b.requests().len()), (2, 0), "sent once");
    // A timeout after sending: no resend either.
    a.push(Reply::delayed(Duration::from_secs(5), Reply::json(200, json!({}))));
    let body = json!({"model": "m", "input": "x"});
    let response = send(&proxy, reqwest::Method::POST, "/moderations", APP_KEY, Some(body)).await;
    assert_eq!(response.status(), 504);
    assert_eq!(b.requests().len(), 0, "a timed-out POST is not resent");

    // A GET reads only: it fails over as before.
    a.push(Reply::error(500, "server_error", "boom"));
    let response = send(&proxy, reqwest::Method::GET, "/files", FILES_KEY, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(b.requests().len(), 1, "the GET was resent to b");
    // So does inference, the documented failover.
    a.push(Reply::error(500, "server_error", "boom"));
    let response = send(&proxy, reqwest::Method::POST, "/chat/completions", APP_KEY, Some(chat_body("m", false))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(b.requests().len(), 2, "the chat completion failed over to b");
}

#[tokio::test]
async fn a_non_idempotent_passthrough_fails_over_when_it_was_never_sent() {
    // Nothing listens on a's port: the connection is refused before a byte is sent.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let b = FakeUpstream::start().await;
    let proxy = Proxy::start(&yaml(&dead, &b.base_url())).await;
    let body = json!({"model": "m", "prompt": "a cat"});
    let response = send(&proxy, reqwest::Method::POST, "/images/generations", APP_KEY, Some(body)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(b.requests().len(), 1);
    assert_eq!(b.requests()[0].json()["model"], "up-b");
}

#[tokio::test]
async fn a_non_idempotent_passthrough_moves_on_after_a_429() {
    let (a, b, proxy) = setup().await;
    // A 429 says the upstream did not take the request.
    a.push(Reply::error(429, "rate_limit", "slow down"));
    let body = json!({"model": "m", "prompt": "a cat"});
    let response = send(&proxy, reqwest::Method::POST, "/images/generations", APP_KEY, Some(body)).await;
    assert_eq!(response.status(), 200);
    assert_eq!((a.requests().len(), b.requests().len()), (1, 1));
}
