//! Between the evaluator and the channels: a bounded outbox the evaluator
//! offers batches to without ever waiting, and one worker per channel with
//! its own bounded queue, so a channel that hangs or fails holds up only
//! itself. A full queue drops the message (counted as `dropped`, logged);
//! each outcome is recorded on the conditions it carried (`syctl alert list`).
//! Chat robots take about 20 messages a minute, so a chat worker sends at
//! most one message per [`CHAT_SPACING`] and merges what queued meanwhile.

use super::{deliver, messages};
use crate::alert::metrics::{Metrics, Outcome};
use crate::alert::notice::{Change, Notice};
use crate::alert::state::{self, Delivery};
use crate::store::{Store, now_ms};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::model::{AlertChannel, AlertChannelKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Batches waiting for the dispatcher.
const OUTBOX: usize = 32;
/// Messages waiting for one channel.
pub const CHANNEL_QUEUE: usize = 16;
/// Between two messages to one chat robot, at least.
pub const CHAT_SPACING: Duration = Duration::from_secs(3);
/// Notices merged into one chat message at most (it shows 20 and counts the rest).
const MERGE: usize = 200;

/// What one evaluation sends: its notices, to the channels configured then.
#[derive(Debug, Clone)]
pub struct Batch {
    pub channels: Vec<AlertChannel>,
    pub notices: Vec<Notice>,
}

/// The evaluator's side of the outbox.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Batch>,
    metrics: Arc<Metrics>,
}

impl Outbox {
    /// Queues `batch`; never waits. A full outbox drops it (counted per channel).
    pub fn offer(&self, batch: Batch) {
        if let Err(e) = self.tx.try_send(batch) {
            let batch = match e {
                mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b) => b,
            };
            tracing::warn!(notices = batch.notices.len(), "alert outbox full; alerts dropped");
            for c in &batch.channels {
                self.metrics.sent(&c.name, Outcome::Dropped);
            }
        }
    }
}

/// The outbox and the task that feeds the channel workers, until `stop`.
pub fn outbox(
    client: reqwest::Client,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> (Outbox, impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = mpsc::channel(OUTBOX);
    let outbox = Outbox { tx, metrics: metrics.clone() };
    (outbox, dispatch(rx, Worker { client, store, metrics, stop }))
}

/// One message for one channel.
struct Job {
    channel: AlertChannel,
    notices: Vec<Notice>,
}

#[derive(Clone)]
struct Worker {
    client: reqwest::Client,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
}

async fn dispatch(mut rx: mpsc::Receiver<Batch>, worker: Worker) {
    let mut stop = worker.stop.clone();
    let mut queues: HashMap<String, mpsc::Sender<Job>> = HashMap::new();
    let mut workers = JoinSet::new();
    loop {
        let batch = tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => batch,
                None => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        // A channel no longer configured: its worker ends once its queue is empty.
        queues.retain(|name, _| batch.channels.iter().any(|c| c.name == *name));
        for channel in batch.channels {
            let queue = queues.entry(channel.name.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(CHANNEL_QUEUE);
                workers.spawn(worker.clone().run(rx));
                tx
            });
            for notices in messages(&channel.kind, batch.notices.clone()) {
                let job = Job { channel: channel.clone(), notices };
                if queue.try_send(job).is_err() {
                    tracing::warn!(channel = %channel.name, "alert channel queue full; message dropped");
                    worker.metrics.sent(&channel.name, Outcome::Dropped);
                }
            }
        }
        while workers.try_join_next().is_some() {}
    }
    drop(queues);
    while workers.join_next().await.is_some() {}
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        let mut stop = self.stop.clone();
        let mut last: Option<Instant> = None;
        loop {
            let mut job = tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
                _ = stop.wait_for(|s| *s) => return,
            };
            let chat = !matches!(job.channel.kind, AlertChannelKind::Webhook { .. });
            if chat {
                if let Some(last) = last {
                    tokio::select! {
                        _ = tokio::time::sleep_until(last + CHAT_SPACING) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
                // What queued meanwhile goes in the same message, to the latest definition of the channel.
                while job.notices.len() < MERGE
                    && let Ok(more) = rx.try_recv()
                {
                    job.channel = more.channel;
                    job.notices.extend(more.notices);
                }
            }
            let delivered = tokio::select! {
                d = deliver(&self.client, &job.channel, &job.notices, &self.metrics) => d,
                _ = stop.wait_for(|s| *s) => return,
            };
            last = Some(Instant::now());
            let keys: Vec<String> = job
                .notices
                .iter()
                .filter(|n| matches!(n.change, Change::Firing | Change::Reminder))
                .map(|n| n.key.clone())
                .collect();
            let record = Delivery {
                channel: job.channel.name.clone(),
                ok: delivered.ok,
                attempts: delivered.attempts,
                error: delivered.error,
                at_ms: now_ms(),
            };
            if let Err(e) = state::record_delivery(self.store.pool(), &keys, &record).await {
                tracing::warn!(channel = %record.channel, error = %e, "cannot record an alert delivery");
            }
        }
    }
}
