//! What a usage record cost: the serving target's price in the Config the
//! request was served from (the record's `config_version`).
//!
//! Every Config write whose prices differ from the last stored ones stores
//! the new [`Pricing`] (routes, aliases, targets and their prices; nothing
//! secret) under its revision (`price_history`, see `store::prices`). A record is priced with
//! the newest pricing at or before its `config_version`; with the current
//! Config's when its version is at or past the current pricing's (the usual
//! case, no lookup), or when no stored pricing is that old (a database from
//! before the history).
//!
//! The price is the serving target's: the route the record names (by name
//! or alias) and, in it, the target with the record's provider and upstream
//! model; that target's own price, else the route's. A record whose target
//! is no longer in its route takes the route's price. A record whose route
//! is a name no route or alias lists, served by a wildcard route (`gpt-*`:
//! the record names the requested model), takes the price of the most
//! specific wildcard route matching it, through the target with its provider
//! that gives its upstream model (own price first); when none does, it is
//! priced as a direct call. A direct call
//! (`provider:model`) or a record whose route is gone takes the price of a
//! route target with the same provider and upstream model, if any (own price
//! first). Otherwise the record is unpriced (cost 0, currency "").
//!
//! Cost, in integer micro-units of the price's currency, rounded half up per
//! record: uncached prompt tokens at `input_per_mtok`, cached prompt tokens
//! (part of the prompt count) at `cached_input_per_mtok` when set, else at
//! the input price; completion tokens (which include reasoning tokens) at
//! `output_per_mtok`. A missing component costs nothing.

use crate::store::Pricing;
use std::collections::HashMap;
use switchyard_proto::model::{Price, wildcard};
use switchyard_proto::pb::UsageRecord;

/// Lookups built once per pricing.
#[derive(Debug, Default)]
pub struct PriceIndex {
    /// Route name or alias -> index into `route_prices`.
    routes: HashMap<String, usize>,
    /// Each route's own price.
    route_prices: Vec<Option<Price>>,
    /// (route index, provider, upstream model) -> the target's effective price.
    targets: HashMap<(usize, String, String), Option<Price>>,
    /// (provider, upstream model) -> a price some route gives that target.
    direct: HashMap<(String, String), Price>,
    /// Wildcard routes: their literal prefix and targets.
    wildcards: Vec<WildcardPrices>,
}

#[derive(Debug)]
struct WildcardPrices {
    prefix: String,
    /// (provider, target model as written, the target's effective price).
    targets: Vec<(String, String, Option<Price>)>,
}

impl PriceIndex {
    pub fn new(pricing: &Pricing) -> Self {
        let mut index = PriceIndex::default();
        let mut fallback: HashMap<(String, String), Price> = HashMap::new();
        for (i, route) in pricing.routes.iter().enumerate() {
            index.routes.insert(route.name.clone(), i);
            for alias in &route.aliases {
                index.routes.entry(alias.clone()).or_insert(i);
            }
            let route_price = route.price.as_ref().map(Price::from);
            if let Some(prefix) = wildcard::prefix(&route.name) {
                let targets = route
                    .targets
                    .iter()
                    .map(|t| {
                        let price = t.price.as_ref().map(Price::from).or_else(|| route_price.clone());
                        (t.provider.clone(), t.model.clone(), price)
                    })
                    .collect();
                index.wildcards.push(WildcardPrices { prefix: prefix.to_owned(), targets });
            }
            for target in &route.targets {
                let own = target.price.as_ref().map(Price::from);
                let price = own.clone().or_else(|| route_price.clone());
                let key = (target.provider.clone(), target.model.clone());
                if let Some(own) = own {
                    index.direct.entry(key.clone()).or_insert(own);
                }
                if let Some(p) = &price {
                    fallback.entry(key).or_insert_with(|| p.clone());
                }
                index.targets.entry((i, target.provider.clone(), target.model.clone())).or_insert(price);
            }
            index.route_prices.push(route_price);
        }
        for (key, price) in fallback {
            index.direct.entry(key).or_insert(price);
        }
        index
    }

    /// The price the record's request was served at, if any.
    pub fn price_of(&self, r: &UsageRecord) -> Option<&Price> {
        if let Some(&i) = self.routes.get(&r.route) {
            let key = (i, r.provider.clone(), r.upstream_model.clone());
            return match self.targets.get(&key) {
                Some(price) => price.as_ref(),
                None => self.route_prices.get(i).and_then(Option::as_ref),
            };
        }
        let wild = wildcard::best(self.wildcards.iter().map(|w| (w.prefix.as_str(), w)), &r.route);
        if let Some((w, matched)) = wild {
            let serving = w.targets.iter().find(|(provider, model, _)| {
                *provider == r.provider && wildcard::upstream(model, matched) == r.upstream_model.as_str()
            });
            if let Some((_, _, price)) = serving {
                return price.as_ref();
            }
        }
        self.direct.get(&(r.provider.clone(), r.upstream_model.clone()))
    }
}

/// The record's cost at `price`, in micro-units of its currency.
pub fn cost(price: &Price, r: &UsageRecord) -> i64 {
    let cached = r.cached_tokens.min(r.prompt_tokens);
    let uncached = r.prompt_tokens - cached;
    let input = i128::from(price.input_per_mtok_micros.unwrap_or(0));
    let cached_price = price.cached_input_per_mtok_micros.map_or(input, i128::from);
    let output = i128::from(price.output_per_mtok_micros.unwrap_or(0));
    let total =
        i128::from(uncached) * input + i128::from(cached) * cached_price + i128::from(r.completion_tokens) * output;
    let micros = (total + 500_000).div_euclid(1_000_000);
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(input: i64, output: i64, cached: Option<i64>) -> Price {
        Price {
            currency: "USD".into(),
            input_per_mtok_micros: Some(input),
            output_per_mtok_micros: Some(output),
            cached_input_per_mtok_micros: cached,
        }
    }

    #[test]
    fn cached_tokens_are_priced_apart_and_reasoning_as_completion() {
        let r = UsageRecord {
            prompt_tokens: 1_000_000,
            cached_tokens: 400_000,
            completion_tokens: 500_000,
            reasoning_tokens: 200_000,
            ..Default::default()
        };
        assert_eq!(cost(&price(1_000_000, 2_000_000, Some(500_000)), &r), 600_000 + 200_000 + 1_000_000);
        assert_eq!(cost(&price(1_000_000, 2_000_000, None), &r), 1_000_000 + 1_000_000);
        // Rounded half up per record: 3 tokens at 0.15/M is 0.45 micro-units.
        let small = UsageRecord { prompt_tokens: 3, ..Default::default() };
        assert_eq!(cost(&price(150_000, 0, None), &small), 0);
        let small = UsageRecord { prompt_tokens: 10, ..Default::default() };
        assert_eq!(cost(&price(150_000, 0, None), &small), 2);
    }

    fn input_cost(input: i64) -> Option<crate::store::Cost> {
        Some(crate::store::Cost { currency: "USD".into(), input: Some(input), output: None, cached_input: None })
    }

    fn target(provider: &str, model: &str, price: Option<crate::store::Cost>) -> crate::store::TargetPricing {
        crate::store::TargetPricing { provider: provider.into(), model: model.into(), price }
    }

    #[test]
    fn wildcard_matches_take_the_most_specific_wildcard_routes_price() {
        use crate::store::RoutePricing;
        let route = |name: &str, price, targets| RoutePricing { name: name.into(), aliases: vec![], price, targets };
        let pricing = Pricing {
            routes: vec![
                route("m", None, vec![target("main", "gpt-4o", input_cost(30))]),
                route(
                    "gpt-*",
                    input_cost(10),
                    vec![target("main", "gpt-*", input_cost(20)), target("other", "small", None)],
                ),
                route("*", input_cost(1), vec![target("other", "*", None)]),
            ],
        };
        let index = PriceIndex::new(&pricing);
        let input = |route: &str, provider: &str, upstream: &str| {
            let r = UsageRecord {
                route: route.into(),
                provider: provider.into(),
                upstream_model: upstream.into(),
                ..Default::default()
            };
            index.price_of(&r).and_then(|p| p.input_per_mtok_micros)
        };
        // The record names the requested model; gpt-* serves it through its pattern target.
        assert_eq!(input("gpt-4o", "main", "gpt-4o"), Some(20), "the target's own price, not m's");
        assert_eq!(input("gpt-4o", "other", "small"), Some(10), "a fixed target without a price: the route's");
        assert_eq!(input("claude-3", "other", "claude-3"), Some(1), "the catch-all");
        // A direct call matching no wildcard target: priced by provider and upstream model.
        assert_eq!(input("main:gpt-4o", "other", "x"), None);
        assert_eq!(
            input("gpt-x", "main", "gpt-4o"),
            Some(30),
            "no gpt-* target gives gpt-4o for gpt-x: as a direct call"
        );
    }
}
