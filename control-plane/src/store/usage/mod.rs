//! Telemetry in the store: each batch from a data plane is written in one
//! transaction (its `telemetry_batches` row, whose primary key is the
//! batch's (node, boot, sequence), then its usage events, per-minute
//! rollups, breaker transitions, heartbeat, spend and balances), or not at
//! all. A batch whose key exists is a duplicate: nothing is written. Usage
//! queries read the rollups (and the raw events for the part of a minute a
//! query's start cuts); retention deletes in bounded passes.
//!
//! Concurrency: on PostgreSQL each batch transaction first takes a
//! transaction-scoped advisory lock on its node id, so two deliveries of one
//! node's batches (two streams, two replicas) queue: the second sees the
//! first's key and is a duplicate, and a node's rollup rows (read, merged,
//! written back) never lose an update. SQLite has one writer at a time. Hot
//! shared rows (spend, balances) come last, in a fixed order, so their locks
//! are held only until the commit and never deadlock.

use super::{Backend, Store, StoreError};
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use switchyard_proto::pb::{self, RequestStatus, UsageSource};
use tokio_stream::StreamExt;

mod costs;
mod health;
pub mod histogram;
mod rollup;
mod sql;
mod write;

pub use costs::AccountCost;
pub use health::EndpointHealth;
use health::record_heartbeat;
pub use histogram::Histogram;
use rollup::merge_minutes;
use write::{add_spend_rows, insert_breakers, insert_events, take_balances};

const MINUTE_MS: i64 = 60_000;

/// A usage record and what it cost (`currency` "" when unpriced).
#[derive(Debug, Clone)]
pub struct PricedUsage {
    pub record: pb::UsageRecord,
    pub cost_micros: i64,
    pub currency: String,
}

#[derive(Debug, Clone)]
pub struct BreakerEvent {
    pub at_ms: i64,
    pub transition: pb::BreakerTransition,
}

/// To add to a key's spend in one budget period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendDelta {
    pub key: String,
    pub period_start_ms: i64,
    pub currency: String,
    pub micros: i64,
}

/// To take off an account's manual balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceDelta {
    pub provider: String,
    pub account: String,
    pub currency: String,
    pub micros: i64,
}

/// A node's latest heartbeat in a batch (of the batch's boot).
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatInfo {
    /// When the node sent it (the node's clock, Unix milliseconds).
    pub at_ms: i64,
    pub inflight_requests: u64,
    /// Its breakers that are not closed (`to` is the state), when it reports
    /// them: every other endpoint of the boot is closed as of `at_ms`.
    pub breakers: Option<Vec<pb::BreakerTransition>>,
}

/// One validated, priced batch.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    pub node_id: String,
    pub boot_id: String,
    pub sequence: i64,
    pub received_at_ms: i64,
    pub usage: Vec<PricedUsage>,
    pub breakers: Vec<BreakerEvent>,
    /// The batch's latest heartbeat, if it has one.
    pub heartbeat: Option<HeartbeatInfo>,
    pub spend: Vec<SpendDelta>,
    pub balances: Vec<BalanceDelta>,
    /// Health events in the batch (for its row).
    pub health_events: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Written; `runtime_moved` when spend or a balance changed (the Runtime is due).
    Stored { runtime_moved: bool },
    /// Written before: this delivery changed nothing.
    Duplicate,
}

/// How QueryUsage groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Key,
    Route,
    Provider,
    /// `provider/account`
    Account,
    Node,
}

/// One group's totals in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub group: String,
    pub currency: String,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_micros: i64,
    pub latency: Histogram,
    pub first_token: Histogram,
}

pub fn status_word(status: i32) -> &'static str {
    match RequestStatus::try_from(status) {
        Ok(RequestStatus::Ok) => "ok",
        Ok(RequestStatus::UpstreamError) => "upstream_error",
        Ok(RequestStatus::Rejected) => "rejected",
        Ok(RequestStatus::Timeout) => "timeout",
        Ok(RequestStatus::ClientClosed) => "client_closed",
        Ok(RequestStatus::StreamError) => "stream_error",
        _ => "unspecified",
    }
}

/// Errors are requests that failed: not `ok`, not the client leaving.
fn is_error(status: &str) -> bool {
    matches!(status, "upstream_error" | "rejected" | "timeout" | "stream_error")
}

fn source_word(source: i32) -> &'static str {
    match UsageSource::try_from(source) {
        Ok(UsageSource::Reported) => "reported",
        Ok(UsageSource::Estimated) => "estimated",
        _ => "none",
    }
}

pub fn breaker_word(state: i32) -> &'static str {
    match pb::BreakerState::try_from(state) {
        Ok(pb::BreakerState::Closed) => "closed",
        Ok(pb::BreakerState::Open) => "open",
        Ok(pb::BreakerState::HalfOpen) => "half_open",
        _ => "unspecified",
    }
}

fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// SQL for `a + b` (with `b >= 0`) that stops at the largest BIGINT instead
/// of failing (PostgreSQL refuses an overflow, and the batch would be resent forever).
fn saturating_add_sql(a: &str, b: &str) -> String {
    format!("CASE WHEN {a} > 9223372036854775807 - {b} THEN 9223372036854775807 ELSE {a} + {b} END")
}

/// SQL for `a - b` (with `b >= 0`) that stops at the smallest BIGINT.
fn saturating_sub_sql(a: &str, b: &str) -> String {
    format!("CASE WHEN {a} < (-9223372036854775807 - 1) + {b} THEN (-9223372036854775807 - 1) ELSE {a} - {b} END")
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// A stable 64-bit lock id for a node (PostgreSQL advisory locks).
fn node_lock(node_id: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("switchyard-telemetry:{node_id}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("usage_minutes.{what}: not a histogram"))
}

impl Store {
    /// Stores a batch exactly once (see the module docs).
    pub async fn ingest(&self, b: &IngestBatch) -> Result<Ingested, StoreError> {
        let mut tx = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
                .bind(node_lock(&b.node_id))
                .execute(&mut *tx)
                .await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO telemetry_batches (node_id, boot_id, sequence, received_at_ms, usage_records, health_events) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node_id, boot_id, sequence) DO NOTHING",
        )
        .bind(&b.node_id)
        .bind(&b.boot_id)
        .bind(b.sequence)
        .bind(b.received_at_ms)
        .bind(i64::try_from(b.usage.len()).unwrap_or(i64::MAX))
        .bind(i64::try_from(b.health_events).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Ingested::Duplicate);
        }
        let backend = self.backend();
        insert_events(&mut tx, backend, b).await?;
        merge_minutes(&mut tx, backend, &b.node_id, &b.usage).await?;
        insert_breakers(&mut tx, backend, b).await?;
        if let Some(h) = &b.heartbeat {
            record_heartbeat(&mut tx, backend, b, h).await?;
        }
        let mut moved = add_spend_rows(&mut tx, backend, &b.spend).await?;
        moved |= take_balances(&mut tx, &b.balances).await?;
        tx.commit().await?;
        Ok(Ingested::Stored { runtime_moved: moved })
    }

    /// Bumps the Runtime revision (spend or balances moved) and tells the
    /// other replicas. Returns the new revision.
    pub async fn bump_runtime(&self) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let runtime: i64 =
            sqlx::query_scalar("UPDATE revision SET runtime = runtime + 1 WHERE id = 1 RETURNING runtime")
                .fetch_one(&mut *tx)
                .await?;
        self.notify(&mut tx).await?;
        tx.commit().await?;
        Ok(count(runtime))
    }

    /// Usage since `since_ms` (exact to the millisecond), optionally of one
    /// key, grouped: one entry per (group, currency), sorted.
    pub async fn usage(
        &self,
        by: UsageGroup,
        since_ms: i64,
        key: Option<&str>,
    ) -> Result<Vec<UsageTotals>, StoreError> {
        let first_minute = minute_of(since_ms.saturating_add(MINUTE_MS - 1));
        let mut totals: BTreeMap<(String, String), UsageTotals> = BTreeMap::new();
        let group = |r: &sqlx::any::AnyRow| -> Result<String, StoreError> {
            Ok(match by {
                UsageGroup::Key => r.try_get("key_name")?,
                UsageGroup::Route => r.try_get("route")?,
                UsageGroup::Provider => r.try_get("provider")?,
                UsageGroup::Account => {
                    let (p, a): (String, String) = (r.try_get("provider")?, r.try_get("account")?);
                    if p.is_empty() && a.is_empty() { String::new() } else { format!("{p}/{a}") }
                }
                UsageGroup::Node => r.try_get("node_id")?,
            })
        };

        // Whole minutes from the rollups.
        let sql = "SELECT node_id, key_name, route, provider, account, currency, requests, errors, prompt_tokens, \
                   completion_tokens, cached_tokens, reasoning_tokens, cost_micros, latency_hist, first_token_hist \
                   FROM usage_minutes WHERE minute_ms >= $1";
        let sql = match key {
            Some(_) => format!("{sql} AND key_name = $2"),
            None => sql.to_owned(),
        };
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(first_minute);
        if let Some(k) = key {
            query = query.bind(k);
        }
        let mut rows = query.fetch(self.pool());
        while let Some(row) = rows.next().await {
            let r = row?;
            let entry = totals.entry((group(&r)?, r.try_get("currency")?)).or_default();
            entry.requests += count(r.try_get("requests")?);
            entry.errors += count(r.try_get("errors")?);
            entry.prompt_tokens += count(r.try_get("prompt_tokens")?);
            entry.completion_tokens += count(r.try_get("completion_tokens")?);
            entry.cached_tokens += count(r.try_get("cached_tokens")?);
            entry.reasoning_tokens += count(r.try_get("reasoning_tokens")?);
            entry.cost_micros = entry.cost_micros.saturating_add(r.try_get("cost_micros")?);
            let latency: String = r.try_get("latency_hist")?;
            let first_token: String = r.try_get("first_token_hist")?;
            entry.latency.merge(&Histogram::decode(&latency).ok_or_else(|| corrupt("latency_hist"))?);
            entry.first_token.merge(&Histogram::decode(&first_token).ok_or_else(|| corrupt("first_token_hist"))?);
        }
        drop(rows);

        // The part of a minute before the first whole one, from the raw events.
        if first_minute > since_ms {
            let sql = "SELECT node_id, key_name, route, provider, account, currency, status, prompt_tokens, \
                       completion_tokens, cached_tokens, reasoning_tokens, cost_micros, latency_us, first_token_us \
                       FROM usage_events WHERE started_at_ms >= $1 AND started_at_ms < $2";
            let sql = match key {
                Some(_) => format!("{sql} AND key_name = $3"),
                None => sql.to_owned(),
            };
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(since_ms).bind(first_minute);
            if let Some(k) = key {
                query = query.bind(k);
            }
            let mut rows = query.fetch(self.pool());
            while let Some(row) = rows.next().await {
                let r = row?;
                let entry = totals.entry((group(&r)?, r.try_get("currency")?)).or_default();
                let status: String = r.try_get("status")?;
                entry.requests += 1;
                entry.errors += u64::from(is_error(&status));
                entry.prompt_tokens += count(r.try_get("prompt_tokens")?);
                entry.completion_tokens += count(r.try_get("completion_tokens")?);
                entry.cached_tokens += count(r.try_get("cached_tokens")?);
                entry.reasoning_tokens += count(r.try_get("reasoning_tokens")?);
                entry.cost_micros = entry.cost_micros.saturating_add(r.try_get("cost_micros")?);
                if status != "rejected" {
                    entry.latency.record(count(r.try_get("latency_us")?));
                }
                if let Some(t) = r.try_get::<Option<i64>, _>("first_token_us")? {
                    entry.first_token.record(count(t));
                }
            }
        }
        Ok(totals.into_iter().map(|((group, currency), t)| UsageTotals { group, currency, ..t }).collect())
    }

    /// One bounded retention pass: deletes up to `limit` rows older than
    /// `before_ms` from each telemetry table. Returns the rows deleted.
    pub async fn prune_usage(&self, before_ms: i64, limit: i64) -> Result<u64, StoreError> {
        let rid = match self.backend() {
            Backend::Sqlite => "rowid",
            Backend::Postgres => "ctid",
        };
        let mut deleted = 0;
        for (table, column) in [
            ("usage_events", "started_at_ms"),
            ("usage_minutes", "minute_ms"),
            ("breaker_events", "at_ms"),
            ("endpoint_health", "at_ms"),
            ("telemetry_batches", "received_at_ms"),
        ] {
            let sql =
                format!("DELETE FROM {table} WHERE {rid} IN (SELECT {rid} FROM {table} WHERE {column} < $1 LIMIT $2)");
            let done = sqlx::query(AssertSqlSafe(sql)).bind(before_ms).bind(limit).execute(self.pool()).await?;
            deleted += done.rows_affected();
        }
        Ok(deleted)
    }
}
