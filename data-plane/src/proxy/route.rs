//! Model resolution, in DESIGN.md's order: a public name or alias; for keys
//! with `allow_direct`, `provider:model` or `provider/model`; then the most
//! specific wildcard route (`gpt-*`, `*`) matching the name; empty or `auto`
//! for the default model. Then the key's allowlist (a wildcard route is
//! allowed by its own name). Direct calls come before wildcards so that a
//! catch-all `*` does not hide them from the keys allowed to make them.

use crate::error::ProxyError;
use crate::runtime::{KeyEntry, RouteEntry, Runtime};
use std::sync::Arc;

pub fn resolve(rt: &Runtime, key: &KeyEntry, requested: Option<&str>) -> Result<Arc<RouteEntry>, ProxyError> {
    let requested = requested.map(str::trim).filter(|m| !m.is_empty() && *m != "auto");
    let route = match requested {
        None => rt.default_route.clone().ok_or(ProxyError::NoModel)?,
        Some(name) => match rt.route(name) {
            Some(route) => route.clone(),
            None => return unlisted(rt, key, name),
        },
    };
    if !key.may_use(&route) {
        return Err(ProxyError::ModelNotAllowed(requested.unwrap_or(&route.name).to_owned()));
    }
    Ok(route)
}

/// Who serves `name` for `key`, as `GET /v1/models/{id}` says it
/// (`switchyard` for routes, the provider for a direct call), resolved in the
/// same order as [`resolve`] but making nothing; `None`: not a model this key may use.
pub fn owner<'a>(rt: &'a Runtime, key: &KeyEntry, name: &str) -> Option<&'a str> {
    if let Some(route) = rt.route(name) {
        return key.may_use(route).then_some("switchyard");
    }
    if key.allow_direct
        && let Some((provider, _)) = rt.direct_target(name)
    {
        return Some(&provider.name);
    }
    let (wild, _) = rt.wildcard(name)?;
    key.may_use_name(&wild.name).then_some("switchyard")
}

/// A name no route or alias lists. `provider:model` / `provider/model` is a
/// direct call for `allow_direct` keys when the prefix names a provider;
/// otherwise a wildcard route may serve it; otherwise it is unknown. Both
/// kinds of route persist across requests (see `runtime::unlisted`).
fn unlisted(rt: &Runtime, key: &KeyEntry, name: &str) -> Result<Arc<RouteEntry>, ProxyError> {
    if key.allow_direct
        && let Some(route) = rt.direct_route(name)
    {
        return Ok(route);
    }
    let (wild, matched) = rt.wildcard(name).ok_or_else(|| ProxyError::ModelNotFound(name.to_owned()))?;
    // Before the route is made: a key that may not use it adds nothing to the cache.
    if !key.may_use_name(&wild.name) {
        return Err(ProxyError::ModelNotAllowed(name.to_owned()));
    }
    Ok(rt.wildcard_route(name, wild, matched))
}
