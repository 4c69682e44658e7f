//! `Settings`: every sub-message is required on the wire (the sender fills in
//! the defaults, so a receiver never guesses them).

use super::{Errors, convert_all, enums, from_ms, secret, to_ms};
use crate::model::{
    AlertChannel, AlertChannelKind, Alerts, BreakerPolicy, Limits, Logging, RetryPolicy, Settings, Timeouts,
};
use crate::pb;
use crate::pb::alert_channel::Kind;

impl From<&Settings> for pb::Settings {
    fn from(s: &Settings) -> Self {
        Self {
            default_model: s.default_model.clone(),
            timeout: Some(s.timeout.into()),
            retry: Some((&s.retry).into()),
            breaker: Some((&s.breaker).into()),
            limits: Some(s.limits.into()),
            logging: Some(s.logging.into()),
            usage_retention_ms: to_ms(s.usage_retention),
            snapshot_fail_closed_after_ms: s.snapshot_fail_closed_after.map(to_ms),
            balance_poll_interval_ms: to_ms(s.balance_poll_interval),
            alerts: Some((&s.alerts).into()),
        }
    }
}

/// `settings` (the path of every error starts there).
pub(super) fn settings(errors: &mut Errors, s: pb::Settings) -> Option<Settings> {
    let timeout = errors.require(|| "settings.timeout".into(), s.timeout);
    let retry = errors.require(|| "settings.retry".into(), s.retry).and_then(|r| retry(errors, r));
    let breaker = errors.require(|| "settings.breaker".into(), s.breaker);
    let limits = errors.require(|| "settings.limits".into(), s.limits);
    let logging = errors.require(|| "settings.logging".into(), s.logging);
    let alerts = errors.require(|| "settings.alerts".into(), s.alerts).and_then(|a| alerts(errors, a));
    Some(Settings {
        default_model: s.default_model,
        timeout: timeouts(timeout?),
        retry: retry?,
        breaker: breaker_policy(breaker?),
        limits: self::limits(limits?),
        logging: self::logging(logging?),
        usage_retention: from_ms(s.usage_retention_ms),
        snapshot_fail_closed_after: s.snapshot_fail_closed_after_ms.map(from_ms),
        balance_poll_interval: from_ms(s.balance_poll_interval_ms),
        alerts: alerts?,
    })
}

impl From<Timeouts> for pb::Timeouts {
    fn from(t: Timeouts) -> Self {
        Self {
            connect_ms: to_ms(t.connect),
            first_token_ms: to_ms(t.first_token),
            idle_ms: to_ms(t.idle),
            total_ms: to_ms(t.total),
        }
    }
}

fn timeouts(t: pb::Timeouts) -> Timeouts {
    Timeouts {
        connect: from_ms(t.connect_ms),
        first_token: from_ms(t.first_token_ms),
        idle: from_ms(t.idle_ms),
        total: from_ms(t.total_ms),
    }
}

impl From<&RetryPolicy> for pb::RetryPolicy {
    fn from(r: &RetryPolicy) -> Self {
        Self { max_attempts: r.max_attempts, on: r.on.iter().map(|c| pb::RetryCondition::from(*c).into()).collect() }
    }
}

/// The conditions come out sorted and without duplicates, as the model requires.
fn retry(errors: &mut Errors, r: pb::RetryPolicy) -> Option<RetryPolicy> {
    let on = convert_all(r.on, |k, c| enums::retry_condition(errors, format!("settings.retry.on[{k}]"), c));
    let mut on = on?;
    on.sort_unstable();
    on.dedup();
    Some(RetryPolicy { max_attempts: r.max_attempts, on })
}

impl From<&BreakerPolicy> for pb::BreakerPolicy {
    fn from(b: &BreakerPolicy) -> Self {
        Self {
            consecutive_failures: b.consecutive_failures,
            failure_rate: b.failure_rate,
            window_ms: to_ms(b.window),
            min_requests: b.min_requests,
            cooldown_ms: to_ms(b.cooldown),
            max_cooldown_ms: to_ms(b.max_cooldown),
        }
    }
}

fn breaker_policy(b: pb::BreakerPolicy) -> BreakerPolicy {
    BreakerPolicy {
        consecutive_failures: b.consecutive_failures,
        failure_rate: b.failure_rate,
        window: from_ms(b.window_ms),
        min_requests: b.min_requests,
        cooldown: from_ms(b.cooldown_ms),
        max_cooldown: from_ms(b.max_cooldown_ms),
    }
}

impl From<Limits> for pb::Limits {
    fn from(l: Limits) -> Self {
        Self {
            max_body_bytes: l.max_body,
            max_concurrency: l.max_concurrency,
            max_buffered_bodies_bytes: l.max_buffered_bodies,
            client_write_timeout_ms: to_ms(l.client_write_timeout),
        }
    }
}

fn limits(l: pb::Limits) -> Limits {
    Limits {
        max_body: l.max_body_bytes,
        max_concurrency: l.max_concurrency,
        max_buffered_bodies: l.max_buffered_bodies_bytes,
        client_write_timeout: from_ms(l.client_write_timeout_ms),
    }
}

impl From<Logging> for pb::LoggingSettings {
    fn from(l: Logging) -> Self {
        Self { request_bodies: l.request_bodies, retention_ms: to_ms(l.retention), max_body_bytes: l.max_body_bytes }
    }
}

fn logging(l: pb::LoggingSettings) -> Logging {
    Logging { request_bodies: l.request_bodies, retention: from_ms(l.retention_ms), max_body_bytes: l.max_body_bytes }
}

impl From<&Alerts> for pb::AlertSettings {
    fn from(a: &Alerts) -> Self {
        Self {
            evaluate_every_ms: to_ms(a.evaluate_every),
            quiet_period_ms: to_ms(a.quiet_period),
            channels: a.channels.iter().map(Into::into).collect(),
            time_to_empty_below_ms: to_ms(a.time_to_empty_below),
            open_on_nodes: a.open_on_nodes,
            node_grace_ms: to_ms(a.node_grace),
        }
    }
}

fn alerts(errors: &mut Errors, a: pb::AlertSettings) -> Option<Alerts> {
    let channels = convert_all(a.channels, |i, c| channel(errors, &format!("settings.alerts.channels[{i}]"), c));
    Some(Alerts {
        evaluate_every: from_ms(a.evaluate_every_ms),
        quiet_period: from_ms(a.quiet_period_ms),
        time_to_empty_below: from_ms(a.time_to_empty_below_ms),
        open_on_nodes: a.open_on_nodes,
        node_grace: from_ms(a.node_grace_ms),
        channels: channels?,
    })
}

impl From<&AlertChannel> for pb::AlertChannel {
    fn from(c: &AlertChannel) -> Self {
        let kind = match &c.kind {
            AlertChannelKind::DingTalk { webhook, secret } => Kind::Dingtalk(pb::DingTalkChannel {
                webhook: Some(webhook.into()),
                secret: secret.as_ref().map(Into::into),
            }),
            AlertChannelKind::Feishu { webhook, secret } => Kind::Feishu(pb::FeishuChannel {
                webhook: Some(webhook.into()),
                secret: secret.as_ref().map(Into::into),
            }),
            AlertChannelKind::WeCom { webhook } => Kind::Wecom(pb::WeComChannel { webhook: Some(webhook.into()) }),
            AlertChannelKind::Webhook { url } => Kind::Webhook(pb::WebhookChannel { url: Some(url.into()) }),
        };
        Self { name: c.name.clone(), kind: Some(kind) }
    }
}

fn channel(errors: &mut Errors, path: &str, c: pb::AlertChannel) -> Option<AlertChannel> {
    let kind = match errors.require(|| format!("{path}.kind"), c.kind)? {
        Kind::Dingtalk(d) => {
            let webhook = errors.require(|| format!("{path}.webhook"), d.webhook)?;
            AlertChannelKind::DingTalk { webhook: secret(webhook), secret: d.secret.map(secret) }
        }
        Kind::Feishu(f) => {
            let webhook = errors.require(|| format!("{path}.webhook"), f.webhook)?;
            AlertChannelKind::Feishu { webhook: secret(webhook), secret: f.secret.map(secret) }
        }
        Kind::Wecom(w) => {
            AlertChannelKind::WeCom { webhook: secret(errors.require(|| format!("{path}.webhook"), w.webhook)?) }
        }
        Kind::Webhook(w) => AlertChannelKind::Webhook { url: secret(errors.require(|| format!("{path}.url"), w.url)?) },
    };
    Some(AlertChannel { name: c.name, kind })
}
