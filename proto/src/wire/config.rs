//! `Config` and its providers, routes and client keys (settings are in
//! [`super::settings`]).

use super::{Errors, convert_all, enums, from_ms, secret, settings, to_ms};
use crate::model::{
    Account, BalancePolicy, Budget, ClientKey, Config, ConfigErrors, HealthCheck, KeyHash, Passthrough, Price,
    Provider, Route, Target, TimeoutOverrides,
};
use crate::pb;

impl From<&Config> for pb::Config {
    fn from(config: &Config) -> Self {
        Self {
            providers: config.providers.iter().map(Into::into).collect(),
            models: config.models.iter().map(Into::into).collect(),
            keys: config.keys.iter().map(Into::into).collect(),
            settings: Some((&config.settings).into()),
        }
    }
}

impl TryFrom<pb::Config> for Config {
    type Error = ConfigErrors;

    /// Converts every field (collecting all errors), then validates the whole
    /// config and refuses `${redacted:...}` markers.
    fn try_from(message: pb::Config) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let converted = config(&mut errors, message);
        let config = errors.finish(converted)?;
        config.validate()?;
        config.require_secrets()?;
        Ok(config)
    }
}

fn config(errors: &mut Errors, c: pb::Config) -> Option<Config> {
    let providers = convert_all(c.providers, |i, p| provider(errors, &format!("providers[{i}]"), p));
    let models = convert_all(c.models, |i, r| route(errors, &format!("models[{i}]"), r));
    let keys = convert_all(c.keys, |i, k| key(errors, &format!("keys[{i}]"), k));
    let settings = errors.require(|| "settings".into(), c.settings).and_then(|s| settings::settings(errors, s));
    Some(Config { providers: providers?, models: models?, keys: keys?, settings: settings? })
}

impl From<&Provider> for pb::Provider {
    fn from(p: &Provider) -> Self {
        Self {
            name: p.name.clone(),
            kind: pb::ProviderKind::from(p.kind).into(),
            base_url: p.base_url.clone(),
            headers: p.headers.iter().map(|(k, v)| (k.clone(), v.expose().to_owned())).collect(),
            proxy: p.proxy.as_ref().map(Into::into),
            timeout: Some(p.timeout.into()),
            stream_usage: pb::StreamUsage::from(p.stream_usage).into(),
            on_disconnect: pb::OnDisconnect::from(p.on_disconnect).into(),
            enabled: p.enabled,
            balance_api: pb::BalanceApi::from(p.balance_api).into(),
            api_version: p.api_version.clone(),
            default_max_tokens: p.default_max_tokens,
            http2: p.http2,
            health_check: p.health_check.as_ref().map(Into::into),
            accounts: p.accounts.iter().map(Into::into).collect(),
        }
    }
}

pub(super) fn provider(errors: &mut Errors, path: &str, p: pb::Provider) -> Option<Provider> {
    let kind = enums::provider_kind(errors, format!("{path}.kind"), p.kind);
    let stream_usage = enums::stream_usage(errors, format!("{path}.stream_usage"), p.stream_usage);
    let on_disconnect = enums::on_disconnect(errors, format!("{path}.on_disconnect"), p.on_disconnect);
    let balance_api = enums::balance_api(errors, format!("{path}.balance_api"), p.balance_api);
    let health_check = match p.health_check {
        Some(c) => health_check(errors, &format!("{path}.health_check"), c).map(Some),
        None => Some(None),
    };
    let accounts = convert_all(p.accounts, |j, a| account(errors, &format!("{path}.accounts[{j}]"), a));
    Some(Provider {
        name: p.name,
        kind: kind?,
        base_url: p.base_url,
        headers: p.headers.into_iter().map(|(k, v)| (k, crate::model::Secret::new(v))).collect(),
        proxy: p.proxy.map(secret),
        // Absent overrides: nothing overridden.
        timeout: p.timeout.map(timeout_overrides).unwrap_or_default(),
        stream_usage: stream_usage?,
        on_disconnect: on_disconnect?,
        enabled: p.enabled,
        balance_api: balance_api?,
        api_version: p.api_version,
        default_max_tokens: p.default_max_tokens,
        http2: p.http2,
        health_check: health_check?,
        accounts: accounts?,
    })
}

impl From<&HealthCheck> for pb::HealthCheck {
    fn from(c: &HealthCheck) -> Self {
        Self {
            interval_ms: to_ms(c.interval),
            timeout_ms: to_ms(c.timeout),
            request: pb::HealthCheckRequest::from(c.request).into(),
        }
    }
}

fn health_check(errors: &mut Errors, path: &str, c: pb::HealthCheck) -> Option<HealthCheck> {
    let request = enums::health_request(errors, format!("{path}.request"), c.request);
    Some(HealthCheck { interval: from_ms(c.interval_ms), timeout: from_ms(c.timeout_ms), request: request? })
}

impl From<TimeoutOverrides> for pb::TimeoutOverrides {
    fn from(t: TimeoutOverrides) -> Self {
        Self {
            connect_ms: t.connect.map(to_ms),
            first_token_ms: t.first_token.map(to_ms),
            idle_ms: t.idle.map(to_ms),
            total_ms: t.total.map(to_ms),
        }
    }
}

fn timeout_overrides(t: pb::TimeoutOverrides) -> TimeoutOverrides {
    TimeoutOverrides {
        connect: t.connect_ms.map(from_ms),
        first_token: t.first_token_ms.map(from_ms),
        idle: t.idle_ms.map(from_ms),
        total: t.total_ms.map(from_ms),
    }
}

impl From<&Account> for pb::Account {
    fn from(a: &Account) -> Self {
        Self {
            name: a.name.clone(),
            api_key: Some((&a.api_key).into()),
            weight: a.weight,
            enabled: a.enabled,
            balance: a.balance.as_ref().map(Into::into),
        }
    }
}

pub(super) fn account(errors: &mut Errors, path: &str, a: pb::Account) -> Option<Account> {
    let api_key = errors.require(|| format!("{path}.api_key"), a.api_key);
    Some(Account {
        name: a.name,
        api_key: secret(api_key?),
        weight: a.weight,
        enabled: a.enabled,
        balance: a.balance.map(|b| BalancePolicy { currency: b.currency, alert_below_micros: b.alert_below_micros }),
    })
}

impl From<&BalancePolicy> for pb::BalancePolicy {
    fn from(b: &BalancePolicy) -> Self {
        Self { currency: b.currency.clone(), alert_below_micros: b.alert_below_micros }
    }
}

impl From<&Route> for pb::Route {
    fn from(r: &Route) -> Self {
        Self {
            name: r.name.clone(),
            aliases: r.aliases.clone(),
            strategy: pb::Strategy::from(r.strategy).into(),
            price: r.price.as_ref().map(Into::into),
            targets: r.targets.iter().map(Into::into).collect(),
        }
    }
}

pub(super) fn route(errors: &mut Errors, path: &str, r: pb::Route) -> Option<Route> {
    let strategy = enums::strategy(errors, format!("{path}.strategy"), r.strategy);
    Some(Route {
        name: r.name,
        aliases: r.aliases,
        strategy: strategy?,
        price: r.price.map(price),
        targets: r.targets.into_iter().map(target).collect(),
    })
}

impl From<&Target> for pb::Target {
    fn from(t: &Target) -> Self {
        Self {
            provider: t.provider.clone(),
            model: t.model.clone(),
            priority: t.priority,
            price: t.price.as_ref().map(Into::into),
        }
    }
}

fn target(t: pb::Target) -> Target {
    Target { provider: t.provider, model: t.model, priority: t.priority, price: t.price.map(price) }
}

impl From<&Price> for pb::Price {
    fn from(p: &Price) -> Self {
        Self {
            currency: p.currency.clone(),
            input_per_mtok_micros: p.input_per_mtok_micros,
            output_per_mtok_micros: p.output_per_mtok_micros,
            cached_input_per_mtok_micros: p.cached_input_per_mtok_micros,
        }
    }
}

fn price(p: pb::Price) -> Price {
    Price {
        currency: p.currency,
        input_per_mtok_micros: p.input_per_mtok_micros,
        output_per_mtok_micros: p.output_per_mtok_micros,
        cached_input_per_mtok_micros: p.cached_input_per_mtok_micros,
    }
}

impl From<&ClientKey> for pb::ClientKey {
    fn from(k: &ClientKey) -> Self {
        Self {
            name: k.name.clone(),
            key_sha256: k.key_sha256.0.to_vec(),
            models: k.models.as_ref().map(|models| pb::ModelAllowlist { models: models.clone() }),
            allow_direct: k.allow_direct,
            rpm: k.rpm,
            tpm: k.tpm,
            budget: k.budget.as_ref().map(Into::into),
            expires_unix: k.expires_unix,
            log_bodies: k.log_bodies,
            enabled: k.enabled,
            passthrough: k.passthrough.as_ref().map(|p| pb::PassthroughPolicy {
                methods: p.methods.iter().map(|m| pb::HttpMethod::from(*m).into()).collect(),
                paths: p.paths.clone(),
            }),
        }
    }
}

pub(super) fn key(errors: &mut Errors, path: &str, k: pb::ClientKey) -> Option<ClientKey> {
    let key_sha256 = match <[u8; 32]>::try_from(k.key_sha256.as_slice()) {
        Ok(hash) => Some(KeyHash(hash)),
        Err(_) => {
            errors.invalid(format!("{path}.key_sha256"), format!("must be 32 bytes (got {})", k.key_sha256.len()))
        }
    };
    let budget = match k.budget {
        Some(b) => {
            let period = enums::budget_period(errors, format!("{path}.budget.period"), b.period);
            period.map(|period| Some(Budget { currency: b.currency, amount_micros: b.amount_micros, period }))
        }
        None => Some(None),
    };
    let passthrough = match k.passthrough {
        Some(p) => passthrough(errors, &format!("{path}.passthrough"), p).map(Some),
        None => Some(None),
    };
    Some(ClientKey {
        name: k.name,
        key_sha256: key_sha256?,
        models: k.models.map(|m| m.models),
        allow_direct: k.allow_direct,
        rpm: k.rpm,
        tpm: k.tpm,
        budget: budget?,
        expires_unix: k.expires_unix,
        log_bodies: k.log_bodies,
        enabled: k.enabled,
        passthrough: passthrough?,
    })
}

/// The methods come out sorted and without duplicates, as the model requires.
fn passthrough(errors: &mut Errors, path: &str, p: pb::PassthroughPolicy) -> Option<Passthrough> {
    let methods = convert_all(p.methods, |i, m| enums::http_method(errors, format!("{path}.methods[{i}]"), m));
    let mut methods = methods?;
    methods.sort_unstable();
    methods.dedup();
    Some(Passthrough { methods, paths: p.paths })
}

impl From<&Budget> for pb::Budget {
    fn from(b: &Budget) -> Self {
        Self {
            currency: b.currency.clone(),
            amount_micros: b.amount_micros,
            period: pb::BudgetPeriod::from(b.period).into(),
        }
    }
}
