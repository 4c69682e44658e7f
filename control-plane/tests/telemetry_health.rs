#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Telemetry.Report: retention of usage rows, breaker transitions and
//! heartbeats, on SQLite and PostgreSQL.

mod common;

use common::admin::NODE_TOKEN;
use common::telemetry::*;
use std::collections::BTreeMap;
use std::time::Duration;
use switchyard_control::store::NodeRecord;
use switchyard_control::telemetry;
use switchyard_proto::pb::{self};

#[tokio::test]
async fn retention_deletes_old_rows() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let now = now_ms();
        let day = 86_400_000;
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let old: Vec<_> = (0..30).map(|i| record("k", "m", P_UP, now - 2 * day - i * 60_000)).collect();
        let new: Vec<_> = (0..20).map(|i| record("k", "m", P_UP, now - i * 1000)).collect();
        let mut health = batch("edge-1", "boot", 3, vec![]);
        health.health.push(pb::HealthEvent {
            at_ms: now - 2 * day,
            event: Some(pb::health_event::Event::Breaker(pb::BreakerTransition {
                provider: "p".into(),
                account: "a".into(),
                route: "m".into(),
                upstream_model: "up".into(),
                from: pb::BreakerState::Closed as i32,
                to: pb::BreakerState::Open as i32,
                reason: "consecutive_failures".into(),
                open_for_ms: 30_000,
            })),
        });
        node.send(batch("edge-1", "boot", 1, old)).await.unwrap();
        node.send(batch("edge-1", "boot", 2, new)).await.unwrap();
        node.send(health).await.unwrap();
        assert_eq!(count(&handle, "usage_events").await, 50);
        assert!(count(&handle, "usage_minutes").await > 30);
        assert_eq!(count(&handle, "breaker_events").await, 1);

        // settings.usage.retention is 1d.
        let keep = handle.publisher.current().model().settings.usage_retention;
        assert_eq!(keep, Duration::from_secs(86_400));
        let deleted = telemetry::prune(&handle.store, keep).await.unwrap();
        assert_eq!(count(&handle, "usage_events").await, 20, "{}", db.label);
        assert!(count(&handle, "usage_minutes").await <= 2, "{}", db.label);
        assert_eq!(count(&handle, "breaker_events").await, 0);
        assert_eq!(count(&handle, "endpoint_health").await, 0);
        assert!(deleted >= 30 + 30 + 2);
        // The batches themselves were received now: kept (they guard against redelivery).
        assert_eq!(count(&handle, "telemetry_batches").await, 3);
        let rows = query(&handle, pb::UsageGroupBy::Key, 0, None).await;
        assert_eq!(rows[0].requests, 20);
        // Bounded passes: everything goes, however many chunks it takes.
        let many: Vec<_> =
            (0..telemetry::RETENTION_CHUNK + 7).map(|i| record("k2", "free", P_FREE, now - 3 * day - i)).collect();
        for (i, chunk) in many.chunks(telemetry::MAX_RECORDS).enumerate() {
            node.send(batch("edge-1", "boot", 10 + i as u64, chunk.to_vec())).await.unwrap();
        }
        telemetry::prune(&handle.store, keep).await.unwrap();
        assert_eq!(count(&handle, "usage_events").await, 20, "{}", db.label);
        drop(node);
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn breaker_transitions_and_heartbeats() {
    let db = common::sqlite();
    let handle = start(&db.url).await;
    let now = now_ms();
    let node = NodeRecord {
        id: "edge-1".into(),
        region: String::new(),
        zone: String::new(),
        labels: BTreeMap::new(),
        build_version: String::new(),
        boot_id: "boot".into(),
        connected: false,
        config: (0, String::new()),
        runtime: (0, String::new()),
        last_nack: None,
        first_seen_ms: 0,
        last_seen_ms: 0,
    };
    handle.store.record_node(&node).await.unwrap();
    let live = async || handle.store.sync_live_nodes(60_000).await.unwrap().0;
    assert_eq!(live().await, 0, "no stream, no heartbeat: lost");

    let transition = |at_ms: i64, from: pb::BreakerState, to: pb::BreakerState| pb::HealthEvent {
        at_ms,
        event: Some(pb::health_event::Event::Breaker(pb::BreakerTransition {
            provider: "p".into(),
            account: "a".into(),
            route: "m".into(),
            upstream_model: "up".into(),
            from: from as i32,
            to: to as i32,
            reason: "consecutive_failures".into(),
            open_for_ms: 30_000,
        })),
    };
    use pb::BreakerState::{Closed, HalfOpen, Open};
    let mut first = batch("edge-1", "boot", 1, vec![]);
    first.health = vec![
        transition(now - 2000, Closed, Open),
        transition(now - 1000, Open, HalfOpen),
        pb::HealthEvent {
            at_ms: now,
            event: Some(pb::health_event::Event::Heartbeat(pb::Heartbeat {
                config_version: 1,
                runtime_version: 1,
                inflight_requests: 7,
            })),
        },
    ];
    let mut reporter = reporter(&handle, NODE_TOKEN).await.unwrap();
    reporter.send(first).await.unwrap();
    // A late, older transition does not overwrite the newer state.
    let mut late = batch("edge-1", "boot", 2, vec![]);
    late.health = vec![transition(now - 1500, HalfOpen, Open)];
    reporter.send(late).await.unwrap();

    assert_eq!(count(&handle, "breaker_events").await, 3);
    let health = handle.store.endpoint_health().await.unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!((health[0].state.as_str(), health[0].at_ms), ("half_open", now - 1000));
    let (heartbeat, inflight): (i64, i64) =
        sqlx::query_as("SELECT last_heartbeat_ms, inflight_requests FROM nodes WHERE id = 'edge-1'")
            .fetch_one(handle.store.pool())
            .await
            .unwrap();
    assert!(heartbeat >= now, "stamped on receipt");
    assert_eq!(inflight, 7);
    assert_eq!(live().await, 1, "a heartbeat keeps it live");
    handle.shutdown().await;
}
