//! The rows a batch writes besides its rollups: raw usage events, breaker
//! transitions and the latest state per endpoint, key spend and balances.

use super::sql::{Placeholders, chunk_rows};
use super::*;

pub(super) async fn insert_events(
    conn: &mut AnyConnection,
    backend: Backend,
    b: &IngestBatch,
) -> Result<(), StoreError> {
    const COLS: usize = 24;
    let head = "INSERT INTO usage_events (node_id, boot_id, sequence, request_id, started_at_ms, key_name, route, \
                provider, account, upstream_model, status, http_status, attempts, stream, prompt_tokens, \
                completion_tokens, cached_tokens, reasoning_tokens, usage_source, latency_us, first_token_us, \
                config_version, cost_micros, currency) VALUES ";
    for chunk in b.usage.chunks(chunk_rows(COLS)) {
        let sql = format!("{head}{}", Placeholders::new(backend).tuples(chunk.len(), COLS));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for u in chunk {
            let r = &u.record;
            q = q
                .bind(&b.node_id)
                .bind(&b.boot_id)
                .bind(b.sequence)
                .bind(&r.request_id)
                .bind(r.started_at_ms)
                .bind(&r.key)
                .bind(&r.route)
                .bind(&r.provider)
                .bind(&r.account)
                .bind(&r.upstream_model)
                .bind(status_word(r.status))
                .bind(i64::from(r.http_status))
                .bind(i64::from(r.attempts))
                .bind(i64::from(r.stream))
                .bind(big(r.prompt_tokens))
                .bind(big(r.completion_tokens))
                .bind(big(r.cached_tokens))
                .bind(big(r.reasoning_tokens))
                .bind(source_word(r.usage_source))
                .bind(big(r.latency_us))
                .bind(r.first_token_us.map(big))
                .bind(big(r.config_version))
                .bind(u.cost_micros)
                .bind(&u.currency);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

pub(super) async fn insert_breakers(
    conn: &mut AnyConnection,
    backend: Backend,
    b: &IngestBatch,
) -> Result<(), StoreError> {
    if b.breakers.is_empty() {
        return Ok(());
    }
    const COLS: usize = 11;
    let head = "INSERT INTO breaker_events (node_id, boot_id, at_ms, provider, account, route, upstream_model, \
                from_state, to_state, reason, open_for_ms) VALUES ";
    for chunk in b.breakers.chunks(chunk_rows(COLS)) {
        let sql = format!("{head}{}", Placeholders::new(backend).tuples(chunk.len(), COLS));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for e in chunk {
            let t = &e.transition;
            q = q
                .bind(&b.node_id)
                .bind(&b.boot_id)
                .bind(e.at_ms)
                .bind(&t.provider)
                .bind(&t.account)
                .bind(&t.route)
                .bind(&t.upstream_model)
                .bind(breaker_word(t.from))
                .bind(breaker_word(t.to))
                .bind(&t.reason)
                .bind(big(t.open_for_ms));
        }
        q.execute(&mut *conn).await?;
    }
    // The latest transition per endpoint (the last one sent on a tie): one row each.
    let mut latest: BTreeMap<(&str, &str, &str, &str), &BreakerEvent> = BTreeMap::new();
    for e in &b.breakers {
        let t = &e.transition;
        let key = (t.provider.as_str(), t.account.as_str(), t.route.as_str(), t.upstream_model.as_str());
        match latest.get(&key) {
            Some(seen) if seen.at_ms > e.at_ms => {}
            _ => {
                latest.insert(key, e);
            }
        }
    }
    let latest: Vec<(&pb::BreakerTransition, i64)> = latest.into_values().map(|e| (&e.transition, e.at_ms)).collect();
    upsert_health(conn, backend, &b.node_id, &b.boot_id, &latest).await
}

/// Each endpoint's state as of its time (`to` of the transition), unless the
/// stored state is newer.
pub(super) async fn upsert_health(
    conn: &mut AnyConnection,
    backend: Backend,
    node_id: &str,
    boot_id: &str,
    states: &[(&pb::BreakerTransition, i64)],
) -> Result<(), StoreError> {
    const HEALTH_COLS: usize = 10;
    let head = "INSERT INTO endpoint_health (node_id, boot_id, provider, account, route, upstream_model, state, \
                reason, open_for_ms, at_ms) VALUES ";
    let tail = " ON CONFLICT (node_id, provider, account, route, upstream_model) DO UPDATE SET \
                boot_id = excluded.boot_id, state = excluded.state, reason = excluded.reason, \
                open_for_ms = excluded.open_for_ms, at_ms = excluded.at_ms \
                WHERE endpoint_health.at_ms <= excluded.at_ms";
    for chunk in states.chunks(chunk_rows(HEALTH_COLS)) {
        let sql = format!("{head}{}{tail}", Placeholders::new(backend).tuples(chunk.len(), HEALTH_COLS));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (t, at_ms) in chunk {
            q = q
                .bind(node_id)
                .bind(boot_id)
                .bind(&t.provider)
                .bind(&t.account)
                .bind(&t.route)
                .bind(&t.upstream_model)
                .bind(breaker_word(t.to))
                .bind(&t.reason)
                .bind(big(t.open_for_ms))
                .bind(*at_ms);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Adds to key spend, in (key, period) order; a period kept in another
/// currency is left alone. Returns whether anything was added.
pub(super) async fn add_spend_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    spend: &[SpendDelta],
) -> Result<bool, StoreError> {
    let mut sums: BTreeMap<(&str, i64), (&str, i64)> = BTreeMap::new();
    for s in spend.iter().filter(|s| s.micros > 0) {
        let e = sums.entry((&s.key, s.period_start_ms)).or_insert((&s.currency, 0));
        if e.0 == s.currency {
            e.1 = e.1.saturating_add(s.micros);
        }
    }
    if sums.is_empty() {
        return Ok(false);
    }
    let rows: Vec<_> = sums.into_iter().collect();
    let mut added = 0;
    for chunk in rows.chunks(chunk_rows(4)) {
        let sql = format!(
            "INSERT INTO spend (key_name, period_start_ms, currency, amount_micros) VALUES {} \
             ON CONFLICT (key_name, period_start_ms) DO UPDATE SET amount_micros = {} \
             WHERE spend.currency = excluded.currency",
            Placeholders::new(backend).tuples(chunk.len(), 4),
            saturating_add_sql("spend.amount_micros", "excluded.amount_micros"),
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for ((key, period), (currency, micros)) in chunk {
            q = q.bind(*key).bind(*period).bind(*currency).bind(*micros);
        }
        added += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(added > 0)
}

/// Takes priced usage off manual balances kept in the same currency, in
/// (provider, account) order. Returns whether any balance moved.
pub(super) async fn take_balances(conn: &mut AnyConnection, balances: &[BalanceDelta]) -> Result<bool, StoreError> {
    let mut sums: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
    for d in balances.iter().filter(|d| d.micros > 0) {
        let e = sums.entry((&d.provider, &d.account, &d.currency)).or_default();
        *e = e.saturating_add(d.micros);
    }
    let mut moved = false;
    for ((provider, account, currency), micros) in sums {
        let sql = format!(
            "UPDATE balances SET amount_micros = {} \
             WHERE provider = $2 AND account = $3 AND currency = $4 AND source = 'manual'",
            saturating_sub_sql("amount_micros", "$1")
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(micros)
            .bind(provider)
            .bind(account)
            .bind(currency)
            .execute(&mut *conn)
            .await?;
        moved |= done.rows_affected() > 0;
    }
    Ok(moved)
}
