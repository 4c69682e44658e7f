//! What the conditions are judged on, gathered from the store in one pass:
//! every account with its balance policy and balance, the breaker states
//! live data planes report, the node registry, the Config and Runtime
//! revisions; and from the balance module, each account's time to empty (its
//! balance over its burn rate in the last [`DEFAULT_WINDOW`]) and the
//! pollers' health (`balance_polls`).

use crate::balance::burn::{self, DEFAULT_WINDOW};
use crate::nodes::LOST_AFTER;
use crate::store::{Balance, EndpointHealth, NodeRecord, Store, StoreError};
use std::collections::HashMap;
use std::time::Duration;
use switchyard_proto::model::{AccountRef, BalancePolicy, Config};

/// One provider account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountFacts {
    pub provider: String,
    pub account: String,
    /// The provider and the account are both enabled.
    pub enabled: bool,
    pub policy: Option<BalancePolicy>,
    /// The runtime balance, when one was ever set or polled.
    pub balance: Option<Balance>,
    /// How long the balance lasts at its recent burn rate (`None`: unknown,
    /// or not being spent).
    pub time_to_empty: Option<Duration>,
}

/// One account's balance poller, as the balance module keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollFacts {
    pub provider: String,
    pub account: String,
    /// Consecutive failed polls (0 after a success).
    pub failures: u32,
    /// The latest failure's message (no secrets).
    pub last_error: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facts {
    /// When they were gathered (Unix milliseconds, the engine's clock).
    pub now_ms: i64,
    /// Every account of the Config, in its order.
    pub accounts: Vec<AccountFacts>,
    /// Breaker states of live nodes' current boots (closed ones included).
    pub endpoints: Vec<EndpointHealth>,
    /// Every node the registry holds.
    pub nodes: Vec<NodeRecord>,
    /// The Config revision in the store, and when it was made.
    pub config_version: u64,
    pub config_since_ms: i64,
    /// The Runtime revision in the store.
    pub runtime_version: u64,
    /// The balance pollers that failed their last poll.
    pub polls: Vec<PollFacts>,
}

/// Every fact the conditions read, as the store has them at `now_ms`.
pub async fn gather(store: &Store, config: &Config, now_ms: i64) -> Result<Facts, StoreError> {
    let mut balances: HashMap<(String, String), Balance> =
        store.balances().await?.into_iter().map(|b| ((b.provider.clone(), b.account.clone()), b)).collect();
    let burns = burn::burn_rates(store, DEFAULT_WINDOW, now_ms).await?;
    let time_to_empty = |provider: &str, account: &str, balance: Option<&Balance>| {
        let balance = balance?;
        let key = AccountRef { provider: provider.to_owned(), account: account.to_owned() };
        burn::time_to_empty(balance.amount_micros, &balance.currency, burns.get(&key)?)
    };
    let accounts = config
        .providers
        .iter()
        .flat_map(|p| p.accounts.iter().map(move |a| (p, a)))
        .map(|(p, a)| {
            let balance = balances.remove(&(p.name.clone(), a.name.clone()));
            AccountFacts {
                provider: p.name.clone(),
                account: a.name.clone(),
                enabled: p.enabled && a.enabled,
                policy: a.balance.clone(),
                time_to_empty: time_to_empty(&p.name, &a.name, balance.as_ref()),
                balance,
            }
        })
        .collect();
    let polls = store
        .poll_rows()
        .await?
        .into_iter()
        .filter(|r| r.failures > 0)
        .map(|r| PollFacts {
            provider: r.provider,
            account: r.account,
            failures: u32::try_from(r.failures).unwrap_or(u32::MAX),
            last_error: r.last_error.unwrap_or_default(),
        })
        .collect();
    let lost_after = i64::try_from(LOST_AFTER.as_millis()).unwrap_or(i64::MAX);
    let endpoints = store.live_endpoint_health(lost_after).await?;
    let nodes = store.fleet().await?;
    let (config_version, config_since_ms, runtime_version): (i64, i64, i64) =
        sqlx::query_as("SELECT config, updated_at_ms, runtime FROM revision WHERE id = 1")
            .fetch_one(store.pool())
            .await?;
    Ok(Facts {
        now_ms,
        accounts,
        endpoints,
        nodes,
        config_version: u64::try_from(config_version).unwrap_or(0),
        config_since_ms,
        runtime_version: u64::try_from(runtime_version).unwrap_or(0),
        polls,
    })
}
