//! What `/metrics` shows about alerting on this replica: messages per
//! channel and outcome, retried attempts, evaluations, and the conditions
//! firing as of this replica's last evaluation (while it holds the lease).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// What became of one message to one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The channel accepted it.
    Ok,
    /// Every attempt failed (or the one attempt of a test).
    Failed,
    /// Not attempted: the channel's queue was full.
    Dropped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }
}

/// How an evaluation pass ended.
#[derive(Debug, Clone, Copy)]
pub enum Pass {
    Done,
    /// Another replica holds the lease.
    Standby,
    Failed,
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// By (channel name, outcome).
    sent: Mutex<BTreeMap<(String, Outcome), u64>>,
    /// Attempts that failed and were retried, by channel.
    retries: Mutex<BTreeMap<String, u64>>,
    done: AtomicU64,
    standby: AtomicU64,
    failed: AtomicU64,
    active: AtomicU64,
    leader: AtomicBool,
}

impl Metrics {
    pub fn sent(&self, channel: &str, outcome: Outcome) {
        *self.sent.lock().entry((channel.to_owned(), outcome)).or_default() += 1;
    }

    pub fn retried(&self, channel: &str) {
        *self.retries.lock().entry(channel.to_owned()).or_default() += 1;
    }

    pub fn pass(&self, pass: Pass) {
        let counter = match pass {
            Pass::Done => &self.done,
            Pass::Standby => &self.standby,
            Pass::Failed => &self.failed,
        };
        counter.fetch_add(1, Relaxed);
        if let Pass::Standby = pass {
            self.leader.store(false, Relaxed);
        }
    }

    pub fn evaluated(&self, active: usize) {
        self.leader.store(true, Relaxed);
        self.active.store(active as u64, Relaxed);
    }

    /// Messages sent to `channel` with `outcome` so far.
    pub fn sent_count(&self, channel: &str, outcome: Outcome) -> u64 {
        self.sent.lock().get(&(channel.to_owned(), outcome)).copied().unwrap_or(0)
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP switchyard_cp_alerts_sent_total Alert messages per channel, by outcome \
             (failed: every attempt failed; dropped: the channel's queue was full).\n\
             # TYPE switchyard_cp_alerts_sent_total counter"
        );
        for ((channel, outcome), n) in self.sent.lock().iter() {
            let _ = writeln!(
                out,
                "switchyard_cp_alerts_sent_total{{channel=\"{}\",result=\"{}\"}} {n}",
                label(channel),
                outcome.as_str()
            );
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_cp_alert_retries_total Alert delivery attempts that failed and were retried.\n\
             # TYPE switchyard_cp_alert_retries_total counter"
        );
        for (channel, n) in self.retries.lock().iter() {
            let _ = writeln!(out, "switchyard_cp_alert_retries_total{{channel=\"{}\"}} {n}", label(channel));
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_cp_alert_evaluations_total Alert evaluation passes on this replica, by outcome \
             (standby: another replica holds the lease).\n\
             # TYPE switchyard_cp_alert_evaluations_total counter"
        );
        for (result, n) in [("ok", &self.done), ("standby", &self.standby), ("failed", &self.failed)] {
            let _ = writeln!(out, "switchyard_cp_alert_evaluations_total{{result=\"{result}\"}} {}", n.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_cp_alert_leader Whether this replica evaluates alerts (holds the lease).\n\
             # TYPE switchyard_cp_alert_leader gauge"
        );
        let leader = self.leader.load(Relaxed);
        let _ = writeln!(out, "switchyard_cp_alert_leader {}", u8::from(leader));
        let _ = writeln!(
            out,
            "# HELP switchyard_cp_alerts_active Alert conditions firing as of this replica's last evaluation.\n\
             # TYPE switchyard_cp_alerts_active gauge"
        );
        let active = if leader { self.active.load(Relaxed) } else { 0 };
        let _ = writeln!(out, "switchyard_cp_alerts_active {active}");
    }
}

/// A channel name as a label value (names are letters, digits, `.`, `_`, `-`; escaped anyway).
fn label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_channel_and_outcome() {
        let m = Metrics::default();
        m.sent("ops", Outcome::Ok);
        m.sent("ops", Outcome::Ok);
        m.sent("pager", Outcome::Failed);
        m.retried("pager");
        m.pass(Pass::Done);
        m.evaluated(3);
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "switchyard_cp_alerts_sent_total{channel=\"ops\",result=\"ok\"} 2",
            "switchyard_cp_alerts_sent_total{channel=\"pager\",result=\"failed\"} 1",
            "switchyard_cp_alert_retries_total{channel=\"pager\"} 1",
            "switchyard_cp_alert_evaluations_total{result=\"ok\"} 1",
            "switchyard_cp_alert_leader 1",
            "switchyard_cp_alerts_active 3",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} not in\n{out}");
        }
    }
}
