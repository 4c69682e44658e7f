//! Making one [`Endpoint`], for the config's routes (at prepare) and for
//! routes made on request (direct calls, wildcard matches) alike: its
//! drained flag from the Runtime overlay, and the state of the endpoint it
//! replaces (counters, breaker, load) when that one served the same upstream.

use super::{AccountEntry, AccountRef, Endpoint, Overlay, ProviderEntry};
use crate::breaker::Breaker;
use crate::breaker::events::{EndpointId, Transitions};
use std::sync::Arc;

/// What every endpoint of one Runtime is made with.
#[derive(Clone, Copy)]
pub(super) struct Maker<'a> {
    pub overlay: &'a Overlay,
    /// Where new breakers report their transitions (control-plane mode).
    pub transitions: Option<&'a Arc<Transitions>>,
}

impl Maker<'_> {
    /// The endpoint for (`route`, the provider's `account`-th account,
    /// `model`), taking over `old`'s state when [`carries`] allows it.
    pub fn make(
        &self,
        route: &Arc<str>,
        provider: &Arc<ProviderEntry>,
        account: usize,
        model: &Arc<str>,
        old: Option<&Arc<Endpoint>>,
    ) -> Arc<Endpoint> {
        let a = &provider.accounts[account];
        let old = old.filter(|e| carries(e, provider, a));
        let breaker = match (old, self.transitions) {
            (Some(e), _) => e.breaker.clone(),
            (None, Some(sink)) => Breaker::observed(
                EndpointId {
                    route: route.clone(),
                    provider: provider.name.clone(),
                    account: a.name.clone(),
                    upstream_model: model.clone(),
                },
                sink.clone(),
            ),
            (None, None) => Breaker::new(format!("{}/{}/{model}", provider.name, a.name)),
        };
        Arc::new(Endpoint {
            route: route.clone(),
            provider: provider.clone(),
            account,
            upstream_model: model.clone(),
            weight: a.weight,
            drained: self
                .overlay
                .state
                .drained_accounts
                .contains(&AccountRef { provider: provider.name.to_string(), account: a.name.to_string() }),
            stats: old.map(|e| e.stats.clone()).unwrap_or_default(),
            breaker,
            load: old.map(|e| e.load.clone()).unwrap_or_default(),
        })
    }
}

/// Whether `old`'s state applies to the same endpoint on `provider`'s
/// `account`: a new key or URL is a new endpoint, and its old breaker (maybe
/// open on a bad key) does not apply.
fn carries(old: &Endpoint, provider: &ProviderEntry, account: &AccountEntry) -> bool {
    old.provider.name == provider.name
        && old.account().name == account.name
        && old.account().secret == account.secret
        && old.provider.base_url == provider.base_url
}
