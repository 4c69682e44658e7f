#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The cost of a failover, measured (not asserted): one failed attempt plus the
//! successful retry, against a success on the first attempt, in the same run.
//!
//! `cargo test --release -p switchyard-tests --test failover_cost -- --ignored --nocapture`

use serde_json::json;
use std::time::Duration;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, Reply};
use tokio::time::Instant;

const N: usize = 400;

fn yaml(a: &FakeUpstream, b: &FakeUpstream) -> String {
    format!(
        r#"providers:
  - {{name: a, kind: openai-compatible, base_url: "{}", accounts: [{{name: k, api_key: "sk-upstream-a-000000"}}]}}
  - {{name: b, kind: openai-compatible, base_url: "{}", accounts: [{{name: k, api_key: "sk-upstream-b-000000"}}]}}
models:
  - {{name: m, targets: [{{provider: a, model: up-a, priority: 0}}, {{provider: b, model: up-b, priority: 1}}]}}
keys:
  - {{name: app, key: "{APP_KEY}"}}
settings:
  breaker: {{consecutive_failures: 1000000, failure_rate: 1.0, min_requests: 1000000}}
"#,
        a.base_url(),
        b.base_url()
    )
}

async fn timed(client: &reqwest::Client, url: &str) -> Duration {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let start = Instant::now();
    let response = client.post(url).bearer_auth(APP_KEY).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    start.elapsed()
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn failover_cost() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let proxy = Proxy::start(&yaml(&a, &b)).await;
    let client = client();
    let url = format!("{}/chat/completions", proxy.url());
    let direct_url = format!("{}/chat/completions", a.base_url());
    let (mut direct, mut first_try, mut failover) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..50 {
        timed(&client, &url).await;
    }
    for _ in 0..N {
        // Interleaved, so load and noise hit all three alike.
        direct.push({
            let body = json!({"model": "up-a", "messages": [{"role": "user", "content": "hi"}]});
            let start = Instant::now();
            client.post(&direct_url).json(&body).send().await.unwrap().bytes().await.unwrap();
            start.elapsed()
        });
        first_try.push(timed(&client, &url).await);
        a.push(Reply::error(500, "server_error", "boom"));
        failover.push(timed(&client, &url).await);
    }
    let (d, s, f) = (p50(direct), p50(first_try), p50(failover));
    println!("p50 over {N} requests: direct to upstream {d:?}; through the proxy {s:?}; with one failover {f:?}");
    println!(
        "added by the proxy: {:?}; added by one failed attempt + retry: {:?} ({:.2}x a first-try success)",
        s.saturating_sub(d),
        f.saturating_sub(s),
        f.as_secs_f64() / s.as_secs_f64()
    );
}
