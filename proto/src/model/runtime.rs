//! The Runtime overlay: small, frequent state derived from balances,
//! spend and model discovery, distributed apart from the Config so a flip never re-sends it.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountRef {
    pub provider: String,
    pub account: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRuntime {
    /// Budget left this period (micro-units); `<= 0` is over budget; `None` = no budget.
    pub remaining_budget_micros: Option<i64>,
    /// Data planes sharing the key's rpm/tpm (>= 1).
    pub nodes: u32,
}

impl KeyRuntime {
    pub fn over_budget(&self) -> bool {
        self.remaining_budget_micros.is_some_and(|r| r <= 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeState {
    /// Accounts out of rotation because their balance reached zero.
    pub drained_accounts: BTreeSet<AccountRef>,
    /// Per client key name.
    pub keys: BTreeMap<String, KeyRuntime>,
    /// Per provider name: the models its list endpoint last named.
    pub discovered_models: BTreeMap<String, BTreeSet<String>>,
}
