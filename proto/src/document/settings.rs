//! `settings:`; every absent field keeps its documented default.

use super::providers::timeout_overrides;
use super::reader::{Cx, Obj};
use crate::model::{AlertChannel, AlertChannelKind, Problem, RetryCondition, Settings};
use serde_norway::Value;

pub(super) fn settings(cx: &mut Cx<'_>, mut o: Obj<'_>) -> Settings {
    let mut s = Settings::default();
    if let Some((v, p)) = o.take("default_model") {
        s.default_model = cx.string(v, &p);
    }
    if let Some((v, p)) = o.take("timeout") {
        s.timeout = timeout_overrides(cx, v, &p).resolve(&s.timeout);
    }
    if let Some(mut r) = section(cx, &mut o, "retry") {
        if let Some((v, p)) = r.take("max_attempts") {
            s.retry.max_attempts = cx.u32(v, &p).unwrap_or(s.retry.max_attempts);
        }
        if let Some((v, p)) = r.take("on") {
            s.retry.on = retry_conditions(cx, v, &p);
        }
        r.finish(cx);
    }
    if let Some(mut b) = section(cx, &mut o, "breaker") {
        let policy = &mut s.breaker;
        set(&mut b, "consecutive_failures", &mut policy.consecutive_failures, |v, p| cx.u32(v, p));
        set(&mut b, "failure_rate", &mut policy.failure_rate, |v, p| cx.f64(v, p));
        set(&mut b, "window", &mut policy.window, |v, p| cx.duration(v, p));
        set(&mut b, "min_requests", &mut policy.min_requests, |v, p| cx.u32(v, p));
        set(&mut b, "cooldown", &mut policy.cooldown, |v, p| cx.duration(v, p));
        set(&mut b, "max_cooldown", &mut policy.max_cooldown, |v, p| cx.duration(v, p));
        b.finish(cx);
    }
    if let Some(mut l) = section(cx, &mut o, "limits") {
        let limits = &mut s.limits;
        set(&mut l, "max_body", &mut limits.max_body, |v, p| cx.size(v, p));
        set(&mut l, "max_concurrency", &mut limits.max_concurrency, |v, p| cx.u32(v, p));
        set(&mut l, "max_buffered_bodies", &mut limits.max_buffered_bodies, |v, p| cx.size(v, p));
        set(&mut l, "client_write_timeout", &mut limits.client_write_timeout, |v, p| cx.duration(v, p));
        l.finish(cx);
    }
    if let Some(mut l) = section(cx, &mut o, "logging") {
        let logging = &mut s.logging;
        set(&mut l, "request_bodies", &mut logging.request_bodies, |v, p| cx.bool(v, p));
        set(&mut l, "retention", &mut logging.retention, |v, p| cx.duration(v, p));
        set(&mut l, "max_body_bytes", &mut logging.max_body_bytes, |v, p| cx.size(v, p));
        l.finish(cx);
    }
    if let Some(mut u) = section(cx, &mut o, "usage") {
        set(&mut u, "retention", &mut s.usage_retention, |v, p| cx.duration(v, p));
        u.finish(cx);
    }
    if let Some(mut sn) = section(cx, &mut o, "snapshot") {
        s.snapshot_fail_closed_after = sn.take("fail_closed_after").and_then(|(v, p)| cx.duration(v, &p));
        sn.finish(cx);
    }
    if let Some(mut b) = section(cx, &mut o, "balance") {
        set(&mut b, "poll_interval", &mut s.balance_poll_interval, |v, p| cx.duration(v, p));
        b.finish(cx);
    }
    if let Some(mut a) = section(cx, &mut o, "alerts") {
        let alerts = &mut s.alerts;
        set(&mut a, "evaluate_every", &mut alerts.evaluate_every, |v, p| cx.duration(v, p));
        set(&mut a, "quiet_period", &mut alerts.quiet_period, |v, p| cx.duration(v, p));
        set(&mut a, "time_to_empty_below", &mut alerts.time_to_empty_below, |v, p| cx.duration(v, p));
        set(&mut a, "open_on_nodes", &mut alerts.open_on_nodes, |v, p| cx.u32(v, p));
        set(&mut a, "node_grace", &mut alerts.node_grace, |v, p| cx.duration(v, p));
        if let Some((v, p)) = a.take("channels") {
            for c in cx.objects(v, &p) {
                match channel(cx, c) {
                    Some(c) => alerts.channels.push(c),
                    None => cx.dropped = true,
                }
            }
        }
        a.finish(cx);
    }
    o.finish(cx);
    s
}

fn section<'v>(cx: &mut Cx<'_>, o: &mut Obj<'v>, field: &str) -> Option<Obj<'v>> {
    let (v, p) = o.take(field)?;
    cx.obj(v, &p)
}

/// Overwrites `slot` when the field is present and reads cleanly.
fn set<T>(o: &mut Obj<'_>, field: &str, slot: &mut T, read: impl FnOnce(&Value, &str) -> Option<T>) {
    if let Some((v, p)) = o.take(field)
        && let Some(value) = read(v, &p)
    {
        *slot = value;
    }
}

fn retry_conditions(cx: &mut Cx<'_>, v: &Value, path: &str) -> Vec<RetryCondition> {
    let mut out = Vec::new();
    for (i, item) in cx.seq(v, path).iter().enumerate() {
        let p = format!("{path}[{i}]");
        // `429` is naturally written as a number.
        let word = match item {
            Value::Number(n) => Some(n.to_string()),
            _ => cx.string(item, &p),
        };
        let Some(word) = word else { continue };
        match RetryCondition::ALL.into_iter().find(|c| c.as_str() == word) {
            Some(c) => out.push(c),
            None => cx.err(
                p,
                Problem::Invalid(format!("unknown value {word:?} (expected one of: connect, timeout, 429, 5xx)")),
            ),
        }
    }
    out.sort();
    out.dedup();
    out
}

fn channel(cx: &mut Cx<'_>, mut o: Obj<'_>) -> Option<AlertChannel> {
    const KINDS: &[(&str, u8)] = &[("dingtalk", 0), ("feishu", 1), ("wecom", 2), ("webhook", 3)];
    let name = cx.required(&mut o, "name").and_then(|(v, p)| cx.string(v, &p)).unwrap_or_default();
    let kind = cx.required(&mut o, "kind").and_then(|(v, p)| cx.choice(v, &p, KINDS));
    let webhook = |cx: &mut Cx<'_>, o: &mut Obj<'_>| cx.required(o, "webhook").and_then(|(v, p)| cx.secret(v, &p));
    let kind = match kind {
        Some(0 | 1) => {
            let webhook = webhook(cx, &mut o);
            let secret = o.take("secret").and_then(|(v, p)| cx.secret(v, &p));
            match kind {
                Some(0) => webhook.map(|webhook| AlertChannelKind::DingTalk { webhook, secret }),
                _ => webhook.map(|webhook| AlertChannelKind::Feishu { webhook, secret }),
            }
        }
        Some(2) => webhook(cx, &mut o).map(|webhook| AlertChannelKind::WeCom { webhook }),
        Some(_) => {
            cx.required(&mut o, "url").and_then(|(v, p)| cx.secret(v, &p)).map(|url| AlertChannelKind::Webhook { url })
        }
        None => {
            // The kind is wrong; its fields are not also unknown.
            for field in ["webhook", "secret", "url"] {
                o.take(field);
            }
            None
        }
    };
    o.finish(cx);
    Some(AlertChannel { name, kind: kind? })
}
