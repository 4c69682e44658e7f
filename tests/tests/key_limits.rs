#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Client keys' limits on a standalone data plane: `rpm` (this node's share of
//! it, carried over reloads) and budgets from the Runtime overlay. The
//! limiter's refill over time is unit-tested on paused time in
//! `data-plane/src/limit.rs`; here nothing waits for it.

use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::model::{KeyRuntime, RuntimeState};
use switchyard_proxy::runtime::Overlay;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, Reply, eventually_value, schema};

/// The harness's config with `extra` fields on the key `app`.
fn yaml_with(upstream: &FakeUpstream, extra: &str) -> String {
    let yaml = gateway_yaml(&upstream.base_url(), &upstream.base_url());
    let plain = format!("{{name: app, key: \"{APP_KEY}\"}}");
    assert!(yaml.contains(&plain));
    yaml.replace(&plain, &format!("{{name: app, key: \"{APP_KEY}\", {extra}}}"))
}

async fn start(extra: &str) -> (FakeUpstream, Proxy) {
    let upstream = FakeUpstream::start().await;
    let proxy = Proxy::start(&yaml_with(&upstream, extra)).await;
    (upstream, proxy)
}

async fn chat(proxy: &Proxy, key: &str) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(key)
        .json(&chat_body("smart", false))
        .send()
        .await
        .unwrap()
}

/// Requests with `key` until one is refused (at most `max`); the number that passed.
async fn admitted(proxy: &Proxy, key: &str, max: usize) -> usize {
    for n in 0..max {
        if chat(proxy, key).await.status() != 200 {
            return n;
        }
    }
    max
}

/// An OpenAI-shaped 429 with this code and type; its body.
async fn expect_429(response: reqwest::Response, code: &str, kind: &str) -> Value {
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    schema::validate("ErrorResponse", &body).unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(!body.to_string().contains(APP_KEY), "the key itself is never quoted: {body}");
    body
}

/// Installs a Runtime overlay with these key entries, as the control plane would.
fn set_runtime(proxy: &Proxy, keys: &[(&str, KeyRuntime)]) {
    let shared = proxy.handle().shared();
    let rt = shared.runtime.load_full().unwrap();
    let state = RuntimeState {
        keys: keys.iter().map(|(name, k)| ((*name).to_owned(), *k)).collect(),
        ..RuntimeState::default()
    };
    let overlay = Overlay { version: rt.overlay.version + 1, hash: None, state };
    switchyard_proxy::source::install(shared, rt.config.clone(), rt.version, Arc::new(overlay)).unwrap();
}

/// Rewrites gateway.yaml and waits for the data plane to apply it.
async fn reload(proxy: &Proxy, yaml: &str) {
    let version = proxy.config_version().await;
    std::fs::write(&proxy.config, yaml).unwrap();
    proxy.wait_for_version_change(version).await;
}

async fn metrics(proxy: &Proxy) -> String {
    client().get(format!("{}/metrics", proxy.admin_url())).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn rpm_admits_its_burst_then_refuses_with_rate_limit_headers() {
    let (upstream, proxy) = start("rpm: 3").await;
    for _ in 0..3 {
        assert_eq!(chat(&proxy, APP_KEY).await.status(), 200);
    }
    let refused = chat(&proxy, APP_KEY).await;
    let headers = refused.headers().clone();
    let body = expect_429(refused, "rate_limit_exceeded", "requests").await;
    assert_eq!(
        body["error"]["message"],
        format!(
            "Rate limit reached for the key 'app': 3 requests per minute. Retry in {} s.",
            headers["retry-after"].to_str().unwrap()
        )
    );
    // One request every 20 s: the next is due in (just under) 20 s.
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((19..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["x-ratelimit-limit-requests"], "3");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
    assert_eq!(upstream.requests().len(), 3, "the refused request never went upstream");

    // Another key is not affected.
    assert_eq!(chat(&proxy, DIRECT_KEY).await.status(), 200);
    assert_eq!(upstream.requests().len(), 4);

    let text = metrics(&proxy).await;
    assert!(text.contains("switchyard_requests_refused_total{reason=\"rate_limited\"} 1\n"), "{text}");
    assert!(text.contains("switchyard_requests_refused_total{reason=\"over_budget\"} 0\n"), "{text}");
    assert!(text.contains(r#"switchyard_requests_total{model="",provider="",account="",status="429"} 1"#), "{text}");
    let status = proxy.status().await;
    let limited = status["limited_keys"].as_array().unwrap();
    assert_eq!(limited.len(), 1, "{status}");
    assert_eq!(limited[0]["name"], "app");
    assert_eq!(limited[0]["remaining_requests"], 0);
}

#[tokio::test]
async fn every_request_with_the_key_counts() {
    let (upstream, proxy) = start("rpm: 2").await;
    let models = client().get(format!("{}/models", proxy.url())).bearer_auth(APP_KEY).send().await.unwrap();
    assert_eq!(models.status(), 200);
    assert_eq!(chat(&proxy, APP_KEY).await.status(), 200);
    let models = client().get(format!("{}/models", proxy.url())).bearer_auth(APP_KEY).send().await.unwrap();
    expect_429(models, "rate_limit_exceeded", "requests").await;
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test]
async fn a_reload_keeps_the_use_and_a_raised_rpm_admits_more() {
    let (upstream, proxy) = start("rpm: 3").await;
    assert_eq!(admitted(&proxy, APP_KEY, 10).await, 3);

    // Another key added: `app` is unchanged and keeps its use.
    let yaml = yaml_with(&upstream, "rpm: 3")
        .replace("keys:\n", "keys:\n  - {name: newcomer, key: \"sk-client-newcomer-0123456789\", rpm: 1}\n");
    reload(&proxy, &yaml).await;
    expect_429(chat(&proxy, APP_KEY).await, "rate_limit_exceeded", "requests").await;
    assert_eq!(chat(&proxy, "sk-client-newcomer-0123456789").await.status(), 200);

    // Raised to 6: the 3 used stay used, 3 more pass (4 if the test took 20 s).
    reload(&proxy, &yaml_with(&upstream, "rpm: 6")).await;
    let more = admitted(&proxy, APP_KEY, 10).await;
    assert!((3..=4).contains(&more), "{more}");
    let refused = chat(&proxy, APP_KEY).await;
    assert_eq!(refused.headers()["x-ratelimit-limit-requests"], "6");
    expect_429(refused, "rate_limit_exceeded", "requests").await;
    assert_eq!(upstream.requests().len(), 3 + 1 + more);

    // No rpm: unlimited, and the limiter is dropped; setting one again starts afresh.
    reload(&proxy, &yaml_with(&upstream, "enabled: true")).await;
    assert_eq!(admitted(&proxy, APP_KEY, 8).await, 8);
    reload(&proxy, &yaml_with(&upstream, "rpm: 2")).await;
    assert_eq!(admitted(&proxy, APP_KEY, 10).await, 2);
}

#[tokio::test]
async fn the_runtime_node_count_shares_the_rpm() {
    let (upstream, proxy) = start("rpm: 6").await;
    set_runtime(&proxy, &[("app", KeyRuntime { remaining_budget_micros: None, nodes: 3 })]);
    assert_eq!(admitted(&proxy, APP_KEY, 10).await, 2);
    let refused = chat(&proxy, APP_KEY).await;
    assert_eq!(refused.headers()["x-ratelimit-limit-requests"], "2");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry_after), "one request every 30 s: {retry_after}");
    let body = expect_429(refused, "rate_limit_exceeded", "requests").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Rate limit reached for the key 'app': 6 requests per minute across 3 gateway nodes, 2 on this one."
        ),
        "{message}"
    );
    assert_eq!(upstream.requests().len(), 2);

    // The fleet shrinks to one node: this node's share is the whole rpm, 2 of it used.
    set_runtime(&proxy, &[("app", KeyRuntime { remaining_budget_micros: None, nodes: 1 })]);
    assert_eq!(admitted(&proxy, APP_KEY, 10).await, 4);
}

#[tokio::test]
async fn a_key_over_budget_is_refused_before_anything_is_read() {
    let (upstream, proxy) = start("rpm: 100, budget: {currency: USD, amount: 1.0, period: month}").await;
    let over = KeyRuntime { remaining_budget_micros: Some(0), nodes: 1 };
    set_runtime(&proxy, &[("app", over)]);

    let body = expect_429(chat(&proxy, APP_KEY).await, "budget_exceeded", "insufficient_quota").await;
    assert_eq!(body["error"]["message"], "The key 'app' has used up its budget for this month.");
    // Keys without a Runtime entry are not limited.
    assert_eq!(chat(&proxy, DIRECT_KEY).await.status(), 200);

    // Refused from the headers alone: the declared body is never awaited.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(proxy.handle().addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {APP_KEY}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("budget_exceeded"), "{answer}");
    assert_eq!(upstream.requests().len(), 1, "only the other key's request went upstream");

    // A file reload keeps the overlay.
    reload(&proxy, &yaml_with(&upstream, "rpm: 50, budget: {currency: USD, amount: 1.0, period: month}")).await;
    expect_429(chat(&proxy, APP_KEY).await, "budget_exceeded", "insufficient_quota").await;

    // Refusals for budget spent none of the rate; lifting the budget admits again.
    set_runtime(&proxy, &[("app", KeyRuntime { remaining_budget_micros: Some(250_000), nodes: 1 })]);
    assert_eq!(chat(&proxy, APP_KEY).await.status(), 200);
    set_runtime(&proxy, &[]);
    assert_eq!(chat(&proxy, APP_KEY).await.status(), 200);
    assert_eq!(upstream.requests().len(), 3);

    let text = metrics(&proxy).await;
    assert!(text.contains("switchyard_requests_refused_total{reason=\"over_budget\"} 3\n"), "{text}");
    assert!(text.contains("switchyard_requests_refused_total{reason=\"rate_limited\"} 0\n"), "{text}");
}

/// A JSON answer reporting `total` tokens (half prompt, half completion).
fn answer_with_tokens(total: u64) -> Reply {
    Reply::json(
        200,
        serde_json::json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": total / 2, "completion_tokens": total - total / 2, "total_tokens": total}}),
    )
}

/// Waits until the sink task has made `n` records (and so charged their tokens).
async fn records(proxy: &Proxy, n: u64) {
    let what = format!("{n} usage records");
    eventually_value(&what, async || proxy.status().await["usage"]["records"].clone(), |r| *r == n).await;
}

#[tokio::test]
async fn tpm_admits_while_tokens_are_left_and_charges_what_each_request_used() {
    let (upstream, proxy) = start("tpm: 1000").await;
    // 600 tokens, then 399: one of the minute's 1000 left, so still admitted.
    upstream.push(answer_with_tokens(600));
    assert_eq!(chat(&proxy, APP_KEY).await.status(), 200);
    records(&proxy, 1).await;
    upstream.push(answer_with_tokens(399));
    assert_eq!(chat(&proxy, APP_KEY).await.status(), 200);
    records(&proxy, 2).await;
    // The third spends past the share: 1,300 of 1,000.
    upstream.push(answer_with_tokens(300));
    assert_eq!(chat(&proxy, APP_KEY).await.status(), 200);
    records(&proxy, 3).await;

    let refused = chat(&proxy, APP_KEY).await;
    let headers = refused.headers().clone();
    let body = expect_429(refused, "rate_limit_exceeded", "tokens").await;
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    // 300 over plus one token, at 60 ms a token: about 18 s.
    assert!((17..=19).contains(&retry_after), "{retry_after}");
    assert_eq!(
        body["error"]["message"],
        format!("Rate limit reached for the key 'app': 1000 tokens per minute. Retry in {retry_after} s.")
    );
    assert_eq!(headers["x-ratelimit-limit-tokens"], "1000");
    assert_eq!(headers["x-ratelimit-remaining-tokens"], "0");
    assert!(headers.get("x-ratelimit-limit-requests").is_none());
    assert_eq!(upstream.requests().len(), 3, "the refused request never went upstream");
    let status = proxy.status().await;
    let limited = status["limited_keys"].as_array().unwrap();
    assert_eq!((limited[0]["name"].as_str(), limited[0]["tpm"].as_u64()), (Some("app"), Some(1000)), "{status}");
    assert_eq!(limited[0]["remaining_tokens"], 0);
    // The refusal spent nothing, and another key is not affected.
    assert_eq!(chat(&proxy, DIRECT_KEY).await.status(), 200);
}

#[tokio::test]
async fn a_refusal_for_tokens_takes_no_request_of_the_rpm() {
    let (upstream, proxy) = start("rpm: 2, tpm: 10").await;
    upstream.push(answer_with_tokens(50));
    assert_eq!(chat(&proxy, APP_KEY).await.status(), 200);
    records(&proxy, 1).await;
    expect_429(chat(&proxy, APP_KEY).await, "rate_limit_exceeded", "tokens").await;
    expect_429(chat(&proxy, APP_KEY).await, "rate_limit_exceeded", "tokens").await;
    // One of the two requests of the minute is still there once tokens come back: the limiter says so.
    let rt = proxy.handle().shared().runtime.load_full().unwrap();
    let key = rt.keys().find(|k| &*k.name == "app").unwrap();
    let limit = key.rate_limit.as_ref().unwrap();
    assert_eq!(limit.limiter.remaining(&limit.rate, rt.clock.now()), 1);
}
