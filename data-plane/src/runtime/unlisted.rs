//! Routes for requested names that no route or alias of the config lists,
//! made on the first request for a name and kept in the Runtime's bounded
//! caches ([`DynamicRoutes`]) so their endpoints keep their state:
//!
//! * **direct calls** (`provider:model`, `provider/model`; the resolver
//!   allows them for keys with `allow_direct`): one endpoint per account of
//!   the provider, balanced by P2C;
//! * **wildcard matches**: the most specific wildcard route
//!   ([`switchyard_proto::model::wildcard`]); its pattern targets get one
//!   endpoint per account for the requested name, its fixed targets are the
//!   config's own endpoints (labelled with the wildcard route's name).
//!
//! Endpoints made here are labelled with the requested name: that is their
//! `model` in `/status` and `/metrics`, and the usage record's route. A
//! drained account's endpoint is out of rotation, as in any route.
//!
//! On a reload every cached name is made again for the new Runtime (new
//! provider entries, drained flags from the new overlay), taking over the
//! state of its old endpoints where they serve the same upstream; a name
//! that no longer resolves that way (an exact route now has it, its provider
//! or wildcard route is gone) is dropped. A request still holding the old
//! Runtime may cache a name in the old map after that copy: its state is
//! then made afresh on the next request.

use super::dynamic::Cached;
use super::endpoint::Maker;
use super::{Endpoint, ProviderEntry, RouteEntry, Runtime};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchyard_proto::model::{Strategy, wildcard};

/// Longer requested names are never made a route of (neither direct nor
/// wildcard, so they are unknown models): the cache keeps names, and the
/// config's own names are at most this long.
pub const MAX_NAME: usize = 256;

/// A route whose name ends in `*`, as prepared.
pub struct WildcardRoute {
    /// As written, e.g. `gpt-*`: what a key's `models` names.
    pub name: Arc<str>,
    /// The name without its `*`.
    pub(super) prefix: Box<str>,
    pub(super) strategy: Strategy,
    pub(super) targets: Vec<WildcardTarget>,
}

pub(super) struct WildcardTarget {
    pub priority: u32,
    pub kind: TargetKind,
}

pub(super) enum TargetKind {
    /// A fixed upstream model: the config's endpoints, one per account.
    Fixed(Vec<Arc<Endpoint>>),
    /// `prefix*`: endpoints per requested name, made on request.
    Pattern { provider: Arc<ProviderEntry>, model: Arc<str> },
}

impl Runtime {
    pub(super) fn maker(&self) -> Maker<'_> {
        Maker { overlay: &self.overlay, transitions: self.transitions.as_ref() }
    }

    /// A direct call's route: `name` is `provider:model` or `provider/model`
    /// and its prefix names a provider. The caller checks `allow_direct`.
    pub fn direct_route(&self, name: &str) -> Option<Arc<RouteEntry>> {
        let (provider, model) = self.direct_target(name)?;
        Some(self.direct.get_or_make(name, || self.make_direct(name, provider, model, None)))
    }

    /// The wildcard route that serves `name` (a name no route or alias
    /// lists): the most specific one matching, and what its `*` matched.
    pub fn wildcard<'n>(&self, name: &'n str) -> Option<(&WildcardRoute, &'n str)> {
        if name.len() > MAX_NAME {
            return None;
        }
        wildcard::best(self.wildcards.iter().map(|w| (&*w.prefix, w)), name)
    }

    /// `name`'s route through `wild`, which [`Runtime::wildcard`] gave for it
    /// (the caller checks the key's allowlist first).
    pub fn wildcard_route(&self, name: &str, wild: &WildcardRoute, matched: &str) -> Arc<RouteEntry> {
        self.matched.get_or_make(name, || self.make_matched(name, wild, matched, None))
    }

    /// Every endpoint made for a direct call or a wildcard match now cached.
    pub fn unlisted_endpoints(&self) -> impl Iterator<Item = Arc<Endpoint>> + '_ {
        self.direct.endpoints().chain(self.matched.endpoints())
    }

    pub fn direct_target<'n>(&self, name: &'n str) -> Option<(&Arc<ProviderEntry>, &'n str)> {
        if name.len() > MAX_NAME {
            return None;
        }
        let split = name.find([':', '/'])?;
        let (prefix, model) = (&name[..split], &name[split + 1..]);
        self.provider(prefix).filter(|_| !model.is_empty()).map(|p| (p, model))
    }

    fn make_direct(&self, name: &str, provider: &Arc<ProviderEntry>, model: &str, old: Option<&Cached>) -> Cached {
        let route: Arc<str> = name.into();
        let model: Arc<str> = model.into();
        let own: Vec<Arc<Endpoint>> = (0..provider.accounts.len())
            .map(|i| self.maker().make(&route, provider, i, &model, old_endpoint(old, provider, i, &model)))
            .collect();
        let entry = RouteEntry {
            name: route,
            strategy: Strategy::P2c,
            tiers: vec![own.clone()],
            cursor: old.map(|o| o.route.cursor.clone()).unwrap_or_default(),
        };
        Cached::new(Arc::new(entry), own)
    }

    fn make_matched(&self, name: &str, wild: &WildcardRoute, matched: &str, old: Option<&Cached>) -> Cached {
        let route: Arc<str> = name.into();
        let mut tiers: BTreeMap<u32, Vec<Arc<Endpoint>>> = BTreeMap::new();
        let mut own = Vec::new();
        for t in &wild.targets {
            match &t.kind {
                TargetKind::Fixed(endpoints) => tiers.entry(t.priority).or_default().extend(endpoints.iter().cloned()),
                TargetKind::Pattern { provider, model } => {
                    let upstream: Arc<str> = wildcard::upstream(model, matched).into();
                    for i in 0..provider.accounts.len() {
                        let old = old_endpoint(old, provider, i, &upstream);
                        let endpoint = self.maker().make(&route, provider, i, &upstream, old);
                        own.push(endpoint.clone());
                        tiers.entry(t.priority).or_default().push(endpoint);
                    }
                }
            }
        }
        let entry = RouteEntry {
            name: route,
            strategy: wild.strategy,
            tiers: tiers.into_values().collect(),
            cursor: old.map(|o| o.route.cursor.clone()).unwrap_or_default(),
        };
        Cached::new(Arc::new(entry), own)
    }

    /// This Runtime's caches, made from `previous`'s names (see the module doc).
    pub(super) fn carry_unlisted(&mut self, previous: &Runtime) {
        let direct = previous.direct.remade(|name, old| {
            let (provider, model) = self.direct_target(name).filter(|_| self.route(name).is_none())?;
            Some(self.make_direct(name, provider, model, Some(old)))
        });
        let matched = previous.matched.remade(|name, old| {
            let (wild, rest) = self.wildcard(name).filter(|_| self.route(name).is_none())?;
            Some(self.make_matched(name, wild, rest, Some(old)))
        });
        self.direct = direct;
        self.matched = matched;
    }
}

/// The endpoint `old` had for the provider's `account`-th account and `model`.
fn old_endpoint<'a>(
    old: Option<&'a Cached>,
    provider: &ProviderEntry,
    account: usize,
    model: &str,
) -> Option<&'a Arc<Endpoint>> {
    let name = &provider.accounts[account].name;
    old?.own
        .iter()
        .find(|e| e.provider.name == provider.name && e.account().name == *name && *e.upstream_model == *model)
}
