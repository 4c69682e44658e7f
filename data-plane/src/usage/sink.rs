//! The sink task: drafts in, records out, off the request path.
//!
//! Every [`TICK`] (or sooner, when the request path finds a batch waiting)
//! it takes the drafts from the channel in batches, reads each one's tokens (the
//! reported usage, else the estimate), charges them to the key's `tpm` when it
//! has one, adds the records to the local
//! [`Totals`] (`switchyard_tokens_total`, `/status`) and hands each batch to
//! every extra [`UsageSink`] in turn. A sink that is slow holds the task back,
//! the channel fills, and records are dropped and counted on the request
//! path: no request ever waits for a sink. At shutdown the channel is closed
//! and what it holds is still delivered.

use super::estimate::{prompt_tokens, response_tokens};
use super::{Draft, Source, Status, Tokens, Usage, UsageRecord, parse};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, watch};

/// Most drafts handled in one go; the request path wakes the task early
/// once this many are waiting (or half the channel, if smaller).
pub const BATCH: usize = 256;
/// How often the task looks at the channel when fewer than a batch arrive
/// in between (under about 5,000 requests a second).
pub const TICK: Duration = Duration::from_millis(50);
/// Most (model, provider, account) series in `switchyard_tokens_total`; past
/// it, new ones are counted under `model="_other"`.
const MAX_SERIES: usize = 10_000;

/// Where records go besides the local totals. The control-plane reporter
/// will be one; tests capture records with another.
pub trait UsageSink: Send + Sync + 'static {
    /// Takes one batch of records, in order. The sink task waits for the
    /// future before taking the next batch.
    fn record<'a>(&'a self, records: &'a [UsageRecord]) -> BoxFuture<'a, ()>;
}

impl std::fmt::Debug for dyn UsageSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageSink")
    }
}

/// Runs until `close` turns true, then closes the channel and delivers what
/// it still holds.
pub async fn run(
    usage: Arc<Usage>,
    mut rx: mpsc::Receiver<Draft>,
    sinks: Vec<Arc<dyn UsageSink>>,
    mut close: watch::Receiver<bool>,
) {
    let mut drafts = Vec::with_capacity(BATCH);
    let mut records = Vec::with_capacity(BATCH);
    let mut number = 0u64;
    loop {
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = usage.wake.notified() => {}
            _ = close.wait_for(|close| *close) => break,
        }
        // Without awaiting `recv`, which would register this task to be woken by every send.
        loop {
            let disconnected = loop {
                match rx.try_recv() {
                    Ok(draft) => drafts.push(draft),
                    Err(TryRecvError::Empty) => break false,
                    Err(TryRecvError::Disconnected) => break true,
                }
                if drafts.len() == BATCH {
                    break false;
                }
            };
            if drafts.is_empty() {
                if disconnected {
                    return;
                }
                break;
            }
            deliver(&usage, &mut drafts, &mut records, &mut number, &sinks).await;
        }
    }
    rx.close();
    while rx.recv_many(&mut drafts, BATCH).await > 0 {
        deliver(&usage, &mut drafts, &mut records, &mut number, &sinks).await;
    }
}

async fn deliver(
    usage: &Usage,
    drafts: &mut Vec<Draft>,
    records: &mut Vec<UsageRecord>,
    number: &mut u64,
    sinks: &[Arc<dyn UsageSink>],
) {
    for mut draft in drafts.drain(..) {
        let charge = draft.charge.take();
        let record = resolve(draft, usage.request_id(*number));
        if let Some((limit, clock)) = charge {
            let tokens = record.tokens.prompt.saturating_add(record.tokens.completion);
            limit.limiter.charge(&limit.rate, clock.now(), tokens);
        }
        records.push(record);
        *number += 1;
    }
    usage.totals.add(records);
    for sink in sinks {
        sink.record(records).await;
    }
    records.clear();
}

/// The record with its tokens read: reported, else estimated, else zero.
pub(crate) fn resolve(draft: Draft, request_id: String) -> UsageRecord {
    let Draft { mut record, input, .. } = draft;
    record.request_id = request_id;
    let reported = input.usage.as_deref().and_then(parse::usage_value);
    if let Some(tokens) = reported {
        record.tokens = tokens;
        record.source = Source::Reported;
    } else if input.estimate {
        let (answer, answer_reasoning) = input.response.as_ref().map_or((0, 0), |r| response_tokens(&r.bytes));
        let reasoning = input.reasoning.tokens().saturating_add(answer_reasoning);
        record.tokens = Tokens {
            prompt: input.request.as_ref().map_or(0, |r| prompt_tokens(&r.bytes)),
            completion: input.content.tokens().saturating_add(reasoning).saturating_add(answer),
            cached: 0,
            reasoning,
        };
        record.source = Source::Estimated;
    }
    record
}

/// What every record so far added up to: `/status` counters and the series
/// of `switchyard_tokens_total`. Written by the sink task only.
#[derive(Default)]
pub struct Totals {
    pub records: AtomicU64,
    pub reported: AtomicU64,
    pub estimated: AtomicU64,
    pub client_closed: AtomicU64,
    /// Prompt, completion, cached, reasoning.
    pub tokens: [AtomicU64; 4],
    series: Mutex<HashMap<Series, [u64; 4]>>,
}

/// `switchyard_tokens_total`'s labels but `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Series {
    model: Arc<str>,
    provider: Arc<str>,
    account: Arc<str>,
}

/// The token kinds, in the order of [`Totals::tokens`].
pub const KINDS: [&str; 4] = ["prompt", "completion", "cached", "reasoning"];

fn counts(t: &Tokens) -> [u64; 4] {
    [t.prompt, t.completion, t.cached, t.reasoning]
}

impl Totals {
    fn add(&self, records: &[UsageRecord]) {
        let mut series = self.series.lock();
        for r in records {
            self.records.fetch_add(1, Relaxed);
            match r.source {
                Source::Reported => self.reported.fetch_add(1, Relaxed),
                Source::Estimated => self.estimated.fetch_add(1, Relaxed),
                Source::None => 0,
            };
            if r.status == Status::ClientClosed {
                self.client_closed.fetch_add(1, Relaxed);
            }
            let counts = counts(&r.tokens);
            if counts == [0; 4] {
                continue;
            }
            // Written by the sink task only: a load and a store cannot race.
            for (total, n) in self.tokens.iter().zip(counts) {
                total.store(total.load(Relaxed).saturating_add(n), Relaxed);
            }
            let mut key = Series { model: r.route.clone(), provider: r.provider.clone(), account: r.account.clone() };
            if series.len() >= MAX_SERIES && !series.contains_key(&key) {
                key.model = Arc::from("_other");
            }
            let entry = series.entry(key).or_default();
            for (total, n) in entry.iter_mut().zip(counts) {
                *total = total.saturating_add(n);
            }
        }
    }

    /// Tokens of one kind, all series together.
    pub fn tokens(&self, kind: usize) -> u64 {
        self.tokens.get(kind).map_or(0, |t| t.load(Relaxed))
    }

    /// `switchyard_tokens_total` samples, sorted (the HELP and TYPE lines are the caller's).
    pub fn render(&self, out: &mut String, escape: impl Fn(&str) -> String) {
        let series = self.series.lock();
        let mut sorted: Vec<_> = series.iter().collect();
        sorted.sort();
        for (s, counts) in sorted {
            for (kind, n) in KINDS.iter().zip(counts) {
                let _ = writeln!(
                    out,
                    "switchyard_tokens_total{{model=\"{}\",provider=\"{}\",account=\"{}\",kind=\"{kind}\"}} {n}",
                    escape(&s.model),
                    escape(&s.provider),
                    escape(&s.account)
                );
            }
        }
    }
}
