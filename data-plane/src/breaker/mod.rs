//! Per-endpoint circuit breaker.
//!
//! Words: **Closed** = traffic flows, **Open** = rejecting, **HalfOpen** = exactly one
//! probe admitted.
//!
//! ```text
//!            trip: consecutive failures, failure rate, 429, auth, quota
//!   Closed ─────────────────────────────────────────────────────────────▶ Open
//!     ▲                                                                   │  ▲
//!     │ probe succeeded                   reopen time passed, first admit │  │ probe failed,
//!     │                                                                   ▼  │ or given back
//!     └────────────────────────────────────────────────────────────── HalfOpen
//! ```
//!
//! * Closed: every [`Breaker::admit`] gets a [`Permit`]. A success resets the
//!   consecutive-failure count; a failure increments it and lands in the sliding
//!   window (`window.rs`). The breaker opens when the count reaches `consecutive_failures`, or when
//!   the window holds at least `min_requests` requests of which a share of at least
//!   `failure_rate` failed.
//! * Open: admit rejects until the reopen time, `cooldown * 2^trips` capped at
//!   `max_cooldown`, where `trips` counts openings since the last successful probe. A 429
//!   opens at once for its `Retry-After` (capped at `max_cooldown`; without one, the
//!   backoff above); an auth or quota failure opens at once for `max_cooldown`.
//! * HalfOpen: the first admit after the reopen time wins a CAS and becomes the single
//!   probe; everyone else is rejected. Its success closes the breaker (counters, window and
//!   `trips` reset); its failure opens it again with the next, doubled cooldown. A probe
//!   settled as neutral, or dropped unsettled, gives its slot back: Open, admittable at once.
//!
//! Active health checks take permits too ([`Breaker::admit_check`]), under the
//! same rules except while Closed, where a check's success is ignored and its
//! failure opens the breaker at once (reason `health_check`).
//!
//! Concurrency: `phase` packs a generation counter with the state, and every transition
//! bumps the generation. A permit remembers the phase it was admitted in, so outcomes of
//! requests admitted before a transition (say, finishing while Open) are ignored. Closed
//! admits and successes are atomics only. Transitions out of Closed and HalfOpen happen under
//! the `cold` mutex; Open -> HalfOpen is a lock-free CAS, and nothing else leaves Open, so
//! the two never race. Fields a transition sets are written before the `phase` store that
//! publishes them (release/acquire).
//!
//! Times are milliseconds since `base`, a [`tokio::time::Instant`] taken at
//! [`Breaker::new`], so paused-time tests drive the breaker.

pub mod events;
mod window;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use switchyard_proto::model::BreakerPolicy;
use tokio::time::Instant;

use self::events::{EndpointId, Observer, Transition, Transitions};
use self::window::Window;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Traffic flows.
    Closed,
    /// Rejecting until the reopen time.
    Open,
    /// Exactly one probe admitted; everyone else rejected.
    HalfOpen,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }

    /// The `switchyard_breaker_state` gauge value.
    pub fn gauge(self) -> u8 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }

    fn of(phase: u64) -> State {
        match phase & STATE_MASK {
            0 => State::Closed,
            1 => State::Open,
            _ => State::HalfOpen,
        }
    }
}

/// Why the breaker last opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ConsecutiveFailures,
    FailureRate,
    RateLimited,
    Auth,
    Quota,
    ProbeFailed,
    /// An active health check failed (connect, timeout, 5xx, a malformed answer).
    HealthCheck,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ConsecutiveFailures => "consecutive_failures",
            Reason::FailureRate => "failure_rate",
            Reason::RateLimited => "rate_limited",
            Reason::Auth => "auth",
            Reason::Quota => "quota",
            Reason::ProbeFailed => "probe_failed",
            Reason::HealthCheck => "health_check",
        }
    }
}

/// An outcome that counts against the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    /// 5xx, or a stream that failed before its first event.
    Server,
    /// A response the proxy could not make sense of.
    Malformed,
    /// 429: opens at once for `retry_after` (capped at `max_cooldown`), else the backoff.
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// 401/403: opens at once for `max_cooldown`.
    Auth,
    /// 402 / `insufficient_quota`: opens at once for `max_cooldown`.
    Quota,
}

/// A point-in-time view for `/status` and metrics.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: State,
    /// Why it last opened; `None` once Closed again.
    pub reason: Option<Reason>,
    /// Time left until an Open breaker admits a probe (zero when due); `None` otherwise.
    pub reopen_in: Option<Duration>,
    pub consecutive_failures: u32,
    pub window_requests: u64,
    pub window_failures: u64,
    /// Openings since the last successful probe (drives the backoff).
    pub trips: u32,
}

/// One endpoint's breaker. Lives across config reloads; the policy comes with each call.
pub struct Breaker {
    label: Arc<str>,
    base: Instant,
    /// `generation << 2 | state` (see [`State::of`]).
    phase: AtomicU64,
    /// When an Open breaker admits a probe, in ms since `base`.
    reopen_ms: AtomicU64,
    consecutive: AtomicU32,
    /// `cold.reason` is `RateLimited`, readable without the lock (the all-Open refusal asks).
    rate_limited: AtomicBool,
    window: Window,
    cold: Mutex<Cold>,
    /// Where transitions are reported (control-plane mode).
    observer: Option<Observer>,
}

/// What only transitions (and snapshots) touch.
struct Cold {
    trips: u32,
    reason: Option<Reason>,
}

const STATE_MASK: u64 = 0b11;
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;

/// The phase after `phase` with `state`: next generation.
fn advance(phase: u64, state: u64) -> u64 {
    ((phase >> 2).wrapping_add(1) << 2) | state
}

/// How long an opening lasts.
enum Hold {
    /// `cooldown * 2^trips`, capped at `max_cooldown`.
    Backoff,
    /// A fixed time, capped at `max_cooldown`.
    For(Duration),
}

impl Breaker {
    /// A Closed breaker; `label` (e.g. "main/a/gpt-4o-mini") names it in logs.
    pub fn new(label: impl Into<Arc<str>>) -> Arc<Breaker> {
        Self::build(label.into(), None)
    }

    /// A Closed breaker for `endpoint` that reports its transitions to `sink`.
    pub fn observed(endpoint: EndpointId, sink: Arc<Transitions>) -> Arc<Breaker> {
        let label = format!("{}/{}/{}", endpoint.provider, endpoint.account, endpoint.upstream_model);
        Self::build(label.into(), Some(Observer { endpoint: Arc::new(endpoint), sink }))
    }

    fn build(label: Arc<str>, observer: Option<Observer>) -> Arc<Breaker> {
        Arc::new(Breaker {
            label,
            base: Instant::now(),
            phase: AtomicU64::new(CLOSED),
            reopen_ms: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            rate_limited: AtomicBool::new(false),
            window: Window::new(BreakerPolicy::default().window),
            cold: Mutex::new(Cold { trips: 0, reason: None }),
            observer,
        })
    }

    /// Reports a transition, when observed.
    fn emit(&self, from: State, to: State, reason: Option<Reason>, open_for_ms: u64) {
        if let Some(o) = &self.observer {
            let at_ms = crate::wall::unix_ms();
            o.sink.push(Transition { at_ms, endpoint: o.endpoint.clone(), from, to, reason, open_for_ms });
        }
    }

    /// A permit to send one request, or `None` when rejected. Lock-free when Closed. Open
    /// and past its reopen time, the first caller becomes the single HalfOpen probe.
    pub fn admit(self: &Arc<Self>) -> Option<Permit> {
        self.admit_as(false)
    }

    /// Leave for one active health check ([`crate::health`]). A check is not
    /// user traffic, so the rules above apply to it with two differences, both
    /// while Closed: its success changes nothing (the counters and the window
    /// are the users'), and its failure opens the breaker at once, for the
    /// backoff with reason `health_check` (or as a request's would for a 429,
    /// an auth or a quota failure), so an endpoint that died is open before a
    /// user reaches it. Open and past its reopen time, the check becomes the
    /// HalfOpen probe like a request would, and is decided like one: its
    /// success closes the breaker, its failure reopens it with the next
    /// cooldown. Otherwise (Open before its reopen time, or a probe in flight)
    /// there is nothing the rules let a check decide now: `None`.
    pub fn admit_check(self: &Arc<Self>) -> Option<Permit> {
        self.admit_as(true)
    }

    fn admit_as(self: &Arc<Self>, check: bool) -> Option<Permit> {
        let phase = self.phase.load(Ordering::Acquire);
        match State::of(phase) {
            State::Closed => Some(Permit { breaker: Arc::clone(self), phase, check, settled: false }),
            State::HalfOpen => None,
            State::Open => {
                if self.now_ms() < self.reopen_ms.load(Ordering::Relaxed) {
                    return None;
                }
                let probe = advance(phase, HALF_OPEN);
                self.phase.compare_exchange(phase, probe, Ordering::AcqRel, Ordering::Acquire).ok()?;
                tracing::info!(endpoint = %self.label, from = "open", to = "half_open", health_check = check, "breaker half-open");
                self.emit(State::Open, State::HalfOpen, None, 0);
                Some(Permit { breaker: Arc::clone(self), phase: probe, check, settled: false })
            }
        }
    }

    /// A failure learnt after its request's permit was settled (a HalfOpen
    /// probe's stream that broke after its first event closed the breaker):
    /// counted as a Closed breaker counts a failure; it never decides a probe
    /// (HalfOpen) nor moves an Open breaker.
    pub fn failure_closed(&self, failure: Failure, policy: &BreakerPolicy) {
        let phase = self.phase.load(Ordering::Acquire);
        if State::of(phase) == State::Closed {
            self.on_failure(phase, failure, policy, false);
        }
    }

    /// Whether [`admit`](Self::admit) would succeed now, without side effects.
    pub fn admittable(&self) -> bool {
        match State::of(self.phase.load(Ordering::Acquire)) {
            State::Closed => true,
            State::HalfOpen => false,
            State::Open => self.now_ms() >= self.reopen_ms.load(Ordering::Relaxed),
        }
    }

    /// When an Open breaker will admit a probe; `None` when Closed or HalfOpen.
    /// It last opened for an upstream's 429 (and has not closed since). Lock-free.
    pub fn opened_rate_limited(&self) -> bool {
        self.rate_limited.load(Ordering::Relaxed)
    }

    pub fn reopen_at(&self) -> Option<Instant> {
        let phase = self.phase.load(Ordering::Acquire);
        (State::of(phase) == State::Open)
            .then(|| self.base + Duration::from_millis(self.reopen_ms.load(Ordering::Relaxed)))
    }

    pub fn snapshot(&self) -> Snapshot {
        let cold = self.cold.lock();
        let state = State::of(self.phase.load(Ordering::Acquire));
        let now = self.now_ms();
        let reopen_in = (state == State::Open)
            .then(|| Duration::from_millis(self.reopen_ms.load(Ordering::Relaxed).saturating_sub(now)));
        let totals = self.window.totals(now);
        Snapshot {
            state,
            reason: cold.reason,
            reopen_in,
            consecutive_failures: self.consecutive.load(Ordering::Relaxed),
            window_requests: totals.requests,
            window_failures: totals.failures,
            trips: cold.trips,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(Instant::now().saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether `phase` is still current (the permit's outcome still means something).
    fn current(&self, phase: u64) -> bool {
        self.phase.load(Ordering::Acquire) == phase
    }

    fn on_success(&self, phase: u64, check: bool) {
        match State::of(phase) {
            State::Closed => {
                if check || !self.current(phase) {
                    return;
                }
                if self.consecutive.load(Ordering::Relaxed) != 0 {
                    self.consecutive.store(0, Ordering::Relaxed);
                }
                self.window.record(self.now_ms(), false);
            }
            State::HalfOpen => {
                let mut cold = self.cold.lock();
                if !self.current(phase) {
                    return;
                }
                cold.trips = 0;
                cold.reason = None;
                self.rate_limited.store(false, Ordering::Relaxed);
                self.consecutive.store(0, Ordering::Relaxed);
                self.window.reset();
                self.phase.store(advance(phase, CLOSED), Ordering::Release);
                drop(cold);
                tracing::info!(endpoint = %self.label, from = "half_open", to = "closed", "breaker closed");
                self.emit(State::HalfOpen, State::Closed, None, 0);
            }
            State::Open => {}
        }
    }

    fn on_failure(&self, phase: u64, failure: Failure, policy: &BreakerPolicy, check: bool) {
        let immediate = match failure {
            Failure::RateLimited { retry_after: Some(after) } => Some((Reason::RateLimited, Hold::For(after))),
            Failure::RateLimited { retry_after: None } => Some((Reason::RateLimited, Hold::Backoff)),
            Failure::Auth => Some((Reason::Auth, Hold::For(policy.max_cooldown))),
            Failure::Quota => Some((Reason::Quota, Hold::For(policy.max_cooldown))),
            Failure::Connect | Failure::Timeout | Failure::Server | Failure::Malformed => None,
        };
        match State::of(phase) {
            State::Closed if check => {
                let (reason, hold) = immediate.unwrap_or((Reason::HealthCheck, Hold::Backoff));
                self.open(phase, reason, hold, policy);
            }
            State::Closed => {
                if !self.current(phase) {
                    return;
                }
                let now = self.now_ms();
                self.window.set_span(policy.window);
                self.window.record(now, true);
                let consecutive = self
                    .consecutive
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_add(1)))
                    .unwrap_or_else(|n| n)
                    .saturating_add(1);
                let trip = immediate.or_else(|| {
                    if consecutive >= policy.consecutive_failures {
                        return Some((Reason::ConsecutiveFailures, Hold::Backoff));
                    }
                    let totals = self.window.totals(now);
                    let tripped = totals.requests > 0
                        && totals.requests >= u64::from(policy.min_requests)
                        && totals.failures as f64 / totals.requests as f64 >= policy.failure_rate;
                    tripped.then_some((Reason::FailureRate, Hold::Backoff))
                });
                if let Some((reason, hold)) = trip {
                    self.open(phase, reason, hold, policy);
                }
            }
            State::HalfOpen => {
                let probe_failed = if check { Reason::HealthCheck } else { Reason::ProbeFailed };
                let (reason, hold) = immediate.unwrap_or((probe_failed, Hold::Backoff));
                self.open(phase, reason, hold, policy);
            }
            State::Open => {}
        }
    }

    /// Neutral outcome (or a permit dropped unsettled): a probe gives its slot back.
    fn on_neutral(&self, phase: u64) {
        if State::of(phase) != State::HalfOpen {
            return;
        }
        let cold = self.cold.lock();
        if !self.current(phase) {
            return;
        }
        self.reopen_ms.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(advance(phase, OPEN), Ordering::Release);
        let reason = cold.reason;
        drop(cold);
        tracing::info!(endpoint = %self.label, from = "half_open", to = "open", reason = reason.map(Reason::as_str), "breaker probe given back");
        self.emit(State::HalfOpen, State::Open, reason, 0);
    }

    /// Opens the breaker from `from` (Closed or HalfOpen), unless another transition won.
    fn open(&self, from: u64, reason: Reason, hold: Hold, policy: &BreakerPolicy) {
        let mut cold = self.cold.lock();
        if !self.current(from) {
            return;
        }
        let open_for = match hold {
            Hold::Backoff => backoff(policy, cold.trips),
            Hold::For(d) => d.min(policy.max_cooldown),
        };
        let open_for_ms = u64::try_from(open_for.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        cold.trips = cold.trips.saturating_add(1);
        cold.reason = Some(reason);
        self.rate_limited.store(reason == Reason::RateLimited, Ordering::Relaxed);
        self.reopen_ms.store(self.now_ms().saturating_add(open_for_ms), Ordering::Relaxed);
        self.phase.store(advance(from, OPEN), Ordering::Release);
        drop(cold);
        tracing::warn!(
            endpoint = %self.label,
            from = State::of(from).as_str(),
            to = State::Open.as_str(),
            reason = reason.as_str(),
            open_for_ms,
            "breaker opened"
        );
        self.emit(State::of(from), State::Open, Some(reason), open_for_ms);
    }
}

/// `cooldown * 2^trips`, capped at `max_cooldown`.
fn backoff(policy: &BreakerPolicy, trips: u32) -> Duration {
    1u32.checked_shl(trips)
        .and_then(|factor| policy.cooldown.checked_mul(factor))
        .map_or(policy.max_cooldown, |d| d.min(policy.max_cooldown))
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("label", &self.label)
            .field("state", &State::of(self.phase.load(Ordering::Relaxed)))
            .finish_non_exhaustive()
    }
}

/// Leave to send one request. Settle it with [`success`](Self::success),
/// [`failure`](Self::failure) or [`neutral`](Self::neutral); dropped unsettled it counts as
/// neutral, and a probe gives its slot back.
#[must_use = "settle the permit with success(), failure() or neutral()"]
pub struct Permit {
    breaker: Arc<Breaker>,
    /// The phase it was admitted in.
    phase: u64,
    /// For a health check ([`Breaker::admit_check`]), not a request.
    check: bool,
    settled: bool,
}

impl Permit {
    /// Whether this is the HalfOpen probe.
    pub fn is_probe(&self) -> bool {
        State::of(self.phase) == State::HalfOpen
    }

    pub fn success(mut self) {
        self.settled = true;
        self.breaker.on_success(self.phase, self.check);
    }

    pub fn failure(mut self, failure: Failure, policy: &BreakerPolicy) {
        self.settled = true;
        self.breaker.on_failure(self.phase, failure, policy, self.check);
    }

    /// An outcome that says nothing about the endpoint (client errors 400/404/413/422,
    /// client cancels).
    pub fn neutral(mut self) {
        self.settled = true;
        self.breaker.on_neutral(self.phase);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.on_neutral(self.phase);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("endpoint", &self.breaker.label)
            .field("probe", &self.is_probe())
            .field("check", &self.check)
            .finish_non_exhaustive()
    }
}
