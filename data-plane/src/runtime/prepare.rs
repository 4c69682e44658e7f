//! Config -> Runtime, off the request path. Fallible (it builds HTTP clients);
//! the caller swaps only a fully built Runtime. Upstream clients and endpoint
//! counters carry over from the previous Runtime where nothing changed, so a
//! reload keeps pooled connections and monotonic metrics. So do key rate
//! limiters, for a key with the same name and hash (re-rated when its `rpm` or
//! node count changed), and the routes made on request for direct calls and
//! wildcard matches (made again for the new config, see `unlisted`).

use super::dynamic::DynamicRoutes;
use super::endpoint::Maker;
use super::listing::Listings;
use super::unlisted::{TargetKind, WildcardRoute, WildcardTarget};
use super::{AccountEntry, ClientSettings, Endpoint, KeyEntry, Overlay, ProviderEntry, RouteEntry, Runtime};
use crate::breaker::events::Transitions;
use crate::limit::{Clock, KeyLimit, Rate};
use crate::upstream::{Client, h2pool::H2Pool};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use switchyard_proto::canonical::config_hash;
use switchyard_proto::model::{ClientKey, Config, KeyRuntime, Provider, ProviderKind, wildcard};
use tokio::time::Instant;

/// Idle pooled upstream connections are closed after this long.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("providers.{provider}: cannot build its HTTP client: {reason}")]
    Client { provider: String, reason: String },
    #[error("providers.{provider}.accounts.{account}.api_key: not a valid HTTP header value")]
    BadKey { provider: String, account: String },
}

/// Builds the Runtime for `config` (already validated), reusing what `previous` has;
/// new breakers report their transitions to `transitions`.
pub fn prepare(
    config: Arc<Config>,
    version: u64,
    overlay: Arc<Overlay>,
    previous: Option<&Runtime>,
    transitions: Option<&Arc<Transitions>>,
) -> Result<Runtime, PrepareError> {
    let mut providers = HashMap::new();
    for p in &config.providers {
        let reused = previous.and_then(|rt| rt.provider(&p.name)).filter(|old| same_client(old, p, &config));
        let client = match reused {
            Some(old) => old.client.clone(),
            None => build_client(p, &config)?,
        };
        providers.insert(p.name.clone(), Arc::new(provider_entry(p, &config, client)?));
    }

    // Endpoint state (counters, breaker, load) and route cursors carry over when unchanged.
    type Identity<'a> = (&'a str, &'a str, &'a str, &'a str);
    let old_endpoints: HashMap<Identity<'_>, &Arc<Endpoint>> = previous
        .map(|rt| {
            rt.endpoints
                .iter()
                .map(|e| ((&*e.route, &*e.provider.name, &*e.account().name, &*e.upstream_model), e))
                .collect()
        })
        .unwrap_or_default();
    let maker = Maker { overlay: &overlay, transitions };

    let mut routes = HashMap::new();
    let mut wildcards = Vec::new();
    let mut endpoints = Vec::new();
    for r in &config.models {
        let name: Arc<str> = r.name.as_str().into();
        let wildcard_prefix = r.wildcard_prefix();
        let mut tiers: BTreeMap<u32, Vec<Arc<Endpoint>>> = BTreeMap::new();
        let mut wildcard_targets = Vec::new();
        for t in &r.targets {
            let Some(provider) = providers.get(&t.provider) else { continue };
            let model: Arc<str> = t.model.as_str().into();
            if wildcard_prefix.is_some() && wildcard::prefix(&t.model).is_some() {
                // A pattern: its endpoints are made per requested name (runtime::unlisted).
                let kind = TargetKind::Pattern { provider: provider.clone(), model };
                wildcard_targets.push(WildcardTarget { priority: t.priority, kind });
                continue;
            }
            let made: Vec<Arc<Endpoint>> = provider
                .accounts
                .iter()
                .enumerate()
                .map(|(i, account)| {
                    let old = old_endpoints.get(&(&*name, &*provider.name, &*account.name, t.model.as_str()));
                    maker.make(&name, provider, i, &model, old.copied())
                })
                .collect();
            endpoints.extend(made.iter().cloned());
            if wildcard_prefix.is_some() {
                wildcard_targets.push(WildcardTarget { priority: t.priority, kind: TargetKind::Fixed(made) });
            } else {
                tiers.entry(t.priority).or_default().extend(made);
            }
        }
        if let Some(prefix) = wildcard_prefix {
            wildcards.push(WildcardRoute {
                name,
                prefix: prefix.into(),
                strategy: r.strategy,
                targets: wildcard_targets,
            });
            continue;
        }
        let cursor = previous.and_then(|rt| rt.route(&r.name)).map(|old| old.cursor.clone()).unwrap_or_default();
        let entry = Arc::new(RouteEntry {
            name: name.clone(),
            strategy: r.strategy,
            tiers: tiers.into_values().collect(),
            cursor,
        });
        routes.insert(r.name.clone(), entry.clone());
        for alias in &r.aliases {
            routes.insert(alias.clone(), entry.clone());
        }
    }

    // Last, after everything fallible: re-rating a carried limiter changes shared state.
    let clock = previous.map_or_else(Clock::start, |rt| rt.clock);
    let mut listings = Listings::default();
    let keys = config
        .keys
        .iter()
        .map(|k| {
            let allowed_routes: Option<HashSet<Arc<str>>> = k.models.as_ref().map(|names| {
                let listed = names.iter().filter_map(|n| routes.get(n)).map(|r| r.name.clone());
                let wild = wildcards.iter().filter(|w| names.iter().any(|n| *n == *w.name)).map(|w| w.name.clone());
                listed.chain(wild).collect()
            });
            let models_json =
                listings.get(&config, &overlay.state.discovered_models, allowed_routes.as_ref(), k.allow_direct);
            let runtime = overlay.state.keys.get(&k.name);
            let entry = KeyEntry {
                name: k.name.as_str().into(),
                enabled: k.enabled,
                expires_unix: k.expires_unix,
                allowed_routes,
                allow_direct: k.allow_direct,
                models_json,
                over_budget: runtime.is_some_and(|r| r.over_budget()),
                budget_period: k.budget.as_ref().map(|b| b.period),
                rate_limit: key_limit(k, k.rpm.map(u64::from), runtime, previous, &clock, |old| &old.rate_limit),
                token_limit: key_limit(k, k.tpm, runtime, previous, &clock, |old| &old.token_limit),
                passthrough: k.passthrough.clone(),
            };
            (k.key_sha256, Arc::new(entry))
        })
        .collect();

    let default_route = config.settings.default_model.as_ref().and_then(|m| routes.get(m).cloned());
    let mut runtime = Runtime {
        hash: config_hash(&config),
        config,
        version,
        overlay,
        applied_at: Instant::now(),
        clock,
        keys,
        routes,
        providers,
        default_route,
        endpoints,
        wildcards,
        direct: DynamicRoutes::default(),
        matched: DynamicRoutes::default(),
        transitions: transitions.cloned(),
    };
    if let Some(previous) = previous {
        runtime.carry_unlisted(previous);
    }
    Ok(runtime)
}

/// The key's share on this node of `per_minute` (its `rpm` or `tpm`: `field`
/// picks the same limit in a [`KeyEntry`]); the limiter is the previous
/// Runtime's for the same key (name and hash), re-rated if the share changed.
fn key_limit(
    k: &ClientKey,
    per_minute: Option<u64>,
    runtime: Option<&KeyRuntime>,
    previous: Option<&Runtime>,
    clock: &Clock,
    field: impl Fn(&KeyEntry) -> &Option<KeyLimit>,
) -> Option<KeyLimit> {
    let rate = Rate::per_minute(per_minute?, runtime.map_or(1, |r| r.nodes));
    let old = previous.and_then(|rt| rt.key(&k.key_sha256)).filter(|old| *old.name == *k.name);
    Some(KeyLimit::carry(rate, old.and_then(|old| field(old).as_ref()), clock))
}

/// Whether the old provider's client can serve the new definition unchanged
/// (an unchanged HTTP/2 provider keeps its pool, connections included).
fn same_client(old: &ProviderEntry, new: &Provider, config: &Config) -> bool {
    let timeouts = new.timeout.resolve(&config.settings.timeout);
    old.client_settings == client_settings(new, &timeouts)
}

fn client_settings(p: &Provider, timeouts: &switchyard_proto::model::Timeouts) -> ClientSettings {
    ClientSettings {
        proxy: p.proxy.clone(),
        connect_timeout: timeouts.connect,
        http2_origin: p.http2.then(|| H2Pool::origin(&p.base_url)),
    }
}

fn build_client(p: &Provider, config: &Config) -> Result<Client, PrepareError> {
    let timeouts = p.timeout.resolve(&config.settings.timeout);
    let fail = |reason: String| PrepareError::Client { provider: p.name.clone(), reason };
    if p.http2 {
        // Validation refuses http2 with a proxy: the pool connects directly.
        return H2Pool::new(&p.base_url, timeouts.connect, POOL_IDLE_TIMEOUT).map(Client::Http2).map_err(fail);
    }
    let mut builder = reqwest::Client::builder()
        .http1_only()
        .connect_timeout(timeouts.connect)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false);
    builder = match &p.proxy {
        // The proxy URL may carry credentials: never put reqwest's message (which quotes it) in ours.
        Some(url) => builder.proxy(reqwest::Proxy::all(url.expose()).map_err(|_| fail("invalid proxy URL".into()))?),
        None => builder.no_proxy(),
    };
    builder.build().map(Client::Http1).map_err(|e| fail(e.to_string()))
}

fn provider_entry(p: &Provider, config: &Config, client: Client) -> Result<ProviderEntry, PrepareError> {
    let timeouts = p.timeout.resolve(&config.settings.timeout);
    let mut headers = HeaderMap::new();
    for (name, value) in &p.headers {
        // Validated already; a failure here would be a bug, so skip rather than panic.
        if let (Ok(n), Ok(mut v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value.expose())) {
            v.set_sensitive(true);
            headers.insert(n, v);
        }
    }
    let accounts = p
        .accounts
        .iter()
        .map(|a| {
            let bad = || PrepareError::BadKey { provider: p.name.clone(), account: a.name.clone() };
            let (name, value) = match p.kind {
                ProviderKind::Azure => (HeaderName::from_static("api-key"), a.api_key.expose().to_owned()),
                ProviderKind::Anthropic => (HeaderName::from_static("x-api-key"), a.api_key.expose().to_owned()),
                ProviderKind::Gemini => (HeaderName::from_static("x-goog-api-key"), a.api_key.expose().to_owned()),
                ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                    (http::header::AUTHORIZATION, format!("Bearer {}", a.api_key.expose()))
                }
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| bad())?;
            value.set_sensitive(true);
            Ok(AccountEntry {
                name: a.name.as_str().into(),
                enabled: a.enabled,
                weight: a.weight,
                auth: (name, value),
                secret: a.api_key.clone(),
                scrub: crate::upstream::scrub::Secret::new(a.api_key.expose()),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(ProviderEntry {
        name: p.name.as_str().into(),
        kind: p.kind,
        base_url: p.base_url.trim_end_matches('/').to_owned(),
        api_version: p.api_version.clone(),
        default_max_tokens: p.default_max_tokens,
        headers,
        client_settings: client_settings(p, &timeouts),
        timeouts,
        client_write: config.settings.limits.client_write_timeout,
        enabled: p.enabled,
        stream_usage: p.stream_usage,
        on_disconnect: p.on_disconnect,
        client,
        accounts,
    })
}
