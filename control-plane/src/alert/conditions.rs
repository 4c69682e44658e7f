//! The conditions worth telling someone about, judged on [`Facts`] alone (no
//! I/O, no clock: the facts carry the time), each under a stable key such as
//! `balance_low:openai/team-a`, so one condition is one alert however often
//! it is evaluated and whichever replica evaluates it.

use super::facts::Facts;
use super::when::time;
use crate::nodes::LOST_AFTER;
use crate::store::NodeRecord;
use std::collections::BTreeMap;
use std::time::Duration;
use switchyard_proto::model::Alerts;
use switchyard_proto::model::units::{format_duration, format_money};

/// Consecutive failed polls that make a poller "failing".
pub const POLL_FAILURES: u32 = 3;
/// A node not heard of for this long is taken as decommissioned: its lost
/// alert clears and it is no longer watched.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Longest NACK reason or poll error quoted in a message.
const DETAIL_LEN: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Severity {
        if s == "critical" { Self::Critical } else { Self::Warning }
    }
}

/// What a condition is about; `as_str` is the key's prefix and the webhook's `event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// The balance is under the account's `alert_below`.
    BalanceLow,
    /// At its recent burn rate the balance runs out sooner than `time_to_empty_below`.
    TimeToEmpty,
    /// The balance is at or below zero: the account is out of rotation.
    AccountDrained,
    /// An endpoint's breaker is open on `open_on_nodes` live nodes.
    EndpointOpen,
    /// The upstream refused the account's key (401/403).
    KeyRefused,
    /// The upstream says the account's quota is spent (402, insufficient_quota).
    QuotaExhausted,
    /// A data plane has not been heard of for `node_grace`.
    NodeLost,
    /// A live data plane serves an older Config than the current one for `node_grace`.
    NodeStale,
    /// A live data plane refuses (NACKs) what it was sent.
    NodeNack,
    /// An account's balance poller failed [`POLL_FAILURES`] times in a row.
    PollFailing,
}

impl Event {
    pub const ALL: [Event; 10] = [
        Self::BalanceLow,
        Self::TimeToEmpty,
        Self::AccountDrained,
        Self::EndpointOpen,
        Self::KeyRefused,
        Self::QuotaExhausted,
        Self::NodeLost,
        Self::NodeStale,
        Self::NodeNack,
        Self::PollFailing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BalanceLow => "balance_low",
            Self::TimeToEmpty => "time_to_empty",
            Self::AccountDrained => "account_drained",
            Self::EndpointOpen => "endpoint_open",
            Self::KeyRefused => "key_refused",
            Self::QuotaExhausted => "quota_exhausted",
            Self::NodeLost => "node_lost",
            Self::NodeStale => "node_stale",
            Self::NodeNack => "node_nack",
            Self::PollFailing => "poll_failing",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Self::AccountDrained | Self::KeyRefused | Self::QuotaExhausted | Self::NodeLost => Severity::Critical,
            _ => Severity::Warning,
        }
    }
}

/// One condition that holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `event:subject-id`, stable across evaluations.
    pub key: String,
    pub event: Event,
    /// One line: what and where.
    pub subject: String,
    /// A few sentences: the figures, and what to do.
    pub text: String,
    /// provider, account, route, model, node... as they apply.
    pub labels: BTreeMap<String, String>,
}

/// The settings the conditions apply, plus when watching began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    pub time_to_empty_below: Duration,
    pub open_on_nodes: u32,
    pub node_grace: Duration,
    /// When this evaluator started watching (Unix ms): a node counts as lost
    /// only once it has been silent for `node_grace` of watching, so a
    /// control plane that was down itself does not call every node lost
    /// before they reconnect.
    pub watching_since_ms: i64,
}

impl Thresholds {
    pub fn of(a: &Alerts, watching_since_ms: i64) -> Self {
        Self {
            time_to_empty_below: a.time_to_empty_below,
            open_on_nodes: a.open_on_nodes,
            node_grace: a.node_grace,
            watching_since_ms,
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `d` to the minute (ten minutes, past an hour), as gateway.yaml spells
/// durations: coarse, so a message's wording does not change at every pass.
fn about(d: Duration) -> String {
    let secs = d.as_secs();
    let step = if secs >= 3600 { 600 } else { 60 };
    format_duration(Duration::from_secs((secs / step * step).max(60)))
}

/// At most [`DETAIL_LEN`] characters, on one line.
fn detail(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match s.char_indices().nth(DETAIL_LEN) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s,
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Live as the fleet counts it: connected and stamped within the loss
/// timeout, or a telemetry heartbeat within it.
fn live(n: &NodeRecord, now_ms: i64) -> bool {
    let horizon = now_ms.saturating_sub(ms(LOST_AFTER));
    (n.connected && n.last_seen_ms >= horizon) || n.last_heartbeat_ms >= horizon
}

/// Every condition that holds, sorted by key, each key once.
pub fn evaluate(f: &Facts, t: &Thresholds) -> Vec<Condition> {
    let mut out = Vec::new();
    accounts(f, t, &mut out);
    endpoints(f, t, &mut out);
    nodes(f, t, &mut out);
    polls(f, &mut out);
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out.dedup_by(|a, b| a.key == b.key);
    out
}

fn accounts(f: &Facts, t: &Thresholds, out: &mut Vec<Condition>) {
    for a in f.accounts.iter().filter(|a| a.enabled) {
        let Some(b) = &a.balance else { continue };
        let who = format!("{}/{}", a.provider, a.account);
        let l = labels(&[("provider", &a.provider), ("account", &a.account), ("currency", &b.currency)]);
        let amount = format!("{} {}", format_money(b.amount_micros), b.currency);
        let source = format!("{}, as of {}", b.source, time(b.updated_at_ms));
        if b.amount_micros <= 0 {
            out.push(Condition {
                key: format!("{}:{who}", Event::AccountDrained.as_str()),
                event: Event::AccountDrained,
                subject: format!("{who} is drained: balance {amount}"),
                text: format!(
                    "The balance of {who} is {amount} ({source}): data planes no longer send it traffic. \
                     It rejoins once a poll finds credit or `syctl account balance set` puts it above zero."
                ),
                labels: l.clone(),
            });
        }
        let below = a.policy.as_ref().filter(|p| p.currency == b.currency).and_then(|p| p.alert_below_micros);
        if let Some(below) = below.filter(|below| b.amount_micros < *below) {
            out.push(Condition {
                key: format!("{}:{who}", Event::BalanceLow.as_str()),
                event: Event::BalanceLow,
                subject: format!("{who} balance {amount} is below {} {}", format_money(below), b.currency),
                text: format!(
                    "The balance of {who} is {amount} ({source}), under its alert_below of {} {}. Top it up.",
                    format_money(below),
                    b.currency
                ),
                labels: l.clone(),
            });
        }
        if let Some(left) = a.time_to_empty.filter(|left| b.amount_micros > 0 && *left < t.time_to_empty_below) {
            out.push(Condition {
                key: format!("{}:{who}", Event::TimeToEmpty.as_str()),
                event: Event::TimeToEmpty,
                subject: format!("{who} runs out in about {}", about(left)),
                text: format!(
                    "At its recent burn rate the balance of {who} ({amount}, {source}) lasts about {}, \
                     less than time_to_empty_below ({}).",
                    about(left),
                    format_duration(t.time_to_empty_below)
                ),
                labels: l,
            });
        }
    }
}

/// The breaker states live nodes report, by endpoint and by account.
fn endpoints(f: &Facts, t: &Thresholds, out: &mut Vec<Condition>) {
    let live = f.nodes.iter().filter(|n| live(n, f.now_ms)).count().max(1);
    let need = usize::try_from(t.open_on_nodes).unwrap_or(usize::MAX).clamp(1, live);
    type Endpoint<'a> = (&'a str, &'a str, &'a str, &'a str);
    let mut open: BTreeMap<Endpoint<'_>, Vec<(&str, &str)>> = BTreeMap::new();
    let mut refused: BTreeMap<(&str, &str, &str), Vec<&str>> = BTreeMap::new();
    for h in f.endpoints.iter().filter(|h| h.state != "closed") {
        match h.reason.as_str() {
            // A specific alert of its own, and open on every node that tries the key.
            reason @ ("auth" | "quota") => {
                refused.entry((reason, &h.provider, &h.account)).or_default().push(&h.node_id);
            }
            reason => open
                .entry((&h.provider, &h.account, &h.route, &h.upstream_model))
                .or_default()
                .push((&h.node_id, reason)),
        }
    }
    for ((provider, account, route, model), nodes) in open {
        if nodes.len() < need {
            continue;
        }
        let mut reasons: Vec<&str> = nodes.iter().map(|(_, r)| *r).filter(|r| !r.is_empty()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        let names: Vec<&str> = nodes.iter().map(|(n, _)| *n).collect();
        out.push(Condition {
            key: format!("{}:{provider}/{account}/{route}/{model}", Event::EndpointOpen.as_str()),
            event: Event::EndpointOpen,
            subject: format!("{provider}/{account} ({route} -> {model}) is open on {} of {live} nodes", nodes.len()),
            text: format!(
                "The breaker of {provider}/{account} for {route} (upstream model {model}) is open on {}; \
                 reason: {}. Requests fail over to other endpoints meanwhile.",
                names.join(", "),
                if reasons.is_empty() { "not reported".to_owned() } else { reasons.join(", ") },
            ),
            labels: labels(&[("provider", provider), ("account", account), ("route", route), ("model", model)]),
        });
    }
    for ((reason, provider, account), mut nodes) in refused {
        nodes.sort_unstable();
        nodes.dedup();
        let (event, what) = if reason == "auth" {
            (Event::KeyRefused, "the upstream refused its API key (401/403)")
        } else {
            (Event::QuotaExhausted, "the upstream says its quota is exhausted (402 / insufficient_quota)")
        };
        out.push(Condition {
            key: format!("{}:{provider}/{account}", event.as_str()),
            event,
            subject: format!("{provider}/{account}: {what}"),
            text: format!(
                "Account {provider}/{account}: {what}, as reported by {}. Its endpoints stay open for \
                 breaker.max_cooldown between probes; fix the key or the plan with the provider \
                 (`syctl provider test {provider}` checks it).",
                nodes.join(", ")
            ),
            labels: labels(&[("provider", provider), ("account", account), ("reason", reason)]),
        });
    }
}

fn nodes(f: &Facts, t: &Thresholds, out: &mut Vec<Condition>) {
    let grace = ms(t.node_grace);
    for n in &f.nodes {
        let l = labels(&[("node", &n.id), ("region", &n.region), ("zone", &n.zone)]);
        if !live(n, f.now_ms) {
            let contact = n.last_seen_ms.max(n.last_heartbeat_ms);
            let silent = f.now_ms.saturating_sub(contact.max(t.watching_since_ms));
            if silent >= grace && f.now_ms.saturating_sub(contact) < ms(FORGET_AFTER) {
                out.push(Condition {
                    key: format!("{}:{}", Event::NodeLost.as_str(), n.id),
                    event: Event::NodeLost,
                    subject: format!("data plane {} is lost: no contact since {}", n.id, time(contact)),
                    text: format!(
                        "Data plane {} (region {}, build {}) has had no config stream and no telemetry since {} \
                         (node_grace {}). It keeps serving its last snapshot if it runs; a node gone for {} is \
                         no longer watched.",
                        n.id,
                        if n.region.is_empty() { "-" } else { &n.region },
                        if n.build_version.is_empty() { "-" } else { &n.build_version },
                        time(contact),
                        format_duration(t.node_grace),
                        format_duration(FORGET_AFTER),
                    ),
                    labels: l,
                });
            }
            continue;
        }
        if let Some(nack) = n.last_nack.as_ref().filter(|nack| !nack.superseded) {
            out.push(Condition {
                key: format!("{}:{}", Event::NodeNack.as_str(), n.id),
                event: Event::NodeNack,
                subject: format!("data plane {} refuses the {} it was sent", n.id, nack.kind),
                text: format!(
                    "Data plane {} NACKed the {} at {} and keeps serving what it had: {}",
                    n.id,
                    nack.kind,
                    time(nack.at_ms),
                    detail(&nack.error)
                ),
                labels: l,
            });
            continue;
        }
        let behind_for = f.now_ms.saturating_sub(f.config_since_ms);
        if n.config.0 != f.config_version && behind_for >= grace {
            out.push(Condition {
                key: format!("{}:{}", Event::NodeStale.as_str(), n.id),
                event: Event::NodeStale,
                subject: format!("data plane {} is stale: Config {} of {}", n.id, n.config.0, f.config_version),
                text: format!(
                    "Data plane {} is live but serves Config version {} while version {} is current since {} \
                     (and it sent no NACK).",
                    n.id,
                    n.config.0,
                    f.config_version,
                    time(f.config_since_ms)
                ),
                labels: l,
            });
        }
    }
}

fn polls(f: &Facts, out: &mut Vec<Condition>) {
    for p in f.polls.iter().filter(|p| p.failures >= POLL_FAILURES) {
        let who = format!("{}/{}", p.provider, p.account);
        out.push(Condition {
            key: format!("{}:{who}", Event::PollFailing.as_str()),
            event: Event::PollFailing,
            subject: format!("{who}: balance poll failed {} times in a row", p.failures),
            text: format!(
                "Polling the balance of {who} failed {} times in a row; the balance shown is the last one read. \
                 Latest error: {}",
                p.failures,
                detail(&p.last_error)
            ),
            labels: labels(&[("provider", &p.provider), ("account", &p.account)]),
        });
    }
}

#[cfg(test)]
mod tests;
