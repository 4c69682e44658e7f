//! Telemetry's background work: republishing the Runtime after usage moved
//! spend or balances (coalesced), and deleting usage older than
//! `settings.usage.retention` (bounded passes).

use crate::snapshot::Publisher;
use crate::store::{Store, StoreError, now_ms};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Spend moved by many batches becomes one Runtime revision per this long.
const RUNTIME_DELAY: Duration = Duration::from_secs(1);
/// The first retention pass runs this long after start, then every [`RETENTION_EVERY`].
const RETENTION_FIRST: Duration = Duration::from_secs(60);
const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// Rows deleted per table per statement.
pub const RETENTION_CHUNK: i64 = 5_000;
/// Statements per table per pass: what is left waits for the next pass.
const RETENTION_CHUNKS: usize = 200;
/// Between two deletes: ingestion gets the write lock meanwhile.
const RETENTION_PAUSE: Duration = Duration::from_millis(20);

/// Bumps the Runtime revision and republishes once per [`RUNTIME_DELAY`]
/// while `due` is being notified (spend or a balance moved).
pub async fn publish_runtime(
    store: Arc<Store>,
    publisher: Arc<Publisher>,
    due: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = due.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // Batches stored meanwhile ride on this revision.
        let stopping = tokio::select! {
            _ = tokio::time::sleep(RUNTIME_DELAY) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        match store.bump_runtime().await {
            Ok(_) => {
                if let Err(e) = publisher.refresh().await {
                    tracing::warn!(error = %e, "snapshot refresh failed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot bump the Runtime revision after usage; retrying");
                due.notify_one();
            }
        }
        if stopping {
            return;
        }
    }
}

/// Deletes telemetry older than the Config's `settings.usage.retention`, now and then.
pub async fn retention(store: Arc<Store>, publisher: Arc<Publisher>, mut stop: watch::Receiver<bool>) {
    let mut wait = RETENTION_FIRST;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        wait = RETENTION_EVERY;
        let keep = publisher.current().model().settings.usage_retention;
        match prune(&store, keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "usage past retention deleted"),
            Err(e) => tracing::warn!(error = %e, "usage retention pass failed"),
        }
    }
}

/// One retention pass: deletes rows older than `keep`, [`RETENTION_CHUNK`]
/// per table per statement, until none is left or the pass's bound is
/// reached. Returns the rows deleted.
pub async fn prune(store: &Store, keep: Duration) -> Result<u64, StoreError> {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let before = now_ms().saturating_sub(keep_ms);
    let mut total = 0;
    for _ in 0..RETENTION_CHUNKS {
        let deleted = store.prune_usage(before, RETENTION_CHUNK).await?;
        total += deleted;
        if deleted < RETENTION_CHUNK as u64 {
            break;
        }
        tokio::time::sleep(RETENTION_PAUSE).await;
    }
    Ok(total)
}
