//! State-machine tests on paused time (plus one real multi-threaded race for the probe).

use std::sync::Arc;
use std::time::Duration;

use switchyard_proto::model::BreakerPolicy;
use tokio::time::{Instant, advance};

use super::{Breaker, Failure, Permit, Reason, State};

fn policy() -> BreakerPolicy {
    BreakerPolicy {
        consecutive_failures: 3,
        failure_rate: 0.5,
        window: Duration::from_secs(10),
        min_requests: 10,
        cooldown: Duration::from_secs(1),
        max_cooldown: Duration::from_secs(8),
    }
}

/// Only the failure rate can trip.
fn rate_policy() -> BreakerPolicy {
    BreakerPolicy { consecutive_failures: 100, ..policy() }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn permit(b: &Arc<Breaker>) -> Permit {
    b.admit().expect("admitted")
}

fn fail(b: &Arc<Breaker>, p: &BreakerPolicy) {
    permit(b).failure(Failure::Server, p);
}

fn ok(b: &Arc<Breaker>) {
    permit(b).success();
}

/// Trips with consecutive failures; the breaker is Open afterwards.
fn trip(b: &Arc<Breaker>, p: &BreakerPolicy) {
    for _ in 0..p.consecutive_failures {
        fail(b, p);
    }
    assert_eq!(b.snapshot().state, State::Open);
}

/// Waits out an Open breaker's cooldown and takes the probe.
async fn probe(b: &Arc<Breaker>) -> Permit {
    let wait = b.snapshot().reopen_in.expect("open");
    advance(wait).await;
    let probe = permit(b);
    assert!(probe.is_probe());
    probe
}

fn assert_open(b: &Breaker, reason: Reason, open_for: Duration) {
    let s = b.snapshot();
    assert_eq!(s.state, State::Open);
    assert_eq!(s.reason, Some(reason));
    assert_eq!(s.reopen_in, Some(open_for));
}

#[test]
fn names_and_gauges() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Breaker>();
    send::<Permit>();
    assert_eq!([State::Closed, State::Open, State::HalfOpen].map(State::as_str), ["closed", "open", "half_open"]);
    assert_eq!([State::Closed, State::Open, State::HalfOpen].map(State::gauge), [0, 1, 2]);
    assert_eq!(Reason::ConsecutiveFailures.as_str(), "consecutive_failures");
    assert_eq!(Reason::ProbeFailed.as_str(), "probe_failed");
}

#[tokio::test(start_paused = true)]
async fn opens_on_consecutive_failures_and_rejects_until_cooldown() {
    let (b, p) = (Breaker::new("main/a/m"), policy());
    fail(&b, &p);
    fail(&b, &p);
    ok(&b); // resets the count
    fail(&b, &p);
    fail(&b, &p);
    assert_eq!(b.snapshot().state, State::Closed);
    assert_eq!(b.snapshot().consecutive_failures, 2);
    assert!(b.reopen_at().is_none());

    let opened = Instant::now();
    fail(&b, &p);
    assert_open(&b, Reason::ConsecutiveFailures, secs(1));
    assert_eq!(b.snapshot().trips, 1);
    assert_eq!(b.reopen_at(), Some(opened + secs(1)));

    advance(ms(999)).await;
    assert!(!b.admittable());
    assert!(b.admit().is_none());
    advance(ms(1)).await;
    assert!(b.admittable());
    assert_eq!(b.snapshot().reopen_in, Some(Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn opens_on_failure_rate_only_past_min_requests() {
    let (b, p) = (Breaker::new("rate"), rate_policy());
    // All-failing, but fewer than min_requests.
    for _ in 0..9 {
        fail(&b, &p);
    }
    assert_eq!(b.snapshot().state, State::Closed);
    let s = b.snapshot();
    assert_eq!((s.window_requests, s.window_failures), (9, 9));
    // The tenth request, a failure: 10/10.
    fail(&b, &p);
    assert_open(&b, Reason::FailureRate, secs(1));
}

#[tokio::test(start_paused = true)]
async fn failure_rate_below_threshold_does_not_trip() {
    let (b, p) = (Breaker::new("rate"), rate_policy());
    // 9 failures in 20 requests (0.45), and never at or above 0.5 on the way.
    for i in 0..20 {
        if i % 2 == 1 && i > 2 { fail(&b, &p) } else { ok(&b) }
    }
    let s = b.snapshot();
    assert_eq!((s.state, s.window_requests, s.window_failures), (State::Closed, 20, 9));
    fail(&b, &p);
    assert_eq!(b.snapshot().state, State::Closed, "10/21 failed");
    // Exactly the threshold trips: 11/22.
    fail(&b, &p);
    assert_open(&b, Reason::FailureRate, secs(1));
}

#[tokio::test(start_paused = true)]
async fn window_forgets_old_failures() {
    let (b, p) = (Breaker::new("slide"), BreakerPolicy { min_requests: 4, ..rate_policy() });
    for _ in 0..3 {
        fail(&b, &p);
    }
    advance(secs(11)).await;
    assert_eq!(b.snapshot().window_requests, 0);
    ok(&b);
    fail(&b, &p); // 2 requests in the window; with the old ones it would be 4/5 and trip
    let s = b.snapshot();
    assert_eq!((s.state, s.window_requests, s.window_failures), (State::Closed, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_a_single_probe_and_success_closes() {
    let (b, p) = (Breaker::new("probe"), policy());
    trip(&b, &p);
    let probe = probe(&b).await;
    assert_eq!(b.snapshot().state, State::HalfOpen);
    assert!(b.reopen_at().is_none());
    assert!(!b.admittable());
    assert!(b.admit().is_none());
    probe.success();

    let s = b.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!((s.reason, s.reopen_in, s.consecutive_failures, s.window_requests, s.trips), (None, None, 0, 0, 0));
    assert!(!permit(&b).is_probe());
}

#[tokio::test(start_paused = true)]
async fn probe_failure_doubles_cooldown_up_to_max() {
    let (b, p) = (Breaker::new("backoff"), policy());
    trip(&b, &p);
    for (trips, expected) in [(2, 2), (3, 4), (4, 8), (5, 8), (6, 8)] {
        probe(&b).await.failure(Failure::Timeout, &p);
        assert_open(&b, Reason::ProbeFailed, secs(expected));
        assert_eq!(b.snapshot().trips, trips);
    }
}

#[tokio::test(start_paused = true)]
async fn successful_probe_resets_cooldown() {
    let (b, p) = (Breaker::new("reset"), policy());
    trip(&b, &p);
    probe(&b).await.failure(Failure::Connect, &p);
    assert_open(&b, Reason::ProbeFailed, secs(2));
    probe(&b).await.success();
    trip(&b, &p);
    assert_open(&b, Reason::ConsecutiveFailures, secs(1));
}

#[tokio::test(start_paused = true)]
async fn rate_limited_honours_retry_after_clamped() {
    let p = policy();
    let b = Breaker::new("429");
    permit(&b).failure(Failure::RateLimited { retry_after: Some(secs(3)) }, &p);
    assert_open(&b, Reason::RateLimited, secs(3));

    let b = Breaker::new("429-long");
    permit(&b).failure(Failure::RateLimited { retry_after: Some(secs(3600)) }, &p);
    assert_open(&b, Reason::RateLimited, secs(8));

    // Without Retry-After: the backoff, which a failed probe has doubled.
    let b = Breaker::new("429-bare");
    permit(&b).failure(Failure::RateLimited { retry_after: None }, &p);
    assert_open(&b, Reason::RateLimited, secs(1));
    probe(&b).await.failure(Failure::RateLimited { retry_after: None }, &p);
    assert_open(&b, Reason::RateLimited, secs(2));
    // A probe's 429 with Retry-After uses it.
    probe(&b).await.failure(Failure::RateLimited { retry_after: Some(ms(1500)) }, &p);
    assert_open(&b, Reason::RateLimited, ms(1500));
}

#[tokio::test(start_paused = true)]
async fn auth_and_quota_open_for_max_cooldown() {
    let p = policy();
    for (failure, reason) in [(Failure::Auth, Reason::Auth), (Failure::Quota, Reason::Quota)] {
        let b = Breaker::new("key");
        permit(&b).failure(failure, &p);
        assert_open(&b, reason, secs(8));
        probe(&b).await.failure(failure, &p);
        assert_open(&b, reason, secs(8));
    }
}

#[tokio::test(start_paused = true)]
async fn neutral_outcomes_never_count() {
    let (b, p) = (Breaker::new("neutral"), policy());
    fail(&b, &p);
    for _ in 0..20 {
        permit(&b).neutral();
        drop(permit(&b));
    }
    fail(&b, &p);
    let s = b.snapshot();
    assert_eq!((s.state, s.consecutive_failures, s.window_requests, s.window_failures), (State::Closed, 2, 2, 2));
}

#[tokio::test(start_paused = true)]
async fn a_neutral_or_dropped_probe_gives_its_slot_back() {
    let (b, p) = (Breaker::new("giveback"), policy());
    trip(&b, &p);
    let first = probe(&b).await;
    assert!(b.admit().is_none());
    drop(first);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.reason, s.reopen_in, s.trips),
        (State::Open, Some(Reason::ConsecutiveFailures), Some(Duration::ZERO), 1)
    );

    let second = permit(&b);
    assert!(second.is_probe());
    second.neutral();
    let third = permit(&b);
    assert!(third.is_probe());
    // Giving back does not count as a failed probe: the next cooldown is still the doubled one.
    third.failure(Failure::Server, &p);
    assert_open(&b, Reason::ProbeFailed, secs(2));
}

#[tokio::test(start_paused = true)]
async fn outcomes_admitted_before_a_trip_are_ignored() {
    let (b, p) = (Breaker::new("stale"), policy());
    let early: Vec<Permit> = (0..4).map(|_| permit(&b)).collect();
    trip(&b, &p);
    let before = b.snapshot();
    let mut early = early.into_iter();
    if let Some(late) = early.next() {
        late.success();
    }
    if let Some(late) = early.next() {
        late.failure(Failure::Auth, &p);
    }
    let after = b.snapshot();
    assert_eq!(after.reopen_in, before.reopen_in);
    assert_eq!((after.reason, after.trips, after.consecutive_failures), (before.reason, 1, 3));
    assert_eq!(after.window_requests, before.window_requests);

    // Still ignored once a probe has closed the breaker again.
    probe(&b).await.success();
    if let Some(late) = early.next() {
        late.failure(Failure::Server, &p);
    }
    drop(early.next());
    let s = b.snapshot();
    assert_eq!((s.state, s.consecutive_failures, s.window_requests), (State::Closed, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn policy_change_applies_to_a_live_breaker() {
    let b = Breaker::new("reload");
    trip(&b, &policy());
    let longer = BreakerPolicy { cooldown: secs(5), max_cooldown: secs(60), ..policy() };
    probe(&b).await.failure(Failure::Server, &longer);
    assert_open(&b, Reason::ProbeFailed, secs(10));
}

/// Real threads, real time: 100 tasks race for the probe at one instant.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn exactly_one_probe_under_concurrency() {
    let p = BreakerPolicy { cooldown: ms(1), max_cooldown: ms(1), ..policy() };
    let b = Breaker::new("race");
    trip(&b, &p);
    tokio::time::sleep(ms(20)).await;
    assert!(b.admittable());

    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (b, barrier) = (Arc::clone(&b), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                b.admit()
            })
        })
        .collect();
    let mut permits = Vec::new();
    for task in tasks {
        permits.push(task.await.unwrap());
    }
    let probes: Vec<Permit> = permits.into_iter().flatten().collect();
    assert_eq!(probes.len(), 1);
    assert!(probes[0].is_probe());
    assert_eq!(b.snapshot().state, State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn an_observed_breaker_reports_every_transition_in_order() {
    use super::events::{EndpointId, Transitions};
    let sink = Arc::new(Transitions::default());
    let endpoint =
        EndpointId { route: "m".into(), provider: "main".into(), account: "a".into(), upstream_model: "up".into() };
    let (b, p) = (Breaker::observed(endpoint.clone(), sink.clone()), policy());
    permit(&b).failure(Failure::Auth, &p);
    probe(&b).await.failure(Failure::Server, &p); // probe failed: open again, for the doubled cooldown
    drop(probe(&b).await); // given back: open, admittable at once
    probe(&b).await.success();

    let seen: Vec<_> = sink.take().into_iter().map(|t| (t.from, t.to, t.reason, t.open_for_ms)).collect();
    assert_eq!(
        seen,
        [
            (State::Closed, State::Open, Some(Reason::Auth), 8000),
            (State::Open, State::HalfOpen, None, 0),
            (State::HalfOpen, State::Open, Some(Reason::ProbeFailed), 2000),
            (State::Open, State::HalfOpen, None, 0),
            (State::HalfOpen, State::Open, Some(Reason::ProbeFailed), 0),
            (State::Open, State::HalfOpen, None, 0),
            (State::HalfOpen, State::Closed, None, 0),
        ]
    );
    assert!(sink.take().is_empty(), "taken once");
    // An unobserved breaker reports nothing (and costs nothing).
    let quiet = Breaker::new("quiet");
    permit(&quiet).failure(Failure::Auth, &p);
    assert!(sink.take().is_empty());
}

#[test]
fn the_transition_queue_is_bounded_and_counts_what_it_drops() {
    use super::events::{EndpointId, MAX_QUEUED, Transition, Transitions};
    use std::sync::atomic::Ordering::Relaxed;
    let sink = Transitions::default();
    let endpoint = Arc::new(EndpointId {
        route: "m".into(),
        provider: "p".into(),
        account: "a".into(),
        upstream_model: "u".into(),
    });
    for at_ms in 0..(MAX_QUEUED as i64 + 5) {
        sink.push(Transition {
            at_ms,
            endpoint: endpoint.clone(),
            from: State::Closed,
            to: State::Open,
            reason: None,
            open_for_ms: 0,
        });
    }
    let taken = sink.take();
    assert_eq!(taken.len(), MAX_QUEUED);
    assert_eq!(taken[0].at_ms, 5, "the oldest went");
    assert_eq!(sink.dropped.load(Relaxed), 5);
}

fn check(b: &Arc<Breaker>) -> Permit {
    b.admit_check().expect("a check admitted")
}

#[tokio::test(start_paused = true)]
async fn a_check_while_closed_never_counts_its_success_and_opens_on_its_failure() {
    let (b, p) = (Breaker::new("check-closed"), policy());
    fail(&b, &p);
    fail(&b, &p);
    // A check's success does not clear the users' failures, nor fill the window.
    check(&b).success();
    let s = b.snapshot();
    assert_eq!((s.state, s.consecutive_failures, s.window_requests), (State::Closed, 2, 2));
    assert!(!check(&b).is_probe());

    // A check's failure opens at once, whatever the counters say.
    let b = Breaker::new("check-dead");
    check(&b).failure(Failure::Connect, &p);
    assert_open(&b, Reason::HealthCheck, secs(1));
    assert_eq!(b.snapshot().trips, 1);
    assert!(b.admit().is_none(), "users are kept off it");

    // 429, auth and quota open as a request's would.
    let b = Breaker::new("check-429");
    check(&b).failure(Failure::RateLimited { retry_after: Some(secs(5)) }, &p);
    assert_open(&b, Reason::RateLimited, secs(5));
    let b = Breaker::new("check-auth");
    check(&b).failure(Failure::Auth, &p);
    assert_open(&b, Reason::Auth, secs(8));

    // A neutral or dropped check changes nothing.
    let b = Breaker::new("check-neutral");
    check(&b).neutral();
    drop(check(&b));
    assert_eq!(b.snapshot().state, State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_check_is_the_probe_once_the_cooldown_is_over() {
    let (b, p) = (Breaker::new("check-probe"), policy());
    trip(&b, &p);
    // Before the reopen time the rules let nothing in, a check neither.
    assert!(b.admit_check().is_none());
    advance(secs(1)).await;
    let probe = check(&b);
    assert!(probe.is_probe());
    assert_eq!(b.snapshot().state, State::HalfOpen);
    assert!(b.admit().is_none() && b.admit_check().is_none(), "one probe at a time");
    // Failed: open again for the doubled cooldown, the reason says a check found it.
    probe.failure(Failure::Server, &p);
    assert_open(&b, Reason::HealthCheck, secs(2));
    assert_eq!(b.snapshot().trips, 2);

    advance(secs(2)).await;
    check(&b).success();
    let s = b.snapshot();
    assert_eq!((s.state, s.reason, s.trips, s.consecutive_failures), (State::Closed, None, 0, 0));
    // Closed again by the check: the next trip starts from the first cooldown.
    trip(&b, &p);
    assert_open(&b, Reason::ConsecutiveFailures, secs(1));

    // A user's probe in flight: no check.
    advance(secs(1)).await;
    let user = permit(&b);
    assert!(user.is_probe());
    assert!(b.admit_check().is_none());
    user.success();

    // A check probe dropped unsettled gives its slot back, as a request's does.
    trip(&b, &p);
    advance(secs(1)).await;
    drop(check(&b));
    assert_eq!(b.snapshot().state, State::Open);
    assert!(permit(&b).is_probe());
}

#[tokio::test(start_paused = true)]
async fn a_check_decided_after_a_transition_is_ignored() {
    let (b, p) = (Breaker::new("check-stale"), policy());
    let stale = check(&b);
    trip(&b, &p);
    // Admitted while Closed, settled while Open: its failure says nothing new.
    stale.failure(Failure::Server, &p);
    assert_open(&b, Reason::ConsecutiveFailures, secs(1));
    assert_eq!(b.snapshot().trips, 1);
}
