//! The JSON `spec` columns: each declarative object's fields apart from its
//! identity (which has columns) and its secrets (sealed in their own
//! columns). Enums are stored as their gateway.yaml words, durations in
//! milliseconds, money in integer micro-units.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use switchyard_proto::model::*;

#[derive(Debug, thiserror::Error)]
#[error("stored {what} {value:?} is not recognised")]
pub struct SpecError {
    pub what: &'static str,
    pub value: String,
}

fn word<T: Copy>(what: &'static str, value: &str, all: &[T], name: impl Fn(T) -> &'static str) -> Result<T, SpecError> {
    all.iter().copied().find(|t| name(*t) == value).ok_or_else(|| SpecError { what, value: value.to_owned() })
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn default_client_write_timeout_ms() -> u64 {
    ms(Limits::default().client_write_timeout)
}

fn default_time_to_empty_below_ms() -> u64 {
    ms(Alerts::default().time_to_empty_below)
}

fn default_open_on_nodes() -> u32 {
    Alerts::default().open_on_nodes
}

fn default_node_grace_ms() -> u64 {
    ms(Alerts::default().node_grace)
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
pub struct ProviderSpec {
    pub kind: String,
    pub base_url: String,
    /// In the audit log: `${redacted:FP}` markers. In the store: only in rows
    /// written before header values were sealed (the next write seals them).
    pub headers: BTreeMap<String, String>,
    /// In the store: header values, each sealed under the master key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sealed_headers: BTreeMap<String, String>,
    pub timeout_ms: [Option<u64>; 4],
    pub stream_usage: String,
    pub on_disconnect: String,
    pub enabled: bool,
    pub balance_api: Option<String>,
    pub api_version: Option<String>,
    pub default_max_tokens: Option<u32>,
    /// Absent in rows written before the field existed.
    #[serde(default)]
    pub http2: bool,
    /// Absent when off (and in rows written before the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
}

/// A provider's `health_check`, durations in milliseconds.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
pub struct HealthCheckSpec {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub request: String,
}

impl HealthCheckSpec {
    fn of(c: &HealthCheck) -> Self {
        Self { interval_ms: ms(c.interval), timeout_ms: ms(c.timeout), request: c.request.as_str().to_owned() }
    }

    fn into_check(self) -> Result<HealthCheck, SpecError> {
        Ok(HealthCheck {
            interval: Duration::from_millis(self.interval_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            request: word("health_check.request", &self.request, &HealthRequest::ALL, HealthRequest::as_str)?,
        })
    }
}

impl ProviderSpec {
    pub fn of(p: &Provider) -> Self {
        let t = &p.timeout;
        Self {
            kind: p.kind.as_str().to_owned(),
            base_url: p.base_url.clone(),
            headers: p.headers.iter().map(|(k, v)| (k.clone(), v.to_redacted().expose().to_owned())).collect(),
            sealed_headers: BTreeMap::new(),
            timeout_ms: [t.connect, t.first_token, t.idle, t.total].map(|d| d.map(ms)),
            stream_usage: p.stream_usage.as_str().to_owned(),
            on_disconnect: p.on_disconnect.as_str().to_owned(),
            enabled: p.enabled,
            balance_api: p.balance_api.map(|b| b.as_str().to_owned()),
            api_version: p.api_version.clone(),
            default_max_tokens: p.default_max_tokens,
            http2: p.http2,
            health_check: p.health_check.as_ref().map(HealthCheckSpec::of),
        }
    }

    /// The provider, without its accounts, its proxy and its sealed header
    /// values (added by the caller).
    pub fn into_provider(self, name: String) -> Result<Provider, SpecError> {
        let [connect, first_token, idle, total] = self.timeout_ms.map(|m| m.map(Duration::from_millis));
        Ok(Provider {
            name,
            kind: word("provider kind", &self.kind, &ProviderKind::ALL, ProviderKind::as_str)?,
            base_url: self.base_url,
            headers: self.headers.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
            proxy: None,
            timeout: TimeoutOverrides { connect, first_token, idle, total },
            stream_usage: word(
                "stream_usage",
                &self.stream_usage,
                &[StreamUsage::Inject, StreamUsage::Never],
                StreamUsage::as_str,
            )?,
            on_disconnect: word(
                "on_disconnect",
                &self.on_disconnect,
                &[OnDisconnect::Close, OnDisconnect::Drain],
                OnDisconnect::as_str,
            )?,
            enabled: self.enabled,
            balance_api: self
                .balance_api
                .map(|b| word("balance_api", &b, &BalanceApi::ALL, BalanceApi::as_str))
                .transpose()?,
            api_version: self.api_version,
            default_max_tokens: self.default_max_tokens,
            http2: self.http2,
            health_check: self.health_check.map(HealthCheckSpec::into_check).transpose()?,
            accounts: Vec::new(),
        })
    }
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
pub struct AccountSpec {
    pub weight: u32,
    pub enabled: bool,
    pub balance_currency: Option<String>,
    pub alert_below_micros: Option<i64>,
}

impl AccountSpec {
    pub fn of(a: &Account) -> Self {
        Self {
            weight: a.weight,
            enabled: a.enabled,
            balance_currency: a.balance.as_ref().map(|b| b.currency.clone()),
            alert_below_micros: a.balance.as_ref().and_then(|b| b.alert_below_micros),
        }
    }

    pub fn into_account(self, name: String, api_key: Secret) -> Account {
        let balance = self
            .balance_currency
            .map(|currency| BalancePolicy { currency, alert_below_micros: self.alert_below_micros });
        Account { name, api_key, weight: self.weight, enabled: self.enabled, balance }
    }
}

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
pub struct PriceSpec {
    pub currency: String,
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub cached: Option<i64>,
}

impl PriceSpec {
    pub fn of(p: &Price) -> Self {
        Self {
            currency: p.currency.clone(),
            input: p.input_per_mtok_micros,
            output: p.output_per_mtok_micros,
            cached: p.cached_input_per_mtok_micros,
        }
    }

    pub fn into_price(self) -> Price {
        Price {
            currency: self.currency,
            input_per_mtok_micros: self.input,
            output_per_mtok_micros: self.output,
            cached_input_per_mtok_micros: self.cached,
        }
    }
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
pub struct RouteSpec {
    pub strategy: String,
    pub price: Option<PriceSpec>,
}

impl RouteSpec {
    pub fn of(r: &Route) -> Self {
        Self { strategy: r.strategy.as_str().to_owned(), price: r.price.as_ref().map(PriceSpec::of) }
    }

    pub fn strategy(&self) -> Result<Strategy, SpecError> {
        word("strategy", &self.strategy, &Strategy::ALL, Strategy::as_str)
    }
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
pub struct KeySpec {
    pub models: Option<Vec<String>>,
    pub allow_direct: bool,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub budget: Option<(String, i64, String)>,
    pub expires_unix: Option<i64>,
    pub log_bodies: Option<bool>,
    pub enabled: bool,
    /// `(methods, path prefixes)`; absent in rows written before the field existed.
    #[serde(default)]
    pub passthrough: Option<(Vec<String>, Vec<String>)>,
}

impl KeySpec {
    pub fn of(k: &ClientKey) -> Self {
        Self {
            models: k.models.clone(),
            allow_direct: k.allow_direct,
            rpm: k.rpm,
            tpm: k.tpm,
            budget: k.budget.as_ref().map(|b| (b.currency.clone(), b.amount_micros, b.period.as_str().to_owned())),
            expires_unix: k.expires_unix,
            log_bodies: k.log_bodies,
            enabled: k.enabled,
            passthrough: k
                .passthrough
                .as_ref()
                .map(|p| (p.methods.iter().map(|m| m.as_str().to_owned()).collect(), p.paths.clone())),
        }
    }

    pub fn into_key(self, name: String, key_sha256: KeyHash) -> Result<ClientKey, SpecError> {
        let budget = match self.budget {
            Some((currency, amount_micros, period)) => {
                let period = word("budget period", &period, &BudgetPeriod::ALL, BudgetPeriod::as_str)?;
                Some(Budget { currency, amount_micros, period })
            }
            None => None,
        };
        let passthrough = match self.passthrough {
            Some((methods, paths)) => {
                let methods = methods
                    .iter()
                    .map(|m| word("passthrough method", m, &HttpMethod::ALL, HttpMethod::as_str))
                    .collect::<Result<_, _>>()?;
                Some(Passthrough { methods, paths })
            }
            None => None,
        };
        Ok(ClientKey {
            name,
            key_sha256,
            models: self.models,
            allow_direct: self.allow_direct,
            rpm: self.rpm,
            tpm: self.tpm,
            budget,
            expires_unix: self.expires_unix,
            log_bodies: self.log_bodies,
            enabled: self.enabled,
            passthrough,
        })
    }
}

/// Settings without alert channels (they have their own table).
#[derive(Serialize, Deserialize, PartialEq, Debug)]
pub struct SettingsSpec {
    pub default_model: Option<String>,
    pub timeout_ms: [u64; 4],
    pub retry_max_attempts: u32,
    pub retry_on: Vec<String>,
    pub breaker_consecutive_failures: u32,
    pub breaker_failure_rate: f64,
    pub breaker_window_ms: u64,
    pub breaker_min_requests: u32,
    pub breaker_cooldown_ms: u64,
    pub breaker_max_cooldown_ms: u64,
    pub max_body: u64,
    pub max_concurrency: u32,
    pub max_buffered_bodies: u64,
    /// Absent in settings stored before it existed: the default.
    #[serde(default = "default_client_write_timeout_ms")]
    pub client_write_timeout_ms: u64,
    pub log_request_bodies: bool,
    pub log_retention_ms: u64,
    pub log_max_body_bytes: u64,
    pub usage_retention_ms: u64,
    pub snapshot_fail_closed_after_ms: Option<u64>,
    pub balance_poll_interval_ms: u64,
    pub alerts_evaluate_every_ms: u64,
    pub alerts_quiet_period_ms: u64,
    /// Absent in settings stored before they existed: the defaults.
    #[serde(default = "default_time_to_empty_below_ms")]
    pub alerts_time_to_empty_below_ms: u64,
    #[serde(default = "default_open_on_nodes")]
    pub alerts_open_on_nodes: u32,
    #[serde(default = "default_node_grace_ms")]
    pub alerts_node_grace_ms: u64,
}

impl SettingsSpec {
    pub fn of(s: &Settings) -> Self {
        let t = &s.timeout;
        let b = &s.breaker;
        Self {
            default_model: s.default_model.clone(),
            timeout_ms: [ms(t.connect), ms(t.first_token), ms(t.idle), ms(t.total)],
            retry_max_attempts: s.retry.max_attempts,
            retry_on: s.retry.on.iter().map(|c| c.as_str().to_owned()).collect(),
            breaker_consecutive_failures: b.consecutive_failures,
            breaker_failure_rate: b.failure_rate,
            breaker_window_ms: ms(b.window),
            breaker_min_requests: b.min_requests,
            breaker_cooldown_ms: ms(b.cooldown),
            breaker_max_cooldown_ms: ms(b.max_cooldown),
            max_body: s.limits.max_body,
            max_concurrency: s.limits.max_concurrency,
            max_buffered_bodies: s.limits.max_buffered_bodies,
            client_write_timeout_ms: ms(s.limits.client_write_timeout),
            log_request_bodies: s.logging.request_bodies,
            log_retention_ms: ms(s.logging.retention),
            log_max_body_bytes: s.logging.max_body_bytes,
            usage_retention_ms: ms(s.usage_retention),
            snapshot_fail_closed_after_ms: s.snapshot_fail_closed_after.map(ms),
            balance_poll_interval_ms: ms(s.balance_poll_interval),
            alerts_evaluate_every_ms: ms(s.alerts.evaluate_every),
            alerts_quiet_period_ms: ms(s.alerts.quiet_period),
            alerts_time_to_empty_below_ms: ms(s.alerts.time_to_empty_below),
            alerts_open_on_nodes: s.alerts.open_on_nodes,
            alerts_node_grace_ms: ms(s.alerts.node_grace),
        }
    }

    /// The settings, without alert channels (added by the caller).
    pub fn into_settings(self) -> Result<Settings, SpecError> {
        let d = Duration::from_millis;
        let [connect, first_token, idle, total] = self.timeout_ms.map(d);
        let on = self
            .retry_on
            .iter()
            .map(|w| word("retry condition", w, &RetryCondition::ALL, RetryCondition::as_str))
            .collect::<Result<_, _>>()?;
        Ok(Settings {
            default_model: self.default_model,
            timeout: Timeouts { connect, first_token, idle, total },
            retry: RetryPolicy { max_attempts: self.retry_max_attempts, on },
            breaker: BreakerPolicy {
                consecutive_failures: self.breaker_consecutive_failures,
                failure_rate: self.breaker_failure_rate,
                window: d(self.breaker_window_ms),
                min_requests: self.breaker_min_requests,
                cooldown: d(self.breaker_cooldown_ms),
                max_cooldown: d(self.breaker_max_cooldown_ms),
            },
            limits: Limits {
                max_body: self.max_body,
                max_concurrency: self.max_concurrency,
                max_buffered_bodies: self.max_buffered_bodies,
                client_write_timeout: d(self.client_write_timeout_ms),
            },
            logging: Logging {
                request_bodies: self.log_request_bodies,
                retention: d(self.log_retention_ms),
                max_body_bytes: self.log_max_body_bytes,
            },
            usage_retention: d(self.usage_retention_ms),
            snapshot_fail_closed_after: self.snapshot_fail_closed_after_ms.map(d),
            balance_poll_interval: d(self.balance_poll_interval_ms),
            alerts: Alerts {
                evaluate_every: d(self.alerts_evaluate_every_ms),
                quiet_period: d(self.alerts_quiet_period_ms),
                time_to_empty_below: d(self.alerts_time_to_empty_below_ms),
                open_on_nodes: self.alerts_open_on_nodes,
                node_grace: d(self.alerts_node_grace_ms),
                channels: Vec::new(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn key_passthrough_round_trips_and_older_rows_have_none() {
        let old = r#"{"models":null,"allow_direct":false,"rpm":null,"tpm":null,"budget":null,"expires_unix":null,"log_bodies":null,"enabled":true}"#;
        let spec: KeySpec = serde_json::from_str(old).unwrap();
        assert_eq!(spec.into_key("k".into(), KeyHash([0; 32])).unwrap().passthrough, None);

        let passthrough =
            Passthrough { methods: vec![HttpMethod::Get, HttpMethod::Delete], paths: vec!["/files".into()] };
        let key = ClientKey {
            name: "k".into(),
            key_sha256: KeyHash([1; 32]),
            models: None,
            allow_direct: false,
            rpm: None,
            tpm: None,
            budget: None,
            expires_unix: None,
            log_bodies: None,
            enabled: true,
            passthrough: Some(passthrough),
        };
        let stored = serde_json::to_string(&KeySpec::of(&key)).unwrap();
        assert!(stored.contains(r#""passthrough":[["GET","DELETE"],["/files"]]"#), "{stored}");
        let spec: KeySpec = serde_json::from_str(&stored).unwrap();
        assert_eq!(spec.into_key("k".into(), KeyHash([1; 32])).unwrap(), key);

        let bad = stored.replace("DELETE", "PUT");
        let spec: KeySpec = serde_json::from_str(&bad).unwrap();
        assert_eq!(
            spec.into_key("k".into(), KeyHash([1; 32])).unwrap_err().to_string(),
            "stored passthrough method \"PUT\" is not recognised"
        );
    }

    #[test]
    fn provider_health_check_round_trips_and_older_rows_have_none() {
        let old = r#"{"kind":"openai","base_url":"https://api.openai.com/v1","headers":{},"timeout_ms":[null,null,null,null],"stream_usage":"inject","on_disconnect":"close","enabled":true,"balance_api":null,"api_version":null,"default_max_tokens":null}"#;
        let spec: ProviderSpec = serde_json::from_str(old).unwrap();
        assert_eq!(spec.into_provider("p".into()).unwrap().health_check, None);

        let mut provider: Provider =
            serde_json::from_str::<ProviderSpec>(old).unwrap().into_provider("p".into()).unwrap();
        let check = HealthCheck {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(2),
            request: HealthRequest::Chat,
        };
        provider.health_check = Some(check);
        let stored = serde_json::to_string(&ProviderSpec::of(&provider)).unwrap();
        assert!(
            stored.contains(r#""health_check":{"interval_ms":15000,"timeout_ms":2000,"request":"chat"}"#),
            "{stored}"
        );
        let spec: ProviderSpec = serde_json::from_str(&stored).unwrap();
        assert_eq!(spec.into_provider("p".into()).unwrap(), provider);

        let bad = stored.replace(r#""request":"chat""#, r#""request":"ping""#);
        let spec: ProviderSpec = serde_json::from_str(&bad).unwrap();
        let error = spec.into_provider("p".into()).unwrap_err().to_string();
        assert_eq!(error, "stored health_check.request \"ping\" is not recognised");
    }
}
