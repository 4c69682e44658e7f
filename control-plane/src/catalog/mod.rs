//! Model discovery: the control plane reads each provider's model list (the
//! kind's list endpoint, with one of its accounts) on a schedule and when
//! `TestProvider` runs, stores it ([`crate::store::ProviderModels`]) and
//! sends it in the Runtime overlay: keys with `allow_direct` see the
//! discovered models in `/v1/models` as `provider/model`. `syctl provider
//! models NAME` lists them. A failed read keeps the last good list.

mod list;
mod request;
mod schedule;

pub use list::{MAX_MODELS, PAGE_LIMIT, Page, fetch, parse};
pub use request::{headers, models_url, secrets};
pub use schedule::{Tuning, run};

use crate::outbound::provider_client;
use crate::store::{Store, StoreError, now_ms};
use std::collections::BTreeSet;
use std::time::Duration;
use switchyard_proto::model::{Config, Provider};

/// Accounts tried, in order, before a read counts as failed.
const ACCOUNTS_TRIED: usize = 3;

/// What one discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Models in the stored list.
    pub models: usize,
    /// The stored list changed (the Runtime revision moved).
    pub changed: bool,
}

/// Why a discovery found nothing.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The list could not be read (recorded; the old list stays). Never a secret.
    #[error("{0}")]
    Read(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads `p`'s list with the first of its enabled accounts that answers (at
/// most [`ACCOUNTS_TRIED`] are tried) and stores what was found or why not.
pub async fn discover(
    store: &Store,
    config: &Config,
    p: &Provider,
    timeout: Duration,
) -> Result<Discovered, DiscoverError> {
    let connect = p.timeout.resolve(&config.settings.timeout).connect;
    let found = match provider_client(p, connect, timeout) {
        Err(reason) => Err(reason),
        Ok(client) => {
            let mut last = Err("the provider has no enabled account".to_owned());
            for account in p.accounts.iter().filter(|a| a.enabled).take(ACCOUNTS_TRIED) {
                last = fetch(&client, p, account, None).await.map_err(|e| format!("account {:?}: {e}", account.name));
                if last.is_ok() {
                    break;
                }
            }
            last
        }
    };
    record(store, &p.name, found).await
}

/// Stores a read of `provider`'s list: the list, or why it failed (the old list stays).
pub async fn record(
    store: &Store,
    provider: &str,
    found: Result<BTreeSet<String>, String>,
) -> Result<Discovered, DiscoverError> {
    match found {
        Ok(models) => {
            let changed = store.record_models(provider, Ok(&models), now_ms()).await?;
            Ok(Discovered { models: models.len(), changed })
        }
        Err(reason) => {
            store.record_models(provider, Err(&reason), now_ms()).await?;
            Err(DiscoverError::Read(reason))
        }
    }
}
