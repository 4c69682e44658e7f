//! Routes made on request, for names no route of the config lists (direct
//! calls, wildcard matches), kept so that their endpoints' state persists
//! between requests: breakers open and stay open, balancing learns,
//! `/status` and `/metrics` show them.
//!
//! Bounded, because a client can send any number of distinct names: the map
//! is split into [`SHARDS`] shards by the name's hash, each holding at most
//! `per_shard` routes; inserting into a full shard evicts its least recently
//! used route, whose counters, breaker and latency estimate are forgotten
//! (a later request for that name starts afresh, and its series leave
//! `/metrics`). Hence "least recently used" is per shard, an approximation
//! of the whole map's.
//!
//! Reads are lock-free: each shard is an `ArcSwap` snapshot of an immutable
//! map, so a hit is one snapshot load, one hash lookup and one relaxed
//! atomic store (the entry's recency). A miss copies its shard (at most
//! `per_shard` entries) with the new route in, and publishes it with a
//! compare-and-swap; a lost race retries on the new snapshot (and finds the
//! winner's route when it was the same name), at most [`CAS_TRIES`] times,
//! after which the route serves this request uncached. No lock, no await.
//! Why not a concurrent map crate: the workspace already builds on
//! `arc-swap` snapshots, the shards are small (a copy is a few dozen
//! pointer clones), and the one thing a miss must not do, block a request
//! behind another, holds here without a new dependency.

use super::{Endpoint, RouteEntry};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Shards of one map.
pub const SHARDS: usize = 8;
/// Routes per shard in a running data plane: [`SHARDS`] * 64 = 512 names
/// of each kind (direct calls, wildcard matches).
pub const PER_SHARD: usize = 64;
/// Compare-and-swap attempts of one insert before it gives up caching.
const CAS_TRIES: usize = 8;

/// One cached route and the endpoints made for it.
pub struct Cached {
    pub route: Arc<RouteEntry>,
    /// The endpoints made for this route alone (a wildcard route's fixed
    /// targets are the config's endpoints, shown with those).
    pub own: Box<[Arc<Endpoint>]>,
    /// Recency: the shard's tick at the last use.
    used: AtomicU64,
}

impl Cached {
    pub fn new(route: Arc<RouteEntry>, own: Vec<Arc<Endpoint>>) -> Cached {
        Cached { route, own: own.into_boxed_slice(), used: AtomicU64::new(0) }
    }
}

type Map = HashMap<Arc<str>, Arc<Cached>>;

struct Shard {
    map: ArcSwap<Map>,
    tick: AtomicU64,
}

impl Shard {
    fn new(map: Map, tick: u64) -> Shard {
        Shard { map: ArcSwap::from_pointee(map), tick: AtomicU64::new(tick) }
    }

    fn touch(&self, cached: &Cached) {
        cached.used.store(self.tick.fetch_add(1, Relaxed), Relaxed);
    }
}

pub struct DynamicRoutes {
    shards: Box<[Shard]>,
    per_shard: usize,
    hasher: RandomState,
}

impl Default for DynamicRoutes {
    fn default() -> Self {
        Self::new(PER_SHARD)
    }
}

impl DynamicRoutes {
    pub fn new(per_shard: usize) -> DynamicRoutes {
        DynamicRoutes {
            shards: (0..SHARDS).map(|_| Shard::new(Map::new(), 0)).collect(),
            per_shard: per_shard.max(1),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, name: &str) -> &Shard {
        &self.shards[(self.hasher.hash_one(name) % SHARDS as u64) as usize]
    }

    /// The route cached for `name`, else the one `make` makes, cached.
    pub fn get_or_make(&self, name: &str, make: impl FnOnce() -> Cached) -> Arc<RouteEntry> {
        let shard = self.shard(name);
        if let Some(cached) = shard.map.load().get(name) {
            shard.touch(cached);
            return cached.route.clone();
        }
        let fresh = Arc::new(make());
        shard.touch(&fresh);
        for _ in 0..CAS_TRIES {
            let current = shard.map.load_full();
            if let Some(cached) = current.get(name) {
                // Another request made it meanwhile: one route per name.
                shard.touch(cached);
                return cached.route.clone();
            }
            let mut next: Map = HashMap::with_capacity(current.len() + 1);
            next.extend(current.iter().map(|(k, v)| (k.clone(), v.clone())));
            if next.len() >= self.per_shard {
                let oldest = next.iter().min_by_key(|(_, v)| v.used.load(Relaxed)).map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    next.remove(&oldest);
                }
            }
            next.insert(name.into(), fresh.clone());
            let previous = shard.map.compare_and_swap(&current, Arc::new(next));
            if Arc::ptr_eq(&previous, &current) {
                return fresh.route.clone();
            }
        }
        fresh.route.clone()
    }

    /// The same names, each remade by `remake` (for a new Runtime, from its
    /// old route and endpoints) or dropped when it gives `None`; recency
    /// and the shards' hashing carry over.
    pub fn remade(&self, mut remake: impl FnMut(&str, &Cached) -> Option<Cached>) -> DynamicRoutes {
        let shards = self
            .shards
            .iter()
            .map(|shard| {
                let map: Map = shard
                    .map
                    .load()
                    .iter()
                    .filter_map(|(name, old)| {
                        let new = remake(name, old)?;
                        new.used.store(old.used.load(Relaxed), Relaxed);
                        Some((name.clone(), Arc::new(new)))
                    })
                    .collect();
                Shard::new(map, shard.tick.load(Relaxed))
            })
            .collect();
        DynamicRoutes { shards, per_shard: self.per_shard, hasher: self.hasher.clone() }
    }

    /// Every endpoint made for a cached route.
    pub fn endpoints(&self) -> impl Iterator<Item = Arc<Endpoint>> + '_ {
        self.shards.iter().flat_map(|shard| {
            let map = shard.map.load_full();
            let own: Vec<Arc<Endpoint>> = map.values().flat_map(|c| c.own.iter().cloned()).collect();
            own
        })
    }

    /// How many routes are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.map.load().len()).sum()
    }

    /// Whether `name` is cached.
    #[cfg(test)]
    fn contains(&self, name: &str) -> bool {
        self.shard(name).map.load().contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::RouteCursor;
    use switchyard_proto::model::Strategy;

    fn route(name: &str) -> Cached {
        let route = RouteEntry {
            name: name.into(),
            strategy: Strategy::P2c,
            tiers: Vec::new(),
            cursor: Arc::new(RouteCursor::default()),
        };
        Cached::new(Arc::new(route), Vec::new())
    }

    #[test]
    fn a_name_is_made_once_then_served_from_the_cache() {
        let cache = DynamicRoutes::new(4);
        let mut made = 0;
        let first = cache.get_or_make("openai:gpt-4o", || {
            made += 1;
            route("openai:gpt-4o")
        });
        let again = cache.get_or_make("openai:gpt-4o", || {
            made += 1;
            route("openai:gpt-4o")
        });
        assert_eq!(made, 1);
        assert!(Arc::ptr_eq(&first, &again), "the same route, state and all");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_bound_holds_and_the_least_recently_used_goes() {
        let per_shard = 3;
        let cache = DynamicRoutes::new(per_shard);
        for i in 0..10_000 {
            let name = format!("m-{i}");
            cache.get_or_make(&name, || route(&name));
            assert!(cache.len() <= SHARDS * per_shard);
        }
        assert_eq!(cache.len(), SHARDS * per_shard, "every shard full");

        // Names that share one shard: keep using the first, add more; the first stays.
        let shard = |name: &str| cache.hasher.hash_one(name) % SHARDS as u64;
        let cache = DynamicRoutes { hasher: cache.hasher.clone(), ..DynamicRoutes::new(per_shard) };
        let same: Vec<String> =
            (0..).map(|i| format!("s-{i}")).filter(|n| shard(n) == shard("s-0")).take(per_shard + 2).collect();
        for name in &same[..per_shard] {
            cache.get_or_make(name, || route(name));
        }
        cache.get_or_make(&same[0], || unreachable!("cached"));
        cache.get_or_make(&same[per_shard], || route(&same[per_shard]));
        assert!(cache.contains(&same[0]), "used last but one: kept");
        assert!(!cache.contains(&same[1]), "the least recently used was evicted");
        assert!(cache.contains(&same[per_shard]));
        assert_eq!(cache.len(), per_shard);
    }

    #[test]
    fn remade_keeps_names_recency_and_drops_what_no_longer_resolves() {
        let cache = DynamicRoutes::new(8);
        for name in ["a", "b", "c"] {
            cache.get_or_make(name, || route(name));
        }
        let remade = cache.remade(|name, old| (name != "b").then(|| Cached::new(old.route.clone(), Vec::new())));
        assert_eq!(remade.len(), 2);
        assert!(remade.contains("a") && remade.contains("c") && !remade.contains("b"));
        let before = cache.get_or_make("a", || unreachable!());
        let after = remade.get_or_make("a", || unreachable!("carried over"));
        assert!(Arc::ptr_eq(&before, &after));
    }

    #[test]
    fn concurrent_misses_of_one_name_agree_on_one_route() {
        let cache = Arc::new(DynamicRoutes::new(64));
        let routes: Vec<Arc<RouteEntry>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| cache.get_or_make("x", || route("x")))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let cached = cache.get_or_make("x", || unreachable!());
        // A lost race retries and finds the winner's route.
        assert!(routes.iter().all(|r| Arc::ptr_eq(r, &cached)));
        assert_eq!(cache.len(), 1);
    }
}
