#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Active health checks end to end, against fake upstreams: an endpoint
//! opened by failures closes again through the checks alone, a dead upstream
//! is opened by them before any user request, nothing is checked without a
//! `health_check`, a reload that removes one stops its checks, and what they
//! found is in `/status` and `/metrics`.

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use switchyard_tests::FakeUpstream;
use switchyard_tests::harness::*;

/// Providers `main` (checked as `check` says, unless it is empty) and
/// `other` (checked with `models` when `other_checked`), one route each.
fn yaml(main: &str, check: &str, other: &str, other_checked: bool) -> String {
    let main_check = if check.is_empty() { String::new() } else { format!("    health_check: {check}\n") };
    let other_check =
        if other_checked { "    health_check: {interval: 1s, timeout: 1s, request: models}\n" } else { "" };
    format!(
        r#"providers:
  - name: main
    kind: openai-compatible
    base_url: {main}
{main_check}    accounts:
      - {{name: a, api_key: "{UPSTREAM_KEY_A}"}}
  - name: other
    kind: openai-compatible
    base_url: {other}
{other_check}    accounts:
      - {{name: b, api_key: "{UPSTREAM_KEY_B}"}}
models:
  - name: m
    targets: [{{provider: main, model: up-m}}]
  - name: o
    targets: [{{provider: other, model: up-o}}]
keys:
  - {{name: app, key: "{APP_KEY}"}}
settings:
  retry: {{max_attempts: 1}}
  breaker: {{consecutive_failures: 2, cooldown: 1s, max_cooldown: 2s}}
"#
    )
}

/// An address nothing listens on (bound, then let go).
async fn dead_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// The `/status` endpoint of model `model`.
async fn endpoint(proxy: &Proxy, model: &str) -> Value {
    let status = proxy.status().await;
    status["endpoints"].as_array().unwrap().iter().find(|e| e["model"] == model).cloned().unwrap()
}

/// Polls `/status` until `cond` holds for model `model`'s endpoint (15 s at most).
async fn wait_endpoint(proxy: &Proxy, model: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let e = endpoint(proxy, model).await;
        if cond(&e) {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {:#}", endpoint(proxy, model).await);
}

/// Waits until `upstream` received at least `n` requests (15 s at most).
async fn wait_requests(upstream: &FakeUpstream, n: usize) {
    for _ in 0..300 {
        if upstream.requests().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} requests, got {:?}",
        upstream.requests().iter().map(|r| r.uri.to_string()).collect::<Vec<_>>()
    );
}

async fn chat(proxy: &Proxy, model: &str) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat_body(model, false))
        .send()
        .await
        .unwrap()
}

async fn metrics(proxy: &Proxy) -> String {
    reqwest::get(format!("{}/metrics", proxy.admin_url())).await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn an_endpoint_opened_by_failures_closes_again_through_the_checks_alone() {
    let upstream = FakeUpstream::start().await;
    let addr = upstream.addr();
    let other = FakeUpstream::start().await;
    let check = "{interval: 1s, timeout: 1s, request: models}";
    let proxy = Proxy::start(&yaml(&upstream.base_url(), check, &other.base_url(), false)).await;
    let e = wait_endpoint(&proxy, "m", "a first check", |e| e["health_check"]["result"] == "ok").await;
    assert_eq!(e["health_check"]["request"], "models");
    assert!(e["health_check"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(e["health_check"]["checked_at_unix_ms"].as_i64().unwrap() > 1_700_000_000_000);
    let checks = upstream.requests();
    assert!(checks.iter().all(|r| r.method == http::Method::GET && r.uri.path() == "/v1/models"), "{checks:?}");
    // The check carries the account's key, and nothing of a client's.
    assert_eq!(checks[0].header("authorization"), Some(format!("Bearer {UPSTREAM_KEY_A}").as_str()));

    // The upstream dies: two failed requests open the endpoint (unless a check got there first).
    drop(upstream);
    for _ in 0..2 {
        let status = chat(&proxy, "m").await.status();
        assert!(status == 502 || status == 503, "{status}");
    }
    let e = endpoint(&proxy, "m").await;
    assert_eq!(e["breaker"]["state"], "open", "{e:#}");
    assert_eq!(chat(&proxy, "m").await.status(), 503, "users are kept off an open endpoint");

    // It comes back: with no user request, the checks find it and close the endpoint.
    let revived = FakeUpstream::start_on(addr).await.unwrap();
    let e = wait_endpoint(&proxy, "m", "closed by a check", |e| e["breaker"]["state"] == "closed").await;
    assert_eq!(e["health_check"]["result"], "ok");
    let seen = revived.requests();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|r| r.uri.path() == "/v1/models"), "only checks reached it: {seen:?}");
    assert!(other.requests().is_empty(), "other has no health_check");
    assert_eq!(chat(&proxy, "m").await.status(), 200);

    let text = metrics(&proxy).await;
    let line =
        |result: &str| format!("switchyard_health_checks_total{{provider=\"main\",account=\"a\",result=\"{result}\"}}");
    assert!(text.contains(&line("ok")), "{text}");
    assert!(!text.contains("provider=\"other\",account=\"b\",result="), "{text}");
}

#[tokio::test]
async fn a_dead_upstream_is_opened_by_the_checks_before_any_user_request() {
    let dead = format!("http://{}/v1", dead_addr().await);
    let other = FakeUpstream::start().await;
    let proxy = Proxy::start(&yaml(&dead, "{interval: 1s, timeout: 1s}", &other.base_url(), false)).await;
    let e = wait_endpoint(&proxy, "m", "opened by a check", |e| e["breaker"]["state"] == "open").await;
    assert_eq!(e["breaker"]["reason"], "health_check", "{e:#}");
    assert_eq!(e["health_check"]["result"], "connect");
    assert_eq!(e["health_check"]["reason"], "connect error");
    assert_eq!(e["requests"], 0, "no user request reached it");
    // The first user is told at once, without an attempt on the dead upstream.
    let refused = chat(&proxy, "m").await;
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert_eq!(endpoint(&proxy, "m").await["requests"], 0);

    let status = proxy.status().await;
    let listed: Vec<&Value> = status["health_checks"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "{status:#}");
    assert_eq!(
        (&listed[0]["provider"], &listed[0]["account"], &listed[0]["model"]),
        (&json!("main"), &json!("a"), &Value::Null)
    );
    assert!(
        metrics(&proxy)
            .await
            .contains("switchyard_health_checks_total{provider=\"main\",account=\"a\",result=\"connect\"}")
    );
    // What /status says never quotes the upstream's address or key.
    let text = status.to_string();
    assert!(!text.contains(&dead) && !text.contains(UPSTREAM_KEY_A), "{text}");
}

#[tokio::test]
async fn chat_checks_ask_each_routed_model_for_one_token() {
    let upstream = FakeUpstream::start().await;
    let other = FakeUpstream::start().await;
    let proxy = Proxy::start(&yaml(
        &upstream.base_url(),
        "{interval: 1s, timeout: 1s, request: chat}",
        &other.base_url(),
        false,
    ))
    .await;
    wait_requests(&upstream, 1).await;
    let check = &upstream.requests()[0];
    assert_eq!((check.method.as_str(), check.uri.path()), ("POST", "/v1/chat/completions"));
    let body = check.json();
    assert_eq!(body["model"], "up-m");
    assert_eq!(body["max_tokens"], 1);
    assert_eq!(body["stream"], false);
    let e = wait_endpoint(&proxy, "m", "a chat check", |e| e["health_check"]["result"] == "ok").await;
    assert_eq!(e["health_check"]["request"], "chat");
    assert_eq!(proxy.status().await["health_checks"][0]["model"], "up-m");
}

#[tokio::test]
async fn nothing_is_checked_without_a_health_check_and_a_reload_that_removes_one_stops_it() {
    let (unchecked, checked) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let proxy = Proxy::start(&yaml(&unchecked.base_url(), "", &checked.base_url(), true)).await;
    // While `other` got three checks, `main` (no health_check) got nothing.
    wait_requests(&checked, 3).await;
    assert!(unchecked.requests().is_empty(), "{:?}", unchecked.requests());
    assert_eq!(endpoint(&proxy, "m").await["health_check"], Value::Null);

    // Checks move to `main`; `other`'s stop with the reload.
    let version = proxy.config_version().await;
    let check = "{interval: 1s, timeout: 1s, request: models}";
    std::fs::write(&proxy.config, yaml(&unchecked.base_url(), check, &checked.base_url(), false)).unwrap();
    proxy.wait_for_version_change(version).await;
    // One check may have been on its way when the reload came.
    wait_requests(&unchecked, 1).await;
    let stopped_at = checked.requests().len();
    wait_requests(&unchecked, 4).await;
    assert_eq!(checked.requests().len(), stopped_at, "other is checked no more");
    let status = proxy.status().await;
    let providers: Vec<&Value> = status["health_checks"].as_array().unwrap().iter().map(|c| &c["provider"]).collect();
    assert_eq!(providers, [&json!("main")], "other's results are forgotten");
}

#[tokio::test]
async fn a_health_check_set_on_the_control_plane_reaches_the_data_plane() {
    use switchyard_tests::cluster;
    let upstream = FakeUpstream::start().await;
    let document = cluster::document(&upstream, "")
        .replace("accounts: [", "health_check: {interval: 1s, timeout: 1s, request: models}, accounts: [");
    let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cp = cluster::control_plane(dir.path(), &document).await;
    let dp =
        cluster::data_plane(&format!("http://{}", cp.grpc_addr), cache.path(), cluster::NODE_TOKEN, "edge-1").await;
    wait_requests(&upstream, 1).await;
    let check = &upstream.requests()[0];
    assert_eq!((check.method.as_str(), check.uri.path()), ("GET", "/v1/models"));
    let admin = format!("http://{}/status", dp.admin_addr.unwrap());
    switchyard_tests::eventually("the check in /status", async || {
        let status: Value = reqwest::get(&admin).await.unwrap().json().await.unwrap();
        status["health_checks"][0]["result"] == "ok"
    })
    .await;
    dp.shutdown().await;
}
