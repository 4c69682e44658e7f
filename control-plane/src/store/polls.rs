//! Balance polling's shared schedule, `balance_polls` (migration 0005): which
//! accounts are polled and by which poller, when each is due next, its
//! consecutive failures and last error, and the lease a replica holds while
//! it polls one. Every replica reads and writes the same rows:
//!
//! * a replica claims a due row with one conditional `UPDATE` (due, and its
//!   lease free, expired or its own), so two replicas never hold one row;
//! * the poll's result is written by the lease holder only, in one
//!   transaction with the balance it read (source `polled`, the poller, the
//!   time) and, when the account's drained state flips, a Runtime revision;
//! * a replica that dies leaves its leases to expire and the others take the
//!   rows over; one that stops releases its leases at once.

use super::{Backend, Store, StoreError};
use sqlx::Row;

/// One account's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRow {
    pub provider: String,
    pub account: String,
    /// The `BalanceApi` name.
    pub poller: String,
    pub next_due_ms: i64,
    pub last_attempt_ms: Option<i64>,
    pub last_ok_ms: Option<i64>,
    /// Consecutive failures (0 after a success).
    pub failures: i64,
    /// The last failure's reason (never a secret); cleared by a success.
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
}

/// An account a poller applies to, as the Config says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PollTarget {
    pub provider: String,
    pub account: String,
    pub poller: String,
}

/// What a poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    Read {
        currency: String,
        amount_micros: i64,
    },
    /// Why it failed, without any secret.
    Failed {
        error: String,
    },
}

/// What [`Store::finish_poll`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The lease was no longer this replica's: nothing was written.
    LeaseLost,
    /// Written; `runtime` is the new Runtime revision when the account's
    /// drained state flipped (its balance crossed zero).
    Written { runtime: Option<u64> },
}

/// What [`Store::sync_polls`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    pub added: u64,
    /// Rows whose poller changed (rescheduled, failures reset).
    pub changed: u64,
    pub removed: u64,
}

const COLUMNS: &str = "provider, account, poller, next_due_ms, last_attempt_ms, last_ok_ms, failures, last_error, \
                       lease_owner, lease_until_ms";

fn row(r: &sqlx::any::AnyRow) -> Result<PollRow, StoreError> {
    Ok(PollRow {
        provider: r.try_get("provider")?,
        account: r.try_get("account")?,
        poller: r.try_get("poller")?,
        next_due_ms: r.try_get("next_due_ms")?,
        last_attempt_ms: r.try_get("last_attempt_ms")?,
        last_ok_ms: r.try_get("last_ok_ms")?,
        failures: r.try_get("failures")?,
        last_error: r.try_get("last_error")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until_ms: r.try_get("lease_until_ms")?,
    })
}

impl Store {
    /// Every row, by provider and account.
    pub async fn poll_rows(&self) -> Result<Vec<PollRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM balance_polls ORDER BY provider, account");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool()).await?;
        rows.iter().map(row).collect()
    }

    /// Makes the rows match `targets`, the polled accounts of Config revision
    /// `version`: a missing account gets a row due at `first_due(target)`, one
    /// whose poller changed is rescheduled likewise with its failures reset,
    /// and rows of accounts no longer polled go.
    ///
    /// `None` (and nothing written) when the store already holds a later
    /// Config than `version`: a replica whose snapshot lags behind must not
    /// delete the rows another replica made for accounts it does not know yet
    /// (they would be polled again once it caught up).
    pub async fn sync_polls(
        &self,
        version: u64,
        targets: &[PollTarget],
        mut first_due: impl FnMut(&PollTarget) -> i64,
    ) -> Result<Option<Synced>, StoreError> {
        // Read first, outside the transaction: every write below is conditional, so a
        // row another replica changed meanwhile is left as it is. A row read here was
        // made for a Config at least as new as the store's revision at this moment,
        // so the revision check below, made after, covers it.
        let existing: Vec<(String, String, String)> =
            sqlx::query_as("SELECT provider, account, poller FROM balance_polls").fetch_all(self.pool()).await?;
        let mut tx = self.pool().begin().await?;
        // A write first (SQLite takes its write lock; PostgreSQL locks the revision row
        // until the commit, so no Config write lands in between): matches no row when stale.
        let current = sqlx::query("UPDATE revision SET config = config WHERE id = 1 AND config <= $1")
            .bind(i64::try_from(version).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        if current.rows_affected() == 0 {
            return Ok(None);
        }
        let mut synced = Synced::default();
        for t in targets {
            match existing.iter().find(|(p, a, _)| *p == t.provider && *a == t.account) {
                Some((_, _, poller)) if *poller == t.poller => {}
                Some(_) => {
                    let done = sqlx::query(
                        "UPDATE balance_polls SET poller = $1, next_due_ms = $2, failures = 0, last_error = NULL \
                         WHERE provider = $3 AND account = $4 AND poller <> $1",
                    )
                    .bind(&t.poller)
                    .bind(first_due(t))
                    .bind(&t.provider)
                    .bind(&t.account)
                    .execute(&mut *tx)
                    .await?;
                    synced.changed += done.rows_affected();
                }
                None => {
                    let done = sqlx::query(
                        "INSERT INTO balance_polls (provider, account, poller, next_due_ms, failures) \
                         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (provider, account) DO NOTHING",
                    )
                    .bind(&t.provider)
                    .bind(&t.account)
                    .bind(&t.poller)
                    .bind(first_due(t))
                    .execute(&mut *tx)
                    .await?;
                    synced.added += done.rows_affected();
                }
            }
        }
        for (provider, account, _) in &existing {
            if !targets.iter().any(|t| t.provider == *provider && t.account == *account) {
                let done = sqlx::query("DELETE FROM balance_polls WHERE provider = $1 AND account = $2")
                    .bind(provider)
                    .bind(account)
                    .execute(&mut *tx)
                    .await?;
                synced.removed += done.rows_affected();
            }
        }
        tx.commit().await?;
        Ok(Some(synced))
    }

    /// Brings every row due after `latest_ms` forward to it (the poll interval
    /// got shorter). Returns how many moved.
    pub async fn pull_polls_in(&self, latest_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE balance_polls SET next_due_ms = $1 WHERE next_due_ms > $1")
            .bind(latest_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Up to `limit` rows `owner` may claim at `now_ms` (due, lease free,
    /// expired or its own), the longest overdue first.
    pub async fn due_polls(&self, owner: &str, now_ms: i64, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT provider, account FROM balance_polls WHERE next_due_ms <= $1 \
             AND (lease_owner IS NULL OR lease_until_ms < $1 OR lease_owner = $2) \
             ORDER BY next_due_ms, provider, account LIMIT $3",
        )
        .bind(now_ms)
        .bind(owner)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Claims one row for `owner` until `lease_until_ms`, with one
    /// conditional `UPDATE`: it takes only a due row whose lease is free,
    /// expired or already `owner`'s, so of two replicas claiming at once one
    /// wins. Records the attempt's time. Returns the row's consecutive
    /// failures when `owner` holds it, `None` when it does not.
    pub async fn claim_poll(
        &self,
        provider: &str,
        account: &str,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let failures: Option<i64> = sqlx::query_scalar(
            "UPDATE balance_polls SET lease_owner = $1, lease_until_ms = $2, last_attempt_ms = $3 \
             WHERE provider = $4 AND account = $5 AND next_due_ms <= $3 \
             AND (lease_owner IS NULL OR lease_until_ms < $3 OR lease_owner = $1) RETURNING failures",
        )
        .bind(owner)
        .bind(lease_until_ms)
        .bind(now_ms)
        .bind(provider)
        .bind(account)
        .fetch_optional(self.pool())
        .await?;
        Ok(failures)
    }

    /// The earliest time after `now_ms` some row may become claimable: its
    /// due time, or for a row leased by another replica, its lease's end.
    pub async fn next_poll_ms(&self, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let free: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_due_ms) FROM balance_polls WHERE lease_owner IS NULL OR lease_until_ms < $1",
        )
        .bind(now_ms)
        .fetch_one(self.pool())
        .await?;
        let leased: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(lease_until_ms) FROM balance_polls WHERE lease_owner IS NOT NULL AND lease_until_ms >= $1",
        )
        .bind(now_ms)
        .fetch_one(self.pool())
        .await?;
        Ok([free, leased].into_iter().flatten().min())
    }

    /// Writes a poll's outcome if `owner` still holds the row's lease, and
    /// frees it: a reading becomes the account's balance (source `polled`,
    /// `poller`, `now_ms`) and resets the failures; a failure counts one
    /// more and keeps its reason. `next_due_ms` is when to poll again.
    pub async fn finish_poll(
        &self,
        owner: &str,
        target: &PollTarget,
        outcome: &PollOutcome,
        now_ms: i64,
        next_due_ms: i64,
    ) -> Result<Finished, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The first statement writes: on SQLite it takes the write lock, so what follows reads a settled store.
        let held = match outcome {
            PollOutcome::Read { .. } => {
                sqlx::query(
                    "UPDATE balance_polls SET next_due_ms = $1, last_ok_ms = $2, failures = 0, last_error = NULL, \
                     lease_owner = NULL, lease_until_ms = NULL \
                     WHERE provider = $3 AND account = $4 AND lease_owner = $5",
                )
                .bind(next_due_ms)
                .bind(now_ms)
                .bind(&target.provider)
                .bind(&target.account)
                .bind(owner)
                .execute(&mut *tx)
                .await?
            }
            PollOutcome::Failed { error } => {
                sqlx::query(
                    "UPDATE balance_polls SET next_due_ms = $1, failures = failures + 1, last_error = $2, \
                     lease_owner = NULL, lease_until_ms = NULL \
                     WHERE provider = $3 AND account = $4 AND lease_owner = $5",
                )
                .bind(next_due_ms)
                .bind(error)
                .bind(&target.provider)
                .bind(&target.account)
                .bind(owner)
                .execute(&mut *tx)
                .await?
            }
        };
        if held.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Finished::LeaseLost);
        }
        let PollOutcome::Read { currency, amount_micros } = outcome else {
            tx.commit().await?;
            return Ok(Finished::Written { runtime: None });
        };
        // PostgreSQL: the revision row, then the balance's, in the order manual
        // balance writes take them (no deadlock with them).
        let lock = if self.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT runtime FROM revision WHERE id = 1{lock}")))
            .fetch_one(&mut *tx)
            .await?;
        let before: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT amount_micros FROM balances WHERE provider = $1 AND account = $2{lock}"
        )))
        .bind(&target.provider)
        .bind(&target.account)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO balances (provider, account, currency, amount_micros, source, poller, updated_at_ms) \
             VALUES ($1, $2, $3, $4, 'polled', $5, $6) ON CONFLICT (provider, account) DO UPDATE SET \
             currency = excluded.currency, amount_micros = excluded.amount_micros, source = excluded.source, \
             poller = excluded.poller, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&target.provider)
        .bind(&target.account)
        .bind(currency)
        .bind(*amount_micros)
        .bind(&target.poller)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let drained = |micros: i64| micros <= 0;
        let flipped = before.map_or(drained(*amount_micros), |b| drained(b) != drained(*amount_micros));
        let mut runtime = None;
        if flipped {
            let revision: i64 =
                sqlx::query_scalar("UPDATE revision SET runtime = runtime + 1 WHERE id = 1 RETURNING runtime")
                    .fetch_one(&mut *tx)
                    .await?;
            self.notify(&mut tx).await?;
            runtime = Some(u64::try_from(revision).unwrap_or(0));
        }
        tx.commit().await?;
        Ok(Finished::Written { runtime })
    }

    /// Frees every lease `owner` holds (a replica stopping: the others may
    /// take its rows at once). Returns how many it held.
    pub async fn release_polls(&self, owner: &str) -> Result<u64, StoreError> {
        let done =
            sqlx::query("UPDATE balance_polls SET lease_owner = NULL, lease_until_ms = NULL WHERE lease_owner = $1")
                .bind(owner)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected())
    }
}
