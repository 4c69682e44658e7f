//! Model resolution, in DESIGN.md's order: a public name or alias; for keys
//! with `allow_direct`, `provider:model` or `provider/model`; empty or `auto`
//! for the default model. Then the key's allowlist.

use crate::balance::RouteCursor;
use crate::breaker::Breaker;
use crate::error::ProxyError;
use crate::runtime::{Endpoint, KeyEntry, ProviderEntry, RouteEntry, Runtime};
use std::sync::Arc;
use switchyard_proto::model::Strategy;

pub fn resolve(rt: &Runtime, key: &KeyEntry, requested: Option<&str>) -> Result<Arc<RouteEntry>, ProxyError> {
    let requested = requested.map(str::trim).filter(|m| !m.is_empty() && *m != "auto");
    let route = match requested {
        None => rt.default_route.clone().ok_or(ProxyError::NoModel)?,
        Some(name) => match rt.route(name) {
            Some(route) => route.clone(),
            None => return direct(rt, key, name),
        },
    };
    if !key.may_use(&route) {
        return Err(ProxyError::ModelNotAllowed(requested.unwrap_or(&route.name).to_owned()));
    }
    Ok(route)
}

/// `provider:model` / `provider/model`: only for `allow_direct` keys, only
/// when the prefix names a provider; otherwise the name is just unknown. The
/// route holds one endpoint per enabled account of the provider.
fn direct(rt: &Runtime, key: &KeyEntry, name: &str) -> Result<Arc<RouteEntry>, ProxyError> {
    let not_found = || ProxyError::ModelNotFound(name.to_owned());
    if !key.allow_direct {
        return Err(not_found());
    }
    let split = name.find([':', '/']).ok_or_else(not_found)?;
    let (prefix, model) = (&name[..split], &name[split + 1..]);
    let provider = rt.provider(prefix).filter(|_| !model.is_empty()).ok_or_else(not_found)?;
    Ok(Arc::new(direct_route(provider, name, model)))
}

fn direct_route(provider: &Arc<ProviderEntry>, name: &str, model: &str) -> RouteEntry {
    let route: Arc<str> = name.into();
    let endpoints = (0..provider.accounts.len())
        .map(|account| {
            Arc::new(Endpoint {
                route: route.clone(),
                provider: provider.clone(),
                account,
                upstream_model: model.into(),
                weight: provider.accounts[account].weight,
                drained: false,
                stats: Default::default(),
                breaker: Breaker::new(format!("{}/{}/{model}", provider.name, provider.accounts[account].name)),
                load: Default::default(),
            })
        })
        .collect();
    RouteEntry {
        name: route,
        strategy: Strategy::P2c,
        tiers: vec![endpoints],
        cursor: Arc::new(RouteCursor::default()),
    }
}
