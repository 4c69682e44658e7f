#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The balance poll schedule in the store (`balance_polls`), on SQLite and on
//! PostgreSQL: rows follow the polled accounts; a due row is claimed by one
//! owner at a time (again by its own owner, by another once the lease has
//! expired, never before it is due); only the lease holder writes a result;
//! a reading becomes a polled balance and moves the Runtime revision only
//! when the account's drained state flips; a failure counts and keeps its
//! reason; a stopping replica frees its leases.

mod common;

use common::*;
use switchyard_control::crypto::MasterKey;
use switchyard_control::store::{Finished, PollOutcome, PollTarget, Store};
use switchyard_proto::document::{self, Resolver};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

const DOCUMENT: &str = r#"
providers:
  - name: ds
    kind: openai-compatible
    base_url: https://api.deepseek.com/v1
    accounts:
      - {name: a, api_key: "sk-ds-a-000000"}
      - {name: b, api_key: "sk-ds-b-000000"}
models:
  - {name: m, targets: [{provider: ds, model: deepseek-chat}]}
"#;

/// The Config revision [`store`] leaves (one apply).
const APPLIED: u64 = 1;

fn target(account: &str, poller: &str) -> PollTarget {
    PollTarget { provider: "ds".into(), account: account.into(), poller: poller.into() }
}

async fn store(url: &str) -> Store {
    let store = Store::open(url, MasterKey::from_hex(KEY).unwrap()).await.unwrap();
    let config = document::parse(DOCUMENT, &Resolver::with_env(Default::default())).unwrap();
    assert_eq!(store.apply_document(config, "test", "apply").await.unwrap(), APPLIED);
    store
}

fn read(amount_micros: i64) -> PollOutcome {
    PollOutcome::Read { currency: "CNY".into(), amount_micros }
}

#[tokio::test]
async fn rows_follow_the_polled_accounts() {
    for db in databases().await {
        let s = store(&db.url).await;
        let synced = s
            .sync_polls(APPLIED, &[target("a", "deepseek"), target("b", "deepseek")], |_| 100)
            .await
            .unwrap()
            .expect("not stale");
        assert_eq!((synced.added, synced.changed, synced.removed), (2, 0, 0), "{}", db.label);
        assert_eq!(
            s.sync_polls(APPLIED, &[target("a", "deepseek"), target("b", "deepseek")], |_| 5)
                .await
                .unwrap()
                .expect("not stale"),
            Default::default()
        );
        // A replica whose Config lags behind the store's writes nothing (it would drop rows for accounts it has not seen yet).
        assert_eq!(s.sync_polls(APPLIED - 1, &[], |_| 5).await.unwrap(), None, "{}", db.label);
        assert_eq!(s.poll_rows().await.unwrap().len(), 2, "{}", db.label);
        // b's poller changes (rescheduled, failures reset); a is no longer polled.
        s.claim_poll("ds", "b", "r1", 100, 200).await.unwrap();
        let done = PollOutcome::Failed { error: "x".into() };
        s.finish_poll("r1", &target("b", "deepseek"), &done, 150, 1000).await.unwrap();
        let synced = s.sync_polls(APPLIED, &[target("b", "openrouter")], |_| 7).await.unwrap().expect("not stale");
        assert_eq!((synced.added, synced.changed, synced.removed), (0, 1, 1), "{}", db.label);
        let rows = s.poll_rows().await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].poller.as_str(), rows[0].next_due_ms, rows[0].failures), ("openrouter", 7, 0));
        assert_eq!(rows[0].last_error, None);
        s.close().await;
    }
}

#[tokio::test]
async fn one_owner_at_a_time_and_only_it_writes() {
    for db in databases().await {
        let label = db.label;
        let s = store(&db.url).await;
        s.sync_polls(APPLIED, &[target("a", "deepseek")], |_| 1_000).await.unwrap().expect("not stale");
        assert_eq!(s.claim_poll("ds", "a", "r1", 999, 5_000).await.unwrap(), None, "{label}: not due yet");
        assert_eq!(s.due_polls("r1", 999, 10).await.unwrap(), vec![]);
        assert_eq!(s.due_polls("r1", 1_000, 10).await.unwrap(), vec![("ds".into(), "a".into())]);
        assert_eq!(s.claim_poll("ds", "a", "r1", 1_000, 5_000).await.unwrap(), Some(0), "{label}");
        assert_eq!(s.claim_poll("ds", "a", "r2", 4_999, 9_000).await.unwrap(), None, "{label}: leased");
        assert_eq!(s.due_polls("r2", 4_999, 10).await.unwrap(), vec![], "{label}: leased to another");
        assert_eq!(s.due_polls("r1", 4_999, 10).await.unwrap().len(), 1, "{label}: its own");
        assert_eq!(s.next_poll_ms(2_000).await.unwrap(), Some(5_000), "{label}: when the lease ends");
        assert_eq!(s.claim_poll("ds", "a", "r1", 2_000, 6_000).await.unwrap(), Some(0), "{label}: its own again");
        // r1 dies; the lease (now to 6000) expires and r2 takes the row over.
        assert_eq!(s.claim_poll("ds", "a", "r2", 6_001, 9_000).await.unwrap(), Some(0), "{label}");
        assert_eq!(
            s.finish_poll("r1", &target("a", "deepseek"), &read(5), 6_500, 99_000).await.unwrap(),
            Finished::LeaseLost
        );
        assert!(s.balances().await.unwrap().is_empty(), "{label}: the loser writes nothing");
        let row = s.poll_rows().await.unwrap().remove(0);
        assert_eq!(
            (row.lease_owner.as_deref(), row.lease_until_ms, row.last_attempt_ms),
            (Some("r2"), Some(9_000), Some(6_001))
        );

        // Two failures in a row (one per replica) count, with the reason; then a balance is read.
        let failed = PollOutcome::Failed { error: "GET /user/balance: HTTP 401".into() };
        assert_eq!(
            s.finish_poll("r2", &target("a", "deepseek"), &failed, 7_000, 8_000).await.unwrap(),
            Finished::Written { runtime: None }
        );
        assert_eq!(s.claim_poll("ds", "a", "r1", 8_000, 12_000).await.unwrap(), Some(1), "{label}: one failure so far");
        s.finish_poll("r1", &target("a", "deepseek"), &failed, 8_100, 9_000).await.unwrap();
        let row = s.poll_rows().await.unwrap().remove(0);
        assert_eq!(
            (row.failures, row.last_error.as_deref(), row.lease_owner),
            (2, Some("GET /user/balance: HTTP 401"), None)
        );
        assert_eq!(row.next_due_ms, 9_000);
        s.claim_poll("ds", "a", "r1", 9_000, 12_000).await.unwrap();
        let before = s.runtime_revision().await.unwrap();
        assert_eq!(
            s.finish_poll("r1", &target("a", "deepseek"), &read(110_000_000), 9_500, 20_000).await.unwrap(),
            Finished::Written { runtime: None },
            "{label}: a first balance above zero drains nothing"
        );
        let b = s.balances().await.unwrap().remove(0);
        assert_eq!((b.amount_micros, b.currency.as_str(), b.source.as_str()), (110_000_000, "CNY", "polled"));
        assert_eq!((b.poller.as_deref(), b.updated_at_ms), (Some("deepseek"), 9_500));
        let row = s.poll_rows().await.unwrap().remove(0);
        assert_eq!((row.failures, row.last_error, row.last_ok_ms, row.next_due_ms), (0, None, Some(9_500), 20_000));
        assert_eq!(s.runtime_revision().await.unwrap(), before);

        // Crossing zero moves the Runtime revision; staying at zero does not.
        s.claim_poll("ds", "a", "r1", 20_000, 30_000).await.unwrap();
        let Finished::Written { runtime: Some(drained) } =
            s.finish_poll("r1", &target("a", "deepseek"), &read(0), 20_100, 40_000).await.unwrap()
        else {
            panic!("{label}: drained without a new Runtime revision");
        };
        assert_eq!(drained, before + 1);
        s.claim_poll("ds", "a", "r1", 40_000, 50_000).await.unwrap();
        let again = s.finish_poll("r1", &target("a", "deepseek"), &read(-5), 40_100, 60_000).await.unwrap();
        assert_eq!(again, Finished::Written { runtime: None }, "{label}");
        s.claim_poll("ds", "a", "r1", 60_000, 70_000).await.unwrap();
        let back = s.finish_poll("r1", &target("a", "deepseek"), &read(1), 60_100, 80_000).await.unwrap();
        assert_eq!(back, Finished::Written { runtime: Some(before + 2) }, "{label}: topped up");

        // A replica stopping frees what it holds.
        s.claim_poll("ds", "a", "r1", 80_000, 90_000).await.unwrap();
        assert_eq!(s.release_polls("r1").await.unwrap(), 1);
        assert_eq!(s.claim_poll("ds", "a", "r2", 80_001, 90_000).await.unwrap(), Some(0), "{label}");
        s.close().await;
    }
}

#[tokio::test]
async fn a_shorter_interval_pulls_later_due_times_in() {
    for db in databases().await {
        let s = store(&db.url).await;
        s.sync_polls(APPLIED, &[target("a", "deepseek"), target("b", "deepseek")], |t| {
            if t.account == "a" { 100 } else { 9_000 }
        })
        .await
        .unwrap()
        .expect("not stale");
        assert_eq!(s.pull_polls_in(500).await.unwrap(), 1, "{}", db.label);
        let due: Vec<i64> = s.poll_rows().await.unwrap().iter().map(|r| r.next_due_ms).collect();
        assert_eq!(due, [100, 500]);
        s.close().await;
    }
}
