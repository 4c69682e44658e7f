//! The discovery schedule: every `interval`, each enabled provider with an
//! enabled account is read once across all replicas (the replica that
//! claims it in the store reads it), a few at a time; lists of deleted
//! providers are dropped. A changed list is published at once.

use super::{DiscoverError, discover};
use crate::snapshot::Publisher;
use crate::store::{Store, now_ms};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

#[derive(Debug, Clone)]
pub struct Tuning {
    /// How often each provider's list is read; zero turns discovery off
    /// (`TestProvider` still reads it).
    pub interval: Duration,
    /// One read, every page, start to end.
    pub timeout: Duration,
    /// Providers read at once on this replica.
    pub concurrency: usize,
    /// The longest sleep between two looks at the schedule.
    pub recheck: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(6 * 3600),
            timeout: Duration::from_secs(30),
            concurrency: 4,
            recheck: Duration::from_secs(60),
        }
    }
}

/// Runs until `stop` turns true.
pub async fn run(store: Arc<Store>, publisher: Arc<Publisher>, tuning: Tuning, mut stop: watch::Receiver<bool>) {
    if tuning.interval.is_zero() {
        return;
    }
    let recheck = tuning.recheck.min(tuning.interval);
    loop {
        if let Err(e) = round(&store, &publisher, &tuning).await {
            tracing::warn!(error = %e, "model discovery: store unavailable");
        }
        tokio::select! {
            _ = tokio::time::sleep(recheck) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Reads every due provider once.
async fn round(store: &Arc<Store>, publisher: &Publisher, tuning: &Tuning) -> Result<(), crate::store::StoreError> {
    let (_, config) = store.load().await?;
    let config = Arc::new(config);
    let names: BTreeSet<String> = config.providers.iter().map(|p| p.name.clone()).collect();
    let mut changed = store.prune_discovery(&names).await?;
    let interval = i64::try_from(tuning.interval.as_millis()).unwrap_or(i64::MAX);
    let mut reads = JoinSet::new();
    for p in config.providers.iter().filter(|p| p.enabled && p.accounts.iter().any(|a| a.enabled)) {
        if !store.claim_discovery(&p.name, now_ms(), interval).await? {
            continue;
        }
        while reads.len() >= tuning.concurrency.max(1) {
            changed |= finished(reads.join_next().await);
        }
        let (store, config, name, timeout) = (store.clone(), config.clone(), p.name.clone(), tuning.timeout);
        reads.spawn(async move {
            let Some(p) = config.provider(&name) else { return Ok(false) };
            match discover(&store, &config, p, timeout).await {
                Ok(found) => {
                    tracing::info!(provider = %name, models = found.models, changed = found.changed, "models discovered");
                    Ok(found.changed)
                }
                Err(e) => {
                    tracing::warn!(provider = %name, error = %e, "model discovery failed");
                    match e {
                        DiscoverError::Read(_) => Ok(false),
                        DiscoverError::Store(e) => Err(e),
                    }
                }
            }
        });
    }
    while let Some(done) = reads.join_next().await {
        changed |= finished(Some(done));
    }
    if changed {
        publisher.refresh().await?;
    }
    Ok(())
}

fn finished(done: Option<Result<Result<bool, crate::store::StoreError>, tokio::task::JoinError>>) -> bool {
    matches!(done, Some(Ok(Ok(true))))
}
