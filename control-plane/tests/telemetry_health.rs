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

/// A node as its config stream leaves it in the registry: announced `boot`,
/// `connected` or not, stamped at `last_seen_ms` (long ago = lost).
fn registered(id: &str, boot: &str, connected: bool, last_seen_ms: i64) -> NodeRecord {
    NodeRecord {
        id: id.into(),
        region: String::new(),
        zone: String::new(),
        labels: BTreeMap::new(),
        build_version: String::new(),
        boot_id: boot.into(),
        connected,
        config: (0, String::new()),
        runtime: (0, String::new()),
        last_nack: None,
        first_seen_ms: last_seen_ms,
        last_seen_ms,
        last_heartbeat_ms: 0,
        inflight_requests: 0,
    }
}

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
    handle.store.record_node(&registered("edge-1", "boot", false, 0)).await.unwrap();
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
                ..Default::default()
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
    let (stamped, inflight): (i64, i64) =
        sqlx::query_as("SELECT last_heartbeat_ms, inflight_requests FROM nodes WHERE id = 'edge-1'")
            .fetch_one(handle.store.pool())
            .await
            .unwrap();
    assert!(stamped >= now, "stamped on receipt");
    assert_eq!(inflight, 7);
    assert_eq!(live().await, 1, "a heartbeat keeps it live");

    // A node whose heartbeat arrives before its registration is written: the row is made, then filled in.
    reporter.send(health_batch("edge-2", "b2", 1, vec![heartbeat(now, 3)])).await.unwrap();
    let fleet = handle.store.fleet().await.unwrap();
    let early = fleet.iter().find(|n| n.id == "edge-2").expect("registered by its heartbeat");
    assert!(early.last_heartbeat_ms >= now && early.last_seen_ms >= now);
    assert_eq!((early.inflight_requests, early.boot_id.as_str()), (3, ""));
    assert_eq!(live().await, 2);
    handle.store.record_node(&registered("edge-2", "b2", true, now_ms())).await.unwrap();
    let fleet = handle.store.fleet().await.unwrap();
    let later = fleet.iter().find(|n| n.id == "edge-2").unwrap();
    assert_eq!((later.boot_id.as_str(), later.connected), ("b2", true));
    assert_eq!(later.last_heartbeat_ms, early.last_heartbeat_ms, "the registration keeps the heartbeat");
    handle.shutdown().await;
}

/// A breaker transition of `endpoint` (provider, account, route, upstream model) to `to`.
fn breaker(at_ms: i64, endpoint: [&str; 4], to: pb::BreakerState, reason: &str) -> pb::HealthEvent {
    let [provider, account, route, upstream_model] = endpoint.map(str::to_owned);
    let from = if to == pb::BreakerState::Closed { pb::BreakerState::Open } else { pb::BreakerState::Closed };
    pb::HealthEvent {
        at_ms,
        event: Some(pb::health_event::Event::Breaker(pb::BreakerTransition {
            provider,
            account,
            route,
            upstream_model,
            from: from as i32,
            to: to as i32,
            reason: reason.into(),
            open_for_ms: 30_000,
        })),
    }
}

fn heartbeat(at_ms: i64, inflight_requests: u64) -> pb::HealthEvent {
    let beat = pb::Heartbeat { config_version: 1, runtime_version: 1, inflight_requests, ..Default::default() };
    pb::HealthEvent { at_ms, event: Some(pb::health_event::Event::Heartbeat(beat)) }
}

/// A heartbeat listing the node's breakers that are not closed (`None`: it does not report them).
fn heartbeat_listing(at_ms: i64, open: Option<Vec<pb::HealthEvent>>) -> pb::HealthEvent {
    let reported = open.is_some();
    let breakers = open
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e.event {
            Some(pb::health_event::Event::Breaker(t)) => Some(pb::BreakerTransition { from: 0, ..t }),
            _ => None,
        })
        .collect();
    let beat = pb::Heartbeat { breakers, breakers_reported: reported, ..Default::default() };
    pb::HealthEvent { at_ms, event: Some(pb::health_event::Event::Heartbeat(beat)) }
}

fn health_batch(node: &str, boot: &str, sequence: u64, health: Vec<pb::HealthEvent>) -> pb::TelemetryBatch {
    pb::TelemetryBatch { health, ..batch(node, boot, sequence, vec![]) }
}

/// One endpoint of a FleetStatus: (nodes, open, half-open, [(node, state, reason)]).
type Seen = (u32, u32, u32, Vec<(String, String, String)>);

async fn fleet_endpoints(admin: &mut common::admin::Client) -> Vec<([String; 4], Seen)> {
    let fleet = admin.fleet_status(pb::FleetStatusRequest {}).await.unwrap().into_inner();
    fleet
        .endpoints
        .into_iter()
        .map(|e| {
            let states = e.not_closed.into_iter().map(|n| (n.node_id, n.state, n.reason)).collect();
            ([e.provider, e.account, e.route, e.upstream_model], (e.nodes, e.open, e.half_open, states))
        })
        .collect()
}

fn endpoint(e: [&str; 4]) -> [String; 4] {
    e.map(str::to_owned)
}

fn states(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter().map(|(n, s, r)| ((*n).to_owned(), (*s).to_owned(), (*r).to_owned())).collect()
}

#[tokio::test]
async fn fleet_status_counts_endpoint_health_of_live_nodes_current_boots() {
    use pb::BreakerState::{Closed, HalfOpen, Open};
    const E: [&str; 4] = ["p", "a", "m", "up"];
    const FREE: [&str; 4] = ["p", "a", "free", "up-free"];
    const Q: [&str; 4] = ["q", "b", "m", "up-q"];
    const LOST_ONLY: [&str; 4] = ["q", "b", "smart", "up-q"];
    for db in common::databases().await {
        let label = db.label;
        let handle = start(&db.url).await;
        let mut admin = common::admin::client(&handle, Some(common::admin::ADMIN)).await;
        let now = now_ms();
        handle.store.record_node(&registered("dp-1", "boot-1", true, now)).await.unwrap();
        handle.store.record_node(&registered("dp-2", "boot-1", true, now)).await.unwrap();
        // Connected, but its replica stopped stamping it an hour ago, and no heartbeat: lost.
        handle.store.record_node(&registered("dp-3", "boot-1", true, now - 3_600_000)).await.unwrap();

        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let dp1 =
            vec![breaker(now - 3000, E, Open, "auth"), breaker(now - 2000, FREE, Closed, ""), heartbeat(now - 1000, 4)];
        node.send(health_batch("dp-1", "boot-1", 1, dp1)).await.unwrap();
        let dp2 = vec![
            breaker(now - 2000, E, Closed, ""),
            breaker(now - 2000, FREE, Closed, ""),
            breaker(now, Q, HalfOpen, "rate_limited"),
        ];
        node.send(health_batch("dp-2", "boot-1", 1, dp2)).await.unwrap();
        let dp3 = vec![breaker(now - 1000, E, Open, "failure_rate"), breaker(now - 1000, LOST_ONLY, Open, "quota")];
        node.send(health_batch("dp-3", "boot-1", 1, dp3)).await.unwrap();

        // Sorted by provider, account, route, model; the lost dp-3 counts nowhere.
        let seen = fleet_endpoints(&mut admin).await;
        let expected = vec![
            (endpoint(FREE), (2, 0, 0, vec![])),
            (endpoint(E), (2, 1, 0, states(&[("dp-1", "open", "auth")]))),
            (endpoint(Q), (1, 0, 1, states(&[("dp-2", "half_open", "rate_limited")]))),
        ];
        assert_eq!(seen, expected, "{label}");
        let fleet = admin.fleet_status(pb::FleetStatusRequest {}).await.unwrap().into_inner();
        let e = fleet.endpoints.iter().find(|e| e.route == "m" && e.provider == "p").unwrap();
        assert_eq!((e.not_closed[0].open_for_ms, e.not_closed[0].at_ms), (30_000, now - 3000));
        let dp1 = fleet.nodes.iter().find(|n| n.node.as_ref().unwrap().id == "dp-1").unwrap();
        assert_eq!(dp1.inflight_requests, 4, "{label}");
        assert!(dp1.last_heartbeat_ms >= now, "stamped on receipt");
        let dp2 = fleet.nodes.iter().find(|n| n.node.as_ref().unwrap().id == "dp-2").unwrap();
        assert_eq!((dp2.last_heartbeat_ms, dp2.inflight_requests), (0, 0));

        // A heartbeat makes dp-3 live again: its reports count.
        node.send(health_batch("dp-3", "boot-1", 2, vec![heartbeat(now, 0)])).await.unwrap();
        let seen = fleet_endpoints(&mut admin).await;
        let e = &seen.iter().find(|(k, _)| *k == endpoint(E)).unwrap().1;
        assert_eq!(e, &(3, 2, 0, states(&[("dp-1", "open", "auth"), ("dp-3", "open", "failure_rate")])), "{label}");
        assert!(seen.iter().any(|(k, _)| *k == endpoint(LOST_ONLY)));

        // dp-1 restarts: its config stream announces boot-2; boot-1's rows no longer count.
        handle.store.record_node(&registered("dp-1", "boot-2", true, now_ms())).await.unwrap();
        let seen = fleet_endpoints(&mut admin).await;
        let e = &seen.iter().find(|(k, _)| *k == endpoint(E)).unwrap().1;
        assert_eq!(e, &(2, 1, 0, states(&[("dp-3", "open", "failure_rate")])), "{label}");
        let rows = |all: Vec<switchyard_control::store::EndpointHealth>, node: &str| -> Vec<(String, String)> {
            all.into_iter().filter(|r| r.node_id == node).map(|r| (r.route, r.boot_id)).collect()
        };
        let before = handle.store.endpoint_health().await.unwrap();
        let boot1 = |route: &str| (route.to_owned(), "boot-1".to_owned());
        assert_eq!(rows(before.clone(), "dp-1"), [boot1("free"), boot1("m")], "{label}");

        // boot-2's first heartbeat (node clock now - 2500) deletes dp-1's boot-1 rows older than
        // itself (the open one) and keeps the newer one; other nodes' rows stay.
        node.send(health_batch("dp-1", "boot-2", 1, vec![heartbeat(now - 2500, 0)])).await.unwrap();
        let after = handle.store.endpoint_health().await.unwrap();
        assert_eq!(rows(after.clone(), "dp-1"), [boot1("free")], "{label}");
        assert_eq!(rows(after.clone(), "dp-2"), rows(before.clone(), "dp-2"));
        assert_eq!(rows(after, "dp-3"), rows(before, "dp-3"));
        drop(node);
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn a_heartbeat_listing_the_open_breakers_closes_what_it_no_longer_lists() {
    use pb::BreakerState::{HalfOpen, Open};
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let now = now_ms();
        let (x, y, z) = (["p", "a", "m", "x"], ["p", "a", "m", "y"], ["p", "a", "m", "z"]);
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let state = async || -> BTreeMap<String, (String, String, i64)> {
            let rows = handle.store.endpoint_health().await.unwrap();
            rows.into_iter().map(|h| (h.upstream_model, (h.state, h.reason, h.at_ms))).collect()
        };
        let opened = vec![breaker(now - 3000, x, Open, "auth"), breaker(now - 3000, y, Open, "failure_rate")];
        node.send(health_batch("edge-1", "b1", 1, opened)).await.unwrap();

        // The node lists y (still open) and z (half-open; its transition was lost): x closed since.
        let listed = vec![breaker(0, y, Open, "failure_rate"), breaker(0, z, HalfOpen, "")];
        node.send(health_batch("edge-1", "b1", 2, vec![heartbeat_listing(now - 2000, Some(listed))])).await.unwrap();
        let seen = state().await;
        assert_eq!(seen["x"], ("closed".into(), String::new(), now - 2000), "{}: {seen:?}", db.label);
        assert_eq!(seen["y"], ("open".into(), "failure_rate".into(), now - 2000));
        assert_eq!(seen["z"], ("half_open".into(), String::new(), now - 2000));

        // An older heartbeat, or one that does not report breakers, changes nothing.
        node.send(health_batch("edge-1", "b1", 3, vec![heartbeat_listing(now - 2500, Some(vec![]))])).await.unwrap();
        node.send(health_batch("edge-1", "b1", 4, vec![heartbeat_listing(now - 1000, None)])).await.unwrap();
        assert_eq!(state().await, seen);

        // Nothing listed any more: y and z close as of that heartbeat; x, closed already, is left as it was.
        node.send(health_batch("edge-1", "b1", 5, vec![heartbeat_listing(now - 500, Some(vec![]))])).await.unwrap();
        let seen = state().await;
        assert_eq!(seen["x"], ("closed".into(), String::new(), now - 2000), "{seen:?}");
        assert_eq!(seen["y"], ("closed".into(), String::new(), now - 500));
        assert_eq!(seen["z"], ("closed".into(), String::new(), now - 500));
        handle.shutdown().await;
    }
}
