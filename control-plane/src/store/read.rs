//! Rows -> Config, in a deterministic order (by name; accounts, aliases,
//! targets and channels by their stored position), secrets decrypted.

use super::StoreError;
use super::spec::{AccountSpec, KeySpec, PriceSpec, ProviderSpec, RouteSpec, SettingsSpec, SpecError};
use crate::crypto::MasterKey;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;
use switchyard_proto::model::{
    AlertChannel, AlertChannelKind, Config, KeyHash, Provider, Route, Secret, Settings, Target,
};

impl From<SpecError> for StoreError {
    fn from(e: SpecError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Where a sealed secret belongs (its associated data).
pub fn context(kind: &str, parts: &[&str]) -> String {
    format!("{kind}/{}", parts.join("/"))
}

/// Where a provider's header value is sealed.
pub fn header_context(provider: &str, header: &str) -> String {
    context("providers", &[provider, "headers", header])
}

pub async fn load(conn: &mut AnyConnection, key: &MasterKey) -> Result<(u64, Config), StoreError> {
    let revision: i64 = sqlx::query_scalar("SELECT config FROM revision WHERE id = 1").fetch_one(&mut *conn).await?;
    let mut providers: BTreeMap<String, Provider> = BTreeMap::new();
    for row in sqlx::query("SELECT name, spec, proxy_secret FROM providers ORDER BY name").fetch_all(&mut *conn).await?
    {
        let name: String = row.try_get("name")?;
        let mut spec: ProviderSpec = serde_json::from_str(&row.try_get::<String, _>("spec")?)?;
        let sealed = std::mem::take(&mut spec.sealed_headers);
        let mut provider = spec.into_provider(name.clone())?;
        for (header, value) in sealed {
            let value = key.open_string(&value, &header_context(&name, &header))?;
            provider.headers.insert(header, Secret::new(value));
        }
        if let Some(sealed) = row.try_get::<Option<String>, _>("proxy_secret")? {
            provider.proxy = Some(Secret::new(key.open_string(&sealed, &context("providers", &[&name, "proxy"]))?));
        }
        providers.insert(name, provider);
    }
    let rows = sqlx::query("SELECT provider, name, spec, api_key FROM accounts ORDER BY provider, position")
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        let (provider, name): (String, String) = (row.try_get("provider")?, row.try_get("name")?);
        let spec: AccountSpec = serde_json::from_str(&row.try_get::<String, _>("spec")?)?;
        let api_key =
            key.open_string(&row.try_get::<String, _>("api_key")?, &context("accounts", &[&provider, &name]))?;
        let p = providers
            .get_mut(&provider)
            .ok_or_else(|| StoreError::Corrupt(format!("account of missing provider {provider}")))?;
        p.accounts.push(spec.into_account(name, Secret::new(api_key)));
    }

    let mut routes: BTreeMap<String, Route> = BTreeMap::new();
    for row in sqlx::query("SELECT name, spec FROM routes ORDER BY name").fetch_all(&mut *conn).await? {
        let name: String = row.try_get("name")?;
        let spec: RouteSpec = serde_json::from_str(&row.try_get::<String, _>("spec")?)?;
        let strategy = spec.strategy()?;
        let route = Route {
            name: name.clone(),
            aliases: Vec::new(),
            strategy,
            price: spec.price.map(PriceSpec::into_price),
            targets: Vec::new(),
        };
        routes.insert(name, route);
    }
    for row in
        sqlx::query("SELECT alias, route FROM route_aliases ORDER BY route, position").fetch_all(&mut *conn).await?
    {
        let route: String = row.try_get("route")?;
        let r = routes.get_mut(&route).ok_or_else(|| StoreError::Corrupt(format!("alias of missing route {route}")))?;
        r.aliases.push(row.try_get("alias")?);
    }
    let rows = sqlx::query(
        "SELECT route, provider, model, priority, price_currency, input_per_mtok_micros, output_per_mtok_micros, \
         cached_per_mtok_micros FROM route_targets ORDER BY route, position",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let route: String = row.try_get("route")?;
        let price = match row.try_get::<Option<String>, _>("price_currency")? {
            Some(currency) => Some(PriceSpec {
                currency,
                input: row.try_get("input_per_mtok_micros")?,
                output: row.try_get("output_per_mtok_micros")?,
                cached: row.try_get("cached_per_mtok_micros")?,
            }),
            None => None,
        };
        let priority: i64 = row.try_get("priority")?;
        let target = Target {
            provider: row.try_get("provider")?,
            model: row.try_get("model")?,
            priority: u32::try_from(priority).map_err(|_| StoreError::Corrupt(format!("priority {priority}")))?,
            price: price.map(PriceSpec::into_price),
        };
        let r =
            routes.get_mut(&route).ok_or_else(|| StoreError::Corrupt(format!("target of missing route {route}")))?;
        r.targets.push(target);
    }

    let mut keys = Vec::new();
    for row in sqlx::query("SELECT name, key_sha256, spec FROM client_keys ORDER BY name").fetch_all(&mut *conn).await?
    {
        let name: String = row.try_get("name")?;
        let hash = KeyHash::from_hex(&row.try_get::<String, _>("key_sha256")?)
            .ok_or_else(|| StoreError::Corrupt(format!("key hash of {name}")))?;
        let spec: KeySpec = serde_json::from_str(&row.try_get::<String, _>("spec")?)?;
        keys.push(spec.into_key(name, hash)?);
    }

    let settings: Option<String> =
        sqlx::query_scalar("SELECT spec FROM settings WHERE id = 1").fetch_optional(&mut *conn).await?;
    let mut settings = match settings {
        Some(spec) => serde_json::from_str::<SettingsSpec>(&spec)?.into_settings()?,
        None => Settings::default(),
    };
    let rows = sqlx::query("SELECT name, kind, secret_a, secret_b FROM alert_channels ORDER BY position")
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        let (name, kind): (String, String) = (row.try_get("name")?, row.try_get("kind")?);
        let open = |column: &str, sealed: &str| key.open_string(sealed, &context("alert_channels", &[&name, column]));
        let a = Secret::new(open("a", &row.try_get::<String, _>("secret_a")?)?);
        let b = row.try_get::<Option<String>, _>("secret_b")?.map(|s| open("b", &s)).transpose()?.map(Secret::new);
        let kind = match kind.as_str() {
            "dingtalk" => AlertChannelKind::DingTalk { webhook: a, secret: b },
            "feishu" => AlertChannelKind::Feishu { webhook: a, secret: b },
            "wecom" => AlertChannelKind::WeCom { webhook: a },
            "webhook" => AlertChannelKind::Webhook { url: a },
            other => return Err(StoreError::Corrupt(format!("alert channel kind {other}"))),
        };
        settings.alerts.channels.push(AlertChannel { name, kind });
    }

    let config =
        Config { providers: providers.into_values().collect(), models: routes.into_values().collect(), keys, settings };
    Ok((u64::try_from(revision).unwrap_or(0), config))
}
