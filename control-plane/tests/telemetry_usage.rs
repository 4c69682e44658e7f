#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Telemetry.Report: cost from target and route prices, spend moving the
//! published Runtime, manual balances decremented, QueryUsage sums and
//! percentiles, on SQLite and PostgreSQL.

mod common;

use common::admin::NODE_TOKEN;
use common::telemetry::*;
use std::collections::BTreeMap;
use switchyard_control::store::UsageGroup;
use switchyard_proto::pb::{self, RequestStatus, UsageRecord};
use switchyard_tests::eventually;
use tonic::Code;

#[tokio::test]
async fn cost_comes_from_the_serving_target_and_moves_spend_and_balances() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        set_manual_balance(&handle, 10_000_000).await;
        handle.publisher.refresh().await.unwrap();
        let before = handle.publisher.current().runtime.message.keys["k"].remaining_budget_micros;
        assert_eq!(before, Some(50_000_000));

        let now = now_ms();
        // The route's price (USD), cached prompt tokens at the cached price.
        let route_priced = UsageRecord {
            request_id: "route-priced".into(),
            prompt_tokens: 1_000_000,
            cached_tokens: 400_000,
            completion_tokens: 500_000,
            reasoning_tokens: 300_000,
            ..record("k", "m", P_UP, now)
        };
        // The target's own price (CNY, no cached price: cached tokens at the input price).
        let target_priced = UsageRecord {
            request_id: "target-priced".into(),
            prompt_tokens: 1_000_000,
            cached_tokens: 200_000,
            completion_tokens: 1_000_000,
            ..record("k", "m", Q_UP, now)
        };
        // A route without a price.
        let unpriced = UsageRecord { request_id: "unpriced".into(), ..record("k2", "free", P_FREE, now) };
        // A direct call: priced as a route serving that provider and model would.
        let direct = UsageRecord {
            request_id: "direct".into(),
            prompt_tokens: 1_000_000,
            completion_tokens: 0,
            ..record("k", "p:up", P_UP, now)
        };
        // An alias resolves to its route.
        let alias = UsageRecord {
            request_id: "alias".into(),
            prompt_tokens: 0,
            completion_tokens: 100_000,
            ..record("k", "smart", P_UP, now)
        };
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let sent = vec![route_priced, target_priced, unpriced, direct, alias];
        node.send(batch("edge-1", "boot-1", 1, sent)).await.unwrap();

        let rows = sqlx::query_as::<_, (String, i64, String)>(
            "SELECT request_id, cost_micros, currency FROM usage_events ORDER BY request_id",
        )
        .fetch_all(handle.store.pool())
        .await
        .unwrap();
        let costs: BTreeMap<String, (i64, String)> = rows.into_iter().map(|(r, c, cur)| (r, (c, cur))).collect();
        assert_eq!(costs["route-priced"], (600_000 + 200_000 + 1_000_000, "USD".into()), "{}", db.label);
        assert_eq!(costs["target-priced"], (8_000_000 + 2_000_000 + 20_000_000, "CNY".into()));
        assert_eq!(costs["unpriced"], (0, String::new()));
        assert_eq!(costs["direct"], (1_000_000, "USD".into()));
        assert_eq!(costs["alias"], (200_000, "USD".into()));

        // Currencies are kept apart.
        let rows = query(&handle, pb::UsageGroupBy::Model, 0, None).await;
        let by: BTreeMap<(String, String), i64> =
            rows.iter().map(|r| ((r.group.clone(), r.currency.clone()), r.cost_micros)).collect();
        let want: BTreeMap<(String, String), i64> = [
            (("free".into(), String::new()), 0),
            (("m".into(), "CNY".into()), 30_000_000),
            (("m".into(), "USD".into()), 1_800_000),
            (("p:up".into(), "USD".into()), 1_000_000),
            (("smart".into(), "USD".into()), 200_000),
        ]
        .into();
        assert_eq!(by, want, "{}", db.label);

        // Spend: the key's USD usage, in its budget period; CNY is not its budget's currency.
        let spent = 1_800_000 + 1_000_000 + 200_000;
        let spend = handle.store.spend(0).await.unwrap();
        let (currency, micros) = spend.values().next().unwrap();
        assert_eq!((spend.len(), currency.as_str(), *micros), (1, "USD", spent), "{}", db.label);
        eventually("the Runtime to show the spend", async || {
            handle.publisher.current().runtime.message.keys["k"].remaining_budget_micros == Some(50_000_000 - spent)
        })
        .await;
        // The manual balance of p/a paid for everything p/a served in USD.
        let balances = handle.store.balances().await.unwrap();
        assert_eq!(balances.len(), 1);
        assert_eq!(balances[0].amount_micros, 10_000_000 - spent, "{}", db.label);

        // A duplicate moves nothing.
        let again = vec![UsageRecord { request_id: "direct".into(), ..record("k", "p:up", P_UP, now) }];
        node.send(batch("edge-1", "boot-1", 2, again.clone())).await.unwrap();
        assert!(node.send(batch("edge-1", "boot-1", 2, again)).await.unwrap().duplicate);
        let balances = handle.store.balances().await.unwrap();
        assert_eq!(balances[0].amount_micros, 10_000_000 - spent - 140, "100 prompt + 20 completion tokens");
        drop(node);
        handle.shutdown().await;
    }
}

/// What QueryUsage should answer, from the records sent (node, record, cost, currency).
fn expected(
    sent: &[(String, UsageRecord)],
    by: pb::UsageGroupBy,
    since_ms: i64,
    key: Option<&str>,
) -> BTreeMap<(String, String), [i64; 7]> {
    let mut out: BTreeMap<(String, String), [i64; 7]> = BTreeMap::new();
    for (node, r) in sent {
        if r.started_at_ms < since_ms || key.is_some_and(|k| k != r.key) {
            continue;
        }
        let (cost, currency) = match (r.route.as_str(), r.provider.as_str()) {
            ("m", "p") => {
                let cached = r.cached_tokens as i64;
                ((r.prompt_tokens as i64 - cached) + cached / 2 + 2 * r.completion_tokens as i64, "USD")
            }
            ("m", "q") => (10 * r.prompt_tokens as i64 + 20 * r.completion_tokens as i64, "CNY"),
            _ => (0, ""),
        };
        let group = match by {
            pb::UsageGroupBy::Key => r.key.clone(),
            pb::UsageGroupBy::Model => r.route.clone(),
            pb::UsageGroupBy::Provider => r.provider.clone(),
            pb::UsageGroupBy::Account => format!("{}/{}", r.provider, r.account),
            _ => node.clone(),
        };
        let e = out.entry((group, currency.to_owned())).or_default();
        let error = matches!(RequestStatus::try_from(r.status).unwrap(), RequestStatus::UpstreamError);
        let add = [
            1,
            i64::from(error),
            r.prompt_tokens as i64,
            r.completion_tokens as i64,
            r.cached_tokens as i64,
            r.reasoning_tokens as i64,
            cost,
        ];
        for (x, y) in e.iter_mut().zip(add) {
            *x += y;
        }
    }
    out
}

fn answered(rows: &[pb::UsageRow]) -> BTreeMap<(String, String), [i64; 7]> {
    rows.iter()
        .map(|r| {
            let v = [
                r.requests as i64,
                r.errors as i64,
                r.prompt_tokens as i64,
                r.completion_tokens as i64,
                r.cached_tokens as i64,
                r.reasoning_tokens as i64,
                r.cost_micros,
            ];
            ((r.group.clone(), r.currency.clone()), v)
        })
        .collect()
}

#[tokio::test]
async fn query_usage_sums_what_was_sent() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        let now = now_ms();
        // A cut in the middle of a minute, 30 minutes ago: records either side of it.
        let cut = (now - 30 * 60_000).div_euclid(60_000) * 60_000 + 30_000;
        let times = [now - 2 * 3_600_000, now - 3_600_000 + 5, cut - 1, cut, cut + 1, now - 60_000, now];
        let endpoints = [("m", P_UP), ("m", Q_UP), ("free", P_FREE)];
        let statuses = [RequestStatus::Ok, RequestStatus::UpstreamError, RequestStatus::ClientClosed];
        let mut sent = Vec::new();
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for node in ["edge-1", "edge-2"] {
            let mut usage = Vec::new();
            for _ in 0..150 {
                let (route, endpoint) = endpoints[next(3) as usize];
                let key = ["k", "k2"][next(2) as usize];
                let mut r = record(key, route, endpoint, times[next(times.len() as u64) as usize]);
                r.status = statuses[next(3) as usize] as i32;
                r.prompt_tokens = 1 + next(5000);
                r.cached_tokens = 2 * next(r.prompt_tokens / 2 + 1);
                r.completion_tokens = next(2000);
                r.reasoning_tokens = next(r.completion_tokens + 1);
                usage.push(r.clone());
                sent.push((node.to_owned(), r));
            }
            let mut reporter = reporter(&handle, NODE_TOKEN).await.unwrap();
            for (i, chunk) in usage.chunks(40).enumerate() {
                reporter.send(batch(node, "boot", i as u64 + 1, chunk.to_vec())).await.unwrap();
            }
        }
        let bys = [
            pb::UsageGroupBy::Key,
            pb::UsageGroupBy::Model,
            pb::UsageGroupBy::Provider,
            pb::UsageGroupBy::Account,
            pb::UsageGroupBy::Node,
        ];
        for by in bys {
            for since in [0, now - 3 * 3_600_000, now - 3_600_000, cut, cut + 1, now + 1] {
                for key in [None, Some("k"), Some("k2")] {
                    let rows = query(&handle, by, since, key).await;
                    assert_eq!(
                        answered(&rows),
                        expected(&sent, by, since, key),
                        "{}: by {by:?} since {since} key {key:?}",
                        db.label
                    );
                }
            }
        }
        // The store's own answer agrees with the service's (and groups accounts as provider/account).
        let totals = handle.store.usage(UsageGroup::Account, 0, None).await.unwrap();
        assert!(totals.iter().any(|t| t.group == "q/b" && t.currency == "CNY"));

        let err = common::admin::client(&handle, Some(common::admin::ADMIN))
            .await
            .query_usage(pb::UsageQuery { group_by: 0, since_ms: 0, key: None })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with("group_by: "), "{err:?}");
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn percentiles_follow_a_known_distribution() {
    let db = common::sqlite();
    let handle = start(&db.url).await;
    let now = now_ms();
    let usage: Vec<UsageRecord> = (1..=1000u64)
        .map(|i| UsageRecord {
            latency_us: i * 1000,
            first_token_us: Some(i * 500),
            ..record("k", "m", P_UP, now - (i as i64 % 3) * 60_000)
        })
        .collect();
    let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
    for (i, chunk) in usage.chunks(300).enumerate() {
        node.send(batch("edge-1", "boot", i as u64 + 1, chunk.to_vec())).await.unwrap();
    }
    // Rejected requests are counted but never reached an upstream: not in the latency.
    let rejected = UsageRecord {
        status: RequestStatus::Rejected as i32,
        latency_us: 1,
        first_token_us: None,
        ..record("k", "m", P_UP, now)
    };
    node.send(batch("edge-1", "boot", 9, vec![rejected; 500])).await.unwrap();
    let rows = query(&handle, pb::UsageGroupBy::Model, 0, None).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.requests, r.errors), (1500, 500));
    let close = |got: u64, want: u64| got.abs_diff(want) * 16 <= want;
    assert!(close(r.latency_p50_us, 500_000), "p50 {}", r.latency_p50_us);
    assert!(close(r.latency_p99_us, 990_000), "p99 {}", r.latency_p99_us);
    assert!(close(r.first_token_p50_us, 250_000), "ttft p50 {}", r.first_token_p50_us);
    assert!(close(r.first_token_p99_us, 495_000), "ttft p99 {}", r.first_token_p99_us);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_record_is_priced_with_the_config_it_was_served_from() {
    use switchyard_control::store::{Change, Ownership};
    use switchyard_proto::model::Price;
    for db in common::databases().await {
        let handle = start(&db.url).await;
        assert_eq!(handle.store.revision().await.unwrap(), 1);
        let edit = |c: &mut switchyard_proto::model::Config, input: i64| {
            let m = c.models.iter_mut().find(|r| r.name == "m").unwrap();
            let price = m.price.get_or_insert(Price {
                currency: "USD".into(),
                input_per_mtok_micros: None,
                output_per_mtok_micros: None,
                cached_input_per_mtok_micros: None,
            });
            price.input_per_mtok_micros = Some(input);
        };
        let change = Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged };
        // Revision 2 doubles the input price; revision 3 changes something else (prices as in 2).
        handle
            .store
            .write(change, |c| {
                edit(c, 2_000_000);
                Ok(())
            })
            .await
            .unwrap();
        let change = Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged };
        let limit = |c: &mut switchyard_proto::model::Config| {
            c.keys.iter_mut().find(|k| k.name == "k2").unwrap().rpm = Some(100);
        };
        handle
            .store
            .write(change, |c| {
                limit(c);
                Ok(())
            })
            .await
            .unwrap();
        handle.publisher.refresh().await.unwrap();
        assert_eq!(handle.publisher.current().config.version, 3);

        let now = now_ms();
        let served = |id: &str, version: u64| UsageRecord {
            request_id: id.into(),
            prompt_tokens: 1_000_000,
            cached_tokens: 0,
            completion_tokens: 0,
            config_version: version,
            ..record("k2", "m", P_UP, now)
        };
        // A late batch from a node still on revision 1, and records from 2 and 3; one from before the history.
        let sent = vec![served("v1", 1), served("v2", 2), served("v3", 3), served("v0", 0)];
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        node.send(batch("edge-1", "boot-1", 1, sent)).await.unwrap();
        let rows = sqlx::query_as::<_, (String, i64)>("SELECT request_id, cost_micros FROM usage_events")
            .fetch_all(handle.store.pool())
            .await
            .unwrap();
        let costs: BTreeMap<String, i64> = rows.into_iter().collect();
        assert_eq!(costs["v1"], 1_000_000, "revision 1's price: {}", db.label);
        assert_eq!(costs["v2"], 2_000_000, "revision 2's price");
        assert_eq!(costs["v3"], 2_000_000, "unchanged prices at revision 3");
        assert_eq!(costs["v0"], 2_000_000, "older than the history: today's price");
        let history: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM price_history").fetch_one(handle.store.pool()).await.unwrap();
        assert_eq!(history, 2, "a row only where prices changed");
        handle.shutdown().await;
    }
}

/// An upstream (or a node) reporting absurd token counts: the counts are
/// clamped, spend and balances stop at the ends of BIGINT instead of failing
/// the batch (on PostgreSQL it would be refused and resent forever).
#[tokio::test]
async fn absurd_token_counts_are_clamped_and_sums_saturate() {
    for db in common::databases().await {
        let handle = start(&db.url).await;
        set_manual_balance(&handle, 10_000_000).await;
        let mut node = reporter(&handle, NODE_TOKEN).await.unwrap();
        let absurd = |id: &str| UsageRecord {
            request_id: id.into(),
            prompt_tokens: u64::MAX,
            completion_tokens: u64::MAX - 1,
            cached_tokens: u64::MAX,
            reasoning_tokens: 1 << 63,
            ..record("k", "m", P_UP, now_ms())
        };
        let ack = node.send(batch("edge-1", "boot-1", 1, vec![absurd("r1")])).await;
        assert!(ack.is_ok(), "{}: {ack:?}", db.label);
        let (prompt, completion): (i64, i64) =
            sqlx::query_as("SELECT prompt_tokens, completion_tokens FROM usage_events WHERE request_id = 'r1'")
                .fetch_one(handle.store.pool())
                .await
                .unwrap();
        assert_eq!((prompt, completion), (1_000_000_000, 1_000_000_000), "{}", db.label);

        // Near the ends already: the next batch saturates instead of overflowing.
        sqlx::query("UPDATE spend SET amount_micros = 9223372036854775000").execute(handle.store.pool()).await.unwrap();
        sqlx::query("UPDATE balances SET amount_micros = -9223372036854775000")
            .execute(handle.store.pool())
            .await
            .unwrap();
        let ack = node.send(batch("edge-1", "boot-1", 2, vec![absurd("r2")])).await;
        assert!(ack.is_ok(), "{}: {ack:?}", db.label);
        let (_, micros) = handle.store.spend(0).await.unwrap().into_values().next().unwrap();
        assert_eq!(micros, i64::MAX, "{}", db.label);
        assert_eq!(handle.store.balances().await.unwrap()[0].amount_micros, i64::MIN, "{}", db.label);
        drop(node);
        handle.shutdown().await;
    }
}

/// A manual USD balance on p/a.
async fn set_manual_balance(handle: &switchyard_control::Handle, amount_micros: i64) {
    let balance = switchyard_control::store::Balance {
        provider: "p".into(),
        account: "a".into(),
        currency: "USD".into(),
        amount_micros,
        source: "manual".into(),
        poller: None,
        updated_at_ms: now_ms(),
    };
    handle.store.set_balance(&balance, "test").await.unwrap();
}
