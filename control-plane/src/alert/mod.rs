//! Alerts: conditions over what the store knows (balances and their burn
//! rate, breakers the data planes report, the node registry, the balance
//! pollers), evaluated by one replica at a time, deduplicated across
//! evaluations, restarts and replicas, and sent to the configured channels
//! (DingTalk, Feishu/Lark, WeCom robots and generic JSON webhooks).
//!
//! Flow: `a change (trigger) or every evaluate_every -> lease (one replica)
//! -> facts (store reads) -> conditions (pure) -> state (which conditions
//! were notified and when, persisted in the same transaction as the lease
//! check) -> notices (firing, reminder, resolved) -> outbox (bounded) -> one
//! worker per channel (retries with backoff, timeouts) -> the channel`.
//! Nothing before the outbox waits on a channel: a webhook that hangs delays
//! its own worker only.

pub mod channel;
pub mod clock;
pub mod conditions;
mod evaluate;
pub mod facts;
pub mod metrics;
pub mod notice;
pub mod state;
pub mod when;

pub use clock::Clock;
pub use conditions::{Condition, Event, Severity, Thresholds};
pub use facts::{AccountFacts, Facts, PollFacts};
pub use metrics::Metrics;
pub use notice::{Change, Notice};

use crate::snapshot::Publisher;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Asks for an evaluation soon: something that can start or clear a
/// condition happened (a balance poll, a breaker report). Calls made while
/// one is pending coalesce into it; it never blocks.
#[derive(Clone, Default)]
pub struct Trigger(Arc<Notify>);

impl Trigger {
    pub fn notify(&self) {
        self.0.notify_one();
    }

    async fn notified(&self) {
        self.0.notified().await;
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the alert HTTP client: {0}")]
pub struct AlertsError(String);

/// The alerting of one control-plane process: its trigger, its counters and
/// the HTTP client every channel uses.
#[derive(Clone)]
pub struct Alerts {
    trigger: Trigger,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

impl Alerts {
    pub fn new() -> Result<Alerts, AlertsError> {
        let client = channel::client().map_err(|e| AlertsError(e.to_string()))?;
        Ok(Alerts { trigger: Trigger::default(), metrics: Arc::new(Metrics::default()), client })
    }

    pub fn trigger(&self) -> Trigger {
        self.trigger.clone()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The evaluator and the delivery workers, until `stop`.
    pub fn spawn(
        &self,
        store: Arc<Store>,
        publisher: Arc<Publisher>,
        stop: watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        let (outbox, deliveries) =
            channel::deliver::outbox(self.client.clone(), store.clone(), self.metrics.clone(), stop.clone());
        let engine = evaluate::Engine::new(store, publisher, self.trigger.clone(), outbox, self.metrics.clone());
        vec![tokio::spawn(deliveries), tokio::spawn(engine.run(stop))]
    }
}
