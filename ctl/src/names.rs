//! The words gateway.yaml uses for the wire's enums, both ways: flags take
//! them (`--kind openai-compatible`) and output prints them.

use clap::ValueEnum;
use switchyard_proto::pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderKindArg {
    #[value(name = "openai")]
    OpenAi,
    #[value(name = "openai-compatible")]
    OpenAiCompatible,
    Azure,
    Anthropic,
    Gemini,
}

impl ProviderKindArg {
    pub fn to_pb(self) -> pb::ProviderKind {
        match self {
            Self::OpenAi => pb::ProviderKind::Openai,
            Self::OpenAiCompatible => pb::ProviderKind::OpenaiCompatible,
            Self::Azure => pb::ProviderKind::Azure,
            Self::Anthropic => pb::ProviderKind::Anthropic,
            Self::Gemini => pb::ProviderKind::Gemini,
        }
    }

    /// The base URL gateway.yaml gives this kind when none is written.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("https://api.openai.com/v1"),
            Self::Anthropic => Some("https://api.anthropic.com"),
            Self::Gemini => Some("https://generativelanguage.googleapis.com"),
            Self::OpenAiCompatible | Self::Azure => None,
        }
    }
}

pub fn provider_kind(v: i32) -> &'static str {
    match pb::ProviderKind::try_from(v) {
        Ok(pb::ProviderKind::Openai) => "openai",
        Ok(pb::ProviderKind::OpenaiCompatible) => "openai-compatible",
        Ok(pb::ProviderKind::Azure) => "azure",
        Ok(pb::ProviderKind::Anthropic) => "anthropic",
        Ok(pb::ProviderKind::Gemini) => "gemini",
        _ => "unknown",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamUsageArg {
    Inject,
    Never,
}

impl StreamUsageArg {
    pub fn to_pb(self) -> pb::StreamUsage {
        match self {
            Self::Inject => pb::StreamUsage::Inject,
            Self::Never => pb::StreamUsage::Never,
        }
    }
}

pub fn stream_usage(v: i32) -> &'static str {
    match pb::StreamUsage::try_from(v) {
        Ok(pb::StreamUsage::Never) => "never",
        _ => "inject",
    }
}

pub fn health_request(v: i32) -> &'static str {
    match pb::HealthCheckRequest::try_from(v) {
        Ok(pb::HealthCheckRequest::Models) => "models",
        Ok(pb::HealthCheckRequest::Chat) => "chat",
        _ => "unspecified",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnDisconnectArg {
    Close,
    Drain,
}

impl OnDisconnectArg {
    pub fn to_pb(self) -> pb::OnDisconnect {
        match self {
            Self::Close => pb::OnDisconnect::Close,
            Self::Drain => pb::OnDisconnect::Drain,
        }
    }
}

pub fn on_disconnect(v: i32) -> &'static str {
    match pb::OnDisconnect::try_from(v) {
        Ok(pb::OnDisconnect::Drain) => "drain",
        _ => "close",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BalanceApiArg {
    /// Inferred from the base URL
    Auto,
    None,
    Openrouter,
    Deepseek,
    Siliconflow,
    Moonshot,
    /// one-api / new-api relays
    Oneapi,
}

impl BalanceApiArg {
    pub fn to_pb(self) -> pb::BalanceApi {
        match self {
            Self::Auto => pb::BalanceApi::Unspecified,
            Self::None => pb::BalanceApi::None,
            Self::Openrouter => pb::BalanceApi::Openrouter,
            Self::Deepseek => pb::BalanceApi::Deepseek,
            Self::Siliconflow => pb::BalanceApi::Siliconflow,
            Self::Moonshot => pb::BalanceApi::Moonshot,
            Self::Oneapi => pb::BalanceApi::Oneapi,
        }
    }
}

pub fn balance_api(v: i32) -> &'static str {
    match pb::BalanceApi::try_from(v) {
        Ok(pb::BalanceApi::None) => "none",
        Ok(pb::BalanceApi::Openrouter) => "openrouter",
        Ok(pb::BalanceApi::Deepseek) => "deepseek",
        Ok(pb::BalanceApi::Siliconflow) => "siliconflow",
        Ok(pb::BalanceApi::Moonshot) => "moonshot",
        Ok(pb::BalanceApi::Oneapi) => "oneapi",
        _ => "auto",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    P2c,
    #[value(name = "round_robin")]
    RoundRobin,
    #[value(name = "weighted_random")]
    WeightedRandom,
}

impl StrategyArg {
    pub fn to_pb(self) -> pb::Strategy {
        match self {
            Self::P2c => pb::Strategy::P2c,
            Self::RoundRobin => pb::Strategy::RoundRobin,
            Self::WeightedRandom => pb::Strategy::WeightedRandom,
        }
    }
}

pub fn strategy(v: i32) -> &'static str {
    match pb::Strategy::try_from(v) {
        Ok(pb::Strategy::RoundRobin) => "round_robin",
        Ok(pb::Strategy::WeightedRandom) => "weighted_random",
        _ => "p2c",
    }
}

pub fn budget_period(v: i32) -> &'static str {
    match pb::BudgetPeriod::try_from(v) {
        Ok(pb::BudgetPeriod::Day) => "day",
        Ok(pb::BudgetPeriod::Week) => "week",
        Ok(pb::BudgetPeriod::Month) => "month",
        Ok(pb::BudgetPeriod::Total) => "total",
        _ => "unknown",
    }
}

pub fn parse_budget_period(s: &str) -> Option<pb::BudgetPeriod> {
    match s {
        "day" => Some(pb::BudgetPeriod::Day),
        "week" => Some(pb::BudgetPeriod::Week),
        "month" => Some(pb::BudgetPeriod::Month),
        "total" => Some(pb::BudgetPeriod::Total),
        _ => None,
    }
}

pub fn http_method(v: i32) -> &'static str {
    match pb::HttpMethod::try_from(v) {
        Ok(pb::HttpMethod::Get) => "GET",
        Ok(pb::HttpMethod::Post) => "POST",
        Ok(pb::HttpMethod::Delete) => "DELETE",
        _ => "unknown",
    }
}

/// `GET`, `post`, `Delete`: the methods a passthrough policy can open.
pub fn parse_http_method(s: &str) -> Option<pb::HttpMethod> {
    match s.to_ascii_uppercase().as_str() {
        "GET" => Some(pb::HttpMethod::Get),
        "POST" => Some(pb::HttpMethod::Post),
        "DELETE" => Some(pb::HttpMethod::Delete),
        _ => None,
    }
}

pub fn retry_condition(v: i32) -> &'static str {
    match pb::RetryCondition::try_from(v) {
        Ok(pb::RetryCondition::Connect) => "connect",
        Ok(pb::RetryCondition::Timeout) => "timeout",
        Ok(pb::RetryCondition::RateLimited) => "429",
        Ok(pb::RetryCondition::ServerError) => "5xx",
        _ => "unknown",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Admin,
    Viewer,
}

impl RoleArg {
    pub fn to_pb(self) -> pb::AdminRole {
        match self {
            Self::Admin => pb::AdminRole::Admin,
            Self::Viewer => pb::AdminRole::Viewer,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UsageByArg {
    Key,
    Model,
    Provider,
    Account,
    Node,
}

impl UsageByArg {
    pub fn to_pb(self) -> pb::UsageGroupBy {
        match self {
            Self::Key => pb::UsageGroupBy::Key,
            Self::Model => pb::UsageGroupBy::Model,
            Self::Provider => pb::UsageGroupBy::Provider,
            Self::Account => pb::UsageGroupBy::Account,
            Self::Node => pb::UsageGroupBy::Node,
        }
    }
}

pub fn object_kind(v: i32) -> &'static str {
    match pb::ObjectKind::try_from(v) {
        Ok(pb::ObjectKind::Provider) => "provider",
        Ok(pb::ObjectKind::Account) => "account",
        Ok(pb::ObjectKind::Route) => "model",
        Ok(pb::ObjectKind::Key) => "key",
        Ok(pb::ObjectKind::Settings) => "settings",
        Ok(pb::ObjectKind::AlertChannel) => "alert-channel",
        Ok(pb::ObjectKind::NodeToken) => "node-token",
        Ok(pb::ObjectKind::AdminToken) => "admin-token",
        _ => "object",
    }
}

pub fn resource_type(v: i32) -> &'static str {
    match pb::ResourceType::try_from(v) {
        Ok(pb::ResourceType::Config) => "config",
        Ok(pb::ResourceType::Runtime) => "runtime",
        _ => "unknown",
    }
}

/// `kind name`, or `kind parent/name` for an account.
pub fn object(o: Option<&pb::ObjectRef>) -> String {
    let Some(o) = o else { return "-".into() };
    let kind = object_kind(o.kind);
    match (o.parent.is_empty(), o.name.is_empty() || o.name == kind) {
        (true, true) => kind.to_owned(),
        (true, false) => format!("{kind} {}", o.name),
        (false, _) => format!("{kind} {}/{}", o.parent, o.name),
    }
}

pub fn object_json(o: Option<&pb::ObjectRef>) -> serde_json::Value {
    match o {
        None => serde_json::Value::Null,
        Some(o) => serde_json::json!({
            "kind": object_kind(o.kind),
            "name": o.name,
            "parent": if o.parent.is_empty() { None } else { Some(&o.parent) },
        }),
    }
}
