//! The snapshot data planes are sent: the Config and Runtime resources at the
//! store's current revisions, each with its content hash, built once per
//! revision and shared by every stream (never rebuilt per node).

use crate::store::{Store, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;
use switchyard_proto::canonical::{ContentHash, config_hash, runtime_hash};
use switchyard_proto::model::{AccountRef, RuntimeState};
use switchyard_proto::pb;
use tokio::sync::{Mutex, watch};

/// One resource at one version.
#[derive(Debug)]
pub struct Resource<M> {
    pub version: u64,
    pub hash: ContentHash,
    pub message: M,
}

#[derive(Debug)]
pub struct Snapshot {
    pub config: Resource<pb::Config>,
    pub runtime: Resource<pb::Runtime>,
}

pub struct Publisher {
    store: Arc<Store>,
    tx: watch::Sender<Arc<Snapshot>>,
    /// Serialises rebuilds.
    building: Mutex<()>,
}

impl Publisher {
    pub async fn new(store: Arc<Store>) -> Result<Arc<Publisher>, StoreError> {
        let snapshot = build(&store).await?;
        let (tx, _) = watch::channel(Arc::new(snapshot));
        Ok(Arc::new(Publisher { store, tx, building: Mutex::new(()) }))
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.tx.subscribe()
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.tx.borrow().clone()
    }

    /// Rebuilds when either revision moved; streams see the new snapshot at once.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let _building = self.building.lock().await;
        let current = self.current();
        let (config_rev, runtime_rev) = (self.store.revision().await?, self.store.runtime_revision().await?);
        if config_rev == current.config.version && runtime_rev == current.runtime.version {
            return Ok(());
        }
        let snapshot = build(&self.store).await?;
        tracing::info!(config = snapshot.config.version, runtime = snapshot.runtime.version, "snapshot published");
        self.tx.send_replace(Arc::new(snapshot));
        Ok(())
    }
}

async fn build(store: &Store) -> Result<Snapshot, StoreError> {
    let (version, config) = store.load().await?;
    let runtime_version = store.runtime_revision().await?;
    let drained: BTreeSet<AccountRef> = store
        .balances()
        .await?
        .into_iter()
        .filter(|b| b.amount_micros <= 0)
        .map(|b| AccountRef { provider: b.provider, account: b.account })
        .collect();
    let runtime = RuntimeState { drained_accounts: drained, keys: Default::default() };
    Ok(Snapshot {
        config: Resource { version, hash: config_hash(&config), message: pb::Config::from(&config) },
        runtime: Resource {
            version: runtime_version,
            hash: runtime_hash(&runtime),
            message: pb::Runtime::from(&runtime),
        },
    })
}
