//! Lock-free request metrics and their Prometheus rendering.
//!
//! Counters are plain atomics owned by the Runtime's endpoints (carried over
//! across reloads) and by the process ([`Metrics`]); nothing on the request
//! path locks or allocates to count.

use crate::runtime::Runtime;
use crate::telemetry::queue::Queue;
use crate::usage::Usage;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Status codes counted individually; any other code counts as its class.
const STATUSES: [&str; 22] = [
    "200", "201", "204", "400", "401", "403", "404", "405", "408", "413", "422", "429", "499", "500", "502", "503",
    "504", "1xx", "2xx", "3xx", "4xx", "5xx",
];

fn status_index(code: u16) -> usize {
    let exact = STATUSES.iter().position(|s| s.parse::<u16>().ok() == Some(code));
    exact.unwrap_or(match code {
        100..=199 => 17,
        200..=299 => 18,
        300..=399 => 19,
        400..=499 => 20,
        _ => 21,
    })
}

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 16] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_us.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Why streams were cut short after their first event
/// (`switchyard_streams_cut_total`'s `reason`).
pub const CUT_REASONS: [&str; 8] =
    ["broken", "truncated", "malformed", "idle_timeout", "total_timeout", "too_large", "body_budget", "untranslatable"];

/// Per (route, provider, account, upstream model).
#[derive(Default)]
pub struct EndpointStats {
    requests: [AtomicU64; STATUSES.len()],
    /// Streams cut short, by [`CUT_REASONS`] (the last slot: any other).
    cuts: [AtomicU64; CUT_REASONS.len() + 1],
    pub duration: Histogram,
    pub first_token: Histogram,
}

impl EndpointStats {
    pub fn count(&self, status: u16) {
        self.requests[status_index(status)].fetch_add(1, Relaxed);
    }

    /// A stream cut short after its first event, for `reason` (one of [`CUT_REASONS`]).
    pub fn cut(&self, reason: &str) {
        let i = CUT_REASONS.iter().position(|r| *r == reason).unwrap_or(CUT_REASONS.len());
        self.cuts[i].fetch_add(1, Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.requests.iter().map(|c| c.load(Relaxed)).sum()
    }

    pub fn errors(&self) -> u64 {
        STATUSES.iter().zip(&self.requests).filter(|(s, _)| !s.starts_with('2')).map(|(_, c)| c.load(Relaxed)).sum()
    }
}

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    pub inflight: AtomicI64,
    /// Requests answered before reaching an endpoint (auth, parsing, routing), by status.
    rejected: [AtomicU64; STATUSES.len()],
    pub failovers: AtomicU64,
    /// Requests refused by their key's limits, by [`Refusal`].
    refused: [AtomicU64; Refusal::ALL.len()],
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// What the active health checks found ([`crate::health`]).
    pub health_checks: crate::health_board::Board,
}

/// Why a key's limits refused a request (`switchyard_requests_refused_total`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    RateLimited,
    OverBudget,
}

impl Refusal {
    pub const ALL: [Self; 2] = [Self::RateLimited, Self::OverBudget];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::OverBudget => "over_budget",
        }
    }
}

impl Metrics {
    pub fn reject(&self, status: u16) {
        self.rejected[status_index(status)].fetch_add(1, Relaxed);
    }

    pub fn refuse(&self, reason: Refusal) {
        self.refused[reason as usize].fetch_add(1, Relaxed);
    }

    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[reason as usize].load(Relaxed)
    }

    /// The Prometheus text exposition of everything.
    pub fn render(
        &self,
        runtime: Option<&Runtime>,
        snapshot_age: Option<Duration>,
        usage: &Usage,
        telemetry: Option<&Queue>,
    ) -> String {
        let mut out = String::with_capacity(8192);
        let every = runtime.map(Runtime::every_endpoint).unwrap_or_default();
        let endpoints = every.as_slice();
        let labels = |e: &crate::runtime::Endpoint| {
            format!(
                "model=\"{}\",provider=\"{}\",account=\"{}\"",
                escape(&e.route),
                escape(&e.provider.name),
                escape(&e.account().name)
            )
        };

        header(
            &mut out,
            "switchyard_requests_total",
            "counter",
            "Upstream attempts by endpoint and HTTP status; requests refused before any attempt, with empty labels.",
        );
        for e in endpoints {
            let l = labels(e);
            for (status, c) in STATUSES.iter().zip(&e.stats.requests) {
                let n = c.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(out, "switchyard_requests_total{{{l},status=\"{status}\"}} {n}");
                }
            }
        }
        for (status, c) in STATUSES.iter().zip(&self.rejected) {
            let n = c.load(Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "switchyard_requests_total{{model=\"\",provider=\"\",account=\"\",status=\"{status}\"}} {n}"
                );
            }
        }

        header(
            &mut out,
            "switchyard_streams_cut_total",
            "counter",
            "Streams cut short after their first event, by endpoint and reason (broken, truncated: ended without \
             its end marker, malformed: an event that is not JSON, idle_timeout, total_timeout, too_large, \
             body_budget, untranslatable); each ended with an error event.",
        );
        for e in endpoints {
            let l = labels(e);
            for (reason, c) in CUT_REASONS.iter().chain(["other"].iter()).zip(&e.stats.cuts) {
                let n = c.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(out, "switchyard_streams_cut_total{{{l},reason=\"{reason}\"}} {n}");
                }
            }
        }

        header(
            &mut out,
            "switchyard_tokens_total",
            "counter",
            "Tokens by endpoint and kind (prompt, completion, cached, reasoning), reported or estimated.",
        );
        usage.totals.render(&mut out, escape);

        header(
            &mut out,
            "switchyard_request_duration_seconds",
            "histogram",
            "Time from request to the end of its response.",
        );
        for e in endpoints {
            e.stats.duration.render(&mut out, "switchyard_request_duration_seconds", &labels(e));
        }
        header(&mut out, "switchyard_first_token_seconds", "histogram", "Time to the first streamed event.");
        for e in endpoints {
            e.stats.first_token.render(&mut out, "switchyard_first_token_seconds", &labels(e));
        }

        header(&mut out, "switchyard_inflight_requests", "gauge", "Requests being served.");
        let _ = writeln!(out, "switchyard_inflight_requests {}", self.inflight.load(Relaxed));

        header(
            &mut out,
            "switchyard_breaker_state",
            "gauge",
            "Circuit breaker per endpoint: 0 closed, 1 open, 2 half-open.",
        );
        for e in endpoints {
            let _ = writeln!(out, "switchyard_breaker_state{{{}}} {}", labels(e), e.breaker.snapshot().state.gauge());
        }

        header(
            &mut out,
            "switchyard_health_checks_total",
            "counter",
            "Active health checks by provider, account and result (ok, connect, timeout, server_error, \
             rate_limited, auth, quota, malformed, rejected).",
        );
        for (provider, account, result, n) in self.health_checks.counts() {
            let _ = writeln!(
                out,
                "switchyard_health_checks_total{{provider=\"{}\",account=\"{}\",result=\"{}\"}} {n}",
                escape(&provider),
                escape(&account),
                result.as_str()
            );
        }

        header(
            &mut out,
            "switchyard_requests_refused_total",
            "counter",
            "Requests refused by their key's limits (also counted as 429 in switchyard_requests_total).",
        );
        for reason in Refusal::ALL {
            let _ = writeln!(
                out,
                "switchyard_requests_refused_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.refused(reason)
            );
        }

        header(&mut out, "switchyard_failovers_total", "counter", "Attempts moved to another endpoint.");
        let _ = writeln!(out, "switchyard_failovers_total {}", self.failovers.load(Relaxed));

        header(
            &mut out,
            "switchyard_snapshot_age_seconds",
            "gauge",
            "Seconds the served snapshot has gone unconfirmed by a control plane (0 while subscribed or in file mode).",
        );
        if let Some(age) = snapshot_age {
            let _ = writeln!(out, "switchyard_snapshot_age_seconds {:.3}", age.as_secs_f64());
        }

        header(
            &mut out,
            "switchyard_telemetry_dropped_total",
            "counter",
            "Usage records and health events the control plane will never get: the telemetry queue overflowed, \
             or it refused them.",
        );
        let _ =
            writeln!(out, "switchyard_telemetry_dropped_total {}", telemetry.map_or(0, |q| q.dropped.load(Relaxed)));
        if let Some(q) = telemetry {
            let depth = q.depth();
            header(&mut out, "switchyard_telemetry_queued_batches", "gauge", "Telemetry batches not yet acked.");
            let _ = writeln!(out, "switchyard_telemetry_queued_batches {}", depth.batches);
            header(&mut out, "switchyard_telemetry_queued_bytes", "gauge", "Bytes of telemetry batches not yet acked.");
            let _ = writeln!(out, "switchyard_telemetry_queued_bytes {}", depth.bytes);
            header(&mut out, "switchyard_telemetry_acked_total", "counter", "Telemetry batches a control plane acked.");
            let _ = writeln!(out, "switchyard_telemetry_acked_total {}", q.acked.load(Relaxed));
        }

        header(
            &mut out,
            "switchyard_usage_dropped_total",
            "counter",
            "Usage records dropped on the request path because the channel to the usage sink was full.",
        );
        let _ = writeln!(out, "switchyard_usage_dropped_total {}", usage.dropped.load(Relaxed));

        header(&mut out, "switchyard_config_reloads_total", "counter", "Config reloads, by result.");
        let _ = writeln!(out, "switchyard_config_reloads_total{{result=\"ok\"}} {}", self.reloads_ok.load(Relaxed));
        let _ =
            writeln!(out, "switchyard_config_reloads_total{{result=\"error\"}} {}", self.reloads_failed.load(Relaxed));
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Label values: backslash, quote and newline escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_their_bucket() {
        assert_eq!(STATUSES[status_index(200)], "200");
        assert_eq!(STATUSES[status_index(418)], "4xx");
        assert_eq!(STATUSES[status_index(599)], "5xx");
        assert_eq!(STATUSES[status_index(302)], "3xx");
    }

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(70));
        h.observe(Duration::from_secs(1000));
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.005\"} 1\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.1\"} 2\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"600\"} 2\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("x_count{a=\"b\"} 3\n"));
    }
}
