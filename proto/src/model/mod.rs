//! The validated domain model both planes use.
//!
//! A [`Config`] comes from a `gateway.yaml` ([`crate::document`]) or from the
//! wire (`TryFrom<pb::Config>`, [`crate::wire`]); both run [`Config::validate`],
//! so a config is judged the same way wherever it comes from.

mod error;
mod inert;
mod key;
mod provider;
mod redact;
mod route;
mod runtime;
mod secret;
mod settings;
pub mod units;
mod validate;
pub mod wildcard;

pub use error::{ConfigError, ConfigErrors, Problem};
pub use inert::inert_settings;
pub use key::{Budget, BudgetPeriod, ClientKey, HttpMethod, KeyHash, Passthrough};
pub use provider::{
    Account, BalanceApi, BalancePolicy, HealthCheck, HealthRequest, OnDisconnect, Provider, ProviderKind, StreamUsage,
    TimeoutOverrides,
};
pub use route::{Price, Route, Strategy, Target};
pub use runtime::{AccountRef, KeyRuntime, RuntimeState};
pub use secret::{Secret, is_fingerprint};
pub use settings::{
    AlertChannel, AlertChannelKind, Alerts, BreakerPolicy, Limits, Logging, RetryCondition, RetryPolicy, Settings,
    Timeouts,
};

/// Everything a data plane serves from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub providers: Vec<Provider>,
    /// Public model routes.
    pub models: Vec<Route>,
    pub keys: Vec<ClientKey>,
    pub settings: Settings,
}

impl Config {
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The route a public name or alias names (a wildcard route by its own
    /// name, `gpt-*`; what it matches is [`wildcard`]'s business).
    pub fn route(&self, name_or_alias: &str) -> Option<&Route> {
        self.models.iter().find(|r| r.name == name_or_alias || r.aliases.iter().any(|a| a == name_or_alias))
    }

    /// Paths of secrets that are `${redacted:...}` markers rather than values.
    /// A data plane cannot serve with those; only `apply` can resolve them.
    pub fn redacted_secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |path: String, s: &Secret| {
            if s.redacted_fingerprint().is_some() {
                out.push(path);
            }
        };
        for (i, p) in self.providers.iter().enumerate() {
            if let Some(proxy) = &p.proxy {
                check(format!("providers[{i}].proxy"), proxy);
            }
            for (name, value) in &p.headers {
                check(format!("providers[{i}].headers.{name}"), value);
            }
            for (j, a) in p.accounts.iter().enumerate() {
                check(format!("providers[{i}].accounts[{j}].api_key"), &a.api_key);
            }
        }
        for (i, c) in self.settings.alerts.channels.iter().enumerate() {
            let path = format!("settings.alerts.channels[{i}]");
            match &c.kind {
                AlertChannelKind::DingTalk { webhook, secret } | AlertChannelKind::Feishu { webhook, secret } => {
                    check(format!("{path}.webhook"), webhook);
                    if let Some(s) = secret {
                        check(format!("{path}.secret"), s);
                    }
                }
                AlertChannelKind::WeCom { webhook } => check(format!("{path}.webhook"), webhook),
                AlertChannelKind::Webhook { url } => check(format!("{path}.url"), url),
            }
        }
        out
    }

    /// Errors for every redacted secret (see [`Config::redacted_secrets`]).
    pub fn require_secrets(&self) -> Result<(), ConfigErrors> {
        let errors = self
            .redacted_secrets()
            .into_iter()
            .map(|path| {
                ConfigError::invalid(
                    path,
                    "a ${redacted:...} marker stands for a secret stored in the control plane; \
                     give the value or an ${env:...}/${file:...} reference to use it here",
                )
            })
            .collect();
        ConfigErrors(errors).into_result()
    }
}
