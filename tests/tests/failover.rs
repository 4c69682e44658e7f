#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Failover and breakers end to end: every fault moves to another endpoint,
//! breakers open for the right reasons and durations, tiers fall back, and
//! while an admitted endpoint remains within max_attempts the client sees no
//! error.

use bytes::Bytes;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_tests::harness::*;
use switchyard_tests::{Chunk, FakeUpstream, Reply, eventually_value, schema};

/// Providers `a` (priority 0) and `b` (priority 1), optionally `c` (priority 1),
/// each on its own fake upstream, behind model `m`.
struct Fleet {
    a: FakeUpstream,
    b: FakeUpstream,
    c: FakeUpstream,
    proxy: Proxy,
}

fn fleet_yaml(a: &FakeUpstream, b: &FakeUpstream, c: Option<&FakeUpstream>, settings: &str) -> String {
    let provider = |name: &str, up: &FakeUpstream| {
        format!(
            "  - {{name: {name}, kind: openai-compatible, base_url: \"{}\", timeout: {{first_token: 400ms, total: 20s}}, accounts: [{{name: k, api_key: \"sk-upstream-{name}-000000\"}}]}}\n",
            up.base_url()
        )
    };
    let mut yaml = String::from("providers:\n");
    yaml += &provider("a", a);
    yaml += &provider("b", b);
    let mut targets = String::from("{provider: a, model: up-a, priority: 0}, {provider: b, model: up-b, priority: 1}");
    if let Some(c) = c {
        yaml += &provider("c", c);
        targets += ", {provider: c, model: up-c, priority: 1}";
    }
    yaml += &format!("models:\n  - {{name: m, targets: [{targets}]}}\n");
    yaml += &format!("keys:\n  - {{name: app, key: \"{APP_KEY}\"}}\nsettings:\n{settings}");
    yaml
}

const DEFAULT_SETTINGS: &str = "  breaker: {consecutive_failures: 2, cooldown: 500ms, max_cooldown: 5m}\n";

async fn fleet(settings: &str, with_c: bool) -> Fleet {
    let (a, b, c) = (FakeUpstream::start().await, FakeUpstream::start().await, FakeUpstream::start().await);
    let proxy = Proxy::start(&fleet_yaml(&a, &b, with_c.then_some(&c), settings)).await;
    Fleet { a, b, c, proxy }
}

impl Fleet {
    async fn chat(&self, stream: bool) -> reqwest::Response {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream});
        client()
            .post(format!("{}/chat/completions", self.proxy.url()))
            .bearer_auth(APP_KEY)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn breaker(&self, provider: &str) -> Value {
        let status = self.proxy.status().await;
        let endpoint =
            status["endpoints"].as_array().unwrap().iter().find(|e| e["provider"] == provider).unwrap().clone();
        endpoint["breaker"].clone()
    }
}

fn faults() -> Vec<(&'static str, Reply, bool)> {
    let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(60));
    vec![
        ("500", Reply::error(500, "server_error", "boom"), false),
        ("503", Reply::error(503, "server_error", "overloaded"), false),
        (
            "429 seconds",
            Reply::Json {
                status: 429,
                headers: vec![("retry-after".into(), "30".into())],
                body: json!({"error": {"message": "slow down", "type": "rate_limit", "param": null, "code": null}}),
            },
            false,
        ),
        (
            "429 date",
            Reply::Json {
                status: 429,
                headers: vec![("retry-after".into(), later)],
                body: json!({"error": {"message": "slow down", "type": "rate_limit", "param": null, "code": null}}),
            },
            false,
        ),
        (
            "429 quota",
            Reply::error(429, "insufficient_quota", "You exceeded your current quota (insufficient_quota)"),
            false,
        ),
        ("401", Reply::error(401, "invalid_request_error", "Incorrect API key provided: sk-upstream-a-000000"), false),
        ("402", Reply::error(402, "billing", "payment required"), false),
        ("reset", Reply::Hangup, false),
        (
            "garbage",
            Reply::Raw {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Bytes::from_static(b"{\"id\": \"x\", \"choices\": ["),
            },
            false,
        ),
        (
            "hang before first byte",
            Reply::Delay(Duration::from_secs(30), Box::new(Reply::error(500, "x", "late"))),
            true,
        ),
        (
            "stream stalls before its first event",
            Reply::Sse {
                status: 200,
                headers: vec![],
                chunks: vec![Chunk::Bytes(Bytes::from_static(b": ping\n\n")), Chunk::Stall],
            },
            true,
        ),
        (
            "stream breaks before its first event",
            Reply::Sse { status: 200, headers: vec![], chunks: vec![Chunk::Abort] },
            true,
        ),
    ]
}

#[tokio::test]
async fn every_fault_fails_over_to_the_next_tier() {
    for (name, fault, stream) in faults() {
        let f = fleet(DEFAULT_SETTINGS, false).await;
        f.a.push(fault);
        let response = f.chat(stream).await;
        assert_eq!(response.status(), 200, "{name}");
        let text = response.text().await.unwrap();
        assert!(text.contains("up-b"), "{name}: served by b: {text}");
        assert!(!text.contains("sk-upstream"), "{name}: no upstream key in {text}");
        assert_eq!(f.b.requests().len(), 1, "{name}");
        assert_eq!(f.b.requests()[0].json()["model"], "up-b", "{name}: the retry carries b's model name");
    }
}

#[tokio::test]
async fn breakers_open_for_the_right_reason_and_time() {
    let cases: [(&str, Reply, &str, f64, f64); 4] = [
        (
            "429",
            Reply::Json { status: 429, headers: vec![("retry-after".into(), "120".into())], body: json!({}) },
            "rate_limited",
            100.0,
            120.0,
        ),
        (
            "429 over max",
            Reply::Json { status: 429, headers: vec![("retry-after".into(), "99999".into())], body: json!({}) },
            "rate_limited",
            250.0,
            300.0,
        ),
        ("401", Reply::error(401, "x", "bad key"), "auth", 250.0, 300.0),
        ("quota", Reply::error(429, "insufficient_quota", "insufficient_quota"), "quota", 250.0, 300.0),
    ];
    for (name, fault, reason, low, high) in cases {
        let f = fleet(DEFAULT_SETTINGS, false).await;
        f.a.push(fault);
        assert_eq!(f.chat(false).await.status(), 200, "{name}");
        let breaker = f.breaker("a").await;
        assert_eq!(breaker["state"], "open", "{name}: {breaker}");
        assert_eq!(breaker["reason"], reason, "{name}");
        let reopen = breaker["reopen_in_seconds"].as_f64().unwrap();
        assert!(reopen > low && reopen <= high, "{name}: reopens in {reopen}");
        // While open, a is not even asked.
        assert_eq!(f.chat(false).await.status(), 200);
        assert_eq!(f.a.requests().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn consecutive_failures_open_then_a_probe_closes() {
    let f = fleet(DEFAULT_SETTINGS, false).await;
    f.a.push(Reply::error(500, "x", "1"));
    f.a.push(Reply::error(500, "x", "2"));
    assert_eq!(f.chat(false).await.status(), 200);
    assert_eq!(f.breaker("a").await["state"], "closed");
    assert_eq!(f.chat(false).await.status(), 200);
    let breaker = f.breaker("a").await;
    assert_eq!((breaker["state"].as_str(), breaker["reason"].as_str()), (Some("open"), Some("consecutive_failures")));
    // Open: straight to b.
    assert_eq!(f.chat(false).await.status(), 200);
    assert_eq!(f.a.requests().len(), 2);
    assert_eq!(f.b.requests().len(), 3);
    // After the cooldown one probe goes to a; its success closes the breaker and a serves again.
    let reopen = async || f.breaker("a").await["reopen_in_seconds"].clone();
    eventually_value("a's cooldown over", reopen, |r| *r == 0.0).await;
    let text = f.chat(false).await.text().await.unwrap();
    assert!(text.contains("up-a"), "{text}");
    assert_eq!(f.breaker("a").await["state"], "closed");
    let text = f.chat(false).await.text().await.unwrap();
    assert!(text.contains("up-a"), "{text}");
    // The metric follows.
    let metrics = client().get(format!("{}/metrics", f.proxy.admin_url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_breaker_state{model=\"m\",provider=\"a\",account=\"k\"} 0"), "{metrics}");
    assert!(
        metrics.contains("switchyard_failovers_total 2"),
        "two failed attempts moved on; the open breaker skipped a without one: {metrics}"
    );
}

#[tokio::test]
async fn client_errors_never_count_and_are_not_retried() {
    let f = fleet(DEFAULT_SETTINGS, false).await;
    for _ in 0..5 {
        f.a.push(Reply::error(400, "invalid_request_error", "bad messages"));
        let response = f.chat(false).await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["message"], "bad messages", "the upstream's own error passes through");
    }
    assert_eq!(f.breaker("a").await["state"], "closed");
    assert!(f.b.requests().is_empty());
}

#[tokio::test]
async fn spent_attempts_give_one_error_listing_each() {
    let f = fleet(&format!("{DEFAULT_SETTINGS}  retry: {{max_attempts: 3}}\n"), true).await;
    f.a.push(Reply::error(500, "x", "a down"));
    f.b.push(Reply::Hangup);
    f.c.push(Reply::error(503, "x", "c down"));
    let response = f.chat(false).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    schema::validate("ErrorResponse", &body).unwrap();
    assert_eq!(body["error"]["code"], "upstream_attempts_failed");
    let message = body["error"]["message"].as_str().unwrap();
    // Each provider's own message next to its status (issue 21).
    assert!(message.starts_with("All 3 upstream attempts failed: a/k: HTTP 500 (a down); "), "{message}");
    assert!(message.contains("b/k: connection failed") || message.contains("b/k: connect error"), "{message}");
    assert!(message.contains("c/k: HTTP 503 (c down)"), "{message}");
    assert!(!message.contains("sk-"), "{message}");
}

#[tokio::test]
async fn all_timeouts_are_a_504() {
    let f = fleet(&format!("{DEFAULT_SETTINGS}  retry: {{max_attempts: 2}}\n"), false).await;
    let stall = || Reply::Sse { status: 200, headers: vec![], chunks: vec![Chunk::Stall] };
    f.a.push(stall());
    f.b.push(stall());
    let response = f.chat(true).await;
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("a/k: no first token in time"), "{body}");
}

#[tokio::test]
async fn every_endpoint_open_is_a_503_at_once_with_retry_after() {
    let f = fleet(DEFAULT_SETTINGS, false).await;
    f.a.push(Reply::error(401, "x", "bad"));
    f.b.push(Reply::error(401, "x", "bad"));
    let first = f.chat(false).await;
    assert_eq!(first.status(), 502);
    let response = f.chat(false).await;
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((250..=300).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert_eq!(f.a.requests().len() + f.b.requests().len(), 2, "no upstream was asked again");
    let metrics = client().get(format!("{}/metrics", f.proxy.admin_url())).send().await.unwrap().text().await.unwrap();
    let unlabelled =
        |status: u16| format!(r#"switchyard_requests_total{{model="",provider="",account="",status="{status}"}}"#);
    assert!(metrics.contains(&format!("{} 1\n", unlabelled(503))), "the 503 is counted:\n{metrics}");
    // The 502 was counted once, on the endpoints its attempts went to.
    assert!(!metrics.contains(&unlabelled(502)), "{metrics}");
}

#[tokio::test]
async fn retry_on_limits_what_fails_over() {
    let f = fleet(&format!("{DEFAULT_SETTINGS}  retry: {{on: [connect]}}\n"), false).await;
    f.a.push(Reply::error(500, "server_error", "a says no"));
    let response = f.chat(false).await;
    assert_eq!(response.status(), 500, "5xx is not in retry.on: the upstream's answer passes through");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "a says no");
    assert!(f.b.requests().is_empty());
}

#[tokio::test]
async fn while_an_endpoint_is_admitted_the_client_sees_no_error() {
    let f = fleet(
        "  breaker: {consecutive_failures: 1000, failure_rate: 1.0, min_requests: 1000}\n  retry: {max_attempts: 3}\n",
        true,
    )
    .await;
    // a fails every way there is; b or c (same tier) may fail too, never both.
    let faults = faults();
    for i in 0..40 {
        let (_, fault, stream) = &faults[i % faults.len()];
        f.a.push(fault.clone());
        if i % 3 == 0 {
            f.b.push(Reply::error(502, "x", "b flaky"));
        }
        let response = f.chat(*stream).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "request {i}: {text}");
        assert!(!text.contains("\"error\""), "request {i}: {text}");
    }
}

#[tokio::test]
async fn breaker_state_survives_a_reload_unless_the_endpoint_changed() {
    let f = fleet(DEFAULT_SETTINGS, false).await;
    f.a.push(Reply::error(401, "x", "bad key"));
    assert_eq!(f.chat(false).await.status(), 200);
    assert_eq!(f.breaker("a").await["state"], "open");
    let yaml = std::fs::read_to_string(&f.proxy.config).unwrap();

    // An unrelated change: a keeps its open breaker.
    std::fs::write(
        &f.proxy.config,
        yaml.replace("keys:\n", "  - {name: other, targets: [{provider: b, model: x}]}\nkeys:\n"),
    )
    .unwrap();
    let v = f.proxy.wait_for_version_change(1).await;
    assert_eq!(f.breaker("a").await["state"], "open");
    assert_eq!(f.breaker("a").await["reason"], "auth");

    // A new key for a is a new endpoint: its breaker starts closed, and a serves again.
    std::fs::write(&f.proxy.config, yaml.replace("sk-upstream-a-000000", "sk-upstream-a-rotated")).unwrap();
    f.proxy.wait_for_version_change(v).await;
    assert_eq!(f.breaker("a").await["state"], "closed");
    let text = f.chat(false).await.text().await.unwrap();
    assert!(text.contains("up-a"), "{text}");
    assert_eq!(f.a.requests().last().unwrap().header("authorization"), Some("Bearer sk-upstream-a-rotated"));
}
