//! How a pumped body ends, and what its endpoint learns from that.
//!
//! A stream's breaker permit is settled when the stream ends, not at its
//! first event, so that a stream cut short after it counts against the
//! endpoint as a failure ([`Fault::failure`]): an endpoint whose streams all
//! break trips its breaker like one whose requests all fail. A HalfOpen
//! probe is the exception: it is settled at its first event (other requests
//! wait on it), and should its stream break later the failure is counted in
//! the breaker's Closed state ([`crate::breaker::Breaker::failure_closed`]).
//! Every cut is also counted in `switchyard_streams_cut_total` by its
//! [`Fault::reason`].

use crate::balance::InFlight;
use crate::breaker::{Failure, Permit};
use crate::runtime::Endpoint;
use crate::sse::bounded::EventsError;
use crate::state::InflightGuard;
use std::sync::Arc;
use switchyard_proto::model::BreakerPolicy;
use tokio::time::Instant;

/// Why a stream was cut short after its first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The upstream connection failed mid-body.
    Broken,
    /// The upstream closed the stream cleanly before its API's end marker
    /// (chat: `[DONE]` or a `finish_reason`; see [`crate::usage::tap::End`]).
    Truncated,
    /// An event's `data` was not JSON.
    Malformed,
    /// No chunk for the provider's `idle` timeout.
    Idle,
    /// The request's `total` timeout passed.
    Total,
    /// The event stream itself could not be read on.
    Events(EventsError),
    /// A chat chunk the client's API could not be made of.
    Untranslatable,
}

impl Fault {
    /// The code of the error event the client gets (OpenAI's `code`).
    pub fn code(self) -> &'static str {
        match self {
            Fault::Broken | Fault::Truncated | Fault::Malformed => "upstream_stream_broken",
            Fault::Idle => "upstream_idle_timeout",
            Fault::Total => "upstream_total_timeout",
            Fault::Events(e) => e.code(),
            Fault::Untranslatable => "upstream_stream_untranslatable",
        }
    }

    /// The `reason` label of `switchyard_streams_cut_total` (one of [`crate::metrics::CUT_REASONS`]).
    pub fn reason(self) -> &'static str {
        match self {
            Fault::Broken => "broken",
            Fault::Truncated => "truncated",
            Fault::Malformed | Fault::Events(EventsError::Malformed) => "malformed",
            Fault::Idle => "idle_timeout",
            Fault::Total => "total_timeout",
            Fault::Events(EventsError::TooLarge) => "too_large",
            Fault::Events(EventsError::Budget) => "body_budget",
            Fault::Untranslatable => "untranslatable",
        }
    }

    pub fn is_timeout(self) -> bool {
        matches!(self, Fault::Idle | Fault::Total)
    }

    /// What the endpoint's breaker learns; `None` when the gateway's own
    /// limit ended it (the body budget), which says nothing of the endpoint.
    pub fn failure(self) -> Option<Failure> {
        Some(match self {
            Fault::Broken | Fault::Truncated => Failure::Server,
            Fault::Idle | Fault::Total => Failure::Timeout,
            Fault::Malformed
            | Fault::Untranslatable
            | Fault::Events(EventsError::Malformed | EventsError::TooLarge) => Failure::Malformed,
            Fault::Events(EventsError::Budget) => return None,
        })
    }
}

/// How a body ended, for its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// To its end, or the client left while it flowed.
    Served,
    /// Cut short.
    Cut(Fault),
    /// Says nothing about the endpoint (the client stopped reading).
    Neutral,
}

/// Bookkeeping that ends with the body: in-flight counts, the duration
/// metric, and the breaker permit of the attempt that answered.
pub struct Tail {
    _guard: InflightGuard,
    _inflight: InFlight,
    pub endpoint: Arc<Endpoint>,
    started: Instant,
    /// The attempt's permit, settled by [`Tail::settle`] (dropped unsettled: neutral).
    lease: Lease,
    policy: BreakerPolicy,
}

/// Where the attempt's breaker permit is.
enum Lease {
    Held(Permit),
    /// A probe, settled at its first event.
    Probed,
    Settled,
}

impl Tail {
    /// The tail of a body answered by `endpoint` under `permit` (see the
    /// module's doc; `None`: the attempt was settled already).
    pub fn new(
        guard: InflightGuard,
        inflight: InFlight,
        endpoint: Arc<Endpoint>,
        started: Instant,
        permit: Option<Permit>,
        policy: &BreakerPolicy,
    ) -> Self {
        let lease = match permit {
            None => Lease::Settled,
            Some(permit) if permit.is_probe() => {
                permit.success();
                Lease::Probed
            }
            Some(permit) => Lease::Held(permit),
        };
        Self { _guard: guard, _inflight: inflight, endpoint, started, lease, policy: policy.clone() }
    }

    /// The body ended so: the endpoint's breaker and counters learn it (once).
    pub fn settle(&mut self, outcome: Outcome) {
        let permit = match std::mem::replace(&mut self.lease, Lease::Settled) {
            Lease::Held(permit) => Some(permit),
            Lease::Probed => None,
            Lease::Settled => return,
        };
        let fault = match outcome {
            Outcome::Served => return permit.into_iter().for_each(Permit::success),
            Outcome::Neutral => return permit.into_iter().for_each(Permit::neutral),
            Outcome::Cut(fault) => fault,
        };
        self.endpoint.stats.cut(fault.reason());
        match (permit, fault.failure()) {
            (Some(permit), Some(failure)) => permit.failure(failure, &self.policy),
            (Some(permit), None) => permit.neutral(),
            (None, Some(failure)) => self.endpoint.breaker.failure_closed(failure, &self.policy),
            (None, None) => {}
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.endpoint.stats.duration.observe(self.started.elapsed());
    }
}
