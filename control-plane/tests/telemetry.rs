#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Telemetry.Report against a real control plane, on SQLite and (when a
//! server answers) PostgreSQL: batches stored exactly once under
//! at-least-once delivery (duplicates, two boots, concurrent redelivery, a
//! restart), node-token binding and validation.

mod common;

use common::admin::NODE_TOKEN;
use common::telemetry::*;
use switchyard_control::telemetry;
use switchyard_proto::pb::telemetry_client::TelemetryClient;
use switchyard_proto::pb::{self, TelemetryAck, TelemetryBatch, UsageRecord};
use tonic::Code;

#[tokio::test]
async fn a_batch_is_stored_once_and_acked() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let now = now_ms();
        let usage = vec![record("k", "m", P_UP, now), record("k", "m", P_UP, now), record("k2", "free", P_FREE, now)];
        let first = batch("edge-1", "boot-1", 1, usage);
        let ack = node.send(first.clone()).await.unwrap();
        assert_eq!(ack, TelemetryAck { boot_id: "boot-1".into(), sequence: 1, duplicate: false }, "{}", db.label);
        assert_eq!(count(&handle, "telemetry_batches").await, 1);
        assert_eq!(count(&handle, "usage_events").await, 3);

        // Delivered again (the ack was lost): acked as a duplicate, nothing written.
        let again = node.send(first.clone()).await.unwrap();
        assert!(again.duplicate, "{}", db.label);
        assert_eq!((again.boot_id.as_str(), again.sequence), ("boot-1", 1));
        assert_eq!(count(&handle, "telemetry_batches").await, 1);
        assert_eq!(count(&handle, "usage_events").await, 3);
        let rows = query(&handle, pb::UsageGroupBy::Key, 0, None).await;
        assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 3);

        // The node restarted: a new boot numbers its batches from 1 again.
        let ack = node.send(batch("edge-1", "boot-2", 1, vec![record("k", "m", P_UP, now)])).await.unwrap();
        assert!(!ack.duplicate, "{}", db.label);
        // Another node's sequence 1 is its own.
        let ack = node.send(batch("edge-2", "boot-1", 1, vec![record("k", "m", P_UP, now)])).await.unwrap();
        assert!(!ack.duplicate, "{}", db.label);
        assert_eq!(count(&handle, "telemetry_batches").await, 3);
        assert_eq!(count(&handle, "usage_events").await, 5);

        // Acks come back in order on one stream.
        for seq in 2..=6 {
            node.tx.send(batch("edge-1", "boot-2", seq, vec![record("k2", "free", P_FREE, now)])).await.unwrap();
        }
        for seq in 2..=6 {
            assert_eq!(node.next().await.unwrap().sequence, seq);
        }

        let text = metrics(&handle).await;
        assert_eq!(metric(&text, "switchyard_cp_telemetry_batches_total{result=\"stored\"}"), Some(8.0), "{text}");
        assert_eq!(metric(&text, "switchyard_cp_telemetry_batches_total{result=\"duplicate\"}"), Some(1.0));
        assert_eq!(metric(&text, "switchyard_cp_telemetry_batches_total{result=\"refused\"}"), Some(0.0));
        assert_eq!(metric(&text, "switchyard_cp_usage_records_total"), Some(10.0));
        assert_eq!(metric(&text, "switchyard_cp_telemetry_streams"), Some(1.0));
        assert_eq!(metric(&text, "switchyard_cp_connected_nodes"), Some(0.0));
        drop(node);
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn node_tokens_bind_the_node_id_and_bad_batches_are_refused() {
    let db = common::sqlite();
    let handle = start(&db.url).await;
    handle.store.put_node_token("edge-1", "edge-1", "edge-1-token-0123456789", "test").await.unwrap();
    let now = now_ms();

    let err = reporter(&handle, "no-such-token-0123456789").await.err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated);

    // A per-node token reports for its node only.
    let mut node = reporter(&handle, "edge-1-token-0123456789").await.unwrap();
    assert!(!node.send(batch("edge-1", "b", 1, vec![record("k", "m", P_UP, now)])).await.unwrap().duplicate);
    let err = node.send(batch("edge-2", "b", 1, vec![record("k", "m", P_UP, now)])).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("edge-2"), "{err:?}");
    assert_eq!(count(&handle, "usage_events").await, 1, "the forged batch wrote nothing");

    // Bad batches name the field.
    let cases: Vec<(TelemetryBatch, &str)> = vec![
        (batch("", "b", 1, vec![]), "node_id: required"),
        (batch("edge-1", "", 1, vec![]), "boot_id: required"),
        (batch("edge-1", "b", 0, vec![]), "sequence: must be 1 or more"),
        (batch("edge-1", "b", u64::MAX, vec![]), "sequence: "),
        (batch("edge-1", "b", 2, vec![UsageRecord::default(); telemetry::MAX_RECORDS + 1]), "usage: "),
        (
            batch("edge-1", "b", 2, vec![UsageRecord { key: "x".repeat(5000), ..Default::default() }]),
            "usage[0].key: 5000 bytes",
        ),
        (
            TelemetryBatch {
                health: vec![pb::HealthEvent { at_ms: 1, event: None }],
                ..batch("edge-1", "b", 2, vec![])
            },
            "health[0].event: required",
        ),
    ];
    for (bad, message) in cases {
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let err = node.send(bad).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().starts_with(message), "{message}: {err:?}");
    }
    assert_eq!(count(&handle, "telemetry_batches").await, 1);
    let text = metrics(&handle).await;
    assert_eq!(metric(&text, "switchyard_cp_telemetry_batches_total{result=\"refused\"}"), Some(8.0), "{text}");
    handle.shutdown().await;
}

#[tokio::test]
async fn concurrent_duplicate_deliveries_store_once() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let mut a = reporter(&handle, NODE_TOKEN).await.unwrap();
        let mut b = reporter(&handle, NODE_TOKEN).await.unwrap();
        let now = now_ms();
        for seq in 1..=20 {
            let sent = batch("edge-1", "boot-1", seq, (0..25).map(|_| record("k", "m", P_UP, now)).collect());
            let (x, y) = tokio::join!(a.send(sent.clone()), b.send(sent));
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(x.duplicate != y.duplicate, "{}: sequence {seq} stored exactly once: {x:?} {y:?}", db.label);
        }
        assert_eq!(count(&handle, "telemetry_batches").await, 20, "{}", db.label);
        assert_eq!(count(&handle, "usage_events").await, 500, "{}", db.label);
        let rows = query(&handle, pb::UsageGroupBy::Node, 0, None).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].requests, 500, "{}: rollups counted once", db.label);
        assert_eq!(rows[0].prompt_tokens, 500 * 100);
        drop((a, b));
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn a_control_plane_restart_loses_and_doubles_nothing() {
    const N: u64 = 6;
    const M: u64 = 4;
    const EACH: usize = 25;
    for db in common::databases().await {
        let now = now_ms();
        let batches: Vec<TelemetryBatch> = (1..=N + M)
            .map(|seq| {
                let usage = (0..EACH).map(|i| record("k", "m", P_UP, now - i as i64)).collect();
                batch("edge-1", "boot-1", seq, usage)
            })
            .collect();
        let handle = start(&db.url).await;
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        for b in &batches[..N as usize] {
            node.send(b.clone()).await.unwrap();
        }
        // The last ack is lost with the connection: the node still holds batch N.
        drop(node);
        let addr = handle.grpc_addr;
        handle.shutdown().await;
        assert!(TelemetryClient::connect(format!("http://{addr}")).await.is_err(), "the control plane is down");

        let handle = start(&db.url).await;
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let mut duplicates = 0;
        for b in &batches {
            duplicates += u64::from(node.send(b.clone()).await.unwrap().duplicate);
        }
        assert_eq!(duplicates, N, "{}", db.label);
        assert_eq!(count(&handle, "telemetry_batches").await, (N + M) as i64, "{}", db.label);
        assert_eq!(count(&handle, "usage_events").await, ((N + M) as usize * EACH) as i64, "{}", db.label);
        let rows = query(&handle, pb::UsageGroupBy::Key, 0, None).await;
        assert_eq!(rows[0].requests, (N + M) * EACH as u64, "{}", db.label);
        let spend = handle.store.spend(0).await.unwrap();
        let per = 100 + 2 * 20; // 100 prompt tokens at 1/M, 20 completion at 2/M: 140 micro-USD
        assert_eq!(spend.values().next().unwrap().1, per * ((N + M) as i64 * EACH as i64), "{}", db.label);
        drop(node);
        handle.shutdown().await;
    }
}
