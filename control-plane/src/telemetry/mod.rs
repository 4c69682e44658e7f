//! `Telemetry.Report`: data planes stream batches of usage records and
//! health events; each batch is stored durably, exactly once, then acked.
//!
//! Flow per stream: `bearer token -> node token binding (once per stream) ->
//! for each batch, in order: validate (INVALID_ARGUMENT naming the field) ->
//! node id against the binding (PERMISSION_DENIED) -> price each record with
//! the Config it was served from ([`price`]) -> one store transaction
//! ([`Store::ingest`]) -> ack {boot_id, sequence, duplicate}`. A batch whose
//! (node, boot, sequence) was stored before is acked `duplicate: true` and
//! changes nothing, so a node may resend whatever it has not seen acked. A
//! store failure ends the stream with UNAVAILABLE (the node resends).
//!
//! Priced usage also moves key spend (keys with a budget in the cost's
//! currency, in the budget period of the request's start) and manual account
//! balances in the same transaction; the Runtime revision is then bumped and
//! republished at most once a second ([`tasks::publish_runtime`]), not per
//! batch. Retention runs in the background ([`tasks::retention`]).

pub mod price;
mod tasks;

pub use tasks::{RETENTION_CHUNK, prune, publish_runtime, retention};

use crate::alert::Trigger;
use crate::auth::{NodeGrant, identity};
use crate::error::invalid;
use crate::snapshot::Publisher;
use crate::store::{
    Backend, BalanceDelta, BreakerEvent, HeartbeatInfo, IngestBatch, Ingested, PricedUsage, Pricing, SpendDelta, Store,
    StoreError, now_ms,
};
use parking_lot::Mutex;
use price::PriceIndex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use switchyard_proto::model::{Budget, Config};
use switchyard_proto::pb::telemetry_server::Telemetry;
use switchyard_proto::pb::{BreakerTransition, TelemetryAck, TelemetryBatch, UsageRecord, health_event};
use tokio::sync::{Notify, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// Largest batch message accepted (after decompression).
pub const MAX_MESSAGE: usize = 16 << 20;
/// Usage records per batch, at most.
pub const MAX_RECORDS: usize = 10_000;
/// Health events per batch, at most.
pub const MAX_EVENTS: usize = 10_000;
/// Longest node id or boot id.
const MAX_ID: usize = 256;
/// Longest string field of a record or event.
const MAX_FIELD: usize = 1024;
/// A record's token counts are clamped to this (no request comes near it):
/// an upstream or a node reporting absurd counts cannot overflow spend.
pub const MAX_TOKENS: u64 = 1_000_000_000;

/// What `/metrics` reports about telemetry on this replica.
#[derive(Debug, Default)]
pub struct Counters {
    pub stored: AtomicU64,
    pub duplicate: AtomicU64,
    /// Invalid batches, and batches for a node id the token does not cover.
    pub refused: AtomicU64,
    /// Valid batches the store could not take (the node resends them).
    pub failed: AtomicU64,
    /// Usage records stored.
    pub records: AtomicU64,
    /// Report streams open now.
    pub streams: AtomicI64,
}

struct Inner {
    store: Arc<Store>,
    publisher: Arc<Publisher>,
    counters: Arc<Counters>,
    runtime_due: Arc<Notify>,
    /// Told when a batch carried breaker transitions.
    alerts: Trigger,
    stop: watch::Receiver<bool>,
    /// Price indexes: the current Config's and older pricings'.
    prices: Mutex<Prices>,
    /// SQLite has one writer: batches queue here rather than in its busy handler.
    sqlite_writer: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
pub struct TelemetryService {
    inner: Arc<Inner>,
}

impl TelemetryService {
    /// `runtime_due` is notified when stored usage moved spend or a balance,
    /// `alerts` when a stored batch reported breaker transitions.
    pub fn new(
        store: Arc<Store>,
        publisher: Arc<Publisher>,
        counters: Arc<Counters>,
        runtime_due: Arc<Notify>,
        alerts: Trigger,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let inner = Inner {
            store,
            publisher,
            counters,
            runtime_due,
            alerts,
            stop,
            prices: Mutex::new(Prices::default()),
            sqlite_writer: tokio::sync::Mutex::new(()),
        };
        Self { inner: Arc::new(inner) }
    }
}

#[tonic::async_trait]
impl Telemetry for TelemetryService {
    type ReportStream = ReceiverStream<Result<TelemetryAck, Status>>;

    async fn report(
        &self,
        request: Request<Streaming<TelemetryBatch>>,
    ) -> Result<Response<Self::ReportStream>, Status> {
        let grant = identity::<NodeGrant, _>(&request)?;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(self.inner.clone().session(grant, request.into_inner(), tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Decrements the open-stream gauge however a session ends.
struct Open(Arc<Counters>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Relaxed);
    }
}

impl Inner {
    async fn session(
        self: Arc<Self>,
        grant: NodeGrant,
        mut inbound: Streaming<TelemetryBatch>,
        tx: mpsc::Sender<Result<TelemetryAck, Status>>,
    ) {
        self.counters.streams.fetch_add(1, Relaxed);
        let _open = Open(self.counters.clone());
        let mut stop = self.stop.clone();
        loop {
            // A batch being stored is finished and acked; only the wait for the next one is cut short.
            let message = tokio::select! {
                message = inbound.message() => message,
                _ = stop.wait_for(|s| *s) => break,
                _ = tx.closed() => break,
            };
            let batch = match message {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "telemetry stream ended");
                    break;
                }
            };
            let reply = self.handle(&grant, batch).await;
            let last = reply.is_err();
            if tx.send(reply).await.is_err() || last {
                break;
            }
        }
    }

    async fn handle(&self, grant: &NodeGrant, batch: TelemetryBatch) -> Result<TelemetryAck, Status> {
        if let Err(status) = validate(&batch) {
            self.counters.refused.fetch_add(1, Relaxed);
            return Err(status);
        }
        if let Err(status) = grant.check(&batch.node_id) {
            self.counters.refused.fetch_add(1, Relaxed);
            return Err(status);
        }
        let ack = TelemetryAck { boot_id: batch.boot_id.clone(), sequence: batch.sequence, duplicate: false };
        let ingest = match self.prepare(batch).await {
            Ok(ingest) => ingest,
            Err(e) => {
                self.counters.failed.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, "cannot read the price history");
                return Err(Status::unavailable("the control plane cannot price telemetry now; resend the batch"));
            }
        };
        let records = ingest.usage.len() as u64;
        let breakers = !ingest.breakers.is_empty();
        let result = if self.store.backend() == Backend::Sqlite {
            let _writer = self.sqlite_writer.lock().await;
            self.store.ingest(&ingest).await
        } else {
            self.store.ingest(&ingest).await
        };
        match result {
            Ok(Ingested::Stored { runtime_moved }) => {
                self.counters.stored.fetch_add(1, Relaxed);
                self.counters.records.fetch_add(records, Relaxed);
                if runtime_moved {
                    self.runtime_due.notify_one();
                }
                if breakers {
                    self.alerts.notify();
                }
                Ok(ack)
            }
            Ok(Ingested::Duplicate) => {
                self.counters.duplicate.fetch_add(1, Relaxed);
                Ok(TelemetryAck { duplicate: true, ..ack })
            }
            Err(e) => {
                self.counters.failed.fetch_add(1, Relaxed);
                tracing::warn!(node = %ingest.node_id, sequence = ingest.sequence, error = %e, "cannot store a telemetry batch");
                Err(Status::unavailable("the control plane cannot store telemetry now; resend the batch"))
            }
        }
    }

    /// The current Config's prices and budgets, rebuilt when its version moves.
    async fn current(&self, version: u64, config: &Config) -> Result<Arc<Current>, StoreError> {
        if let Some(current) = self.prices.lock().current.clone().filter(|c| c.version == version) {
            return Ok(current);
        }
        let since = self.store.pricing_since().await?;
        let current = Arc::new(Current {
            version,
            since,
            index: Arc::new(PriceIndex::new(&Pricing::of(config))),
            budgets: config.keys.iter().filter_map(|k| Some((k.name.clone(), k.budget.clone()?))).collect(),
        });
        self.prices.lock().current = Some(current.clone());
        Ok(current)
    }

    /// The prices of Config `version` (older than the current pricing).
    async fn older(&self, version: u64, current: &Current) -> Result<Arc<PriceIndex>, StoreError> {
        let Some((revision, pricing)) = self.store.pricing_at(version).await? else {
            // Older than the history: the current prices are the best there is.
            return Ok(current.index.clone());
        };
        let mut prices = self.prices.lock();
        if prices.older.len() >= MAX_OLDER_PRICINGS {
            prices.older.clear();
        }
        Ok(prices.older.entry(revision).or_insert_with(|| Arc::new(PriceIndex::new(&pricing))).clone())
    }

    /// Prices each record with the Config it was served from and sorts the batch's health events.
    async fn prepare(&self, batch: TelemetryBatch) -> Result<IngestBatch, StoreError> {
        let snapshot = self.publisher.current();
        let current = self.current(snapshot.config.version, snapshot.model()).await?;
        let mut indexes: HashMap<u64, Arc<PriceIndex>> = HashMap::new();
        for record in &batch.usage {
            let v = record.config_version;
            if v < current.since && !indexes.contains_key(&v) {
                indexes.insert(v, self.older(v, &current).await?);
            }
        }
        let mut usage = Vec::with_capacity(batch.usage.len());
        let (mut spend, mut balances) = (Vec::new(), Vec::new());
        for mut record in batch.usage {
            clamp_tokens(&mut record);
            let index = indexes.get(&record.config_version).unwrap_or(&current.index);
            let (cost, currency) = match index.price_of(&record) {
                Some(p) => (price::cost(p, &record), p.currency.clone()),
                None => (0, String::new()),
            };
            if cost != 0 {
                if let Some(b) = current.budgets.get(&record.key).filter(|b| b.currency == currency) {
                    spend.push(SpendDelta {
                        key: record.key.clone(),
                        period_start_ms: b.period.start_ms(record.started_at_ms),
                        currency: currency.clone(),
                        micros: cost,
                    });
                }
                if !record.provider.is_empty() {
                    balances.push(BalanceDelta {
                        provider: record.provider.clone(),
                        account: record.account.clone(),
                        currency: currency.clone(),
                        micros: cost,
                    });
                }
            }
            usage.push(PricedUsage { record, cost_micros: cost, currency });
        }
        let health_events = batch.health.len();
        let (mut breakers, mut heartbeat) = (Vec::new(), None::<HeartbeatInfo>);
        for event in batch.health {
            match event.event {
                Some(health_event::Event::Breaker(transition)) => {
                    breakers.push(BreakerEvent { at_ms: event.at_ms, transition });
                }
                Some(health_event::Event::Heartbeat(h))
                    if heartbeat.as_ref().is_none_or(|seen| seen.at_ms <= event.at_ms) =>
                {
                    heartbeat = Some(HeartbeatInfo {
                        at_ms: event.at_ms,
                        inflight_requests: h.inflight_requests,
                        breakers: h.breakers_reported.then_some(h.breakers),
                    });
                }
                Some(health_event::Event::Heartbeat(_)) | None => {}
            }
        }
        Ok(IngestBatch {
            node_id: batch.node_id,
            boot_id: batch.boot_id,
            sequence: i64::try_from(batch.sequence).unwrap_or(i64::MAX),
            received_at_ms: now_ms(),
            usage,
            breakers,
            heartbeat,
            spend,
            balances,
            health_events,
        })
    }
}

/// Older pricings kept indexed, at most (then the cache starts again).
const MAX_OLDER_PRICINGS: usize = 32;

#[derive(Default)]
struct Prices {
    current: Option<Arc<Current>>,
    /// By the revision each pricing took effect at.
    older: HashMap<u64, Arc<PriceIndex>>,
}

/// The current Config's prices and budgets.
struct Current {
    /// The Config version they were built for.
    version: u64,
    /// The revision the current pricing took effect at: records served from
    /// this version on are priced with `index`.
    since: u64,
    index: Arc<PriceIndex>,
    budgets: HashMap<String, Budget>,
}

/// [`MAX_TOKENS`] at most for each count, logged when it cuts.
fn clamp_tokens(r: &mut UsageRecord) {
    let mut cut = false;
    for count in [&mut r.prompt_tokens, &mut r.completion_tokens, &mut r.cached_tokens, &mut r.reasoning_tokens] {
        if *count > MAX_TOKENS {
            *count = MAX_TOKENS;
            cut = true;
        }
    }
    if cut {
        tracing::warn!(request_id = %r.request_id, max = MAX_TOKENS, "usage record with absurd token counts clamped");
    }
}

fn bounded(field: impl FnOnce() -> String, value: &str, max: usize) -> Result<(), Status> {
    if value.len() > max {
        return Err(invalid(&field(), format!("{} bytes; at most {max}", value.len())));
    }
    Ok(())
}

/// A breaker state's names bounded (`path`: where it is in the batch).
fn transition(path: &str, t: &BreakerTransition) -> Result<(), Status> {
    for (name, value) in [
        ("provider", &t.provider),
        ("account", &t.account),
        ("route", &t.route),
        ("upstream_model", &t.upstream_model),
        ("reason", &t.reason),
    ] {
        bounded(|| format!("{path}.{name}"), value, MAX_FIELD)?;
    }
    Ok(())
}

/// A batch the store can take: ids present and bounded, sizes sane.
pub fn validate(b: &TelemetryBatch) -> Result<(), Status> {
    for (field, value) in [("node_id", &b.node_id), ("boot_id", &b.boot_id)] {
        if value.trim().is_empty() {
            return Err(invalid(field, "required"));
        }
        bounded(|| field.to_owned(), value, MAX_ID)?;
    }
    if b.sequence == 0 {
        return Err(invalid("sequence", "must be 1 or more (batches are numbered from 1 in each boot)"));
    }
    if i64::try_from(b.sequence).is_err() {
        return Err(invalid("sequence", format!("{} is too large", b.sequence)));
    }
    if b.usage.len() > MAX_RECORDS {
        return Err(invalid("usage", format!("{} records; at most {MAX_RECORDS} per batch", b.usage.len())));
    }
    if b.health.len() > MAX_EVENTS {
        return Err(invalid("health", format!("{} events; at most {MAX_EVENTS} per batch", b.health.len())));
    }
    for (i, r) in b.usage.iter().enumerate() {
        for (name, value) in [
            ("request_id", &r.request_id),
            ("key", &r.key),
            ("route", &r.route),
            ("provider", &r.provider),
            ("account", &r.account),
            ("upstream_model", &r.upstream_model),
        ] {
            bounded(|| format!("usage[{i}].{name}"), value, MAX_FIELD)?;
        }
    }
    for (i, h) in b.health.iter().enumerate() {
        match &h.event {
            None => return Err(invalid(&format!("health[{i}].event"), "required")),
            Some(health_event::Event::Breaker(t)) => transition(&format!("health[{i}].breaker"), t)?,
            Some(health_event::Event::Heartbeat(h)) => {
                if h.breakers.len() > MAX_EVENTS {
                    let n = h.breakers.len();
                    return Err(invalid(
                        &format!("health[{i}].heartbeat.breakers"),
                        format!("{n}; at most {MAX_EVENTS}"),
                    ));
                }
                for (j, t) in h.breakers.iter().enumerate() {
                    transition(&format!("health[{i}].heartbeat.breakers[{j}]"), t)?;
                }
            }
        }
    }
    Ok(())
}
