//! Enum conversions. Domain -> wire is total; wire -> domain reports an
//! `UNSPECIFIED` (where it has no meaning) or unknown number at its path.

use super::Errors;
use crate::model::{
    BalanceApi, BudgetPeriod, HealthRequest, HttpMethod, OnDisconnect, ProviderKind, RetryCondition, Strategy,
    StreamUsage,
};
use crate::pb;

/// Records `unknown value N (expected one of: ...)` at `path`.
fn unknown<T>(errors: &mut Errors, path: String, value: i32, expected: &[&str]) -> Option<T> {
    errors.invalid(path, format!("unknown value {value} (expected one of: {})", expected.join(", ")))
}

impl From<ProviderKind> for pb::ProviderKind {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::OpenAi => Self::Openai,
            ProviderKind::OpenAiCompatible => Self::OpenaiCompatible,
            ProviderKind::Azure => Self::Azure,
            ProviderKind::Anthropic => Self::Anthropic,
            ProviderKind::Gemini => Self::Gemini,
        }
    }
}

pub(super) fn provider_kind(errors: &mut Errors, path: String, value: i32) -> Option<ProviderKind> {
    Some(match pb::ProviderKind::try_from(value) {
        Ok(pb::ProviderKind::Openai) => ProviderKind::OpenAi,
        Ok(pb::ProviderKind::OpenaiCompatible) => ProviderKind::OpenAiCompatible,
        Ok(pb::ProviderKind::Azure) => ProviderKind::Azure,
        Ok(pb::ProviderKind::Anthropic) => ProviderKind::Anthropic,
        Ok(pb::ProviderKind::Gemini) => ProviderKind::Gemini,
        Ok(pb::ProviderKind::Unspecified) | Err(_) => {
            return unknown(errors, path, value, &ProviderKind::ALL.map(ProviderKind::as_str));
        }
    })
}

impl From<StreamUsage> for pb::StreamUsage {
    fn from(usage: StreamUsage) -> Self {
        match usage {
            StreamUsage::Inject => Self::Inject,
            StreamUsage::Never => Self::Never,
        }
    }
}

/// `UNSPECIFIED` is the default ([`StreamUsage::Inject`]).
pub(super) fn stream_usage(errors: &mut Errors, path: String, value: i32) -> Option<StreamUsage> {
    Some(match pb::StreamUsage::try_from(value) {
        Ok(pb::StreamUsage::Unspecified) => StreamUsage::default(),
        Ok(pb::StreamUsage::Inject) => StreamUsage::Inject,
        Ok(pb::StreamUsage::Never) => StreamUsage::Never,
        Err(_) => {
            return unknown(errors, path, value, &[StreamUsage::Inject, StreamUsage::Never].map(StreamUsage::as_str));
        }
    })
}

impl From<OnDisconnect> for pb::OnDisconnect {
    fn from(on: OnDisconnect) -> Self {
        match on {
            OnDisconnect::Close => Self::Close,
            OnDisconnect::Drain => Self::Drain,
        }
    }
}

/// `UNSPECIFIED` is the default ([`OnDisconnect::Close`]).
pub(super) fn on_disconnect(errors: &mut Errors, path: String, value: i32) -> Option<OnDisconnect> {
    Some(match pb::OnDisconnect::try_from(value) {
        Ok(pb::OnDisconnect::Unspecified) => OnDisconnect::default(),
        Ok(pb::OnDisconnect::Close) => OnDisconnect::Close,
        Ok(pb::OnDisconnect::Drain) => OnDisconnect::Drain,
        Err(_) => {
            return unknown(errors, path, value, &[OnDisconnect::Close, OnDisconnect::Drain].map(OnDisconnect::as_str));
        }
    })
}

impl From<Option<BalanceApi>> for pb::BalanceApi {
    /// `None` (infer from the base URL) is `UNSPECIFIED`.
    fn from(api: Option<BalanceApi>) -> Self {
        match api {
            None => Self::Unspecified,
            Some(BalanceApi::None) => Self::None,
            Some(BalanceApi::OpenRouter) => Self::Openrouter,
            Some(BalanceApi::DeepSeek) => Self::Deepseek,
            Some(BalanceApi::SiliconFlow) => Self::Siliconflow,
            Some(BalanceApi::Moonshot) => Self::Moonshot,
            Some(BalanceApi::OneApi) => Self::Oneapi,
        }
    }
}

/// The outer `Option` is the error; the inner one is the model's "infer" (`UNSPECIFIED`).
pub(super) fn balance_api(errors: &mut Errors, path: String, value: i32) -> Option<Option<BalanceApi>> {
    Some(match pb::BalanceApi::try_from(value) {
        Ok(pb::BalanceApi::Unspecified) => None,
        Ok(pb::BalanceApi::None) => Some(BalanceApi::None),
        Ok(pb::BalanceApi::Openrouter) => Some(BalanceApi::OpenRouter),
        Ok(pb::BalanceApi::Deepseek) => Some(BalanceApi::DeepSeek),
        Ok(pb::BalanceApi::Siliconflow) => Some(BalanceApi::SiliconFlow),
        Ok(pb::BalanceApi::Moonshot) => Some(BalanceApi::Moonshot),
        Ok(pb::BalanceApi::Oneapi) => Some(BalanceApi::OneApi),
        Err(_) => return unknown(errors, path, value, &BalanceApi::ALL.map(BalanceApi::as_str)),
    })
}

impl From<Strategy> for pb::Strategy {
    fn from(strategy: Strategy) -> Self {
        match strategy {
            Strategy::P2c => Self::P2c,
            Strategy::RoundRobin => Self::RoundRobin,
            Strategy::WeightedRandom => Self::WeightedRandom,
        }
    }
}

pub(super) fn strategy(errors: &mut Errors, path: String, value: i32) -> Option<Strategy> {
    Some(match pb::Strategy::try_from(value) {
        Ok(pb::Strategy::P2c) => Strategy::P2c,
        Ok(pb::Strategy::RoundRobin) => Strategy::RoundRobin,
        Ok(pb::Strategy::WeightedRandom) => Strategy::WeightedRandom,
        Ok(pb::Strategy::Unspecified) | Err(_) => {
            return unknown(errors, path, value, &Strategy::ALL.map(Strategy::as_str));
        }
    })
}

impl From<BudgetPeriod> for pb::BudgetPeriod {
    fn from(period: BudgetPeriod) -> Self {
        match period {
            BudgetPeriod::Day => Self::Day,
            BudgetPeriod::Week => Self::Week,
            BudgetPeriod::Month => Self::Month,
            BudgetPeriod::Total => Self::Total,
        }
    }
}

pub(super) fn budget_period(errors: &mut Errors, path: String, value: i32) -> Option<BudgetPeriod> {
    Some(match pb::BudgetPeriod::try_from(value) {
        Ok(pb::BudgetPeriod::Day) => BudgetPeriod::Day,
        Ok(pb::BudgetPeriod::Week) => BudgetPeriod::Week,
        Ok(pb::BudgetPeriod::Month) => BudgetPeriod::Month,
        Ok(pb::BudgetPeriod::Total) => BudgetPeriod::Total,
        Ok(pb::BudgetPeriod::Unspecified) | Err(_) => {
            return unknown(errors, path, value, &BudgetPeriod::ALL.map(BudgetPeriod::as_str));
        }
    })
}

impl From<RetryCondition> for pb::RetryCondition {
    fn from(condition: RetryCondition) -> Self {
        match condition {
            RetryCondition::Connect => Self::Connect,
            RetryCondition::Timeout => Self::Timeout,
            RetryCondition::RateLimited => Self::RateLimited,
            RetryCondition::ServerError => Self::ServerError,
        }
    }
}

pub(super) fn retry_condition(errors: &mut Errors, path: String, value: i32) -> Option<RetryCondition> {
    Some(match pb::RetryCondition::try_from(value) {
        Ok(pb::RetryCondition::Connect) => RetryCondition::Connect,
        Ok(pb::RetryCondition::Timeout) => RetryCondition::Timeout,
        Ok(pb::RetryCondition::RateLimited) => RetryCondition::RateLimited,
        Ok(pb::RetryCondition::ServerError) => RetryCondition::ServerError,
        Ok(pb::RetryCondition::Unspecified) | Err(_) => {
            return unknown(errors, path, value, &RetryCondition::ALL.map(RetryCondition::as_str));
        }
    })
}

impl From<HttpMethod> for pb::HttpMethod {
    fn from(method: HttpMethod) -> Self {
        match method {
            HttpMethod::Get => Self::Get,
            HttpMethod::Post => Self::Post,
            HttpMethod::Delete => Self::Delete,
        }
    }
}

pub(super) fn http_method(errors: &mut Errors, path: String, value: i32) -> Option<HttpMethod> {
    Some(match pb::HttpMethod::try_from(value) {
        Ok(pb::HttpMethod::Get) => HttpMethod::Get,
        Ok(pb::HttpMethod::Post) => HttpMethod::Post,
        Ok(pb::HttpMethod::Delete) => HttpMethod::Delete,
        Ok(pb::HttpMethod::Unspecified) | Err(_) => {
            return unknown(errors, path, value, &HttpMethod::ALL.map(HttpMethod::as_str));
        }
    })
}

impl From<HealthRequest> for pb::HealthCheckRequest {
    fn from(request: HealthRequest) -> Self {
        match request {
            HealthRequest::Models => Self::Models,
            HealthRequest::Chat => Self::Chat,
        }
    }
}

pub(super) fn health_request(errors: &mut Errors, path: String, value: i32) -> Option<HealthRequest> {
    Some(match pb::HealthCheckRequest::try_from(value) {
        Ok(pb::HealthCheckRequest::Models) => HealthRequest::Models,
        Ok(pb::HealthCheckRequest::Chat) => HealthRequest::Chat,
        Ok(pb::HealthCheckRequest::Unspecified) | Err(_) => {
            return unknown(errors, path, value, &HealthRequest::ALL.map(HealthRequest::as_str));
        }
    })
}
