//! The evaluator: every `evaluate_every`, and soon after a change that can
//! start or clear a condition (a new snapshot: an apply, a balance set, usage
//! moving balances; or a [`Trigger`]: a breaker report, a poll), coalesced
//! and at most once per [`MIN_GAP`]. Each pass takes or renews the lease
//! first, so replicas without it only renew their claim cheaply; the lease
//! holder gathers the facts, judges the conditions, records the transitions
//! (re-checking the lease in that transaction) and hands the notices to the
//! outbox.

use super::channel::deliver::{Batch, Outbox};
use super::metrics::{Metrics, Pass};
use super::{Clock, Thresholds, Trigger, conditions, facts, state};
use crate::snapshot::Publisher;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A change is evaluated this long after it (more changes meanwhile ride along).
const DEBOUNCE: Duration = Duration::from_millis(200);
/// Between two passes at least (unless `evaluate_every` is shorter).
const MIN_GAP: Duration = Duration::from_secs(5);
/// The lease is renewed (or claimed) at least this often; well within its TTL.
const RENEW: Duration = Duration::from_secs(10);

pub struct Engine {
    store: Arc<Store>,
    publisher: Arc<Publisher>,
    trigger: Trigger,
    outbox: Outbox,
    metrics: Arc<Metrics>,
    clock: Clock,
    /// This process's claim on the lease.
    holder: String,
    started_ms: i64,
}

impl Engine {
    pub fn new(
        store: Arc<Store>,
        publisher: Arc<Publisher>,
        trigger: Trigger,
        outbox: Outbox,
        metrics: Arc<Metrics>,
    ) -> Self {
        let clock = Clock::new();
        let started_ms = clock.now_ms();
        Engine { store, publisher, trigger, outbox, metrics, clock, holder: holder_id(), started_ms }
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut snapshots = self.publisher.subscribe();
        let mut leader = false;
        // When this replica, not holding the lease, next tries to claim it.
        let mut next_claim = Instant::now();
        let mut last: Option<Instant> = None;
        let mut changed = false;
        loop {
            let every = self.publisher.current().model().settings.alerts.evaluate_every.max(Duration::from_millis(1));
            let now = Instant::now();
            let wake = if leader {
                let due_at = last.map_or(now, |l| l + every);
                if changed {
                    // A change waits for the gap since the last pass, then for the debounce.
                    let gap = last.map_or(now, |l| l + MIN_GAP.min(every));
                    due_at.min(gap.max(now + DEBOUNCE))
                } else {
                    due_at.min(now + RENEW.min(every))
                }
            } else {
                next_claim
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = self.trigger.notified(), if !changed => { changed = true; continue }
                moved = snapshots.changed(), if !changed => {
                    if moved.is_err() { break }
                    changed = true;
                    continue;
                }
                _ = stop.wait_for(|s| *s) => break,
            }
            let retry = Instant::now() + RENEW.min(every);
            let held = match state::acquire(self.store.pool(), &self.holder, self.clock.now_ms()).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim the alert lease");
                    self.metrics.pass(Pass::Failed);
                    (leader, next_claim) = (false, retry);
                    continue;
                }
            };
            if !held {
                if leader {
                    tracing::info!("another replica evaluates alerts now");
                }
                (leader, next_claim) = (false, retry);
                self.metrics.pass(Pass::Standby);
                continue;
            }
            let now = Instant::now();
            // A lease just won is evaluated at once.
            let due = !leader || changed || last.is_none_or(|l| now >= l + every);
            if !leader {
                tracing::info!(holder = %self.holder, "this replica evaluates alerts");
                leader = true;
            }
            if !due {
                continue;
            }
            changed = false;
            last = Some(now);
            match self.pass().await {
                Ok(true) => self.metrics.pass(Pass::Done),
                Ok(false) => {
                    (leader, next_claim) = (false, retry);
                    self.metrics.pass(Pass::Standby);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alert evaluation failed; retrying at the next one");
                    self.metrics.pass(Pass::Failed);
                }
            }
        }
        if leader && let Err(e) = state::release(self.store.pool(), &self.holder).await {
            tracing::warn!(error = %e, "cannot release the alert lease; another replica takes it when it expires");
        }
    }

    /// One evaluation. False: the lease was lost meanwhile (nothing recorded or sent).
    async fn pass(&self) -> Result<bool, StoreError> {
        let snapshot = self.publisher.current();
        let config = snapshot.model();
        let alerts = &config.settings.alerts;
        let now = self.clock.now_ms();
        let facts = facts::gather(&self.store, config, now).await?;
        let active = conditions::evaluate(&facts, &Thresholds::of(alerts, self.started_ms));
        let Some(notices) = state::commit(self.store.pool(), &self.holder, now, &active, alerts.quiet_period).await?
        else {
            return Ok(false);
        };
        self.metrics.evaluated(active.len());
        if !notices.is_empty() {
            tracing::info!(active = active.len(), notices = notices.len(), "alert conditions changed");
            if !alerts.channels.is_empty() {
                self.outbox.offer(Batch { channels: alerts.channels.clone(), notices });
            }
        }
        Ok(true)
    }
}

/// A claim unique to this process: random, so two replicas on one host differ.
fn holder_id() -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 8];
    let _ = SystemRandom::new().fill(&mut bytes);
    format!("{}-{}", std::process::id(), hex::encode(bytes))
}
