#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hot reload of gateway.yaml (in place, atomic rename, Kubernetes ConfigMap
//! symlink swap, invalid files) and graceful shutdown.

use futures_util::StreamExt;
use serde_json::Value;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, eventually, eventually_value};

fn chat(model: &str) -> Value {
    chat_body(model, false)
}

async fn status_of(proxy: &Proxy, model: &str) -> u16 {
    let url = format!("{}/chat/completions", proxy.url());
    client().post(url).bearer_auth(APP_KEY).json(&chat(model)).send().await.unwrap().status().as_u16()
}

/// The config with one more model, `fresh`.
fn with_fresh_model(yaml: &str) -> String {
    yaml.replace("keys:\n", "  - name: fresh\n    targets: [{provider: main, model: fresh-upstream}]\nkeys:\n")
}

#[tokio::test]
async fn valid_changes_apply_in_place_and_by_rename() {
    let main = FakeUpstream::start().await;
    let yaml = gateway_yaml(&main.base_url(), &main.base_url());
    let proxy = Proxy::start(&yaml).await;
    assert_eq!(status_of(&proxy, "fresh").await, 404);

    // In-place write.
    std::fs::write(&proxy.config, with_fresh_model(&yaml)).unwrap();
    let v2 = proxy.wait_for_version_change(1).await;
    assert_eq!(status_of(&proxy, "fresh").await, 200);
    assert_eq!(main.requests().last().unwrap().json()["model"], "fresh-upstream");

    // Atomic rename of a new file over the old one.
    let tmp = proxy.dir().join(".gateway.yaml.tmp");
    std::fs::write(&tmp, &yaml).unwrap();
    std::fs::rename(&tmp, &proxy.config).unwrap();
    proxy.wait_for_version_change(v2).await;
    assert_eq!(status_of(&proxy, "fresh").await, 404);
}

#[tokio::test]
async fn an_invalid_change_is_refused_and_the_old_config_keeps_serving() {
    let main = FakeUpstream::start().await;
    let yaml = gateway_yaml(&main.base_url(), &main.base_url());
    let proxy = Proxy::start(&yaml).await;
    std::fs::write(
        &proxy.config,
        yaml.replace("provider: main, model: gpt-4o-mini-2024-07-18", "provider: mian, model: x"),
    )
    .unwrap();
    let error = async || proxy.status().await["last_config_error"].clone();
    let error = eventually_value("the change refused", error, |e| !e.is_null()).await;
    assert_eq!(error, "models[0].targets[0].provider: unknown provider \"mian\"");
    assert_eq!(proxy.config_version().await, 1);
    assert_eq!(status_of(&proxy, "smart").await, 200);
    // Fixing the file clears the error and applies.
    std::fs::write(&proxy.config, with_fresh_model(&yaml)).unwrap();
    proxy.wait_for_version_change(1).await;
    assert!(proxy.status().await["last_config_error"].is_null());
}

#[cfg(unix)]
#[tokio::test]
async fn kubernetes_configmap_symlink_swap() {
    let main = FakeUpstream::start().await;
    let yaml = gateway_yaml(&main.base_url(), &main.base_url());
    // The layout kubelet writes: gateway.yaml -> ..data/gateway.yaml, ..data -> ..2026_v1
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("..2026_v1");
    std::fs::create_dir(&v1).unwrap();
    std::fs::write(v1.join("gateway.yaml"), &yaml).unwrap();
    std::os::unix::fs::symlink("..2026_v1", dir.path().join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/gateway.yaml", dir.path().join("gateway.yaml")).unwrap();
    let config = dir.path().join("gateway.yaml");
    let mut options = switchyard_proxy::Options::new("127.0.0.1:0".parse().unwrap(), config.clone());
    options.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    let handle = switchyard_proxy::DataPlane::start(options).await.unwrap();
    let proxy = Proxy { handle: Some(handle), dir, config };
    assert_eq!(status_of(&proxy, "fresh").await, 404);

    // kubelet: write ..2026_v2, point ..data_tmp at it, rename over ..data.
    let v2 = proxy.dir().join("..2026_v2");
    std::fs::create_dir(&v2).unwrap();
    std::fs::write(v2.join("gateway.yaml"), with_fresh_model(&yaml)).unwrap();
    std::os::unix::fs::symlink("..2026_v2", proxy.dir().join("..data_tmp")).unwrap();
    std::fs::rename(proxy.dir().join("..data_tmp"), proxy.dir().join("..data")).unwrap();
    std::fs::remove_dir_all(proxy.dir().join("..2026_v1")).unwrap();
    proxy.wait_for_version_change(1).await;
    assert_eq!(status_of(&proxy, "fresh").await, 200);
}

#[tokio::test]
async fn in_flight_requests_finish_on_the_config_they_started_with() {
    let main = FakeUpstream::start().await;
    let yaml = gateway_yaml(&main.base_url(), &main.base_url());
    let proxy = Proxy::start(&yaml).await;
    let (reply, gate) = gated_stream();
    main.push(reply);
    let body = chat_body("smart", true);
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"n\":1"));
    // Point the stream's model elsewhere while the stream is open.
    std::fs::write(&proxy.config, yaml.replace("model: gpt-4o-mini-2024-07-18", "model: gpt-4o-mini-next")).unwrap();
    proxy.wait_for_version_change(1).await;
    assert_eq!(status_of(&proxy, "smart").await, 200);
    assert_eq!(main.requests().last().unwrap().json()["model"], "gpt-4o-mini-next");
    gate.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(rest.contains("\"n\":2") && rest.ends_with("data: [DONE]\n\n"), "{rest}");
}

#[tokio::test]
async fn shutdown_lets_an_open_stream_finish() {
    let main = FakeUpstream::start().await;
    let mut proxy = Proxy::start(&gateway_yaml(&main.base_url(), &main.base_url())).await;
    let (reply, gate) = gated_stream();
    main.push(reply);
    let body = chat_body("smart", true);
    let url = proxy.url();
    let admin = proxy.admin_url();
    let response =
        client().post(format!("{url}/chat/completions")).bearer_auth(APP_KEY).json(&body).send().await.unwrap();
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();

    let handle = proxy.handle.take().unwrap();
    handle.begin_shutdown();
    // Not ready any more, and no new connections.
    eventually("readiness went false", async || {
        client().get(format!("{admin}/readyz")).send().await.map(|r| r.status() == 503).unwrap_or(true)
    })
    .await;
    let wait = tokio::spawn(handle.wait());
    eventually("new connections refused", async || {
        let request = client().post(format!("{url}/chat/completions")).bearer_auth(APP_KEY).json(&chat("smart"));
        request.send().await.is_err()
    })
    .await;
    assert!(
        client()
            .post(format!("{url}/chat/completions"))
            .bearer_auth(APP_KEY)
            .json(&chat("smart"))
            .send()
            .await
            .is_err()
    );
    // The open stream still finishes.
    gate.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert!(String::from_utf8(rest).unwrap().ends_with("data: [DONE]\n\n"));
    tokio::time::timeout(std::time::Duration::from_secs(10), wait).await.unwrap().unwrap();
}
