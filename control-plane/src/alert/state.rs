//! Alert state in the store (`alert_state`, `alert_deliveries`,
//! `alert_lease`; migration 0006) and the one decision made on it: given
//! what was notified before and what holds now, which notices go out
//! ([`plan`]).
//!
//! One replica evaluates at a time: it holds the lease row, renewing it
//! before it expires ([`LEASE_TTL`]); another replica takes it only once it
//! has expired. The transaction that records an evaluation's outcome first
//! re-checks the lease under its row lock ([`commit`]), so a replica that lost
//! the lease (paused, partitioned) records nothing and sends nothing: each
//! transition is recorded, and so sent, once.

use super::conditions::{Condition, Severity};
use super::notice::{Change, Notice};
use crate::store::StoreError;
use sqlx::{AnyPool, Row};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A lease not renewed for this long may be taken by another replica.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A condition that was notified and has not cleared since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub event: String,
    pub severity: Severity,
    pub subject: String,
    pub text: String,
    pub labels: BTreeMap<String, String>,
    /// When it started firing.
    pub since_ms: i64,
    /// When it was last sent (first message or reminder).
    pub notified_ms: i64,
    pub reminders: u32,
}

/// A condition's latest delivery to one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub channel: String,
    pub ok: bool,
    pub attempts: u32,
    /// Why it failed (no secrets); empty when it succeeded.
    pub error: String,
    pub at_ms: i64,
}

/// What an evaluation changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Rows written: new conditions, reminders, changed wording.
    pub upsert: Vec<Stored>,
    /// Keys of conditions that cleared.
    pub delete: Vec<String>,
    /// What to send.
    pub notices: Vec<Notice>,
}

fn notice(change: Change, s: &Stored, at_ms: i64) -> Notice {
    Notice {
        change,
        key: s.key.clone(),
        event: s.event.clone(),
        severity: s.severity,
        subject: s.subject.clone(),
        text: s.text.clone(),
        labels: s.labels.clone(),
        since_ms: s.since_ms,
        at_ms,
    }
}

/// Each condition alerts once when it starts firing, again (a reminder)
/// when it still fires `quiet` after its last message (never with a zero
/// `quiet`), and once more when it clears. Wording that changes in between
/// (a balance going down) is recorded, not sent.
pub fn plan(stored: &[Stored], active: &[Condition], now_ms: i64, quiet: Duration) -> Plan {
    let by_key: HashMap<&str, &Stored> = stored.iter().map(|s| (s.key.as_str(), s)).collect();
    let mut p = Plan::default();
    for c in active {
        let current = |since_ms, notified_ms, reminders| Stored {
            key: c.key.clone(),
            event: c.event.as_str().to_owned(),
            severity: c.event.severity(),
            subject: c.subject.clone(),
            text: c.text.clone(),
            labels: c.labels.clone(),
            since_ms,
            notified_ms,
            reminders,
        };
        match by_key.get(c.key.as_str()) {
            None => {
                let s = current(now_ms, now_ms, 0);
                p.notices.push(notice(Change::Firing, &s, now_ms));
                p.upsert.push(s);
            }
            Some(old) if !quiet.is_zero() && now_ms.saturating_sub(old.notified_ms) >= ms(quiet) => {
                let s = current(old.since_ms, now_ms, old.reminders.saturating_add(1));
                p.notices.push(notice(Change::Reminder, &s, now_ms));
                p.upsert.push(s);
            }
            Some(old) => {
                let s = current(old.since_ms, old.notified_ms, old.reminders);
                if s != **old {
                    p.upsert.push(s);
                }
            }
        }
    }
    let holding: std::collections::HashSet<&str> = active.iter().map(|c| c.key.as_str()).collect();
    for s in stored.iter().filter(|s| !holding.contains(s.key.as_str())) {
        p.notices.push(notice(Change::Resolved, s, now_ms));
        p.delete.push(s.key.clone());
    }
    p
}

/// Takes the lease, or renews it when `holder` has it. False: another
/// replica holds it.
pub async fn acquire(pool: &AnyPool, holder: &str, now_ms: i64) -> Result<bool, StoreError> {
    let taken = sqlx::query(
        "UPDATE alert_lease SET holder = $1, expires_at_ms = $2 \
         WHERE id = 1 AND (holder = $1 OR expires_at_ms < $3)",
    )
    .bind(holder.to_owned())
    .bind(now_ms.saturating_add(ms(LEASE_TTL)))
    .bind(now_ms)
    .execute(pool)
    .await?;
    Ok(taken.rows_affected() > 0)
}

/// Gives the lease up (on shutdown), so another replica takes over at once.
pub async fn release(pool: &AnyPool, holder: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE alert_lease SET expires_at_ms = 0 WHERE id = 1 AND holder = $1")
        .bind(holder.to_owned())
        .execute(pool)
        .await?;
    Ok(())
}

/// Records an evaluation: in one transaction, checks that `holder` still
/// holds the lease (renewing it), plans against the stored state and writes
/// the plan. Returns the notices to send, or `None` when the lease was lost
/// (nothing recorded, nothing to send).
pub async fn commit(
    pool: &AnyPool,
    holder: &str,
    now_ms: i64,
    active: &[Condition],
    quiet: Duration,
) -> Result<Option<Vec<Notice>>, StoreError> {
    let mut tx = pool.begin().await?;
    // First, as every writer here: the lease row's lock serialises evaluators.
    let held =
        sqlx::query("UPDATE alert_lease SET expires_at_ms = $2, evaluated_at_ms = $3 WHERE id = 1 AND holder = $1")
            .bind(holder.to_owned())
            .bind(now_ms.saturating_add(ms(LEASE_TTL)))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
    if held.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT key, event, severity, subject, text, labels, since_ms, notified_ms, reminders FROM alert_state",
    )
    .fetch_all(&mut *tx)
    .await?;
    let stored = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
    let plan = plan(&stored, active, now_ms, quiet);
    for s in &plan.upsert {
        let labels = serde_json::to_string(&s.labels).map_err(|e| StoreError::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO alert_state (key, event, severity, subject, text, labels, since_ms, notified_ms, reminders) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key) DO UPDATE SET event = excluded.event, \
             severity = excluded.severity, subject = excluded.subject, text = excluded.text, \
             labels = excluded.labels, since_ms = excluded.since_ms, notified_ms = excluded.notified_ms, \
             reminders = excluded.reminders",
        )
        .bind(s.key.clone())
        .bind(s.event.clone())
        .bind(s.severity.as_str().to_owned())
        .bind(s.subject.clone())
        .bind(s.text.clone())
        .bind(labels)
        .bind(s.since_ms)
        .bind(s.notified_ms)
        .bind(i64::from(s.reminders))
        .execute(&mut *tx)
        .await?;
    }
    for key in &plan.delete {
        for table in ["alert_state", "alert_deliveries"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE key = $1")))
                .bind(key.clone())
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(Some(plan.notices))
}

fn stored(r: &sqlx::any::AnyRow) -> Result<Stored, StoreError> {
    let labels: String = r.try_get("labels")?;
    Ok(Stored {
        key: r.try_get("key")?,
        event: r.try_get("event")?,
        severity: Severity::parse(&r.try_get::<String, _>("severity")?),
        subject: r.try_get("subject")?,
        text: r.try_get("text")?,
        labels: serde_json::from_str(&labels).map_err(|e| StoreError::Corrupt(format!("alert_state.labels: {e}")))?,
        since_ms: r.try_get("since_ms")?,
        notified_ms: r.try_get("notified_ms")?,
        reminders: u32::try_from(r.try_get::<i64, _>("reminders")?).unwrap_or(u32::MAX),
    })
}

/// Records a delivery of the conditions `keys` to `channel` (those still firing).
pub async fn record_delivery(pool: &AnyPool, keys: &[String], d: &Delivery) -> Result<(), StoreError> {
    for key in keys {
        sqlx::query(
            "INSERT INTO alert_deliveries (key, channel, ok, attempts, error, at_ms) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM alert_state WHERE key = $1) \
             ON CONFLICT (key, channel) DO UPDATE SET ok = excluded.ok, attempts = excluded.attempts, \
             error = excluded.error, at_ms = excluded.at_ms",
        )
        .bind(key.clone())
        .bind(d.channel.clone())
        .bind(i64::from(d.ok))
        .bind(i64::from(d.attempts))
        .bind(d.error.clone())
        .bind(d.at_ms)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// What `syctl alert list` shows: every firing condition (by key) with its
/// deliveries, and when the last evaluation was recorded (0: never).
pub async fn list(pool: &AnyPool) -> Result<(Vec<(Stored, Vec<Delivery>)>, i64), StoreError> {
    let rows = sqlx::query(
        "SELECT key, event, severity, subject, text, labels, since_ms, notified_ms, reminders FROM alert_state \
         ORDER BY key",
    )
    .fetch_all(pool)
    .await?;
    let mut deliveries: HashMap<String, Vec<Delivery>> = HashMap::new();
    for r in sqlx::query("SELECT key, channel, ok, attempts, error, at_ms FROM alert_deliveries ORDER BY key, channel")
        .fetch_all(pool)
        .await?
    {
        deliveries.entry(r.try_get("key")?).or_default().push(Delivery {
            channel: r.try_get("channel")?,
            ok: r.try_get::<i64, _>("ok")? != 0,
            attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
            error: r.try_get("error")?,
            at_ms: r.try_get("at_ms")?,
        });
    }
    let evaluated: i64 =
        sqlx::query_scalar("SELECT evaluated_at_ms FROM alert_lease WHERE id = 1").fetch_one(pool).await?;
    let listed = rows
        .iter()
        .map(|r| {
            let s = stored(r)?;
            let d = deliveries.remove(&s.key).unwrap_or_default();
            Ok((s, d))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((listed, evaluated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Clock;
    use crate::alert::conditions::Event;

    fn condition(key: &str, text: &str) -> Condition {
        Condition {
            key: key.into(),
            event: Event::BalanceLow,
            subject: format!("{key} low"),
            text: text.into(),
            labels: BTreeMap::from([("provider".to_owned(), "p".to_owned())]),
        }
    }

    fn changes(p: &Plan) -> Vec<(Change, &str)> {
        p.notices.iter().map(|n| (n.change, n.key.as_str())).collect()
    }

    /// The stored state after `p`, from `before`.
    fn apply(before: &[Stored], p: &Plan) -> Vec<Stored> {
        let mut rows: BTreeMap<String, Stored> = before.iter().map(|s| (s.key.clone(), s.clone())).collect();
        for s in &p.upsert {
            rows.insert(s.key.clone(), s.clone());
        }
        for k in &p.delete {
            rows.remove(k);
        }
        rows.into_values().collect()
    }

    #[test]
    fn fires_once_and_recovers_once() {
        let quiet = Duration::from_secs(3600);
        let a = [condition("balance_low:p/a", "4 USD")];
        let p = plan(&[], &a, 1_000, quiet);
        assert_eq!(changes(&p), [(Change::Firing, "balance_low:p/a")]);
        let state = apply(&[], &p);
        assert_eq!((state[0].since_ms, state[0].notified_ms), (1_000, 1_000));
        // Still firing, within the quiet period: nothing to send, nothing to write.
        assert_eq!(plan(&state, &a, 60_000, quiet), Plan::default());
        // Changed wording is recorded, not sent.
        let lower = [condition("balance_low:p/a", "3 USD")];
        let p = plan(&state, &lower, 120_000, quiet);
        assert!(p.notices.is_empty());
        assert_eq!((p.upsert[0].text.as_str(), p.upsert[0].since_ms, p.upsert[0].notified_ms), ("3 USD", 1_000, 1_000));
        let state = apply(&state, &p);
        // Cleared: one recovery, then nothing.
        let p = plan(&state, &[], 180_000, quiet);
        assert_eq!(changes(&p), [(Change::Resolved, "balance_low:p/a")]);
        assert_eq!((p.notices[0].since_ms, p.notices[0].at_ms, p.notices[0].text.as_str()), (1_000, 180_000, "3 USD"));
        let state = apply(&state, &p);
        assert!(state.is_empty());
        assert_eq!(plan(&state, &[], 240_000, quiet), Plan::default());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reminder_once_per_quiet_period() {
        let quiet = Duration::from_secs(3600);
        let clock = Clock::new();
        let a = [condition("balance_low:p/a", "4 USD")];
        let mut state = apply(&[], &plan(&[], &a, clock.now_ms(), quiet));
        let mut sent = Vec::new();
        // Evaluated every minute for three hours and a half.
        for _ in 0..210 {
            tokio::time::advance(Duration::from_secs(60)).await;
            let p = plan(&state, &a, clock.now_ms(), quiet);
            sent.extend(p.notices.iter().map(|n| n.change));
            state = apply(&state, &p);
        }
        assert_eq!(sent, [Change::Reminder; 3]);
        assert_eq!(state[0].reminders, 3);
        let p = plan(&state, &[], clock.now_ms(), quiet);
        assert_eq!(changes(&p), [(Change::Resolved, "balance_low:p/a")]);
    }

    #[test]
    fn a_zero_quiet_period_never_reminds() {
        let a = [condition("k", "t")];
        let state = apply(&[], &plan(&[], &a, 0, Duration::ZERO));
        assert_eq!(plan(&state, &a, i64::MAX / 2, Duration::ZERO), Plan::default());
    }

    #[test]
    fn several_conditions_move_independently() {
        let quiet = Duration::from_secs(60);
        let state = apply(&[], &plan(&[], &[condition("a", "t"), condition("b", "t")], 0, quiet));
        let p = plan(&state, &[condition("b", "t"), condition("c", "t")], 60_000, quiet);
        assert_eq!(changes(&p), [(Change::Reminder, "b"), (Change::Firing, "c"), (Change::Resolved, "a")]);
    }
}
