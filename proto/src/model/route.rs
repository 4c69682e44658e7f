//! Public model routes: the names clients send, their aliases, prices and
//! the upstream targets that serve them.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Power of two choices over in-flight requests and latency.
    #[default]
    P2c,
    RoundRobin,
    WeightedRandom,
}

impl Strategy {
    pub const ALL: [Self; 3] = [Self::P2c, Self::RoundRobin, Self::WeightedRandom];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::P2c => "p2c",
            Self::RoundRobin => "round_robin",
            Self::WeightedRandom => "weighted_random",
        }
    }
}

/// Prices per million tokens, in micro-units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub currency: String,
    pub input_per_mtok_micros: Option<i64>,
    pub output_per_mtok_micros: Option<i64>,
    /// `None`: cached prompt tokens cost the input price.
    pub cached_input_per_mtok_micros: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    pub aliases: Vec<String>,
    pub strategy: Strategy,
    pub price: Option<Price>,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub provider: String,
    /// Upstream model name (for azure, the deployment).
    pub model: String,
    /// Lowest first; equal priorities are balanced.
    pub priority: u32,
    pub price: Option<Price>,
}

impl Route {
    /// A wildcard route's literal prefix (`gpt-*` -> `gpt-`); `None` for an
    /// exact name. See [`super::wildcard`].
    pub fn wildcard_prefix(&self) -> Option<&str> {
        super::wildcard::prefix(&self.name)
    }

    /// What a target costs: its own price, else the route's.
    pub fn price_of<'a>(&'a self, target: &'a Target) -> Option<&'a Price> {
        target.price.as_ref().or(self.price.as_ref())
    }
}
