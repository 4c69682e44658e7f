//! Gateway-wide settings, with the documented defaults filled in.

use super::Secret;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_token: Duration,
    pub idle: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_token: Duration::from_secs(60),
            idle: Duration::from_secs(30),
            total: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RetryCondition {
    Connect,
    Timeout,
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    ServerError,
}

impl RetryCondition {
    pub const ALL: [Self; 4] = [Self::Connect, Self::Timeout, Self::RateLimited, Self::ServerError];

    /// As written in gateway.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::RateLimited => "429",
            Self::ServerError => "5xx",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1..=10).
    pub max_attempts: u32,
    /// Sorted, without duplicates.
    pub on: Vec<RetryCondition>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 3, on: RetryCondition::ALL.to_vec() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    pub consecutive_failures: u32,
    pub failure_rate: f64,
    pub window: Duration,
    pub min_requests: u32,
    pub cooldown: Duration,
    pub max_cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: 0.5,
            window: Duration::from_secs(30),
            min_requests: 10,
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body: u64,
    pub max_concurrency: u32,
    pub max_buffered_bodies: u64,
    /// A response ends when its client accepts no bytes for this long while
    /// the gateway has some for it.
    pub client_write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 20 << 20,
            max_concurrency: 4096,
            max_buffered_bodies: 512 << 20,
            client_write_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logging {
    pub request_bodies: bool,
    pub retention: Duration,
    pub max_body_bytes: u64,
}

impl Default for Logging {
    fn default() -> Self {
        Self { request_bodies: false, retention: Duration::from_secs(7 * 86_400), max_body_bytes: 1 << 20 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlertChannelKind {
    /// A DingTalk custom robot; `secret` when its "sign" security setting is on.
    DingTalk { webhook: Secret, secret: Option<Secret> },
    /// A Feishu/Lark custom bot; `secret` when its signature verification is on.
    Feishu { webhook: Secret, secret: Option<Secret> },
    /// A WeCom (WeChat Work) group robot; the webhook URL carries its key.
    WeCom { webhook: Secret },
    /// A generic JSON webhook.
    Webhook { url: Secret },
}

impl AlertChannelKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::DingTalk { .. } => "dingtalk",
            Self::Feishu { .. } => "feishu",
            Self::WeCom { .. } => "wecom",
            Self::Webhook { .. } => "webhook",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertChannel {
    pub name: String,
    pub kind: AlertChannelKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    pub evaluate_every: Duration,
    pub quiet_period: Duration,
    /// An account whose balance, at its recent burn rate, runs out sooner than this alerts.
    pub time_to_empty_below: Duration,
    /// An endpoint whose breaker is open on this many live nodes alerts (on every
    /// live node, when fewer are live).
    pub open_on_nodes: u32,
    /// A data plane out of contact this long is lost; one behind the current
    /// Config this long (without a NACK) is stale.
    pub node_grace: Duration,
    pub channels: Vec<AlertChannel>,
}

impl Default for Alerts {
    fn default() -> Self {
        Self {
            evaluate_every: Duration::from_secs(60),
            quiet_period: Duration::from_secs(3600),
            time_to_empty_below: Duration::from_secs(24 * 3600),
            open_on_nodes: 2,
            node_grace: Duration::from_secs(300),
            channels: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub default_model: Option<String>,
    pub timeout: Timeouts,
    pub retry: RetryPolicy,
    pub breaker: BreakerPolicy,
    pub limits: Limits,
    pub logging: Logging,
    pub usage_retention: Duration,
    /// `None`: keep serving on the last snapshot however old.
    pub snapshot_fail_closed_after: Option<Duration>,
    pub balance_poll_interval: Duration,
    pub alerts: Alerts,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_model: None,
            timeout: Timeouts::default(),
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            limits: Limits::default(),
            logging: Logging::default(),
            usage_retention: Duration::from_secs(90 * 86_400),
            snapshot_fail_closed_after: None,
            balance_poll_interval: Duration::from_secs(600),
            alerts: Alerts::default(),
        }
    }
}
