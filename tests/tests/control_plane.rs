#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A data plane fed by a real control plane: it serves the control plane's
//! config, follows a write within moments, keeps serving when the control
//! plane goes away, and after its own restart serves from the encrypted
//! last-known-good cache.

use serde_json::json;
use std::time::Duration;
use switchyard_control::store::{Change, Ownership};
use switchyard_tests::FakeUpstream;
use switchyard_tests::cluster::*;
use switchyard_tests::harness::{APP_KEY, client};

async fn control_plane_with(dir: &std::path::Path, upstream: &FakeUpstream, extra: &str) -> switchyard_control::Handle {
    control_plane(dir, &document(upstream, extra)).await
}

#[tokio::test]
async fn serves_the_control_planes_config_follows_writes_and_survives_outages() {
    let upstream = FakeUpstream::start().await;
    let (cp_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cp = control_plane_with(cp_dir.path(), &upstream, "").await;
    let url = format!("http://{}", cp.grpc_addr);
    let dp = data_plane(&url, cache.path(), NODE_TOKEN, "edge-1").await;
    until(&dp, "m", 200).await;
    assert_eq!(upstream.requests()[0].json()["model"], "up-m");

    // A write reaches the node.
    let change = Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged };
    cp.store
        .write(change, |c| {
            let mut fresh = c.models[0].clone();
            fresh.name = "fresh".into();
            c.models.push(fresh);
            Ok(())
        })
        .await
        .unwrap();
    cp.publisher.refresh().await.unwrap();
    until(&dp, "fresh", 200).await;
    // Applied first, then written to the cache and ACKed.
    eventually("version 2 ACKed", async || {
        cp.nodes.get("edge-1").is_some_and(|node| node.acked.iter().any(|v| v.r#type == 1 && v.version == 2))
    })
    .await;
    assert!(cache.path().join("config.snapshot").exists());

    // The control plane goes away: the node keeps serving.
    cp.shutdown().await;
    assert_eq!(chat(&dp, "fresh").await, 200);
    dp.shutdown().await;

    // The node restarts while no control plane answers: it serves its last-known-good config.
    let dp = data_plane(&url, cache.path(), NODE_TOKEN, "edge-1").await;
    assert_eq!(chat(&dp, "fresh").await, 200, "served from the cache at once");
    let ready = client().get(format!("http://{}/readyz", dp.admin_addr.unwrap())).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    dp.shutdown().await;

    // Another token cannot read that cache: the node waits for a control plane instead.
    let dp = data_plane(&url, cache.path(), "another-token-0123456789", "edge-1").await;
    assert_eq!(chat(&dp, "fresh").await, 503);
    let ready = client().get(format!("http://{}/readyz", dp.admin_addr.unwrap())).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    dp.shutdown().await;
}

#[tokio::test]
async fn fail_closed_after_refuses_traffic_once_the_snapshot_is_too_old() {
    let upstream = FakeUpstream::start().await;
    let (cp_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cp = control_plane_with(cp_dir.path(), &upstream, "settings: {snapshot: {fail_closed_after: 1s}}\n").await;
    let dp = data_plane(&format!("http://{}", cp.grpc_addr), cache.path(), NODE_TOKEN, "edge-1").await;
    until(&dp, "m", 200).await;
    let status: serde_json::Value =
        client().get(format!("http://{}/status", dp.admin_addr.unwrap())).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["config"]["stale_seconds"], 0.0, "subscribed: current: {status}");

    cp.shutdown().await;
    // Within the limit it keeps serving; past it, it refuses and is not ready.
    assert_eq!(chat(&dp, "m").await, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let body = json!({"model": "m", "messages": []});
    let response = client()
        .post(format!("http://{}/v1/chat/completions", dp.addr))
        .bearer_auth(APP_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "snapshot_stale");
    let ready = client().get(format!("http://{}/readyz", dp.admin_addr.unwrap())).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let metrics =
        client().get(format!("http://{}/metrics", dp.admin_addr.unwrap())).send().await.unwrap().text().await.unwrap();
    let age: f64 =
        metrics.lines().find_map(|l| l.strip_prefix("switchyard_snapshot_age_seconds ")).unwrap().parse().unwrap();
    assert!(age >= 1.0, "{age}");
    dp.shutdown().await;
}
