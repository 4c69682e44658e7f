#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Upstream HTTP/2 (`http2: true`): a pool that opens another connection when
//! the open ones are at the server's stream limit, so 500 concurrent streams on
//! one account are neither refused nor stalled; a new connection after the
//! upstream restarts; connections kept across reloads; `http2: false` stays on
//! HTTP/1.1.

use futures_util::StreamExt;
use http::Version;
use std::sync::Arc;
use std::time::Duration;
use switchyard_tests::fake_upstream::Options;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, eventually, eventually_some, sockets};
use tokio::sync::Semaphore;

/// [`gateway_yaml`] with `http2` on the `main` provider and room for many requests.
fn yaml(base_url: &str, http2: bool) -> String {
    let yaml = gateway_yaml(base_url, base_url);
    let main = format!("    base_url: {base_url}\n    headers:");
    assert!(yaml.contains(&main) && yaml.contains("max_concurrency: 64"));
    yaml.replacen(&main, &format!("    base_url: {base_url}\n    http2: {http2}\n    headers:"), 1)
        .replace("max_concurrency: 64", "max_concurrency: 1000")
}

async fn chat(proxy: &Proxy) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat_body("gpt-4o-mini", false))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_streams_on_one_account_open_more_connections_and_none_stalls() {
    const STREAMS: usize = 500;
    let upstream = FakeUpstream::start_with(Options { h2_max_streams: Some(100), ..Default::default() }).await;
    // Every upstream stream sends its first event, then stays open until its gate opens.
    let gates: Vec<_> = (0..STREAMS)
        .map(|_| {
            let (reply, gate) = gated_stream();
            upstream.push(reply);
            gate
        })
        .collect();
    let proxy = Proxy::start(&yaml(&upstream.base_url(), true)).await;
    let url = format!("{}/chat/completions", proxy.url());
    let first_events = Arc::new(Semaphore::new(0));
    let client = client();
    let streams: Vec<_> = (0..STREAMS)
        .map(|_| {
            let (client, url, first_events) = (client.clone(), url.clone(), first_events.clone());
            tokio::spawn(async move {
                let response =
                    client.post(url).bearer_auth(APP_KEY).json(&chat_body("gpt-4o-mini", true)).send().await.unwrap();
                assert_eq!(response.status(), 200);
                let mut body = response.bytes_stream();
                let mut text = String::new();
                let mut first = false;
                while let Some(chunk) = body.next().await {
                    text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
                    if !first && text.contains("{\"n\":1}") {
                        first = true;
                        first_events.add_permits(1);
                    }
                }
                text
            })
        })
        .collect();

    // All 500 answered 200 with their first event while all 500 upstream streams are open.
    let all = first_events.acquire_many(STREAMS as u32);
    if tokio::time::timeout(Duration::from_secs(30), all).await.is_err() {
        panic!(
            "stalled: {} of {STREAMS} streams got their first event; the upstream saw {} requests on {} connections",
            first_events.available_permits(),
            upstream.requests().len(),
            upstream.accepted_connections()
        );
    }
    let requests = upstream.requests();
    assert_eq!(requests.len(), STREAMS);
    assert!(requests.iter().all(|r| r.version == Version::HTTP_2), "every request arrives as HTTP/2");
    let connections = upstream.accepted_connections();
    assert!((5..=10).contains(&connections), "100 streams per connection, opened one at a time: {connections}");

    for gate in &gates {
        gate.notify_one();
    }
    for stream in streams {
        let text = tokio::time::timeout(Duration::from_secs(30), stream).await.expect("a stream never ended").unwrap();
        assert!(text.contains("{\"n\":2}"), "{text}");
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    }
}

#[tokio::test]
async fn a_restarted_upstream_gets_a_new_connection() {
    let upstream = FakeUpstream::start().await;
    let addr = upstream.addr();
    let proxy = Proxy::start(&yaml(&upstream.base_url(), true)).await;
    assert_eq!(chat(&proxy).await.status(), 200);
    // The proxy keeps its connection (a socket still being set up under load settles first).
    eventually("the proxy keeps one connection", async || sockets::open_to(addr) == 1).await;
    assert_eq!(upstream.accepted_connections(), 1);

    // The upstream restarts on the same port: its connections are gone.
    drop(upstream);
    // The old listener may still be letting go of the port.
    let upstream = eventually_some("the port free again", async || FakeUpstream::start_on(addr).await.ok()).await;
    // The proxy learns of the closed connection from its FIN, asynchronously, and closes its end.
    eventually("the proxy let go of the old connection", async || sockets::open_to(addr) == 0).await;

    let response = chat(&proxy).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(upstream.accepted_connections(), 1, "a new connection");
    assert_eq!(upstream.requests()[0].version, Version::HTTP_2);
}

#[tokio::test]
async fn http2_false_stays_on_http1() {
    let upstream = FakeUpstream::start().await;
    let proxy = Proxy::start(&yaml(&upstream.base_url(), false)).await;
    assert_eq!(chat(&proxy).await.status(), 200);
    assert_eq!(upstream.requests()[0].version, Version::HTTP_11);
}

#[tokio::test]
async fn reloads_keep_the_pool_unless_http2_changes() {
    let upstream = FakeUpstream::start().await;
    let proxy = Proxy::start(&yaml(&upstream.base_url(), true)).await;
    assert_eq!(chat(&proxy).await.status(), 200);

    // An unrelated change: the same pool, its connection reused.
    let version = proxy.config_version().await;
    let changed = yaml(&upstream.base_url(), true).replace("aliases: [smart]", "aliases: [smart, clever]");
    std::fs::write(&proxy.config, changed).unwrap();
    let version = proxy.wait_for_version_change(version).await;
    assert_eq!(chat(&proxy).await.status(), 200);
    assert_eq!(upstream.accepted_connections(), 1, "connections survive a reload");

    // http2 off: a new client, on HTTP/1.1.
    std::fs::write(&proxy.config, yaml(&upstream.base_url(), false)).unwrap();
    proxy.wait_for_version_change(version).await;
    assert_eq!(chat(&proxy).await.status(), 200);
    let versions: Vec<Version> = upstream.requests().iter().map(|r| r.version).collect();
    assert_eq!(versions, [Version::HTTP_2, Version::HTTP_2, Version::HTTP_11]);
}
