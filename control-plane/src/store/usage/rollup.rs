//! Per-minute rollups: a batch's usage summed per (minute, key, route,
//! provider, account, status, currency) and merged into the node's rows.

use super::sql::{MAX_ROWS, Placeholders, chunk_rows};
use super::*;

/// One rollup row's identity within a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct MinuteKey {
    minute_ms: i64,
    key: String,
    route: String,
    provider: String,
    account: String,
    status: &'static str,
    currency: String,
}

#[derive(Debug, Clone, Default)]
struct MinuteSums {
    requests: i64,
    errors: i64,
    prompt: i64,
    completion: i64,
    cached: i64,
    reasoning: i64,
    cost: i64,
    latency: Histogram,
    first_token: Histogram,
}

impl MinuteSums {
    fn add(&mut self, o: &MinuteSums) {
        self.requests = self.requests.saturating_add(o.requests);
        self.errors = self.errors.saturating_add(o.errors);
        self.prompt = self.prompt.saturating_add(o.prompt);
        self.completion = self.completion.saturating_add(o.completion);
        self.cached = self.cached.saturating_add(o.cached);
        self.reasoning = self.reasoning.saturating_add(o.reasoning);
        self.cost = self.cost.saturating_add(o.cost);
        self.latency.merge(&o.latency);
        self.first_token.merge(&o.first_token);
    }

    fn of(u: &PricedUsage) -> MinuteSums {
        let r = &u.record;
        let status = status_word(r.status);
        let mut s = MinuteSums {
            requests: 1,
            errors: i64::from(is_error(status)),
            prompt: big(r.prompt_tokens),
            completion: big(r.completion_tokens),
            cached: big(r.cached_tokens),
            reasoning: big(r.reasoning_tokens),
            cost: u.cost_micros,
            ..Default::default()
        };
        // Refused by the gateway: no upstream latency to speak of.
        if status != "rejected" {
            s.latency.record(r.latency_us);
        }
        if let Some(t) = r.first_token_us {
            s.first_token.record(t);
        }
        s
    }
}

fn rollup(usage: &[PricedUsage]) -> BTreeMap<MinuteKey, MinuteSums> {
    let mut out: BTreeMap<MinuteKey, MinuteSums> = BTreeMap::new();
    for u in usage {
        let r = &u.record;
        let key = MinuteKey {
            minute_ms: minute_of(r.started_at_ms),
            key: r.key.clone(),
            route: r.route.clone(),
            provider: r.provider.clone(),
            account: r.account.clone(),
            status: status_word(r.status),
            currency: u.currency.clone(),
        };
        out.entry(key).or_default().add(&MinuteSums::of(u));
    }
    out
}

/// Adds the batch's rollups to the node's rows: read, merge, write back
/// (safe: the node's batches are serialised, see the module docs).
pub(super) async fn merge_minutes(
    conn: &mut AnyConnection,
    backend: Backend,
    node_id: &str,
    usage: &[PricedUsage],
) -> Result<(), StoreError> {
    const COLS: usize = 17;
    let mut sums = rollup(usage);
    if sums.is_empty() {
        return Ok(());
    }
    let minutes: Vec<i64> = sums.keys().map(|k| k.minute_ms).collect::<BTreeSet<_>>().into_iter().collect();
    let touched: HashSet<MinuteKey> = sums.keys().cloned().collect();
    for chunk in minutes.chunks(MAX_ROWS) {
        let mut p = Placeholders::new(backend);
        let (node, list) = (p.next(), p.list(chunk.len()));
        let sql = format!(
            "SELECT minute_ms, key_name, route, provider, account, status, currency, requests, errors, \
             prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_micros, latency_hist, \
             first_token_hist FROM usage_minutes WHERE node_id = {node} AND minute_ms IN ({list})"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(node_id);
        for m in chunk {
            q = q.bind(*m);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let status: String = r.try_get("status")?;
            let key = MinuteKey {
                minute_ms: r.try_get("minute_ms")?,
                key: r.try_get("key_name")?,
                route: r.try_get("route")?,
                provider: r.try_get("provider")?,
                account: r.try_get("account")?,
                status: status_word(status_code(&status)),
                currency: r.try_get("currency")?,
            };
            if !touched.contains(&key) {
                continue;
            }
            let latency: String = r.try_get("latency_hist")?;
            let first_token: String = r.try_get("first_token_hist")?;
            let stored = MinuteSums {
                requests: r.try_get("requests")?,
                errors: r.try_get("errors")?,
                prompt: r.try_get("prompt_tokens")?,
                completion: r.try_get("completion_tokens")?,
                cached: r.try_get("cached_tokens")?,
                reasoning: r.try_get("reasoning_tokens")?,
                cost: r.try_get("cost_micros")?,
                latency: Histogram::decode(&latency).ok_or_else(|| corrupt("latency_hist"))?,
                first_token: Histogram::decode(&first_token).ok_or_else(|| corrupt("first_token_hist"))?,
            };
            if let Some(s) = sums.get_mut(&key) {
                s.add(&stored);
            }
        }
    }
    let rows: Vec<(MinuteKey, MinuteSums)> = sums.into_iter().collect();
    let head = "INSERT INTO usage_minutes (node_id, minute_ms, key_name, route, provider, account, status, currency, \
                requests, errors, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_micros, \
                latency_hist, first_token_hist) VALUES ";
    let tail = " ON CONFLICT (minute_ms, node_id, key_name, route, provider, account, status, currency) DO UPDATE SET \
                requests = excluded.requests, errors = excluded.errors, prompt_tokens = excluded.prompt_tokens, \
                completion_tokens = excluded.completion_tokens, cached_tokens = excluded.cached_tokens, \
                reasoning_tokens = excluded.reasoning_tokens, cost_micros = excluded.cost_micros, \
                latency_hist = excluded.latency_hist, first_token_hist = excluded.first_token_hist";
    for chunk in rows.chunks(chunk_rows(COLS)) {
        let sql = format!("{head}{}{tail}", Placeholders::new(backend).tuples(chunk.len(), COLS));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (k, s) in chunk {
            q = q
                .bind(node_id)
                .bind(k.minute_ms)
                .bind(&k.key)
                .bind(&k.route)
                .bind(&k.provider)
                .bind(&k.account)
                .bind(k.status)
                .bind(&k.currency)
                .bind(s.requests)
                .bind(s.errors)
                .bind(s.prompt)
                .bind(s.completion)
                .bind(s.cached)
                .bind(s.reasoning)
                .bind(s.cost)
                .bind(s.latency.encode())
                .bind(s.first_token.encode());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

fn status_code(word: &str) -> i32 {
    let status = match word {
        "ok" => RequestStatus::Ok,
        "upstream_error" => RequestStatus::UpstreamError,
        "rejected" => RequestStatus::Rejected,
        "timeout" => RequestStatus::Timeout,
        "client_closed" => RequestStatus::ClientClosed,
        "stream_error" => RequestStatus::StreamError,
        _ => RequestStatus::Unspecified,
    };
    status as i32
}
