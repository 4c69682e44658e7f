//! Upstream providers and their accounts (one API key each).

use super::{Secret, Timeouts};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    OpenAi,
    OpenAiCompatible,
    Azure,
    Anthropic,
    Gemini,
}

impl ProviderKind {
    pub const ALL: [Self; 5] = [Self::OpenAi, Self::OpenAiCompatible, Self::Azure, Self::Anthropic, Self::Gemini];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::OpenAiCompatible => "openai-compatible",
            Self::Azure => "azure",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamUsage {
    #[default]
    Inject,
    Never,
}

impl StreamUsage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inject => "inject",
            Self::Never => "never",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDisconnect {
    #[default]
    Close,
    Drain,
}

impl OnDisconnect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Close => "close",
            Self::Drain => "drain",
        }
    }
}

/// Which balance poller applies to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BalanceApi {
    None,
    OpenRouter,
    DeepSeek,
    SiliconFlow,
    Moonshot,
    /// The one-api / new-api relay family (a relay people chain): never
    /// inferred, its hosts are anyone's.
    OneApi,
}

impl BalanceApi {
    pub const ALL: [Self; 6] =
        [Self::None, Self::OpenRouter, Self::DeepSeek, Self::SiliconFlow, Self::Moonshot, Self::OneApi];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::OpenRouter => "openrouter",
            Self::DeepSeek => "deepseek",
            Self::SiliconFlow => "siliconflow",
            Self::Moonshot => "moonshot",
            Self::OneApi => "oneapi",
        }
    }

    /// The poller for a well-known base URL's host (never [`BalanceApi::OneApi`]:
    /// a relay's host says nothing about the software behind it).
    pub fn infer(base_url: &str) -> Self {
        let host = url::Url::parse(base_url).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        match host.as_deref() {
            Some(h) if h.ends_with("openrouter.ai") => Self::OpenRouter,
            Some(h) if h.ends_with("deepseek.com") => Self::DeepSeek,
            Some(h) if h.ends_with("siliconflow.cn") || h.ends_with("siliconflow.com") => Self::SiliconFlow,
            Some(h) if h.ends_with("moonshot.cn") || h.ends_with("moonshot.ai") => Self::Moonshot,
            _ => Self::None,
        }
    }
}

/// What an active health check sends (see [`HealthCheck`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthRequest {
    /// The provider's model list (`GET {base_url}/models`, or the kind's
    /// equivalent): reachability and the key, for every endpoint of the account.
    #[default]
    Models,
    /// A one-token generation to each upstream model routed to the provider
    /// (chat completions, or the kind's own API): each result is that model's.
    Chat,
}

impl HealthRequest {
    pub const ALL: [Self; 2] = [Self::Models, Self::Chat];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Models => "models",
            Self::Chat => "chat",
        }
    }
}

/// Active health checks of each of a provider's accounts: a cheap request
/// on an interval, whose outcome its endpoints' breakers learn, so an Open
/// endpoint recovers, and a dead one opens, without user traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheck {
    /// Time between two checks of an account (jittered by up to a tenth either way).
    pub interval: Duration,
    /// How long one check may take, response body included.
    pub timeout: Duration,
    pub request: HealthRequest,
}

impl HealthCheck {
    /// The shortest `interval` accepted: checks are for seconds and minutes, not a load test.
    pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self { interval: Duration::from_secs(30), timeout: Duration::from_secs(5), request: HealthRequest::Models }
    }
}

/// Per-provider timeouts; `None` inherits `settings.timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeoutOverrides {
    pub connect: Option<Duration>,
    pub first_token: Option<Duration>,
    pub idle: Option<Duration>,
    pub total: Option<Duration>,
}

impl TimeoutOverrides {
    pub fn resolve(&self, defaults: &Timeouts) -> Timeouts {
        Timeouts {
            connect: self.connect.unwrap_or(defaults.connect),
            first_token: self.first_token.unwrap_or(defaults.first_token),
            idle: self.idle.unwrap_or(defaults.idle),
            total: self.total.unwrap_or(defaults.total),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// Extra static headers sent upstream; their values are secrets (they often carry credentials).
    pub headers: BTreeMap<String, Secret>,
    /// Outbound proxy URL (may carry credentials).
    pub proxy: Option<Secret>,
    pub timeout: TimeoutOverrides,
    pub stream_usage: StreamUsage,
    pub on_disconnect: OnDisconnect,
    pub enabled: bool,
    /// `None`: inferred from `base_url` ([`Provider::effective_balance_api`]).
    pub balance_api: Option<BalanceApi>,
    pub api_version: Option<String>,
    pub default_max_tokens: Option<u32>,
    /// Upstream HTTP/2 over a pool of connections (h2c for `http://`, ALPN `h2`
    /// for `https://`); `false`: HTTP/1.1. Not with `proxy`.
    pub http2: bool,
    /// Active health checks of its accounts; `None`: off (the default).
    pub health_check: Option<HealthCheck>,
    pub accounts: Vec<Account>,
}

impl Provider {
    pub fn effective_balance_api(&self) -> BalanceApi {
        self.balance_api.unwrap_or_else(|| BalanceApi::infer(&self.base_url))
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub name: String,
    pub api_key: Secret,
    /// Share within its priority tier, >= 1.
    pub weight: u32,
    pub enabled: bool,
    pub balance: Option<BalancePolicy>,
}

/// Balance policy; the amount itself is runtime state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancePolicy {
    pub currency: String,
    pub alert_below_micros: Option<i64>,
}
