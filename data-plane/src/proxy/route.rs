//! Model resolution, in DESIGN.md's order: a public name or alias; for keys
//! with `allow_direct`, `provider:model` or `provider/model`; empty or `auto`
//! for the default model. Then the key's allowlist.

use crate::error::ProxyError;
use crate::metrics::EndpointStats;
use crate::runtime::{Endpoint, KeyEntry, ProviderEntry, RouteEntry, Runtime};
use std::sync::Arc;
use switchyard_proto::model::Strategy;

/// Where a request goes: a route's endpoints, or one provider directly.
pub enum Resolved {
    Route(Arc<RouteEntry>),
    Direct { provider: Arc<ProviderEntry>, model: String },
}

pub fn resolve(rt: &Runtime, key: &KeyEntry, requested: Option<&str>) -> Result<Resolved, ProxyError> {
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
    Ok(Resolved::Route(route))
}

/// `provider:model` / `provider/model`: only for `allow_direct` keys, only
/// when the prefix names a provider; otherwise the name is just unknown.
fn direct(rt: &Runtime, key: &KeyEntry, name: &str) -> Result<Resolved, ProxyError> {
    let not_found = || ProxyError::ModelNotFound(name.to_owned());
    if !key.allow_direct {
        return Err(not_found());
    }
    let split = name.find([':', '/']).ok_or_else(not_found)?;
    let (prefix, model) = (&name[..split], &name[split + 1..]);
    let provider = rt.provider(prefix).filter(|_| !model.is_empty()).ok_or_else(not_found)?;
    Ok(Resolved::Direct { provider: provider.clone(), model: model.to_owned() })
}

impl Resolved {
    /// The endpoint to try: the lowest priority tier with an enabled endpoint,
    /// then a weighted pick inside it.
    pub fn pick(&self) -> Option<Arc<Endpoint>> {
        match self {
            Resolved::Route(route) => {
                let tier = route.tiers.iter().find(|tier| tier.iter().any(|e| e.enabled()))?;
                pick_weighted(tier, route.strategy)
            }
            Resolved::Direct { provider, model } => {
                if !provider.enabled {
                    return None;
                }
                let choices: Vec<(usize, u32)> = provider
                    .accounts
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.enabled)
                    .map(|(i, a)| (i, a.weight))
                    .collect();
                let account = weighted(&choices)?;
                Some(Arc::new(Endpoint {
                    route: format!("{}:{model}", provider.name).into(),
                    provider: provider.clone(),
                    account,
                    upstream_model: model.as_str().into(),
                    weight: 1,
                    stats: Arc::new(EndpointStats::default()),
                }))
            }
        }
    }

    pub fn name(&self) -> String {
        match self {
            Resolved::Route(r) => r.name.to_string(),
            Resolved::Direct { provider, model } => format!("{}:{model}", provider.name),
        }
    }
}

fn pick_weighted(tier: &[Arc<Endpoint>], _strategy: Strategy) -> Option<Arc<Endpoint>> {
    let choices: Vec<(usize, u32)> =
        tier.iter().enumerate().filter(|(_, e)| e.enabled()).map(|(i, e)| (i, e.weight)).collect();
    weighted(&choices).map(|i| tier[i].clone())
}

/// A random index, each with probability proportional to its weight.
fn weighted(choices: &[(usize, u32)]) -> Option<usize> {
    let total: u64 = choices.iter().map(|(_, w)| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut point = fastrand::u64(0..total);
    for (i, w) in choices {
        if point < u64::from(*w) {
            return Some(*i);
        }
        point -= u64::from(*w);
    }
    None
}
