//! The snapshot data planes are sent: the Config and Runtime resources at the
//! store's current revisions, each with its content hash, built once per
//! revision and shared by every stream (never rebuilt per node). A Runtime
//! change rebuilds only the Runtime resource.

use crate::store::{Store, StoreError, now_ms};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use switchyard_proto::canonical::{ContentHash, config_hash, runtime_hash};
use switchyard_proto::model::{AccountRef, BudgetPeriod, Config, KeyRuntime, RuntimeState};
use switchyard_proto::{packed, pb};
use tokio::sync::{Mutex, watch};

/// One resource at one version.
#[derive(Debug)]
pub struct Resource<M> {
    pub version: u64,
    pub hash: ContentHash,
    pub message: M,
    /// What every stream sends: encoded (and compressed, when large) once, here.
    pub payload: pb::discovery_response::Resource,
}

#[derive(Debug)]
pub struct Snapshot {
    pub config: Arc<Resource<pb::Config>>,
    pub runtime: Resource<pb::Runtime>,
    /// The Config the resource was built from (the Runtime derives per-key state from it).
    model: Arc<Config>,
    /// The UTC day the Runtime was computed on: budget periods roll over at midnight.
    day: i64,
}

impl Snapshot {
    /// The Config the snapshot was built from (usage is priced with it).
    pub fn model(&self) -> &Arc<Config> {
        &self.model
    }
}

pub struct Publisher {
    store: Arc<Store>,
    tx: watch::Sender<Arc<Snapshot>>,
    /// Serialises rebuilds.
    building: Mutex<()>,
}

impl Publisher {
    pub async fn new(store: Arc<Store>) -> Result<Arc<Publisher>, StoreError> {
        let (config, model) = build_config(&store).await?;
        let snapshot = build_runtime(&store, config, model).await?;
        let (tx, _) = watch::channel(Arc::new(snapshot));
        Ok(Arc::new(Publisher { store, tx, building: Mutex::new(()) }))
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.tx.subscribe()
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.tx.borrow().clone()
    }

    /// Rebuilds what moved (the Config revision, the Runtime revision, the
    /// budget day); streams see the new snapshot at once.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let _building = self.building.lock().await;
        let current = self.current();
        let (config_rev, runtime_rev) = (self.store.revision().await?, self.store.runtime_revision().await?);
        let config_moved = config_rev != current.config.version;
        if !config_moved && runtime_rev == current.runtime.version && today() == current.day {
            return Ok(());
        }
        let (config, model) = if config_moved {
            build_config(&self.store).await?
        } else {
            (current.config.clone(), current.model.clone())
        };
        let snapshot = build_runtime(&self.store, config, model).await?;
        tracing::info!(config = snapshot.config.version, runtime = snapshot.runtime.version, "snapshot published");
        self.tx.send_replace(Arc::new(snapshot));
        Ok(())
    }
}

fn today() -> i64 {
    BudgetPeriod::Day.start_ms(now_ms())
}

async fn build_config(store: &Store) -> Result<(Arc<Resource<pb::Config>>, Arc<Config>), StoreError> {
    let (version, config) = store.load().await?;
    let config = Arc::new(config);
    let model = config.clone();
    // Encoding and compressing a large snapshot takes milliseconds: not on the runtime's threads.
    let build = move || {
        let message = pb::Config::from(&*config);
        Resource { version, hash: config_hash(&config), payload: packed::config(&message), message }
    };
    let resource = tokio::task::spawn_blocking(build).await.map_err(|e| StoreError::Internal(format!("build: {e}")))?;
    Ok((Arc::new(resource), model))
}

async fn build_runtime(
    store: &Store,
    config: Arc<Resource<pb::Config>>,
    model: Arc<Config>,
) -> Result<Snapshot, StoreError> {
    let version = store.runtime_revision().await?;
    let drained: BTreeSet<AccountRef> = store
        .balances()
        .await?
        .into_iter()
        .filter(|b| b.amount_micros <= 0)
        .map(|b| AccountRef { provider: b.provider, account: b.account })
        .collect();
    let now = now_ms();
    let earliest = [BudgetPeriod::Week, BudgetPeriod::Month].map(|p| p.start_ms(now)).into_iter().min().unwrap_or(0);
    let spend = store.spend(earliest).await?;
    let nodes = store.live_nodes().await?.max(1);
    let keys: BTreeMap<String, KeyRuntime> = model
        .keys
        .iter()
        .filter(|k| k.rpm.is_some() || k.tpm.is_some() || k.budget.is_some())
        .map(|k| {
            let remaining = k.budget.as_ref().map(|b| {
                let spent = spend
                    .get(&(k.name.clone(), b.period.start_ms(now)))
                    .filter(|(currency, _)| *currency == b.currency)
                    .map_or(0, |(_, micros)| *micros);
                b.amount_micros.saturating_sub(spent)
            });
            (k.name.clone(), KeyRuntime { remaining_budget_micros: remaining, nodes })
        })
        .collect();
    // A deleted provider's list may outlive it until discovery prunes it.
    let discovered_models = store
        .discovered_models()
        .await?
        .into_iter()
        .filter(|(provider, _)| model.provider(provider).is_some())
        .collect();
    let state = RuntimeState { drained_accounts: drained, keys, discovered_models };
    let message = pb::Runtime::from(&state);
    let runtime = Resource { version, hash: runtime_hash(&state), payload: packed::runtime(&message), message };
    Ok(Snapshot { config, runtime, model, day: BudgetPeriod::Day.start_ms(now) })
}
