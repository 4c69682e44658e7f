#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A data plane fed by a real control plane: it serves the control plane's
//! config, follows a write within moments, keeps serving when the control
//! plane goes away, and after its own restart serves from the encrypted
//! last-known-good cache.

use serde_json::json;
use switchyard_control::store::{Change, Ownership};
use switchyard_proxy::Source;
use switchyard_tests::cluster::{chat, until};
use switchyard_tests::harness::{APP_KEY, client};
use switchyard_tests::{Started, Topology, eventually, eventually_some};

#[tokio::test]
async fn serves_the_control_planes_config_follows_writes_and_survives_outages() {
    let Started { fleet, cp, mut dps } = Topology::new().data_planes(1).start().await;
    let dp = dps.remove(0);
    assert_eq!(fleet.upstream.requests()[0].json()["model"], "up-m");

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
    assert!(fleet.cache(0).join("config.snapshot").exists());

    // The control plane goes away: the node keeps serving.
    cp.shutdown().await;
    assert_eq!(chat(&dp, "fresh").await, 200);
    dp.shutdown().await;

    // The node restarts while no control plane answers: it serves its last-known-good config.
    let dp = fleet.data_plane(0).await;
    assert_eq!(chat(&dp, "fresh").await, 200, "served from the cache at once");
    let ready = client().get(format!("http://{}/readyz", dp.admin_addr.unwrap())).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    dp.shutdown().await;

    // Another token cannot read that cache: the node waits for a control plane instead.
    let dp = fleet
        .data_plane_with(0, |o| {
            let Source::ControlPlane(cp) = &mut o.source else { unreachable!() };
            cp.token = "another-token-0123456789".into();
        })
        .await;
    assert_eq!(chat(&dp, "fresh").await, 503);
    let ready = client().get(format!("http://{}/readyz", dp.admin_addr.unwrap())).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    dp.shutdown().await;
}

#[tokio::test]
async fn fail_closed_after_refuses_traffic_once_the_snapshot_is_too_old() {
    let topology = Topology::new().extra("settings: {snapshot: {fail_closed_after: 1s}}\n").data_planes(1);
    let Started { fleet: _fleet, cp, mut dps } = topology.start().await;
    let dp = dps.remove(0);
    let status: serde_json::Value =
        client().get(format!("http://{}/status", dp.admin_addr.unwrap())).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["config"]["stale_seconds"], 0.0, "subscribed: current: {status}");

    cp.shutdown().await;
    // Within the limit it keeps serving; past it, it refuses and is not ready.
    assert_eq!(chat(&dp, "m").await, 200);
    let body = json!({"model": "m", "messages": []});
    let response = eventually_some("the snapshot too old to serve", async || {
        let url = format!("http://{}/v1/chat/completions", dp.addr);
        let response = client().post(url).bearer_auth(APP_KEY).json(&body).send().await.unwrap();
        (response.status() == 503).then_some(response)
    })
    .await;
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
