//! The reporter without a control plane: sealing, sequence numbers, the
//! spool (and the memory fallback when it cannot be used), breaker
//! transitions and heartbeats in batches.

use super::queue::{Body, Queue};
use super::spool::{self, Spool};
use super::*;
use crate::breaker::events::{EndpointId, Transitions};
use crate::usage;

/// A node holding no config yet, with nothing in flight.
struct Idle;

impl NodeState for Idle {
    fn runtime(&self) -> Option<Arc<Runtime>> {
        None
    }

    fn inflight(&self) -> u64 {
        0
    }
}

fn record(n: u64) -> UsageRecord {
    UsageRecord {
        request_id: format!("r-{n}"),
        started_at_ms: 1,
        key: "app".into(),
        route: "m".into(),
        provider: "p".into(),
        account: "a".into(),
        upstream_model: "up".into(),
        status: usage::Status::Ok,
        http_status: 200,
        attempts: 1,
        stream: false,
        tokens: usage::Tokens::default(),
        source: usage::Source::Reported,
        latency_us: 1,
        first_token_us: None,
        config_version: 1,
    }
}

async fn open(dir: &std::path::Path, queue: &Arc<Queue>, transitions: &Arc<Transitions>) -> Arc<Reporter> {
    Reporter::open("edge-1".into(), dir, Arc::new(Idle), transitions.clone(), queue.clone()).await
}

fn batch_of(entry: &queue::Entry) -> TelemetryBatch {
    match &entry.body {
        Body::Memory(batch) => TelemetryBatch::clone(batch),
        Body::Spooled(path) => spool::read(path).unwrap(),
    }
}

#[tokio::test]
async fn batches_are_numbered_spooled_and_carry_transitions_and_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, transitions) = (Arc::new(Queue::new(1 << 20)), Arc::new(Transitions::default()));
    let reporter = open(dir.path(), &queue, &transitions).await;
    reporter.seal().await;
    assert_eq!(queue.depth().batches, 0, "nothing pending, nothing sealed");

    reporter.record(&[record(1), record(2)]).await;
    let endpoint =
        EndpointId { route: "m".into(), provider: "p".into(), account: "a".into(), upstream_model: "up".into() };
    let breaker = crate::breaker::Breaker::observed(endpoint, transitions.clone());
    breaker.admit().unwrap().failure(crate::breaker::Failure::Auth, &Default::default());
    reporter.heartbeat();
    reporter.seal().await;
    reporter.record(&[record(3)]).await;
    reporter.seal().await;

    let first = queue.next(0).unwrap();
    let second = queue.next(first.id + 1).unwrap();
    assert!(matches!(first.body, Body::Spooled(_)), "on disk from the start");
    let (a, b) = (batch_of(&first), batch_of(&second));
    assert_eq!((a.sequence, b.sequence), (1, 2));
    assert_eq!((a.node_id.as_str(), a.boot_id.as_str()), ("edge-1", reporter.boot_id()));
    assert_eq!(a.usage.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(), ["r-1", "r-2"]);
    assert_eq!(first.items, 4, "two records, a transition, a heartbeat");
    let breaker_event = a.health.iter().find_map(|h| match &h.event {
        Some(health_event::Event::Breaker(t)) => Some(t.clone()),
        _ => None,
    });
    let t = breaker_event.expect("the transition went with the batch");
    assert_eq!((t.to, t.reason.as_str()), (BreakerState::Open as i32, "auth"));
    assert!(a.health.iter().any(|h| matches!(h.event, Some(health_event::Event::Heartbeat(_)))));
    assert_eq!(b.usage.len(), 1);
    assert_eq!(Spool::open(dir.path()).unwrap().list().unwrap().len(), 2);

    // The next start finds both, ahead of its own, under their own keys.
    let queue2 = Arc::new(Queue::new(1 << 20));
    let again = open(dir.path(), &queue2, &transitions).await;
    assert_ne!(again.boot_id(), reporter.boot_id());
    let found = queue2.next(0).unwrap();
    assert_eq!((found.boot_id.as_str(), found.sequence, found.items), (reporter.boot_id(), 1, 4));
    assert_eq!(queue2.depth().batches, 2);
}

#[tokio::test]
async fn without_a_usable_spool_batches_stay_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the spool's directory would go.
    std::fs::write(dir.path().join("telemetry"), b"not a directory").unwrap();
    let (queue, transitions) = (Arc::new(Queue::new(1 << 20)), Arc::new(Transitions::default()));
    let reporter = open(dir.path(), &queue, &transitions).await;
    reporter.record(&[record(1)]).await;
    reporter.seal().await;
    let entry = queue.next(0).unwrap();
    assert!(matches!(entry.body, Body::Memory(_)));
    assert_eq!(batch_of(&entry).usage.len(), 1);
}

#[tokio::test]
async fn a_full_batch_is_sealed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, transitions) = (Arc::new(Queue::new(1 << 30)), Arc::new(Transitions::default()));
    let reporter = open(dir.path(), &queue, &transitions).await;
    let records: Vec<_> = (0..MAX_RECORDS as u64).map(record).collect();
    reporter.record(&records).await;
    assert_eq!(queue.depth(), queue::Depth { batches: 1, bytes: queue.depth().bytes, items: MAX_RECORDS as u64 });
}
