//! The prepared form of a Config that requests read: indexes built once per
//! config (keys by SHA-256, routes by name and alias, providers by name) and
//! the providers with their upstream clients ([`crate::upstream::provider`]).
//! One `Arc<Runtime>` is loaded at the start of each request and used to its
//! end, so a swap never half-applies.
//!
//! Each key's limits are settled here too, from its config and its Runtime
//! overlay entry: whether it is over budget, and its share of `rpm` with a
//! limiter that carries over reloads like breakers do.
//!
//! Names the config does not list (direct calls, wildcard matches) get their
//! routes on request, kept in bounded caches that carry over too
//! ([`unlisted`], [`dynamic`]).

pub mod dynamic;
mod endpoint;
mod listing;
mod prepare;
pub mod unlisted;

pub(crate) use crate::upstream::provider::ClientSettings;
pub use crate::upstream::provider::{AccountEntry, ProviderEntry};
pub use prepare::{PrepareError, prepare};
pub use switchyard_proto::model::AccountRef;
pub use unlisted::WildcardRoute;

use crate::balance::{Candidate, Load, RouteCursor};
use crate::breaker::Breaker;
use crate::breaker::events::Transitions;
use crate::limit::{Clock, KeyLimit};
use crate::metrics::EndpointStats;
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use dynamic::DynamicRoutes;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use switchyard_proto::canonical::ContentHash;
use switchyard_proto::model::{BudgetPeriod, Config, KeyHash, Passthrough, RuntimeState, Strategy};
use tokio::time::Instant;

/// The swappable current runtime; `None` until a first config is held.
pub type RuntimeHandle = Arc<ArcSwapOption<Runtime>>;

pub struct Runtime {
    pub config: Arc<Config>,
    /// Grows by one per config applied (standalone) or is the control plane's revision.
    pub version: u64,
    pub hash: ContentHash,
    /// The Runtime resource (drained accounts, key budgets) this was built with.
    pub overlay: Arc<Overlay>,
    pub applied_at: Instant,
    /// Rate limiters' time origin: taken with the first Runtime, carried over.
    pub clock: Clock,
    keys: HashMap<KeyHash, Arc<KeyEntry>>,
    routes: HashMap<String, Arc<RouteEntry>>,
    providers: HashMap<String, Arc<ProviderEntry>>,
    pub default_route: Option<Arc<RouteEntry>>,
    /// Every endpoint of the config's routes; with [`Runtime::every_endpoint`],
    /// for /status and /metrics.
    pub endpoints: Vec<Arc<Endpoint>>,
    /// Routes whose name ends in `*`.
    wildcards: Vec<WildcardRoute>,
    /// Direct calls' routes, by requested name (bounded; carried over).
    direct: DynamicRoutes,
    /// Wildcard-matched routes, by requested name (bounded; carried over).
    matched: DynamicRoutes,
    /// Where breakers made on request report their transitions.
    transitions: Option<Arc<Transitions>>,
}

impl Runtime {
    pub fn key(&self, hash: &KeyHash) -> Option<&Arc<KeyEntry>> {
        self.keys.get(hash)
    }

    /// Every client key, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<KeyEntry>> {
        self.keys.values()
    }

    /// A public model name or alias.
    pub fn route(&self, name: &str) -> Option<&Arc<RouteEntry>> {
        self.routes.get(name)
    }

    pub fn provider(&self, name: &str) -> Option<&Arc<ProviderEntry>> {
        self.providers.get(name)
    }

    /// Every endpoint: the config's routes' and those made on request for
    /// direct calls and wildcard matches.
    pub fn every_endpoint(&self) -> Vec<Arc<Endpoint>> {
        self.endpoints.iter().cloned().chain(self.unlisted_endpoints()).collect()
    }
}

/// The Runtime resource and its version (0 and empty in standalone mode).
#[derive(Debug, Default)]
pub struct Overlay {
    pub version: u64,
    pub hash: Option<ContentHash>,
    pub state: RuntimeState,
}

pub struct KeyEntry {
    pub name: Arc<str>,
    pub enabled: bool,
    pub expires_unix: Option<i64>,
    /// Route names this key may use (wildcard routes by their own name,
    /// `gpt-*`); `None` = all.
    pub allowed_routes: Option<HashSet<Arc<str>>>,
    pub allow_direct: bool,
    /// `GET /v1/models` for this key, rendered once.
    pub models_json: Bytes,
    /// Its Runtime entry says the budget for the period is used up.
    pub over_budget: bool,
    /// The budget's period, for the refusal's message.
    pub budget_period: Option<BudgetPeriod>,
    /// This node's share of its `rpm`, with the limiter; `None` = unlimited.
    pub rate_limit: Option<KeyLimit>,
    /// This node's share of its `tpm`, with the limiter; `None` = unlimited.
    pub token_limit: Option<KeyLimit>,
    /// Passthrough paths opened beside the model endpoints; `None` = none.
    pub passthrough: Option<Passthrough>,
}

impl KeyEntry {
    pub fn may_use(&self, route: &RouteEntry) -> bool {
        self.may_use_name(&route.name)
    }

    /// Whether the allowlist has this route name (a wildcard route's is `gpt-*`).
    pub fn may_use_name(&self, route: &str) -> bool {
        self.allowed_routes.as_ref().is_none_or(|allowed| allowed.contains(route))
    }
}

pub struct RouteEntry {
    pub name: Arc<str>,
    pub strategy: Strategy,
    /// Endpoints grouped by priority, lowest first.
    pub tiers: Vec<Vec<Arc<Endpoint>>>,
    /// Round-robin position; carried over reloads.
    pub cursor: Arc<RouteCursor>,
}

/// One (target, account) pair.
pub struct Endpoint {
    pub route: Arc<str>,
    pub provider: Arc<ProviderEntry>,
    pub account: usize,
    pub upstream_model: Arc<str>,
    pub weight: u32,
    /// Its account's balance is at zero (Runtime overlay): out of rotation.
    pub drained: bool,
    /// State that survives a reload while the endpoint is unchanged.
    pub stats: Arc<EndpointStats>,
    pub breaker: Arc<Breaker>,
    pub load: Arc<Load>,
}

impl Candidate for Arc<Endpoint> {
    fn weight(&self) -> u32 {
        self.weight
    }

    fn load(&self) -> &Load {
        &self.load
    }
}

impl Endpoint {
    pub fn account(&self) -> &AccountEntry {
        &self.provider.accounts[self.account]
    }

    /// Whether it may take traffic (provider and account enabled).
    pub fn enabled(&self) -> bool {
        self.provider.enabled && self.account().enabled && !self.drained
    }
}
